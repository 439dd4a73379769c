// fbseg/ops/cpu/depthwise_lanes_kernels.hpp - depthwise convolutions with the channels in the
// vector lanes: a block of L = kLanes<T> channels (16 floats with AVX-512) is laid out pixel-major,
// [row][column][L], so that one vector holds one pixel of L channels and every tap is one
// multiply-add of whole vectors, whatever the stride, the padding or the width of the plane.
//
// Notation as in depthwise_kernels.hpp (one input channel per output channel here: the depth
// multiplier Coutg is 1, as in EfficientNet):
//   y[c, oh, ow] = b[c] + sum_{ki, kj} w[c, ki, kj] xpad[c, oh sh + ki dh, ow sw + kj dw]
//
// Why. depthwise_kernels.hpp vectorises along a plane's flat rows. That needs phase planes for a
// stride of 2 (four small copies per plane), computes the columns between the rows and drops
// them, and a 4 x 4 plane fills a quarter of a vector: its layers ran at 1.5-2x oneDNN's
// channels_last time (docs/performance.md, step 18). Channels in the lanes cost one transpose of
// each block in and out (register transposes of 16 x 16, 8 x 8 or 4 x 4 values, copy_to_planes,
// in each instruction set's width), and then nothing is
// wasted: a tap's value for L channels is one aligned vector load, and stride 2 only changes the
// step between loads. The input rows are transposed in just before the first output row that
// reads them, and (where a row is whole 16-pixel blocks) each output row is transposed out as
// soon as it is computed, so both copies meet the block in L1 rather than L2.
//
// Where. The transposes are not free: out of a 16 x 16 block, 16 stores go to 16 planes at once,
// each its own cache line to fetch. On rows of 32 and more at stride 1 the row kernels of
// depthwise_kernels.hpp, which read and write each plane in order, are as fast or faster, so
// those layers stay there (depthwise_lanes_*_preferred); everywhere else these kernels measured
// 0.26-0.95x of the row kernels' time, and the weight gradient takes them for every shape.
//
// The three passes, per block of L channels:
//   forward: xb = the padded input block [hp][wp][L] (zeros around it), then for each output row
//     a register tile of up to kDwTile outputs: acc[r] = b + sum over taps (ki, kj) in order of
//     w_t * xb[oh sh + ki dh][(ow + r) sw + kj dw]. The taps are added in the order of
//     depthwise_kernels.hpp's tap_sum, so the results are the same to the bit.
//   backward-data (the adjoint): for each input pixel (ih, iw) and the taps that read it,
//       dx[ih, iw] = sum_{ki, kj : oh = (ih + ph - ki dh) / sh, ow = (iw + pw - kj dw) / sw whole}
//                    w_t dy[oh, ow]
//     A row ih takes the ki whose oh is whole and in [0, ho); its columns go by phase
//     e = (iw + pw) mod sw, whose taps are the kj with kj dw = e (mod sw), at a fixed shift of
//     ow against iw. dy's rows are held with zero columns on both sides, so that a shifted read
//     past the row's ends adds 0 (no branch in the tile). Again the taps in kernel order, as
//     depthwise_kernels.hpp adds them per phase plane: the same results.
//   backward-weight: dw_t = sum over images and pixels of dy[oh, ow] xb[oh sh + ki dh][ow sw + kj dw],
//     each tap's sum a vector of L channels (no lanes to add up at the end): in T over runs of
//     at most kDwRunPixels pixels, then in double, runs and images in order. The images are cut
//     into parts of fixed size where there are few blocks (parts summed in order at the end), so
//     that the result does not depend on the number of threads.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "fbseg/core/parallel.hpp"
#include "fbseg/ops/cpu/conv_common.hpp"
#include "fbseg/ops/cpu/lanes_conv_kernels.hpp"
#include "fbseg/ops/cpu/simd.hpp"
#include "fbseg/ops/geometry/conv.hpp"

namespace fbseg::cpu::conv {

/// Outputs per register tile along a row (forward and backward-data): 8 accumulators, the
/// tap's weight vector and one load in flight, well inside the 16 registers of AVX2.
inline constexpr std::int64_t kDwTile = 8;

/// Pixels summed in T before each tap's sum is added into double (backward-weight).
inline constexpr std::int64_t kDwRunPixels = 256;

/// Taps per pass over dy in backward-weight: dy's vector is loaded once per pixel for this many
/// taps, each an independent chain of multiply-adds.
inline constexpr std::int64_t kDwTapGroup = 8;

/// Whether the channels-in-lanes kernels can take g: one output per input channel (the models'
/// depthwise layers). Depth multipliers of 2-4 stay with depthwise_kernels.hpp.
inline constexpr bool depthwise_lanes_applies(const ConvGeometry& g) { return g.depthwise() && g.coutg() == 1; }

/// Where depthwise_kernels.hpp's row-vectorised loops stay (no phase planes at stride 1, whole
/// vectors along long rows, each plane read and written in order): the forward of output rows of
/// 32 and more at stride 1, and the backward-data of input rows of 64 and more. There the
/// transposes out to 16 planes at once cost more than the lanes save (docs/performance.md, step 18).
inline constexpr std::int64_t kDwRowKernelForward = 32, kDwRowKernelBackwardData = 64;

/// Which depthwise kernel each pass takes: the channels-in-lanes one where it measured faster.
inline constexpr bool depthwise_lanes_forward_preferred(const ConvGeometry& g) {
    return depthwise_lanes_applies(g) && (g.sh > 1 || g.sw > 1 || g.wo < kDwRowKernelForward);
}
inline constexpr bool depthwise_lanes_backward_data_preferred(const ConvGeometry& g) {
    return depthwise_lanes_applies(g) && g.w < kDwRowKernelBackwardData;
}
inline constexpr bool depthwise_lanes_backward_weight_preferred(const ConvGeometry& g) {
    return depthwise_lanes_applies(g);
}

/// The padded block of one image's L channels: [hp][wp][L], the input at row ph and column pw.
/// Every tap's read lies inside: ho = (h + 2 ph - (kh - 1) dh - 1) / sh + 1 (rounded down) gives
/// (ho - 1) sh + (kh - 1) dh < h + 2 ph, and likewise for the columns.
struct DwBlockLayout {
    std::int64_t hp = 0, wp = 0;
    explicit DwBlockLayout(const ConvGeometry& g) : hp(g.h + 2 * g.ph), wp(g.w + 2 * g.pw) {}
    std::int64_t size(std::int64_t lanes) const { return hp * wp * lanes; }
};

/// w [C, 1, kh, kw] as [block][tap][L] (zeros past C): one aligned vector per (block, tap).
template <typename T>
std::vector<T> pack_dw_weights(const ConvGeometry& g, const T* w) {
    constexpr std::int64_t L = simd::kLanes<T>;
    const std::int64_t kk = g.kk(), blocks = ceil_div(g.c_in, L);
    std::vector<T> packed(std::size_t(blocks * kk * L), T(0));
    for (std::int64_t c = 0; c < g.c_in; ++c)
        for (std::int64_t t = 0; t < kk; ++t) packed[std::size_t(((c / L) * kk + t) * L + c % L)] = w[c * kk + t];
    return packed;
}

/// dst[pixel dst_step + c] = src[c plane_pitch + pixel] for pixel < pixels, c < channels (<= L):
/// a block of channel planes to pixel-major, 16 pixels at a time (copy_to_planes' register
/// transposes).
template <typename T>
void planes_to_lanes(const T* src, std::int64_t plane_pitch, std::int64_t pixels, std::int64_t channels, T* dst,
                     std::int64_t dst_step) {
    for (std::int64_t p0 = 0; p0 < pixels; p0 += 16)
        copy_to_planes(src + p0, plane_pitch, channels, std::min<std::int64_t>(16, pixels - p0), dst + p0 * dst_step,
                       dst_step, false);
}

/// Lays rows [ih0, ih1) of one image's block of `channels` planes [h, w] into xb's interior (the
/// padding stays as the caller cleared it).
template <typename T>
void fill_dw_rows(const ConvGeometry& g, const DwBlockLayout& lay, const T* x, std::int64_t channels, T* xb,
                  std::int64_t ih0, std::int64_t ih1) {
    constexpr std::int64_t L = simd::kLanes<T>;
    if (g.pw == 0) {  // rows back to back: one run
        planes_to_lanes(x + ih0 * g.w, g.hw(), (ih1 - ih0) * g.w, channels, xb + (ih0 + g.ph) * lay.wp * L, L);
        return;
    }
    for (std::int64_t ih = ih0; ih < ih1; ++ih)
        planes_to_lanes(x + ih * g.w, g.hw(), g.w, channels, xb + ((ih + g.ph) * lay.wp + g.pw) * L, L);
}

/// The input rows that output rows [0, oh] read: up to (not including) the returned row.
inline std::int64_t dw_rows_read(const ConvGeometry& g, std::int64_t oh) {
    return std::clamp<std::int64_t>(oh * g.sh + (g.kh - 1) * g.dh - g.ph + 1, 0, g.h);
}

/// R outputs of one row: out[r] = init (L values) + sum_{i < taps} wb[woff[i]] src[r step + off[i]],
/// the taps in order (wb[woff[i]]: the L weights of tap i).
template <typename T, std::int64_t R>
inline void dw_tap_tile(const T* src, std::int64_t step, const std::int64_t* off, const T* wb, const std::int64_t* woff,
                        std::int64_t taps, const T* init, T* out, std::int64_t out_step) {
    using Vec = simd::Vec<T>;
    Vec acc[R];
    for (std::int64_t r = 0; r < R; ++r) acc[r] = simd::load<Vec>(init);
    for (std::int64_t i = 0; i < taps; ++i) {
        const Vec w = simd::load<Vec>(wb + woff[i]);
        const T* s = src + off[i];
        for (std::int64_t r = 0; r < R; ++r) acc[r] += w * simd::load<Vec>(s + r * step);
    }
    for (std::int64_t r = 0; r < R; ++r) simd::store(out + r * out_step, acc[r]);
}

/// dw_tap_tile over `count` outputs: tiles of kDwTile, the rest in tiles of 4, 2 and 1.
template <typename T>
inline void dw_tap_row(const T* src, std::int64_t step, const std::int64_t* off, const T* wb, const std::int64_t* woff,
                       std::int64_t taps, const T* init, std::int64_t count, T* out, std::int64_t out_step) {
    std::int64_t r = 0;
    for (; r + kDwTile <= count; r += kDwTile)
        dw_tap_tile<T, kDwTile>(src + r * step, step, off, wb, woff, taps, init, out + r * out_step, out_step);
    if (r + 4 <= count)
        dw_tap_tile<T, 4>(src + r * step, step, off, wb, woff, taps, init, out + r * out_step, out_step), r += 4;
    if (r + 2 <= count)
        dw_tap_tile<T, 2>(src + r * step, step, off, wb, woff, taps, init, out + r * out_step, out_step), r += 2;
    if (r < count) dw_tap_tile<T, 1>(src + r * step, step, off, wb, woff, taps, init, out + r * out_step, out_step);
}

/// y = depthwise conv(x, w) + b for Coutg = 1; x [N, C, H, W], w [C, 1, kh, kw], b [C] or null,
/// y [N, C, Ho, Wo], contiguous. Task: (image, block of L channels).
template <typename T>
void depthwise_lanes_forward(const ConvGeometry& g, const T* x, const T* w, const T* b, T* y) {
    constexpr std::int64_t L = simd::kLanes<T>;
    const DwBlockLayout lay(g);
    const std::int64_t kk = g.kk(), P = g.p(), blocks = ceil_div(g.c_in, L);
    const std::vector<T> wp = pack_dw_weights(g, w);
    std::vector<T> bias(std::size_t(blocks * L), T(0));
    if (b) std::copy_n(b, g.c_in, bias.begin());
    // tap t: where it reads in xb from the output's first read, and where its weights are in a block
    std::vector<std::int64_t> off(static_cast<std::size_t>(kk)), woff(static_cast<std::size_t>(kk));
    for (std::int64_t t = 0; t < kk; ++t) {
        off[std::size_t(t)] = ((t / g.kw) * g.dh * lay.wp + (t % g.kw) * g.dw) * L;
        woff[std::size_t(t)] = t * L;
    }
    parallel_for(0, g.n * blocks, items_per_task(P * kk * L), [&](std::int64_t t0, std::int64_t t1) {
        T* xb = scratch<T>(lay.size(L) + P * L);
        T* yb = xb + lay.size(L);
        std::fill_n(xb, lay.size(L), T(0));  // the padding, the same for every block
        for (std::int64_t t = t0; t < t1; ++t) {
            const std::int64_t n = t / blocks, blk = t % blocks, c0 = blk * L, channels = std::min(L, g.c_in - c0);
            if (channels < L) std::fill_n(xb, lay.size(L), T(0));  // lanes past C: zeros, not stale values
            const T* xp = x + (n * g.c_in + c0) * g.hw();
            T* yp = y + (n * g.c_out + c0) * P;
            const bool by_row = g.wo % 16 == 0;  // each output row transposed out while it is in L1
            std::int64_t filled = 0;  // input rows laid out so far: each just before the first output row that reads it
            for (std::int64_t oh = 0; oh < g.ho; ++oh) {
                if (const std::int64_t need = dw_rows_read(g, oh); need > filled)
                    fill_dw_rows(g, lay, xp, channels, xb, filled, need), filled = need;
                T* out = by_row ? yb : yb + oh * g.wo * L;
                dw_tap_row(xb + oh * g.sh * lay.wp * L, g.sw * L, off.data(), wp.data() + blk * kk * L, woff.data(), kk,
                           bias.data() + c0, g.wo, out, L);
                if (by_row) copy_to_planes(yb, L, g.wo, channels, yp + oh * g.wo, P, false);
            }
            if (!by_row) copy_to_planes(yb, L, P, channels, yp, P, false);
        }
    });
}

/// dx = the adjoint of depthwise_lanes_forward applied to dy; dx [N, C, H, W] overwritten.
/// Task: (image, block of L channels).
template <typename T>
void depthwise_lanes_backward_data(const ConvGeometry& g, const T* dy, const T* w, T* dx) {
    constexpr std::int64_t L = simd::kLanes<T>;
    const std::int64_t kk = g.kk(), P = g.p(), blocks = ceil_div(g.c_in, L);
    const std::vector<T> wp = pack_dw_weights(g, w);
    // dy's rows with zero columns around: ow from -pad_left to wo + pad_right, every shifted read
    // of a tile inside. A column iw of phase e reads ow = m + shift with m = (iw + pw - e) / sw
    // and shift = (e - kj dw) / sw in [-(kw - 1) dw / sw, 0]; m reaches (w - 1 + pw) / sw.
    const std::int64_t pad_left = ((g.kw - 1) * g.dw) / g.sw + 1;
    const std::int64_t m_end = (g.w - 1 + g.pw) / g.sw + 1;
    const std::int64_t pad_right = std::max<std::int64_t>(0, m_end - g.wo) + 1;
    const std::int64_t row_len = pad_left + g.wo + pad_right;
    // The taps of each (input row ih, column phase e), worked out once for every block: where each
    // reads in dyb from the row's first column of that phase, and which weights it takes.
    struct PhaseRow {
        std::int64_t iw0 = 0, count = 0, first = 0,
                     taps = 0;  // columns iw0, iw0 + sw, ... (count); taps [first, first + taps)
    };
    std::vector<PhaseRow> rows(static_cast<std::size_t>(g.h * g.sw));
    std::vector<std::int64_t> off, woff;
    for (std::int64_t ih = 0; ih < g.h; ++ih)
        for (std::int64_t e = 0; e < g.sw; ++e) {
            // the columns of phase e: iw = m sw + e - pw for m from m0 on
            PhaseRow& pr = rows[std::size_t(ih * g.sw + e)];
            const std::int64_t m0 = ceil_div(std::max<std::int64_t>(0, g.pw - e), g.sw);
            pr.iw0 = m0 * g.sw + e - g.pw;
            pr.count = pr.iw0 < g.w ? ceil_div(g.w - pr.iw0, g.sw) : 0;
            pr.first = std::int64_t(off.size());
            for (std::int64_t ki = 0; ki < g.kh; ++ki) {
                const std::int64_t r = ih + g.ph - ki * g.dh;  // = oh sh for the dy row oh this kernel row reads
                if (r < 0 || r % g.sh != 0 || r / g.sh >= g.ho) continue;
                for (std::int64_t kj = 0; kj < g.kw; ++kj) {
                    const std::int64_t c = e - kj * g.dw;  // column of phase e, tap kj: ow = m + c / sw
                    if (((c % g.sw) + g.sw) % g.sw != 0) continue;
                    off.push_back(((r / g.sh) * row_len + pad_left + m0 + c / g.sw) * L);
                    woff.push_back((ki * g.kw + kj) * L);
                }
            }
            pr.taps = std::int64_t(off.size()) - pr.first;
        }
    parallel_for(0, g.n * blocks, items_per_task(g.hw() * kk * L), [&](std::int64_t t0, std::int64_t t1) {
        T* dyb = scratch<T>((g.ho * row_len + g.hw()) * L);
        T* dxb = dyb + g.ho * row_len * L;
        std::fill_n(dyb, g.ho * row_len * L, T(0));  // the columns around the rows
        const T zero[L] = {};
        for (std::int64_t t = t0; t < t1; ++t) {
            const std::int64_t n = t / blocks, blk = t % blocks, c0 = blk * L, channels = std::min(L, g.c_in - c0);
            if (channels < L) std::fill_n(dyb, g.ho * row_len * L, T(0));
            const T* dyp = dy + (n * g.c_out + c0) * P;
            T* dxp = dx + (n * g.c_in + c0) * g.hw();
            const T* wb = wp.data() + blk * kk * L;
            const bool by_row = g.w % 16 == 0;  // each dx row transposed out while it is in L1
            std::int64_t filled = 0;            // dy rows laid out so far, each just before it is read
            for (std::int64_t ih = 0; ih < g.h; ++ih) {
                for (const std::int64_t need = std::min(g.ho, (ih + g.ph) / g.sh + 1); filled < need; ++filled)
                    planes_to_lanes(dyp + filled * g.wo, P, g.wo, channels, dyb + (filled * row_len + pad_left) * L, L);
                T* row = by_row ? dxb : dxb + ih * g.w * L;
                for (std::int64_t e = 0; e < g.sw; ++e) {
                    const PhaseRow& pr = rows[std::size_t(ih * g.sw + e)];
                    dw_tap_row(dyb, L, off.data() + pr.first, wb, woff.data() + pr.first, pr.taps, zero, pr.count,
                               row + pr.iw0 * L, g.sw * L);
                }
                if (by_row) copy_to_planes(row, L, g.w, channels, dxp + ih * g.w, g.hw(), false);
            }
            if (!by_row) copy_to_planes(dxb, L, g.hw(), channels, dxp, g.hw(), false);
        }
    });
}

/// acc[i] += sum over `rows` rows of `count` pixels of dy[(row count + r) L] src[row src_pitch + r step + off[i]]
/// for the kGroup taps i: the sum over the pixels in T (from zero), then added into acc's L doubles.
template <std::int64_t kGroup, typename T>
inline void dw_tap_dots(const T* dy, const T* src, std::int64_t step, std::int64_t src_pitch, const std::int64_t* off,
                        std::int64_t rows, std::int64_t count, double* acc) {
    using Vec = simd::Vec<T>;
    using VecD = simd::Vec<double>;
    constexpr std::int64_t L = simd::kLanes<T>, LD = simd::kLanes<double>;
    Vec part[kGroup] = {};
    for (std::int64_t row = 0; row < rows; ++row, dy += count * L, src += src_pitch)
        for (std::int64_t r = 0; r < count; ++r) {
            const Vec d = simd::load<Vec>(dy + r * L);
            const T* s = src + r * step;
            for (std::int64_t i = 0; i < kGroup; ++i) part[i] += d * simd::load<Vec>(s + off[i]);
        }
    for (std::int64_t i = 0; i < kGroup; ++i) {
        T lanes[L];
        simd::store(lanes, part[i]);
        for (std::int64_t k = 0; k < L; k += LD) {
            double* a = acc + i * L + k;
            simd::store(a, simd::load<VecD>(a) + simd::load_as_double(lanes + k));
        }
    }
}

/// dw_tap_dots for the last `rest` taps (rest < kG), the group's size a template argument.
template <std::int64_t kG, typename T>
inline void dw_tap_dots_rest(std::int64_t rest, const T* dy, const T* src, std::int64_t step, std::int64_t src_pitch,
                             const std::int64_t* off, std::int64_t rows, std::int64_t count, double* acc) {
    if constexpr (kG > 0) {
        if (rest == kG)
            dw_tap_dots<kG>(dy, src, step, src_pitch, off, rows, count, acc);
        else
            dw_tap_dots_rest<kG - 1>(rest, dy, src, step, src_pitch, off, rows, count, acc);
    }
}

/// dw_tap_dots over all kk taps, kDwTapGroup (or the rest) at a time.
template <typename T>
void dw_tap_dots_all(const T* dy, const T* src, std::int64_t step, std::int64_t src_pitch, const std::int64_t* off,
                     std::int64_t kk, std::int64_t rows, std::int64_t count, double* acc) {
    constexpr std::int64_t L = simd::kLanes<T>;
    std::int64_t t = 0;
    for (; t + kDwTapGroup <= kk; t += kDwTapGroup)
        dw_tap_dots<kDwTapGroup>(dy, src, step, src_pitch, off + t, rows, count, acc + t * L);
    dw_tap_dots_rest<kDwTapGroup - 1>(kk - t, dy, src, step, src_pitch, off + t, rows, count, acc + t * L);
}

/// Image parts for the weight gradient: enough (block, part) tasks for 16 threads where the
/// blocks alone are fewer, never more parts than images. A function of the sizes only.
inline std::int64_t dw_image_parts(std::int64_t blocks, std::int64_t n) {
    return std::clamp<std::int64_t>(ceil_div(16, blocks), 1, std::max<std::int64_t>(n, 1));
}

/// dw = sum over images of dy x (see the header comment); x [N, C, H, W], dy [N, C, Ho, Wo],
/// dw [C, 1, kh, kw] overwritten. Task: (block of L channels, part of the images).
template <typename T>
void depthwise_lanes_backward_weight(const ConvGeometry& g, const T* x, const T* dy, T* dw) {
    constexpr std::int64_t L = simd::kLanes<T>;
    const DwBlockLayout lay(g);
    const std::int64_t kk = g.kk(), P = g.p(), blocks = ceil_div(g.c_in, L);
    const std::int64_t parts = dw_image_parts(blocks, g.n), per_part = ceil_div(g.n, parts);
    std::vector<double> acc(std::size_t(blocks * parts * kk * L), 0.0);  // [block][part][tap][L]
    std::vector<std::int64_t> off(static_cast<std::size_t>(kk));
    for (std::int64_t t = 0; t < kk; ++t) off[std::size_t(t)] = ((t / g.kw) * g.dh * lay.wp + (t % g.kw) * g.dw) * L;
    // rows per run of at most kDwRunPixels pixels (one row where a row is longer)
    const std::int64_t run_rows = std::max<std::int64_t>(1, kDwRunPixels / std::max<std::int64_t>(g.wo, 1));
    parallel_for(0, blocks * parts, 1, [&](std::int64_t t0, std::int64_t t1) {
        // xb: the input block; dyb: one run of dy's rows. Both are laid out just before they are
        // read: the input rows up to the last one the run reads, dy's rows of the run.
        T* xb = scratch<T>(lay.size(L) + run_rows * g.wo * L);
        T* dyb = xb + lay.size(L);
        std::fill_n(xb, lay.size(L), T(0));
        for (std::int64_t t = t0; t < t1; ++t) {
            const std::int64_t blk = t / parts, part = t % parts, c0 = blk * L, channels = std::min(L, g.c_in - c0);
            double* a = acc.data() + t * kk * L;
            if (channels < L) std::fill_n(xb, lay.size(L) + run_rows * g.wo * L, T(0));
            for (std::int64_t n = part * per_part; n < std::min(g.n, (part + 1) * per_part); ++n) {
                const T* xp = x + (n * g.c_in + c0) * g.hw();
                const T* dyp = dy + (n * g.c_out + c0) * P;
                std::int64_t filled = 0;  // input rows laid out so far
                for (std::int64_t oh0 = 0; oh0 < g.ho; oh0 += run_rows) {
                    const std::int64_t rows = std::min(run_rows, g.ho - oh0);
                    if (const std::int64_t need = dw_rows_read(g, oh0 + rows - 1); need > filled)
                        fill_dw_rows(g, lay, xp, channels, xb, filled, need), filled = need;
                    planes_to_lanes(dyp + oh0 * g.wo, P, rows * g.wo, channels, dyb, L);
                    dw_tap_dots_all(dyb, xb + oh0 * g.sh * lay.wp * L, g.sw * L, g.sh * lay.wp * L, off.data(), kk,
                                    rows, g.wo, a);
                }
            }
        }
    });
    for (std::int64_t blk = 0; blk < blocks; ++blk)
        for (std::int64_t c = blk * L; c < std::min(g.c_in, (blk + 1) * L); ++c)
            for (std::int64_t t = 0; t < kk; ++t) {
                double sum = 0;
                for (std::int64_t part = 0; part < parts; ++part)
                    sum += acc[std::size_t(((blk * parts + part) * kk + t) * L + c % L)];
                dw[c * kk + t] = T(sum);
            }
}

}  // namespace fbseg::cpu::conv
