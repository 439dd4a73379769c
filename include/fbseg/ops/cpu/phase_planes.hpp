// fbseg/ops/cpu/phase_planes.hpp - an input plane rearranged so that every tap of a convolution
// is one unit-stride run of memory: the layout behind the depthwise kernels
// (depthwise_kernels.hpp) and the direct convolutions (direct_conv_kernels.hpp).
//
// Notation as in conv_kernels.hpp; xpad is an input plane with ph rows and pw columns of zeros
// around it, and a tap (ki, kj) of output (oh, ow) reads xpad[oh sh + ki dh, ow sw + kj dw].
//
// 1. Phase planes (for the stride). Split xpad by the remainder of its row and column index
//    modulo the stride: phase (r, c) holds xpad[i sh + r, j sw + c] at [i, j]. Tap (ki, kj) then
//    reads phase ((ki dh) % sh, (kj dw) % sw) at [oh + (ki dh) / sh, ow + (kj dw) / sw]: unit
//    stride, whatever the convolution's stride. With stride 1 there is one phase, xpad itself.
// 2. One flat row pitch (for the boundaries). Each phase plane has ws = wo + ((kw - 1) dw) / sw
//    columns and hs = ho + ((kh - 1) dh) / sh rows (+ 1 spare row of zeros), and the output is
//    computed as a flat array with the same pitch: out[oh ws + ow] for ow in [0, ws), of which
//    the last ws - wo columns of each row are never used. Then every tap is one offset into the
//    flat phase plane, off = ((ki dh) / sh) ws + (kj dw) / sw, and a whole output plane is
//        out[q] = sum_t w_t phase_t[q + off_t]     for q in [0, ho ws)
//    a single long loop without a branch. The unused columns read real data past the end of a
//    row (a wrap into the next row) and are thrown away; the spare row covers the last row's.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "fbseg/ops/cpu/conv_common.hpp"
#include "fbseg/ops/cpu/simd.hpp"
#include "fbseg/ops/geometry/conv.hpp"

namespace fbseg::cpu::conv {

/// tap_sum works on blocks of this many outputs, and the buffers are padded to whole blocks so
/// that every block runs at full vector width (the padding's results are never used).
inline constexpr std::int64_t kTapBlock = 64;
inline constexpr std::int64_t round_up_to_block(std::int64_t n) { return (n + kTapBlock - 1) / kTapBlock * kTapBlock; }

/// The flat layout of one convolution's phase planes (see the header comment). Built once per
/// call from the geometry; read by every task.
struct PhasePlan {
    std::int64_t hs = 0, ws = 0;       // rows (without the spare one) and columns of a phase plane
    std::int64_t phase_len = 0;        // (hs + 1) ws: one phase plane, spare row included
    std::int64_t phase_stride = 0;     // from one phase plane to the next in the buffer: phase_len and
                                       // room for a whole last block of reads or writes past it
    std::int64_t phases = 0;           // sh sw
    std::int64_t out_len = 0;          // ho ws: the flat output, unused columns included
    std::int64_t max_off = 0;          // the largest tap offset
    std::vector<std::int64_t> phase;   // per tap t = ki kw + kj: which phase plane it reads
    std::vector<std::int64_t> offset;  // per tap: its offset into that plane
    std::vector<bool> phase_used;      // per phase: read by some tap (a 1x1 stride-2 layer reads one of four)

    explicit PhasePlan(const ConvGeometry& g) {
        hs = g.ho + ((g.kh - 1) * g.dh) / g.sh;
        ws = g.wo + ((g.kw - 1) * g.dw) / g.sw;
        phase_len = (hs + 1) * ws;
        phase_stride = round_up_to_block(phase_len) + kTapBlock;
        phases = g.sh * g.sw;
        out_len = g.ho * ws;
        phase_used.assign(std::size_t(phases), false);
        for (std::int64_t ki = 0; ki < g.kh; ++ki) {
            for (std::int64_t kj = 0; kj < g.kw; ++kj) {
                const std::int64_t p = ((ki * g.dh) % g.sh) * g.sw + (kj * g.dw) % g.sw;
                const std::int64_t off = ((ki * g.dh) / g.sh) * ws + (kj * g.dw) / g.sw;
                phase.push_back(p);
                offset.push_back(off);
                phase_used[std::size_t(p)] = true;
                max_off = std::max(max_off, off);
            }
        }
    }

    /// Per tap t: where it reads in a buffer whose phase planes lie `stride` values apart (the
    /// plane's start, then its offset into the plane): phase[t] stride + offset[t].
    std::vector<std::int64_t> tap_starts(std::int64_t stride) const {
        std::vector<std::int64_t> start;
        for (std::size_t t = 0; t < offset.size(); ++t) start.push_back(phase[t] * stride + offset[t]);
        return start;
    }
};

/// Copies one input plane x [h, w] into its phase planes (zeros where xpad is padding), phase p
/// at phases + p stride (plan.phase_stride unless the caller lays them out otherwise: the weight
/// gradient keeps each phase of a channel in a row of its own). Writes plan.phase_len values per
/// phase that a tap reads, nothing for the others.
template <typename T>
void build_phase_planes(const ConvGeometry& g, const PhasePlan& plan, const T* x, T* phases, std::int64_t stride) {
    for (std::int64_t r = 0; r < g.sh; ++r) {
        for (std::int64_t c = 0; c < g.sw; ++c) {
            const std::int64_t p = r * g.sw + c;
            if (!plan.phase_used[std::size_t(p)]) continue;
            T* plane = phases + p * stride;
            std::int64_t lo, hi;  // phase columns j whose input column j sw + c - pw lies in [0, w)
            valid_span(c - g.pw, g.sw, g.w, plan.ws, lo, hi);
            for (std::int64_t i = 0; i <= plan.hs; ++i) {  // the spare row hs is outside any plane: zeros
                T* row = plane + i * plan.ws;
                const std::int64_t ih = i * g.sh + r - g.ph;
                if (i == plan.hs || ih < 0 || ih >= g.h) {
                    std::fill_n(row, plan.ws, T(0));
                    continue;
                }
                const T* src = x + ih * g.w + (lo * g.sw + c - g.pw);
                std::fill_n(row, lo, T(0));
                if (g.sw == 1) {
                    std::copy_n(src, hi - lo, row + lo);
                } else if (g.sw == 2) {  // a constant stride, which the compiler vectorises
                    for (std::int64_t j = lo; j < hi; ++j) row[j] = src[(j - lo) * 2];
                } else {
                    for (std::int64_t j = lo; j < hi; ++j) row[j] = src[(j - lo) * g.sw];
                }
                std::fill_n(row + hi, plan.ws - hi, T(0));
            }
        }
    }
}

template <typename T>
void build_phase_planes(const ConvGeometry& g, const PhasePlan& plan, const T* x, T* phases) {
    build_phase_planes(g, plan, x, phases, plan.phase_stride);
}

/// dst[0, n) = src[0, n), a vector at a time: the rows copied here are 4-64 values long, and a
/// call to memmove (or memset) per row cost more than the copy itself.
template <typename T>
inline void copy_row(const T* src, std::int64_t n, T* dst) {
    using Vec = simd::Vec<T>;
    constexpr std::int64_t kLanes = simd::kLanes<T>;
    std::int64_t j = 0;
    for (; j + kLanes <= n; j += kLanes) simd::store(dst + j, simd::load<Vec>(src + j));
    for (; j < n; ++j) dst[j] = src[j];
}

/// The values part of build_phase_planes: copies x [h, w] into its phase planes and writes
/// nothing else. The zeros of build_phase_planes (padding, the columns and rows past the input,
/// the spare row) sit at the same places for every plane of a plan, so a buffer that was
/// cleared once (std::fill_n(phases, plan.phases * plan.phase_stride, T(0))) and then only ever
/// receives planes of the same plan through this function holds exactly what build_phase_planes
/// would write. The depthwise kernels, which build one small plane per (image, channel), clear
/// once per task: per plane, the fills of build_phase_planes were most of a layer's time (two
/// memset calls for every 16-34-value row).
template <typename T>
void copy_phase_plane_values(const ConvGeometry& g, const PhasePlan& plan, const T* x, T* phases) {
    for (std::int64_t r = 0; r < g.sh; ++r) {
        // phase rows i whose input row i sh + r - ph lies in [0, h)
        std::int64_t i_lo, i_hi;
        valid_span(r - g.ph, g.sh, g.h, plan.hs, i_lo, i_hi);
        for (std::int64_t c = 0; c < g.sw; ++c) {
            const std::int64_t p = r * g.sw + c;
            if (!plan.phase_used[std::size_t(p)]) continue;
            std::int64_t lo, hi;  // phase columns j whose input column j sw + c - pw lies in [0, w)
            valid_span(c - g.pw, g.sw, g.w, plan.ws, lo, hi);
            T* plane = phases + p * plan.phase_stride + lo;
            const T* src = x + (lo * g.sw + c - g.pw);
            for (std::int64_t i = i_lo; i < i_hi; ++i) {
                const T* in = src + (i * g.sh + r - g.ph) * g.w;
                T* row = plane + i * plan.ws;
                if (g.sw == 1) {
                    copy_row(in, hi - lo, row);
                } else if (g.sw == 2) {  // a constant stride, which the compiler vectorises
                    for (std::int64_t j = 0; j < hi - lo; ++j) row[j] = in[j * 2];
                } else {
                    for (std::int64_t j = 0; j < hi - lo; ++j) row[j] = in[j * g.sw];
                }
            }
        }
    }
}

}  // namespace fbseg::cpu::conv
