// fbseg/core/cuda_runtime.hpp - asking about GPUs from anywhere: how many, and waiting for one.
//
// These work in every program: without fbseg::cuda linked (or without a driver or a GPU) there
// are simply no CUDA devices. They go through the backend table (cuda/backend.hpp), as all of
// the core's CUDA calls do.
#pragma once

#include "fbseg/core/device.hpp"
#include "fbseg/cuda/backend.hpp"

namespace fbseg {

/// Number of CUDA devices this program can use: 0 when fbseg::cuda is not linked, or there is no
/// driver or GPU. Never throws.
inline int cuda_device_count() noexcept {
    const cuda::Backend* b = cuda::registered_backend();
    if (b == nullptr || b->device_count == nullptr) return 0;
    try {
        return b->device_count();
    } catch (...) {
        return 0;
    }
}

/// cuda_device_count() > 0.
inline bool cuda_is_available() noexcept { return cuda_device_count() > 0; }

/// Waits until every kernel and copy queued on `device` has finished (nothing to wait for on the
/// CPU). CUDA kernels run asynchronously: time them, or read what they wrote through raw
/// pointers, only after this.
inline void synchronize(Device device) {
    if (device.is_cpu()) return;
    const cuda::Backend& b = cuda::backend("synchronize");
    FBSEG_CHECK(b.synchronize != nullptr, "synchronize: the registered CUDA backend has no synchronize");
    b.synchronize(device.index);
}

/// The caching allocator's figures for a CUDA device: bytes in use by tensors now, their peak,
/// bytes cached for reuse, and calls that reached cudaMalloc (cuda/api.hpp, AllocatorStats).
inline cuda::AllocatorStats cuda_memory_stats(Device device) {
    FBSEG_CHECK(device.is_cuda(), "cuda_memory_stats: expected a CUDA device");
    const cuda::Backend& b = cuda::backend("cuda_memory_stats");
    FBSEG_CHECK(b.allocator_stats != nullptr, "cuda_memory_stats: the registered CUDA backend keeps no statistics");
    return b.allocator_stats(device.index);
}

}  // namespace fbseg
