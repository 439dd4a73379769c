// fbseg/core/storage.hpp - a block of memory on one device, shared by a tensor and its views.
//
// CPU memory comes from aligned operator new, large blocks through a cache that reuses them
// (core/cpu_allocator.hpp). CUDA memory comes from the registered CUDA backend
// (cuda/backend.hpp): this header never calls the CUDA library by name and never changes with a
// build macro, so every translation unit of a program compiles the same Storage.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <new>

#include "fbseg/core/cpu_allocator.hpp"
#include "fbseg/core/device.hpp"
#include "fbseg/core/error.hpp"
#include "fbseg/cuda/backend.hpp"

namespace fbseg {

namespace detail {
inline std::atomic<std::uint64_t>& deallocation_error_count() noexcept {
    static std::atomic<std::uint64_t> count{0};
    return count;
}

/// A destructor must not throw (an exception leaving ~Storage during unwinding, or from a
/// noexcept destructor, ends the program). A failure to free memory is counted and reported on
/// stderr the first time; the memory is then leaked and the program goes on.
inline void report_deallocation_error(const char* what, const Device& device) noexcept {
    if (deallocation_error_count().fetch_add(1) == 0) {
        std::fprintf(stderr, "fbseg: warning: freeing memory on %s failed (%s); the block is leaked. "
                     "Further failures are counted by fbseg::deallocation_errors() but not printed.\n",
                     device.is_cpu() ? "cpu" : "a CUDA device", what);
    }
}
}  // namespace detail

/// Number of times freeing a Storage failed so far in this process (see ~Storage).
inline std::uint64_t deallocation_errors() noexcept { return detail::deallocation_error_count().load(); }

/// Owns `nbytes` bytes on `device`. Tensors that view the same data share one Storage through a
/// shared_ptr. The version counter counts in-place writes to the memory: autograd compares it
/// with the value it saw when it saved a tensor for backward (see autograd/saved_tensor.hpp).
class Storage {
public:
    /// Throws std::bad_alloc when the CPU is out of memory (Tensor::empty turns it into an
    /// fbseg::Error naming the shape), fbseg::Error from the CUDA backend, or fbseg::Error when
    /// no CUDA backend is linked.
    Storage(std::size_t nbytes, Device device) : nbytes_(nbytes), device_(device) {
        if (device.is_cpu()) {
            data_ = cpu_allocate(nbytes);
        } else {
            const cuda::Backend& backend = cuda::backend("allocate");
            data_ = backend.allocate(nbytes, device.index);
            deallocate_ = backend.deallocate;  // freed by the backend that allocated it
        }
    }
    /// Never throws: a failing deallocation is reported once (detail::report_deallocation_error).
    ~Storage() noexcept {
        if (device_.is_cpu()) {
            cpu_deallocate(data_, nbytes_);
            return;
        }
        try {
            if (deallocate_ != nullptr) deallocate_(data_, device_.index);
        } catch (const std::exception& e) {
            detail::report_deallocation_error(e.what(), device_);
        } catch (...) {
            detail::report_deallocation_error("unknown exception", device_);
        }
    }
    Storage(const Storage&) = delete;
    Storage& operator=(const Storage&) = delete;

    /// The address of the first byte, on the storage's device (host code must check the device
    /// before dereferencing it: Tensor::data_ptr does).
    void* data() const { return data_; }
    std::size_t nbytes() const { return nbytes_; }
    Device device() const { return device_; }

    std::uint64_t version() const { return version_; }
    void bump_version() { ++version_; }

    /// A number no other Storage of this program has had: what a cache of data derived from
    /// this memory (ops/kernel/packed_weight_cache.hpp) keys on with version(), since an address
    /// can be reused by the next allocation.
    std::uint64_t uid() const { return uid_; }

    /// Counts in-place ops that changed the autograd history of a tensor on this storage (a
    /// recorded in-place op, or fill_/copy_ cutting a tensor off its graph). A view made before
    /// such a change has a stale history; autograd refuses to use it (autograd/function.hpp).
    std::uint64_t history_version() const { return history_version_; }
    void bump_history_version() { ++history_version_; }

private:
    void* data_ = nullptr;
    std::size_t nbytes_ = 0;
    Device device_;
    void (*deallocate_)(void*, int) = nullptr;  // CUDA memory: the backend's deallocate
    std::uint64_t version_ = 0;
    std::uint64_t history_version_ = 0;
    std::uint64_t uid_ = next_uid();

    static std::uint64_t next_uid() {
        static std::atomic<std::uint64_t> last{0};
        return last.fetch_add(1, std::memory_order_relaxed) + 1;
    }
};

}  // namespace fbseg
