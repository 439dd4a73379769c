// fbseg/ops/cpu/direct_conv_kernels.hpp - convolutions (one group, kernels larger than 1x1 or
// strided) without the im2col matrix: a register-blocked matrix product that reads its right-hand
// operand straight from the input's phase planes.
//
// Notation as in conv_kernels.hpp. With the input's phase planes and their flat row pitch ws
// (phase_planes.hpp), every tap t = (ki, kj) of input channel c is one unit-stride run of memory,
// and the whole output plane of channel co is
//     out[co, q] = b[co] + sum_{c, t} w[co, c, t] phase_{c, t}[q + off_t]     q in [0, ho ws)
// (phase_{c,t} is channel c's phase plane of tap t; columns ow >= wo of each row are computed and
// dropped). That is Y = W @ B with B[(c, t), q] = phase_{c,t}[q + off_t]: the im2col matrix, but
// never written down. B's rows are shifted views of the same few planes, so the GEMM reads
// 1 / (kh kw) of what im2col would write, and the threads share one copy of the input (the
// planes) and one packed copy of the weights. A batch-1 layer with a single 8 x 8 plane still
// splits into many tasks (blocks of output channels), which the im2col path could not do without
// building its columns again per block.
//
// The micro-kernel keeps a tile of kRows output channels x kVectors vectors of q in registers
// (8 x 3 with AVX-512: 24 of the 32 registers; 4 x 3 with 16 registers) and, per (c, t), loads
// kVectors vectors of B and broadcasts kRows weights: kRows kVectors multiply-adds per
// kRows + kVectors loads. The weights are packed once per call as [block][c][t][kRows] so that
// those broadcasts read consecutive memory.
//
// Each output is one accumulator summed over (c, t) in order, whatever the task split, so the
// results do not depend on the number of threads.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "fbseg/core/error.hpp"
#include "fbseg/core/parallel.hpp"
#include "fbseg/ops/cpu/conv_common.hpp"
#include "fbseg/ops/cpu/lanes_conv_kernels.hpp"
#include "fbseg/ops/cpu/loops.hpp"
#include "fbseg/ops/cpu/phase_planes.hpp"
#include "fbseg/ops/cpu/simd.hpp"
#include "fbseg/ops/functors/unary.hpp"
#include "fbseg/ops/geometry/conv.hpp"

namespace fbseg::cpu::conv {

/// Output channels and vectors of outputs per register tile, by the number of vector registers
/// (32 with AVX-512, 16 below it).
#if FBSEG_SIMD_BYTES == 64
inline constexpr std::int64_t kDirectRows = 8;
#else
inline constexpr std::int64_t kDirectRows = 4;
#endif
inline constexpr std::int64_t kDirectVectors = 3;

/// Outputs per register tile along q.
template <typename T>
inline constexpr std::int64_t kDirectTileWidth = simd::kLanes<T> * 3;  // kDirectVectors vectors
static_assert(kDirectTileWidth<float> == simd::kLanes<float> * kDirectVectors);
static_assert(kDirectTileWidth<float> <= kTapBlock, "a tile's reads past a plane must stay within its slack");

/// The input values whose planes a direct pass builds at once (a round of images): 16 MiB of
/// float32, or one image if that is more.
inline constexpr std::int64_t kDirectRoundValues = std::int64_t(1) << 22;

/// False when FBSEG_CONV_PATH=im2col ("auto", or unset, is true); anything else is an error.
inline bool direct_path_enabled() {
    static const bool enabled = [] {
        const char* env = std::getenv("FBSEG_CONV_PATH");
        const std::string_view value = env ? env : "";
        FBSEG_CHECK(value.empty() || value == "auto" || value == "im2col", "FBSEG_CONV_PATH is '", value,
                    "', but the convolution paths that can be asked for are 'auto' (the default) and 'im2col'");
        return value != "im2col";
    }();
    return enabled;
}

/// Whether the environment variable `name` is "0": the switches that turn one kernel off for
/// comparisons and tests (FBSEG_CONV_LANES, FBSEG_CONV_WINOGRAD).
inline bool env_turns_off(const char* name) {
    const char* env = std::getenv(name);
    return env && std::string_view(env) == "0";
}

/// Whether the direct path runs the tile with the output channels in the lanes
/// (lanes_conv_kernels.hpp) for g: AVX-512, whole blocks of 64 or 32 output channels (float; 32 or
/// 16 double) and at least 16 input channels (resnet34's 3 -> 64 stem ran 2.2x slower on it).
/// Depends on c_out and the instruction set only, so that weights packed for inference
/// (packed_weights_size) do not depend on the image size. FBSEG_CONV_LANES=0 turns it off.
template <typename T>
inline bool lanes_conv_preferred(const ConvGeometry& g) {
#if FBSEG_SIMD_BYTES < 64
    (void)g;
    return false;
#else
    static const bool enabled = !env_turns_off("FBSEG_CONV_LANES");
    return enabled && lanes_vectors<T>(g) > 0 && g.c_in >= 16;
#endif
}

/// Whether conv::forward takes the direct path for g in this copy of the kernels: the choice
/// measured faster (docs/performance.md, step 7), from the sizes and the instruction set only,
/// never the number of threads.
/// - One group, a kernel larger than 1x1 (a 1x1 layer is a plain matrix product already, or a
///   cheap gather when strided), and rows of W at least 32 long (EfficientNet's 1 -> 32 stem has
///   9: too short a sum to pay for the tile's set-up).
/// - At least 3/4 of the computed columns used, or a single image: an 8 x 8 plane computes
///   ws = 10 columns per row in tiles of 48, so 64 of 96 outputs are kept; at batch 8 the im2col
///   path is faster there, at batch 1 (where it runs on one thread) the direct one.
/// - AVX2 (16 registers, a 4 x 3 tile) only for rows of W up to 1200 long: beyond, Eigen's
///   kernel is faster. Without FMA (the baseline copy) never: Eigen's SSE2 kernel is faster.
/// - FBSEG_CONV_PATH=im2col turns the direct path off ("auto", or unset, leaves the choice
///   above), so that a benchmark can time both paths in one build and the tests can run both.
template <typename T>
inline bool direct_conv_preferred(const ConvGeometry& g) {
#if FBSEG_SIMD_BYTES < 32
    (void)g;
    return false;
#else
    if (!direct_path_enabled() || g.groups != 1 || g.kk() == 1 || g.k() < 32 || g.p() == 0) return false;
    if (lanes_conv_preferred<T>(g)) return true;  // computes valid pixels only
    const std::int64_t ws = g.wo + ((g.kw - 1) * g.dw) / g.sw;
    const std::int64_t computed = ceil_div(g.ho * ws, kDirectTileWidth<T>) * kDirectTileWidth<T>;
    if (g.n > 1 && 4 * g.p() < 3 * computed) return false;
#if FBSEG_SIMD_BYTES == 32
    if (g.k() > 1200) return false;
#endif
    return true;
#endif
}

/// The geometry of backward-data as a forward convolution, for stride 1: dx is the convolution of
/// dy, padded by d (k - 1) - p, with the weights transposed (in <-> out) and rotated 180 degrees:
///   dx[c, ih, iw] = sum_{co, i, j} w[co, c, kh-1-i, kw-1-j] dypad[co, ih + i dh, iw + j dw]
/// Valid (returns true) when the stride is 1, there is one group and p <= d (k - 1).
inline bool backward_data_as_forward(const ConvGeometry& g, ConvGeometry& t) {
    if (g.sh != 1 || g.sw != 1 || g.groups != 1 || g.ph > g.dh * (g.kh - 1) || g.pw > g.dw * (g.kw - 1)) return false;
    t = g;
    t.c_in = g.c_out, t.h = g.ho, t.w = g.wo;
    t.c_out = g.c_in, t.ho = g.h, t.wo = g.w;
    t.ph = g.dh * (g.kh - 1) - g.ph, t.pw = g.dw * (g.kw - 1) - g.pw;
    return true;
}

/// The sum over (c, t) is cut into chunks of about this many terms, each summed from zero in
/// registers and then added to the output (as Eigen's GEMM does with its depth blocks): a float32
/// sum of n terms in one accumulator drifts by ~n rounding errors, in chunks by ~kChunk + n /
/// kChunk. Each chunk starts the tile over (accumulators zeroed, then loaded from, added to and
/// stored back into the output rows): 1,024 took 0.93-0.98x the time of 256 on the direct layers
/// (docs/performance.md, step 15).
inline constexpr std::int64_t kDirectChunk = 1024;

/// One register tile: for r < kDirectRows, j < kDirectTileWidth,
///   s[r, j] = sum_{c < channels, t < taps} wp[(c taps + t) kDirectRows + r] src_{c,t}[j]
/// with src_{c,t} = planes + c channel_stride + tap_offset[t], then out[r, j] = bias[r] + s[r, j]
/// (first chunk) or out[r, j] += s[r, j] (the next ones); out has row pitch out_pitch.
template <typename T>
inline void direct_tile(const T* planes, std::int64_t channel_stride, const std::int64_t* tap_offset, std::int64_t taps,
                        std::int64_t channels, const T* wp, const T* bias, bool first, T* out, std::int64_t out_pitch) {
    using Vec = simd::Vec<T>;
    constexpr std::int64_t R = kDirectRows, V = kDirectVectors, L = simd::kLanes<T>;
    Vec acc[R][V] = {};
    for (std::int64_t c = 0; c < channels; ++c, planes += channel_stride) {
        for (std::int64_t t = 0; t < taps; ++t, wp += R) {
            const T* s = planes + tap_offset[t];
            Vec b[V];
            for (std::int64_t v = 0; v < V; ++v) b[v] = simd::load<Vec>(s + v * L);
            for (std::int64_t r = 0; r < R; ++r) {
                const T a = wp[r];
                for (std::int64_t v = 0; v < V; ++v) acc[r][v] += a * b[v];
            }
        }
    }
    for (std::int64_t r = 0; r < R; ++r) {
        for (std::int64_t v = 0; v < V; ++v) {
            T* o = out + r * out_pitch + v * L;
            simd::store(o, acc[r][v] + (first ? Vec{} + bias[r] : simd::load<Vec>(o)));
        }
    }
}

/// How one direct convolution is cut into tasks and buffers; sizes only, never the thread count.
struct DirectPlan {
    // log2 of the values a task's share of the planes and of the weights hold
    static constexpr int kPlaneBudget = 16, kWeightBudget = 16;
    PhasePlan phases;
    std::int64_t taps = 0, k = 0;          // kh kw, and Cin kh kw (one row of W)
    std::int64_t channel_stride = 0;       // one input channel's phase planes
    std::int64_t block_rows = 0;           // output channels per block: kDirectRows, or the lanes tile's
    bool lanes = false;                    // the tile with output channels in the lanes (lanes_conv_kernels.hpp)
    std::int64_t blocks = 0;               // blocks of block_rows output channels (the last zero-padded)
    std::int64_t blocks_per_task = 0;      // output-channel blocks one task computes
    std::int64_t tile_width = 0;           // kDirectTileWidth<T>
    std::int64_t tiles = 0;                // register tiles covering the flat output [0, out_len)
    std::int64_t tiles_per_task = 0;       // register tiles one task computes
    std::int64_t images_per_round = 0;     // images whose planes are built at once
    std::int64_t chunk_channels = 0;       // input channels per chunk of the sum (kDirectChunk terms)
    std::vector<std::int64_t> tap_offset;  // per tap: phase plane and offset, as one offset

    DirectPlan(const ConvGeometry& g, std::int64_t tile_width_, std::int64_t lanes_rows = 0)
        : phases(g), tile_width(tile_width_) {
        taps = g.kk();
        k = g.c_in * taps;
        channel_stride = phases.phases * phases.phase_stride;
        lanes = lanes_rows > 0;
        block_rows = lanes ? lanes_rows : kDirectRows;
        blocks = ceil_div(g.c_out, block_rows);
        tiles = ceil_div(phases.out_len, tile_width);
        chunk_channels = std::max<std::int64_t>(1, kDirectChunk / taps);
        tap_offset = phases.tap_starts(phases.phase_stride);
        // A task's share of the planes (its tiles' columns of every channel, ~ (tiles_per_task
        // tile_width + the taps' reach) c_in values) and of the packed weights (kDirectRows k
        // per block) should stay in the 1-2 MiB L2 cache while the task runs.
        const std::int64_t reach = phases.max_off + tile_width;
        const std::int64_t columns =
            std::max<std::int64_t>(tile_width, (std::int64_t(1) << kPlaneBudget) / g.c_in - reach);
        tiles_per_task = std::clamp<std::int64_t>(columns / tile_width, 1, tiles);
        tiles_per_task = ceil_div(tiles, ceil_div(tiles, tiles_per_task));  // even shares
        blocks_per_task = std::clamp<std::int64_t>((std::int64_t(1) << kWeightBudget) / (kDirectRows * k), 1, blocks);
        blocks_per_task = ceil_div(blocks, ceil_div(blocks, blocks_per_task));
        images_per_round = std::clamp<std::int64_t>(kDirectRoundValues / (g.c_in * channel_stride), 1, g.n);
    }
    std::int64_t packed_weights() const { return blocks * block_rows * k; }
};

/// The plan of g's direct convolution in this copy of the kernels (lanes_conv_preferred decides the tile).
template <typename T>
inline DirectPlan direct_plan(const ConvGeometry& g) {
    return DirectPlan(g, kDirectTileWidth<T>, lanes_conv_preferred<T>(g) ? lanes_vectors<T>(g) * simd::kLanes<T> : 0);
}

/// packed[b][i][r] = w[b R + r][i] for i < k, zeros for rows past c_out; w [c_out, k]; R rows
/// per block (kDirectRows, or the lanes tile's 32 or 64).
/// With `rotated` (backward-data, see backward_data_as_forward), w is the forward weight
/// [k / kk, c_out, kk] and packed[b][co kk + t][r] = w[co][b R + r][kk - 1 - t].
/// The loop walks i outside and r inside, so the writes are contiguous and the reads are
/// R sequential streams (the first version, r outside, wrote R values apart
/// and measured 2x slower, 7x in the rotated form; at batch 1 the packing was ~9% of a
/// resnet34-unet inference before inference kept it, ops/kernel/packed_weight_cache.hpp).
inline constexpr std::int64_t kMaxPackedRows = 64;  // the lanes tile's 4 vectors of 16 floats

/// dst[i R + r] = src[r][i] for i < k, r < R (zeros for r >= rows); R = kR when kR > 0.
template <std::int64_t kR, typename T>
inline void pack_rows(const T* const* src, std::int64_t k, std::int64_t R, std::int64_t rows, T* dst) {
    const std::int64_t n = kR > 0 ? kR : R;
    for (std::int64_t i = 0; i < k; ++i, dst += n)
        for (std::int64_t r = 0; r < n; ++r) dst[r] = r < rows ? src[r][i] : T(0);
}

template <typename T>
void pack_direct_weights(const T* w, std::int64_t c_out, std::int64_t k, std::int64_t kk, bool rotated,
                         std::int64_t blocks, T* packed, std::int64_t R = kDirectRows) {
    FBSEG_CHECK(R <= kMaxPackedRows, "pack_direct_weights: ", R, " rows per block, at most ", kMaxPackedRows);
    parallel_for(0, blocks, items_per_task(R * k), [&](std::int64_t b0, std::int64_t b1) {
        for (std::int64_t b = b0; b < b1; ++b) {
            T* dst = packed + b * R * k;
            const std::int64_t rows = std::min(R, c_out - b * R);
            if (!rotated && R % 16 == 0 && rows == R) {
                // the lanes tile's whole blocks: 16 x 16 squares of W transposed in registers
                // (the loop below moved one value at a time: ~10% of a 512 -> 512 layer at 8 x 8)
                for (std::int64_t r0 = 0; r0 < R; r0 += 16)
                    for (std::int64_t i0 = 0; i0 < k; i0 += 16)
                        copy_to_planes(w + (b * R + r0) * k + i0, k, 16, std::min<std::int64_t>(16, k - i0),
                                       dst + i0 * R + r0, R, /*relu=*/false);
                continue;
            }
            if (!rotated) {
                const T* src[kMaxPackedRows];
                for (std::int64_t r = 0; r < R; ++r) src[r] = w + (b * R + std::min(r, rows - 1)) * k;
                if (R == kDirectRows)  // the common case with a constant trip count, unrolled
                    pack_rows<kDirectRows>(src, k, R, rows, dst);
                else
                    pack_rows<0>(src, k, R, rows, dst);
                continue;
            }
            // rotated: row i = j kk + t reads w[j][b R + r][kk - 1 - t], j < k / kk
            if (R % 16 == 0 && rows == R) {
                // for each j, the [R][kk] square w[j][b R + r][u] transposed in registers, 16 x 16
                // at a time, into rows t = kk - 1 - u (a negative pitch); one value at a time
                // below, this was ~10% of a 512 -> 512 layer's backward-data at 8 x 8
                for (std::int64_t j = 0; j < k / kk; ++j)
                    for (std::int64_t u0 = 0; u0 < kk; u0 += 16)
                        for (std::int64_t r0 = 0; r0 < R; r0 += 16)
                            copy_to_planes(w + (j * c_out + b * R + r0) * kk + u0, kk, 16,
                                           std::min<std::int64_t>(16, kk - u0), dst + (j * kk + kk - 1 - u0) * R + r0,
                                           -R, /*relu=*/false);
                continue;
            }
            for (std::int64_t j = 0; j < k / kk; ++j)
                for (std::int64_t t = 0; t < kk; ++t, dst += R) {
                    const T* src = w + (j * c_out + b * R) * kk + (kk - 1 - t);
                    for (std::int64_t r = 0; r < R; ++r) dst[r] = r < rows ? src[r * kk] : T(0);
                }
        }
    });
}

/// The phase planes (plan pp, of geometry g) of images [n0, n0 + images) of x, every input
/// channel, channel i of the round at planes + i channel_stride, with zeros in the slack past each
/// plane (which the last tiles read and drop). Shared by the direct and Winograd passes.
template <typename T>
void build_round_planes(const ConvGeometry& g, const PhasePlan& pp, const T* x, std::int64_t n0, std::int64_t images,
                        std::int64_t channel_stride, T* planes) {
    parallel_for(0, images * g.c_in, items_per_task(channel_stride), [&](std::int64_t i0, std::int64_t i1) {
        for (std::int64_t i = i0; i < i1; ++i) {
            T* dst = planes + i * channel_stride;
            build_phase_planes(g, pp, x + (n0 * g.c_in + i) * g.hw(), dst);
            for (std::int64_t p = 0; p < pp.phases; ++p)
                std::fill(dst + p * pp.phase_stride + pp.phase_len, dst + (p + 1) * pp.phase_stride, T(0));
        }
    });
}

/// y = conv(x, W) + b with W already packed by pack_direct_weights (`packed`,
/// DirectPlan::packed_weights() values): direct_forward without its first step, for a caller
/// that keeps the packed weights of a layer between calls (inference:
/// ops/kernel/packed_weight_cache.hpp). With `relu`, y = max(conv(x, W) + b, 0), applied as the
/// tiles are copied to y: the epilogue of an inference convolution (ops/conv.hpp,
/// conv2d_inference), which saves a pass over y.
template <typename T>
void direct_forward_packed(const ConvGeometry& g, const T* x, const T* packed, const T* b, T* y, bool relu = false) {
    const DirectPlan plan = direct_plan<T>(g);
    const PhasePlan& pp = plan.phases;
    const std::int64_t P = g.p(), R = kDirectRows, tw = plan.tile_width;
    const std::int64_t image_planes = g.c_in * plan.channel_stride;
    const SharedBuffer<T> shared(plan.images_per_round * image_planes);
    T* planes = shared.data();
    std::vector<T> bias(std::size_t(plan.blocks * plan.block_rows), T(0));
    if (b) std::copy_n(b, g.c_out, bias.begin());

    const std::int64_t q_tasks = ceil_div(plan.tiles, plan.tiles_per_task);
    const std::int64_t co_tasks = ceil_div(plan.blocks, plan.blocks_per_task);
    for (std::int64_t n0 = 0; n0 < g.n; n0 += plan.images_per_round) {
        const std::int64_t images = std::min(plan.images_per_round, g.n - n0);
        // 1. The phase planes of these images, every channel
        build_round_planes(g, pp, x, n0, images, plan.channel_stride, planes);
        if (plan.lanes) {
            lanes_forward(g, pp, planes, plan.channel_stride, plan.tap_offset.data(), n0, images, packed, bias.data(),
                          y, relu, plan.block_rows);
            continue;
        }
        // 2. Tasks (image, q range, block range): register tiles, then the valid columns to y.
        parallel_for(0, images * q_tasks * co_tasks, 1, [&](std::int64_t t0, std::int64_t t1) {
            const std::int64_t span = plan.tiles_per_task * tw;
            T* out = scratch<T>(R * span);
            for (std::int64_t task = t0; task < t1; ++task) {
                const std::int64_t i = task / (q_tasks * co_tasks), qt = (task / co_tasks) % q_tasks,
                                   ct = task % co_tasks;
                const std::int64_t q0 = qt * span, q1 = std::min(pp.out_len, q0 + span);
                const T* image = planes + i * image_planes;
                T* yn = y + (n0 + i) * g.c_out * P;
                const std::int64_t bb1 = std::min(plan.blocks, (ct + 1) * plan.blocks_per_task);
                for (std::int64_t bl = ct * plan.blocks_per_task; bl < bb1; ++bl) {
                    const T* wp = packed + bl * R * plan.k;
                    for (std::int64_t q = q0; q < q1; q += tw) {
                        for (std::int64_t c0 = 0; c0 < g.c_in; c0 += plan.chunk_channels) {
                            const std::int64_t cn = std::min(plan.chunk_channels, g.c_in - c0);
                            direct_tile(image + c0 * plan.channel_stride + q, plan.channel_stride,
                                        plan.tap_offset.data(), plan.taps, cn, wp + c0 * plan.taps * R,
                                        bias.data() + bl * R, c0 == 0, out + (q - q0), span);
                        }
                    }
                    // out[r, q - q0] is output (oh, ow) = (q / ws, q % ws), kept when ow < wo
                    const std::int64_t rows = std::min(R, g.c_out - bl * R);
                    for (std::int64_t oh = q0 / pp.ws; oh * pp.ws < q1; ++oh) {
                        const std::int64_t a = std::max(q0, oh * pp.ws), e = std::min(q1, oh * pp.ws + g.wo);
                        if (a >= e) continue;
                        for (std::int64_t r = 0; r < rows; ++r) {
                            const T* from = out + r * span + (a - q0);
                            T* to = yn + (bl * R + r) * P + oh * g.wo + (a - oh * pp.ws);
                            if (relu) {
                                for (std::int64_t j = 0; j < e - a; ++j) to[j] = unary::Relu{}.forward(from[j]);
                            } else {
                                std::copy(from, from + (e - a), to);
                            }
                        }
                    }
                }
            }
        });
    }
}

/// y = conv(x, w) + b for one group (any kernel, stride, padding, dilation); layouts as
/// conv::forward. With `rotated`, w is the weight of the convolution this one is the
/// backward-data pass of (see backward_data_as_forward), and b must be null.
template <typename T>
void direct_forward(const ConvGeometry& g, const T* x, const T* w, const T* b, T* y, bool rotated = false) {
    const DirectPlan plan = direct_plan<T>(g);
    const SharedBuffer<T, 2> packed(plan.packed_weights());
    pack_direct_weights(w, g.c_out, plan.k, plan.taps, rotated, plan.blocks, packed.data(), plan.block_rows);
    direct_forward_packed(g, x, packed.data(), b, y);
}

}  // namespace fbseg::cpu::conv
