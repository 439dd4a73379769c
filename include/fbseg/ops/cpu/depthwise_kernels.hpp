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

// The loops below are written with vector types (ops/cpu/simd.hpp) in the width of the
// instruction set this copy is compiled for. Plain loops were tried first: GCC's unroll-and-jam
// at -O3 fuses two taps' loops and leaves them scalar (11 GFLOP/s on one core, against 98 with
// the vector types), and a 64-byte vector type on AVX2 is split through memory.

/// kVectors vectors of tap_sum's output, from q0 on.
template <std::int64_t kVectors, typename T>
void tap_sum_vectors(T* dst, std::int64_t q0, const T* const* src, const T* weight, std::int64_t taps, T init) {
    using Vec = simd::Vec<T>;
    constexpr std::int64_t kLanes = simd::kLanes<T>;
    Vec acc[kVectors];
    for (Vec& a : acc) a = Vec{} + init;
    for (std::int64_t t = 0; t < taps; ++t) {
        const T* s = src[t] + q0;
        const T wv = weight[t];
        for (std::int64_t v = 0; v < kVectors; ++v) acc[v] += wv * simd::load<Vec>(s + v * kLanes);
    }
    for (std::int64_t v = 0; v < kVectors; ++v) simd::store(dst + q0 + v * kLanes, acc[v]);
}

/// dst[q] = init + sum_t weight[t] src[t][q] for q in [0, len) (and up to the next whole vector),
/// the taps added in order: dst and every src must have room for the whole last block of
/// round_up_to_block(len). Four vectors of partial sums stay in registers while the taps stream
/// past; a tap costs one broadcast and four multiply-adds with their loads. The 1-3 vectors
/// left at the end of a plane go side by side: the 4 x 4 and 8 x 8 planes of EfficientNet's
/// late stages are 2-5 vectors long, and rounding them up to whole blocks of 64 values had
/// nearly doubled their work.
template <typename T>
void tap_sum(T* dst, std::int64_t len, const T* const* src, const T* weight, std::int64_t taps, T init) {
    constexpr std::int64_t kLanes = simd::kLanes<T>, kSub = kLanes * 4;  // kSub divides kTapBlock for every width
    static_assert(kTapBlock % kSub == 0);
    const std::int64_t end = (len + kLanes - 1) / kLanes * kLanes;
    std::int64_t q0 = 0;
    for (; q0 + kSub <= end; q0 += kSub) tap_sum_vectors<4>(dst, q0, src, weight, taps, init);
    const std::int64_t rest = (end - q0) / kLanes;  // the last 1-3 vectors, side by side
    if (rest == 3) tap_sum_vectors<3>(dst, q0, src, weight, taps, init);
    if (rest == 2) tap_sum_vectors<2>(dst, q0, src, weight, taps, init);
    if (rest == 1) tap_sum_vectors<1>(dst, q0, src, weight, taps, init);
}

/// The kGroup taps src[0, kGroup) against one dy plane, for backward-weight:
///     acc[t] += sum_q dy[q] src[t][q]     over q in [0, len) rounded up to a vector,
/// where acc[t] is kLanes<T> partial sums in double (kParts vectors of double, one per lane of T)
/// that run on over every plane of the channel; the lanes are added up once, at the end.
/// dy is loaded once for the group's kGroup multiply-adds, whose sums are kGroup independent
/// chains. dy and every src must have room for the last vector, and dy holds zeros past len.
template <std::int64_t kGroup, typename T>
void tap_dots_group(const T* dy, const T* const* src, std::int64_t len, double* acc) {
    using Vec = simd::Vec<T>;
    using VecD = simd::Vec<double>;
    constexpr std::int64_t kLanes = simd::kLanes<T>, kLanesD = simd::kLanes<double>, kParts = kLanes / kLanesD;
    Vec part[kGroup] = {};
    for (std::int64_t q = 0; q < len; q += kLanes) {
        const Vec d = simd::load<Vec>(dy + q);
        for (std::int64_t i = 0; i < kGroup; ++i) part[i] += d * simd::load<Vec>(src[i] + q);
    }
    for (std::int64_t i = 0; i < kGroup; ++i) {
        T lanes[kLanes];
        simd::store(lanes, part[i]);
        for (std::int64_t k = 0; k < kParts; ++k) {
            double* a = acc + (i * kParts + k) * kLanesD;
            simd::store(a, simd::load<VecD>(a) + simd::load_as_double(lanes + k * kLanesD));
        }
    }
}

/// tap_dots_group over all taps, eight (or the rest) at a time; acc holds kLanes<T> doubles per tap.
template <typename T>
void tap_dots(const T* dy, const T* const* src, std::int64_t taps, std::int64_t len, double* acc) {
    constexpr std::int64_t kLanes = simd::kLanes<T>;
    len = (len + kLanes - 1) / kLanes * kLanes;
    std::int64_t t = 0;
    for (; t + 8 <= taps; t += 8) tap_dots_group<8>(dy, src + t, len, acc + t * kLanes);
    const std::int64_t rest = taps - t;
    if (rest == 7) tap_dots_group<7>(dy, src + t, len, acc + t * kLanes);
    if (rest == 6) tap_dots_group<6>(dy, src + t, len, acc + t * kLanes);
    if (rest == 5) tap_dots_group<5>(dy, src + t, len, acc + t * kLanes);
    if (rest == 4) tap_dots_group<4>(dy, src + t, len, acc + t * kLanes);
    if (rest == 3) tap_dots_group<3>(dy, src + t, len, acc + t * kLanes);
    if (rest == 2) tap_dots_group<2>(dy, src + t, len, acc + t * kLanes);
    if (rest == 1) tap_dots_group<1>(dy, src + t, len, acc + t * kLanes);
}

/// Where each tap reads in a buffer of phase planes: phases + its plane's start + its offset.
template <typename T>
std::vector<const T*> tap_sources(const PhasePlan& plan, const T* phases) {
    std::vector<const T*> src;
    for (const std::int64_t start : plan.tap_starts(plan.phase_stride)) src.push_back(phases + start);
    return src;
}

/// Lays a dy plane [ho, wo] out with pitch ws at dst + shift. Writes those values only: the
/// caller clears the buffer once, and the places between the rows (the unused columns, the shift)
/// stay zero for every plane of the same geometry, as in copy_phase_plane_values.
template <typename T>
void spread_rows(const ConvGeometry& g, const PhasePlan& plan, const T* dy, std::int64_t shift, T* dst) {
    for (std::int64_t oh = 0; oh < g.ho; ++oh) copy_row(dy + oh * g.wo, g.wo, dst + shift + oh * plan.ws);
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
        std::fill_n(phases, plan.phases * plan.phase_stride, T(0));  // the zeros every plane shares
        const std::vector<const T*> src = tap_sources(plan, phases);
        for (std::int64_t t = t0; t < t1; ++t) {
            const std::int64_t n = t / g.c_in, ci = t % g.c_in;
            copy_phase_plane_values(g, plan, x + t * g.hw(), phases);
            for (std::int64_t j = 0; j < coutg; ++j) {
                const std::int64_t co = ci * coutg + j;
                tap_sum(out, plan.out_len, src.data(), w + co * kk, kk, b ? b[co] : T(0));
                T* yp = y + (n * g.c_out + co) * P;
                for (std::int64_t oh = 0; oh < g.ho; ++oh) copy_row(out + oh * plan.ws, g.wo, yp + oh * g.wo);
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
        std::fill_n(dys, coutg * dy_len, T(0));  // the zeros around and between dy's rows, for every plane
        std::vector<const T*> src(std::size_t(kk * coutg));
        std::vector<T> weight(std::size_t(kk * coutg));
        for (std::int64_t t = t0; t < t1; ++t) {
            const std::int64_t n = t / g.c_in, ci = t % g.c_in;
            for (std::int64_t j = 0; j < coutg; ++j)
                spread_rows(g, plan, dy + (n * g.c_out + ci * coutg + j) * P, plan.max_off, dys + j * dy_len);
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
                        copy_row(src + g.pw, std::min(g.w, plan.ws - g.pw), dst);
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
/// time, and the hardware prefetcher does not cross pages). Each weight's sum runs per vector
/// lane: within a plane in T, then over the images in order in double (tap_dots), and the
/// lanes are added at the end, in a fixed order whatever the number of threads. (It was one
/// dot product per tap and plane, reduced to a double each time: on the 4 x 4 and 8 x 8 planes
/// of EfficientNet's late stages that reduction cost more than the products.)
template <typename T>
void depthwise_backward_weight(const ConvGeometry& g, const T* x, const T* dy, T* dw) {
    const PhasePlan plan(g);
    const std::int64_t kk = g.kk(), coutg = g.coutg(), P = g.p();
    parallel_for(0, g.c_in, items_per_task(g.n * P * kk * coutg), [&](std::int64_t c0, std::int64_t c1) {
        T* phases = scratch<T>(plan.phases * plan.phase_stride + round_up_to_block(plan.out_len));
        T* dyflat = phases + plan.phases * plan.phase_stride;  // zeros past out_len for lane_dot
        std::fill_n(phases, plan.phases * plan.phase_stride + round_up_to_block(plan.out_len), T(0));  // shared zeros
        constexpr std::int64_t kLanes = simd::kLanes<T>;
        std::vector<double> acc(std::size_t((c1 - c0) * coutg * kk * kLanes), 0.0);  // [ci - c0, j, tap, lane]
        const std::vector<const T*> src = tap_sources(plan, phases);
        for (std::int64_t n = 0; n < g.n; ++n) {
            for (std::int64_t ci = c0; ci < c1; ++ci) {
                copy_phase_plane_values(g, plan, x + (n * g.c_in + ci) * g.hw(), phases);
                for (std::int64_t j = 0; j < coutg; ++j) {
                    spread_rows(g, plan, dy + (n * g.c_out + ci * coutg + j) * P, 0, dyflat);
                    tap_dots(dyflat, src.data(), kk, plan.out_len, acc.data() + ((ci - c0) * coutg + j) * kk * kLanes);
                }
            }
        }
        for (std::int64_t i = 0; i < (c1 - c0) * coutg * kk; ++i) {
            double sum = 0;
            for (std::int64_t l = 0; l < kLanes; ++l) sum += acc[std::size_t(i * kLanes + l)];
            dw[c0 * coutg * kk + i] = T(sum);
        }
    });
}

}  // namespace fbseg::cpu::conv
