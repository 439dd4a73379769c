// kernels/cuda_check.cuh - turning CUDA error codes into fbseg::Error, and the device guard.
//
// Every CUDA runtime call returns a cudaError_t. Ignoring one hides the bug until some later,
// unrelated call fails, so every call in kernels/ goes through FBSEG_CUDA_CHECK:
//
//     FBSEG_CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice));
//
// A kernel launch returns nothing; its errors (a bad grid size, no kernel image for this GPU)
// are read right after it with FBSEG_CUDA_CHECK_LAUNCH(), which checks cudaGetLastError().
// Errors that happen while the kernel runs (an out-of-bounds write) surface at the next
// synchronising call, e.g. the cudaMemcpy that brings the result back.
#pragma once

#include <cuda_runtime.h>

#include "fbseg/core/error.hpp"
#include "fbseg/cuda/api.hpp"

namespace fbseg::cuda::detail {

[[noreturn]] inline void throw_cuda_error(cudaError_t status, const char* expression, const char* file, int line) {
    ::fbseg::detail::throw_error(file, line,
                                 ::fbseg::detail::str("CUDA error ", cudaGetErrorName(status), " (",
                                                      cudaGetErrorString(status), ") in `", expression, "`"));
}

/// Throws unless 0 <= device < device_count(); `op` names the caller in the message.
inline void check_device_index(int device, const char* op) {
    const int count = device_count();
    FBSEG_CHECK(count > 0, op, ": no CUDA device is available (no GPU or no driver)");
    FBSEG_CHECK(device >= 0 && device < count, op, ": device index ", device, " is out of range, this machine has ",
                count, " CUDA device(s)");
}

/// Makes `device` the current CUDA device for the lifetime of the guard, then restores the
/// device that was current before. Every entry point takes a device index, so a caller never
/// has to call cudaSetDevice itself.
class DeviceGuard {
public:
    DeviceGuard(int device, const char* op) {
        check_device_index(device, op);
        if (cudaGetDevice(&previous_) != cudaSuccess) previous_ = -1;
        if (previous_ != device) {
            const cudaError_t status = cudaSetDevice(device);
            if (status != cudaSuccess) throw_cuda_error(status, "cudaSetDevice(device)", __FILE__, __LINE__);
            switched_ = true;
        }
    }
    ~DeviceGuard() {
        // A destructor must not throw: restoring the previous device is best effort.
        if (switched_ && previous_ >= 0) (void)cudaSetDevice(previous_);
    }
    DeviceGuard(const DeviceGuard&) = delete;
    DeviceGuard& operator=(const DeviceGuard&) = delete;

private:
    int previous_ = -1;
    bool switched_ = false;
};

}  // namespace fbseg::cuda::detail

/// Evaluates a CUDA runtime call once and throws fbseg::Error (file, line, expression and the
/// CUDA error string) when it did not return cudaSuccess.
#define FBSEG_CUDA_CHECK(expr)                                                                      \
    do {                                                                                            \
        const cudaError_t fbseg_cuda_status_ = (expr);                                              \
        if (fbseg_cuda_status_ != cudaSuccess) [[unlikely]] {                                       \
            ::fbseg::cuda::detail::throw_cuda_error(fbseg_cuda_status_, #expr, __FILE__, __LINE__); \
        }                                                                                           \
    } while (0)

/// Put right after every kernel<<<...>>>(...) launch: reports launch errors where they happen.
#define FBSEG_CUDA_CHECK_LAUNCH() FBSEG_CUDA_CHECK(cudaGetLastError())
