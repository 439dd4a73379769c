// fbseg/ops/cpu/index.hpp - CPU kernels of the indexing and reordering ops (ops/index.hpp):
// gather and its scatter-add, masked_fill, flip, repeat, cumsum, topk.
//
// Raw pointers and sizes only (no Tensor): the public op checks its operands, allocates the
// output and calls the kernel in one place, so that a CUDA twin with the same signature can be
// chosen there. "Contiguous" means row-major with no gaps; "strided" takes a stride per dim, in
// elements.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <vector>

#include "fbseg/core/parallel.hpp"
#include "fbseg/core/shape.hpp"
#include "fbseg/ops/cpu/loops.hpp"

namespace fbseg::cpu {

/// gather along `dim`:  out[i_0..i_{n-1}] = x[i_0, .., index[i_0..i_{n-1}], .., i_{n-1}]
///   shape  [ndim]  the shape of index and out (index may be smaller than x off `dim`)
///   x      strided (x_strides); index, out contiguous of `shape`
/// Every index value lies in [0, size of x along dim): the caller checked.
template <typename T>
void gather(const T* x, const std::int64_t* x_strides, const std::int64_t* index, const std::int64_t* shape,
            std::int64_t ndim, std::int64_t dim, T* out) {
    std::int64_t n = 1;
    for (std::int64_t d = 0; d < ndim; ++d) n *= shape[d];
    parallel_for(0, n, kGrainSize, [&](std::int64_t b, std::int64_t e) {
        for (std::int64_t i = b; i < e; ++i) {
            std::int64_t rest = i, off = 0;
            for (std::int64_t d = ndim - 1; d >= 0; --d) {
                const std::int64_t c = rest % shape[d];
                rest /= shape[d];
                off += (d == dim ? index[i] : c) * x_strides[d];
            }
            out[i] = x[off];
        }
    });
}

/// The adjoint of gather (gather's and topk's backward):
///   gx[i_0, .., index[i], .., i_{n-1}] += g[i]   for every position i of `shape`
///   g, index  contiguous of `shape` [ndim];  gx  contiguous of `gx_shape` [ndim], initialised.
/// Positions that differ only along `dim` can hit the same element, so the work is split over the
/// other coordinates and each task walks `dim` in order: the sums are deterministic.
template <typename T>
void scatter_add(const T* g, const std::int64_t* index, const std::int64_t* shape, std::int64_t ndim, std::int64_t dim,
                 T* gx, const std::int64_t* gx_shape) {
    if (ndim == 0) {
        gx[0] += g[0];
        return;
    }
    std::vector<std::int64_t> gx_strides(std::size_t(ndim), 1);
    for (std::int64_t d = ndim - 1; d > 0; --d)
        gx_strides[std::size_t(d - 1)] = gx_strides[std::size_t(d)] * gx_shape[d];
    std::int64_t outer = 1, inner = 1;
    for (std::int64_t d = 0; d < dim; ++d) outer *= shape[d];
    for (std::int64_t d = dim + 1; d < ndim; ++d) inner *= shape[d];
    const std::int64_t n = shape[dim];
    const std::int64_t grain = items_per_task(n);
    parallel_for(0, outer * inner, grain, [&](std::int64_t b, std::int64_t e) {
        for (std::int64_t t = b; t < e; ++t) {
            const std::int64_t o = t / inner, k = t % inner;
            std::int64_t base = 0, rest = k;  // offset in gx of the coordinates other than dim
            for (std::int64_t d = ndim - 1; d > dim; --d) {
                base += (rest % shape[d]) * gx_strides[std::size_t(d)];
                rest /= shape[d];
            }
            rest = o;
            for (std::int64_t d = dim - 1; d >= 0; --d) {
                base += (rest % shape[d]) * gx_strides[std::size_t(d)];
                rest /= shape[d];
            }
            for (std::int64_t j = 0; j < n; ++j) {
                const std::int64_t i = (o * n + j) * inner + k;
                gx[base + index[i] * gx_strides[std::size_t(dim)]] += g[i];
            }
        }
    });
}

/// out = mask ? value : x, elementwise over `shape`; every operand strided (a broadcast mask has
/// stride 0 along its broadcast dims). out may be x itself (masked_fill_).
template <typename T>
void masked_fill(const Shape& shape, T* out, const Shape& out_strides, const T* x, const Shape& x_strides,
                 const bool* mask, const Shape& mask_strides, T value) {
    const auto plan = make_plan<3>(shape, {out_strides, x_strides, mask_strides});
    for_each_row(plan, [&](std::int64_t n, const auto& off, const auto& st) {
        T* o = out + off[0];
        const T* a = x + off[1];
        const bool* m = mask + off[2];
        for (std::int64_t i = 0; i < n; ++i) o[i * st[0]] = m[i * st[2]] ? value : a[i * st[1]];
    });
}

/// out[plan's element k] = x[plan's element k]: the copy that flip and repeat reduce to once
/// they have expressed themselves as strides (operand 0 is out, operand 1 is x).
template <typename T>
void copy_along_plan(const IterPlan<2>& plan, const T* x, T* out) {
    for_each_row(plan, [&](std::int64_t n, const auto& off, const auto& st) {
        T* o = out + off[0];
        const T* a = x + off[1];
        for (std::int64_t i = 0; i < n; ++i) o[i * st[0]] = a[i * st[1]];
    });
}

/// flip: out[i_0..] = x[.., size_d - 1 - i_d, ..] for the dims d with flipped[d].
///   x strided [ndim] (shape, x_strides); out contiguous.
/// Walks x with the flipped dims' strides negated, starting from their last element.
template <typename T>
void flip(const T* x, const std::int64_t* shape, const std::int64_t* x_strides, std::int64_t ndim, const bool* flipped,
          T* out) {
    Shape sizes(shape, shape + ndim), in_strides(x_strides, x_strides + ndim);
    const Shape out_strides = contiguous_strides(sizes);
    if (numel_of(sizes) == 0) return;
    for (std::int64_t d = 0; d < ndim; ++d) {
        if (!flipped[d]) continue;
        x += (sizes[std::size_t(d)] - 1) * in_strides[std::size_t(d)];
        in_strides[std::size_t(d)] = -in_strides[std::size_t(d)];
    }
    copy_along_plan(make_plan<2>(sizes, {out_strides, in_strides}), x, out);
}

/// repeat (torch.Tensor.repeat): x strided [ndim] (shape, x_strides, already padded with leading
/// 1s to the length of repeats); out contiguous [repeats[d] * shape[d]].
///   out[(a_d * shape_d + b_d)_d] = x[(b_d)_d]
/// Seen as a 2*ndim-dim copy over [r_0, s_0, r_1, s_1, ...]: x has stride 0 along every r_d.
template <typename T>
void repeat(const T* x, const std::int64_t* shape, const std::int64_t* x_strides, std::int64_t ndim,
            const std::int64_t* repeats, T* out) {
    Shape out_shape(static_cast<std::size_t>(ndim));
    for (std::int64_t d = 0; d < ndim; ++d) out_shape[std::size_t(d)] = repeats[d] * shape[d];
    if (numel_of(out_shape) == 0) return;
    const Shape out_contig = contiguous_strides(out_shape);
    Shape sizes, so, si;
    for (std::int64_t d = 0; d < ndim; ++d) {
        sizes.insert(sizes.end(), {repeats[d], shape[d]});
        so.insert(so.end(), {shape[d] * out_contig[std::size_t(d)], out_contig[std::size_t(d)]});
        si.insert(si.end(), {0, x_strides[d]});
    }
    copy_along_plan(make_plan<2>(sizes, {so, si}), x, out);
}

/// Inclusive prefix sum along the middle dim of contiguous x, out viewed as [outer, n, inner]:
///   out[o, j, i] = sum_{j' <= j} x[o, j', i]        (reverse: sum_{j' >= j}, cumsum's adjoint)
/// The running sum is kept in acc_t<T> (double for floating types), as PyTorch's CPU kernel.
template <typename T>
void cumsum(const T* x, T* out, std::int64_t outer, std::int64_t n, std::int64_t inner, bool reverse) {
    const std::int64_t grain = items_per_task(n);
    parallel_for(0, outer * inner, grain, [&](std::int64_t b, std::int64_t e) {
        for (std::int64_t t = b; t < e; ++t) {
            const std::int64_t o = t / inner, i = t % inner;
            const T* px = x + o * n * inner + i;
            T* po = out + o * n * inner + i;
            acc_t<T> acc = 0;
            for (std::int64_t s = 0; s < n; ++s) {
                const std::int64_t j = reverse ? n - 1 - s : s;
                acc += acc_t<T>(px[j * inner]);
                po[j * inner] = T(acc);
            }
        }
    });
}

/// The k largest (or smallest) elements along the middle dim of contiguous x [outer, n, inner]:
/// values and their positions, both contiguous [outer, k, inner]. sorted: in order, best first;
/// otherwise in order of position. Ties go to the lower position; NaN counts as the largest
/// value (as PyTorch).
template <typename T>
void topk(const T* x, std::int64_t outer, std::int64_t n, std::int64_t inner, std::int64_t k, bool largest, bool sorted,
          T* values, std::int64_t* indices) {
    const std::int64_t grain = items_per_task(n);
    parallel_for(0, outer * inner, grain, [&](std::int64_t b, std::int64_t e) {
        std::vector<std::int64_t> order(static_cast<std::size_t>(n));
        for (std::int64_t t = b; t < e; ++t) {
            const std::int64_t o = t / inner, i = t % inner;
            const T* px = x + o * n * inner + i;
            auto before = [&](std::int64_t p, std::int64_t q) {  // does position p rank before q?
                const T a = px[p * inner], c = px[q * inner];
                const bool nan_a = a != a, nan_c = c != c;
                if (nan_a || nan_c) {
                    if (nan_a && nan_c) return p < q;
                    return largest ? nan_a : nan_c;  // NaN is the largest
                }
                if (a != c) return largest ? a > c : a < c;
                return p < q;
            };
            std::iota(order.begin(), order.end(), std::int64_t(0));
            std::partial_sort(order.begin(), order.begin() + k, order.end(), before);
            if (!sorted) std::sort(order.begin(), order.begin() + k);
            for (std::int64_t j = 0; j < k; ++j) {
                const std::int64_t dst = (o * k + j) * inner + i;
                indices[dst] = order[std::size_t(j)];
                values[dst] = px[order[std::size_t(j)] * inner];
            }
        }
    });
}

}  // namespace fbseg::cpu
