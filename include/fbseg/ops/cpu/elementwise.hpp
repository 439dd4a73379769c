// fbseg/ops/cpu/elementwise.hpp - strided elementwise kernels on the CPU, one template each for
// one, two and three inputs. Inputs are broadcast to the output's shape (stride 0).
//
// These are the CPU side of the elementwise family: they take tensors (for their shapes and
// strides, walked by the IterPlan of loops.hpp) and are called only by the dispatchers in
// ops/kernel/elementwise.hpp (or by ops that have no CUDA twin yet, after the dispatch point
// detail::require_cpu_kernel). data_ptr() checks that every operand is on the CPU.
#pragma once

#include <limits>
#include <type_traits>

#include "fbseg/core/tensor.hpp"
#include "fbseg/ops/cpu/loops.hpp"

namespace fbseg::cpu {

/// out[i] = value for every element of a (possibly strided) tensor. Reads nothing, so it is safe
/// on fresh, uninitialised memory.
template <typename T>
void fill(const Tensor& out, T value) {
    const auto plan = make_plan<1>(out.shape(), {out.strides()});
    T* po = out.data_ptr<T>();
    for_each_row(plan, [&](std::int64_t n, const auto& off, const auto& st) {
        T* o = po + off[0];
        if (st[0] == 1) {
            for (std::int64_t i = 0; i < n; ++i) o[i] = value;
        } else {
            for (std::int64_t i = 0; i < n; ++i) o[i * st[0]] = value;
        }
    });
}

/// out[i] = f(in[i]) with `in` broadcast to out's shape; In and Out may differ (dtype casts).
template <typename Out, typename In, typename F>
void map1(const Tensor& out, const Tensor& in, F f) {
    const auto plan = make_plan<2>(out.shape(), {out.strides(), broadcast_strides(in.shape(), in.strides(), out.shape())});
    Out* po = out.data_ptr<Out>();
    const In* pi = in.data_ptr<In>();
    for_each_row(plan, [&](std::int64_t n, const auto& off, const auto& st) {
        Out* o = po + off[0];
        const In* a = pi + off[1];
        if (st[0] == 1 && st[1] == 1) {
            for (std::int64_t i = 0; i < n; ++i) o[i] = f(a[i]);
        } else {
            for (std::int64_t i = 0; i < n; ++i) o[i * st[0]] = f(a[i * st[1]]);
        }
    });
}

/// out[i] = f(a[i], b[i]) with a and b broadcast to out's shape.
template <typename Out, typename A, typename B, typename F>
void map2(const Tensor& out, const Tensor& a, const Tensor& b, F f) {
    const auto plan = make_plan<3>(out.shape(), {out.strides(), broadcast_strides(a.shape(), a.strides(), out.shape()),
                                                 broadcast_strides(b.shape(), b.strides(), out.shape())});
    Out* po = out.data_ptr<Out>();
    const A* pa = a.data_ptr<A>();
    const B* pb = b.data_ptr<B>();
    for_each_row(plan, [&](std::int64_t n, const auto& off, const auto& st) {
        Out* o = po + off[0];
        const A* x = pa + off[1];
        const B* y = pb + off[2];
        if (st[0] == 1 && st[1] == 1 && st[2] == 1) {
            for (std::int64_t i = 0; i < n; ++i) o[i] = f(x[i], y[i]);
        } else if (st[0] == 1 && st[1] == 1 && st[2] == 0) {  // tensor op scalar-like row
            const B yv = y[0];
            for (std::int64_t i = 0; i < n; ++i) o[i] = f(x[i], yv);
        } else {
            for (std::int64_t i = 0; i < n; ++i) o[i * st[0]] = f(x[i * st[1]], y[i * st[2]]);
        }
    });
}

/// out[i] = f(a[i], b[i], c[i]) with broadcasting (where(), clamp backward...).
template <typename Out, typename A, typename B, typename C, typename F>
void map3(const Tensor& out, const Tensor& a, const Tensor& b, const Tensor& c, F f) {
    const auto plan = make_plan<4>(out.shape(), {out.strides(), broadcast_strides(a.shape(), a.strides(), out.shape()),
                                                 broadcast_strides(b.shape(), b.strides(), out.shape()),
                                                 broadcast_strides(c.shape(), c.strides(), out.shape())});
    Out* po = out.data_ptr<Out>();
    const A* pa = a.data_ptr<A>();
    const B* pb = b.data_ptr<B>();
    const C* pc = c.data_ptr<C>();
    for_each_row(plan, [&](std::int64_t n, const auto& off, const auto& st) {
        for (std::int64_t i = 0; i < n; ++i)
            po[off[0] + i * st[0]] = f(pa[off[1] + i * st[1]], pb[off[2] + i * st[2]], pc[off[3] + i * st[3]]);
    });
}

/// Converts between element types the way a C++ cast does, except where a cast is undefined:
/// bool(x) is x != 0, and a floating value going to an integer type follows Rust's `as` rules:
/// NaN becomes 0 and values beyond the type's range saturate at its limits (a plain cast of NaN,
/// inf or 1e30 to int64 is undefined behaviour in C++). In range, it truncates toward zero.
template <typename To, typename From>
inline To convert(From v) {
    if constexpr (std::is_same_v<To, bool>) {
        return v != From(0);
    } else if constexpr (std::is_floating_point_v<From> && std::is_integral_v<To>) {
        if (v != v) return To(0);
        // The limits as From: 2^63 is exact in float and double, so `v >= hi` catches every
        // value whose truncation would not fit (INT64_MAX itself is not representable).
        constexpr From lo = From(std::numeric_limits<To>::min());
        constexpr From hi = From(std::numeric_limits<To>::max()) + From(1);
        if (v <= lo) return std::numeric_limits<To>::min();
        if (v >= hi) return std::numeric_limits<To>::max();
        return static_cast<To>(v);
    } else {
        return static_cast<To>(v);
    }
}

/// dst[i] = To(src[i]) with src broadcast to dst's shape (any two dtypes).
///   dst, src: strided CPU tensors; src's shape broadcasts to dst's
inline void copy(const Tensor& dst, const Tensor& src) {
    dispatch_all(dst.dtype(), "copy_", [&]<typename To>() {
        dispatch_all(src.dtype(), "copy_", [&]<typename From>() {
            map1<To, From>(dst, src, [](From v) { return convert<To>(v); });
        });
    });
}

}  // namespace fbseg::cpu
