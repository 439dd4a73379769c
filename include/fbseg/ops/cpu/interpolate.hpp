// fbseg/ops/cpu/interpolate.hpp - CPU kernels of 2-D nearest and bilinear resizing, forward and
// backward. The source taps of every output row and column are computed by the caller
// (ops/interpolate.hpp); each (image, channel) plane is a loop over the output, and the planes
// run in parallel. A backward scatters each output gradient to the input positions it was read
// from, with the same weights (the transpose of the interpolation), inside its own plane.
#pragma once

#include <algorithm>
#include <cstdint>

#include "fbseg/core/parallel.hpp"
#include "fbseg/ops/cpu/loops.hpp"
#include "fbseg/ops/geometry/interpolate.hpp"

namespace fbseg::cpu {

// upsample_nearest2d_forward: y[t, i, j] = x[t, rows[i], cols[j]]
//   x: (planes, h, w) contiguous;  y: (planes, oh, ow) contiguous
template <typename T>
void upsample_nearest2d_forward(const T* x, T* y, const Resize2dGeometry& g, NearestTaps taps) {
    parallel_for(0, g.planes, items_per_task(g.oh * g.ow), [&](std::int64_t t0, std::int64_t t1) {
        for (std::int64_t t = t0; t < t1; ++t)
            for (std::int64_t i = 0; i < g.oh; ++i) {
                const T* xr = x + (t * g.h + taps.rows[i]) * g.w;
                T* yr = y + (t * g.oh + i) * g.ow;
                for (std::int64_t j = 0; j < g.ow; ++j) yr[j] = xr[taps.cols[j]];
            }
    });
}

// upsample_nearest2d_backward: gx[t, rows[i], cols[j]] += gy[t, i, j]
//   gy: (planes, oh, ow) contiguous;  gx: (planes, h, w) contiguous, accumulated into
template <typename T>
void upsample_nearest2d_backward(const T* gy, T* gx, const Resize2dGeometry& g, NearestTaps taps) {
    parallel_for(0, g.planes, items_per_task(g.oh * g.ow), [&](std::int64_t t0, std::int64_t t1) {
        for (std::int64_t t = t0; t < t1; ++t)
            for (std::int64_t i = 0; i < g.oh; ++i) {
                T* dr = gx + (t * g.h + taps.rows[i]) * g.w;
                const T* gr = gy + (t * g.oh + i) * g.ow;
                for (std::int64_t j = 0; j < g.ow; ++j) dr[taps.cols[j]] += gr[j];
            }
    });
}

// upsample_bilinear2d_forward:
//   y[t, i, j] = l0h[i] (l0w[j] x[t, h0[i], w0[j]] + l1w[j] x[t, h0[i], w1[j]])
//              + l1h[i] (l0w[j] x[t, h1[i], w0[j]] + l1w[j] x[t, h1[i], w1[j]])
//   x: (planes, h, w) contiguous;  y: (planes, oh, ow) contiguous; th: oh taps, tw: ow taps
template <typename T>
void upsample_bilinear2d_forward(const T* x, T* y, const Resize2dGeometry& g, LinearTapsView<T> th,
                                 LinearTapsView<T> tw) {
    parallel_for(0, g.planes, items_per_task(g.oh * g.ow * 4), [&](std::int64_t t0, std::int64_t t1) {
        for (std::int64_t t = t0; t < t1; ++t)
            for (std::int64_t i = 0; i < g.oh; ++i) {
                const T* r0 = x + (t * g.h + th.i0[i]) * g.w;
                const T* r1 = x + (t * g.h + th.i1[i]) * g.w;
                T* yr = y + (t * g.oh + i) * g.ow;
                for (std::int64_t j = 0; j < g.ow; ++j) {
                    yr[j] = th.l0[i] * (tw.l0[j] * r0[tw.i0[j]] + tw.l1[j] * r0[tw.i1[j]]) +
                            th.l1[i] * (tw.l0[j] * r1[tw.i0[j]] + tw.l1[j] * r1[tw.i1[j]]);
                }
            }
    });
}

// upsample_bilinear2d_backward: each gy[t, i, j] is added to the four x positions it was read
// from, times the weights of the forward
//   gy: (planes, oh, ow) contiguous;  gx: (planes, h, w) contiguous, accumulated into
template <typename T>
void upsample_bilinear2d_backward(const T* gy, T* gx, const Resize2dGeometry& g, LinearTapsView<T> th,
                                  LinearTapsView<T> tw) {
    parallel_for(0, g.planes, items_per_task(g.oh * g.ow * 4), [&](std::int64_t t0, std::int64_t t1) {
        for (std::int64_t t = t0; t < t1; ++t)
            for (std::int64_t i = 0; i < g.oh; ++i) {
                T* r0 = gx + (t * g.h + th.i0[i]) * g.w;
                T* r1 = gx + (t * g.h + th.i1[i]) * g.w;
                const T* gr = gy + (t * g.oh + i) * g.ow;
                for (std::int64_t j = 0; j < g.ow; ++j) {
                    const T g0 = th.l0[i] * gr[j], g1 = th.l1[i] * gr[j];
                    r0[tw.i0[j]] += g0 * tw.l0[j];
                    r0[tw.i1[j]] += g0 * tw.l1[j];
                    r1[tw.i0[j]] += g1 * tw.l0[j];
                    r1[tw.i1[j]] += g1 * tw.l1[j];
                }
            }
    });
}

}  // namespace fbseg::cpu
