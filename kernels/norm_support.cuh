// kernels/norm_support.cuh - small helpers shared by batch_norm.cu, pool.cu, resize.cu and
// dropout.cu: launch sizes, grid-stride indices, and a scratch array in device memory (from the
// caching allocator) with its upload and download.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "cuda_check.cuh"
#include "launch.cuh"
#include "lab.cuh"

namespace fbseg::cuda::norm_detail {

inline constexpr int kBlockSize = 256;   // threads per block of the elementwise-like kernels
inline constexpr int kBlocksPerSm = 16;  // grid cap: a few waves per SM, the grid-stride loop does the rest

inline std::int64_t ceil_div(std::int64_t a, std::int64_t b) { return (a + b - 1) / b; }

/// Blocks for `work_items` > 0 items of one-thread-each work on `device` (the current device).
inline int grid_size(std::int64_t work_items, int device, int block = kBlockSize) {
    return cuda::detail::capped_grid(ceil_div(work_items, block), device, kBlocksPerSm);
}

/// Number of SMs of `device`.
using cuda::detail::sm_count;

using cuda::detail::first_index;
using cuda::detail::grid_stride;

/// `count` elements of T in device memory from the caching allocator, returned to it on scope
/// exit. Work queued on the default stream before the release finishes before any later reuse
/// (fbseg launches everything on the default stream), so releasing right after a launch is safe.
template <typename T>
class Scratch {
public:
    Scratch(std::int64_t count, int device) : device_(device), count_(count) {
        if (count > 0) ptr_ = static_cast<T*>(allocate(std::size_t(count) * sizeof(T), device));
    }
    ~Scratch() { release(); }
    /// Frees the array and allocates `count` elements instead.
    void reset(std::int64_t count) {
        release();
        count_ = count;
        if (count > 0) ptr_ = static_cast<T*>(allocate(std::size_t(count) * sizeof(T), device_));
    }
    Scratch(const Scratch&) = delete;
    Scratch& operator=(const Scratch&) = delete;

    T* get() const { return ptr_; }
    /// Copies host[0..n) to elements [at, at + n).
    void upload(const T* host, std::int64_t n, std::int64_t at = 0) {
        if (n <= 0) return;
        FBSEG_CHECK(at >= 0 && at + n <= count_, "Scratch::upload out of range");
        FBSEG_CUDA_CHECK(cudaMemcpy(ptr_ + at, host, std::size_t(n) * sizeof(T), cudaMemcpyHostToDevice));
    }
    /// Copies elements [at, at + n) to host[0..n).
    void download(T* host, std::int64_t n, std::int64_t at = 0) const {
        if (n <= 0) return;
        FBSEG_CHECK(at >= 0 && at + n <= count_, "Scratch::download out of range");
        FBSEG_CUDA_CHECK(cudaMemcpy(host, ptr_ + at, std::size_t(n) * sizeof(T), cudaMemcpyDeviceToHost));
    }

private:
    void release() noexcept {
        if (ptr_ == nullptr) return;
        try {
            deallocate(ptr_, device_);
        } catch (...) {  // a destructor must not throw; the allocator reports the bad pointer
        }
        ptr_ = nullptr;
        count_ = 0;
    }

    int device_;
    std::int64_t count_;
    T* ptr_ = nullptr;
};

}  // namespace fbseg::cuda::norm_detail
