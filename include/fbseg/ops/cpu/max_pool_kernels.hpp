// fbseg/ops/cpu/max_pool_kernels.hpp - max pooling of float32 planes with one vector register
// of outputs per step, compiled once per instruction set (ops/cpu/kernel_table.hpp).
//
// The plain loop (cpu::max_pool2d_forward in pool.hpp, kept as the reference and for float64)
// tests every tap for the plane's edges and compares one value at a time: a mispredicted branch
// per tap, ~5% of resnet34-unet's inference for its single 3x3/2 pool. Here each output row is
// computed kLanes columns at a time, with the same result bit for bit:
//
// 1. Each row of the plane is copied once into sw phase rows padded with -inf (the idea of
//    phase_planes.hpp, for columns only): with xpad the row padded by pw columns of -inf,
//        rows[ih][c][j] = xpad[ih, j sw + c]       (-inf where that is padding or past the edge)
//    so that tap (ki, kj) of outputs ow .. ow + kLanes - 1, input row ih = oh sh - ph + ki dh,
//    reads one unit-stride vector:  rows[ih][(kj dw) % sw][ow + (kj dw) / sw + j], j < kLanes.
// 2. The window is walked in the reference's order (ki, then kj) with
//        take = (v > best) | isnan(v);  best = take ? v : best;  index = take ? candidate : index
//    A padding tap reads -inf, which is never greater than `best` (which starts at -inf) nor NaN,
//    so it never wins: the same as the reference skipping it. The reference's index starts at the
//    window's first tap inside the plane (PyTorch's rule, which matters when every value is
//    -inf); here that start is computed per output column from the first valid row and column.
//    Rows outside the plane are skipped, as in the reference.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>

#include "fbseg/core/parallel.hpp"
#include "fbseg/ops/cpu/conv_common.hpp"
#include "fbseg/ops/cpu/loops.hpp"
#include "fbseg/ops/cpu/pool.hpp"
#include "fbseg/ops/cpu/simd.hpp"
#include "fbseg/ops/geometry/pool.hpp"

namespace fbseg::cpu {

/// max_pool2d_forward with vector registers; layouts, results and indices as the reference's.
/// Planes whose positions (spare lanes included) do not fit int32 go to the reference.
inline void max_pool2d_forward_f32(const float* x, float* y, std::int64_t* indices, const MaxPool2dGeometry& g) {
    constexpr std::int64_t L = simd::kLanes<float>;
    using Vec = simd::Vec<float>;
    using Index = simd::VecOf<std::int32_t, L>;
    using Wide = simd::VecOf<std::int64_t, L>;
    const std::int64_t h = g.h, w = g.w, ho = g.ho, wo = g.wo;
    const std::int64_t wo_vec = (wo + L - 1) / L * L;  // output columns rounded up to whole vectors
    // the largest position a lane computes: ih w + ow sw - pw + kj dw < h (w + wo_vec sw + kw dw)
    if (h * (w + wo_vec * g.sw + g.kw * g.dw) >= (std::int64_t(1) << 31)) return max_pool2d_forward(x, y, indices, g);

    // The plane's rows (rows outside it are skipped, never read), each as sw phase rows of
    // wo_vec + the taps' reach columns, so that whole vectors fit; columns of xpad past the
    // padding (ceil_mode windows reach there) and the vectors' spare lanes read -inf.
    const std::int64_t reach = ((g.kw - 1) * g.dw) / g.sw;
    const std::int64_t row_len = wo_vec + reach;  // one phase row
    const std::int64_t row_stride = g.sw * row_len;

    // first_col[ow]: the window's first column inside the plane, or -1 if it has none (a constant
    // of the geometry, shared by every row and plane)
    std::vector<std::int32_t> first_col(std::size_t(wo_vec), -1);
    for (std::int64_t ow = 0; ow < wo; ++ow)
        for (std::int64_t kj = 0; kj < g.kw; ++kj) {
            const std::int64_t iw = ow * g.sw - g.pw + kj * g.dw;
            if (iw >= 0 && iw < w) {
                first_col[std::size_t(ow)] = std::int32_t(iw);
                break;
            }
        }

    Index lane_sw;  // lane i's input column offset i sw, before the row, ow sw, pw and kj dw
    for (std::int64_t i = 0; i < L; ++i) lane_sw[i] = std::int32_t(i * g.sw);

    parallel_for(0, g.planes, items_per_task(ho * wo * g.kh * g.kw), [&](std::int64_t t0, std::int64_t t1) {
        float* rows = conv::scratch<float>(h * row_stride);
        float out[L];
        std::int64_t out_index[L];
        for (std::int64_t t = t0; t < t1; ++t) {
            const float* xp = x + t * h * w;
            // 1. phase rows: rows[ih][c][j] = xpad[ih, j sw + c], -inf outside the plane
            for (std::int64_t ih = 0; ih < h; ++ih) {
                for (std::int64_t c = 0; c < g.sw; ++c) {
                    float* row = rows + ih * row_stride + c * row_len;
                    std::int64_t lo, hi;  // j whose input column j sw + c - pw lies in [0, w)
                    conv::valid_span(c - g.pw, g.sw, w, row_len, lo, hi);
                    std::fill(row, row + lo, -std::numeric_limits<float>::infinity());
                    for (std::int64_t j = lo; j < hi; ++j) row[j] = xp[ih * w + j * g.sw + c - g.pw];
                    std::fill(row + hi, row + row_len, -std::numeric_limits<float>::infinity());
                }
            }
            // 2. each output row, kLanes columns at a time
            for (std::int64_t oh = 0; oh < ho; ++oh) {
                std::int64_t first_row = -1;  // the window's first row inside the plane
                for (std::int64_t ki = 0; ki < g.kh && first_row < 0; ++ki) {
                    const std::int64_t ih = oh * g.sh - g.ph + ki * g.dh;
                    if (ih >= 0 && ih < h) first_row = ih;
                }
                float* yrow = y + (t * ho + oh) * wo;
                std::int64_t* irow = indices + (t * ho + oh) * wo;
                for (std::int64_t ow = 0; ow < wo; ow += L) {
                    Index index = Index{} - 1;  // -1: the window has no tap inside the plane
                    if (first_row >= 0) {
                        const Index first = simd::load<Index>(first_col.data() + ow);
                        index = first < 0 ? index : first + std::int32_t(first_row * w);
                    }
                    Vec best = Vec{} - std::numeric_limits<float>::infinity();
                    for (std::int64_t ki = 0; ki < g.kh; ++ki) {
                        const std::int64_t ih = oh * g.sh - g.ph + ki * g.dh;
                        if (ih < 0 || ih >= h) continue;
                        const float* row = rows + ih * row_stride;
                        for (std::int64_t kj = 0; kj < g.kw; ++kj) {
                            const std::int64_t shift = kj * g.dw;
                            const Vec v = simd::load<Vec>(row + (shift % g.sw) * row_len + ow + shift / g.sw);
                            // the input position of each lane: ih w + (ow + i) sw - pw + kj dw
                            const Index candidate = lane_sw + std::int32_t(ih * w + ow * g.sw - g.pw + shift);
                            const auto take = (v > best) | (v != v);
                            best = take ? v : best;
                            index = take ? candidate : index;
                        }
                    }
                    const Wide wide = __builtin_convertvector(index, Wide);
                    if (ow + L <= wo) {
                        simd::store(yrow + ow, best);
                        simd::store(irow + ow, wide);
                        continue;
                    }
                    simd::store(out, best);
                    simd::store(out_index, wide);
                    std::copy(out, out + (wo - ow), yrow + ow);
                    std::copy(out_index, out_index + (wo - ow), irow + ow);
                }
            }
        }
    });
}

}  // namespace fbseg::cpu
