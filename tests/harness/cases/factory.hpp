// tests/harness/cases/factory.hpp - tensors made from nothing: full/zeros/ones (and their _like
// forms), scalar_tensor, arange, and the random draws rand/randn (fbseg's own Philox stream, so no
// PyTorch parity: the cases check shape, range and determinism elsewhere, and run here for
// coverage, CUDA and perf). The float dtype is the mode's (the "float" input of the _like forms).
#pragma once

#include "harness/op_case.hpp"

namespace fbseg::harness {

inline void add_factory_cases(Registry& r) {
    using namespace in;
    add(r, "full", "odd").attr("shape", {3, 5}).attr("value", 1.25).no_grad().run([](const Inputs&, const Attrs& a) {
        return out(full(Shape(a.ints("shape")), a.f("value")));
    });
    add(r, "zeros", "3d").attr("shape", {2, 3, 4}).no_grad().run([](const Inputs&, const Attrs& a) {
        return out(zeros(Shape(a.ints("shape"))));
    });
    add(r, "ones", "odd").attr("shape", {7}).no_grad().run([](const Inputs&, const Attrs& a) {
        return out(ones(Shape(a.ints("shape"))));
    });
    add(r, "full_like", "strided")
        .in(randn({3, 4}).t())
        .attr("value", -2.0)
        .no_grad()
        .run([](const Inputs& x, const Attrs& a) { return out(full_like(x[0], a.f("value"))); });
    add(r, "zeros_like", "odd").in(randn({3, 5})).no_grad().run([](const Inputs& x, const Attrs&) {
        return out(zeros_like(x[0]));
    });
    add(r, "ones_like", "odd").in(randn({3, 5})).no_grad().run([](const Inputs& x, const Attrs&) {
        return out(ones_like(x[0]));
    });
    add(r, "scalar_tensor", "value").attr("value", 3.5).no_grad().run([](const Inputs&, const Attrs& a) {
        return out(scalar_tensor(a.f("value")));
    });
    add(r, "arange", "int64")
        .attr("start", 2.0)
        .attr("end", 11.0)
        .attr("step", 3.0)
        .no_grad()
        .run([](const Inputs&, const Attrs& a) { return out(arange(a.f("start"), a.f("end"), a.f("step"))); });
    add(r, "rand", "seeded")
        .attr("shape", {3, 5})
        .attr("seed", 7)
        .no_grad()
        .no_parity()
        .run([](const Inputs&, const Attrs& a) {
            Generator gen(std::uint64_t(a.i("seed")));
            return out(rand(Shape(a.ints("shape")), TensorOptions(), gen));
        });
    add(r, "randn", "seeded")
        .attr("shape", {3, 5})
        .attr("seed", 7)
        .no_grad()
        .no_parity()
        .run([](const Inputs&, const Attrs& a) {
            Generator gen(std::uint64_t(a.i("seed")));
            return out(randn(Shape(a.ints("shape")), TensorOptions(), gen));
        });
}

}  // namespace fbseg::harness
