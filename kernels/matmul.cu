// kernels/matmul.cu - the batched matrix product c[z] = a[z] @ b[z]: the SGEMM ladder.
//
// The math. For every batch z, row i and column j:
//
//     c[z, i, j] = sum over p in [0, k) of a[z, i, p] * b[z, p, j]
//
//   a: (batch, m, k) with strides sa[3] = (batch, row, column), in elements, any layout
//      (a transposed view has sa[2] != 1; a broadcast batch has sa[0] = 0);
//   b: (batch, k, n) with strides sb[3];
//   c: (batch, m, n) contiguous, overwritten (k = 0 gives zeros).
//
// CPU reference: cpu::bmm_forward (include/fbseg/ops/cpu/linalg.hpp), which calls Eigen's GEMM
// per block of 64 rows. Written as a plain loop it is:
//
//     for (int64_t z = 0; z < batch; ++z)
//         for (int64_t i = 0; i < m; ++i)
//             for (int64_t j = 0; j < n; ++j) {
//                 T acc = 0;
//                 for (int64_t p = 0; p < k; ++p)
//                     acc += a[z * sa[0] + i * sa[1] + p * sa[2]] * b[z * sb[0] + p * sb[1] + j * sb[2]];
//                 c[(z * m + i) * n + j] = acc;
//             }
//
// A GEMM does 2 m n k floating-point operations on (m k + k n + m n) values: for 4096^3 that is
// 137 GFLOP on 200 MB, so a good kernel is limited by arithmetic, not by memory, as long as it
// reuses every value it loads many times. The versions below climb that ladder (siboehm's "How
// to optimize a CUDA matmul kernel" is the classic reading; the code here is our own):
//
//   v1  naive: one thread per c element, consecutive threads walk down a column of c
//   v2  the same with consecutive threads along a row of c: coalesced loads of b and stores of c
//   v3  32x32 tiles of a and b staged in shared memory (each global value read once per tile)
//   v4  1D register blocking: 64x64 tiles, each thread computes 8 elements of a column
//   v5  2D register blocking: 128x128 tiles, each thread computes an 8x8 block
//   v6  v5 with float4 global loads and a stored transposed in shared memory (float4 reads)
//   v7  warp tiling: each warp owns a 64x32 piece of the tile, each thread 2x2 blocks of 4x4
//   v8  tensor cores: mma.sync m16n8k8 TF32 with a 3-stage cp.async pipeline (sm_80+)
//
// Every version handles any m, n, k and any strides: out-of-range elements of a tile are loaded
// as zeros and out-of-range elements of c are not stored. The vectorised loads of v6 to v8 are
// taken when the four values are in range, the column stride is 1 and the address is 16-byte
// aligned; otherwise the same four values are loaded one at a time (a transposed or misaligned
// operand is correct, only slower). v6, v7 and v8 are float32 kernels: for float64 they run v5.
// v8 rounds its inputs to TF32: the dispatcher uses it only when set_matmul_precision allows it.
//
// Offsets are 64-bit (batch * batch stride can exceed 2^31); the tile kernels loop over the
// batch (grid z) and over row tiles (grid y), so any batch and m fit the grid's limits.
// Determinism: no atomics; every c element is one thread's sum in a fixed order of p, so a
// version gives the same bits on every run (different versions round differently).
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <type_traits>

#include "cuda_check.cuh"
#include "install.cuh"
#include "lab.cuh"

namespace fbseg::cuda {
namespace {

using std::int64_t;

constexpr const char* kKernelName = "bmm_forward";
constexpr int kVersions = 8;

/// The problem as every kernel takes it (by value: it lives in the kernel's parameter space).
template <typename T>
struct Gemm {
    const T* a;
    const T* b;
    T* c;
    int64_t batch, m, n, k;
    int64_t sa0, sa1, sa2;  // a's strides: batch, row, column
    int64_t sb0, sb1, sb2;  // b's strides: batch, row, column
};

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

__device__ inline int64_t first_index() { return int64_t(blockIdx.x) * blockDim.x + threadIdx.x; }
__device__ inline int64_t grid_stride() { return int64_t(gridDim.x) * blockDim.x; }

/// a[z, i, p], or 0 outside the matrix (the zero padding of a partial tile).
template <typename T>
__device__ inline T load_a(const Gemm<T>& g, const T* a, int64_t i, int64_t p) {
    return (i < g.m && p < g.k) ? a[i * g.sa1 + p * g.sa2] : T(0);
}
/// b[z, p, j], or 0 outside the matrix.
template <typename T>
__device__ inline T load_b(const Gemm<T>& g, const T* b, int64_t p, int64_t j) {
    return (p < g.k && j < g.n) ? b[p * g.sb1 + j * g.sb2] : T(0);
}

// ---- v1: naive --------------------------------------------------------------------------------
// One thread per element of c, in a grid-stride loop over batch * m * n. The linear index runs
// down a column first (i fastest), so the 32 threads of a warp read 32 different rows of a (32
// separate memory transactions when a is row-major) and store 32 elements n apart in c. Obvious,
// correct, and slow: the reference point of the ladder.
template <typename T>
__global__ void bmm_v1_naive(Gemm<T> g) {
    const int64_t total = g.batch * g.m * g.n;
    for (int64_t idx = first_index(); idx < total; idx += grid_stride()) {
        const int64_t i = idx % g.m, rest = idx / g.m;
        const int64_t j = rest % g.n, z = rest / g.n;
        const T* a = g.a + z * g.sa0 + i * g.sa1;
        const T* b = g.b + z * g.sb0 + j * g.sb2;
        T acc = 0;
        for (int64_t p = 0; p < g.k; ++p) acc += a[p * g.sa2] * b[p * g.sb1];
        g.c[(z * g.m + i) * g.n + j] = acc;
    }
}

// ---- v2: global-memory coalescing ------------------------------------------------------------
// The same loop with j fastest. A warp now computes 32 neighbouring elements of one row of c:
// all its threads read the same a[i, p] (one broadcast transaction), 32 consecutive b[p, j]
// (one coalesced 128-byte transaction when b is row-major) and store 32 consecutive c values.
// Only the mapping of threads to elements changed; on large problems this alone is several
// times faster than v1.
template <typename T>
__global__ void bmm_v2_coalesced(Gemm<T> g) {
    const int64_t total = g.batch * g.m * g.n;
    for (int64_t idx = first_index(); idx < total; idx += grid_stride()) {
        const int64_t j = idx % g.n, rest = idx / g.n;
        const int64_t i = rest % g.m, z = rest / g.m;
        const T* a = g.a + z * g.sa0 + i * g.sa1;
        const T* b = g.b + z * g.sb0 + j * g.sb2;
        T acc = 0;
        for (int64_t p = 0; p < g.k; ++p) acc += a[p * g.sa2] * b[p * g.sb1];
        g.c[(z * g.m + i) * g.n + j] = acc;
    }
}

// ---- v3: shared-memory tiles ------------------------------------------------------------------
// A block of 32x32 threads computes a 32x32 tile of c. It walks k in steps of 32: each thread
// loads one element of a's 32x32 tile and one of b's into shared memory, the block waits
// (__syncthreads), then each thread does 32 multiply-adds out of shared memory. Each value
// read from global memory is now used by 32 threads instead of 1, so global traffic drops 32x.
// Elements outside the matrices are stored as 0 (they add nothing to the sums).
constexpr int kTile3 = 32;

template <typename T>
__global__ void __launch_bounds__(kTile3* kTile3) bmm_v3_shared(Gemm<T> g) {
    __shared__ T as[kTile3][kTile3];
    __shared__ T bs[kTile3][kTile3];
    const int tx = threadIdx.x, ty = threadIdx.y;
    const int64_t tiles_m = (g.m + kTile3 - 1) / kTile3;
    const int64_t j = int64_t(blockIdx.x) * kTile3 + tx;
    for (int64_t z = blockIdx.z; z < g.batch; z += gridDim.z) {
        const T* a = g.a + z * g.sa0;
        const T* b = g.b + z * g.sb0;
        for (int64_t tile = blockIdx.y; tile < tiles_m; tile += gridDim.y) {
            const int64_t i = tile * kTile3 + ty;
            T acc = 0;
            for (int64_t p0 = 0; p0 < g.k; p0 += kTile3) {
                as[ty][tx] = load_a(g, a, i, p0 + tx);
                bs[ty][tx] = load_b(g, b, p0 + ty, j);
                __syncthreads();
#pragma unroll
                for (int q = 0; q < kTile3; ++q) acc += as[ty][q] * bs[q][tx];
                __syncthreads();
            }
            if (i < g.m && j < g.n) g.c[(z * g.m + i) * g.n + j] = acc;
        }
    }
}

// ---- v4: 1D register blocking -----------------------------------------------------------------
// v3 does two shared-memory loads per multiply-add, and shared memory is not much faster than
// the arithmetic. Here a block of 512 threads computes a 64x64 tile, walking k in steps of 8;
// each thread computes 8 elements of one column of c (rows r*8 .. r*8+7), so one value of b
// loaded from shared memory into a register serves 8 multiply-adds. Loads: a's 64x8 tile and
// b's 8x64 tile are 512 values each, one per thread.
constexpr int kBm4 = 64, kBn4 = 64, kBk4 = 8, kTm4 = 8;
constexpr int kThreads4 = kBm4 * kBn4 / kTm4;  // 512

template <typename T>
__global__ void __launch_bounds__(kThreads4) bmm_v4_blocktile_1d(Gemm<T> g) {
    __shared__ T as[kBm4][kBk4];
    __shared__ T bs[kBk4][kBn4];
    const int tid = threadIdx.x;
    const int a_row = tid / kBk4, a_col = tid % kBk4;
    const int b_row = tid / kBn4, b_col = tid % kBn4;
    const int t_row = tid / kBn4, t_col = tid % kBn4;  // this thread: rows t_row*8 .. +7, column t_col
    const int64_t tiles_m = (g.m + kBm4 - 1) / kBm4;
    const int64_t col0 = int64_t(blockIdx.x) * kBn4;
    for (int64_t z = blockIdx.z; z < g.batch; z += gridDim.z) {
        const T* a = g.a + z * g.sa0;
        const T* b = g.b + z * g.sb0;
        for (int64_t tile = blockIdx.y; tile < tiles_m; tile += gridDim.y) {
            const int64_t row0 = tile * kBm4;
            T acc[kTm4] = {};
            for (int64_t p0 = 0; p0 < g.k; p0 += kBk4) {
                as[a_row][a_col] = load_a(g, a, row0 + a_row, p0 + a_col);
                bs[b_row][b_col] = load_b(g, b, p0 + b_row, col0 + b_col);
                __syncthreads();
#pragma unroll
                for (int q = 0; q < kBk4; ++q) {
                    const T bv = bs[q][t_col];
#pragma unroll
                    for (int r = 0; r < kTm4; ++r) acc[r] += as[t_row * kTm4 + r][q] * bv;
                }
                __syncthreads();
            }
            const int64_t j = col0 + t_col;
#pragma unroll
            for (int r = 0; r < kTm4; ++r) {
                const int64_t i = row0 + t_row * kTm4 + r;
                if (i < g.m && j < g.n) g.c[(z * g.m + i) * g.n + j] = acc[r];
            }
        }
    }
}

// ---- v5: 2D register blocking -----------------------------------------------------------------
// 256 threads compute a 128x128 tile, each an 8x8 block of it. Per step of k a thread loads 8
// values of a and 8 of b from shared memory into registers and does their 64 products (an outer
// product): 16 shared loads for 64 multiply-adds, against 2 per multiply-add in v3. The tile is
// larger, so each global value is reused 128 times. Each thread loads 4 values of a's 128x8
// tile and 4 of b's 8x128 tile per step.
constexpr int kBm = 128, kBn = 128, kBk = 8, kTm = 8, kTn = 8;
constexpr int kThreads = kBm * kBn / (kTm * kTn);  // 256
/// Blocks per SM the 128x128 kernels ask the compiler to fit: 2 for float32, which caps them at
/// 128 registers a thread (at 130, one block a SM would fit, and the SM would idle at every
/// __syncthreads); 1 for float64, whose 64 double accumulators alone take 128 registers.
template <typename T>
constexpr int kMinBlocks = sizeof(T) == sizeof(float) ? 2 : 1;

template <typename T>
__global__ void __launch_bounds__(kThreads, kMinBlocks<T>) bmm_v5_blocktile_2d(Gemm<T> g) {
    __shared__ T as[kBm][kBk];
    __shared__ T bs[kBk][kBn];
    const int tid = threadIdx.x;
    const int a_row = tid / kBk, a_col = tid % kBk;  // rows a_row + 32 r
    const int b_row = tid / kBn, b_col = tid % kBn;  // rows b_row + 2 r
    constexpr int kARowStep = kThreads / kBk, kBRowStep = kThreads / kBn;
    const int t_row = tid / (kBn / kTn), t_col = tid % (kBn / kTn);
    const int64_t tiles_m = (g.m + kBm - 1) / kBm;
    const int64_t col0 = int64_t(blockIdx.x) * kBn;
    for (int64_t z = blockIdx.z; z < g.batch; z += gridDim.z) {
        const T* a = g.a + z * g.sa0;
        const T* b = g.b + z * g.sb0;
        for (int64_t tile = blockIdx.y; tile < tiles_m; tile += gridDim.y) {
            const int64_t row0 = tile * kBm;
            T acc[kTm][kTn] = {};
            T reg_m[kTm], reg_n[kTn];
            for (int64_t p0 = 0; p0 < g.k; p0 += kBk) {
#pragma unroll
                for (int r = 0; r < kBm; r += kARowStep)
                    as[a_row + r][a_col] = load_a(g, a, row0 + a_row + r, p0 + a_col);
#pragma unroll
                for (int r = 0; r < kBk; r += kBRowStep)
                    bs[b_row + r][b_col] = load_b(g, b, p0 + b_row + r, col0 + b_col);
                __syncthreads();
#pragma unroll
                for (int q = 0; q < kBk; ++q) {
#pragma unroll
                    for (int x = 0; x < kTm; ++x) reg_m[x] = as[t_row * kTm + x][q];
#pragma unroll
                    for (int y = 0; y < kTn; ++y) reg_n[y] = bs[q][t_col * kTn + y];
#pragma unroll
                    for (int x = 0; x < kTm; ++x)
#pragma unroll
                        for (int y = 0; y < kTn; ++y) acc[x][y] += reg_m[x] * reg_n[y];
                }
                __syncthreads();
            }
#pragma unroll
            for (int x = 0; x < kTm; ++x) {
                const int64_t i = row0 + t_row * kTm + x;
                if (i >= g.m) break;
#pragma unroll
                for (int y = 0; y < kTn; ++y) {
                    const int64_t j = col0 + t_col * kTn + y;
                    if (j < g.n) g.c[(z * g.m + i) * g.n + j] = acc[x][y];
                }
            }
        }
    }
}

// ---- float4 helpers (v6, v7) -------------------------------------------------------------------

__device__ inline bool aligned16(const void* p) { return (reinterpret_cast<std::uintptr_t>(p) & 15u) == 0; }

/// The four values m[row, col .. col+3] of a (rows x cols) matrix with strides (rs, cs), 0 outside
/// it. One 16-byte load when the four are in range, contiguous (cs = 1) and aligned; otherwise
/// four guarded scalar loads (a transposed or misaligned view, the last partial group of a row).
__device__ inline float4 load4(const float* mat, int64_t row, int64_t col, int64_t rows, int64_t cols, int64_t rs,
                               int64_t cs) {
    float4 v = make_float4(0.f, 0.f, 0.f, 0.f);
    if (row >= rows) return v;
    const float* p = mat + row * rs + col * cs;
    if (cs == 1 && col + 3 < cols && aligned16(p)) return *reinterpret_cast<const float4*>(p);
    if (col < cols) v.x = p[0];
    if (col + 1 < cols) v.y = p[cs];
    if (col + 2 < cols) v.z = p[2 * cs];
    if (col + 3 < cols) v.w = p[3 * cs];
    return v;
}

/// Stores four values at c[row, col .. col+3] (row-major, n columns, row already checked): one
/// 16-byte store when all four are in range and aligned, else guarded scalar stores.
__device__ inline void store4(float* c_row, int64_t col, int64_t n, float4 v) {
    float* p = c_row + col;
    if (col + 3 < n && aligned16(p)) {
        *reinterpret_cast<float4*>(p) = v;
        return;
    }
    if (col < n) p[0] = v.x;
    if (col + 1 < n) p[1] = v.y;
    if (col + 2 < n) p[2] = v.z;
    if (col + 3 < n) p[3] = v.w;
}

// ---- v6: vectorised loads, a transposed in shared memory (float32) ----------------------------
// v5's tile and thread layout, with two changes to the memory traffic:
// - global loads are float4: each thread loads one float4 of a's 128x8 tile (row tid / 2,
//   columns (tid % 2) * 4 ..) and one float4 of b's 8x128 tile, one instruction instead of four;
// - a's tile is stored transposed, as_t[k][m], so the 8 values of a a thread needs for one step
//   of k (8 consecutive rows) are contiguous in shared memory and come in two float4 reads, as
//   do the 8 values of b. Shared-memory instructions drop from 16 to 4 per 64 multiply-adds.
// The c block of each thread is stored with float4 stores.
template <typename T>
__global__ void __launch_bounds__(kThreads, kMinBlocks<T>) bmm_v6_vectorized(Gemm<T> g) {
    static_assert(sizeof(T) == sizeof(float), "v6 is a float32 kernel");
    __shared__ __align__(16) float as_t[kBk][kBm];
    __shared__ __align__(16) float bs[kBk][kBn];
    const int tid = threadIdx.x;
    const int a_row = tid / 2, a_col = (tid % 2) * 4;
    const int b_row = tid / (kBn / 4), b_col = (tid % (kBn / 4)) * 4;
    const int t_row = tid / (kBn / kTn), t_col = tid % (kBn / kTn);
    const int64_t tiles_m = (g.m + kBm - 1) / kBm;
    const int64_t col0 = int64_t(blockIdx.x) * kBn;
    for (int64_t z = blockIdx.z; z < g.batch; z += gridDim.z) {
        const float* a = g.a + z * g.sa0;
        const float* b = g.b + z * g.sb0;
        for (int64_t tile = blockIdx.y; tile < tiles_m; tile += gridDim.y) {
            const int64_t row0 = tile * kBm;
            float acc[kTm][kTn] = {};
            float reg_m[kTm], reg_n[kTn];
            for (int64_t p0 = 0; p0 < g.k; p0 += kBk) {
                const float4 va = load4(a, row0 + a_row, p0 + a_col, g.m, g.k, g.sa1, g.sa2);
                as_t[a_col + 0][a_row] = va.x;
                as_t[a_col + 1][a_row] = va.y;
                as_t[a_col + 2][a_row] = va.z;
                as_t[a_col + 3][a_row] = va.w;
                *reinterpret_cast<float4*>(&bs[b_row][b_col]) = load4(b, p0 + b_row, col0 + b_col, g.k, g.n, g.sb1, g.sb2);
                __syncthreads();
#pragma unroll
                for (int q = 0; q < kBk; ++q) {
                    const float4 m0 = *reinterpret_cast<const float4*>(&as_t[q][t_row * kTm]);
                    const float4 m1 = *reinterpret_cast<const float4*>(&as_t[q][t_row * kTm + 4]);
                    const float4 n0 = *reinterpret_cast<const float4*>(&bs[q][t_col * kTn]);
                    const float4 n1 = *reinterpret_cast<const float4*>(&bs[q][t_col * kTn + 4]);
                    reg_m[0] = m0.x, reg_m[1] = m0.y, reg_m[2] = m0.z, reg_m[3] = m0.w;
                    reg_m[4] = m1.x, reg_m[5] = m1.y, reg_m[6] = m1.z, reg_m[7] = m1.w;
                    reg_n[0] = n0.x, reg_n[1] = n0.y, reg_n[2] = n0.z, reg_n[3] = n0.w;
                    reg_n[4] = n1.x, reg_n[5] = n1.y, reg_n[6] = n1.z, reg_n[7] = n1.w;
#pragma unroll
                    for (int x = 0; x < kTm; ++x)
#pragma unroll
                        for (int y = 0; y < kTn; ++y) acc[x][y] += reg_m[x] * reg_n[y];
                }
                __syncthreads();
            }
#pragma unroll
            for (int x = 0; x < kTm; ++x) {
                const int64_t i = row0 + t_row * kTm + x;
                if (i >= g.m) break;
                float* c_row = g.c + (z * g.m + i) * g.n;
                const int64_t j = col0 + t_col * kTn;
                store4(c_row, j, g.n, make_float4(acc[x][0], acc[x][1], acc[x][2], acc[x][3]));
                store4(c_row, j + 4, g.n, make_float4(acc[x][4], acc[x][5], acc[x][6], acc[x][7]));
            }
        }
    }
}

// ---- v7: warp tiling (float32) -----------------------------------------------------------------
// The 128x128 tile is split among the 8 warps as 2 x 4 warp tiles of 64x32; inside its warp tile
// a thread (lane = 8 rows x 4 columns of lanes) computes 2 x 2 sub-blocks of 4x4, 32 rows and 16
// columns apart. Compared with v6:
// - the shared reads of a warp are conflict-free and mostly broadcasts: for a step of k its 32
//   lanes read 8 distinct float4 of a (128 contiguous bytes) and 4 distinct float4 of b, where
//   v6's lanes read float4s 32 bytes apart (2-way bank conflicts);
// - a warp's working set (64 + 32 values of shared memory per k step) is small and fixed, the
//   level at which tensor-core kernels (v8) and CUTLASS organise their work.
// a's transposed tile has 4 floats of padding per row so that the transposing stores of the two
// threads that share a row of a land in different banks.
constexpr int kWarpM = 64, kWarpN = 32;  // warp tile
constexpr int kSubM = 4, kSubN = 4;      // a thread's sub-block
constexpr int kPadA7 = 4;

template <typename T>
__global__ void __launch_bounds__(kThreads, kMinBlocks<T>) bmm_v7_warptile(Gemm<T> g) {
    static_assert(sizeof(T) == sizeof(float), "v7 is a float32 kernel");
    __shared__ __align__(16) float as_t[kBk][kBm + kPadA7];
    __shared__ __align__(16) float bs[kBk][kBn];
    const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
    const int warp_row = (warp / (kBn / kWarpN)) * kWarpM;  // 0 or 64
    const int warp_col = (warp % (kBn / kWarpN)) * kWarpN;  // 0, 32, 64, 96
    const int lane_row = (lane / 4) * kSubM;                // 0 .. 28
    const int lane_col = (lane % 4) * kSubN;                // 0 .. 12
    const int a_row = tid / 2, a_col = (tid % 2) * 4;
    const int b_row = tid / (kBn / 4), b_col = (tid % (kBn / 4)) * 4;
    const int64_t tiles_m = (g.m + kBm - 1) / kBm;
    const int64_t col0 = int64_t(blockIdx.x) * kBn;
    for (int64_t z = blockIdx.z; z < g.batch; z += gridDim.z) {
        const float* a = g.a + z * g.sa0;
        const float* b = g.b + z * g.sb0;
        for (int64_t tile = blockIdx.y; tile < tiles_m; tile += gridDim.y) {
            const int64_t row0 = tile * kBm;
            float acc[2][2][kSubM][kSubN] = {};
            for (int64_t p0 = 0; p0 < g.k; p0 += kBk) {
                const float4 va = load4(a, row0 + a_row, p0 + a_col, g.m, g.k, g.sa1, g.sa2);
                as_t[a_col + 0][a_row] = va.x;
                as_t[a_col + 1][a_row] = va.y;
                as_t[a_col + 2][a_row] = va.z;
                as_t[a_col + 3][a_row] = va.w;
                *reinterpret_cast<float4*>(&bs[b_row][b_col]) = load4(b, p0 + b_row, col0 + b_col, g.k, g.n, g.sb1, g.sb2);
                __syncthreads();
#pragma unroll
                for (int q = 0; q < kBk; ++q) {
                    float4 vm[2], vn[2];
#pragma unroll
                    for (int s = 0; s < 2; ++s) {
                        vm[s] = *reinterpret_cast<const float4*>(&as_t[q][warp_row + s * (kWarpM / 2) + lane_row]);
                        vn[s] = *reinterpret_cast<const float4*>(&bs[q][warp_col + s * (kWarpN / 2) + lane_col]);
                    }
#pragma unroll
                    for (int sm = 0; sm < 2; ++sm) {
                        const float rm[4] = {vm[sm].x, vm[sm].y, vm[sm].z, vm[sm].w};
#pragma unroll
                        for (int sn = 0; sn < 2; ++sn) {
                            const float rn[4] = {vn[sn].x, vn[sn].y, vn[sn].z, vn[sn].w};
#pragma unroll
                            for (int x = 0; x < kSubM; ++x)
#pragma unroll
                                for (int y = 0; y < kSubN; ++y) acc[sm][sn][x][y] += rm[x] * rn[y];
                        }
                    }
                }
                __syncthreads();
            }
#pragma unroll
            for (int sm = 0; sm < 2; ++sm)
#pragma unroll
                for (int x = 0; x < kSubM; ++x) {
                    const int64_t i = row0 + warp_row + sm * (kWarpM / 2) + lane_row + x;
                    if (i >= g.m) continue;
                    float* c_row = g.c + (z * g.m + i) * g.n;
#pragma unroll
                    for (int sn = 0; sn < 2; ++sn) {
                        const int64_t j = col0 + warp_col + sn * (kWarpN / 2) + lane_col;
                        store4(c_row, j, g.n,
                               make_float4(acc[sm][sn][x][0], acc[sm][sn][x][1], acc[sm][sn][x][2], acc[sm][sn][x][3]));
                    }
                }
        }
    }
}

// ---- v8: tensor cores, TF32 mma.sync with a cp.async pipeline (float32 in, sm_80+) --------------
// The tensor cores multiply small matrix fragments in one warp-wide instruction:
//   mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32  D(16x8) = A(16x8) B(8x8) + C(16x8)
// with A and B in TF32 (float32 with its mantissa rounded to 10 bits; we round to nearest with
// cvt.rna.tf32.f32) and the sums in float32. Each lane holds a fixed piece of every fragment
// (PTX ISA, "Matrix fragments for mma.m16n8k8"): with g = lane / 4 and t = lane % 4,
//   A: a0 = A[g][t], a1 = A[g+8][t], a2 = A[g][t+4], a3 = A[g+8][t+4]
//   B: b0 = B[t][g], b1 = B[t+4][g]
//   C: c0 = C[g][2t], c1 = C[g][2t+1], c2 = C[g+8][2t], c3 = C[g+8][2t+1]
// A block of 256 threads (8 warps, 2 x 4) computes a 128x128 tile; each warp a 64x32 piece of it
// as 4 x 4 fragments of 16x8 (64 float accumulators per lane). k advances 32 at a time.
// Loads use cp.async (global -> shared without passing through registers) in a 3-stage ring:
// while the warps compute on tile t, the copies of tiles t+1 and t+2 are in flight. The
// shared tiles are padded (a: 36 floats per row, b: 136) so that the fragment reads of a warp
// hit 32 different banks. A 16-byte cp.async is used for four in-range, aligned, contiguous
// values; otherwise four 4-byte copies, where an out-of-range value is zero-filled (src-size 0).
constexpr int kBm8 = 128, kBn8 = 128, kBk8 = 32, kStages8 = 3;
constexpr int kLda8 = kBk8 + 4, kLdb8 = kBn8 + 8;  // padded row lengths of the shared tiles
constexpr int kAStage8 = kBm8 * kLda8, kBStage8 = kBk8 * kLdb8;
constexpr std::size_t kSmemBytes8 = std::size_t(kStages8) * (kAStage8 + kBStage8) * sizeof(float);

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
__device__ inline void cp_async16(float* smem, const float* gmem) {
    const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(smem));
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(s), "l"(gmem) : "memory");
}
/// 4-byte copy; src_bytes = 0 writes a zero without reading gmem.
__device__ inline void cp_async4(float* smem, const float* gmem, int src_bytes) {
    const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(smem));
    asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(s), "l"(gmem), "r"(src_bytes) : "memory");
}
__device__ inline void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
template <int kPending>
__device__ inline void cp_async_wait() {
    asm volatile("cp.async.wait_group %0;\n" ::"n"(kPending) : "memory");
}
__device__ inline unsigned to_tf32(float x) {
    unsigned r;
    asm("cvt.rna.tf32.f32 %0, %1;\n" : "=r"(r) : "f"(x));
    return r;
}
__device__ inline void mma_tf32(float (&d)[4], const unsigned (&a)[4], const unsigned (&b)[2]) {
    asm volatile(
        "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}
/// Queues the copy of mat[row, col .. col+3] (0 outside rows x cols) to smem[0..3].
__device__ inline void async_load4(float* smem, const float* mat, int64_t row, int64_t col, int64_t rows,
                                   int64_t cols, int64_t rs, int64_t cs) {
    const float* p = mat + row * rs + col * cs;
    if (row < rows && cs == 1 && col + 3 < cols && aligned16(p)) {
        cp_async16(smem, p);
        return;
    }
#pragma unroll
    for (int q = 0; q < 4; ++q) {
        const bool valid = row < rows && col + q < cols;
        cp_async4(smem + q, valid ? p + q * cs : mat, valid ? 4 : 0);
    }
}
#endif

template <typename T>
__global__ void __launch_bounds__(kThreads) bmm_v8_tf32(Gemm<T> g) {
    static_assert(sizeof(T) == sizeof(float), "v8 is a float32 kernel");
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    extern __shared__ __align__(16) float smem8[];
    float* as = smem8;                         // [stage][kBm8][kLda8]
    float* bs = smem8 + kStages8 * kAStage8;  // [stage][kBk8][kLdb8]
    const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
    const int gid = lane / 4, tig = lane % 4;
    const int warp_row = (warp / 4) * 64, warp_col = (warp % 4) * 32;
    const int64_t tiles_m = (g.m + kBm8 - 1) / kBm8;
    const int64_t col0 = int64_t(blockIdx.x) * kBn8;
    const int64_t k_tiles = (g.k + kBk8 - 1) / kBk8;
    for (int64_t z = blockIdx.z; z < g.batch; z += gridDim.z) {
        const float* a = g.a + z * g.sa0;
        const float* b = g.b + z * g.sb0;
        for (int64_t tile = blockIdx.y; tile < tiles_m; tile += gridDim.y) {
            const int64_t row0 = tile * kBm8;
            // Queues the copies of k tile `kt` into ring slot `stage`: 1024 groups of 4 values for
            // a (128 rows x 8 groups) and 1024 for b (32 rows x 32 groups), 4 + 4 per thread.
            auto load_tile = [&](int64_t kt, int stage) {
                const int64_t p0 = kt * kBk8;
#pragma unroll
                for (int r = 0; r < 4; ++r) {
                    const int chunk = tid + r * kThreads;
                    const int ar = chunk / (kBk8 / 4), ac = (chunk % (kBk8 / 4)) * 4;
                    async_load4(as + stage * kAStage8 + ar * kLda8 + ac, a, row0 + ar, p0 + ac, g.m, g.k, g.sa1,
                                g.sa2);
                    const int br = chunk / (kBn8 / 4), bc = (chunk % (kBn8 / 4)) * 4;
                    async_load4(bs + stage * kBStage8 + br * kLdb8 + bc, b, p0 + br, col0 + bc, g.k, g.n, g.sb1,
                                g.sb2);
                }
            };
            float acc[4][4][4] = {};
            // Prologue: tiles 0 .. kStages8-2 in flight (a group is committed even when empty, so
            // that "tile t is ready" is always "at most kStages8-2 groups pending").
#pragma unroll
            for (int s = 0; s < kStages8 - 1; ++s) {
                if (s < k_tiles) load_tile(s, s);
                cp_async_commit();
            }
            for (int64_t kt = 0; kt < k_tiles; ++kt) {
                cp_async_wait<kStages8 - 2>();  // this thread's copies of tile kt have landed
                __syncthreads();                // everyone's have; and slot (kt-1) % 3 is free
                const int64_t next = kt + kStages8 - 1;
                if (next < k_tiles) load_tile(next, int(next % kStages8));
                cp_async_commit();
                const int stage = int(kt % kStages8);
                const float* sa = as + stage * kAStage8;
                const float* sb = bs + stage * kBStage8;
#pragma unroll
                for (int kk = 0; kk < kBk8; kk += 8) {
                    unsigned fa[4][4], fb[4][2];
#pragma unroll
                    for (int mi = 0; mi < 4; ++mi) {
                        const float* r0 = sa + (warp_row + mi * 16 + gid) * kLda8 + kk + tig;
                        fa[mi][0] = to_tf32(r0[0]);
                        fa[mi][1] = to_tf32(r0[8 * kLda8]);
                        fa[mi][2] = to_tf32(r0[4]);
                        fa[mi][3] = to_tf32(r0[8 * kLda8 + 4]);
                    }
#pragma unroll
                    for (int ni = 0; ni < 4; ++ni) {
                        const float* c0 = sb + (kk + tig) * kLdb8 + warp_col + ni * 8 + gid;
                        fb[ni][0] = to_tf32(c0[0]);
                        fb[ni][1] = to_tf32(c0[4 * kLdb8]);
                    }
#pragma unroll
                    for (int mi = 0; mi < 4; ++mi)
#pragma unroll
                        for (int ni = 0; ni < 4; ++ni) mma_tf32(acc[mi][ni], fa[mi], fb[ni]);
                }
            }
            cp_async_wait<0>();
            __syncthreads();  // the ring is reused by this block's next tile
#pragma unroll
            for (int mi = 0; mi < 4; ++mi)
#pragma unroll
                for (int half = 0; half < 2; ++half) {
                    const int64_t i = row0 + warp_row + mi * 16 + gid + half * 8;
                    if (i >= g.m) continue;
                    float* c_row = g.c + (z * g.m + i) * g.n;
#pragma unroll
                    for (int ni = 0; ni < 4; ++ni) {
                        const int64_t j = col0 + warp_col + ni * 8 + 2 * tig;
                        if (j < g.n) c_row[j] = acc[mi][ni][2 * half];
                        if (j + 1 < g.n) c_row[j + 1] = acc[mi][ni][2 * half + 1];
                    }
                }
        }
    }
#else
    (void)g;  // compiled for an architecture without TF32 tensor cores: the host never launches it
#endif
}

// ---- host side: the dispatcher ------------------------------------------------------------------

std::atomic<int> g_precision{int(MatmulPrecision::Float32)};

constexpr int kFlatBlock = 256;    // v1, v2
constexpr int kBlocksPerSm = 16;   // v1, v2: grid cap, the grid-stride loop covers the rest
constexpr int64_t kMaxGridYZ = 65535;

struct DeviceInfo {
    int sm_count = 1;
    int major = 0;
};

DeviceInfo device_info(int device) {
    DeviceInfo info;
    FBSEG_CUDA_CHECK(cudaDeviceGetAttribute(&info.sm_count, cudaDevAttrMultiProcessorCount, device));
    FBSEG_CUDA_CHECK(cudaDeviceGetAttribute(&info.major, cudaDevAttrComputeCapabilityMajor, device));
    info.sm_count = std::max(info.sm_count, 1);
    return info;
}

/// Grid of a tile kernel: x over column tiles, y over row tiles, z over the batch (y and z capped;
/// the kernels loop over the rest).
template <typename T>
dim3 tile_grid(const Gemm<T>& g, int64_t bm, int64_t bn) {
    return dim3(unsigned(ceil_div(g.n, bn)), unsigned(std::min(ceil_div(g.m, bm), kMaxGridYZ)),
                unsigned(std::min(g.batch, kMaxGridYZ)));
}

template <typename T>
void launch(int version, const Gemm<T>& g, const DeviceInfo& info) {
    if constexpr (!std::is_same_v<T, float>) {
        if (version >= 6) version = 5;  // v6 .. v8 are float32 kernels (see the header)
    }
    if (version == 8 && info.major < 8) version = 7;  // no TF32 tensor cores before sm_80
    switch (version) {
        case 1:
        case 2: {
            const int64_t total = g.batch * g.m * g.n;
            const int blocks = int(std::min(ceil_div(total, kFlatBlock), int64_t(info.sm_count) * kBlocksPerSm));
            if (version == 1) bmm_v1_naive<T><<<blocks, kFlatBlock>>>(g);
            else bmm_v2_coalesced<T><<<blocks, kFlatBlock>>>(g);
            break;
        }
        case 3: bmm_v3_shared<T><<<tile_grid(g, kTile3, kTile3), dim3(kTile3, kTile3)>>>(g); break;
        case 4: bmm_v4_blocktile_1d<T><<<tile_grid(g, kBm4, kBn4), kThreads4>>>(g); break;
        case 5: bmm_v5_blocktile_2d<T><<<tile_grid(g, kBm, kBn), kThreads>>>(g); break;
        case 6:
        case 7:
        case 8:
            if constexpr (std::is_same_v<T, float>) {
                if (version == 6) {
                    bmm_v6_vectorized<float><<<tile_grid(g, kBm, kBn), kThreads>>>(g);
                } else if (version == 7) {
                    bmm_v7_warptile<float><<<tile_grid(g, kBm, kBn), kThreads>>>(g);
                } else {
                    FBSEG_CUDA_CHECK(cudaFuncSetAttribute(bmm_v8_tf32<float>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                                          int(kSmemBytes8)));
                    bmm_v8_tf32<float><<<tile_grid(g, kBm8, kBn8), kThreads, kSmemBytes8>>>(g);
                }
            }
            break;
        default: FBSEG_CHECK(false, kKernelName, ": no version ", version);
    }
    FBSEG_CUDA_CHECK_LAUNCH();
}

/// The dispatcher's pick (see docs/kernels-matmul.md, "The dispatcher"):
/// - tiny problems (batch m n k <= 2^18 multiply-adds): v2, no shared memory, no padding waste;
/// - float32 when the precision allows TF32 (or BF16) and the GPU is sm_80+: v8;
/// - enough 128x128 tiles to give every SM one: the best CUDA-core kernel (v7 float32, v5 float64);
/// - else enough 64x64 tiles: v4; else v3 (32x32 tiles: more, smaller blocks to fill the GPU).
template <typename T>
int automatic_version(const Gemm<T>& g, const DeviceInfo& info) {
    // (in double: batch m n k can overflow int64)
    if (double(g.batch) * double(g.m) * double(g.n) * double(std::max<int64_t>(g.k, 1)) <= double(1 << 18)) return 2;
    if (std::is_same_v<T, float> && info.major >= 8 && matmul_precision() != MatmulPrecision::Float32) return 8;
    const int64_t tiles128 = g.batch * ceil_div(g.m, 128) * ceil_div(g.n, 128);
    if (tiles128 >= info.sm_count) return std::is_same_v<T, float> ? 7 : 5;
    const int64_t tiles64 = g.batch * ceil_div(g.m, 64) * ceil_div(g.n, 64);
    return tiles64 >= info.sm_count ? 4 : 3;
}

template <typename T>
void run(const void* a, const int64_t* sa, const void* b, const int64_t* sb, void* c, int64_t batch, int64_t m,
         int64_t k, int64_t n, int device) {
    const Gemm<T> g{static_cast<const T*>(a), static_cast<const T*>(b), static_cast<T*>(c), batch, m, n, k,
                    sa[0], sa[1], sa[2], sb[0], sb[1], sb[2]};
    const DeviceInfo info = device_info(device);
    const int version = detail::choose_version(kKernelName, automatic_version(g, info), kVersions);
    launch(version, g, info);
}

}  // namespace

void set_matmul_precision(MatmulPrecision precision) { g_precision.store(int(precision)); }
MatmulPrecision matmul_precision() { return MatmulPrecision(g_precision.load()); }

void bmm_forward(DType dtype, const void* a, const std::int64_t* a_strides, const void* b,
                 const std::int64_t* b_strides, void* c, std::int64_t batch, std::int64_t m, std::int64_t k,
                 std::int64_t n, int device) {
    FBSEG_CHECK(batch >= 0 && m >= 0 && k >= 0 && n >= 0, kKernelName, ": negative size (batch ", batch, ", m ", m,
                ", k ", k, ", n ", n, ")");
    if (batch == 0 || m == 0 || n == 0) return;  // c is empty
    detail::DeviceGuard guard(device, kKernelName);
    switch (dtype) {
        case DType::Float32: run<float>(a, a_strides, b, b_strides, c, batch, m, k, n, device); break;
        case DType::Float64: run<double>(a, a_strides, b, b_strides, c, batch, m, k, n, device); break;
        default: FBSEG_CHECK(false, kKernelName, ": float32 and float64 only, got ", dtype_name(dtype));
    }
}

void install_matmul_kernels(Backend& b) { b.bmm_forward = &bmm_forward; }

}  // namespace fbseg::cuda
