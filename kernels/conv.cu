// kernels/conv.cu - 2-D convolution on the GPU: forward, backward-data, backward-weight, the bias
// gradient and the per-channel bias add (conv_transpose2d's bias).
//
// The math (NCHW, weight OIHW as in PyTorch; G groups, Cg = Cin / G, Coutg = Cout / G):
//   x  [N, Cin, H, W]    w  [Cout, Cg, kh, kw]    y  [N, Cout, Ho, Wo]
//   y[n, co, oh, ow] = b[co] + sum_{c < Cg, ki < kh, kj < kw}
//                      w[co, c, ki, kj] * x[n, g Cg + c, oh sh - ph + ki dh, ow sw - pw + kj dw]
//   with g = co / Coutg; reads outside x are 0 (zero padding).
// The gradients are the same sum read the other way round:
//   gx[n, g Cg + c, ih, iw] = sum over (co in group g, ki, kj) with ih = oh sh - ph + ki dh and
//                             iw = ow sw - pw + kj dw for some valid (oh, ow), of w[co, c, ki, kj] gy[n, co, oh, ow]
//   gw[co, c, ki, kj]       = sum over (n, oh, ow) of gy[n, co, oh, ow] x[n, g Cg + c, ih, iw]
//   gb[co]                  = sum over (n, oh, ow) of gy[n, co, oh, ow]
//
// As a matrix product (one group g; K = Cg kh kw, P = Ho Wo; r = (c kh + ki) kw + kj):
//   forward:          Y_g [Coutg, N P]  = W_g [Coutg, K] x col [K, N P]
//   backward-data:    gX_g [Cg, N H W]  = W_g^T gathered: sum over r' = (co, ki, kj) of w[co, c, ki, kj] gY[...]
//   backward-weight:  gW_g [Coutg, K]   = gY_g [Coutg, N P] x col^T [N P, K]
// where col[r, (n, oh, ow)] = x[n, g Cg + c, oh sh - ph + ki dh, ow sw - pw + kj dw] is never stored:
// the kernels compute its elements from x as they load them ("implicit GEMM").
//
// CPU reference: cpu::conv::forward / backward_data / backward_weight / bias_grad /
// add_channel_bias in include/fbseg/ops/cpu/conv_kernels.hpp (im2col + Eigen GEMM, a direct loop
// for depthwise). The plain loop they all compute is, for the forward:
//   for n, co, oh, ow:
//       acc = b ? b[co] : 0
//       for c < Cg, ki < kh, kj < kw:
//           ih = oh*sh - ph + ki*dh; iw = ow*sw - pw + kj*dw
//           if (0 <= ih < H && 0 <= iw < W) acc += w[co][c][ki][kj] * x[n][g*Cg + c][ih][iw]
//       y[n][co][oh][ow] = acc
//
// The versions (the dispatcher at the bottom picks one; set_kernel_version forces one):
//   conv2d_forward          v1 direct, one thread per output element
//                           v2 implicit GEMM, 64x64 tile per 256-thread block, K-step 16, 4x4 per thread
//                           v3 v2, except depthwise shapes, which get a direct depthwise kernel
//   conv2d_backward_data    v1 direct gather, one thread per input element (no atomics)
//                           v2 implicit GEMM as a gather over the outputs each input feeds
//                           v3 v2, except depthwise shapes (direct depthwise gather)
//   conv2d_backward_weight  v1 one block per weight element, a fixed-order tree sum in double
//                           v2 implicit GEMM with split-K over N P, partials summed in a fixed order
//                           v3 v2, except depthwise shapes (one block per channel, every tap at once)
//   conv_bias_backward      v1 one block per channel, a fixed-order tree sum in double
//   add_channel_bias        v1 grid-stride loop
// Every result is deterministic: no float atomics; every sum has an order fixed by the shape.
#include <algorithm>
#include <climits>
#include <cstdint>

#include "cuda_check.cuh"
#include "launch.cuh"
#include "install.cuh"
#include "lab.cuh"

namespace fbseg::cuda {
namespace {

using std::int64_t;

constexpr int kBlockSize = 256;   // threads per block of the elementwise-style kernels
constexpr int kBlocksPerSm = 16;  // grid-size cap for the grid-stride loops

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

int grid_size(int64_t work_items, int device) {
    return detail::capped_grid(ceil_div(work_items, kBlockSize), device, kBlocksPerSm);
}

__device__ inline int64_t first_index() { return int64_t(blockIdx.x) * blockDim.x + threadIdx.x; }
__device__ inline int64_t grid_stride() { return int64_t(gridDim.x) * blockDim.x; }

/// The type a long sum is accumulated in by the reductions: double for float and double.
using Acc = double;

/// Sums red[0..kBlockSize) into red[0] in a fixed tree order (the same on every run).
__device__ inline void block_tree_sum(Acc* red) {
    for (int s = kBlockSize / 2; s > 0; s /= 2) {
        if (int(threadIdx.x) < s) red[threadIdx.x] += red[threadIdx.x + s];
        __syncthreads();
    }
}

// =============================================================================================
// v1: direct convolution. Plain loops, 64-bit indices, every stride / padding / dilation / group.
// (In device code ConvGeometry's helpers, host-only constexpr functions, are written out:
// cg() = c_in / groups, coutg() = c_out / groups, kk() = kh kw, p() = ho wo, hw() = h w.)
// =============================================================================================

// conv2d forward v1: one thread per output element y[n, co, oh, ow] (the loop in the header).
template <typename T>
__global__ void forward_direct_kernel(ConvGeometry g, const T* __restrict__ x, const T* __restrict__ w,
                                      const T* __restrict__ b, T* __restrict__ y) {
    const int64_t total = g.n * g.c_out * g.ho * g.wo, cg = (g.c_in / g.groups), coutg = (g.c_out / g.groups);
    for (int64_t e = first_index(); e < total; e += grid_stride()) {
        const int64_t ow = e % g.wo, oh = (e / g.wo) % g.ho, co = (e / (g.wo * g.ho)) % g.c_out;
        const int64_t n = e / (g.wo * g.ho * g.c_out), gi = co / coutg;
        T acc = b ? b[co] : T(0);
        for (int64_t c = 0; c < cg; ++c) {
            const T* xc = x + ((n * g.c_in + gi * cg + c) * g.h) * g.w;
            const T* wc = w + ((co * cg + c) * g.kh) * g.kw;
            for (int64_t ki = 0; ki < g.kh; ++ki) {
                const int64_t ih = oh * g.sh - g.ph + ki * g.dh;
                if (ih < 0 || ih >= g.h) continue;
                for (int64_t kj = 0; kj < g.kw; ++kj) {
                    const int64_t iw = ow * g.sw - g.pw + kj * g.dw;
                    if (iw < 0 || iw >= g.w) continue;
                    acc += wc[ki * g.kw + kj] * xc[ih * g.w + iw];
                }
            }
        }
        y[e] = acc;
    }
}

// conv2d backward-data v1: one thread per input element gx[n, ci, ih, iw], a gather over the
// outputs it fed (no atomics). CPU reference (cpu::conv::backward_data, written as a gather):
//   for n, ci, ih, iw:  (g = ci / Cg, c = ci % Cg)
//       acc = 0
//       for co in group g, ki, kj:
//           oh*sh = ih + ph - ki*dh and ow*sw = iw + pw - kj*dw, both exact and in range
//           acc += w[co][c][ki][kj] * gy[n][co][oh][ow]
//       gx[n][ci][ih][iw] = acc
template <typename T>
__global__ void backward_data_direct_kernel(ConvGeometry g, const T* __restrict__ gy, const T* __restrict__ w,
                                            T* __restrict__ gx) {
    const int64_t total = g.n * g.c_in * g.h * g.w, cg = (g.c_in / g.groups), coutg = (g.c_out / g.groups);
    for (int64_t e = first_index(); e < total; e += grid_stride()) {
        const int64_t iw = e % g.w, ih = (e / g.w) % g.h, ci = (e / (g.w * g.h)) % g.c_in;
        const int64_t n = e / (g.w * g.h * g.c_in), gi = ci / cg, c = ci % cg;
        T acc = T(0);
        for (int64_t j = 0; j < coutg; ++j) {
            const int64_t co = gi * coutg + j;
            const T* gyc = gy + ((n * g.c_out + co) * g.ho) * g.wo;
            const T* wc = w + ((co * cg + c) * g.kh) * g.kw;
            for (int64_t ki = 0; ki < g.kh; ++ki) {
                const int64_t oh_s = ih + g.ph - ki * g.dh;  // = oh * sh
                if (oh_s < 0 || oh_s % g.sh != 0 || oh_s / g.sh >= g.ho) continue;
                for (int64_t kj = 0; kj < g.kw; ++kj) {
                    const int64_t ow_s = iw + g.pw - kj * g.dw;
                    if (ow_s < 0 || ow_s % g.sw != 0 || ow_s / g.sw >= g.wo) continue;
                    acc += wc[ki * g.kw + kj] * gyc[(oh_s / g.sh) * g.wo + ow_s / g.sw];
                }
            }
        }
        gx[e] = acc;
    }
}

// conv2d backward-weight v1: one block per weight element gw[co, c, ki, kj]. The block's threads
// stride over the N Ho Wo products gy * x (thread t takes image n's pixels t, t + 256, ...), each
// in a double accumulator, then a fixed tree sums the 256 partials. CPU reference:
//   for co, c, ki, kj:
//       acc = 0
//       for n, oh, ow:  ih, iw as in the forward; if in range acc += gy[n][co][oh][ow] * x[n][g*Cg + c][ih][iw]
//       gw[co][c][ki][kj] = acc
template <typename T>
__global__ void backward_weight_direct_kernel(ConvGeometry g, const T* __restrict__ x, const T* __restrict__ gy,
                                              T* __restrict__ gw) {
    __shared__ Acc red[kBlockSize];
    const int64_t e = blockIdx.x;  // one weight element per block
    const int64_t cg = (g.c_in / g.groups), kj = e % g.kw, ki = (e / g.kw) % g.kh, c = (e / (g.kh * g.kw)) % cg, co = e / ((g.kh * g.kw) * cg);
    const int64_t gi = co / (g.c_out / g.groups), P = (g.ho * g.wo);
    Acc acc = 0;
    for (int64_t n = 0; n < g.n; ++n) {
        const T* gyc = gy + (n * g.c_out + co) * P;
        const T* xc = x + (n * g.c_in + gi * cg + c) * (g.h * g.w);
        for (int64_t p = threadIdx.x; p < P; p += kBlockSize) {
            const int64_t oh = p / g.wo, ow = p % g.wo;
            const int64_t ih = oh * g.sh - g.ph + ki * g.dh, iw = ow * g.sw - g.pw + kj * g.dw;
            if (ih >= 0 && ih < g.h && iw >= 0 && iw < g.w) acc += Acc(gyc[p]) * Acc(xc[ih * g.w + iw]);
        }
    }
    red[threadIdx.x] = acc;
    __syncthreads();
    block_tree_sum(red);
    if (threadIdx.x == 0) gw[e] = T(red[0]);
}

// =============================================================================================
// v2: implicit GEMM. Each 256-thread block computes a 64 x 64 tile of C = A x B (A [M, R],
// B [R, N]) in steps of 16 along R: it copies a 64 x 16 slice of A and a 16 x 64 slice of B into
// shared memory, then every thread multiplies its 4 x 4 outputs from there (register blocking:
// each shared value read once feeds 4 multiply-adds, each global value loaded once feeds 64).
// What changes from one pass to the other is only how a tile element is found in memory:
//   forward:         A = W_g [Coutg, K],            B = col [K, N P]  (computed from x),      C = Y
//   backward-data:   A = W_g read as [Cg, Coutg kk], B = gY gathered [Coutg kk, N H W],        C = gX
//   backward-weight: A = gY_g [Coutg, N P],          B = col^T [N P, K] (computed from x),    C = gW
// The index decoding (divisions by kh, kw, Wo...) is done once per tile row or column in a small
// shared table, not once per element. All GEMM dimensions must fit in 32 bits (the dispatcher
// falls back to v1 otherwise); offsets into the tensors are 64-bit.
// Thread t owns rows ty + 16 i and columns tx + 16 j (ty = t / 16, tx = t % 16, i, j < 4): a
// warp's shared reads are then conflict-free (or broadcast) and its global stores coalesced.
// =============================================================================================

constexpr int kTileM = 64, kTileN = 64, kTileR = 16, kGemmThreads = 256, kPerThread = 4;
static_assert(kTileM * kTileR == 4 * kGemmThreads && kTileN * kTileR == 4 * kGemmThreads, "4 loads per thread");
static_assert(kGemmThreads == (kTileM / kPerThread) * (kTileN / kPerThread), "4 x 4 outputs per thread");

template <typename T>
struct GemmTiles {
    T a[kTileR][kTileM + 1];  // +1: the loads that walk down a column do not hit one bank
    T b[kTileR][kTileN + 1];
};

/// acc[i][j] += sum over the 16 steps of a[k][ty + 16 i] * b[k][tx + 16 j].
template <typename T>
__device__ inline void multiply_tiles(const GemmTiles<T>& s, T (&acc)[kPerThread][kPerThread], int tx, int ty) {
#pragma unroll
    for (int k = 0; k < kTileR; ++k) {
        T a[kPerThread], b[kPerThread];
#pragma unroll
        for (int i = 0; i < kPerThread; ++i) a[i] = s.a[k][ty + 16 * i];
#pragma unroll
        for (int j = 0; j < kPerThread; ++j) b[j] = s.b[k][tx + 16 * j];
#pragma unroll
        for (int i = 0; i < kPerThread; ++i)
#pragma unroll
            for (int j = 0; j < kPerThread; ++j) acc[i][j] += a[i] * b[j];
    }
}

/// The 32-bit sizes the GEMM kernels read (checked to fit by the host).
struct GemmGeometry {
    int c_in, h, w, c_out, ho, wo, kh, kw, sh, sw, ph, pw, dh, dw, cg, coutg, kk;
    int64_t n;
};

GemmGeometry gemm_geometry(const ConvGeometry& g) {
    return GemmGeometry{int(g.c_in), int(g.h),  int(g.w),  int(g.c_out), int(g.ho), int(g.wo),
                        int(g.kh),   int(g.kw), int(g.sh), int(g.sw),    int(g.ph), int(g.pw),
                        int(g.dh),   int(g.dw), int(g.cg()), int(g.coutg()), int(g.kk()), g.n};
}

// forward v2. Block (tile, 1, group). M = Coutg, N = n P, R = K = Cg kh kw.
// A element (m, r) = w[(g Coutg + m) K + r]; B element (r, col) = x[img, g Cg + c, ih, iw] with
// col = img P + oh Wo + ow and r = (c kh + ki) kw + kj (0 outside the image).
template <typename T>
__global__ void __launch_bounds__(kGemmThreads)
    forward_gemm_kernel(GemmGeometry g, const T* __restrict__ x, const T* __restrict__ w, const T* __restrict__ bias,
                        T* __restrict__ y, int M, int N, int R, int tiles_m) {
    __shared__ GemmTiles<T> s;
    __shared__ int r_chan[kTileR], r_dh[kTileR], r_dw[kTileR];  // per step row: c, ki dh, kj dw (c < 0: past R)
    const int t = threadIdx.x, tx = t % 16, ty = t / 16, gi = blockIdx.z;
    const int m0 = int(blockIdx.x % tiles_m) * kTileM, n0 = int(blockIdx.x / tiles_m) * kTileN;
    const int P = g.ho * g.wo, HW = g.h * g.w;
    // This thread's B column (fixed for the whole block): the output pixel it loads x for.
    const int b_col = t % kTileN, col = n0 + b_col;
    int ih0 = 0, iw0 = 0;
    const T* x_img = x;
    const bool col_ok = col < N;
    if (col_ok) {
        const int img = col / P, p = col % P;
        ih0 = (p / g.wo) * g.sh - g.ph;
        iw0 = (p % g.wo) * g.sw - g.pw;
        x_img = x + (int64_t(img) * g.c_in + int64_t(gi) * g.cg) * HW;
    }
    const T* w_g = w + int64_t(gi) * g.coutg * R;
    T acc[kPerThread][kPerThread] = {};
    for (int r0 = 0; r0 < R; r0 += kTileR) {
        if (t < kTileR) {
            const int r = r0 + t;
            const int c = r / g.kk, tap = r % g.kk;
            r_chan[t] = r < R ? c : -1;
            r_dh[t] = (tap / g.kw) * g.dh;
            r_dw[t] = (tap % g.kw) * g.dw;
        }
        __syncthreads();
#pragma unroll
        for (int i = 0; i < 4; ++i) {
            const int e = t + i * kGemmThreads;
            // A: 16 neighbouring threads read 16 neighbouring weights of one row (coalesced).
            const int ak = e % kTileR, am = e / kTileR, m = m0 + am, r = r0 + ak;
            s.a[ak][am] = (m < M && r < R) ? w_g[int64_t(m) * R + r] : T(0);
            // B: neighbouring threads read neighbouring output pixels (coalesced for stride 1).
            const int bk = e / kTileN;
            T v = T(0);
            if (col_ok && r_chan[bk] >= 0) {
                const int ih = ih0 + r_dh[bk], iw = iw0 + r_dw[bk];
                if (ih >= 0 && ih < g.h && iw >= 0 && iw < g.w) v = x_img[int64_t(r_chan[bk]) * HW + ih * g.w + iw];
            }
            s.b[bk][b_col] = v;
        }
        __syncthreads();
        multiply_tiles(s, acc, tx, ty);
        __syncthreads();
    }
#pragma unroll
    for (int j = 0; j < kPerThread; ++j) {
        const int cn = n0 + tx + 16 * j;
        if (cn >= N) continue;
        const int img = cn / P, p = cn % P;
#pragma unroll
        for (int i = 0; i < kPerThread; ++i) {
            const int m = m0 + ty + 16 * i;
            if (m >= M) continue;
            const int co = gi * g.coutg + m;
            y[(int64_t(img) * g.c_out + co) * P + p] = acc[i][j] + (bias ? bias[co] : T(0));
        }
    }
}

// backward-data v2, a gather. Block (tile, 1, group). M = Cg, N = n H W, R = Coutg kk.
// A element (m = c, r = (j, tap)) = w[((g Coutg + j) Cg + c) kk + tap];
// B element (r, col = img H W + ih W + iw) = gy[img, g Coutg + j, oh, ow] where
// oh sh = ih + ph - ki dh and ow sw = iw + pw - kj dw exactly and in range, else 0.
// Each gx element is written by exactly one thread: no atomics, no col2im scatter. The price:
// for stride s, only about 1 / s^2 of B's elements are non-zero (the GEMM multiplies zeros).
template <typename T>
__global__ void __launch_bounds__(kGemmThreads)
    backward_data_gemm_kernel(GemmGeometry g, const T* __restrict__ gy, const T* __restrict__ w, T* __restrict__ gx,
                              int M, int N, int R, int tiles_m) {
    __shared__ GemmTiles<T> s;
    __shared__ int r_chan[kTileR], r_dh[kTileR], r_dw[kTileR];  // j (< 0: past R), ki dh, kj dw
    const int t = threadIdx.x, tx = t % 16, ty = t / 16, gi = blockIdx.z;
    const int m0 = int(blockIdx.x % tiles_m) * kTileM, n0 = int(blockIdx.x / tiles_m) * kTileN;
    const int P = g.ho * g.wo, HW = g.h * g.w;
    const int b_col = t % kTileN, col = n0 + b_col;
    int oh_base = 0, ow_base = 0;  // ih + ph, iw + pw
    const T* gy_img = gy;
    const bool col_ok = col < N;
    if (col_ok) {
        const int img = col / HW, q = col % HW;
        oh_base = q / g.w + g.ph;
        ow_base = q % g.w + g.pw;
        gy_img = gy + (int64_t(img) * g.c_out + int64_t(gi) * g.coutg) * P;
    }
    T acc[kPerThread][kPerThread] = {};
    for (int r0 = 0; r0 < R; r0 += kTileR) {
        if (t < kTileR) {
            const int r = r0 + t;
            const int j = r / g.kk, tap = r % g.kk;
            r_chan[t] = r < R ? j : -1;
            r_dh[t] = (tap / g.kw) * g.dh;
            r_dw[t] = (tap % g.kw) * g.dw;
        }
        __syncthreads();
#pragma unroll
        for (int i = 0; i < 4; ++i) {
            const int e = t + i * kGemmThreads;
            const int ak = e % kTileR, am = e / kTileR, m = m0 + am, r = r0 + ak;
            T a = T(0);
            if (m < M && r < R) {
                const int j = r / g.kk, tap = r % g.kk;
                a = w[((int64_t(gi) * g.coutg + j) * g.cg + m) * g.kk + tap];
            }
            s.a[ak][am] = a;
            const int bk = e / kTileN;
            T v = T(0);
            if (col_ok && r_chan[bk] >= 0) {
                const int oh_s = oh_base - r_dh[bk], ow_s = ow_base - r_dw[bk];
                if (oh_s >= 0 && ow_s >= 0 && oh_s % g.sh == 0 && ow_s % g.sw == 0) {
                    const int oh = oh_s / g.sh, ow = ow_s / g.sw;
                    if (oh < g.ho && ow < g.wo) v = gy_img[int64_t(r_chan[bk]) * P + oh * g.wo + ow];
                }
            }
            s.b[bk][b_col] = v;
        }
        __syncthreads();
        multiply_tiles(s, acc, tx, ty);
        __syncthreads();
    }
#pragma unroll
    for (int j = 0; j < kPerThread; ++j) {
        const int cn = n0 + tx + 16 * j;
        if (cn >= N) continue;
        const int img = cn / HW, q = cn % HW;
#pragma unroll
        for (int i = 0; i < kPerThread; ++i) {
            const int m = m0 + ty + 16 * i;
            if (m >= M) continue;
            gx[(int64_t(img) * g.c_in + int64_t(gi) * g.cg + m) * HW + q] = acc[i][j];
        }
    }
}

// backward-weight v2 with split-K. Block (tile, split, group). M = Coutg, N = K = Cg kk,
// R = L = n P (the long sum). Split s sums rows [s chunk, (s + 1) chunk) of the reduction and
// writes its 64 x 64 partial to out + s * split_stride (the workspace; gw itself when there is one
// split). A element (m = co, l = img P + p) = gy[img, g Coutg + co, p];
// B element (l, col = (c, ki, kj)) = x[img, g Cg + c, oh sh - ph + ki dh, ow sw - pw + kj dw].
// Both tiles are loaded along l (neighbouring threads, neighbouring pixels: coalesced); the
// column decoding is a per-block table, the row decoding a per-step table.
template <typename T>
__global__ void __launch_bounds__(kGemmThreads)
    backward_weight_gemm_kernel(GemmGeometry g, const T* __restrict__ x, const T* __restrict__ gy, T* __restrict__ out,
                                int64_t split_stride, int M, int N, int L, int chunk, int tiles_m) {
    __shared__ GemmTiles<T> s;
    __shared__ int col_chan[kTileN], col_dh[kTileN], col_dw[kTileN];  // c (< 0: past N), ki dh, kj dw
    __shared__ int64_t l_gy[kTileR], l_x[kTileR];                      // offsets of image img (l_gy < 0: past)
    __shared__ int l_pix[kTileR], l_ih[kTileR], l_iw[kTileR];          // p, oh sh - ph, ow sw - pw
    const int t = threadIdx.x, tx = t % 16, ty = t / 16, gi = blockIdx.z;
    const int m0 = int(blockIdx.x % tiles_m) * kTileM, n0 = int(blockIdx.x / tiles_m) * kTileN;
    const int P = g.ho * g.wo, HW = g.h * g.w;
    const int64_t begin = int64_t(blockIdx.y) * chunk, end = begin + chunk;
    const int l_begin = int(begin < L ? begin : L), l_end = int(end < L ? end : L);
    if (t < kTileN) {
        const int cn = n0 + t, c = cn / g.kk, tap = cn % g.kk;
        col_chan[t] = cn < N ? c : -1;
        col_dh[t] = (tap / g.kw) * g.dh;
        col_dw[t] = (tap % g.kw) * g.dw;
    }
    T acc[kPerThread][kPerThread] = {};
    for (int l0 = l_begin; l0 < l_end; l0 += kTileR) {
        if (t < kTileR) {
            const int l = l0 + t;
            const int img = l / P, p = l % P;
            l_gy[t] = l < l_end ? (int64_t(img) * g.c_out + int64_t(gi) * g.coutg) * P : -1;
            l_x[t] = (int64_t(img) * g.c_in + int64_t(gi) * g.cg) * HW;
            l_pix[t] = p;
            l_ih[t] = (p / g.wo) * g.sh - g.ph;
            l_iw[t] = (p % g.wo) * g.sw - g.pw;
        }
        __syncthreads();
#pragma unroll
        for (int i = 0; i < 4; ++i) {
            const int e = t + i * kGemmThreads;
            const int k = e % kTileR, row = e / kTileR;  // k: the step along l; row: m or the column
            const bool l_ok = l_gy[k] >= 0;
            const int m = m0 + row;
            s.a[k][row] = (l_ok && m < M) ? gy[l_gy[k] + int64_t(m) * P + l_pix[k]] : T(0);
            T v = T(0);
            if (l_ok && col_chan[row] >= 0) {
                const int ih = l_ih[k] + col_dh[row], iw = l_iw[k] + col_dw[row];
                if (ih >= 0 && ih < g.h && iw >= 0 && iw < g.w) v = x[l_x[k] + int64_t(col_chan[row]) * HW + ih * g.w + iw];
            }
            s.b[k][row] = v;
        }
        __syncthreads();
        multiply_tiles(s, acc, tx, ty);
        __syncthreads();
    }
    T* dst = out + int64_t(blockIdx.y) * split_stride;
#pragma unroll
    for (int i = 0; i < kPerThread; ++i) {
        const int m = m0 + ty + 16 * i;
        if (m >= M) continue;
#pragma unroll
        for (int j = 0; j < kPerThread; ++j) {
            const int cn = n0 + tx + 16 * j;
            if (cn < N) dst[(int64_t(gi) * g.coutg + m) * N + cn] = acc[i][j];
        }
    }
}

// The second step of split-K: gw[e] = sum over s of partial[s][e], s in order, in double.
template <typename T>
__global__ void sum_splits_kernel(const T* __restrict__ partial, T* __restrict__ gw, int64_t total, int splits) {
    for (int64_t e = first_index(); e < total; e += grid_stride()) {
        Acc acc = 0;
        for (int sp = 0; sp < splits; ++sp) acc += Acc(partial[int64_t(sp) * total + e]);
        gw[e] = T(acc);
    }
}

// =============================================================================================
// Depthwise (Cg == 1, Coutg <= 4: g.depthwise(), EfficientNet's 3x3 / 5x5 stride 1 and 2). The
// GEMM would have a single row per group, so these are direct kernels. Compared with v1 they drop
// the loop over input channels, and the forward and backward-data kernels are compiled for 3x3
// and 5x5 (kKernel = 3, 5; 0 = any size): the tap loops unroll and the bounds tests fold.
// =============================================================================================

// depthwise forward: y[n, co, oh, ow] = b[co] + sum_{ki, kj} w[co, 0, ki, kj] x[n, co / Coutg, ih, iw]
template <typename T, int kKernel>
__global__ void depthwise_forward_kernel(ConvGeometry g, const T* __restrict__ x, const T* __restrict__ w,
                                         const T* __restrict__ b, T* __restrict__ y) {
    const int64_t total = g.n * g.c_out * g.ho * g.wo, coutg = (g.c_out / g.groups);
    const int kh = kKernel ? kKernel : int(g.kh), kw = kKernel ? kKernel : int(g.kw);
    const int H = int(g.h), W = int(g.w), P = int((g.ho * g.wo));
    for (int64_t e = first_index(); e < total; e += grid_stride()) {
        const int p = int(e % P);
        const int64_t plane = e / P, co = plane % g.c_out, n = plane / g.c_out;
        const int oh = p / int(g.wo), ow = p % int(g.wo);
        const T* xp = x + (n * g.c_in + co / coutg) * int64_t(H) * W;
        const T* wp = w + co * kh * kw;
        const int ih0 = oh * int(g.sh) - int(g.ph), iw0 = ow * int(g.sw) - int(g.pw);
        T acc = b ? b[co] : T(0);
#pragma unroll
        for (int ki = 0; ki < kh; ++ki) {
            const int ih = ih0 + ki * int(g.dh);
            if (ih < 0 || ih >= H) continue;
#pragma unroll
            for (int kj = 0; kj < kw; ++kj) {
                const int iw = iw0 + kj * int(g.dw);
                if (iw >= 0 && iw < W) acc += wp[ki * kw + kj] * xp[ih * W + iw];
            }
        }
        y[e] = acc;
    }
}

// depthwise backward-data: gx[n, ci, ih, iw] = sum over the Coutg channels co = ci Coutg + j and
// the taps that read (ih, iw), of w[co, 0, ki, kj] gy[n, co, oh, ow] (a gather, as v1).
template <typename T, int kKernel>
__global__ void depthwise_backward_data_kernel(ConvGeometry g, const T* __restrict__ gy, const T* __restrict__ w,
                                               T* __restrict__ gx) {
    const int64_t total = g.n * g.c_in * g.h * g.w;
    const int coutg = int((g.c_out / g.groups));
    const int kh = kKernel ? kKernel : int(g.kh), kw = kKernel ? kKernel : int(g.kw);
    const int HW = int((g.h * g.w)), Ho = int(g.ho), Wo = int(g.wo), sh = int(g.sh), sw = int(g.sw);
    for (int64_t e = first_index(); e < total; e += grid_stride()) {
        const int q = int(e % HW);
        const int64_t plane = e / HW, ci = plane % g.c_in, n = plane / g.c_in;
        const int oh_base = q / int(g.w) + int(g.ph), ow_base = q % int(g.w) + int(g.pw);
        T acc = T(0);
        for (int j = 0; j < coutg; ++j) {
            const int64_t co = ci * coutg + j;
            const T* gyp = gy + (n * g.c_out + co) * int64_t(Ho) * Wo;
            const T* wp = w + co * kh * kw;
#pragma unroll
            for (int ki = 0; ki < kh; ++ki) {
                const int oh_s = oh_base - ki * int(g.dh);
                if (oh_s < 0 || oh_s % sh != 0 || oh_s / sh >= Ho) continue;
#pragma unroll
                for (int kj = 0; kj < kw; ++kj) {
                    const int ow_s = ow_base - kj * int(g.dw);
                    if (ow_s < 0 || ow_s % sw != 0 || ow_s / sw >= Wo) continue;
                    acc += wp[ki * kw + kj] * gyp[(oh_s / sh) * Wo + ow_s / sw];
                }
            }
        }
        gx[e] = acc;
    }
}

constexpr int kMaxDepthwiseTaps = 25;  // kh kw up to 5x5 in the depthwise backward-weight kernel

// depthwise backward-weight: one block per output channel co computes all kh kw taps at once.
// Thread t walks pixels t, t + 256, ... of every image, reads gy once and adds gy * x for each
// tap into its own double accumulator; then one fixed-order tree per tap sums the 256 partials.
template <typename T>
__global__ void depthwise_backward_weight_kernel(ConvGeometry g, const T* __restrict__ x, const T* __restrict__ gy,
                                                 T* __restrict__ gw) {
    __shared__ Acc red[kBlockSize];
    const int64_t co = blockIdx.x, ci = co / (g.c_out / g.groups);
    const int kh = int(g.kh), kw = int(g.kw), kk = kh * kw, H = int(g.h), W = int(g.w), P = int((g.ho * g.wo));
    Acc acc[kMaxDepthwiseTaps];
#pragma unroll
    for (int tap = 0; tap < kMaxDepthwiseTaps; ++tap) acc[tap] = 0;
    for (int64_t n = 0; n < g.n; ++n) {
        const T* gyp = gy + (n * g.c_out + co) * P;
        const T* xp = x + (n * g.c_in + ci) * int64_t(H) * W;
        for (int p = threadIdx.x; p < P; p += kBlockSize) {
            const Acc d = Acc(gyp[p]);
            const int ih0 = (p / int(g.wo)) * int(g.sh) - int(g.ph), iw0 = (p % int(g.wo)) * int(g.sw) - int(g.pw);
#pragma unroll
            for (int tap = 0; tap < kMaxDepthwiseTaps; ++tap) {
                if (tap >= kk) break;
                const int ih = ih0 + (tap / kw) * int(g.dh), iw = iw0 + (tap % kw) * int(g.dw);
                if (ih >= 0 && ih < H && iw >= 0 && iw < W) acc[tap] += d * Acc(xp[ih * W + iw]);
            }
        }
    }
#pragma unroll
    for (int tap = 0; tap < kMaxDepthwiseTaps; ++tap) {
        if (tap >= kk) break;
        red[threadIdx.x] = acc[tap];
        __syncthreads();
        block_tree_sum(red);
        if (threadIdx.x == 0) gw[co * kk + tap] = T(red[0]);
        __syncthreads();  // red[0] is read before the next tap overwrites red
    }
}

// =============================================================================================
// Bias: gradient and add.
// =============================================================================================

// conv_bias_backward v1: gb[k] = sum_{i < n, j < p} gy[i, k, j] (cpu::conv::bias_grad). One block
// per channel; thread t sums j = t, t + 256, ... of each image in order in double, then a fixed
// tree sums the 256 partials: the same result on every run.
template <typename T>
__global__ void bias_backward_kernel(const T* __restrict__ gy, T* __restrict__ gb, int64_t n, int64_t c, int64_t p) {
    __shared__ Acc red[kBlockSize];
    const int64_t k = blockIdx.x;
    Acc acc = 0;
    for (int64_t i = 0; i < n; ++i) {
        const T* row = gy + (i * c + k) * p;
        for (int64_t j = threadIdx.x; j < p; j += kBlockSize) acc += Acc(row[j]);
    }
    red[threadIdx.x] = acc;
    __syncthreads();
    block_tree_sum(red);
    if (threadIdx.x == 0) gb[k] = T(red[0]);
}

// add_channel_bias v1: y[i, k, j] += b[k] for y (n, c, p) (cpu::conv::add_channel_bias):
//   for (e = 0; e < n c p; ++e) y[e] += b[(e / p) % c];
template <typename T>
__global__ void add_channel_bias_kernel(T* __restrict__ y, const T* __restrict__ b, int64_t total, int64_t c,
                                        int64_t p) {
    for (int64_t e = first_index(); e < total; e += grid_stride()) y[e] += b[(e / p) % c];
}

// =============================================================================================
// Host side: checks, choosing a version, launching.
// =============================================================================================

bool fits_int(int64_t v) { return v >= 0 && v <= INT_MAX; }

/// The GEMM kernels' 32-bit indices hold for this problem (every dimension, every per-image
/// offset, the tile count) and the groups fit in a grid dimension.
bool gemm_fits(const ConvGeometry& g) {
    const int64_t per_image = std::max(g.c_in * g.hw(), g.c_out * g.p());
    return fits_int(g.n * g.p() + kTileN) && fits_int(g.n * g.hw() + kTileN) && fits_int(g.k() + kTileN) &&
           fits_int(g.coutg() * g.kk() + kTileR) && fits_int(per_image) && g.groups <= 65535 &&
           fits_int(ceil_div(g.n * std::max(g.p(), g.hw()), kTileN) * ceil_div(std::max(g.coutg(), g.cg()), kTileM));
}

bool depthwise_fits(const ConvGeometry& g) {
    return g.depthwise() && g.kk() <= kMaxDepthwiseTaps && fits_int(g.hw()) && fits_int(g.p()) && fits_int(g.h + g.ph) &&
           fits_int(g.w + g.pw) && g.c_out <= INT_MAX;
}

void check_geometry(const ConvGeometry& g, const char* op) {
    FBSEG_CHECK(g.n >= 0 && g.c_in >= 0 && g.h >= 0 && g.w >= 0 && g.c_out >= 0 && g.ho >= 0 && g.wo >= 0, op,
                ": negative size in the geometry");
    FBSEG_CHECK(g.kh >= 1 && g.kw >= 1 && g.sh >= 1 && g.sw >= 1 && g.dh >= 1 && g.dw >= 1 && g.ph >= 0 &&
                    g.pw >= 0 && g.groups >= 1 && g.c_in % g.groups == 0 && g.c_out % g.groups == 0,
                op, ": invalid geometry (kernel, stride, dilation, padding or groups)");
}

/// Version 3 means "the depthwise kernel where it applies, else v2"; v2 falls back to v1 when the
/// problem does not fit its 32-bit indices.
int resolve(int version, const ConvGeometry& g) {
    if (version == 3 && !depthwise_fits(g)) version = 2;
    if (version == 2 && !gemm_fits(g)) version = 1;
    return version;
}

int automatic_version(const ConvGeometry& g) { return depthwise_fits(g) ? 3 : (gemm_fits(g) ? 2 : 1); }

// Measured exceptions (H200, benchmarks/gpu/bench_conv.cpp): the backward-data GEMM's rows are the
// input channels per group, so with Cg < 8 most of its 64-row tile is wasted (the ResNet stem,
// Cg = 1: v2 25.6 ms, v1 7.7 ms): v1 there. The depthwise weight gradient with one block per
// weight element (v1, 864 blocks for 96 channels) beats one block per channel (v3, 96 blocks):
// 301 us against 406 us.
int automatic_backward_data_version(const ConvGeometry& g) {
    const int v = automatic_version(g);
    return (v == 2 && g.cg() < 8) ? 1 : v;
}
int automatic_backward_weight_version(const ConvGeometry& g) {
    const int v = automatic_version(g);
    return v == 3 ? 1 : v;
}

dim3 gemm_grid(int64_t M, int64_t N, int64_t splits, int64_t groups, int& tiles_m) {
    tiles_m = int(std::max<int64_t>(1, ceil_div(M, kTileM)));
    const int64_t tiles_n = std::max<int64_t>(1, ceil_div(N, kTileN));
    return dim3(unsigned(tiles_m * tiles_n), unsigned(splits), unsigned(groups));
}

template <typename T>
void launch_forward(int version, const ConvGeometry& g, const T* x, const T* w, const T* b, T* y, int device) {
    const int64_t total = g.n * g.c_out * g.p();
    if (version == 3) {
        const int blocks = grid_size(total, device);
        if (g.kh == 3 && g.kw == 3) depthwise_forward_kernel<T, 3><<<blocks, kBlockSize>>>(g, x, w, b, y);
        else if (g.kh == 5 && g.kw == 5) depthwise_forward_kernel<T, 5><<<blocks, kBlockSize>>>(g, x, w, b, y);
        else depthwise_forward_kernel<T, 0><<<blocks, kBlockSize>>>(g, x, w, b, y);
    } else if (version == 2) {
        int tiles_m = 0;
        const dim3 grid = gemm_grid(g.coutg(), g.n * g.p(), 1, g.groups, tiles_m);
        forward_gemm_kernel<T><<<grid, kGemmThreads>>>(gemm_geometry(g), x, w, b, y, int(g.coutg()), int(g.n * g.p()),
                                                        int(g.k()), tiles_m);
    } else {
        forward_direct_kernel<T><<<grid_size(total, device), kBlockSize>>>(g, x, w, b, y);
    }
    FBSEG_CUDA_CHECK_LAUNCH();
}

template <typename T>
void launch_backward_data(int version, const ConvGeometry& g, const T* gy, const T* w, T* gx, int device) {
    const int64_t total = g.n * g.c_in * g.hw();
    if (version == 3) {
        const int blocks = grid_size(total, device);
        if (g.kh == 3 && g.kw == 3) depthwise_backward_data_kernel<T, 3><<<blocks, kBlockSize>>>(g, gy, w, gx);
        else if (g.kh == 5 && g.kw == 5) depthwise_backward_data_kernel<T, 5><<<blocks, kBlockSize>>>(g, gy, w, gx);
        else depthwise_backward_data_kernel<T, 0><<<blocks, kBlockSize>>>(g, gy, w, gx);
    } else if (version == 2) {
        int tiles_m = 0;
        const dim3 grid = gemm_grid(g.cg(), g.n * g.hw(), 1, g.groups, tiles_m);
        backward_data_gemm_kernel<T><<<grid, kGemmThreads>>>(gemm_geometry(g), gy, w, gx, int(g.cg()),
                                                              int(g.n * g.hw()), int(g.coutg() * g.kk()), tiles_m);
    } else {
        backward_data_direct_kernel<T><<<grid_size(total, device), kBlockSize>>>(g, gy, w, gx);
    }
    FBSEG_CUDA_CHECK_LAUNCH();
}

/// Split-K for backward-weight, fixed by the sizes only (so the result does not depend on the
/// GPU): about 1024 blocks in all, each split at least 512 reduction rows long, at most 1024
/// splits; the chunk is a multiple of the K-step.
void choose_splits(int64_t blocks_per_split, int64_t L, int64_t& splits, int64_t& chunk) {
    if (L <= 0) {
        splits = 1, chunk = 0;
        return;
    }
    const int64_t wanted = std::clamp<int64_t>(ceil_div(1024, std::max<int64_t>(1, blocks_per_split)), 1, 1024);
    splits = std::max<int64_t>(1, std::min(wanted, L / 512));
    chunk = ceil_div(ceil_div(L, splits), kTileR) * kTileR;
    splits = ceil_div(L, chunk);
}

template <typename T>
void launch_backward_weight(int version, const ConvGeometry& g, const T* x, const T* gy, T* gw, int device) {
    const int64_t total = g.c_out * g.k();
    if (version == 3) {
        depthwise_backward_weight_kernel<T><<<unsigned(g.c_out), kBlockSize>>>(g, x, gy, gw);
        FBSEG_CUDA_CHECK_LAUNCH();
    } else if (version == 2) {
        const int64_t M = g.coutg(), N = g.k(), L = g.n * g.p();
        int tiles_m = 0;
        dim3 grid = gemm_grid(M, N, 1, g.groups, tiles_m);
        int64_t splits = 1, chunk = 0;
        choose_splits(int64_t(grid.x) * grid.z, L, splits, chunk);
        grid.y = unsigned(splits);
        if (splits == 1) {
            backward_weight_gemm_kernel<T><<<grid, kGemmThreads>>>(gemm_geometry(g), x, gy, gw, 0, int(M), int(N),
                                                                    int(L), int(std::max<int64_t>(chunk, 1)), tiles_m);
            FBSEG_CUDA_CHECK_LAUNCH();
        } else {
            // Workspace for the partial sums, from the caching allocator (reused across calls).
            T* partial = static_cast<T*>(allocate(std::size_t(splits * total) * sizeof(T), device));
            try {
                backward_weight_gemm_kernel<T><<<grid, kGemmThreads>>>(gemm_geometry(g), x, gy, partial, total, int(M),
                                                                        int(N), int(L), int(chunk), tiles_m);
                FBSEG_CUDA_CHECK_LAUNCH();
                sum_splits_kernel<T><<<grid_size(total, device), kBlockSize>>>(partial, gw, total, int(splits));
                FBSEG_CUDA_CHECK_LAUNCH();
            } catch (...) {
                deallocate(partial, device);
                throw;
            }
            // Safe to hand back before the kernels finish: every later use of the block is queued
            // on the same (default) stream, after them (docs/kernels.md, the caching allocator).
            deallocate(partial, device);
        }
    } else {
        FBSEG_CHECK(total <= INT_MAX, "conv2d_backward_weight: v1 has one block per weight element and ", total,
                    " weight elements are too many");
        backward_weight_direct_kernel<T><<<unsigned(total), kBlockSize>>>(g, x, gy, gw);
        FBSEG_CUDA_CHECK_LAUNCH();
    }
}

}  // namespace

// ---- the dispatchers (public entry points, cuda/api.hpp) -----------------------------------------
// Rule: depthwise shapes (Cg == 1, Coutg <= 4, kh kw <= 25) take v3 (the depthwise kernels);
// everything else takes v2 (implicit GEMM) when its sizes fit the GEMM's 32-bit indices, else v1.
// Two measured exceptions: backward-data with Cg < 8 takes v1, depthwise backward-weight takes v1.
// A forced v3 on a non-depthwise shape runs v2, a forced v2 that does not fit runs v1.

void conv2d_forward(DType dtype, const ConvGeometry& g, const void* x, const void* weight, const void* bias, void* y,
                    int device) {
    check_geometry(g, "conv2d_forward");
    if (g.n == 0 || g.c_out == 0 || g.p() == 0) return;
    FBSEG_CHECK(y != nullptr && weight != nullptr && (x != nullptr || g.c_in == 0), "conv2d_forward: null pointer");
    detail::DeviceGuard guard(device, "conv2d_forward");
    const int version = resolve(detail::choose_version("conv2d_forward", automatic_version(g), 3), g);
    dispatch_floating(dtype, "conv2d_forward", [&]<typename T>() {
        launch_forward<T>(version, g, static_cast<const T*>(x), static_cast<const T*>(weight),
                          static_cast<const T*>(bias), static_cast<T*>(y), device);
    });
}

void conv2d_backward_data(DType dtype, const ConvGeometry& g, const void* gy, const void* weight, void* gx,
                          int device) {
    check_geometry(g, "conv2d_backward_data");
    if (g.n == 0 || g.c_in == 0 || g.hw() == 0) return;
    FBSEG_CHECK(gx != nullptr, "conv2d_backward_data: null pointer");
    detail::DeviceGuard guard(device, "conv2d_backward_data");
    const int automatic = automatic_backward_data_version(g);
    const int version = resolve(detail::choose_version("conv2d_backward_data", automatic, 3), g);
    dispatch_floating(dtype, "conv2d_backward_data", [&]<typename T>() {
        launch_backward_data<T>(version, g, static_cast<const T*>(gy), static_cast<const T*>(weight),
                                static_cast<T*>(gx), device);
    });
}

void conv2d_backward_weight(DType dtype, const ConvGeometry& g, const void* x, const void* gy, void* gw, int device) {
    check_geometry(g, "conv2d_backward_weight");
    if (g.c_out == 0 || g.k() == 0) return;
    FBSEG_CHECK(gw != nullptr, "conv2d_backward_weight: null pointer");
    detail::DeviceGuard guard(device, "conv2d_backward_weight");
    const int automatic = automatic_backward_weight_version(g);
    const int version = resolve(detail::choose_version("conv2d_backward_weight", automatic, 3), g);
    dispatch_floating(dtype, "conv2d_backward_weight", [&]<typename T>() {
        launch_backward_weight<T>(version, g, static_cast<const T*>(x), static_cast<const T*>(gy),
                                  static_cast<T*>(gw), device);
    });
}

void conv_bias_backward(DType dtype, const void* gy, void* gb, std::int64_t n, std::int64_t c, std::int64_t p,
                        int device) {
    FBSEG_CHECK(n >= 0 && c >= 0 && p >= 0, "conv_bias_backward: negative size (", n, ", ", c, ", ", p, ")");
    if (c == 0) return;
    FBSEG_CHECK(gb != nullptr && c <= INT_MAX, "conv_bias_backward: null pointer or too many channels");
    detail::DeviceGuard guard(device, "conv_bias_backward");
    (void)detail::choose_version("conv_bias_backward", 1, 1);
    dispatch_floating(dtype, "conv_bias_backward", [&]<typename T>() {
        bias_backward_kernel<T><<<unsigned(c), kBlockSize>>>(static_cast<const T*>(gy), static_cast<T*>(gb), n, c, p);
        FBSEG_CUDA_CHECK_LAUNCH();
    });
}

void add_channel_bias(DType dtype, void* y, const void* b, std::int64_t n, std::int64_t c, std::int64_t p,
                      int device) {
    FBSEG_CHECK(n >= 0 && c >= 0 && p >= 0, "add_channel_bias: negative size (", n, ", ", c, ", ", p, ")");
    const int64_t total = n * c * p;
    if (total == 0) return;
    FBSEG_CHECK(y != nullptr && b != nullptr, "add_channel_bias: null pointer");
    detail::DeviceGuard guard(device, "add_channel_bias");
    (void)detail::choose_version("add_channel_bias", 1, 1);
    dispatch_floating(dtype, "add_channel_bias", [&]<typename T>() {
        add_channel_bias_kernel<T><<<grid_size(total, device), kBlockSize>>>(static_cast<T*>(y),
                                                                              static_cast<const T*>(b), total, c, p);
        FBSEG_CUDA_CHECK_LAUNCH();
    });
}

void install_conv_kernels(Backend& b) {
    b.conv2d_forward = &conv2d_forward;
    b.conv2d_backward_data = &conv2d_backward_data;
    b.conv2d_backward_weight = &conv2d_backward_weight;
    b.conv_bias_backward = &conv_bias_backward;
    b.add_channel_bias = &add_channel_bias;
}

}  // namespace fbseg::cuda
