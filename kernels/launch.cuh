// kernels/launch.cuh - what every kernel family uses to size a launch and walk a grid-stride loop.
//
// Grids are sized to fill the GPU a few times over (blocks_per_sm blocks per multiprocessor), not
// to the number of elements: a grid-stride loop (thread t handles t, t + T, t + 2T, ... with T the
// threads in the grid) covers whatever is left. The multiprocessor count is asked of the driver
// once per device and remembered, not on every launch.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>

#include "cuda_check.cuh"

namespace fbseg::cuda::detail {

/// The number of multiprocessors of `device` (at least 1), queried once per device.
inline int sm_count(int device) {
    static std::array<std::atomic<int>, 64> known{};  // 0: not asked yet
    const bool cached = device >= 0 && device < int(known.size());
    if (cached) {
        const int n = known[std::size_t(device)].load(std::memory_order_relaxed);
        if (n > 0) return n;
    }
    int count = 0;
    FBSEG_CUDA_CHECK(cudaDeviceGetAttribute(&count, cudaDevAttrMultiProcessorCount, device));
    count = std::max(count, 1);
    if (cached) known[std::size_t(device)].store(count, std::memory_order_relaxed);
    return count;
}

/// `blocks` (at least 1), capped at blocks_per_sm blocks per multiprocessor of `device`.
inline int capped_grid(std::int64_t blocks, int device, int blocks_per_sm) {
    const std::int64_t cap = std::int64_t(sm_count(device)) * blocks_per_sm;
    return int(std::max<std::int64_t>(1, std::min(blocks, cap)));
}

__device__ inline std::int64_t first_index() { return std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x; }
__device__ inline std::int64_t grid_stride() { return std::int64_t(gridDim.x) * blockDim.x; }

}  // namespace fbseg::cuda::detail
