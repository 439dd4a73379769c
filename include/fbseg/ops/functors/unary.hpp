// fbseg/ops/functors/unary.hpp - the elementwise functions of one tensor, written once for the
// CPU and the GPU.
//
// Each function is a small struct: forward(x) computes y = f(x), and backward(g, x, y) computes
// g * f'(x), the gradient of the input from the gradient g of the output (the chain rule, one
// element at a time). ops/unary.hpp turns a struct into the public op (relu, relu_) and its
// autograd node; the CPU kernel (cpu::map1 / map2) and the CUDA kernel (kernels/map.cu, chosen by
// the struct's `code`) both call these very functions, so the two devices compute the same formula.
// needs_x says whether backward reads x (else it reads y, and an in-place form exists).
#pragma once

#include <array>
#include <cmath>

#include "fbseg/core/host_device.hpp"
#include "fbseg/cuda/api.hpp"

namespace fbseg::unary {

namespace detail {
/// min(max(x, lo), hi), NaN passing through (as std::min(std::max(x, lo), hi), whose comparisons
/// are false for a NaN x and so return x).
template <typename T> FBSEG_HOST_DEVICE T clamp_value(T x, T lo, T hi) {
    const T above = (x < lo) ? lo : x;  // std::max(x, lo) returns x unless x < lo
    return (hi < above) ? hi : above;   // std::min(above, hi) returns above unless hi < above
}
FBSEG_HOST_DEVICE inline bool is_infinite(double v) { return v == v && (v - v) != (v - v); }
}  // namespace detail

struct Neg {
    static constexpr const char* name = "neg";
    static constexpr cuda::UnaryOp code = cuda::UnaryOp::Neg;
    static constexpr bool needs_x = false;  // backward uses only g (and y)
    template <typename T> FBSEG_HOST_DEVICE T forward(T x) const { return -x; }
    template <typename T> FBSEG_HOST_DEVICE T backward(T g, T, T) const { return -g; }
};
struct Exp {
    static constexpr const char* name = "exp";
    static constexpr cuda::UnaryOp code = cuda::UnaryOp::Exp;
    static constexpr bool needs_x = false;
    template <typename T> FBSEG_HOST_DEVICE T forward(T x) const { return std::exp(x); }
    template <typename T> FBSEG_HOST_DEVICE T backward(T g, T, T y) const { return g * y; }  // (e^x)' = e^x
};
struct Log {
    static constexpr const char* name = "log";
    static constexpr cuda::UnaryOp code = cuda::UnaryOp::Log;
    static constexpr bool needs_x = true;
    template <typename T> FBSEG_HOST_DEVICE T forward(T x) const { return std::log(x); }
    template <typename T> FBSEG_HOST_DEVICE T backward(T g, T x, T) const { return g / x; }
};
struct Sqrt {
    static constexpr const char* name = "sqrt";
    static constexpr cuda::UnaryOp code = cuda::UnaryOp::Sqrt;
    static constexpr bool needs_x = false;
    template <typename T> FBSEG_HOST_DEVICE T forward(T x) const { return std::sqrt(x); }
    template <typename T> FBSEG_HOST_DEVICE T backward(T g, T, T y) const { return g / (T(2) * y); }  // (sqrt x)' = 1 / (2 sqrt x)
};
struct Abs {
    static constexpr const char* name = "abs";
    static constexpr cuda::UnaryOp code = cuda::UnaryOp::Abs;
    static constexpr bool needs_x = true;
    template <typename T> FBSEG_HOST_DEVICE T forward(T x) const { return std::abs(x); }
    template <typename T> FBSEG_HOST_DEVICE T backward(T g, T x, T) const { return x > T(0) ? g : (x < T(0) ? -g : T(0)); }
};
struct Relu {
    static constexpr const char* name = "relu";
    static constexpr cuda::UnaryOp code = cuda::UnaryOp::Relu;
    static constexpr bool needs_x = false;
    // Written as "not <= 0" so that NaN passes through (as in PyTorch): a NaN must stay visible.
    template <typename T> FBSEG_HOST_DEVICE T forward(T x) const { return x <= T(0) ? T(0) : x; }
    template <typename T> FBSEG_HOST_DEVICE T backward(T g, T, T y) const { return y <= T(0) ? T(0) : g; }
};
struct LeakyRelu {
    static constexpr const char* name = "leaky_relu";
    static constexpr cuda::UnaryOp code = cuda::UnaryOp::LeakyRelu;
    static constexpr bool needs_x = false;  // for slope >= 0, y > 0 exactly when x > 0
    double slope;
    template <typename T> FBSEG_HOST_DEVICE T forward(T x) const { return x > T(0) ? x : x * T(slope); }
    template <typename T> FBSEG_HOST_DEVICE T backward(T g, T, T y) const { return y > T(0) ? g : g * T(slope); }
};
struct Sigmoid {
    static constexpr const char* name = "sigmoid";
    static constexpr cuda::UnaryOp code = cuda::UnaryOp::Sigmoid;
    static constexpr bool needs_x = false;
    template <typename T> FBSEG_HOST_DEVICE T forward(T x) const {
        // Two branches keep exp() from overflowing: 1/(1+e^-x) for x >= 0, e^x/(1+e^x) otherwise.
        if (x >= T(0)) return T(1) / (T(1) + std::exp(-x));
        const T e = std::exp(x);
        return e / (T(1) + e);
    }
    template <typename T> FBSEG_HOST_DEVICE T backward(T g, T, T y) const { return g * y * (T(1) - y); }  // s' = s (1 - s)
};
struct Tanh {
    static constexpr const char* name = "tanh";
    static constexpr cuda::UnaryOp code = cuda::UnaryOp::Tanh;
    static constexpr bool needs_x = false;
    template <typename T> FBSEG_HOST_DEVICE T forward(T x) const { return std::tanh(x); }
    template <typename T> FBSEG_HOST_DEVICE T backward(T g, T, T y) const { return g * (T(1) - y * y); }  // tanh' = 1 - tanh^2
};
struct Silu {  // x * sigmoid(x), also called swish (EfficientNet's activation)
    static constexpr const char* name = "silu";
    static constexpr cuda::UnaryOp code = cuda::UnaryOp::Silu;
    static constexpr bool needs_x = true;
    template <typename T> FBSEG_HOST_DEVICE T forward(T x) const { return x * Sigmoid{}.forward(x); }
    // silu' = s + x s (1 - s) = s (1 + x (1 - s)),  s = sigmoid(x)
    template <typename T> FBSEG_HOST_DEVICE T backward(T g, T x, T) const {
        const T s = Sigmoid{}.forward(x);
        return g * s * (T(1) + x * (T(1) - s));
    }
};
struct PowScalar {
    static constexpr const char* name = "pow";
    static constexpr cuda::UnaryOp code = cuda::UnaryOp::Pow;
    static constexpr bool needs_x = true;
    double exponent;
    template <typename T> FBSEG_HOST_DEVICE T forward(T x) const {
        if (exponent == 2.0) return x * x;
        return T(std::pow(x, T(exponent)));
    }
    template <typename T> FBSEG_HOST_DEVICE T backward(T g, T x, T) const {  // (x^p)' = p x^(p-1)
        if (exponent == 0.0) return T(0);
        if (exponent == 2.0) return g * T(2) * x;
        return g * T(exponent) * T(std::pow(x, T(exponent - 1.0)));
    }
};
struct Clamp {
    static constexpr const char* name = "clamp";
    static constexpr cuda::UnaryOp code = cuda::UnaryOp::Clamp;
    static constexpr bool needs_x = true;
    double lo, hi;  // -inf / +inf when absent
    template <typename T> FBSEG_HOST_DEVICE T forward(T x) const { return detail::clamp_value(x, T(lo), T(hi)); }
    // The gradient passes where lo < x < hi: 0 at a bound itself, the minimum-norm subgradient
    // (as relu at 0, and PyTorch 2.15's clamp with scalar bounds; older PyTorch passed it there).
    // An absent (infinite) bound never stops the gradient.
    template <typename T> FBSEG_HOST_DEVICE T backward(T g, T x, T) const {
        const bool above = detail::is_infinite(lo) || x > T(lo), below = detail::is_infinite(hi) || x < T(hi);
        return above && below ? g : T(0);
    }
};

/// clamp written for the in-place form: its gradient passes where lo < x < hi, and that is
/// exactly where lo < y < hi (y = clamp(x) equals a bound everywhere else), so it needs only y.
struct ClampOut {
    static constexpr const char* name = "clamp_";
    static constexpr cuda::UnaryOp code = cuda::UnaryOp::ClampOut;
    static constexpr bool needs_x = false;
    double lo, hi;
    template <typename T> FBSEG_HOST_DEVICE T forward(T x) const { return Clamp{lo, hi}.forward(x); }
    template <typename T> FBSEG_HOST_DEVICE T backward(T g, T, T y) const { return Clamp{lo, hi}.backward(g, y, y); }
};
/// Rounds to the nearest integer, halves to even (as torch.round: round(0.5) = 0, round(1.5) = 2,
/// round(-2.5) = -2). std::nearbyint rounds in the current mode, which is to-nearest-even unless a
/// program changed it. The derivative is 0 almost everywhere, so the gradient is 0 (as PyTorch).
struct Round {
    static constexpr const char* name = "round";
    static constexpr cuda::UnaryOp code = cuda::UnaryOp::Round;
    static constexpr bool needs_x = false;
    template <typename T> FBSEG_HOST_DEVICE T forward(T x) const { return std::nearbyint(x); }
    template <typename T> FBSEG_HOST_DEVICE T backward(T, T, T) const { return T(0); }
};

/// softplus(x) = log(1 + e^x), evaluated as max(x, 0) + log1p(e^-|x|): e^-|x| <= 1 never
/// overflows, and log1p keeps full precision when e^-|x| is tiny. Derivative: sigmoid(x).
/// (The losses' building block: nn/loss.hpp.)
struct Softplus {
    static constexpr const char* name = "softplus";
    static constexpr cuda::UnaryOp code = cuda::UnaryOp::Softplus;
    static constexpr bool needs_x = true;
    template <typename T> FBSEG_HOST_DEVICE T forward(T x) const {
        return (x < T(0) ? T(0) : x) + std::log1p(std::exp(-std::abs(x)));  // max(x, 0) + ...
    }
    template <typename T> FBSEG_HOST_DEVICE T backward(T g, T x, T) const {
        if (x >= T(0)) return g / (T(1) + std::exp(-x));
        const T e = std::exp(x);
        return g * e / (T(1) + e);
    }
};

/// The parameters a function passes to its CUDA kernel as p0, p1 (cuda::unary): none for most.
template <typename Op> inline std::array<double, 2> parameters(const Op&) { return {0.0, 0.0}; }
inline std::array<double, 2> parameters(const LeakyRelu& op) { return {op.slope, 0.0}; }
inline std::array<double, 2> parameters(const PowScalar& op) { return {op.exponent, 0.0}; }
inline std::array<double, 2> parameters(const Clamp& op) { return {op.lo, op.hi}; }
inline std::array<double, 2> parameters(const ClampOut& op) { return {op.lo, op.hi}; }

}  // namespace fbseg::unary
