// kernels/reduce.cu - reductions over the rows of a matrix: sum_rows, extreme_rows (max / min
// with the first index), all_any_rows, and the scatter of the max / min gradient
// (scatter_add_along_dim).
//
// The math. ops/reduce.hpp views the input as a contiguous (m, r) matrix, the kept dims in front
// and the reduced dims behind, so every reduction here is "one output per row":
//
//     sum_rows:      out[i] = scale * sum_{k < r} rows[i, k]          (accumulated in double;
//                                                                      int64 for int64)
//     extreme_rows:  values[i] = max_k rows[i, k] (or min), indices[i] = the first k where it is
//                    reached; a NaN beats every number and the first NaN wins
//     all_any_rows:  out[i] = rows[i, 0] && ... (all) or rows[i, 0] || ... (any)
//
// CPU reference: cpu::fold_rows (include/fbseg/ops/cpu/reduce.hpp), called by kernel::sum_rows
// and kernel::extreme_rows (include/fbseg/ops/kernel/reduce.hpp):
//
//     for (int64_t row = 0; row < m; ++row) {
//         Acc acc = init;
//         for (int64_t i = 0; i < r; ++i) acc = fold(acc, rows[row * r + i], i);
//         finish(row, acc);                  // sum: out[row] = T(acc * scale)
//     }
//
// (a single row longer than kReduceBlock = 16384 is cut into blocks whose partials are merged in
// block order), and cpu::any_all (include/fbseg/ops/cpu/logical.hpp).
//
// Two regimes matter, and the dispatchers pick between them:
//   * many short rows (the loss's per-pixel sums over 2 or 3 classes: m = 10^6, r = 3): one
//     thread per row (v1) or one warp per row (v2);
//   * few long rows (a full-tensor sum: m = 1, r = 8 * 256 * 256): the rows are cut into fixed
//     chunks of kChunk elements, each block reduces one chunk into a workspace, and a second
//     kernel adds each row's partials in chunk order (v3, the classic two-pass reduction).
//
// Determinism. Every version adds in an order fixed by the version and the row length alone:
// never by the grid size, the number of SMs or the timing of blocks (no atomics). So one version
// gives bitwise the same result on every run and every GPU. Different versions add in different
// orders, so their float results may differ in the last bit of the double accumulator (which
// rarely survives the rounding to float32); their int64 sums are equal (integer addition is
// associative). v1's order is the CPU's order for rows of at most 16384 elements, so v1 is bitwise
// equal to the CPU there.
#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "cuda_check.cuh"
#include "launch.cuh"
#include "install.cuh"
#include "lab.cuh"

namespace fbseg::cuda {
namespace {

constexpr int kBlockSize = 256;    // threads per block (a multiple of the warp size)
constexpr int kWarpSize = 32;
constexpr int kBlocksPerSm = 16;   // grid size cap; grid-stride loops cover the rest
constexpr std::int64_t kChunk = 2048;  // elements of a row one block reduces in v3's first pass
constexpr unsigned kFullMask = 0xffffffffu;

std::int64_t ceil_div(std::int64_t a, std::int64_t b) { return (a + b - 1) / b; }

using detail::sm_count;

/// Blocks for `threads` > 0 threads of work, capped at kBlocksPerSm blocks per SM.
int grid_for_threads(std::int64_t threads, int device) {
    return detail::capped_grid(ceil_div(threads, kBlockSize), device, kBlocksPerSm);
}

/// Blocks for `tasks` > 0 block-sized tasks (one block each), capped likewise.
int grid_for_blocks(std::int64_t tasks, int device) { return detail::capped_grid(tasks, device, kBlocksPerSm); }

using detail::first_index;
using detail::grid_stride;

/// The accumulator of a sum of T: double for floating types, int64 for int64 (cpu::acc_t).
template <typename T>
using Acc = std::conditional_t<std::is_same_v<T, std::int64_t>, std::int64_t, double>;

/// Device memory from the caching allocator for the life of the object. Freeing it while a
/// kernel still reads it is safe: every kernel runs on the default stream, so a later user of
/// the block is queued behind that kernel (docs/kernels.md, "The caching allocator").
class Workspace {
public:
    Workspace(std::size_t bytes, int device) : data_(allocate(bytes, device)), device_(device) {}
    ~Workspace() {
        try {
            deallocate(data_, device_);
        } catch (...) {  // a destructor must not throw; the block is only lost to the cache
        }
    }
    Workspace(const Workspace&) = delete;
    Workspace& operator=(const Workspace&) = delete;
    template <typename U>
    U* as() const {
        return static_cast<U*>(data_);
    }

private:
    void* data_;
    int device_;
};

// ---- warp and block building blocks ------------------------------------------------------------

/// Sum of `v` over the 32 lanes of a warp (every lane must call it); lane 0 gets the total.
/// The tree is fixed: lane l adds lane l + 16, then l + 8, 4, 2, 1.
template <typename A>
__device__ A warp_sum(A v) {
#pragma unroll
    for (int offset = kWarpSize / 2; offset > 0; offset /= 2) v += __shfl_down_sync(kFullMask, v, offset);
    return v;
}

/// Sum of `v` over the block (every thread must call it; blockDim.x == kBlockSize); thread 0 gets
/// the total. Each warp sums its lanes, then warp 0 sums the warps' totals in warp order.
template <typename A>
__device__ A block_sum(A v) {
    __shared__ A warp_totals[kBlockSize / kWarpSize];
    const int lane = threadIdx.x % kWarpSize, warp = threadIdx.x / kWarpSize;
    v = warp_sum(v);
    if (lane == 0) warp_totals[warp] = v;
    __syncthreads();
    A total = 0;
    if (warp == 0) {
        total = lane < kBlockSize / kWarpSize ? warp_totals[lane] : A(0);
        total = warp_sum(total);
    }
    __syncthreads();  // warp_totals may be reused by the caller's next call
    return total;
}

// ============================================================================================
// sum_rows
// ============================================================================================

// sum_rows v1: one thread per row, a plain loop (the reference version).
//   rows (m, r) contiguous, out (m)
// CPU reference (cpu::fold_rows with fold = a + Acc(v)):
//   for (row) { Acc a = 0; for (i < r) a += Acc(rows[row * r + i]); out[row] = T(a * scale); }
// Adjacent threads read addresses r elements apart: coalesced for r = 1, 2, 3 (the loss case),
// poor for long rows, which v2 and v3 serve.
template <typename T>
__global__ void sum_rows_v1(const T* rows, T* out, std::int64_t m, std::int64_t r, Acc<T> scale) {
    for (std::int64_t row = first_index(); row < m; row += grid_stride()) {
        const T* p = rows + row * r;
        Acc<T> acc = 0;
        for (std::int64_t i = 0; i < r; ++i) acc += Acc<T>(p[i]);
        out[row] = T(acc * scale);
    }
}

// sum_rows v2: one warp per row. Lane l adds elements l, l + 32, l + 64, ... of the row (the 32
// lanes of one step read 32 neighbouring elements: one coalesced 128-byte transaction for
// float32), then the lanes' sums are combined with warp shuffles (warp_sum), no shared memory.
// Good for many medium rows (r from a few dozen to a few thousand).
template <typename T>
__global__ void sum_rows_v2(const T* rows, T* out, std::int64_t m, std::int64_t r, Acc<T> scale) {
    const int lane = threadIdx.x % kWarpSize;
    const std::int64_t warps = grid_stride() / kWarpSize;
    // `row` depends only on the warp, so all 32 lanes run the same iterations (full-mask shuffles).
    for (std::int64_t row = first_index() / kWarpSize; row < m; row += warps) {
        const T* p = rows + row * r;
        Acc<T> acc = 0;
        for (std::int64_t i = lane; i < r; i += kWarpSize) acc += Acc<T>(p[i]);
        acc = warp_sum(acc);
        if (lane == 0) out[row] = T(acc * scale);
    }
}

// sum_rows v3, pass 1: the rows are cut into chunks of kChunk elements (the last one shorter);
// task t = (row, chunk) is reduced by one block: thread k adds elements k, k + 256, ... of the
// chunk, then block_sum combines the 256 threads (warp shuffles, then the 8 warp totals in
// order). partials[row * chunks + chunk] = that sum. Many blocks work on one long row at once,
// which v1 and v2 (one thread or warp per row) cannot do.
template <typename T>
__global__ void sum_rows_v3_partials(const T* rows, Acc<T>* partials, std::int64_t m, std::int64_t r,
                                     std::int64_t chunks) {
    for (std::int64_t task = blockIdx.x; task < m * chunks; task += gridDim.x) {  // uniform per block
        const std::int64_t row = task / chunks, chunk = task % chunks;
        const std::int64_t begin = chunk * kChunk, end = r < begin + kChunk ? r : begin + kChunk;
        const T* p = rows + row * r;
        Acc<T> acc = 0;
#pragma unroll 4
        for (std::int64_t i = begin + threadIdx.x; i < end; i += kBlockSize) acc += Acc<T>(p[i]);
        acc = block_sum(acc);
        if (threadIdx.x == 0) partials[task] = acc;
    }
}

// sum_rows v3, pass 2: one block per row adds the row's `chunks` partials (thread k takes
// partials k, k + 256, ..., then block_sum), scales and stores: out[row] = T(total * scale).
template <typename T>
__global__ void sum_rows_v3_finish(const Acc<T>* partials, T* out, std::int64_t m, std::int64_t chunks, Acc<T> scale) {
    for (std::int64_t row = blockIdx.x; row < m; row += gridDim.x) {
        Acc<T> acc = 0;
        for (std::int64_t c = threadIdx.x; c < chunks; c += kBlockSize) acc += partials[row * chunks + c];
        acc = block_sum(acc);
        if (threadIdx.x == 0) out[row] = T(acc * scale);
    }
}

template <typename T>
void launch_sum_rows(int version, const T* rows, T* out, std::int64_t m, std::int64_t r, Acc<T> scale, int device) {
    switch (version) {
        case 1:
            sum_rows_v1<T><<<grid_for_threads(m, device), kBlockSize>>>(rows, out, m, r, scale);
            FBSEG_CUDA_CHECK_LAUNCH();
            break;
        case 2:
            sum_rows_v2<T><<<grid_for_threads(m * kWarpSize, device), kBlockSize>>>(rows, out, m, r, scale);
            FBSEG_CUDA_CHECK_LAUNCH();
            break;
        default: {
            const std::int64_t chunks = std::max<std::int64_t>(1, ceil_div(r, kChunk));  // r = 0: one empty chunk
            Workspace partials(std::size_t(m * chunks) * sizeof(Acc<T>), device);
            sum_rows_v3_partials<T>
                <<<grid_for_blocks(m * chunks, device), kBlockSize>>>(rows, partials.as<Acc<T>>(), m, r, chunks);
            FBSEG_CUDA_CHECK_LAUNCH();
            sum_rows_v3_finish<T>
                <<<grid_for_blocks(m, device), kBlockSize>>>(partials.as<Acc<T>>(), out, m, chunks, scale);
            FBSEG_CUDA_CHECK_LAUNCH();
            break;
        }
    }
}

/// The dispatcher's rule for one-output-per-row reductions: rows of at most 32 elements get a
/// thread each (v1); long rows (r >= kChunk) too few to give every warp of the GPU a row get the
/// two-pass v3; everything else a warp per row (v2).
int pick_row_version(std::int64_t m, std::int64_t r, int device) {
    if (r <= kWarpSize) return 1;
    const std::int64_t resident_warps = std::int64_t(sm_count(device)) * 64;  // 2048 threads per SM
    if (r >= kChunk && m < resident_warps) return 3;
    return 2;
}

// ============================================================================================
// extreme_rows
// ============================================================================================

/// CPU's rule (kernel::extreme_rows): v beats best when v is NaN and best is not, or when neither
/// is NaN and v is larger (is_max) or smaller.
template <typename T>
__device__ bool beats(T v, T best, bool is_max) {
    return v != v ? best == best : (is_max ? v > best : v < best);
}

/// (best, at) := the better of (best, at) and (v, i), the lower position on a tie (equal values or
/// two NaNs). at < 0 means "nothing seen yet"; a candidate with i < 0 is ignored.
template <typename T>
__device__ void keep_better(T& best, std::int64_t& at, T v, std::int64_t i, bool is_max) {
    if (i < 0) return;
    if (at < 0 || beats(v, best, is_max) || (i < at && !beats(best, v, is_max))) {
        best = v;
        at = i;
    }
}

/// The best (value, first position) over a warp; lane 0 gets it.
template <typename T>
__device__ void warp_extreme(T& best, std::int64_t& at, bool is_max) {
#pragma unroll
    for (int offset = kWarpSize / 2; offset > 0; offset /= 2) {
        const T v = __shfl_down_sync(kFullMask, best, offset);
        const long long i = __shfl_down_sync(kFullMask, static_cast<long long>(at), offset);
        keep_better(best, at, v, std::int64_t(i), is_max);
    }
}

/// The best over the block (blockDim.x == kBlockSize); thread 0 gets it.
template <typename T>
__device__ void block_extreme(T& best, std::int64_t& at, bool is_max) {
    __shared__ T warp_best[kBlockSize / kWarpSize];
    __shared__ std::int64_t warp_at[kBlockSize / kWarpSize];
    const int lane = threadIdx.x % kWarpSize, warp = threadIdx.x / kWarpSize;
    warp_extreme(best, at, is_max);
    if (lane == 0) {
        warp_best[warp] = best;
        warp_at[warp] = at;
    }
    __syncthreads();
    if (warp == 0) {
        best = lane < kBlockSize / kWarpSize ? warp_best[lane] : T(0);
        at = lane < kBlockSize / kWarpSize ? warp_at[lane] : -1;
        warp_extreme(best, at, is_max);
    }
    __syncthreads();
}

// extreme_rows v1: one thread per row, the CPU's fold as it is (the reference version).
//   rows (m, r) contiguous; values (m) of T; indices (m) int64
// CPU reference (kernel::extreme_rows):
//   for (row) { best = 0; at = -1;
//               for (i < r) if (at < 0 || beats(rows[row, i], best)) best = rows[row, i], at = i;
//               values[row] = best; indices[row] = at; }
// (r = 0 gives 0 and -1, as on the CPU; the public ops never ask for it.)
template <typename T>
__global__ void extreme_rows_v1(const T* rows, T* values, std::int64_t* indices, std::int64_t m, std::int64_t r,
                                bool is_max) {
    for (std::int64_t row = first_index(); row < m; row += grid_stride()) {
        const T* p = rows + row * r;
        T best = T(0);
        std::int64_t at = -1;
        for (std::int64_t i = 0; i < r; ++i)
            if (at < 0 || beats(p[i], best, is_max)) best = p[i], at = i;
        values[row] = best;
        indices[row] = at;
    }
}

// extreme_rows v2: one warp per row (coalesced reads, as sum_rows v2). Each lane folds its
// elements l, l + 32, ... in increasing order, then the lanes' (value, position) pairs are merged
// with shuffles; keep_better's tie rule (the lower position wins) keeps the first occurrence.
template <typename T>
__global__ void extreme_rows_v2(const T* rows, T* values, std::int64_t* indices, std::int64_t m, std::int64_t r,
                                bool is_max) {
    const int lane = threadIdx.x % kWarpSize;
    const std::int64_t warps = grid_stride() / kWarpSize;
    for (std::int64_t row = first_index() / kWarpSize; row < m; row += warps) {
        const T* p = rows + row * r;
        T best = T(0);
        std::int64_t at = -1;
        for (std::int64_t i = lane; i < r; i += kWarpSize) keep_better(best, at, p[i], i, is_max);
        warp_extreme(best, at, is_max);
        if (lane == 0) {
            values[row] = best;
            indices[row] = at;
        }
    }
}

// extreme_rows v3, pass 1: as sum_rows v3, one block per (row, chunk of kChunk elements); the
// block's best pair goes to best[task], at[task] (positions within the row).
template <typename T>
__global__ void extreme_rows_v3_partials(const T* rows, T* part_best, std::int64_t* part_at, std::int64_t m,
                                         std::int64_t r, std::int64_t chunks, bool is_max) {
    for (std::int64_t task = blockIdx.x; task < m * chunks; task += gridDim.x) {
        const std::int64_t row = task / chunks, chunk = task % chunks;
        const std::int64_t begin = chunk * kChunk, end = r < begin + kChunk ? r : begin + kChunk;
        const T* p = rows + row * r;
        T best = T(0);
        std::int64_t at = -1;
        for (std::int64_t i = begin + threadIdx.x; i < end; i += kBlockSize) keep_better(best, at, p[i], i, is_max);
        block_extreme(best, at, is_max);
        if (threadIdx.x == 0) {
            part_best[task] = best;
            part_at[task] = at;
        }
    }
}

// extreme_rows v3, pass 2: one block per row merges the row's partials (block_extreme).
template <typename T>
__global__ void extreme_rows_v3_finish(const T* part_best, const std::int64_t* part_at, T* values,
                                       std::int64_t* indices, std::int64_t m, std::int64_t chunks, bool is_max) {
    for (std::int64_t row = blockIdx.x; row < m; row += gridDim.x) {
        T best = T(0);
        std::int64_t at = -1;
        for (std::int64_t c = threadIdx.x; c < chunks; c += kBlockSize)
            keep_better(best, at, part_best[row * chunks + c], part_at[row * chunks + c], is_max);
        block_extreme(best, at, is_max);
        if (threadIdx.x == 0) {
            values[row] = at < 0 ? T(0) : best;
            indices[row] = at;
        }
    }
}

template <typename T>
void launch_extreme_rows(int version, const T* rows, T* values, std::int64_t* indices, std::int64_t m, std::int64_t r,
                         bool is_max, int device) {
    switch (version) {
        case 1:
            extreme_rows_v1<T><<<grid_for_threads(m, device), kBlockSize>>>(rows, values, indices, m, r, is_max);
            FBSEG_CUDA_CHECK_LAUNCH();
            break;
        case 2:
            extreme_rows_v2<T>
                <<<grid_for_threads(m * kWarpSize, device), kBlockSize>>>(rows, values, indices, m, r, is_max);
            FBSEG_CUDA_CHECK_LAUNCH();
            break;
        default: {
            const std::int64_t chunks = std::max<std::int64_t>(1, ceil_div(r, kChunk));
            Workspace part_best(std::size_t(m * chunks) * sizeof(T), device);
            Workspace part_at(std::size_t(m * chunks) * sizeof(std::int64_t), device);
            extreme_rows_v3_partials<T><<<grid_for_blocks(m * chunks, device), kBlockSize>>>(
                rows, part_best.as<T>(), part_at.as<std::int64_t>(), m, r, chunks, is_max);
            FBSEG_CUDA_CHECK_LAUNCH();
            extreme_rows_v3_finish<T><<<grid_for_blocks(m, device), kBlockSize>>>(
                part_best.as<T>(), part_at.as<std::int64_t>(), values, indices, m, chunks, is_max);
            FBSEG_CUDA_CHECK_LAUNCH();
            break;
        }
    }
}

// ============================================================================================
// all_any_rows
// ============================================================================================

// all_any_rows v1: one thread per row.
//   rows (m, r) contiguous bool; out (m) bool
// CPU reference (cpu::any_all):
//   for (row) { found = some k with rows[row, k] == !is_all; out[row] = is_all ? !found : found; }
__global__ void all_any_rows_v1(const bool* rows, bool* out, std::int64_t m, std::int64_t r, bool is_all) {
    for (std::int64_t row = first_index(); row < m; row += grid_stride()) {
        const bool* p = rows + row * r;
        bool found = false;
        for (std::int64_t i = 0; i < r && !found; ++i) found = p[i] != is_all;
        out[row] = is_all ? !found : found;
    }
}

// all_any_rows v2: one warp per row, coalesced reads; __any_sync combines the lanes' answers.
__global__ void all_any_rows_v2(const bool* rows, bool* out, std::int64_t m, std::int64_t r, bool is_all) {
    const int lane = threadIdx.x % kWarpSize;
    const std::int64_t warps = grid_stride() / kWarpSize;
    for (std::int64_t row = first_index() / kWarpSize; row < m; row += warps) {
        const bool* p = rows + row * r;
        bool found = false;
        for (std::int64_t i = lane; i < r && !found; i += kWarpSize) found = p[i] != is_all;
        found = __any_sync(kFullMask, found) != 0;
        if (lane == 0) out[row] = is_all ? !found : found;
    }
}

// ============================================================================================
// scatter_add_along_dim
// ============================================================================================

// scatter_add_along_dim v1: one thread per (o, j) of src; each writes a different element of grad
// (the pairs differ in o or j, and so do their targets), so there are no collisions and no
// atomics: deterministic.
//   grad (outer, n, inner) contiguous, accumulated into; src, index (outer, inner) contiguous
// CPU reference (cpu::scatter_add_along_dim):
//   for (e < outer * inner) { o = e / inner; j = e % inner;
//                             grad[(o * n + index[e]) * inner + j] += src[e]; }
// An index outside [0, n) is skipped (the forward produced the indices, so none is).
template <typename T>
__global__ void scatter_add_along_dim_v1(T* grad, const T* src, const std::int64_t* index, std::int64_t outer,
                                         std::int64_t n, std::int64_t inner) {
    for (std::int64_t e = first_index(); e < outer * inner; e += grid_stride()) {
        const std::int64_t o = e / inner, j = e % inner, k = index[e];
        if (k >= 0 && k < n) grad[(o * n + k) * inner + j] += src[e];
    }
}

}  // namespace

// ---- the entry points (dispatchers) ------------------------------------------------------------

void sum_rows(DType dtype, const void* rows, void* out, std::int64_t m, std::int64_t r, std::int64_t scale,
              int device) {
    FBSEG_CHECK(m >= 0 && r >= 0, "sum_rows: bad shape (", m, ", ", r, ")");
    if (m == 0) return;
    FBSEG_CHECK(out != nullptr && (rows != nullptr || r == 0), "sum_rows: null data pointer");
    detail::DeviceGuard guard(device, "sum_rows");
    const int version = detail::choose_version("sum_rows", pick_row_version(m, r, device), 3);
    dispatch_numeric(dtype, "sum_rows", [&]<typename T>() {
        launch_sum_rows<T>(version, static_cast<const T*>(rows), static_cast<T*>(out), m, r, Acc<T>(scale), device);
    });
}

void extreme_rows(DType dtype, const void* rows, void* values, std::int64_t* indices, std::int64_t m, std::int64_t r,
                  bool is_max, int device) {
    FBSEG_CHECK(m >= 0 && r >= 0, "extreme_rows: bad shape (", m, ", ", r, ")");
    if (m == 0) return;
    FBSEG_CHECK(values != nullptr && indices != nullptr && (rows != nullptr || r == 0),
                "extreme_rows: null data pointer");
    detail::DeviceGuard guard(device, "extreme_rows");
    const int version = detail::choose_version("extreme_rows", pick_row_version(m, r, device), 3);
    dispatch_numeric(dtype, "extreme_rows", [&]<typename T>() {
        launch_extreme_rows<T>(version, static_cast<const T*>(rows), static_cast<T*>(values), indices, m, r, is_max,
                               device);
    });
}

void all_any_rows(const void* rows, bool* out, std::int64_t m, std::int64_t r, bool is_all, int device) {
    FBSEG_CHECK(m >= 0 && r >= 0, "all_any_rows: bad shape (", m, ", ", r, ")");
    if (m == 0) return;
    FBSEG_CHECK(out != nullptr && (rows != nullptr || r == 0), "all_any_rows: null data pointer");
    detail::DeviceGuard guard(device, "all_any_rows");
    const int version = detail::choose_version("all_any_rows", r <= kWarpSize ? 1 : 2, 2);
    const bool* p = static_cast<const bool*>(rows);
    if (version == 1) {
        all_any_rows_v1<<<grid_for_threads(m, device), kBlockSize>>>(p, out, m, r, is_all);
    } else {
        all_any_rows_v2<<<grid_for_threads(m * kWarpSize, device), kBlockSize>>>(p, out, m, r, is_all);
    }
    FBSEG_CUDA_CHECK_LAUNCH();
}

void scatter_add_along_dim(DType dtype, void* grad, const void* src, const std::int64_t* index, std::int64_t outer,
                           std::int64_t n, std::int64_t inner, int device) {
    FBSEG_CHECK(outer >= 0 && n >= 0 && inner >= 0, "scatter_add_along_dim: bad shape (", outer, ", ", n, ", ", inner,
                ")");
    if (outer * inner == 0) return;
    FBSEG_CHECK(grad != nullptr && src != nullptr && index != nullptr, "scatter_add_along_dim: null data pointer");
    detail::DeviceGuard guard(device, "scatter_add_along_dim");
    (void)detail::choose_version("scatter_add_along_dim", 1, 1);
    dispatch_floating(dtype, "scatter_add_along_dim", [&]<typename T>() {
        scatter_add_along_dim_v1<T><<<grid_for_threads(outer * inner, device), kBlockSize>>>(
            static_cast<T*>(grad), static_cast<const T*>(src), index, outer, n, inner);
        FBSEG_CUDA_CHECK_LAUNCH();
    });
}

void install_reduce_kernels(Backend& b) {
    b.sum_rows = &sum_rows;
    b.extreme_rows = &extreme_rows;
    b.all_any_rows = &all_any_rows;
    b.scatter_add_along_dim = &scatter_add_along_dim;
}

}  // namespace fbseg::cuda
