// fbseg/ops/cpu/lanes_conv_kernels.hpp - the direct convolution with the output channels in the
// vector lanes: the tile of oneDNN's channels_last kernels, on fbseg's NCHW tensors.
//
// Notation as in direct_conv_kernels.hpp: the input's phase planes at the flat pitch ws, and
//     y[co, p] = b[co] + sum_{c, t} w[co, c, t] phase_{c,t}[q(p) + off_t]
// for every valid output pixel p = oh wo + ow, whose flat position is q(p) = oh ws + ow.
//
// direct_conv_kernels.hpp puts pixels in the lanes: 3 vectors of 16 consecutive flat positions,
// loaded from the planes at each tap's offset (loads that straddle two cache lines for 15 taps
// of 16), and the columns past wo computed and dropped (an 8 x 8 plane computes 96 positions for
// 64 pixels). Here a register tile is 6 valid pixels x 4 vectors of output channels (12 x 2 for
// layers of 32 outputs): per (c, t), the aligned vectors of packed weights are loaded and each
// pixel's plane value is broadcast against them, 24 multiply-adds per 4 + 6 loads with AVX-512,
// and only valid pixels are computed (a tile may run on into the next row: each pixel has its
// own offset q(p)). The weights are packed [block][c][t][block rows], a block being the tile's
// vectors of output channels.
//
// The tile's results are pixel-major, [p][co]. A task writes them to a buffer and copies its
// block of output channels into y's planes at the end, one channel's run of pixels at a time.
// The sum over (c, t) is cut into chunks of kDirectChunk terms, each added to the buffer, in
// order: the results do not depend on the number of threads.
#pragma once

#include <algorithm>
#include <cstdint>
#include <type_traits>
#include <vector>

#if defined(__AVX512F__) || defined(__AVX2__) || defined(__SSE2__)
#include <immintrin.h>
#endif

#include "fbseg/core/parallel.hpp"
#include "fbseg/ops/cpu/conv_common.hpp"
#include "fbseg/ops/cpu/phase_planes.hpp"
#include "fbseg/ops/cpu/simd.hpp"
#include "fbseg/ops/functors/unary.hpp"
#include "fbseg/ops/geometry/conv.hpp"

namespace fbseg::cpu::conv {

/// Register tiles: 4 vectors of output channels x 6 pixels, or for layers with a multiple of 2
/// vectors but not of 4 (32 float outputs), 2 x 12: 24 of AVX-512's 32 registers either way, with
/// the weights' vectors and the broadcast beside them.
template <std::int64_t V>
inline constexpr std::int64_t kLanesPixels = V == 4 ? 6 : 12;

/// Pixels per group when a task's results are copied into y's planes (64 x 64 values: 16 KiB).
inline constexpr std::int64_t kTransposePixels = 64;

/// Vectors of output channels per block for g's c_out (4 or 2), or 0: not a whole number of blocks.
template <typename T>
inline constexpr std::int64_t lanes_vectors(const ConvGeometry& g) {
    constexpr std::int64_t L = simd::kLanes<T>;
    return g.c_out % (4 * L) == 0 ? 4 : g.c_out % (2 * L) == 0 ? 2 : 0;
}

#ifndef FBSEG_LANES_WEIGHT_BYTES
#define FBSEG_LANES_WEIGHT_BYTES 32768
#endif
/// Input channels per chunk of the sum: the chunk's packed weights of one block (taps x rows per
/// channel) fit in L1, and every tile of a task reads them from there.
template <typename T>
inline std::int64_t lanes_chunk_channels(std::int64_t taps, std::int64_t rows) {
    return std::max<std::int64_t>(1, FBSEG_LANES_WEIGHT_BYTES / std::int64_t(sizeof(T)) / (taps * rows));
}

/// One register tile: for m < M, r < V lanes,
///   out[m][r] = init[m][r] + sum_{c < channels, t < taps} wp[(c taps + t) rows + r] src_c[qoff[m] + tap_offset[t]]
/// with src_c = planes + c channel_stride, the sum taken from zero in registers; init is the bias
/// (init_step 0) or out itself (the previous chunks' sums, init_step = rows).
template <typename T, std::int64_t V, std::int64_t M>
inline void lanes_tile(const T* planes, std::int64_t channel_stride, const std::int64_t* tap_offset, std::int64_t taps,
                       std::int64_t channels, const T* wp, const std::int64_t* qoff, const T* init,
                       std::int64_t init_step, T* out) {
    using Vec = simd::Vec<T>;
    constexpr std::int64_t L = simd::kLanes<T>, R = V * L;
    Vec acc[M][V];
    for (std::int64_t m = 0; m < M; ++m)
        for (std::int64_t v = 0; v < V; ++v) acc[m][v] = Vec{};
    const T* px[M];  // each pixel's position in the current channel's planes
    for (std::int64_t m = 0; m < M; ++m) px[m] = planes + qoff[m];
    for (std::int64_t c = 0; c < channels; ++c) {
        for (std::int64_t t = 0; t < taps; ++t, wp += R) {
            const std::int64_t off = tap_offset[t];
            Vec w[V];
            for (std::int64_t v = 0; v < V; ++v) w[v] = simd::load<Vec>(wp + v * L);
            for (std::int64_t m = 0; m < M; ++m) {
                const T x = px[m][off];
                for (std::int64_t v = 0; v < V; ++v) acc[m][v] += x * w[v];
            }
        }
        for (std::int64_t m = 0; m < M; ++m) px[m] += channel_stride;
    }
    for (std::int64_t m = 0; m < M; ++m)
        for (std::int64_t v = 0; v < V; ++v)
            simd::store(out + m * R + v * L, acc[m][v] + simd::load<Vec>(init + m * init_step + v * L));
}

#if defined(__AVX512F__)
/// A 16 x 16 block transposed in registers: out[c][i] = in[i][c]. Pairs of rows interleaved by
/// 32 bits, then by 64, then 128-bit lanes gathered twice: 64 shuffles per 256 values, against
/// a load and a store per value one at a time.
inline void transpose_16x16(__m512 a[16]) {
    __m512 b[16];
    for (int i = 0; i < 8; ++i) {
        b[2 * i] = _mm512_unpacklo_ps(a[2 * i], a[2 * i + 1]);
        b[2 * i + 1] = _mm512_unpackhi_ps(a[2 * i], a[2 * i + 1]);
    }
    // a[4 g + k], k < 4: rows 4g..4g+3 of columns k, k + 4, k + 8, k + 12 (one per 128-bit lane)
    for (int g = 0; g < 4; ++g) {
        a[4 * g + 0] = _mm512_shuffle_ps(b[4 * g], b[4 * g + 2], _MM_SHUFFLE(1, 0, 1, 0));
        a[4 * g + 1] = _mm512_shuffle_ps(b[4 * g], b[4 * g + 2], _MM_SHUFFLE(3, 2, 3, 2));
        a[4 * g + 2] = _mm512_shuffle_ps(b[4 * g + 1], b[4 * g + 3], _MM_SHUFFLE(1, 0, 1, 0));
        a[4 * g + 3] = _mm512_shuffle_ps(b[4 * g + 1], b[4 * g + 3], _MM_SHUFFLE(3, 2, 3, 2));
    }
    for (int k = 0; k < 4; ++k) {
        const __m512 v0 = _mm512_shuffle_f32x4(a[k], a[4 + k], 0x88);
        const __m512 v1 = _mm512_shuffle_f32x4(a[k], a[4 + k], 0xDD);
        const __m512 v2 = _mm512_shuffle_f32x4(a[8 + k], a[12 + k], 0x88);
        const __m512 v3 = _mm512_shuffle_f32x4(a[8 + k], a[12 + k], 0xDD);
        b[k] = _mm512_shuffle_f32x4(v0, v2, 0x88);
        b[k + 8] = _mm512_shuffle_f32x4(v0, v2, 0xDD);
        b[k + 4] = _mm512_shuffle_f32x4(v1, v3, 0x88);
        b[k + 12] = _mm512_shuffle_f32x4(v1, v3, 0xDD);
    }
    for (int i = 0; i < 16; ++i) a[i] = b[i];
}
#endif

#if defined(__AVX2__) && !defined(__AVX512F__)
/// An 8 x 8 block transposed in registers (the AVX2 twin of transpose_16x16): out[c][i] = in[i][c].
inline void transpose_8x8(__m256 a[8]) {
    __m256 b[8];
    for (int i = 0; i < 4; ++i) {
        b[2 * i] = _mm256_unpacklo_ps(a[2 * i], a[2 * i + 1]);
        b[2 * i + 1] = _mm256_unpackhi_ps(a[2 * i], a[2 * i + 1]);
    }
    for (int g = 0; g < 2; ++g) {
        a[4 * g + 0] = _mm256_shuffle_ps(b[4 * g], b[4 * g + 2], _MM_SHUFFLE(1, 0, 1, 0));
        a[4 * g + 1] = _mm256_shuffle_ps(b[4 * g], b[4 * g + 2], _MM_SHUFFLE(3, 2, 3, 2));
        a[4 * g + 2] = _mm256_shuffle_ps(b[4 * g + 1], b[4 * g + 3], _MM_SHUFFLE(1, 0, 1, 0));
        a[4 * g + 3] = _mm256_shuffle_ps(b[4 * g + 1], b[4 * g + 3], _MM_SHUFFLE(3, 2, 3, 2));
    }
    // a[k] (k < 4) holds columns k and k + 4 of rows 0-3, a[4 + k] the same of rows 4-7
    for (int k = 0; k < 4; ++k) {
        b[k] = _mm256_permute2f128_ps(a[k], a[4 + k], 0x20);
        b[k + 4] = _mm256_permute2f128_ps(a[k], a[4 + k], 0x31);
    }
    for (int i = 0; i < 8; ++i) a[i] = b[i];
}
#endif

/// to[r to_pitch + j] = from[j from_pitch + r] for j < n, r < rows <= 16 (max(., 0) with `relu`):
/// a task's pixel-major results copied into y's planes, up to 16 output channels at a time (and
/// the packings of the weights and of dy, and the depthwise kernels' blocks, which are transposes
/// too). to_pitch may be negative. Register transposes of 16 x 16 (AVX-512), 8 x 8 (AVX2) or
/// 4 x 4 (SSE2) blocks where the sizes allow, a value at a time for the rest.
template <typename T>
inline void copy_to_planes(const T* from, std::int64_t from_pitch, std::int64_t n, std::int64_t rows, T* to,
                           std::int64_t to_pitch, bool relu) {
    std::int64_t j0 = 0;
#if defined(__AVX512F__)
    if constexpr (std::is_same_v<T, float>) {
        if (rows == 16 && !relu) {  // whole blocks: no masks, no checks (the depthwise transposes)
            for (; j0 + 16 <= n; j0 += 16) {
                __m512 a[16];
                for (int i = 0; i < 16; ++i) a[i] = _mm512_loadu_ps(from + (j0 + i) * from_pitch);
                transpose_16x16(a);
                for (int c = 0; c < 16; ++c) _mm512_storeu_ps(to + c * to_pitch + j0, a[c]);
            }
        }
        // Fewer than 16 rows: masked loads, and the rows past `rows` are not stored.
        const __mmask16 mask = rows >= 16 ? __mmask16(0xFFFF) : rows <= 0 ? __mmask16(0) : __mmask16((1u << rows) - 1u);
        const __m512 zero = _mm512_setzero_ps();
        for (; rows >= 1 && rows <= 16 && j0 + 16 <= n; j0 += 16) {
            __m512 a[16];
            for (int i = 0; i < 16; ++i) a[i] = _mm512_maskz_loadu_ps(mask, from + (j0 + i) * from_pitch);
            transpose_16x16(a);
            for (std::int64_t c = 0; c < rows; ++c)
                _mm512_storeu_ps(to + c * to_pitch + j0, relu ? _mm512_max_ps(a[c], zero) : a[c]);
        }
    }
#elif defined(__AVX2__)
    if constexpr (std::is_same_v<T, float>) {
        // The AVX2 copy: 8 x 8 blocks (the depthwise kernels' blocks of 8 channels), for 8 or 16 rows.
        if ((rows == 8 || rows == 16) && !relu) {
            for (; j0 + 8 <= n; j0 += 8)
                for (std::int64_t h = 0; h < rows; h += 8) {
                    __m256 a[8];
                    for (int i = 0; i < 8; ++i) a[i] = _mm256_loadu_ps(from + (j0 + i) * from_pitch + h);
                    transpose_8x8(a);
                    for (int c = 0; c < 8; ++c) _mm256_storeu_ps(to + (h + c) * to_pitch + j0, a[c]);
                }
        }
    }
#elif defined(__SSE2__)
    if constexpr (std::is_same_v<T, float>) {
        // The baseline copy: 4 x 4 blocks (the depthwise kernels' blocks of 4 channels), for a
        // multiple of 4 rows.
        if (rows % 4 == 0 && rows > 0 && !relu) {
            for (; j0 + 4 <= n; j0 += 4)
                for (std::int64_t h = 0; h < rows; h += 4) {
                    __m128 a0 = _mm_loadu_ps(from + j0 * from_pitch + h);
                    __m128 a1 = _mm_loadu_ps(from + (j0 + 1) * from_pitch + h);
                    __m128 a2 = _mm_loadu_ps(from + (j0 + 2) * from_pitch + h);
                    __m128 a3 = _mm_loadu_ps(from + (j0 + 3) * from_pitch + h);
                    _MM_TRANSPOSE4_PS(a0, a1, a2, a3);
                    _mm_storeu_ps(to + h * to_pitch + j0, a0);
                    _mm_storeu_ps(to + (h + 1) * to_pitch + j0, a1);
                    _mm_storeu_ps(to + (h + 2) * to_pitch + j0, a2);
                    _mm_storeu_ps(to + (h + 3) * to_pitch + j0, a3);
                }
        }
    }
#endif
    for (std::int64_t r = 0; r < rows; ++r)
        for (std::int64_t j = j0; j < n; ++j) {
            const T v = from[j * from_pitch + r];
            to[r * to_pitch + j] = relu ? unary::Relu{}.forward(v) : v;
        }
}

/// y = conv(x, W) + b (max(., 0) with `relu`), W packed [block][k][V lanes] by
/// pack_direct_weights with rows = V lanes; one group; any kernel, stride, padding and dilation. `planes` holds the
/// phase planes of `images` images from image n0 (as direct_forward_packed builds them: image i at i c_in
/// channel_stride).
template <typename T, std::int64_t V>
void lanes_forward_round(const ConvGeometry& g, const PhasePlan& pp, const T* planes, std::int64_t channel_stride,
                         const std::int64_t* tap_offset, std::int64_t n0, std::int64_t images, const T* packed,
                         const T* bias, T* y, bool relu) {
    constexpr std::int64_t M = kLanesPixels<V>, R = V * simd::kLanes<T>;
    const std::int64_t chunk_channels = lanes_chunk_channels<T>(g.kk(), R);
    const std::int64_t P = g.p(), taps = g.kk(), k = g.c_in * taps, blocks = ceil_div(g.c_out, R);
    // Pixels per task: its share of the planes (~ its rows of every channel) in L2.
    const std::int64_t wanted =
        std::max<std::int64_t>(M, ((std::int64_t(1) << 16) / std::max<std::int64_t>(g.c_in, 1)));
    const std::int64_t pixel_tasks = ceil_div(P, ceil_div(wanted, M) * M);
    const std::int64_t per_task = ceil_div(ceil_div(P, pixel_tasks), M) * M;
    const std::int64_t tasks = images * blocks * pixel_tasks;
    parallel_for(0, tasks, 1, [&](std::int64_t t0, std::int64_t t1) {
        T* out = scratch<T>((per_task + M) * R);
        std::int64_t qoff[M];
        // qoff[m] = q(p + m) for the tile starting at pixel p, stepped along the rows (no divisions
        // per tile); pixels past p1 repeat the last one (computed, not stored)
        const auto offsets = [&](std::int64_t p, std::int64_t p1) {
            std::int64_t oh = p / g.wo, ow = p % g.wo;
            for (std::int64_t m = 0; m < M; ++m) {
                qoff[m] = oh * pp.ws + ow;
                if (p + m + 1 < p1 && ++ow == g.wo) ow = 0, ++oh;
            }
        };
        for (std::int64_t task = t0; task < t1; ++task) {
            const std::int64_t i = task / (blocks * pixel_tasks), bl = task / pixel_tasks % blocks,
                               pt = task % pixel_tasks;
            const std::int64_t p0 = pt * per_task, p1 = std::min(P, p0 + per_task);
            if (p0 >= p1) continue;
            const T* image = planes + i * g.c_in * channel_stride;
            const T* wb = packed + bl * R * k;
            const T* bb = bias + bl * R;
            for (std::int64_t c0 = 0; c0 < g.c_in; c0 += chunk_channels) {
                const std::int64_t cn = std::min(chunk_channels, g.c_in - c0);
                const T* src = image + c0 * channel_stride;
                const T* w = wb + c0 * taps * R;
                for (std::int64_t p = p0; p < p1; p += M) {
                    offsets(p, p1);
                    T* o = out + (p - p0) * R;
                    if (c0 == 0)
                        lanes_tile<T, V, M>(src, channel_stride, tap_offset, taps, cn, w, qoff, bb, 0, o);
                    else
                        lanes_tile<T, V, M>(src, channel_stride, tap_offset, taps, cn, w, qoff, o, R, o);
                }
            }
            // out [pixel][r] -> y's planes, 16 output channels at a time (every block is whole:
            // lanes_vectors); pixels in groups of kTransposePixels, whose R values stay in L1
            constexpr std::int64_t J = kTransposePixels;
            T* yb = y + ((n0 + i) * g.c_out + bl * R) * P + p0;
            for (std::int64_t j0 = 0; j0 < p1 - p0; j0 += J)
                for (std::int64_t r = 0; r < R; r += 16)
                    copy_to_planes(out + j0 * R + r, R, std::min(J, p1 - p0 - j0), std::min<std::int64_t>(16, R - r),
                                   yb + r * P + j0, P, relu);
        }
    });
}

/// lanes_forward_round with the tile of `rows` output channels (4 or 2 vectors).
template <typename T>
void lanes_forward(const ConvGeometry& g, const PhasePlan& pp, const T* planes, std::int64_t channel_stride,
                   const std::int64_t* tap_offset, std::int64_t n0, std::int64_t images, const T* packed, const T* bias,
                   T* y, bool relu, std::int64_t rows) {
    if (rows == 4 * simd::kLanes<T>)
        lanes_forward_round<T, 4>(g, pp, planes, channel_stride, tap_offset, n0, images, packed, bias, y, relu);
    else
        lanes_forward_round<T, 2>(g, pp, planes, channel_stride, tap_offset, n0, images, packed, bias, y, relu);
}

}  // namespace fbseg::cpu::conv
