// fbseg/ops/kernel/softmax.hpp - the device seam of the softmax kernels: cpu::softmax_forward for
// CPU tensors, cuda::softmax_forward (kernels/softmax.cu) for CUDA ones. See
// ops/kernel/elementwise.hpp for the pattern and docs/architecture.md, "The device seam".
#pragma once

#include "fbseg/core/tensor.hpp"
#include "fbseg/ops/cpu/softmax.hpp"
#include "fbseg/ops/device_check.hpp"
#include "fbseg/ops/kernel/elementwise.hpp"
#include "fbseg/ops/kernel/seam.hpp"

namespace fbseg::kernel {

// The kernels of this file. Against libfbseg only these declarations are seen; the definitions
// below are compiled once, in the library (ops/kernel/seam.hpp).
FBSEG_SEAM void softmax_forward(const Tensor& x, const Tensor& y, std::int64_t outer, std::int64_t n,
                                std::int64_t inner, bool log);

/// y = (log_)softmax of contiguous x viewed as (outer, n, inner), along n: see cpu::softmax_forward.
#if FBSEG_SEAM_DEFINITIONS
FBSEG_SEAM void softmax_forward(const Tensor& x, const Tensor& y, std::int64_t outer, std::int64_t n,
                                std::int64_t inner, bool log) {
    if (x.device().is_cuda() || y.device().is_cuda()) {
        // CUDA: cuda::softmax_forward (float32, float64), x and y contiguous.
        const char* op = log ? "log_softmax" : "softmax";
        const auto cuda_softmax = cuda_twin(cuda::backend(op).softmax_forward, "softmax_forward");
        FBSEG_CHECK(x.device() == y.device() && x.is_contiguous() && y.is_contiguous(), op,
                    ": CUDA operands must be contiguous and on one device (", x.describe(), ", ", y.describe(), ")");
        cuda_softmax(x.dtype(), x.raw_data(), y.raw_data(), outer, n, inner, log, x.device().index);
        return;
    }
    dispatch_floating(x.dtype(), log ? "log_softmax" : "softmax", [&]<typename T>() {
        cpu::softmax_forward<T>(x.data_ptr<T>(), y.data_ptr<T>(), outer, n, inner, log);
    });
}
#endif

}  // namespace fbseg::kernel
