// fbseg/ops/unary.hpp - elementwise functions of one tensor and their derivatives.
//
// Each function is described once, as a small struct in ops/functors/unary.hpp (shared with the
// CUDA kernels): forward(x) computes y = f(x), and backward(g, x, y) computes g * f'(x). One
// generic driver turns the struct into the out-of-place op (relu) and, where f' can be computed
// from y alone, the in-place op (relu_), and sends the work to the CPU loop or the CUDA kernel.
#pragma once

#include <cmath>
#include <limits>

#include "fbseg/autograd/function.hpp"
#include "fbseg/ops/cpu/elementwise.hpp"
#include "fbseg/ops/device_check.hpp"
#include "fbseg/ops/factory.hpp"
#include "fbseg/ops/functors/unary.hpp"
#include "fbseg/ops/kernel/elementwise.hpp"
#include "fbseg/ops/op_declarations.hpp"
#include "fbseg/ops/op_library.hpp"
#include "fbseg/ops/overlap.hpp"

namespace fbseg {

namespace unary {

/// out = f(x) through the unary map's dispatcher (the CPU loop or the CUDA kernel).
template <typename Op>
void compute(const Tensor& out, const Tensor& x, const Op& op) {
    kernel::unary_map(out, x, op);
}

/// grad_x = backward(g, x, y); x or y may be undefined when the op does not use it.
template <typename Op>
Tensor gradient(const Op& op, const Tensor& g, const Tensor& x, const Tensor& y) {
    Tensor gx = empty(g.shape(), TensorOptions(g.dtype()).device(g.device()));
    kernel::unary_backward_map(gx, g, Op::needs_x ? x : y, op);
    return gx;
}

/// The out-of-place op: y = f(x), recording a node that saves what backward needs.
template <typename Op>
Tensor apply(const Tensor& x, const Op& op) {
    FBSEG_CHECK(x.defined(), Op::name, ": input is an undefined tensor");
    Tensor y = empty(x.shape(), TensorOptions(x.dtype()).device(x.device()));
    compute(y, x, op);
    if (autograd::needs_grad({&x})) {
        autograd::SavedTensor saved = Op::needs_x ? autograd::SavedTensor(x) : autograd::SavedTensor(y);
        const std::string node = std::string(Op::name) + "Backward";
        autograd::record(node, {&x}, {&y}, [op, saved, node](const std::vector<Tensor>& g) {
            const Tensor s = saved.unpack(node);
            return std::vector<Tensor>{Op::needs_x ? gradient(op, g[0], s, Tensor()) : gradient(op, g[0], Tensor(), s)};
        });
    }
    return y;
}

/// The in-place op: x = f(x). Only for ops whose derivative is a function of y.
template <typename Op>
Tensor& apply_(Tensor& x, const Op& op) {
    static_assert(!Op::needs_x, "this op's gradient needs its input, so it has no in-place form");
    overlap::assert_no_internal_overlap(x, Op::name);
    const bool records = autograd::check_inplace(x, Op::name, false);
    compute(x, x, op);
    x.storage()->bump_version();
    if (records) {
        const std::string node = std::string(Op::name) + "_Backward";
        autograd::record(node, {&x}, {&x}, [op, saved = autograd::SavedTensor(x), node](const std::vector<Tensor>& g) {
            return std::vector<Tensor>{gradient(op, g[0], Tensor(), saved.unpack(node))};
        });
    }
    return x;
}

}  // namespace unary

// ---- the ops (defined below, or in libfbseg: ops/op_library.hpp) ------------------------------
FBSEG_OP Tensor neg(const Tensor& x);
FBSEG_OP Tensor exp(const Tensor& x);
FBSEG_OP Tensor log(const Tensor& x);
FBSEG_OP Tensor sqrt(const Tensor& x);
FBSEG_OP Tensor abs(const Tensor& x);
FBSEG_OP Tensor relu(const Tensor& x);
FBSEG_OP Tensor leaky_relu(const Tensor& x, double negative_slope = 0.01);
FBSEG_OP Tensor sigmoid(const Tensor& x);
FBSEG_OP Tensor tanh(const Tensor& x);
FBSEG_OP Tensor silu(const Tensor& x);
FBSEG_OP Tensor pow(const Tensor& x, double exponent);
FBSEG_OP Tensor square(const Tensor& x);
/// Clamps into [lo, hi]; pass -inf or +inf (or use clamp_min / clamp_max) for a one-sided clamp.
FBSEG_OP Tensor clamp(const Tensor& x, double lo, double hi);
FBSEG_OP Tensor clamp_min(const Tensor& x, double lo);
FBSEG_OP Tensor clamp_max(const Tensor& x, double hi);
/// round(x): nearest integer, halves to even; gradient 0.
FBSEG_OP Tensor round(const Tensor& x);

FBSEG_OP Tensor& neg_(Tensor& x);
FBSEG_OP Tensor& exp_(Tensor& x);
FBSEG_OP Tensor& sqrt_(Tensor& x);
FBSEG_OP Tensor& relu_(Tensor& x);
FBSEG_OP Tensor& leaky_relu_(Tensor& x, double negative_slope = 0.01);
FBSEG_OP Tensor& sigmoid_(Tensor& x);
FBSEG_OP Tensor& tanh_(Tensor& x);
FBSEG_OP Tensor& clamp_(Tensor& x, double lo, double hi);
FBSEG_OP Tensor& clamp_min_(Tensor& x, double lo);
FBSEG_OP Tensor& clamp_max_(Tensor& x, double hi);

#if FBSEG_OP_DEFINITIONS
FBSEG_OP Tensor neg(const Tensor& x) { return unary::apply(x, unary::Neg{}); }
FBSEG_OP Tensor exp(const Tensor& x) { return unary::apply(x, unary::Exp{}); }
FBSEG_OP Tensor log(const Tensor& x) { return unary::apply(x, unary::Log{}); }
FBSEG_OP Tensor sqrt(const Tensor& x) { return unary::apply(x, unary::Sqrt{}); }
FBSEG_OP Tensor abs(const Tensor& x) { return unary::apply(x, unary::Abs{}); }
FBSEG_OP Tensor relu(const Tensor& x) { return unary::apply(x, unary::Relu{}); }
FBSEG_OP Tensor leaky_relu(const Tensor& x, double negative_slope) {
    FBSEG_CHECK(negative_slope >= 0, "leaky_relu: negative_slope must be >= 0 but got ", negative_slope);
    return unary::apply(x, unary::LeakyRelu{negative_slope});
}
FBSEG_OP Tensor sigmoid(const Tensor& x) { return unary::apply(x, unary::Sigmoid{}); }
FBSEG_OP Tensor tanh(const Tensor& x) { return unary::apply(x, unary::Tanh{}); }
FBSEG_OP Tensor silu(const Tensor& x) { return unary::apply(x, unary::Silu{}); }
FBSEG_OP Tensor pow(const Tensor& x, double exponent) { return unary::apply(x, unary::PowScalar{exponent}); }
FBSEG_OP Tensor square(const Tensor& x) { return pow(x, 2.0); }
FBSEG_OP Tensor clamp(const Tensor& x, double lo, double hi) {
    FBSEG_CHECK(!(lo > hi), "clamp: min ", lo, " is greater than max ", hi);
    return unary::apply(x, unary::Clamp{lo, hi});
}
FBSEG_OP Tensor clamp_min(const Tensor& x, double lo) { return clamp(x, lo, std::numeric_limits<double>::infinity()); }
FBSEG_OP Tensor clamp_max(const Tensor& x, double hi) { return clamp(x, -std::numeric_limits<double>::infinity(), hi); }
FBSEG_OP Tensor round(const Tensor& x) { return unary::apply(x, unary::Round{}); }

FBSEG_OP Tensor& neg_(Tensor& x) { return unary::apply_(x, unary::Neg{}); }
FBSEG_OP Tensor& exp_(Tensor& x) { return unary::apply_(x, unary::Exp{}); }
FBSEG_OP Tensor& sqrt_(Tensor& x) { return unary::apply_(x, unary::Sqrt{}); }
FBSEG_OP Tensor& relu_(Tensor& x) { return unary::apply_(x, unary::Relu{}); }
FBSEG_OP Tensor& leaky_relu_(Tensor& x, double negative_slope) {
    FBSEG_CHECK(negative_slope >= 0, "leaky_relu_: negative_slope must be >= 0 but got ", negative_slope);
    return unary::apply_(x, unary::LeakyRelu{negative_slope});
}
FBSEG_OP Tensor& sigmoid_(Tensor& x) { return unary::apply_(x, unary::Sigmoid{}); }
FBSEG_OP Tensor& tanh_(Tensor& x) { return unary::apply_(x, unary::Tanh{}); }
FBSEG_OP Tensor& clamp_(Tensor& x, double lo, double hi) {
    FBSEG_CHECK(!(lo > hi), "clamp_: min ", lo, " is greater than max ", hi);
    return unary::apply_(x, unary::ClampOut{lo, hi});
}
FBSEG_OP Tensor& clamp_min_(Tensor& x, double lo) { return clamp_(x, lo, std::numeric_limits<double>::infinity()); }
FBSEG_OP Tensor& clamp_max_(Tensor& x, double hi) { return clamp_(x, -std::numeric_limits<double>::infinity(), hi); }

#endif  // FBSEG_OP_DEFINITIONS

}  // namespace fbseg
