// fbseg/ops/cpu/elementwise.hpp - strided elementwise kernels on the CPU, one template each for
// one, two and three inputs. Inputs are broadcast to the output's shape (stride 0).
#pragma once

#include "fbseg/core/tensor.hpp"
#include "fbseg/ops/cpu/loops.hpp"

namespace fbseg::cpu {

/// out[i] = value for every element of a (possibly strided) tensor. Reads nothing, so it is safe
/// on fresh, uninitialised memory.
template <typename T>
void fill(const Tensor& out, T value) {
    const auto plan = make_plan<1>(out.shape(), {out.strides()});
    T* po = static_cast<T*>(out.raw_data());
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
    Out* po = static_cast<Out*>(out.raw_data());
    const In* pi = static_cast<const In*>(in.raw_data());
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
    Out* po = static_cast<Out*>(out.raw_data());
    const A* pa = static_cast<const A*>(a.raw_data());
    const B* pb = static_cast<const B*>(b.raw_data());
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
    Out* po = static_cast<Out*>(out.raw_data());
    const A* pa = static_cast<const A*>(a.raw_data());
    const B* pb = static_cast<const B*>(b.raw_data());
    const C* pc = static_cast<const C*>(c.raw_data());
    for_each_row(plan, [&](std::int64_t n, const auto& off, const auto& st) {
        for (std::int64_t i = 0; i < n; ++i)
            po[off[0] + i * st[0]] = f(pa[off[1] + i * st[1]], pb[off[2] + i * st[2]], pc[off[3] + i * st[3]]);
    });
}

}  // namespace fbseg::cpu
