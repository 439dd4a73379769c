// fbseg/ops/unary.hpp - elementwise functions of one tensor and their derivatives.
//
// Each function is described once, as a small struct: forward(x) computes y = f(x), and
// backward(g, x, y) computes g * f'(x), the gradient of the input from the gradient g of the
// output (the chain rule, one element at a time). One generic driver turns the struct into the
// out-of-place op (relu) and, where f' can be computed from y alone, the in-place op (relu_).
#pragma once

#include <cmath>
#include <limits>

#include "fbseg/autograd/function.hpp"
#include "fbseg/ops/cpu/elementwise.hpp"
#include "fbseg/ops/device_check.hpp"
#include "fbseg/ops/factory.hpp"
#include "fbseg/ops/op_declarations.hpp"
#include "fbseg/ops/overlap.hpp"

namespace fbseg {

namespace unary {

struct Neg {
    static constexpr const char* name = "neg";
    static constexpr bool needs_x = false;  // backward uses only g (and y)
    template <typename T> T forward(T x) const { return -x; }
    template <typename T> T backward(T g, T, T) const { return -g; }
};
struct Exp {
    static constexpr const char* name = "exp";
    static constexpr bool needs_x = false;
    template <typename T> T forward(T x) const { return std::exp(x); }
    template <typename T> T backward(T g, T, T y) const { return g * y; }  // (e^x)' = e^x
};
struct Log {
    static constexpr const char* name = "log";
    static constexpr bool needs_x = true;
    template <typename T> T forward(T x) const { return std::log(x); }
    template <typename T> T backward(T g, T x, T) const { return g / x; }
};
struct Sqrt {
    static constexpr const char* name = "sqrt";
    static constexpr bool needs_x = false;
    template <typename T> T forward(T x) const { return std::sqrt(x); }
    template <typename T> T backward(T g, T, T y) const { return g / (T(2) * y); }  // (sqrt x)' = 1 / (2 sqrt x)
};
struct Abs {
    static constexpr const char* name = "abs";
    static constexpr bool needs_x = true;
    template <typename T> T forward(T x) const { return std::abs(x); }
    template <typename T> T backward(T g, T x, T) const { return x > T(0) ? g : (x < T(0) ? -g : T(0)); }
};
struct Relu {
    static constexpr const char* name = "relu";
    static constexpr bool needs_x = false;
    // Written as "not <= 0" so that NaN passes through (as in PyTorch): a NaN must stay visible.
    template <typename T> T forward(T x) const { return x <= T(0) ? T(0) : x; }
    template <typename T> T backward(T g, T, T y) const { return y <= T(0) ? T(0) : g; }
};
struct LeakyRelu {
    static constexpr const char* name = "leaky_relu";
    static constexpr bool needs_x = false;  // for slope >= 0, y > 0 exactly when x > 0
    double slope;
    template <typename T> T forward(T x) const { return x > T(0) ? x : x * T(slope); }
    template <typename T> T backward(T g, T, T y) const { return y > T(0) ? g : g * T(slope); }
};
struct Sigmoid {
    static constexpr const char* name = "sigmoid";
    static constexpr bool needs_x = false;
    template <typename T> T forward(T x) const {
        // Two branches keep exp() from overflowing: 1/(1+e^-x) for x >= 0, e^x/(1+e^x) otherwise.
        if (x >= T(0)) return T(1) / (T(1) + std::exp(-x));
        const T e = std::exp(x);
        return e / (T(1) + e);
    }
    template <typename T> T backward(T g, T, T y) const { return g * y * (T(1) - y); }  // s' = s (1 - s)
};
struct Tanh {
    static constexpr const char* name = "tanh";
    static constexpr bool needs_x = false;
    template <typename T> T forward(T x) const { return std::tanh(x); }
    template <typename T> T backward(T g, T, T y) const { return g * (T(1) - y * y); }  // tanh' = 1 - tanh^2
};
struct Silu {  // x * sigmoid(x), also called swish (EfficientNet's activation)
    static constexpr const char* name = "silu";
    static constexpr bool needs_x = true;
    template <typename T> T forward(T x) const { return x * Sigmoid{}.forward(x); }
    // silu' = s + x s (1 - s) = s (1 + x (1 - s)),  s = sigmoid(x)
    template <typename T> T backward(T g, T x, T) const {
        const T s = Sigmoid{}.forward(x);
        return g * s * (T(1) + x * (T(1) - s));
    }
};
struct PowScalar {
    static constexpr const char* name = "pow";
    static constexpr bool needs_x = true;
    double exponent;
    template <typename T> T forward(T x) const {
        if (exponent == 2.0) return x * x;
        return T(std::pow(x, T(exponent)));
    }
    template <typename T> T backward(T g, T x, T) const {  // (x^p)' = p x^(p-1)
        if (exponent == 0.0) return T(0);
        if (exponent == 2.0) return g * T(2) * x;
        return g * T(exponent) * T(std::pow(x, T(exponent - 1.0)));
    }
};
struct Clamp {
    static constexpr const char* name = "clamp";
    static constexpr bool needs_x = true;
    double lo, hi;  // -inf / +inf when absent
    template <typename T> T forward(T x) const { return std::min(std::max(x, T(lo)), T(hi)); }
    // The gradient passes where lo < x < hi: 0 at a bound itself, the minimum-norm subgradient
    // (as relu at 0, and PyTorch 2.15's clamp with scalar bounds; older PyTorch passed it there).
    // An absent (infinite) bound never stops the gradient.
    template <typename T> T backward(T g, T x, T) const {
        const bool above = std::isinf(lo) || x > T(lo), below = std::isinf(hi) || x < T(hi);
        return above && below ? g : T(0);
    }
};

/// clamp written for the in-place form: its gradient passes where lo < x < hi, and that is
/// exactly where lo < y < hi (y = clamp(x) equals a bound everywhere else), so it needs only y.
struct ClampOut {
    static constexpr const char* name = "clamp_";
    static constexpr bool needs_x = false;
    double lo, hi;
    template <typename T> T forward(T x) const { return Clamp{lo, hi}.forward(x); }
    template <typename T> T backward(T g, T, T y) const { return Clamp{lo, hi}.backward(g, y, y); }
};
/// Rounds to the nearest integer, halves to even (as torch.round: round(0.5) = 0, round(1.5) = 2,
/// round(-2.5) = -2). std::nearbyint rounds in the current mode, which is to-nearest-even unless a
/// program changed it. The derivative is 0 almost everywhere, so the gradient is 0 (as PyTorch).
struct Round {
    static constexpr const char* name = "round";
    static constexpr bool needs_x = false;
    template <typename T> T forward(T x) const { return std::nearbyint(x); }
    template <typename T> T backward(T, T, T) const { return T(0); }
};

/// out = f(x) on the CPU.
template <typename Op>
void compute(const Tensor& out, const Tensor& x, const Op& op) {
    dispatch_floating(x.dtype(), Op::name, [&]<typename T>() {
        cpu::map1<T, T>(out, x, [&op](T v) { return op.template forward<T>(v); });
    });
}

/// grad_x = backward(g, x, y) on the CPU; x or y may be undefined when the op does not use it.
template <typename Op>
Tensor gradient(const Op& op, const Tensor& g, const Tensor& x, const Tensor& y) {
    detail::require_cpu_kernel(Op::name, {&g});
    Tensor gx = empty(g.shape(), TensorOptions(g.dtype()).device(g.device()));
    const Tensor& used = Op::needs_x ? x : y;
    dispatch_floating(g.dtype(), Op::name, [&]<typename T>() {
        if constexpr (Op::needs_x) {
            cpu::map2<T, T, T>(gx, g, used, [&op](T gv, T xv) { return op.template backward<T>(gv, xv, T(0)); });
        } else {
            cpu::map2<T, T, T>(gx, g, used, [&op](T gv, T yv) { return op.template backward<T>(gv, T(0), yv); });
        }
    });
    return gx;
}

/// The out-of-place op: y = f(x), recording a node that saves what backward needs.
template <typename Op>
Tensor apply(const Tensor& x, const Op& op) {
    FBSEG_CHECK(x.defined(), Op::name, ": input is an undefined tensor");
    detail::require_cpu_kernel(Op::name, {&x});
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
    detail::require_cpu_kernel(Op::name, {&x});
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

inline Tensor neg(const Tensor& x) { return unary::apply(x, unary::Neg{}); }
inline Tensor exp(const Tensor& x) { return unary::apply(x, unary::Exp{}); }
inline Tensor log(const Tensor& x) { return unary::apply(x, unary::Log{}); }
inline Tensor sqrt(const Tensor& x) { return unary::apply(x, unary::Sqrt{}); }
inline Tensor abs(const Tensor& x) { return unary::apply(x, unary::Abs{}); }
inline Tensor relu(const Tensor& x) { return unary::apply(x, unary::Relu{}); }
inline Tensor leaky_relu(const Tensor& x, double negative_slope = 0.01) {
    FBSEG_CHECK(negative_slope >= 0, "leaky_relu: negative_slope must be >= 0 but got ", negative_slope);
    return unary::apply(x, unary::LeakyRelu{negative_slope});
}
inline Tensor sigmoid(const Tensor& x) { return unary::apply(x, unary::Sigmoid{}); }
inline Tensor tanh(const Tensor& x) { return unary::apply(x, unary::Tanh{}); }
inline Tensor silu(const Tensor& x) { return unary::apply(x, unary::Silu{}); }
inline Tensor pow(const Tensor& x, double exponent) { return unary::apply(x, unary::PowScalar{exponent}); }
inline Tensor square(const Tensor& x) { return pow(x, 2.0); }
/// Clamps into [lo, hi]; pass -inf or +inf (or use clamp_min / clamp_max) for a one-sided clamp.
inline Tensor clamp(const Tensor& x, double lo, double hi) {
    FBSEG_CHECK(!(lo > hi), "clamp: min ", lo, " is greater than max ", hi);
    return unary::apply(x, unary::Clamp{lo, hi});
}
inline Tensor clamp_min(const Tensor& x, double lo) { return clamp(x, lo, std::numeric_limits<double>::infinity()); }
inline Tensor clamp_max(const Tensor& x, double hi) { return clamp(x, -std::numeric_limits<double>::infinity(), hi); }
/// round(x): nearest integer, halves to even; gradient 0.
inline Tensor round(const Tensor& x) { return unary::apply(x, unary::Round{}); }

inline Tensor& neg_(Tensor& x) { return unary::apply_(x, unary::Neg{}); }
inline Tensor& exp_(Tensor& x) { return unary::apply_(x, unary::Exp{}); }
inline Tensor& sqrt_(Tensor& x) { return unary::apply_(x, unary::Sqrt{}); }
inline Tensor& relu_(Tensor& x) { return unary::apply_(x, unary::Relu{}); }
inline Tensor& leaky_relu_(Tensor& x, double negative_slope = 0.01) {
    FBSEG_CHECK(negative_slope >= 0, "leaky_relu_: negative_slope must be >= 0 but got ", negative_slope);
    return unary::apply_(x, unary::LeakyRelu{negative_slope});
}
inline Tensor& sigmoid_(Tensor& x) { return unary::apply_(x, unary::Sigmoid{}); }
inline Tensor& tanh_(Tensor& x) { return unary::apply_(x, unary::Tanh{}); }
inline Tensor& clamp_(Tensor& x, double lo, double hi) {
    FBSEG_CHECK(!(lo > hi), "clamp_: min ", lo, " is greater than max ", hi);
    return unary::apply_(x, unary::ClampOut{lo, hi});
}
inline Tensor& clamp_min_(Tensor& x, double lo) { return clamp_(x, lo, std::numeric_limits<double>::infinity()); }
inline Tensor& clamp_max_(Tensor& x, double hi) { return clamp_(x, -std::numeric_limits<double>::infinity(), hi); }

}  // namespace fbseg
