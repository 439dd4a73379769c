// fbseg/ops/cpu/direct_weight_kernels.hpp - the weight gradient of a convolution without the
// im2col matrix, on the layout of direct_conv_kernels.hpp.
//
// Notation as in conv_kernels.hpp and phase_planes.hpp. Tap t = (ki, kj) of input channel c reads
// its phase plane phase_{c,t} (with stride 1 the only one: the zero-padded plane at pitch ws) from
// off_t on, and
//     dW[co, (c, t)] = sum_n sum_q dyflat_n[co, q] phase_{c,t,n}[q + off_t]
// where dyflat is dy at the pitch ws, zero in the columns ow >= wo. That is a matrix product
// C [Cout, K] = A [Cout, Q] B [K, Q]^T whose long dimension Q, every pixel of every image, is
// the one summed over.
//
// Layout. The planes of one round of images are stored channel-major, [c][phase][image][S], with
// the image stride S = a phase plane's length (hs + 1) ws. A row of B is then one run over all
// images of the round, q in [0, images S): for q in image i's segment, q + off_t stays inside image
// i's plane (off_t + ho ws <= S), and where dyflat is zero (unused columns, a segment's tail) the
// product is zero whatever the plane holds there.
//
// The register tile is the forward kernel's, turned around: 2 vectors of output channels (in the
// lanes) x 12 columns (c, t). For each q, the 2 vectors of dyT[q][co], dy packed once per round
// and transposed, are loaded, and one value of each column's plane row is broadcast: 24
// multiply-adds per 2 + 12 loads (AVX-512). A dot-product tile (pixels in the lanes) was tried
// first: it needs a vector load per row and per column of the tile, and ran at ~100 GFLOP/s on
// every shape, bound by L2. It is the better tile for layers with at most one vector of output
// channels, though, with the chunk of q short enough for L1: narrow_backward_weight below. The q
// range is cut into chunks of kWeightChunk; each chunk is summed from zero in float and added into
// a double accumulator, chunks in order: a fixed order, whatever the thread count. Tasks are
// (block of output channels, range of columns); each owns its entries of dW.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "fbseg/core/parallel.hpp"
#include "fbseg/ops/cpu/conv_common.hpp"
#include "fbseg/ops/cpu/direct_conv_kernels.hpp"
#include "fbseg/ops/cpu/loops.hpp"
#include "fbseg/ops/cpu/phase_planes.hpp"
#include "fbseg/ops/cpu/simd.hpp"
#include "fbseg/ops/geometry/conv.hpp"

namespace fbseg::cpu::conv {

/// Accumulators per register tile (24 of AVX-512's 32 registers), and pixels per chunk of the sum.
inline constexpr std::int64_t kWeightTile = 24;
inline constexpr std::int64_t kWeightChunk = 1024;

/// Whether conv::backward_weight takes this path for g (measured: docs/performance.md, steps 8,
/// 11 and 13): AVX-512 only; one group, a kernel larger than 1x1, any stride (resnet34's 7x7/2
/// stem and its 64 -> 128 stride-2 layer took 0.69-0.70x the time of im2col + GEMM); rows of dW at
/// least 32 long; rows longer than 1000 (from 112 input channels of a 3x3 layer up) only for planes of
/// 64 x 64 outputs and more, or of 32 x 32 with at most 128 output channels. On the Intel Xeon
/// (benchmarks/ab_conv.sh) the direct kernel took 0.65-0.95x the time of Eigen's GEMM through
/// im2col there, but 0.92-1.1x for 256 output channels at 32 x 32 (each block of 32 output
/// channels rereads the plane rows); on the AMD EPYC Eigen's was as fast or faster for all rows
/// past 1000. And at least 3/4 of each image segment S used (an 8 x 8
/// plane has S = 110 for 64 pixels).
template <typename T>
inline bool direct_weight_preferred(const ConvGeometry& g) {
#if FBSEG_SIMD_BYTES < 64
    (void)g;
    return false;
#else
    if (!direct_path_enabled() || g.groups != 1 || g.kk() == 1 || g.k() < 32 ||
        (g.k() > 1000 && (g.p() < 1024 || (g.p() < 4096 && g.c_out > 128))) || g.p() == 0 || g.n == 0)
        return false;
    const PhasePlan pp(g);
    return 4 * g.p() >= 3 * pp.phase_len;
#endif
}

/// tile[j][v] (kWeightTile / V columns j, V vectors v of output channels) = sum over q < len of
/// dyT[q][v lanes] * b_j[q]; dyT is [len][V lanes] contiguous.
template <typename T, std::int64_t V>
inline void weight_tile(const T* dyT, const T* const* b, std::int64_t len, simd::Vec<T>* tile) {
    using Vec = simd::Vec<T>;
    constexpr std::int64_t C = kWeightTile / V, L = simd::kLanes<T>;
    Vec acc[C][V] = {};
    for (std::int64_t q = 0; q < len; ++q, dyT += V * L) {
        Vec a[V];
        for (std::int64_t v = 0; v < V; ++v) a[v] = simd::load<Vec>(dyT + v * L);
        for (std::int64_t j = 0; j < C; ++j) {
            const T s = b[j][q];
            for (std::int64_t v = 0; v < V; ++v) acc[j][v] += s * a[v];
        }
    }
    for (std::int64_t j = 0; j < C; ++j)
        for (std::int64_t v = 0; v < V; ++v) tile[j * V + v] = acc[j][v];
}

/// dyT[q][r] = dyflat[co0 + r][q] for q in image n's segment [0, S) and r < rows (zeros for
/// co0 + r >= c_out, and where dyflat is zero: the columns ow >= wo and the segment's tail): one
/// image of one block of output channels of dy, transposed; read straight from dy
/// [N, Cout, Ho, Wo]. Runs of 16 pixels and 16 channels are transposed in registers
/// (copy_to_planes); the scalar loop this replaced was ~6% of resnet34's 64 -> 64 layer.
template <typename T>
void pack_dy_image(const ConvGeometry& g, const PhasePlan& pp, const T* dy, std::int64_t n, std::int64_t co0,
                   std::int64_t rows, T* dyT) {
    const std::int64_t S = pp.phase_len, P = g.p(), valid = std::min(rows, g.c_out - co0);
    const T* src = dy + (n * g.c_out + co0) * P;
    for (std::int64_t oh = 0; oh < g.ho; ++oh) {  // one output row of every channel of the block
        T* dst = dyT + oh * pp.ws * rows;
        for (std::int64_t ow0 = 0; ow0 < g.wo; ow0 += 16)
            copy_to_planes(src + oh * g.wo + ow0, P, valid, std::min<std::int64_t>(16, g.wo - ow0), dst + ow0 * rows,
                           rows, /*relu=*/false);
        if (valid < rows)
            for (std::int64_t ow = 0; ow < g.wo; ++ow) std::fill(dst + ow * rows + valid, dst + (ow + 1) * rows, T(0));
        std::fill(dst + g.wo * rows, dst + pp.ws * rows, T(0));  // the columns past wo
    }
    std::fill(dyT + g.ho * pp.ws * rows, dyT + S * rows, T(0));  // the segment's tail
}

/// The weight gradient's planes of input channel c for a round of `images` images starting at x
/// (channel c of the first; images c_in planes apart): one row of `row` values per phase plane,
/// [phase][image][S] with S = pp.phase_len, zeros from the last image to the end of the row (the
/// last chunk's reads). Phases that no tap reads are not written. With stride 1 there is one.
template <typename T>
void build_weight_planes(const ConvGeometry& g, const PhasePlan& pp, const T* x, std::int64_t images, std::int64_t row,
                         T* dst) {
    const std::int64_t S = pp.phase_len;
    for (std::int64_t i = 0; i < images; ++i) build_phase_planes(g, pp, x + i * g.c_in * g.hw(), dst + i * S, row);
    for (std::int64_t p = 0; p < pp.phases; ++p)
        if (pp.phase_used[std::size_t(p)]) std::fill(dst + p * row + images * S, dst + (p + 1) * row, T(0));
}

// ---- layers with at most one vector of output channels: pixels in the lanes ------------------------
// With Cout <= kLanes (the decoder's last block at full resolution, the segmentation head) the
// tile of direct_backward_weight would hold one vector of output channels (one with a single lane
// in use, for the head) and 24 columns: one broadcast value per multiply-add, and 24 column
// pointers that do not fit in the general registers. Here the lanes hold 16 pixels q instead,
// and a tile is kNarrowRows output channels x kNarrowCols columns (c, t):
//     acc[r][j] += dyflat[co0 + r][q .. q + L) * plane_j[q .. q + L)
// 4 + 6 vector loads per 24 multiply-adds, ten pointers. A chunk of kNarrowChunk pixels keeps dy's
// rows (32 KiB for 16 channels) and the tile's six plane rows (12 KiB) in L1 while every group of
// output channels reads them (1,024 pixels, 64 + 24 KiB, ran 1.3x slower). The vectors are added
// into a float buffer per tile over kNarrowChunksPerSum chunks (each lane then sums 1,024
// products, as many as one float accumulator of the wide tile), and their lanes into the double
// accumulator of (co, k) as a balanced tree: a fixed order, so the result does not depend on the
// number of threads. (docs/performance.md, step 13.)
inline constexpr std::int64_t kNarrowRows = 4, kNarrowCols = 6, kNarrowChunk = 512, kNarrowChunksPerSum = 32;

/// sum[r kNarrowCols + j] += sum over q < len (a multiple of the lanes) of dy[r][q..] * b[j][q..],
/// one vector per (r, j); sum is kNarrowRows kNarrowCols vectors.
template <typename T>
inline void narrow_tile(const T* const* dy, const T* const* b, std::int64_t len, T* sum) {
    using Vec = simd::Vec<T>;
    constexpr std::int64_t R = kNarrowRows, C = kNarrowCols, L = simd::kLanes<T>;
    Vec acc[R][C] = {};
    for (std::int64_t q = 0; q < len; q += L) {
        Vec d[R];
        for (std::int64_t r = 0; r < R; ++r) d[r] = simd::load<Vec>(dy[r] + q);
        for (std::int64_t j = 0; j < C; ++j) {
            const Vec s = simd::load<Vec>(b[j] + q);
            for (std::int64_t r = 0; r < R; ++r) acc[r][j] += d[r] * s;
        }
    }
    for (std::int64_t r = 0; r < R; ++r)
        for (std::int64_t j = 0; j < C; ++j) {
            T* o = sum + (r * C + j) * L;
            simd::store(o, simd::load<Vec>(o) + acc[r][j]);
        }
}

/// The lanes of v [L] added as a balanced tree (a fixed order), in double.
template <typename T>
inline double lane_sum(const T* v) {
    constexpr std::int64_t L = simd::kLanes<T>;
    double t[L];
    for (std::int64_t i = 0; i < L; ++i) t[i] = double(v[i]);
    for (std::int64_t w = L / 2; w >= 1; w /= 2)
        for (std::int64_t i = 0; i < w; ++i) t[i] += t[i + w];
    return t[0];
}

/// direct_backward_weight for Cout <= kLanes (see above); same arguments and layouts.
template <typename T>
void narrow_backward_weight(const ConvGeometry& g, const T* x, const T* dy, T* dw) {
    constexpr std::int64_t R = kNarrowRows, C = kNarrowCols, L = simd::kLanes<T>;
    const PhasePlan pp(g);
    const std::int64_t taps = g.kk(), K = g.k(), S = pp.phase_len, P = g.p(), F = pp.phases;
    const std::int64_t row_groups = ceil_div(g.c_out, R), col_groups = ceil_div(K, C), rows = row_groups * R;
    const std::int64_t round = std::clamp<std::int64_t>(kDirectRoundValues / ((g.c_in * F + g.c_out) * S), 1, g.n);
    const std::int64_t span = ceil_div(round * S, L) * L;  // q of a round, whole vectors
    const std::int64_t row = span + pp.max_off + L;        // one phase plane of a round and the reads past it
    const SharedBuffer<T> shared(g.c_in * F * row + rows * span);
    T* planes = shared.data();
    T* dyflat = planes + g.c_in * F * row;  // [co][span], zero where no output is
    std::vector<double> acc(std::size_t(g.c_out * K), 0.0);
    const std::vector<std::int64_t> tap_start = pp.tap_starts(row);
    // Tasks: ranges of column groups, every group of output channels in each (16 or more tasks).
    const std::int64_t per_task = std::clamp<std::int64_t>(col_groups / 16, 1, 8);
    const std::int64_t tasks = ceil_div(col_groups, per_task);
    for (std::int64_t n0 = 0; n0 < g.n; n0 += round) {
        const std::int64_t images = std::min(round, g.n - n0), len = ceil_div(images * S, L) * L;
        // 1. The planes of this round, [c][phase][i][S], and dy at the planes' pitch, [co][i][S].
        parallel_for(0, g.c_in + rows, items_per_task(images * S), [&](std::int64_t r0, std::int64_t r1) {
            for (std::int64_t r = r0; r < r1; ++r) {
                if (r >= g.c_in) {
                    const std::int64_t co = r - g.c_in;
                    T* dst = dyflat + co * span;
                    std::fill_n(dst, span, T(0));
                    if (co >= g.c_out) continue;
                    for (std::int64_t i = 0; i < images; ++i)
                        for (std::int64_t oh = 0; oh < g.ho; ++oh)
                            std::copy_n(dy + ((n0 + i) * g.c_out + co) * P + oh * g.wo, g.wo, dst + i * S + oh * pp.ws);
                    continue;
                }
                build_weight_planes(g, pp, x + (n0 * g.c_in + r) * g.hw(), images, row, planes + r * F * row);
            }
        });
        // 2. Per task, per sum of kNarrowChunksPerSum chunks: the tiles, then their lanes.
        parallel_for(0, tasks, 1, [&](std::int64_t t0, std::int64_t t1) {
            T* sums = scratch<T>(per_task * rows * C * L);
            for (std::int64_t task = t0; task < t1; ++task) {
                const std::int64_t cg0 = task * per_task, cg1 = std::min(col_groups, cg0 + per_task);
                for (std::int64_t s0 = 0; s0 < len; s0 += kNarrowChunk * kNarrowChunksPerSum) {
                    const std::int64_t s1 = std::min(len, s0 + kNarrowChunk * kNarrowChunksPerSum);
                    std::fill_n(sums, (cg1 - cg0) * rows * C * L, T(0));
                    for (std::int64_t q0 = s0; q0 < s1; q0 += kNarrowChunk) {
                        const std::int64_t q1 = std::min(s1, q0 + kNarrowChunk);
                        for (std::int64_t cg = cg0; cg < cg1; ++cg) {
                            const T* b[C];
                            for (std::int64_t j = 0; j < C; ++j) {
                                const std::int64_t k = std::min(cg * C + j, K - 1);  // past K: any row, dropped
                                b[j] = planes + (k / taps) * F * row + tap_start[std::size_t(k % taps)] + q0;
                            }
                            for (std::int64_t rg = 0; rg < row_groups; ++rg) {
                                const T* d[R];
                                for (std::int64_t r = 0; r < R; ++r) d[r] = dyflat + (rg * R + r) * span + q0;
                                narrow_tile(d, b, q1 - q0, sums + ((cg - cg0) * rows + rg * R) * C * L);
                            }
                        }
                    }
                    for (std::int64_t cg = cg0; cg < cg1; ++cg)
                        for (std::int64_t co = 0; co < g.c_out; ++co)
                            for (std::int64_t j = 0; j < C && cg * C + j < K; ++j)
                                acc[std::size_t(co * K + cg * C + j)] +=
                                    lane_sum(sums + (((cg - cg0) * rows + co) * C + j) * L);
                }
            }
        });
    }
    parallel_for(0, g.c_out * K, items_per_task(1), [&](std::int64_t i0, std::int64_t i1) {
        for (std::int64_t i = i0; i < i1; ++i) dw[i] = T(acc[std::size_t(i)]);
    });
}

/// dw = sum over images of dY col^T for direct_weight_preferred(g); x [N, Cin, H, W],
/// dy [N, Cout, Ho, Wo], dw [Cout, Cin, kh, kw] (overwritten); contiguous.
template <typename T>
void direct_backward_weight(const ConvGeometry& g, const T* x, const T* dy, T* dw) {
    using Vec = simd::Vec<T>;
    if (g.c_out <= simd::kLanes<T>) {
        narrow_backward_weight(g, x, dy, dw);
        return;
    }
    const PhasePlan pp(g);
    const std::int64_t L = simd::kLanes<T>, taps = g.kk(), K = g.k(), S = pp.phase_len, F = pp.phases;
    constexpr std::int64_t V = 2;  // Cout > L here
    const std::int64_t rows = V * L, cols = kWeightTile / V;
    const std::int64_t round = std::clamp<std::int64_t>(kDirectRoundValues / ((g.c_in * F + g.c_out) * S), 1, g.n);
    const std::int64_t row = round * S + pp.max_off + kWeightChunk;  // + the last chunk's reads
    const std::int64_t row_blocks = ceil_div(g.c_out, rows), col_blocks = ceil_div(K, cols);
    const SharedBuffer<T> shared(g.c_in * F * row + row_blocks * rows * round * S);
    T* planes = shared.data();
    T* packed_dy = planes + g.c_in * F * row;  // [row block][q][rows]
    const std::int64_t padded = row_blocks * rows;
    const std::vector<std::int64_t> tap_start = pp.tap_starts(row);

    // Tasks: (block of `rows` output channels, range of column blocks, part of q). A task reads each
    // chunk of dyT (kWeightChunk rows of 128 bytes: L2) once for each of its column blocks, so it
    // takes up to 8 of them: with one each (the 7x7/2 stem's 13 blocks of columns, when tasks
    // aimed at 16 blocks in all), every tile streamed its chunk of dyT from memory, and the
    // stem's weight gradient ran at 80 GFLOP/s on one thread.
    // Where that leaves fewer than 16 tasks, q is cut into parts (whole chunks, the same cut
    // whatever the thread count), each summed into double accumulators of its own, which are
    // added in part order at the end.
    const std::int64_t col_tasks = ceil_div(col_blocks, 8), per_task = ceil_div(col_blocks, col_tasks);
    const std::int64_t q_parts = std::clamp<std::int64_t>(ceil_div(16, row_blocks * col_tasks), 1, 16);
    // The double accumulators of each part, transposed: accT[part][k][co] for co < row_blocks rows
    // (the rows past Cout sum zeros), so that a tile's vector of output channels adds into
    // consecutive doubles.
    std::vector<double> accT(std::size_t(q_parts * K * padded), 0.0);
    for (std::int64_t n0 = 0; n0 < g.n; n0 += round) {
        const std::int64_t images = std::min(round, g.n - n0), len = images * S;
        // 1. The planes of this round, [c][phase][i][S] (zeros past the last segment), and dy
        //    transposed, [row block][i][S][rows]: two loops, so that each splits into even shares
        //    (parallel_for gives each thread an equal range of items, and one item of dy, a row
        //    block of every image, was 32 times a plane's work: in one loop, the thread that got
        //    them took ~2x as long as the other on resnet34's 64 -> 64 layer).
        parallel_for(0, g.c_in, items_per_task(images * S), [&](std::int64_t c0, std::int64_t c1) {
            for (std::int64_t c = c0; c < c1; ++c)
                build_weight_planes(g, pp, x + (n0 * g.c_in + c) * g.hw(), images, row, planes + c * F * row);
        });
        parallel_for(0, row_blocks * images, items_per_task(rows * S), [&](std::int64_t i0, std::int64_t i1) {
            for (std::int64_t item = i0; item < i1; ++item) {
                const std::int64_t rb = item / images, i = item % images;
                pack_dy_image(g, pp, dy, n0 + i, rb * rows, rows, packed_dy + (rb * len + i * S) * rows);
            }
        });
        // 2. Per task: chunks of q in order, every column block of the task per chunk.
        const std::int64_t chunks = ceil_div(len, kWeightChunk);
        parallel_for(0, row_blocks * col_tasks * q_parts, 1, [&](std::int64_t t0, std::int64_t t1) {
            for (std::int64_t task = t0; task < t1; ++task) {
                const std::int64_t part = task % q_parts, ct = task / q_parts % col_tasks,
                                   rb = task / (q_parts * col_tasks);
                const std::int64_t co0 = rb * rows, cb0 = ct * per_task, cb1 = std::min(col_blocks, cb0 + per_task);
                const std::int64_t qa = part * chunks / q_parts * kWeightChunk,
                                   qb = std::min(len, (part + 1) * chunks / q_parts * kWeightChunk);
                double* acc = accT.data() + part * K * padded;
                for (std::int64_t q0 = qa; q0 < qb; q0 += kWeightChunk) {
                    const std::int64_t q1 = std::min(len, q0 + kWeightChunk);
                    const T* dyT = packed_dy + (rb * len + q0) * rows;
                    for (std::int64_t cb = cb0; cb < cb1; ++cb) {
                        const T* b[kWeightTile];
                        for (std::int64_t j = 0; j < cols; ++j) {
                            const std::int64_t k = std::min(cb * cols + j, K - 1);  // past K: any row, dropped
                            b[j] = planes + (k / taps) * F * row + tap_start[std::size_t(k % taps)] + q0;
                        }
                        Vec tile[kWeightTile];
                        weight_tile<T, V>(dyT, b, q1 - q0, tile);
                        // Each chunk's float sums into the doubles: a vector of output channels
                        // at a time, into consecutive accumulators (with a scalar loop over
                        // (co, j) here instead, this took ~8% of the layer at 1,024 pixels a chunk:
                        // docs/performance.md, step 15).
                        for (std::int64_t j = 0; j < cols && cb * cols + j < K; ++j)
                            for (std::int64_t v = 0; v < V; ++v) {
                                alignas(64) T lanes[simd::kLanes<T>];
                                simd::store(lanes, tile[j * V + v]);
                                double* sum = acc + (cb * cols + j) * padded + co0 + v * L;
                                for (std::int64_t l = 0; l < L; ++l) sum[l] += double(lanes[l]);
                            }
                    }
                }
            }
        });
    }
    parallel_for(0, g.c_out * K, items_per_task(q_parts), [&](std::int64_t i0, std::int64_t i1) {
        for (std::int64_t i = i0; i < i1; ++i) {
            const std::int64_t at = i % K * padded + i / K;
            double sum = accT[std::size_t(at)];
            for (std::int64_t part = 1; part < q_parts; ++part) sum += accT[std::size_t(part * K * padded + at)];
            dw[i] = T(sum);
        }
    });
}

}  // namespace fbseg::cpu::conv
