// fbseg/cuda/backend.hpp - the run-time seam between the header-only core and the CUDA library.
//
// The core is header-only and is compiled into every program and library that includes it,
// whether or not that target links the CUDA library `fbseg::cuda`. If the core called the CUDA
// entry points (cuda/api.hpp) directly, its inline bodies would have to change with a macro,
// and a helper library compiled without the macro, linked into a CUDA program, would bring its
// own copy of e.g. Storage::~Storage: the linker keeps one of the two copies (an ODR violation).
//
// So the core never calls the CUDA library by name. It calls through this table of function
// pointers, which the CUDA library fills in when the program starts (kernels/backend.cu; the
// link option that `fbseg::cuda` carries makes sure the linker keeps that object file). Every
// translation unit sees the same inline code; only the table's contents differ between a
// program with and one without fbseg::cuda:
//
//     core (headers)                         kernels/ (fbseg::cuda)
//     cuda::backend("fill_").fill(...)  -->  table registered at start-up --> cuda::fill(...)
//     no table registered               -->  "this build of fbseg has no CUDA support"
//
// Tests register a fake backend (host memory standing in for device memory) to exercise every
// CUDA path of the core on a machine without a GPU (tests/test_device.cpp).
//
// The signatures are those of cuda/api.hpp; each slot may be null when a backend has no such
// kernel, and the dispatcher then reports "no CUDA kernel for <kernel> yet".
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fbseg/core/error.hpp"
#include "fbseg/cuda/api.hpp"

namespace fbseg::cuda {

/// The CUDA entry points the core needs, as plain function pointers (see cuda/api.hpp for what
/// each one does). Pointers are device pointers unless the name says host; sizes are in bytes.
struct Backend {
    const char* name = "cuda";
    int (*device_count)() = nullptr;
    void (*synchronize)(int device) = nullptr;
    AllocatorStats (*allocator_stats)(int device) = nullptr;
    void* (*allocate)(std::size_t bytes, int device) = nullptr;
    void (*deallocate)(void* ptr, int device) = nullptr;
    void (*copy_host_to_device)(void* dst, const void* host_src, std::size_t bytes, int device) = nullptr;
    void (*copy_device_to_host)(void* host_dst, const void* src, std::size_t bytes, int device) = nullptr;
    void (*copy_device_to_device)(void* dst, const void* src, std::size_t bytes, int device) = nullptr;
    void (*fill)(void* data, DType dtype, std::int64_t numel, double value, int device) = nullptr;
    void (*add)(DType dtype, int ndim, const std::int64_t* sizes, void* out, const std::int64_t* out_strides,
                const StridedOperand& a, const StridedOperand& b, double alpha, int device) = nullptr;

    // The kernel families (cuda/api.hpp); each kernels/<family>.cu fills its own slots
    // (install_<family>_kernels in kernels/install.cuh).
    decltype(&cuda::conv2d_forward) conv2d_forward = nullptr;
    decltype(&cuda::conv2d_backward_data) conv2d_backward_data = nullptr;
    decltype(&cuda::conv2d_backward_weight) conv2d_backward_weight = nullptr;
    decltype(&cuda::conv_bias_backward) conv_bias_backward = nullptr;
    decltype(&cuda::add_channel_bias) add_channel_bias = nullptr;
    decltype(&cuda::bmm_forward) bmm_forward = nullptr;
    decltype(&cuda::batch_norm_forward) batch_norm_forward = nullptr;
    decltype(&cuda::batch_norm_update_running_stats) batch_norm_update_running_stats = nullptr;
    decltype(&cuda::batch_norm_backward) batch_norm_backward = nullptr;
    decltype(&cuda::max_pool2d_forward) max_pool2d_forward = nullptr;
    decltype(&cuda::max_pool2d_backward) max_pool2d_backward = nullptr;
    decltype(&cuda::adaptive_avg_pool2d_forward) adaptive_avg_pool2d_forward = nullptr;
    decltype(&cuda::adaptive_avg_pool2d_backward) adaptive_avg_pool2d_backward = nullptr;
    decltype(&cuda::upsample_nearest2d_forward) upsample_nearest2d_forward = nullptr;
    decltype(&cuda::upsample_nearest2d_backward) upsample_nearest2d_backward = nullptr;
    decltype(&cuda::upsample_bilinear2d_forward) upsample_bilinear2d_forward = nullptr;
    decltype(&cuda::upsample_bilinear2d_backward) upsample_bilinear2d_backward = nullptr;
    decltype(&cuda::dropout_mask) dropout_mask = nullptr;
    decltype(&cuda::sum_rows) sum_rows = nullptr;
    decltype(&cuda::extreme_rows) extreme_rows = nullptr;
    decltype(&cuda::all_any_rows) all_any_rows = nullptr;
    decltype(&cuda::scatter_add_along_dim) scatter_add_along_dim = nullptr;
    decltype(&cuda::softmax_forward) softmax_forward = nullptr;
    decltype(&cuda::gather) gather = nullptr;
    decltype(&cuda::scatter_add) scatter_add = nullptr;
    decltype(&cuda::cumsum) cumsum = nullptr;
    // the elementwise maps (kernels/map.cu)
    decltype(&cuda::unary) unary = nullptr;
    decltype(&cuda::unary_backward) unary_backward = nullptr;
    decltype(&cuda::binary) binary = nullptr;
    decltype(&cuda::select_grad) select_grad = nullptr;
    decltype(&cuda::where) where = nullptr;
    decltype(&cuda::copy_strided) copy_strided = nullptr;
};

namespace detail {
/// The one slot of the process (an inline function's static is shared by every translation unit).
inline std::atomic<const Backend*>& backend_slot() noexcept {
    static std::atomic<const Backend*> slot{nullptr};
    return slot;
}
}  // namespace detail

/// Installs `backend` (nullptr removes it) and returns the one it replaces. The CUDA library
/// calls this once at start-up; tests use ScopedBackend.
inline const Backend* set_backend(const Backend* backend) noexcept { return detail::backend_slot().exchange(backend); }

/// The registered backend, or nullptr in a program that does not link fbseg::cuda.
inline const Backend* registered_backend() noexcept { return detail::backend_slot().load(); }

/// The registered backend; throws, naming `op`, when there is none.
inline const Backend& backend(std::string_view op) {
    const Backend* b = registered_backend();
    FBSEG_CHECK(b != nullptr, op,
                ": this build of fbseg has no CUDA support (link fbseg::cuda; configure with "
                "-DFBSEG_CUDA=ON)");
    return *b;
}

/// Installs a backend for the lifetime of the object, then restores the previous one (tests).
class ScopedBackend {
public:
    explicit ScopedBackend(const Backend* backend) noexcept : previous_(set_backend(backend)) {}
    ~ScopedBackend() { set_backend(previous_); }
    ScopedBackend(const ScopedBackend&) = delete;
    ScopedBackend& operator=(const ScopedBackend&) = delete;

private:
    const Backend* previous_;
};

}  // namespace fbseg::cuda
