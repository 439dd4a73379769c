// kernels/map.cu - the elementwise maps: unary functions and their gradients, binary functions
// and comparisons, where, the gradient of maximum/minimum, and the converting copy.
//
// Every map is one thread per output element over operands of any layout (the engine:
// kernels/strided.cuh), with a small functor that does one element's work. The unary formulas
// are not written here: the functors call the very structs the CPU kernels call
// (ops/functors/unary.hpp, compiled for both sides), so relu or sigmoid cannot drift apart
// between the devices. The binary formulas are one-liners, each next to the CPU lambda it
// mirrors (ops/binary.hpp).
//
// CPU reference for every map (cpu::map1/map2/map3 in ops/cpu/elementwise.hpp):
//   for every multi-index i of the output shape: out[i] = f(a[i], b[i], ...)   (inputs broadcast)
//
// These maps are memory-bound: one load per input and one store per element. The engine's
// contiguous path lets a warp touch 32 neighbouring elements per instruction (coalesced); the
// strided path pays an integer division per dim (32-bit when offsets fit). A 128-bit vectorised
// form (as kernels/elementwise.cu's add has) is the next version when the benchmarks show maps
// to matter in a training step.
#include <cstdint>
#include <type_traits>

#include "fbseg/core/dtype.hpp"
#include "fbseg/ops/functors/unary.hpp"
#include "strided.cuh"

namespace fbseg::cuda {
namespace {

using detail::launch_map;
using detail::map_dims;
using detail::MapDims;

// ---- unary: out = op.forward(x); gx = op.backward(g, x or y) -------------------------------

template <typename T, typename Op>
struct UnaryForward {
    T* out;
    const T* x;
    Op op;
    template <typename I>
    __device__ void operator()(const I* off) const {
        out[off[0]] = op.template forward<T>(x[off[1]]);
    }
};

/// backward(g, x, y) with the saved tensor in the slot the op reads (x when needs_x, else y),
/// 0 in the other, exactly as unary::gradient does on the CPU.
template <typename T, typename Op>
struct UnaryBackward {
    T* gx;
    const T* g;
    const T* saved;
    Op op;
    template <typename I>
    __device__ void operator()(const I* off) const {
        if constexpr (Op::needs_x) {
            gx[off[0]] = op.template backward<T>(g[off[1]], saved[off[2]], T(0));
        } else {
            gx[off[0]] = op.template backward<T>(g[off[1]], T(0), saved[off[2]]);
        }
    }
};

/// Calls fn(op) with the functor struct for `code` (its parameters from p0, p1).
template <typename Fn>
void with_unary_op(UnaryOp code, double p0, double p1, Fn&& fn) {
    switch (code) {
        case UnaryOp::Neg: return fn(unary::Neg{});
        case UnaryOp::Exp: return fn(unary::Exp{});
        case UnaryOp::Log: return fn(unary::Log{});
        case UnaryOp::Sqrt: return fn(unary::Sqrt{});
        case UnaryOp::Abs: return fn(unary::Abs{});
        case UnaryOp::Relu: return fn(unary::Relu{});
        case UnaryOp::LeakyRelu: return fn(unary::LeakyRelu{p0});
        case UnaryOp::Sigmoid: return fn(unary::Sigmoid{});
        case UnaryOp::Tanh: return fn(unary::Tanh{});
        case UnaryOp::Silu: return fn(unary::Silu{});
        case UnaryOp::Pow: return fn(unary::PowScalar{p0});
        case UnaryOp::Clamp: return fn(unary::Clamp{p0, p1});
        case UnaryOp::ClampOut: return fn(unary::ClampOut{p0, p1});
        case UnaryOp::Round: return fn(unary::Round{});
        case UnaryOp::Softplus: return fn(unary::Softplus{});
    }
    FBSEG_FAIL("unary: unknown function code ", int(code));
}

// ---- binary: the lambdas of ops/binary.hpp ------------------------------------------------------
struct MulFn { template <typename T> __device__ T operator()(T x, T y) const { return x * y; } };
struct DivFn { template <typename T> __device__ T operator()(T x, T y) const { return x / y; } };
// maximum and minimum propagate NaN (x != x only for NaN), as on the CPU and in PyTorch.
struct MaximumFn { template <typename T> __device__ T operator()(T x, T y) const { return (x != x || x > y) ? x : y; } };
struct MinimumFn { template <typename T> __device__ T operator()(T x, T y) const { return (x != x || x < y) ? x : y; } };
struct GtFn { template <typename T> __device__ bool operator()(T x, T y) const { return x > y; } };
struct LtFn { template <typename T> __device__ bool operator()(T x, T y) const { return x < y; } };
struct GeFn { template <typename T> __device__ bool operator()(T x, T y) const { return x >= y; } };
struct LeFn { template <typename T> __device__ bool operator()(T x, T y) const { return x <= y; } };
struct EqFn { template <typename T> __device__ bool operator()(T x, T y) const { return x == y; } };
struct NeFn { template <typename T> __device__ bool operator()(T x, T y) const { return x != y; } };

template <typename Out, typename T, typename Fn>
struct BinaryMap {
    Out* out;
    const T* a;
    const T* b;
    Fn fn;
    template <typename I>
    __device__ void operator()(const I* off) const {
        out[off[0]] = fn(a[off[1]], b[off[2]]);
    }
};

template <typename Fn>
void with_binary_op(BinaryOp code, Fn&& fn) {
    switch (code) {
        case BinaryOp::Mul: return fn(MulFn{});
        case BinaryOp::Div: return fn(DivFn{});
        case BinaryOp::Maximum: return fn(MaximumFn{});
        case BinaryOp::Minimum: return fn(MinimumFn{});
        case BinaryOp::Gt: return fn(GtFn{});
        case BinaryOp::Lt: return fn(LtFn{});
        case BinaryOp::Ge: return fn(GeFn{});
        case BinaryOp::Le: return fn(LeFn{});
        case BinaryOp::Eq: return fn(EqFn{});
        case BinaryOp::Ne: return fn(NeFn{});
    }
    FBSEG_FAIL("binary: unknown function code ", int(code));
}

constexpr bool is_comparison(BinaryOp op) { return op >= BinaryOp::Gt; }

// ---- select_grad (maximum's / minimum's gradient), where --------------------------------------

// out = (a == b) ? g / 2 : ((a > b) == a_is_max ? g : 0)        (binary::select_grad)
template <typename T>
struct SelectGrad {
    T* out;
    const T* g;
    const T* a;
    const T* b;
    bool a_is_max;
    template <typename I>
    __device__ void operator()(const I* off) const {
        const T gv = g[off[1]], x = a[off[2]], y = b[off[3]];
        out[off[0]] = x == y ? gv / T(2) : (((x > y) == a_is_max) ? gv : T(0));
    }
};

// out = c ? a : b
template <typename T>
struct WhereMap {
    T* out;
    const bool* condition;
    const T* a;
    const T* b;
    template <typename I>
    __device__ void operator()(const I* off) const {
        out[off[0]] = condition[off[1]] ? a[off[2]] : b[off[3]];
    }
};

// ---- the converting copy: cpu::convert's rules --------------------------------------------------

template <typename T> struct IntLimits;
template <> struct IntLimits<std::int64_t> {
    static constexpr std::int64_t lo = INT64_MIN, hi = INT64_MAX;
};
template <> struct IntLimits<std::uint8_t> {
    static constexpr std::uint8_t lo = 0, hi = 255;
};

/// bool(x) is x != 0; a float to an integer: NaN -> 0, saturating at the type's limits, else
/// truncation toward zero; everything else a C++ cast (cpu::convert).
template <typename To, typename From>
__device__ To convert(From v) {
    if constexpr (std::is_same_v<To, bool>) {
        return v != From(0);
    } else if constexpr (std::is_floating_point_v<From> && std::is_integral_v<To>) {
        if (v != v) return To(0);
        constexpr From lo = From(IntLimits<To>::lo);
        constexpr From hi = From(IntLimits<To>::hi) + From(1);
        if (v <= lo) return IntLimits<To>::lo;
        if (v >= hi) return IntLimits<To>::hi;
        return static_cast<To>(v);
    } else {
        return static_cast<To>(v);
    }
}

template <typename To, typename From>
struct ConvertMap {
    To* out;
    const From* src;
    template <typename I>
    __device__ void operator()(const I* off) const {
        out[off[0]] = convert<To>(src[off[1]]);
    }
};

void check_pointers(const char* op, const MapDims<2>& dims, const void* out, const void* in) {
    FBSEG_CHECK(dims.numel() == 0 || (out != nullptr && in != nullptr), op, ": null data pointer");
}

}  // namespace

void unary(UnaryOp op, DType dtype, int ndim, const std::int64_t* sizes, void* out, const std::int64_t* out_strides,
           const StridedOperand& x, double p0, double p1, int device) {
    const StridedOperand* inputs[] = {&x};
    const MapDims<2> dims = map_dims<2>("unary", ndim, sizes, out_strides, inputs);
    if (dims.numel() == 0) return;
    check_pointers("unary", dims, out, x.data);
    detail::DeviceGuard guard(device, "unary");
    dispatch_floating(dtype, "unary", [&]<typename T>() {
        with_unary_op(op, p0, p1, [&](auto f) {
            launch_map(dims, UnaryForward<T, decltype(f)>{static_cast<T*>(out), static_cast<const T*>(x.data), f},
                       device);
        });
    });
}

void unary_backward(UnaryOp op, DType dtype, int ndim, const std::int64_t* sizes, void* gx,
                    const std::int64_t* gx_strides, const StridedOperand& g, const StridedOperand& saved, double p0,
                    double p1, int device) {
    const StridedOperand* inputs[] = {&g, &saved};
    const MapDims<3> dims = map_dims<3>("unary_backward", ndim, sizes, gx_strides, inputs);
    if (dims.numel() == 0) return;
    FBSEG_CHECK(gx != nullptr && g.data != nullptr && saved.data != nullptr, "unary_backward: null data pointer");
    detail::DeviceGuard guard(device, "unary_backward");
    dispatch_floating(dtype, "unary_backward", [&]<typename T>() {
        with_unary_op(op, p0, p1, [&](auto f) {
            launch_map(dims,
                       UnaryBackward<T, decltype(f)>{static_cast<T*>(gx), static_cast<const T*>(g.data),
                                                     static_cast<const T*>(saved.data), f},
                       device);
        });
    });
}

void binary(BinaryOp op, DType dtype, int ndim, const std::int64_t* sizes, void* out, const std::int64_t* out_strides,
            const StridedOperand& a, const StridedOperand& b, int device) {
    const StridedOperand* inputs[] = {&a, &b};
    const MapDims<3> dims = map_dims<3>("binary", ndim, sizes, out_strides, inputs);
    if (dims.numel() == 0) return;
    FBSEG_CHECK(out != nullptr && a.data != nullptr && b.data != nullptr, "binary: null data pointer");
    FBSEG_CHECK(op != BinaryOp::Div || dtype != DType::Int64, "binary: div needs floating operands");
    detail::DeviceGuard guard(device, "binary");
    dispatch_numeric(dtype, "binary", [&]<typename T>() {
        with_binary_op(op, [&](auto fn) {
            const T* pa = static_cast<const T*>(a.data);
            const T* pb = static_cast<const T*>(b.data);
            if (is_comparison(op)) {
                launch_map(dims, BinaryMap<bool, T, decltype(fn)>{static_cast<bool*>(out), pa, pb, fn}, device);
            } else if constexpr (!std::is_same_v<decltype(fn(T(), T())), bool>) {
                launch_map(dims, BinaryMap<T, T, decltype(fn)>{static_cast<T*>(out), pa, pb, fn}, device);
            }
        });
    });
}

void select_grad(DType dtype, int ndim, const std::int64_t* sizes, void* out, const std::int64_t* out_strides,
                 const StridedOperand& g, const StridedOperand& a, const StridedOperand& b, bool a_is_max,
                 int device) {
    const StridedOperand* inputs[] = {&g, &a, &b};
    const MapDims<4> dims = map_dims<4>("select_grad", ndim, sizes, out_strides, inputs);
    if (dims.numel() == 0) return;
    detail::DeviceGuard guard(device, "select_grad");
    dispatch_floating(dtype, "select_grad", [&]<typename T>() {
        launch_map(dims,
                   SelectGrad<T>{static_cast<T*>(out), static_cast<const T*>(g.data), static_cast<const T*>(a.data),
                                 static_cast<const T*>(b.data), a_is_max},
                   device);
    });
}

void where(DType dtype, int ndim, const std::int64_t* sizes, void* out, const std::int64_t* out_strides,
           const StridedOperand& condition, const StridedOperand& a, const StridedOperand& b, int device) {
    const StridedOperand* inputs[] = {&condition, &a, &b};
    const MapDims<4> dims = map_dims<4>("where", ndim, sizes, out_strides, inputs);
    if (dims.numel() == 0) return;
    detail::DeviceGuard guard(device, "where");
    dispatch_all(dtype, "where", [&]<typename T>() {
        launch_map(dims,
                   WhereMap<T>{static_cast<T*>(out), static_cast<const bool*>(condition.data),
                               static_cast<const T*>(a.data), static_cast<const T*>(b.data)},
                   device);
    });
}

void copy_strided(DType out_dtype, int ndim, const std::int64_t* sizes, void* out, const std::int64_t* out_strides,
                  DType src_dtype, const StridedOperand& src, int device) {
    const StridedOperand* inputs[] = {&src};
    const MapDims<2> dims = map_dims<2>("copy_strided", ndim, sizes, out_strides, inputs);
    if (dims.numel() == 0) return;
    check_pointers("copy_strided", dims, out, src.data);
    detail::DeviceGuard guard(device, "copy_strided");
    dispatch_all(out_dtype, "copy_strided", [&]<typename To>() {
        dispatch_all(src_dtype, "copy_strided", [&]<typename From>() {
            launch_map(dims, ConvertMap<To, From>{static_cast<To*>(out), static_cast<const From*>(src.data)}, device);
        });
    });
}

}  // namespace fbseg::cuda
