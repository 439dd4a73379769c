// fbseg/ops/cpu/pool.hpp - CPU kernels of 2-D pooling (max and adaptive average), forward and
// backward. Each plane (image, channel) is independent, so the planes run in parallel and every
// backward writes only into its own plane (no races, results independent of the thread count).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "fbseg/core/parallel.hpp"
#include "fbseg/ops/cpu/loops.hpp"
#include "fbseg/ops/geometry/pool.hpp"

namespace fbseg::cpu {

// max_pool2d_forward: y[t, oh, ow] = max over the window of x[t], indices[t, oh, ow] = its
// position ih * w + iw in the plane (the first maximum; a NaN wins; -1 for an all-padding window)
//   x: (planes, h, w) contiguous;  y, indices: (planes, ho, wo) contiguous
template <typename T>
void max_pool2d_forward(const T* x, T* y, std::int64_t* indices, const MaxPool2dGeometry& g) {
    const std::int64_t h = g.h, w = g.w, ho = g.ho, wo = g.wo;
    parallel_for(0, g.planes, items_per_task(ho * wo * g.kh * g.kw), [&](std::int64_t t0, std::int64_t t1) {
        for (std::int64_t t = t0; t < t1; ++t) {
            const T* xp = x + t * h * w;
            for (std::int64_t oh = 0; oh < ho; ++oh) {
                const std::int64_t h0 = oh * g.sh - g.ph;
                for (std::int64_t ow = 0; ow < wo; ++ow) {
                    const std::int64_t w0 = ow * g.sw - g.pw;
                    T best = -std::numeric_limits<T>::infinity();
                    std::int64_t best_idx = -1;
                    for (std::int64_t ki = 0; ki < g.kh; ++ki) {
                        const std::int64_t ih = h0 + ki * g.dh;
                        if (ih < 0 || ih >= h) continue;
                        for (std::int64_t kj = 0; kj < g.kw; ++kj) {
                            const std::int64_t iw = w0 + kj * g.dw;
                            if (iw < 0 || iw >= w) continue;
                            const T v = xp[ih * w + iw];
                            if (best_idx < 0) best_idx = ih * w + iw;  // PyTorch's start index
                            if (v > best || std::isnan(v)) {
                                best = v;
                                best_idx = ih * w + iw;
                            }
                        }
                    }
                    y[(t * ho + oh) * wo + ow] = best;
                    indices[(t * ho + oh) * wo + ow] = best_idx;
                }
            }
        }
    });
}

// max_pool2d_backward: gx[t, indices[t, o]] += gy[t, o] for every output position o
//   gy, indices: (planes, ho * wo) contiguous;  gx: (planes, h * w) contiguous, accumulated into
template <typename T>
void max_pool2d_backward(const T* gy, const std::int64_t* indices, T* gx, const MaxPool2dGeometry& g) {
    const std::int64_t hw = g.h * g.w, p_out = g.ho * g.wo;
    parallel_for(0, g.planes, items_per_task(p_out), [&](std::int64_t t0, std::int64_t t1) {
        for (std::int64_t t = t0; t < t1; ++t)
            for (std::int64_t o = t * p_out; o < (t + 1) * p_out; ++o)
                if (indices[o] >= 0) gx[t * hw + indices[o]] += gy[o];
    });
}

// adaptive_avg_pool2d_forward: y[t, i, j] = mean of x[t, rows [begin(i), end(i)), cols [begin(j), end(j))]
//   x: (planes, h, w) contiguous;  y: (planes, oh, ow) contiguous; sums in double
template <typename T>
void adaptive_avg_pool2d_forward(const T* x, T* y, const AdaptivePool2dGeometry& g) {
    const std::int64_t h = g.h, w = g.w, oh = g.oh, ow = g.ow;
    parallel_for(0, g.planes, items_per_task(h * w), [&](std::int64_t t0, std::int64_t t1) {
        for (std::int64_t t = t0; t < t1; ++t) {
            const T* xp = x + t * h * w;
            for (std::int64_t i = 0; i < oh; ++i) {
                const std::int64_t h0 = g.row_begin(i), h1 = g.row_end(i);
                for (std::int64_t j = 0; j < ow; ++j) {
                    const std::int64_t w0 = g.col_begin(j), w1 = g.col_end(j);
                    double s = 0;
                    for (std::int64_t ih = h0; ih < h1; ++ih)
                        for (std::int64_t iw = w0; iw < w1; ++iw) s += double(xp[ih * w + iw]);
                    y[(t * oh + i) * ow + j] = T(s / double((h1 - h0) * (w1 - w0)));
                }
            }
        }
    });
}

// adaptive_avg_pool2d_backward: every x in window (i, j) gets gy[t, i, j] / (window area)
//   gy: (planes, oh, ow) contiguous;  gx: (planes, h, w) contiguous, accumulated into
template <typename T>
void adaptive_avg_pool2d_backward(const T* gy, T* gx, const AdaptivePool2dGeometry& g) {
    const std::int64_t h = g.h, w = g.w, oh = g.oh, ow = g.ow;
    parallel_for(0, g.planes, items_per_task(h * w), [&](std::int64_t t0, std::int64_t t1) {
        for (std::int64_t t = t0; t < t1; ++t) {
            T* dp = gx + t * h * w;
            for (std::int64_t i = 0; i < oh; ++i) {
                const std::int64_t h0 = g.row_begin(i), h1 = g.row_end(i);
                for (std::int64_t j = 0; j < ow; ++j) {
                    const std::int64_t w0 = g.col_begin(j), w1 = g.col_end(j);
                    const T gv = gy[(t * oh + i) * ow + j] / T((h1 - h0) * (w1 - w0));
                    for (std::int64_t ih = h0; ih < h1; ++ih)
                        for (std::int64_t iw = w0; iw < w1; ++iw) dp[ih * w + iw] += gv;
                }
            }
        }
    });
}

}  // namespace fbseg::cpu
