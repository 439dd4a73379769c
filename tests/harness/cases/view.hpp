// tests/harness/cases/view.hpp - views (no copy: the gradient is the inverse view), copies and
// conversions (contiguous, clone, to, copy_, fill_), on contiguous and strided inputs.
#pragma once

#include "harness/op_case.hpp"

namespace fbseg::harness {

inline void add_view_cases(Registry& r) {
    using namespace in;
    add(r, "view", "merge").in(randn({2, 3, 4})).attr("shape", {6, -1}).run([](const Inputs& x, const Attrs& a) {
        return out(x[0].view(Shape(a.ints("shape"))));
    });
    add(r, "reshape", "strided").in(randn({3, 4}).t()).attr("shape", {2, 6}).run([](const Inputs& x, const Attrs& a) {
        return out(x[0].reshape(Shape(a.ints("shape"))));
    });
    add(r, "permute", "3d").in(randn({2, 3, 4})).attr("dims", {2, 0, 1}).run([](const Inputs& x, const Attrs& a) {
        return out(x[0].permute(Shape(a.ints("dims"))));
    });
    add(r, "transpose", "3d")
        .in(randn({2, 3, 4}).step())
        .attr("dim0", 0)
        .attr("dim1", 2)
        .run([](const Inputs& x, const Attrs& a) { return out(x[0].transpose(a.i("dim0"), a.i("dim1"))); });
    add(r, "t", "matrix").in(randn({3, 5})).run([](const Inputs& x, const Attrs&) { return out(x[0].t()); });
    add(r, "slice", "step")
        .in(randn({4, 7}))
        .attr("dim", 1)
        .attr("start", 1)
        .attr("end", 6)
        .attr("step", 2)
        .run([](const Inputs& x, const Attrs& a) {
            return out(x[0].slice(a.i("dim"), a.i("start"), a.i("end"), a.i("step")));
        });
    add(r, "narrow", "rows")
        .in(randn({5, 3}).t())
        .attr("dim", 0)
        .attr("start", 1)
        .attr("length", 3)
        .run([](const Inputs& x, const Attrs& a) { return out(x[0].narrow(a.i("dim"), a.i("start"), a.i("length"))); });
    add(r, "select", "middle")
        .in(randn({3, 4, 2}))
        .attr("dim", 1)
        .attr("index", 2)
        .run([](const Inputs& x, const Attrs& a) { return out(x[0].select(a.i("dim"), a.i("index"))); });
    add(r, "expand", "broadcast").in(randn({3, 1})).attr("shape", {2, 3, 4}).run([](const Inputs& x, const Attrs& a) {
        return out(x[0].expand(Shape(a.ints("shape"))));
    });
    add(r, "squeeze", "all").in(randn({3, 1, 4, 1})).run([](const Inputs& x, const Attrs&) {
        return out(x[0].squeeze());
    });
    add(r, "squeeze", "dim").in(randn({3, 1, 4})).attr("dim", 1).run([](const Inputs& x, const Attrs& a) {
        return out(x[0].squeeze(a.i("dim")));
    });
    add(r, "unsqueeze", "dim").in(randn({3, 4}).t()).attr("dim", 1).run([](const Inputs& x, const Attrs& a) {
        return out(x[0].unsqueeze(a.i("dim")));
    });
    add(r, "flatten", "middle")
        .in(randn({2, 3, 4, 2}).step())
        .attr("start_dim", 1)
        .attr("end_dim", 2)
        .run([](const Inputs& x, const Attrs& a) { return out(x[0].flatten(a.i("start_dim"), a.i("end_dim"))); });

    add(r, "contiguous", "transposed").in(randn({3, 5}).t()).run([](const Inputs& x, const Attrs&) {
        return out(x[0].contiguous());
    });
    add(r, "clone", "sliced").in(randn({3, 4}).step()).run([](const Inputs& x, const Attrs&) {
        return out(x[0].clone());
    });
    add(r, "detach", "plain").in(randn({3, 4})).no_grad().run([](const Inputs& x, const Attrs&) {
        return out(x[0].detach());
    });
    // to(dtype): "roundtrip" goes to the other float dtype and back (both directions covered)
    auto to_dtype = [](const Inputs& x, const Attrs& a) {
        const std::string& d = a.s("dtype");
        if (d == "int64") return out(x[0].to(DType::Int64));
        if (d == "float32") return out(x[0].to(DType::Float32));
        return out(x[0].to(x[0].dtype() == DType::Float32 ? DType::Float64 : DType::Float32).to(x[0].dtype()));
    };
    // In float64 the round trip through float32 is a staircase with steps of ~1e-7: finite
    // differences need a step far above that (the truncation error is 0: the function is linear).
    add(r, "to_dtype", "roundtrip").in(randn({3, 4}).t()).attr("dtype", "roundtrip").grad_eps(1e-2).run(to_dtype);
    add(r, "to_dtype", "int64").in(small_int({3, 4})).attr("dtype", "int64").no_grad().run(to_dtype);
    add(r, "to_dtype", "bool_to_float").in(boolean({2, 3}).t()).attr("dtype", "float32").no_grad().run(to_dtype);
    // to(device): to the CPU is the identity here; the cuda mode runs it from a CUDA tensor.
    add(r, "to_device", "cpu").in(randn({3, 4})).run([](const Inputs& x, const Attrs&) { return out(x[0].to(kCPU)); });

    // copy_ broadcasts its source into a strided destination; fill_ writes every element.
    add(r, "copy_", "broadcast").in(randn({3, 4}).t()).in(randn({4})).in_place().run([](const Inputs& x, const Attrs&) {
        Tensor y = x[0];
        return out(y.copy_(x[1]));
    });
    add(r, "copy_", "same")
        .in(randn({2, 5}).step())
        .in(randn({2, 5}).t())
        .in_place()
        .run([](const Inputs& x, const Attrs&) {
            Tensor y = x[0];
            return out(y.copy_(x[1]));
        });
    add(r, "fill_", "sliced")
        .in(randn({3, 4}).step())
        .in_place()
        .no_grad()
        .attr("value", 2.5)
        .run([](const Inputs& x, const Attrs& a) {
            Tensor y = x[0];
            return out(y.fill_(a.f("value")));
        });
    add(r, "fill_", "odd")
        .in(randn({37}))
        .in_place()
        .no_grad()
        .attr("value", -1.0)
        .run([](const Inputs& x, const Attrs& a) {
            Tensor y = x[0];
            return out(y.fill_(a.f("value")));
        });
    add(r, "zero_", "transposed").in(randn({3, 4}).t()).in_place().no_grad().run([](const Inputs& x, const Attrs&) {
        Tensor y = x[0];
        return out(y.zero_());
    });
}

}  // namespace fbseg::harness
