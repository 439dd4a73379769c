// fbseg/ops/cpu/depthwise_kernels.hpp - depthwise convolutions on the CPU (one input channel per
// group, EfficientNet's 3x3 and 5x5 layers), forward and both backward passes, as loops the
// compiler turns into full-width vector code for any stride, padding and dilation.
//
// Notation as in conv_kernels.hpp; here Cg = 1: output channel co reads only input channel
// ci = co / Coutg (Coutg, the depth multiplier, is 1 in the models), through its kh x kw taps:
//   y[oh, ow] = b + sum_{ki, kj} w[ki, kj] xpad[oh sh + ki dh, ow sw + kj dw]
// where xpad is the plane with ph rows and pw columns of zeros around it.
//
// Why not the obvious loops. Looping over output rows and, per tap, over the wo outputs of a row
// has two problems: the boundary checks cut each row into short runs (a 32-wide row is two AVX-512
// vectors, and the 4-wide rows of EfficientNet's last stage use a quarter of one), and a stride-2
// layer reads every second input, which no vector load does. Both go away with two rearrangements
// of the input plane, each a cheap copy next to the kh kw multiply-adds per output:
//
// phase planes and one flat row pitch (phase_planes.hpp, where the layout is explained), after
// which a whole output plane is
//     out[q] = b + sum_t w_t phase_t[q + off_t]     for q in [0, ho ws)
// a single long loop without a branch.
//
// The backward passes use the same two buffers:
//   backward-data (the adjoint): dphase_p[q'] = sum over the taps t of phase p of w_t dy[q' - off_t],
//     where dy is laid out with pitch ws and zeros in the unused columns, and shifted by the
//     largest offset so that q' - off_t never goes below zero. Each phase element is then added
//     back to the input pixel it was copied from.
//   backward-weight: dw_t = sum over images and q of dy[q] phase_t[q + off_t]: a dot product per
//     tap (the zeros of dy's unused columns drop the wrapped reads).
//
// The sums run in a fixed order (taps in order, images in order), independent of the number of
// threads. The forward pass adds the taps in the same order as the direct loops did, so its
// results did not change; the padding taps now add w * 0.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "fbseg/core/parallel.hpp"
#include "fbseg/ops/cpu/conv_common.hpp"
#include "fbseg/ops/cpu/loops.hpp"
#include "fbseg/ops/cpu/phase_planes.hpp"
#include "fbseg/ops/cpu/simd.hpp"
#include "fbseg/ops/geometry/conv.hpp"

namespace fbseg::cpu::conv {

// The two loops below are written with vector types (ops/cpu/simd.hpp) in the width of the
// instruction set this copy is compiled for. Plain loops were tried first: GCC's unroll-and-jam
// at -O3 fuses two taps' loops and leaves them scalar (11 GFLOP/s on one core, against 98 with
// the vector types), and a 64-byte vector type on AVX2 is split through memory.

/// dst[q] = init + sum_t weight[t] src[t][q] for q in [0, round_up_to_block(len)), the taps
/// added in order: dst and every src must have room for the whole last block. Four vectors of
/// partial sums stay in registers while the taps stream past; a tap costs one broadcast and
/// four multiply-adds with their loads.
template <typename T>
void tap_sum(T* dst, std::int64_t len, const T* const* src, const T* weight, std::int64_t taps, T init) {
    using Vec = simd::Vec<T>;
    constexpr std::int64_t kLanes = simd::kLanes<T>, kVectors = 4;
    constexpr std::int64_t kSub = kLanes * kVectors;  // divides kTapBlock for every width
    static_assert(kTapBlock % kSub == 0);
    for (std::int64_t q0 = 0; q0 < round_up_to_block(len); q0 += kSub) {
        Vec acc[kVectors];
        for (Vec& a : acc) a = Vec{} + init;
        for (std::int64_t t = 0; t < taps; ++t) {
            const T* s = src[t] + q0;
            const T wv = weight[t];
            for (std::int64_t v = 0; v < kVectors; ++v) acc[v] += wv * simd::load<Vec>(s + v * kLanes);
        }
        for (std::int64_t v = 0; v < kVectors; ++v) simd::store(dst + q0 + v * kLanes, acc[v]);
    }
}

/// sum_q a[q] b[q] over [0, len) rounded up to two vectors (at most round_up_to_block(len)):
/// partial sums in T, one per vector lane, added in double. a and b must have room for the
/// whole last block, and a holds zeros past len.
template <typename T>
double lane_dot(const T* a, const T* b, std::int64_t len) {
    using Vec = simd::Vec<T>;
    constexpr std::int64_t kLanes = simd::kLanes<T>;
    static_assert(kTapBlock % (2 * kLanes) == 0);
    Vec lanes[2] = {};  // two, so that consecutive multiply-adds do not wait for each other
    const std::int64_t end = (len + 2 * kLanes - 1) / (2 * kLanes) * (2 * kLanes);  // <= round_up_to_block(len)
    for (std::int64_t q = 0; q < end; q += 2 * kLanes) {
        lanes[0] += simd::load<Vec>(a + q) * simd::load<Vec>(b + q);
        lanes[1] += simd::load<Vec>(a + q + kLanes) * simd::load<Vec>(b + q + kLanes);
    }
    double s = 0;
    for (std::int64_t j = 0; j < kLanes; ++j) s += double(lanes[0][j]) + double(lanes[1][j]);
    return s;
}

/// Lays a dy plane [ho, wo] out with pitch ws at dst + shift, zeros everywhere else in [0, len).
template <typename T>
void spread_rows(const ConvGeometry& g, const PhasePlan& plan, const T* dy, std::int64_t shift, std::int64_t len,
                 T* dst) {
    std::fill_n(dst, len, T(0));
    for (std::int64_t oh = 0; oh < g.ho; ++oh) std::copy_n(dy + oh * g.wo, g.wo, dst + shift + oh * plan.ws);
}

/// y = depthwise conv(x, w) + b; x [N, Cin, H, W], w [Cout, 1, kh, kw], b [Cout] or null,
/// y [N, Cout, Ho, Wo]; contiguous. Task: (image, input channel) and its Coutg outputs.
template <typename T>
void depthwise_forward(const ConvGeometry& g, const T* x, const T* w, const T* b, T* y) {
    const PhasePlan plan(g);
    const std::int64_t kk = g.kk(), coutg = g.coutg(), P = g.p();
    parallel_for(0, g.n * g.c_in, items_per_task(P * kk * coutg), [&](std::int64_t t0, std::int64_t t1) {
        T* phases = scratch<T>(plan.phases * plan.phase_stride + round_up_to_block(plan.out_len));
        T* out = phases + plan.phases * plan.phase_stride;
        std::vector<const T*> src(static_cast<std::size_t>(kk));
        for (std::int64_t t = t0; t < t1; ++t) {
            const std::int64_t n = t / g.c_in, ci = t % g.c_in;
            build_phase_planes(g, plan, x + t * g.hw(), phases);
            for (std::int64_t k = 0; k < kk; ++k)
                src[std::size_t(k)] =
                    phases + plan.phase[std::size_t(k)] * plan.phase_stride + plan.offset[std::size_t(k)];
            for (std::int64_t j = 0; j < coutg; ++j) {
                const std::int64_t co = ci * coutg + j;
                tap_sum(out, plan.out_len, src.data(), w + co * kk, kk, b ? b[co] : T(0));
                T* yp = y + (n * g.c_out + co) * P;
                for (std::int64_t oh = 0; oh < g.ho; ++oh) std::copy_n(out + oh * plan.ws, g.wo, yp + oh * g.wo);
            }
        }
    });
}

/// dx = the adjoint of depthwise_forward applied to dy; dx [N, Cin, H, W] overwritten.
/// Task: (image, input channel); its Coutg output channels' taps are summed together.
template <typename T>
void depthwise_backward_data(const ConvGeometry& g, const T* dy, const T* w, T* dx) {
    const PhasePlan plan(g);
    const std::int64_t kk = g.kk(), coutg = g.coutg(), P = g.p();
    // dy shifted by max_off, zeros around, long enough for the reads of every block of a phase plane
    const std::int64_t dy_len = plan.max_off + round_up_to_block(plan.phase_len);
    parallel_for(0, g.n * g.c_in, items_per_task(P * kk * coutg), [&](std::int64_t t0, std::int64_t t1) {
        T* dphases = scratch<T>(plan.phases * plan.phase_stride + coutg * dy_len);
        T* dys = dphases + plan.phases * plan.phase_stride;
        std::vector<const T*> src(std::size_t(kk * coutg));
        std::vector<T> weight(std::size_t(kk * coutg));
        for (std::int64_t t = t0; t < t1; ++t) {
            const std::int64_t n = t / g.c_in, ci = t % g.c_in;
            for (std::int64_t j = 0; j < coutg; ++j)
                spread_rows(g, plan, dy + (n * g.c_out + ci * coutg + j) * P, plan.max_off, dy_len, dys + j * dy_len);
            // dphase_p[q'] = sum over (j, taps of phase p) of w_t dy_j[q' - off_t]
            for (std::int64_t p = 0; p < plan.phases; ++p) {
                if (!plan.phase_used[std::size_t(p)]) continue;
                std::int64_t taps = 0;
                for (std::int64_t j = 0; j < coutg; ++j) {
                    for (std::int64_t k = 0; k < kk; ++k) {
                        if (plan.phase[std::size_t(k)] != p) continue;
                        src[std::size_t(taps)] = dys + j * dy_len + plan.max_off - plan.offset[std::size_t(k)];
                        weight[std::size_t(taps)] = w[(ci * coutg + j) * kk + k];
                        ++taps;
                    }
                }
                tap_sum(dphases + p * plan.phase_stride, plan.phase_len, src.data(), weight.data(), taps, T(0));
            }
            // dx[ih, iw] = the dphase element build_phase_planes copied x[ih, iw] to: phase row
            // (ih + ph) / sh of row phase (ih + ph) % sh, and likewise for the column. 0 where no
            // tap reads the pixel (past the last phase row or column, or a phase no tap uses).
            T* dxp = dx + t * g.hw();
            for (std::int64_t ih = 0; ih < g.h; ++ih) {
                const std::int64_t i = (ih + g.ph) / g.sh, r = (ih + g.ph) % g.sh;
                T* dst = dxp + ih * g.w;
                if (i >= plan.hs) {
                    std::fill_n(dst, g.w, T(0));
                    continue;
                }
                if (g.sw == 2 && plan.phase_used[std::size_t(r * 2)] && plan.phase_used[std::size_t(r * 2 + 1)] &&
                    (g.w - 1 + g.pw) / 2 < plan.ws) {  // two column phases interleaved, all read
                    // iw = 2 k + e comes from column phase (e + pw) % 2, phase column k + (e + pw) / 2
                    const T* even = dphases + (r * 2 + g.pw % 2) * plan.phase_stride + i * plan.ws + g.pw / 2;
                    const T* odd =
                        dphases + (r * 2 + (g.pw + 1) % 2) * plan.phase_stride + i * plan.ws + (g.pw + 1) / 2;
                    std::int64_t k = 0;
                    for (; 2 * k + 1 < g.w; ++k) dst[2 * k] = even[k], dst[2 * k + 1] = odd[k];
                    if (2 * k < g.w) dst[2 * k] = even[k];
                    continue;
                }
                for (std::int64_t c = 0; c < g.sw; ++c) {
                    const std::int64_t p = r * g.sw + c;
                    const std::int64_t iw0 = ((c - g.pw) % g.sw + g.sw) % g.sw;  // first iw with (iw + pw) % sw == c
                    const T* src =
                        plan.phase_used[std::size_t(p)] ? dphases + p * plan.phase_stride + i * plan.ws : nullptr;
                    if (g.sw == 1 && src) {  // one phase: a row copy
                        std::copy_n(src + g.pw, std::min(g.w, plan.ws - g.pw), dst);
                        std::fill(dst + std::min(g.w, plan.ws - g.pw), dst + g.w, T(0));
                        continue;
                    }
                    for (std::int64_t iw = iw0, jc = (iw0 + g.pw) / g.sw; iw < g.w; iw += g.sw, ++jc)
                        dst[iw] = src && jc < plan.ws ? src[jc] : T(0);
                }
            }
        }
    });
}

/// dw = sum over images of the taps' dot products; x [N, Cin, H, W], dy [N, Cout, Ho, Wo],
/// dw [Cout, 1, kh, kw] overwritten. Task: a range of input channels and their Coutg outputs.
/// Inside a task the images are the outer loop, so that the planes are read in memory order
/// (a plane is 1-16 KiB; jumping from image to image for one channel meets a cold page each
/// time, and the hardware prefetcher does not cross pages); each weight's sum still runs over
/// the images in order, in double.
template <typename T>
void depthwise_backward_weight(const ConvGeometry& g, const T* x, const T* dy, T* dw) {
    const PhasePlan plan(g);
    const std::int64_t kk = g.kk(), coutg = g.coutg(), P = g.p();
    parallel_for(0, g.c_in, items_per_task(g.n * P * kk * coutg), [&](std::int64_t c0, std::int64_t c1) {
        T* phases = scratch<T>(plan.phases * plan.phase_stride + round_up_to_block(plan.out_len));
        T* dyflat = phases + plan.phases * plan.phase_stride;               // zeros past out_len for lane_dot
        std::vector<double> acc(std::size_t((c1 - c0) * coutg * kk), 0.0);  // [ci - c0, j, tap]
        for (std::int64_t n = 0; n < g.n; ++n) {
            for (std::int64_t ci = c0; ci < c1; ++ci) {
                build_phase_planes(g, plan, x + (n * g.c_in + ci) * g.hw(), phases);
                for (std::int64_t j = 0; j < coutg; ++j) {
                    spread_rows(g, plan, dy + (n * g.c_out + ci * coutg + j) * P, 0, round_up_to_block(plan.out_len),
                                dyflat);
                    double* a = acc.data() + ((ci - c0) * coutg + j) * kk;
                    for (std::int64_t k = 0; k < kk; ++k) {
                        const T* s =
                            phases + plan.phase[std::size_t(k)] * plan.phase_stride + plan.offset[std::size_t(k)];
                        a[k] += lane_dot(dyflat, s, plan.out_len);
                    }
                }
            }
        }
        for (std::int64_t i = 0; i < (c1 - c0) * coutg * kk; ++i) dw[c0 * coutg * kk + i] = T(acc[std::size_t(i)]);
    });
}

}  // namespace fbseg::cpu::conv
