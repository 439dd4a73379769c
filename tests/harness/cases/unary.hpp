// tests/harness/cases/unary.hpp - elementwise functions of one tensor, out of place and in place.
// Shapes are small and odd (gradcheck is O(numel) forward passes); every op also runs on a
// transposed or strided input. Kinks are kept away by the domain (away0, distinct, positive).
#pragma once

#include "harness/op_case.hpp"

namespace fbseg::harness {

inline void add_unary_cases(Registry& r) {
    using namespace in;
    add(r, "neg", "odd").in(randn({3, 5})).run([](const Inputs& x, const Attrs&) { return out(neg(x[0])); });
    add(r, "neg", "sliced").in(randn({2, 3}).step()).run([](const Inputs& x, const Attrs&) { return out(-x[0]); });
    add(r, "exp", "odd").in(randn({3, 5})).run([](const Inputs& x, const Attrs&) { return out(exp(x[0])); });
    add(r, "exp", "transposed").in(randn({4, 3}).t()).run([](const Inputs& x, const Attrs&) { return out(exp(x[0])); });
    add(r, "log", "positive").in(positive({7})).run([](const Inputs& x, const Attrs&) { return out(log(x[0])); });
    add(r, "log", "sliced").in(positive({2, 3}).step()).run([](const Inputs& x, const Attrs&) {
        return out(log(x[0]));
    });
    add(r, "sqrt", "positive").in(positive({3, 5})).run([](const Inputs& x, const Attrs&) { return out(sqrt(x[0])); });
    add(r, "abs", "away0").in(away0({3, 5})).run([](const Inputs& x, const Attrs&) { return out(abs(x[0])); });
    add(r, "abs", "transposed").in(away0({2, 3}).t()).run([](const Inputs& x, const Attrs&) { return out(abs(x[0])); });
    add(r, "relu", "away0").in(away0({3, 5})).run([](const Inputs& x, const Attrs&) { return out(relu(x[0])); });
    add(r, "relu", "expanded").in(away0({3, 4}).expand()).run([](const Inputs& x, const Attrs&) {
        return out(relu(x[0]));
    });
    add(r, "leaky_relu", "slope")
        .in(away0({3, 5}))
        .attr("negative_slope", 0.1)
        .run([](const Inputs& x, const Attrs& a) { return out(leaky_relu(x[0], a.f("negative_slope"))); });
    add(r, "sigmoid", "odd").in(randn({3, 5})).run([](const Inputs& x, const Attrs&) { return out(sigmoid(x[0])); });
    add(r, "sigmoid", "transposed").in(randn({2, 3}).t()).run([](const Inputs& x, const Attrs&) {
        return out(sigmoid(x[0]));
    });
    add(r, "tanh", "odd").in(randn({3, 5})).run([](const Inputs& x, const Attrs&) { return out(tanh(x[0])); });
    add(r, "silu", "odd").in(randn({3, 5})).run([](const Inputs& x, const Attrs&) { return out(silu(x[0])); });
    add(r, "silu", "sliced").in(randn({2, 3}).step()).run([](const Inputs& x, const Attrs&) {
        return out(silu(x[0]));
    });
    add(r, "pow", "cube").in(randn({3, 4})).attr("exponent", 3.0).run([](const Inputs& x, const Attrs& a) {
        return out(pow(x[0], a.f("exponent")));
    });
    add(r, "pow", "half").in(positive({3, 4})).attr("exponent", 0.5).run([](const Inputs& x, const Attrs& a) {
        return out(pow(x[0], a.f("exponent")));
    });
    add(r, "pow", "negative").in(positive({5})).attr("exponent", -1.5).run([](const Inputs& x, const Attrs& a) {
        return out(pow(x[0], a.f("exponent")));
    });
    add(r, "square", "odd").in(randn({3, 5})).run([](const Inputs& x, const Attrs&) { return out(square(x[0])); });
    // distinct values sit at 0.1 k + [0, 0.025]: bounds at x.x6 are 0.035 away from every value
    add(r, "clamp", "both")
        .in(distinct({4, 5}))
        .attr("min", -0.44)
        .attr("max", 0.56)
        .run([](const Inputs& x, const Attrs& a) { return out(clamp(x[0], a.f("min"), a.f("max"))); });
    add(r, "clamp_min", "distinct")
        .in(distinct({4, 5}).t())
        .attr("min", -0.24)
        .run([](const Inputs& x, const Attrs& a) { return out(clamp_min(x[0], a.f("min"))); });
    add(r, "clamp_max", "distinct").in(distinct({4, 5})).attr("max", 0.36).run([](const Inputs& x, const Attrs& a) {
        return out(clamp_max(x[0], a.f("max")));
    });

    // In place: input 0 is the destination (a clone of it when a graph is recorded).
    add(r, "neg_", "odd").in(randn({3, 5})).in_place().run([](const Inputs& x, const Attrs&) {
        Tensor y = x[0];
        return out(neg_(y));
    });
    add(r, "exp_", "sliced").in(randn({2, 3}).step()).in_place().run([](const Inputs& x, const Attrs&) {
        Tensor y = x[0];
        return out(exp_(y));
    });
    add(r, "sqrt_", "positive").in(positive({3, 5})).in_place().run([](const Inputs& x, const Attrs&) {
        Tensor y = x[0];
        return out(sqrt_(y));
    });
    add(r, "relu_", "transposed").in(away0({3, 5}).t()).in_place().run([](const Inputs& x, const Attrs&) {
        Tensor y = x[0];
        return out(relu_(y));
    });
    add(r, "leaky_relu_", "slope")
        .in(away0({3, 5}))
        .in_place()
        .attr("negative_slope", 0.2)
        .run([](const Inputs& x, const Attrs& a) {
            Tensor y = x[0];
            return out(leaky_relu_(y, a.f("negative_slope")));
        });
    add(r, "sigmoid_", "odd").in(randn({3, 5})).in_place().run([](const Inputs& x, const Attrs&) {
        Tensor y = x[0];
        return out(sigmoid_(y));
    });
    add(r, "tanh_", "odd").in(randn({3, 5})).in_place().run([](const Inputs& x, const Attrs&) {
        Tensor y = x[0];
        return out(tanh_(y));
    });
}

}  // namespace fbseg::harness
