// fbseg/ops/cpu/winograd_kernels.hpp - stride-1 3x3 convolutions by Winograd's minimal filtering
// F(2x2, 3x3): 16 multiply-adds per 2 x 2 outputs and input channel instead of 36.
//
// Notation as in conv_kernels.hpp; here kh = kw = 3, stride 1, dilation 1, padding 1 (so ho = h,
// wo = w), ho and wo even, one group. The output is cut into 2 x 2 tiles; tile (a, b) covers
// outputs [2a, 2a + 2) x [2b, 2b + 2) and reads the 4 x 4 patch d = xpad[2a .. 2a + 3, 2b .. 2b + 3]
// of the padded input. For one output channel co and input channel c (Lavin and Gray, 2016):
//     U = G g G^T      (4 x 4; g = w[co, c] is 3 x 3)        G   = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1]
//     V = B^T d B      (4 x 4)                               B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]
//     y_tile = A^T [ sum_c U (.) V ] A   (2 x 2; (.) element by element)   A^T = [1 1 1 0; 0 1 -1 -1]
// exactly the 3 x 3 convolution of the patch, in exact arithmetic. Read element by element, the
// sum over c is 16 matrix products, one per position e = (i, j) of the 4 x 4 transforms:
//     M_e [tiles, Cout] = V_e [tiles, Cin] @ U_e [Cin, Cout]
// so the work is 16 Cin Cout multiply-adds per tile against the direct convolution's 36 (per 4
// outputs): 2.25x fewer. B and A hold only 0 and +-1, so the two transforms are additions.
//
// Layout (the lanes tile of lanes_conv_kernels.hpp; with AVX2 and SSE2, whose 16 registers do not
// hold it, a tile of 6 tiles x 2 vectors of output channels):
// - The input's patches come from phase planes (phase_planes.hpp) of a 4 x 4, stride-2 convolution
//   with padding 1: patch element (i, j) of tile (a, b) is phase (i % 2, j % 2) at flat position
//   a ws + b + (i / 2) ws + j / 2, ws = wo / 2 + 1. So for a vector's worth of neighbouring tiles
//   of a tile row (16 with AVX-512) the element is one vector load, and the input transform is
//   additions of whole vectors.
// - Tiles are numbered t = (image th + a) tw + b across the images of a round (th x tw tiles per
//   image); a task takes a block of up to 96 of them and one block of R output channels (64 or
//   32 with AVX-512, 16 with AVX2, 8 with SSE2). It transforms its block's V as [e][c][t] (a run of one tile row at a
//   time), unless the block's V is the one it transformed for its previous task.
// - U is packed once per call as [block][e][c][R], and the products run the lanes tile's register
//   block: 6 tiles x 4 vectors of output channels (12 x 2 for blocks of 32), per (e, c) R / L
//   aligned loads of U (L values per vector) and one broadcast of V per tile, into M [e][t][R].
// - The output transform reads the 16 vectors of one tile and L output channels, writes the
//   2 x 2 outputs pixel-major into two row buffers, and copy_to_planes transposes each output row
//   into y.
// The sum over c runs in chunks (the chunk's U_e in L1), each added to M in order, so results do
// not depend on the number of threads. They differ from the direct convolution's by rounding
// (the transforms add and subtract values before the products; docs/performance.md, step 19).
#pragma once

#include <algorithm>
#include <cstdint>
#include <type_traits>
#include <vector>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "fbseg/core/error.hpp"
#include "fbseg/core/parallel.hpp"
#include "fbseg/ops/cpu/conv_common.hpp"
#include "fbseg/ops/cpu/direct_conv_kernels.hpp"
#include "fbseg/ops/cpu/lanes_conv_kernels.hpp"
#include "fbseg/ops/cpu/phase_planes.hpp"
#include "fbseg/ops/cpu/simd.hpp"
#include "fbseg/ops/functors/unary.hpp"
#include "fbseg/ops/geometry/conv.hpp"

namespace fbseg::cpu::conv {

/// Positions of the 4 x 4 transforms (the matrix products per tile block).
inline constexpr std::int64_t kWinogradPositions = 16;

#ifndef FBSEG_WINOGRAD_MIN_CHANNELS
#define FBSEG_WINOGRAD_MIN_CHANNELS 32
#endif

/// Tiles a call needs at least: with fewer (an 8 x 8 layer at batch 1 has 16), packing the 16 / 9
/// times larger U costs about what the products save.
inline constexpr std::int64_t kWinogradMinTiles = 64;

/// Vectors of output channels per block for g's c_out, or 0: with AVX-512 the lanes tile's (4 or
/// 2: 64 or 32 float outputs); with the 16 registers of AVX2 and SSE2, 2 (16 or 8 float outputs,
/// 12 accumulators).
template <typename T>
inline constexpr std::int64_t winograd_vectors(const ConvGeometry& g) {
#if FBSEG_SIMD_BYTES == 64
    return lanes_vectors<T>(g);
#else
    return g.c_out % (2 * simd::kLanes<T>) == 0 ? 2 : 0;
#endif
}

/// Tiles per register tile, for V vectors of outputs: AVX-512 as the lanes tile (6 x 4 or 12 x 2
/// of its 32 registers), AVX2 and SSE2 6 x 2 of 16.
template <std::int64_t V>
inline constexpr std::int64_t kWinogradTiles = FBSEG_SIMD_BYTES == 64 ? kLanesPixels<V> : 6;

/// The 4 x 4, stride-2 convolution whose phase planes hold g's patches (see the header comment).
inline ConvGeometry winograd_patch_geometry(const ConvGeometry& g) {
    ConvGeometry f = g;
    f.kh = f.kw = 4;
    f.sh = f.sw = 2;
    f.ph = f.pw = 1;
    f.dh = f.dw = 1;
    f.ho = g.ho / 2;
    f.wo = g.wo / 2;
    return f;
}

/// Whether conv::forward (and the stride-1 backward-data pass, as a forward convolution) takes
/// F(2x2, 3x3) for g: whole blocks of outputs (winograd_vectors: 64 or 32 float with AVX-512, 16
/// with AVX2, 8 with SSE2), a 3 x 3 kernel at stride 1 and dilation 1 with padding 1, even output
/// sizes, one group, at least FBSEG_WINOGRAD_MIN_CHANNELS input channels and kWinogradMinTiles
/// tiles. Depends on the sizes and the instruction set only (never the number of threads).
/// FBSEG_CONV_WINOGRAD=0, or FBSEG_CONV_PATH=im2col (direct_path_enabled), turns it off (for
/// comparisons and tests).
template <typename T>
inline bool winograd_preferred(const ConvGeometry& g) {
    static const bool enabled = !env_turns_off("FBSEG_CONV_WINOGRAD");
    return enabled && direct_path_enabled() && winograd_vectors<T>(g) > 0 && g.groups == 1 && g.kh == 3 && g.kw == 3 &&
           g.sh == 1 && g.sw == 1 && g.dh == 1 && g.dw == 1 && g.ph == 1 && g.pw == 1 && g.ho == g.h && g.wo == g.w &&
           g.ho % 2 == 0 && g.wo % 2 == 0 && g.ho > 0 && g.wo > 0 && g.c_in >= FBSEG_WINOGRAD_MIN_CHANNELS &&
           g.n * g.ho * g.wo >= 4 * kWinogradMinTiles;
}

/// The sizes of one Winograd convolution, from the geometry (built once per call).
struct WinogradPlan {
    static constexpr std::int64_t kBlockTiles = 96;     // tiles per task (a multiple of 16, 6 and 12)
    static constexpr std::int64_t kChunkBytes = 16384;  // U_e of one chunk of input channels, in L1
    PhasePlan phases;
    std::int64_t rows = 0;              // output channels per block (64 or 32 float)
    std::int64_t blocks = 0;            // c_out / rows
    std::int64_t channel_stride = 0;    // one input channel's four phase planes
    std::int64_t chunk_channels = 0;    // input channels per chunk of the sum
    std::int64_t images_per_round = 0;  // images whose planes are built at once (as the direct path)
    std::int64_t tap_offset[16] = {};   // patch element (i, j): phase plane and offset, as one offset

    WinogradPlan(const ConvGeometry& g, std::int64_t rows_, std::int64_t value_bytes)
        : phases(winograd_patch_geometry(g)), rows(rows_) {
        blocks = g.c_out / rows;
        channel_stride = phases.phases * phases.phase_stride;
        chunk_channels = std::max<std::int64_t>(1, kChunkBytes / value_bytes / rows);
        images_per_round = std::clamp<std::int64_t>(kDirectRoundValues / (g.c_in * channel_stride), 1, g.n);
        const std::vector<std::int64_t> starts = phases.tap_starts(phases.phase_stride);
        for (std::int64_t t = 0; t < 16; ++t) tap_offset[t] = starts[std::size_t(t)];
    }
    /// Values of the packed weights U.
    std::int64_t packed_weights(const ConvGeometry& g) const { return blocks * kWinogradPositions * g.c_in * rows; }
};

/// g's plan in this copy of the kernels (the lanes tile's block of output channels).
template <typename T>
inline WinogradPlan winograd_plan(const ConvGeometry& g) {
    return WinogradPlan(g, winograd_vectors<T>(g) * simd::kLanes<T>, std::int64_t(sizeof(T)));
}

/// U = G g G^T for one 3 x 3 kernel g (row-major), u row-major 4 x 4; S is T or a vector of T
/// (one kernel per lane).
template <typename S, typename T>
inline void winograd_weight_transform(const S g[9], S u[16]) {
    const T half(0.5);
    S gg[4][3];  // G g
    for (int j = 0; j < 3; ++j) {
        gg[0][j] = g[j];
        gg[1][j] = half * (g[j] + g[3 + j] + g[6 + j]);
        gg[2][j] = half * (g[j] - g[3 + j] + g[6 + j]);
        gg[3][j] = g[6 + j];
    }
    for (int i = 0; i < 4; ++i) {  // (G g) G^T
        u[i * 4 + 0] = gg[i][0];
        u[i * 4 + 1] = half * (gg[i][0] + gg[i][1] + gg[i][2]);
        u[i * 4 + 2] = half * (gg[i][0] - gg[i][1] + gg[i][2]);
        u[i * 4 + 3] = gg[i][2];
    }
}

/// A vector of p[l stride] for l < kLanes<T> (a gather with AVX-512).
template <typename T>
inline simd::Vec<T> load_strided(const T* p, std::int64_t stride) {
    using Vec = simd::Vec<T>;
#if defined(__AVX512F__)
    if constexpr (std::is_same_v<T, float> && sizeof(Vec) == 64) {
        const __m512i index = _mm512_mullo_epi32(
            _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), _mm512_set1_epi32(int(stride)));
        return Vec(_mm512_i32gather_ps(index, p, 4));
    }
#endif
    Vec v;
    for (std::int64_t l = 0; l < simd::kLanes<T>; ++l) v[l] = p[l * stride];
    return v;
}

/// U packed [block][e][c][rows] from w [Cout, Cin, 3, 3]. With `rotated`, w is the weight of the
/// convolution this one is the backward-data pass of (backward_data_as_forward): g's kernel
/// (co, c) is that layer's w[c, co] turned by 180 degrees. Kernels are transformed a vector of
/// output channels at a time (each gathered from w), and each vector of U stored where it goes.
template <typename T>
void pack_winograd_weights(const ConvGeometry& g, const WinogradPlan& plan, const T* w, bool rotated, T* packed) {
    using Vec = simd::Vec<T>;
    constexpr std::int64_t L = simd::kLanes<T>, kChunk = 8;  // input channels per item
    const std::int64_t R = plan.rows, cin = g.c_in, chunks = ceil_div(cin, kChunk);
    // kernel (co, c) at w + co co_step + c c_step, tap j at + j (rotated: + 8 - j)
    const std::int64_t co_step = rotated ? 9 : cin * 9, c_step = rotated ? g.c_out * 9 : 9;
    FBSEG_CHECK(L * co_step < (std::int64_t(1) << 31), "conv2d: ", cin,
                " input channels are too many for the Winograd path's 32-bit gather offsets");
    parallel_for(0, plan.blocks * chunks, items_per_task(kChunk * R * kWinogradPositions),
                 [&](std::int64_t i0, std::int64_t i1) {
                     for (std::int64_t item = i0; item < i1; ++item) {
                         const std::int64_t bl = item / chunks, c0 = item % chunks * kChunk;
                         const std::int64_t c1 = std::min(cin, c0 + kChunk);
                         T* dst = packed + bl * kWinogradPositions * cin * R;
                         for (std::int64_t r = 0; r < R; r += L) {
                             const T* base = w + (bl * R + r) * co_step;
                             for (std::int64_t c = c0; c < c1; ++c) {
                                 Vec k[9], u[16];
                                 for (int j = 0; j < 9; ++j)
                                     k[j] = load_strided(base + c * c_step + (rotated ? 8 - j : j), co_step);
                                 winograd_weight_transform<Vec, T>(k, u);
                                 for (std::int64_t e = 0; e < kWinogradPositions; ++e)
                                     simd::store(dst + (e * cin + c) * R + r, u[e]);
                             }
                         }
                     }
                 });
}

/// V = B^T d B for 16 consecutive tile positions: d[i][j] is a vector of patch element (i, j),
/// loaded from planes + tap_offset[4 i + j]; v[e] is stored at out + e estride.
template <typename T>
inline void winograd_input_transform(const T* planes, const std::int64_t* tap_offset, T* out, std::int64_t estride) {
    using Vec = simd::Vec<T>;
    Vec d[4][4];
    for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 4; ++j) d[i][j] = simd::load<Vec>(planes + tap_offset[4 * i + j]);
    Vec t[4][4];  // B^T d
    for (int j = 0; j < 4; ++j) {
        t[0][j] = d[0][j] - d[2][j];
        t[1][j] = d[1][j] + d[2][j];
        t[2][j] = d[2][j] - d[1][j];
        t[3][j] = d[1][j] - d[3][j];
    }
    for (int i = 0; i < 4; ++i) {  // (B^T d) B
        simd::store(out + (4 * i + 0) * estride, t[i][0] - t[i][2]);
        simd::store(out + (4 * i + 1) * estride, t[i][1] + t[i][2]);
        simd::store(out + (4 * i + 2) * estride, t[i][2] - t[i][1]);
        simd::store(out + (4 * i + 3) * estride, t[i][1] - t[i][3]);
    }
}

/// One register tile of the products (lanes_tile with one tap and consecutive pixels, so one
/// pointer instead of one per pixel): for m < M, r < V lanes,
///   out[m][r] = init[m][r] + sum_{c < channels} wp[c rows + r] src[c cstride + m]
/// the sum taken from zero in registers; init is zero (init_step 0) or out itself (init_step rows).
template <typename T, std::int64_t V, std::int64_t M>
inline void winograd_product_tile(const T* src, std::int64_t cstride, std::int64_t channels, const T* wp, const T* init,
                                  std::int64_t init_step, T* out) {
    using Vec = simd::Vec<T>;
    constexpr std::int64_t L = simd::kLanes<T>, R = V * L;
    Vec acc[M][V];
    for (std::int64_t m = 0; m < M; ++m)
        for (std::int64_t v = 0; v < V; ++v) acc[m][v] = Vec{};
    for (std::int64_t c = 0; c < channels; ++c, wp += R, src += cstride) {
        Vec w[V];
        for (std::int64_t v = 0; v < V; ++v) w[v] = simd::load<Vec>(wp + v * L);
        for (std::int64_t m = 0; m < M; ++m) {
            const T x = src[m];
            for (std::int64_t v = 0; v < V; ++v) acc[m][v] += x * w[v];
        }
    }
    for (std::int64_t m = 0; m < M; ++m)
        for (std::int64_t v = 0; v < V; ++v)
            simd::store(out + m * R + v * L, acc[m][v] + simd::load<Vec>(init + m * init_step + v * L));
}

/// The 2 x 2 outputs of one tile for L output channels: m[e] at mp + e estride, y = A^T m A +
/// bias; output (r, s) of the tile, a vector of L channels, at out_r + s L.
template <typename T>
inline void winograd_output_transform(const T* mp, std::int64_t estride, const T* bias, T* out0, T* out1) {
    using Vec = simd::Vec<T>;
    constexpr std::int64_t L = simd::kLanes<T>;
    Vec s[2][4];  // A^T m
    for (int j = 0; j < 4; ++j) {
        const Vec m0 = simd::load<Vec>(mp + (0 + j) * estride), m1 = simd::load<Vec>(mp + (4 + j) * estride);
        const Vec m2 = simd::load<Vec>(mp + (8 + j) * estride), m3 = simd::load<Vec>(mp + (12 + j) * estride);
        s[0][j] = m0 + m1 + m2;
        s[1][j] = m1 - m2 - m3;
    }
    const Vec b = simd::load<Vec>(bias);
    T* row[2] = {out0, out1};
    for (int r = 0; r < 2; ++r) {
        simd::store(row[r], s[r][0] + s[r][1] + s[r][2] + b);  // (A^T m) A
        simd::store(row[r] + L, s[r][1] - s[r][2] - s[r][3] + b);
    }
}

/// Calls f(i, a, b0, b1, t) for each run of tiles of one tile row within tiles [t0, t1) of a
/// round (tile t = (i th + a) tw + b: image i, tile row a, column b; th x tw tiles per image), t
/// being the run's first tile.
template <typename F>
inline void for_each_tile_run(std::int64_t t0, std::int64_t t1, std::int64_t th, std::int64_t tw, F&& f) {
    for (std::int64_t t = t0; t < t1;) {
        const std::int64_t row = t / tw, b0 = t % tw, b1 = std::min(tw, b0 + (t1 - t));
        f(row / th, row % th, b0, b1, t);
        t += b1 - b0;
    }
}

/// y = conv(x, W) + b (max(., 0) with relu) for the images [n0, n0 + images) whose patch planes
/// `planes` holds (image i at i c_in channel_stride), U packed by pack_winograd_weights. Tasks are
/// (block of kBlockTiles tiles, block of output channels); tiles are numbered across the round's
/// images, without the dropped column, so that small planes (an 8 x 8 layer has 16 tiles per
/// image) still fill whole blocks and each task's U is read for many tiles.
template <typename T, std::int64_t V>
void winograd_forward_round(const ConvGeometry& g, const WinogradPlan& plan, const T* planes, std::int64_t n0,
                            std::int64_t images, const T* packed, const T* bias, T* y, bool relu) {
    constexpr std::int64_t L = simd::kLanes<T>, M = kWinogradTiles<V>, R = V * L, E = kWinogradPositions;
    constexpr std::int64_t QB = WinogradPlan::kBlockTiles, QS = QB + L;  // V's row: a block and one vector's overrun
    static_assert(QB % M == 0 && QB % L == 0);
    const std::int64_t cin = g.c_in, P = g.p(), ws = plan.phases.ws, th = g.ho / 2, tw = g.wo / 2;
    // Blocks of at most QB tiles, as even as whole register tiles allow (128 tiles are 2 x 66, not 96 + 32)
    const std::int64_t tiles = images * th * tw, tile_blocks = ceil_div(tiles, QB);
    const std::int64_t per_block = std::min(QB, ceil_div(ceil_div(tiles, tile_blocks), M) * M);
    const std::int64_t vsize = E * cin * QS, msize = E * QB * R, stage = 2 * 2 * (tw + 1) * L;
    parallel_for(0, tile_blocks * plan.blocks, 1, [&](std::int64_t t0, std::int64_t t1) {
        T* vbuf = scratch<T>(vsize + msize + stage);
        T* mbuf = vbuf + vsize;
        T* sbuf = mbuf + msize;
        std::int64_t v_block = -1;  // the tile block whose V vbuf holds
        for (std::int64_t task = t0; task < t1; ++task) {
            const std::int64_t tb = task / plan.blocks, bl = task % plan.blocks;
            const std::int64_t q0 = tb * per_block, q1 = std::min(tiles, q0 + per_block);
            if (q0 >= q1) continue;
            const std::int64_t nqm = ceil_div(q1 - q0, M) * M;  // the register tiles' reach
            // 1. V of the block's tiles, [e][c][tile - q0]: a run's vectors are stored in order, the
            //    overrun of each (tiles past the run) overwritten by the next run or never read
            if (tb != v_block) {
                for_each_tile_run(
                    q0, q1, th, tw,
                    [&](std::int64_t i, std::int64_t a, std::int64_t b0, std::int64_t b1, std::int64_t t) {
                        const T* src = planes + i * cin * plan.channel_stride + a * ws;
                        for (std::int64_t c = 0; c < cin; ++c)
                            for (std::int64_t b = b0; b < b1; b += L)
                                winograd_input_transform(src + c * plan.channel_stride + b, plan.tap_offset,
                                                         vbuf + c * QS + (t - q0) + (b - b0), cin * QS);
                    });
                for (std::int64_t e = 0; e < E; ++e)  // tiles past the block: zeros, not garbage
                    for (std::int64_t c = 0; c < cin; ++c)
                        std::fill(vbuf + (e * cin + c) * QS + (q1 - q0), vbuf + (e * cin + c) * QS + nqm, T(0));
                v_block = tb;
            }
            // 2. M_e = V_e U_e, in chunks of input channels
            const T* ub = packed + bl * E * cin * R;
            alignas(64) static const T zeros[R] = {};
            for (std::int64_t c0 = 0; c0 < cin; c0 += plan.chunk_channels) {
                const std::int64_t cn = std::min(plan.chunk_channels, cin - c0);
                for (std::int64_t e = 0; e < E; ++e) {
                    const T* src = vbuf + (e * cin + c0) * QS;
                    const T* w = ub + (e * cin + c0) * R;
                    T* m = mbuf + e * QB * R;
                    for (std::int64_t q = 0; q < nqm; q += M) {
                        if (c0 == 0)
                            winograd_product_tile<T, V, M>(src + q, QS, cn, w, zeros, 0, m + q * R);
                        else
                            winograd_product_tile<T, V, M>(src + q, QS, cn, w, m + q * R, R, m + q * R);
                    }
                }
            }
            // 3. y = A^T M A + b, a run of tiles at a time, L output channels at a time: the run's
            //    two output rows pixel-major in sbuf, then transposed into y
            for_each_tile_run(
                q0, q1, th, tw, [&](std::int64_t i, std::int64_t a, std::int64_t b0, std::int64_t b1, std::int64_t t) {
                    T* yb = y + ((n0 + i) * g.c_out + bl * R) * P + 2 * a * g.wo + 2 * b0;
                    T* row1 = sbuf + 2 * (tw + 1) * L;
                    for (std::int64_t r = 0; r < R; r += L) {
                        for (std::int64_t b = b0; b < b1; ++b)
                            winograd_output_transform(mbuf + (t - q0 + b - b0) * R + r, QB * R, bias + bl * R + r,
                                                      sbuf + (b - b0) * 2 * L, row1 + (b - b0) * 2 * L);
                        copy_to_planes(sbuf, L, 2 * (b1 - b0), L, yb + r * P, P, relu);
                        copy_to_planes(row1, L, 2 * (b1 - b0), L, yb + r * P + g.wo, P, relu);
                    }
                });
        }
    });
}

/// y = conv(x, W) + b for g with winograd_preferred(g), W packed by pack_winograd_weights.
template <typename T>
void winograd_forward_packed(const ConvGeometry& g, const T* x, const T* packed, const T* b, T* y, bool relu = false) {
    const WinogradPlan plan = winograd_plan<T>(g);
    const ConvGeometry f = winograd_patch_geometry(g);
    const PhasePlan& pp = plan.phases;
    const SharedBuffer<T> shared(plan.images_per_round * g.c_in * plan.channel_stride);
    T* planes = shared.data();
    std::vector<T> bias(std::size_t(g.c_out), T(0));
    if (b) std::copy_n(b, g.c_out, bias.begin());
    for (std::int64_t n0 = 0; n0 < g.n; n0 += plan.images_per_round) {
        const std::int64_t images = std::min(plan.images_per_round, g.n - n0);
        build_round_planes(f, pp, x, n0, images, plan.channel_stride, planes);
        if (plan.rows == 4 * simd::kLanes<T>)
            winograd_forward_round<T, 4>(g, plan, planes, n0, images, packed, bias.data(), y, relu);
        else
            winograd_forward_round<T, 2>(g, plan, planes, n0, images, packed, bias.data(), y, relu);
    }
}

/// y = conv(x, w) + b for g with winograd_preferred(g); with `rotated`, w is the weight of the
/// convolution this one is the backward-data pass of, and b must be null.
template <typename T>
void winograd_forward(const ConvGeometry& g, const T* x, const T* w, const T* b, T* y, bool rotated = false) {
    const WinogradPlan plan = winograd_plan<T>(g);
    const SharedBuffer<T, 2> packed(plan.packed_weights(g));
    pack_winograd_weights(g, plan, w, rotated, packed.data());
    winograd_forward_packed(g, x, packed.data(), b, y);
}

}  // namespace fbseg::cpu::conv
