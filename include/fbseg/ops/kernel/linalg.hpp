// fbseg/ops/kernel/linalg.hpp - the device seam of the matrix-product kernels.
// See ops/kernel/elementwise.hpp for the pattern and docs/architecture.md, "The device seam".
#pragma once

#include "fbseg/core/tensor.hpp"
#include "fbseg/cuda/backend.hpp"
#include "fbseg/ops/cpu/kernel_table.hpp"
#include "fbseg/ops/device_check.hpp"
#include "fbseg/ops/kernel/elementwise.hpp"

namespace fbseg::kernel {

// bmm_forward: c = a @ b per batch
//   a (batch, n, k) and b (batch, k, m) of any strides, c (batch, n, m) contiguous; one dtype
//   (float32 or float64), one device
//   CPU:  cpu::bmm_forward<T> (ops/cpu/linalg.hpp), Eigen's GEMM, through cpu::kernel_table()
//         (the copy compiled for this CPU's instruction set: ops/cpu/kernel_table.hpp)
//   CUDA: cuda::bmm_forward   (kernels/matmul.cu), any strides for a and b (the kernel loads a
//         transposed or misaligned operand element by element); float32 precision as set by
//         cuda::set_matmul_precision (exact FP32 by default)
inline void bmm_forward(const Tensor& a, const Tensor& b, const Tensor& c) {
    if (c.device().is_cpu()) {
        detail::require_cpu_kernel("bmm_forward", {&a, &b, &c});
        dispatch_floating(a.dtype(), "bmm", [&]<typename T>() {
            cpu::kernel_table().of<T>().bmm(a.data_ptr<T>(), a.strides().data(), b.data_ptr<T>(), b.strides().data(),
                                c.data_ptr<T>(), a.shape()[0], a.shape()[1], a.shape()[2], b.shape()[2]);
        });
        return;
    }
    const auto cuda_bmm = cuda_twin(cuda::backend("bmm").bmm_forward, "bmm_forward");
    FBSEG_CHECK(c.is_contiguous(), "bmm: the CUDA kernel writes a contiguous output (", c.describe(), ")");
    // cuda::bmm_forward takes (batch, m, k, n): rows of a, inner size, columns of b.
    cuda_bmm(a.dtype(), a.raw_data(), a.strides().data(), b.raw_data(), b.strides().data(), c.raw_data(),
             a.shape()[0], a.shape()[1], a.shape()[2], b.shape()[2], c.device().index);
}

}  // namespace fbseg::kernel
