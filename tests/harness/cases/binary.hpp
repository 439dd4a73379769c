// tests/harness/cases/binary.hpp - arithmetic of two tensors (with broadcasting, scalars,
// strided operands), the in-place forms, and the comparisons (bool results, no gradient).
#pragma once

#include "harness/op_case.hpp"

namespace fbseg::harness {

namespace binary_cases {
/// The op with a tensor, or with the scalar attribute "scalar" when the case has one.
template <typename F>
RunFn tensor_or_scalar(F f) {
    return [f](const Inputs& x, const Attrs& a) {
        return out(a.has("scalar") ? f(x[0], scalar_like(a.f("scalar"), x[0])) : f(x[0], x[1]));
    };
}
}  // namespace binary_cases

inline void add_binary_cases(Registry& r) {
    using namespace in;
    using binary_cases::tensor_or_scalar;
    auto add_ = [](const Tensor& a, const Tensor& b) { return fbseg::add(a, b); };
    auto sub_ = [](const Tensor& a, const Tensor& b) { return fbseg::sub(a, b); };
    auto mul_ = [](const Tensor& a, const Tensor& b) { return fbseg::mul(a, b); };
    auto div_ = [](const Tensor& a, const Tensor& b) { return fbseg::div(a, b); };
    // Four shapes per arithmetic op: same shape, broadcast both ways, a scalar, strided operands.
    add(r, "add", "same").in(randn({3, 5})).in(randn({3, 5})).run(tensor_or_scalar(add_));
    add(r, "add", "broadcast").in(randn({2, 3, 1})).in(randn({4})).run(tensor_or_scalar(add_));
    add(r, "add", "scalar").in(randn({3, 4})).attr("scalar", 1.5).run(tensor_or_scalar(add_));
    add(r, "add", "strided").in(randn({3, 4}).t()).in(randn({3, 4}).step()).run(tensor_or_scalar(add_));
    add(r, "sub", "same").in(randn({3, 5})).in(randn({3, 5})).run(tensor_or_scalar(sub_));
    add(r, "sub", "broadcast").in(randn({3, 1})).in(randn({2, 1, 4})).run(tensor_or_scalar(sub_));
    add(r, "sub", "scalar").in(randn({3, 4})).attr("scalar", -0.5).run(tensor_or_scalar(sub_));
    add(r, "sub", "expanded").in(randn({3, 4}).expand()).in(randn({3, 4}).t()).run(tensor_or_scalar(sub_));
    add(r, "mul", "same").in(randn({3, 5})).in(randn({3, 5})).run(tensor_or_scalar(mul_));
    add(r, "mul", "broadcast").in(randn({2, 3, 4})).in(randn({3, 1})).run(tensor_or_scalar(mul_));
    add(r, "mul", "scalar").in(randn({3, 4})).attr("scalar", 2.5).run(tensor_or_scalar(mul_));
    add(r, "mul", "strided").in(randn({2, 5}).step()).in(randn({2, 5}).t()).run(tensor_or_scalar(mul_));
    add(r, "div", "same").in(randn({3, 5})).in(away0({3, 5})).run(tensor_or_scalar(div_));
    add(r, "div", "broadcast").in(randn({2, 3, 4})).in(positive({4})).run(tensor_or_scalar(div_));
    add(r, "div", "scalar").in(randn({3, 4})).attr("scalar", 0.7).run(tensor_or_scalar(div_));
    add(r, "div", "strided").in(randn({3, 4}).t()).in(away0({3, 4}).step()).run(tensor_or_scalar(div_));
    // maximum/minimum: a and b drawn from one distinct grid, shifted apart by the half-step 0.05
    auto shifted = [](Tensor (*f)(const Tensor&, const Tensor&)) {
        return RunFn([f](const Inputs& x, const Attrs& a) { return out(f(x[0], x[1] + a.f("shift"))); });
    };
    add(r, "maximum", "same").in(distinct({3, 5})).in(distinct({3, 5})).attr("shift", 0.05).run(shifted(maximum));
    add(r, "maximum", "broadcast")
        .in(distinct({2, 3, 4}))
        .in(distinct({3, 1}))
        .attr("shift", 0.05)
        .run(shifted(maximum));
    add(r, "minimum", "same").in(distinct({3, 5}).t()).in(distinct({3, 5})).attr("shift", 0.05).run(shifted(minimum));

    // In place: self op= other, other broadcast to self (tensor, scalar, strided destination).
    auto inplace = [](Tensor& (*f)(Tensor&, const Tensor&)) {
        return RunFn([f](const Inputs& x, const Attrs& a) {
            Tensor y = x[0];
            return out(f(y, a.has("scalar") ? scalar_like(a.f("scalar"), y) : x[1]));
        });
    };
    add(r, "add_", "broadcast").in(randn({3, 4})).in(randn({4})).in_place().run(inplace(fbseg::add_));
    add(r, "add_", "scalar").in(randn({3, 4}).t()).in_place().attr("scalar", 0.25).run(inplace(fbseg::add_));
    add(r, "sub_", "same").in(randn({2, 5}).step()).in(randn({2, 5})).in_place().run(inplace(fbseg::sub_));
    add(r, "mul_", "broadcast").in(randn({3, 4})).in(randn({3, 1})).in_place().run(inplace(fbseg::mul_));
    add(r, "mul_", "scalar").in(randn({3, 4})).in_place().attr("scalar", -1.5).run(inplace(fbseg::mul_));
    add(r, "div_", "same").in(randn({3, 4}).t()).in(away0({3, 4})).in_place().run(inplace(fbseg::div_));

    // int64 arithmetic: exact, no gradient
    add(r, "add", "int64").in(int64({3, 5})).in(int64({3, 5}).t()).no_grad().run(tensor_or_scalar(add_));
    add(r, "mul", "int64_broadcast").in(int64({2, 3, 4})).in(int64({4})).no_grad().run(tensor_or_scalar(mul_));
    add(r, "sub", "int64_strided").in(int64({3, 4}).step()).in(int64({3, 1})).no_grad().run(tensor_or_scalar(sub_));
    add(r, "eq", "int64").in(int64({3, 5})).in(int64({5})).no_grad().run([](const Inputs& x, const Attrs&) {
        return out(eq(x[0], x[1]));
    });

    // Comparisons: small integers make exact ties, the one case where they differ.
    auto compare = [](Tensor (*f)(const Tensor&, const Tensor&)) {
        return RunFn([f](const Inputs& x, const Attrs&) { return out(f(x[0], x[1])); });
    };
    add(r, "gt", "ties").in(small_int({3, 5})).in(small_int({5})).run(compare(gt)).no_grad();
    add(r, "lt", "ties").in(small_int({3, 5}).t()).in(small_int({3, 5})).run(compare(lt)).no_grad();
    add(r, "ge", "ties").in(small_int({3, 5})).in(small_int({3, 1})).run(compare(ge)).no_grad();
    add(r, "le", "ties").in(small_int({2, 3}).step()).in(small_int({2, 3})).run(compare(le)).no_grad();
    add(r, "eq", "ties").in(small_int({3, 5})).in(small_int({3, 5})).run(compare(eq)).no_grad();
    add(r, "ne", "ties").in(small_int({3, 5})).in(small_int({5})).run(compare(ne)).no_grad();
    add(r, "gt", "scalar").in(small_int({3, 5})).attr("scalar", 0.0).no_grad().run([](const Inputs& x, const Attrs& a) {
        return out(gt(x[0], a.f("scalar")));
    });
}

}  // namespace fbseg::harness
