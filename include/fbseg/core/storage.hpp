// fbseg/core/storage.hpp - a block of memory on one device, shared by a tensor and its views.
#pragma once

#include <cstdint>
#include <cstring>
#include <new>

#include "fbseg/core/device.hpp"
#include "fbseg/core/error.hpp"
#include "fbseg/cuda/api.hpp"

namespace fbseg {

/// Alignment of CPU buffers: a cache line, enough for any SIMD load.
inline constexpr std::size_t kCpuAlignment = 64;

/// Owns `nbytes` bytes on `device`. Tensors that view the same data share one Storage through a
/// shared_ptr. The version counter counts in-place writes to the memory: autograd compares it
/// with the value it saw when it saved a tensor for backward (see autograd/saved_tensor.hpp).
class Storage {
public:
    Storage(std::size_t nbytes, Device device) : nbytes_(nbytes), device_(device) {
        if (device.is_cpu()) {
            data_ = ::operator new(nbytes ? nbytes : 1, std::align_val_t(kCpuAlignment));
        } else {
#if FBSEG_WITH_CUDA
            data_ = cuda::allocate(nbytes, device.index);
#else
            FBSEG_FAIL("cannot allocate ", nbytes, " bytes on ", device.str(),
                       ": this build of fbseg has no CUDA support (configure with -DFBSEG_CUDA=ON and "
                       "link fbseg::cuda)");
#endif
        }
    }
    ~Storage() {
        if (device_.is_cpu()) {
            ::operator delete(data_, std::align_val_t(kCpuAlignment));
        } else {
#if FBSEG_WITH_CUDA
            cuda::deallocate(data_, device_.index);
#endif
        }
    }
    Storage(const Storage&) = delete;
    Storage& operator=(const Storage&) = delete;

    void* data() const { return data_; }
    std::size_t nbytes() const { return nbytes_; }
    Device device() const { return device_; }

    std::uint64_t version() const { return version_; }
    void bump_version() { ++version_; }

    /// Counts in-place ops that changed the autograd history of a tensor on this storage (a
    /// recorded in-place op, or fill_/copy_ cutting a tensor off its graph). A view made before
    /// such a change has a stale history; autograd refuses to use it (autograd/function.hpp).
    std::uint64_t history_version() const { return history_version_; }
    void bump_history_version() { ++history_version_; }

private:
    void* data_ = nullptr;
    std::size_t nbytes_ = 0;
    Device device_;
    std::uint64_t version_ = 0;
    std::uint64_t history_version_ = 0;
};

}  // namespace fbseg
