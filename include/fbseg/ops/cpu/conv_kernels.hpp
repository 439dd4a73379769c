// fbseg/ops/cpu/conv_kernels.hpp - the loop kernels behind conv2d and conv_transpose2d on the CPU:
// im2col / col2im, the three GEMM drivers (forward, backward-data, backward-weight), the bias
// gradient. Depthwise convolutions go to depthwise_kernels.hpp, the forward and stride-1
// backward-data passes of most 3x3 and 7x7 layers to direct_conv_kernels.hpp, and the
// backward-weight pass of the stride-1 ones (up to 1000 weights per output channel, more on the
// larger planes) to direct_weight_kernels.hpp (no im2col matrix), where that copy of the kernels
// measured faster.
// See docs/layers.md for the math.
//
// Notation (one convolution, NCHW, weight OIHW as in PyTorch):
//   x  [N, Cin, H, W]    w  [Cout, Cg, kh, kw]  with Cg = Cin / G (G = groups)
//   y  [N, Cout, Ho, Wo] with Ho = (H + 2 ph - dh (kh - 1) - 1) / sh + 1 (floor), same for Wo
//   y[n, co, oh, ow] = b[co] + sum_{c, ki, kj} w[co, c, ki, kj] x[n, g Cg + c, oh sh - ph + ki dh, ow sw - pw + kj dw]
//                      (g = co / Coutg; out-of-range x reads are 0: zero padding)
//
// The column matrix of image n and group g has K = Cg kh kw rows and P = Ho Wo columns:
//   col[r, p] = x[n, g Cg + c, oh sh - ph + ki dh, ow sw - pw + kj dw]
//   with r = (c kh + ki) kw + kj   (the order of a weight row: w[co] is [Cg, kh, kw] flattened)
//   and  p = oh Wo + ow            (the order of an output plane)
// so that one group's output is a plain matrix product:
//   Y_g [Coutg, P] = W_g [Coutg, K] @ col [K, P]        (forward)
//   dcol [K, P]    = W_g^T [K, Coutg] @ dY_g [Coutg, P]  then col2im adds dcol into dx (backward-data)
//   dW_g [Coutg, K] = sum_n dY_g [Coutg, P] @ col^T [P, K]                           (backward-weight)
// A 1x1, stride-1, unpadded convolution has col = x itself ([Cg, H W] with H W = P): no copy.
//
// Work is split into tasks whose boundaries depend only on the problem's sizes (pixel tiles, row
// chunks), never on the number of threads, and every sum over images runs in image order inside
// one task, so results are bit-identical whatever the number of threads.
#pragma once

#include <Eigen/Core>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "fbseg/core/parallel.hpp"
#include "fbseg/ops/cpu/conv_common.hpp"
#include "fbseg/ops/cpu/depthwise_kernels.hpp"
#include "fbseg/ops/cpu/depthwise_lanes_kernels.hpp"
#include "fbseg/ops/cpu/direct_conv_kernels.hpp"
#include "fbseg/ops/cpu/direct_weight_kernels.hpp"
#include "fbseg/ops/cpu/loops.hpp"
#include "fbseg/ops/cpu/winograd_kernels.hpp"
#include "fbseg/ops/geometry/conv.hpp"

namespace fbseg::cpu {

/// The sizes of one convolution: a plain struct in ops/geometry/conv.hpp (a .cu file can use it).
using ConvGeometry = ::fbseg::ConvGeometry;

namespace conv {

/// Elements of one im2col tile: 1 MiB of float32, small enough to stay in L2/L3 while the GEMM
/// reads it.
inline constexpr std::int64_t kColTileElements = std::int64_t(1) << 18;
/// Rows of dW per backward-weight task at most (a group with K up to this many is one chunk).
inline constexpr std::int64_t kWeightRowChunkMax = 128;

/// Columns (output pixels) per tile when a tile has `rows` rows: fixed by the sizes only.
inline std::int64_t pixel_tile(std::int64_t rows, std::int64_t pixels) {
    std::int64_t t = kColTileElements / std::max<std::int64_t>(rows, 1);
    t = std::max<std::int64_t>(256, t / 64 * 64);
    return std::max<std::int64_t>(1, std::min(t, pixels));
}

/// Rows of dW per backward-weight task: about K / 16 (so a group gives ~16 tasks), a multiple of
/// 8, within [16, kWeightRowChunkMax].
inline std::int64_t weight_row_chunk(std::int64_t k) {
    const std::int64_t rc = ((k + 15) / 16 + 7) / 8 * 8;
    return std::max<std::int64_t>(1, std::min(k, std::clamp<std::int64_t>(rc, 16, kWeightRowChunkMax)));
}

/// im2col for rows [r0, r1) and pixels [p0, p1) of one image and group.
///   x:   the group's input channels, [Cg, H, W] contiguous
///   col: [r1 - r0, p1 - p0] row-major; col[r - r0, p - p0] as in the header comment (0 in the padding)
template <typename T>
void im2col(const ConvGeometry& g, const T* x, std::int64_t r0, std::int64_t r1, std::int64_t p0, std::int64_t p1,
            T* col) {
    const std::int64_t np = p1 - p0, kk = g.kk(), hw = g.hw();
    for (std::int64_t r = r0; r < r1; ++r) {
        const std::int64_t c = r / kk, ki = (r % kk) / g.kw, kj = r % g.kw;
        const T* xc = x + c * hw;
        T* dst = col + (r - r0) * np;
        for (std::int64_t p = p0; p < p1;) {  // one run of an output row at a time
            const std::int64_t oh = p / g.wo, ow = p % g.wo;
            const std::int64_t len = std::min(p1 - p, g.wo - ow);
            const std::int64_t ih = oh * g.sh - g.ph + ki * g.dh;
            if (ih < 0 || ih >= g.h) {
                std::fill_n(dst, len, T(0));
            } else {
                const T* src = xc + ih * g.w;
                const std::int64_t iw0 = ow * g.sw - g.pw + kj * g.dw;  // input column of j = 0
                std::int64_t lo, hi;
                valid_span(iw0, g.sw, g.w, len, lo, hi);
                std::fill_n(dst, lo, T(0));
                if (g.sw == 1) {
                    std::copy_n(src + (iw0 + lo), hi - lo, dst + lo);
                } else {
                    for (std::int64_t j = lo; j < hi; ++j) dst[j] = src[iw0 + j * g.sw];
                }
                std::fill_n(dst + hi, len - hi, T(0));
            }
            dst += len;
            p += len;
        }
    }
}

/// col2im, the adjoint of im2col: adds col[r - r0, p - p0] into the x element it was read from
/// (padding positions are dropped). x: [Cg, H, W] of one image and group. With `assign` (only
/// when g.tiles_exactly(): each x element then gets exactly one term) the term is stored instead,
/// so x need not be zeroed first.
template <typename T>
void col2im_add(const ConvGeometry& g, const T* col, std::int64_t r0, std::int64_t r1, std::int64_t p0, std::int64_t p1,
                T* x, bool assign = false) {
    const std::int64_t np = p1 - p0, kk = g.kk(), hw = g.hw();
    for (std::int64_t r = r0; r < r1; ++r) {
        const std::int64_t c = r / kk, ki = (r % kk) / g.kw, kj = r % g.kw;
        T* xc = x + c * hw;
        const T* src = col + (r - r0) * np;
        for (std::int64_t p = p0; p < p1;) {
            const std::int64_t oh = p / g.wo, ow = p % g.wo;
            const std::int64_t len = std::min(p1 - p, g.wo - ow);
            const std::int64_t ih = oh * g.sh - g.ph + ki * g.dh;
            if (ih >= 0 && ih < g.h) {
                T* dst = xc + ih * g.w;
                const std::int64_t iw0 = ow * g.sw - g.pw + kj * g.dw;
                std::int64_t lo, hi;
                valid_span(iw0, g.sw, g.w, len, lo, hi);
                if (assign) {
                    for (std::int64_t j = lo; j < hi; ++j) dst[iw0 + j * g.sw] = src[j];
                } else if (g.sw == 1) {
                    T* d = dst + (iw0 + lo);
                    for (std::int64_t j = 0; j < hi - lo; ++j) d[j] += src[lo + j];
                } else {
                    for (std::int64_t j = lo; j < hi; ++j) dst[iw0 + j * g.sw] += src[j];
                }
            }
            src += len;
            p += len;
        }
    }
}

template <typename T>
using RowMatrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <typename T>
using ConstMatMap = Eigen::Map<const RowMatrix<T>, Eigen::Unaligned, Eigen::OuterStride<>>;
template <typename T>
using MatMap = Eigen::Map<RowMatrix<T>, Eigen::Unaligned, Eigen::OuterStride<>>;

// ---- 1x1 layers with few pixels per image ---------------------------------------------------------
// A 1x1 layer's forward is Y_n [Cout, P] = W [Cout, K] X_n [K, P] for each image n. With the
// 4 x 4 stage's P = 16, a product per image spends more on Eigen's packing of W (Cout K values,
// for 2 Cout K P multiply-adds) than on the multiply-adds: EfficientNet's 1152 -> 320 at 4 x 4
// ran at 140 GFLOP/s forward and 88 backward-data, half of oneDNN. So the images' columns are
// gathered side by side, X [K, N P], one product per tile of those columns (W packed once per
// tile of at least kPointwiseTile columns), and the result scattered back.

/// Images' pixels up to which pointwise_gathered is taken (the 4 x 4 stage and below: at 8 x 8
/// the product per image already ran at ~230 GFLOP/s, and the gathered form, two more passes over
/// the data, was 1.2-2x slower; docs/performance.md, step 17).
inline constexpr std::int64_t kGatherPixels = 16;
/// Least columns per task of pointwise_gathered.
inline constexpr std::int64_t kPointwiseTile = 128;

/// Whether the forward and backward-data passes of g take pointwise_gathered.
inline bool pointwise_gathered_preferred(const ConvGeometry& g) {
    return g.pointwise() && g.groups == 1 && g.n > 1 && g.p() <= kGatherPixels;
}

/// out[i, r, p] = sum_j A[r, j] in[i, j, p] (+ bias[r] if bias) for i < n images, r < A.rows(),
/// j < A.cols(), p < P; in [n, A.cols(), P] and out [n, A.rows(), P] contiguous. A is W (forward)
/// or W^T (backward-data) as an Eigen expression.
template <typename T, typename AMatrix>
void pointwise_gathered(const AMatrix& A, const T* in, std::int64_t n, std::int64_t P, const T* bias, T* out) {
    const std::int64_t R = A.rows(), J = A.cols(), cols = n * P;
    // rows of the gathered matrices 16 values longer than a multiple of 16: with a pitch of 1,024
    // floats (16 images of 8 x 8) every row began in the same L1 set, and the 480 -> 80 layer ran
    // 2.4x slower than a product per image
    const std::int64_t pitch = ceil_div(cols, 16) * 16 + 16;
    const SharedBuffer<T> gathered_in(J * pitch);
    const SharedBuffer<T, 2> gathered_out(R * pitch);
    T* X = gathered_in.data();
    T* Y = gathered_out.data();
    // X[j, i P + p] = in[i, j, p]
    parallel_for(0, n * J, items_per_task(P), [&](std::int64_t i0, std::int64_t i1) {
        for (std::int64_t i = i0; i < i1; ++i) std::copy_n(in + i * P, P, X + (i % J) * pitch + (i / J) * P);
    });
    // Y[:, tile] = A X[:, tile]: up to 16 tiles of kPointwiseTile columns or more (multiples of 16)
    const std::int64_t tile = std::max(kPointwiseTile, ceil_div(ceil_div(cols, 16), 16) * 16);
    parallel_for(0, ceil_div(cols, tile), 1, [&](std::int64_t t0, std::int64_t t1) {
        for (std::int64_t t = t0; t < t1; ++t) {
            const std::int64_t c0 = t * tile, nc = std::min(cols, c0 + tile) - c0;
            const ConstMatMap<T> Xt(X + c0, J, nc, Eigen::OuterStride<>(pitch));
            MatMap<T> Yt(Y + c0, R, nc, Eigen::OuterStride<>(pitch));
            Yt.noalias() = A * Xt;
        }
    });
    // out[i, r, p] = Y[r, i P + p] (+ bias[r])
    parallel_for(0, n * R, items_per_task(P), [&](std::int64_t i0, std::int64_t i1) {
        for (std::int64_t i = i0; i < i1; ++i) {
            const T* from = Y + (i % R) * pitch + (i / R) * P;
            T* to = out + i * P;
            if (bias) {
                const T b = bias[i % R];
                for (std::int64_t p = 0; p < P; ++p) to[p] = from[p] + b;
            } else {
                std::copy_n(from, P, to);
            }
        }
    });
}

// ---- the three passes ---------------------------------------------------------------------------

template <typename T>
void im2col_forward(const ConvGeometry& g, const T* x, const T* w, const T* b, T* y);

/// y = conv(x, w) + b. x [N, Cin, H, W], w [Cout, Cg, kh, kw], b [Cout] or null, y [N, Cout, Ho, Wo];
/// all contiguous.
template <typename T>
void forward(const ConvGeometry& g, const T* x, const T* w, const T* b, T* y) {
    if (g.n == 0 || g.p() == 0 || g.c_out == 0) return;
    if (g.depthwise()) {
        if (depthwise_lanes_forward_preferred(g))
            depthwise_lanes_forward(g, x, w, b, y);  // depthwise_lanes_kernels.hpp
        else
            depthwise_forward(g, x, w, b, y);  // depthwise_kernels.hpp
        return;
    }
    if (winograd_preferred<T>(g))
        winograd_forward(g, x, w, b, y);  // winograd_kernels.hpp
    else if (direct_conv_preferred<T>(g))
        direct_forward(g, x, w, b, y);  // direct_conv_kernels.hpp
    else
        im2col_forward(g, x, w, b, y);
}

// ---- inference with the weights packed once ------------------------------------------------------
// The direct path packs the weights at every call (pack_direct_weights): at batch 1 that was ~9%
// of a resnet34-unet inference, all of it memory traffic. A caller that knows the weights have not
// changed since the last call (the conv2d seam under NoGradGuard, with the storage's version:
// ops/kernel/packed_weight_cache.hpp) packs them once and calls forward_packed.

/// The values forward's packed weights take for this geometry, or 0 when forward takes a path
/// that does not pack them (im2col, depthwise, an empty shape). The direct path's size depends on
/// c_out, c_in, the kernel and the instruction set; Winograd's U (16 / 9 as many values, so never
/// the same size) is taken for even image sizes with enough tiles, and the packed-weight cache
/// keys on the size, so a layer that alternates between the two repacks instead of misreading.
template <typename T>
std::int64_t packed_weights_size(const ConvGeometry& g) {
    if (g.n == 0 || g.p() == 0 || g.c_out == 0 || g.depthwise()) return 0;
    if (winograd_preferred<T>(g)) return winograd_plan<T>(g).packed_weights(g);
    if (!direct_conv_preferred<T>(g)) return 0;
    return direct_plan<T>(g).packed_weights();
}

/// packed = the weights w [Cout, Cin, kh, kw] as forward packs them (packed_weights_size(g) values).
template <typename T>
void pack_forward_weights(const ConvGeometry& g, const T* w, T* packed) {
    if (winograd_preferred<T>(g)) {
        pack_winograd_weights(g, winograd_plan<T>(g), w, /*rotated=*/false, packed);
        return;
    }
    const DirectPlan plan = direct_plan<T>(g);
    pack_direct_weights(w, g.c_out, plan.k, plan.taps, /*rotated=*/false, plan.blocks, packed, plan.block_rows);
}

/// forward for a geometry with packed_weights_size(g) > 0, from weights packed by
/// pack_forward_weights (max(., 0) with relu): the same result as forward, bit for bit.
template <typename T>
void forward_packed(const ConvGeometry& g, const T* x, const T* packed, const T* b, T* y, bool relu) {
    if (winograd_preferred<T>(g))
        winograd_forward_packed(g, x, packed, b, y, relu);  // winograd_kernels.hpp
    else
        direct_forward_packed(g, x, packed, b, y, relu);  // direct_conv_kernels.hpp
}

/// forward through the im2col matrix and Eigen's GEMM (any group count).
template <typename T>
void im2col_forward(const ConvGeometry& g, const T* x, const T* w, const T* b, T* y) {
    const std::int64_t P = g.p(), K = g.k(), G = g.groups, Cg = g.cg(), Coutg = g.coutg(), HW = g.hw();
    if (pointwise_gathered_preferred(g)) {
        pointwise_gathered(ConstMatMap<T>(w, g.c_out, K, Eigen::OuterStride<>(K)), x, g.n, P, b, y);
        return;
    }
    // Tasks: (image, group, pixel tile). Y_g[:, tile] = W_g @ col[:, tile].
    const std::int64_t pt = pixel_tile(K, P), tiles = (P + pt - 1) / pt;
    parallel_for(0, g.n * G * tiles, 1, [&](std::int64_t t0, std::int64_t t1) {
        for (std::int64_t t = t0; t < t1; ++t) {
            const std::int64_t n = t / (G * tiles), gi = (t / tiles) % G, ti = t % tiles;
            const std::int64_t p0 = ti * pt, p1 = std::min(P, p0 + pt), np = p1 - p0;
            const T* xg = x + (n * g.c_in + gi * Cg) * HW;
            const ConstMatMap<T> Wg(w + gi * Coutg * K, Coutg, K, Eigen::OuterStride<>(K));
            MatMap<T> Y(y + (n * g.c_out + gi * Coutg) * P + p0, Coutg, np, Eigen::OuterStride<>(P));
            if (g.pointwise()) {
                const ConstMatMap<T> X(xg + p0, K, np, Eigen::OuterStride<>(HW));
                Y.noalias() = Wg * X;
            } else {
                T* col = scratch<T>(K * np);
                im2col(g, xg, 0, K, p0, p1, col);
                const ConstMatMap<T> C(col, K, np, Eigen::OuterStride<>(np));
                Y.noalias() = Wg * C;
            }
            if (b) {
                for (std::int64_t co = 0; co < Coutg; ++co) Y.row(co).array() += b[gi * Coutg + co];
            }
        }
    });
}

/// dx = conv^T(dy, w): the gradient of the input. dy [N, Cout, Ho, Wo], dx [N, Cin, H, W]
/// (overwritten); contiguous.
template <typename T>
void backward_data(const ConvGeometry& g, const T* dy, const T* w, T* dx) {
    const std::int64_t P = g.p(), K = g.k(), G = g.groups, Cg = g.cg(), Coutg = g.coutg(), HW = g.hw(), kk = g.kk();
    if (g.n == 0 || g.c_in == 0 || HW == 0) return;
    if (P == 0 || g.c_out == 0) {
        std::fill_n(dx, g.n * g.c_in * HW, T(0));
        return;
    }
    if (g.depthwise()) {
        if (depthwise_lanes_backward_data_preferred(g))
            depthwise_lanes_backward_data(g, dy, w, dx);
        else
            depthwise_backward_data(g, dy, w, dx);
        return;
    }
    if (ConvGeometry t; backward_data_as_forward(g, t)) {  // stride 1: a forward convolution of dy
        if (winograd_preferred<T>(t)) {
            winograd_forward(t, dy, w, static_cast<const T*>(nullptr), dx, /*rotated=*/true);
            return;
        }
        if (direct_conv_preferred<T>(t)) {
            direct_forward(t, dy, w, static_cast<const T*>(nullptr), dx, /*rotated=*/true);
            return;
        }
    }
    if (pointwise_gathered_preferred(g)) {  // dx_n = W^T dy_n
        pointwise_gathered(ConstMatMap<T>(w, g.c_out, K, Eigen::OuterStride<>(K)).transpose(), dy, g.n, P,
                           static_cast<const T*>(nullptr), dx);
        return;
    }
    // Tasks: (image, group, chunk of input channels). A chunk's dx channels are written only by
    // its task, so col2im needs no locking; pixel tiles run in order inside the task.
    const std::int64_t cc = std::min(Cg, std::max<std::int64_t>(1, 256 / kk)), chunks = (Cg + cc - 1) / cc;
    parallel_for(0, g.n * G * chunks, 1, [&](std::int64_t t0, std::int64_t t1) {
        for (std::int64_t t = t0; t < t1; ++t) {
            const std::int64_t n = t / (G * chunks), gi = (t / chunks) % G, ci = t % chunks;
            const std::int64_t c0 = ci * cc, c1 = std::min(Cg, c0 + cc), r0 = c0 * kk, r1 = c1 * kk, rows = r1 - r0;
            T* dxg = dx + (n * g.c_in + gi * Cg) * HW;
            // W_g[:, r0:r1]^T: [rows, Coutg]
            const ConstMatMap<T> Wc(w + gi * Coutg * K + r0, Coutg, rows, Eigen::OuterStride<>(K));
            const T* dyg = dy + (n * g.c_out + gi * Coutg) * P;
            if (g.pointwise()) {  // dx[c0:c1, :] = W^T dY directly (P == HW)
                const std::int64_t pt = pixel_tile(rows, P);
                for (std::int64_t p0 = 0; p0 < P; p0 += pt) {
                    const std::int64_t np = std::min(P, p0 + pt) - p0;
                    const ConstMatMap<T> DY(dyg + p0, Coutg, np, Eigen::OuterStride<>(P));
                    MatMap<T> DX(dxg + c0 * HW + p0, rows, np, Eigen::OuterStride<>(HW));
                    DX.noalias() = Wc.transpose() * DY;
                }
                continue;
            }
            // each dx element gets one term when the windows tile x (conv_transpose2d's 2x2/2): no zeroing
            const bool assign = g.tiles_exactly();
            if (!assign) std::fill_n(dxg + c0 * HW, (c1 - c0) * HW, T(0));
            const std::int64_t pt = pixel_tile(rows, P);
            T* dcol = scratch<T>(rows * std::min(pt, P));
            for (std::int64_t p0 = 0; p0 < P; p0 += pt) {
                const std::int64_t p1 = std::min(P, p0 + pt), np = p1 - p0;
                const ConstMatMap<T> DY(dyg + p0, Coutg, np, Eigen::OuterStride<>(P));
                MatMap<T> DC(dcol, rows, np, Eigen::OuterStride<>(np));
                DC.noalias() = Wc.transpose() * DY;
                col2im_add(g, dcol, r0, r1, p0, p1, dxg, assign);
            }
        }
    });
}

/// dw = sum_n dY_n col_n^T: the gradient of the weight. x [N, Cin, H, W], dy [N, Cout, Ho, Wo],
/// dw [Cout, Cg, kh, kw] (overwritten); contiguous.
template <typename T>
void backward_weight(const ConvGeometry& g, const T* x, const T* dy, T* dw) {
    const std::int64_t P = g.p(), K = g.k(), G = g.groups, Cg = g.cg(), Coutg = g.coutg(), HW = g.hw();
    if (g.c_out == 0 || K == 0) return;
    if (g.depthwise()) {
        if (depthwise_lanes_backward_weight_preferred(g))
            depthwise_lanes_backward_weight(g, x, dy, dw);
        else
            depthwise_backward_weight(g, x, dy, dw);
        return;
    }
    if (direct_weight_preferred<T>(g)) {
        direct_backward_weight(g, x, dy, dw);  // direct_weight_kernels.hpp
        return;
    }
    // Tasks: (group, chunk of K rows, part of the images). dW_g[:, r0:r1] = sum over images and
    // pixel tiles, in order, of dY_g[:, tile] @ col[r0:r1, tile]^T; each task builds only its rows
    // of col. Up to kWeightRowChunkMax rows are one chunk, larger K is cut into even shares of
    // about K / 16. Where that makes fewer than 16 tasks (the 1x1 layers with few input channels:
    // EfficientNet's 24 -> 144 was two tasks of 16 and 8 rows), the images are cut into parts
    // too, each summed into a dW of its own and added in part order at the end: the cut, and the
    // result, do not depend on the number of threads. (On that layer, 0.84x the time of the two
    // tasks; the 1x1/2 128 -> 256 0.78x, 40 -> 240 @16 0.65x: docs/performance.md, step 17.)
    const std::int64_t chunks = K <= kWeightRowChunkMax ? 1 : ceil_div(K, weight_row_chunk(K)),
                       rc = ceil_div(K, chunks);
    const std::int64_t parts = std::clamp<std::int64_t>(ceil_div(16, G * chunks), 1, g.n);
    std::vector<T> partial(std::size_t(parts > 1 ? parts * g.c_out * K : 0));
    parallel_for(0, G * chunks * parts, 1, [&](std::int64_t t0, std::int64_t t1) {
        for (std::int64_t t = t0; t < t1; ++t) {
            const std::int64_t gi = t / (chunks * parts), ci = t / parts % chunks, part = t % parts;
            const std::int64_t r0 = ci * rc, r1 = std::min(K, r0 + rc), rows = r1 - r0;
            T* dst = parts > 1 ? partial.data() + part * g.c_out * K : dw;
            MatMap<T> DW(dst + gi * Coutg * K + r0, Coutg, rows, Eigen::OuterStride<>(K));
            DW.setZero();
            const std::int64_t pt = pixel_tile(rows, P);
            T* col = g.pointwise() ? nullptr : scratch<T>(rows * std::min(pt, P));
            for (std::int64_t n = part * g.n / parts; n < (part + 1) * g.n / parts; ++n) {
                const T* xg = x + (n * g.c_in + gi * Cg) * HW;
                const T* dyg = dy + (n * g.c_out + gi * Coutg) * P;
                for (std::int64_t p0 = 0; p0 < P; p0 += pt) {
                    const std::int64_t p1 = std::min(P, p0 + pt), np = p1 - p0;
                    const ConstMatMap<T> DY(dyg + p0, Coutg, np, Eigen::OuterStride<>(P));
                    if (g.pointwise()) {
                        const ConstMatMap<T> X(xg + r0 * HW + p0, rows, np, Eigen::OuterStride<>(HW));
                        DW.noalias() += DY * X.transpose();
                    } else {
                        im2col(g, xg, r0, r1, p0, p1, col);
                        const ConstMatMap<T> C(col, rows, np, Eigen::OuterStride<>(np));
                        DW.noalias() += DY * C.transpose();
                    }
                }
            }
        }
    });
    if (parts > 1)
        parallel_for(0, g.c_out * K, items_per_task(parts), [&](std::int64_t i0, std::int64_t i1) {
            for (std::int64_t i = i0; i < i1; ++i) {
                double sum = 0;
                for (std::int64_t part = 0; part < parts; ++part)
                    sum += double(partial[std::size_t(part * g.c_out * K + i)]);
                dw[i] = T(sum);
            }
        });
}

/// db[c] = sum over images and pixels of dy[n, c, :]; dy [N, C, P] contiguous. Each plane is
/// summed by Eigen (vectorised), the planes in image order in double.
template <typename T>
void bias_grad(const T* dy, std::int64_t n, std::int64_t c, std::int64_t p, T* db) {
    using Vec = Eigen::Matrix<T, Eigen::Dynamic, 1>;
    parallel_for(0, c, items_per_task(n * p), [&](std::int64_t c0, std::int64_t c1) {
        for (std::int64_t co = c0; co < c1; ++co) {
            double acc = 0;
            for (std::int64_t i = 0; i < n; ++i)
                if (p > 0) acc += double(Eigen::Map<const Vec>(dy + (i * c + co) * p, p).sum());
            db[co] = T(acc);
        }
    });
}

// add_channel_bias: y[i, k, j] += b[k]
//   y: (n, c, p) contiguous;  b: (c,)
template <typename T>
void add_channel_bias(T* y, const T* b, std::int64_t n, std::int64_t c, std::int64_t p) {
    parallel_for(0, n * c, items_per_task(p),
                 [&](std::int64_t t0, std::int64_t t1) {
                     for (std::int64_t t = t0; t < t1; ++t) {
                         const T v = b[t % c];
                         T* q = y + t * p;
                         for (std::int64_t i = 0; i < p; ++i) q[i] += v;
                     }
                 });
}

}  // namespace conv
}  // namespace fbseg::cpu
