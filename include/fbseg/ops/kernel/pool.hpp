// fbseg/ops/kernel/pool.hpp - the device seam of the pooling kernels: CPU tensors go to
// ops/cpu/pool.hpp (float32 max pooling to the per-instruction-set copy of
// ops/cpu/max_pool_kernels.hpp, through ops/cpu/kernel_table.hpp), CUDA tensors (contiguous) to
// kernels/pool.cu (through cuda/backend.hpp).
// See ops/kernel/elementwise.hpp for the pattern and docs/architecture.md, "The device seam".
#pragma once

#include <initializer_list>

#include "fbseg/core/tensor.hpp"
#include "fbseg/ops/cpu/kernel_table.hpp"
#include "fbseg/ops/cpu/pool.hpp"
#include "fbseg/ops/device_check.hpp"
#include "fbseg/ops/kernel/elementwise.hpp"
#include "fbseg/ops/kernel/seam.hpp"

namespace fbseg::kernel {

// The kernels of this file. Against libfbseg only these declarations are seen; the definitions
// below are compiled once, in the library (ops/kernel/seam.hpp).
FBSEG_SEAM void max_pool2d_forward(const Tensor& x, const Tensor& y, const Tensor& indices, const MaxPool2dGeometry& g);
FBSEG_SEAM void max_pool2d_backward(const Tensor& gy, const Tensor& indices, const Tensor& gx,
                                    const MaxPool2dGeometry& g);
FBSEG_SEAM void adaptive_avg_pool2d_forward(const Tensor& x, const Tensor& y, const AdaptivePool2dGeometry& g);
FBSEG_SEAM void adaptive_avg_pool2d_backward(const Tensor& gy, const Tensor& gx, const AdaptivePool2dGeometry& g);

namespace pool_seam {
/// The CUDA pooling kernels take contiguous operands.
inline void require_contiguous(const char* op, std::initializer_list<const Tensor*> operands) {
    for (const Tensor* t : operands)
        FBSEG_CHECK(t->is_contiguous(), op, ": CUDA operands must be contiguous (", t->describe(), ")");
}
}  // namespace pool_seam

/// x (planes, h, w) -> y, indices (planes, ho, wo), all contiguous: cpu::max_pool2d_forward.
#if FBSEG_SEAM_DEFINITIONS
FBSEG_SEAM void max_pool2d_forward(const Tensor& x, const Tensor& y, const Tensor& indices,
                                   const MaxPool2dGeometry& g) {
    if (!x.device().is_cpu()) {
        pool_seam::require_contiguous("max_pool2d", {&x, &y, &indices});
        cuda_twin(cuda::backend("max_pool2d").max_pool2d_forward, "max_pool2d_forward")(
            x.dtype(), x.raw_data(), y.raw_data(), static_cast<std::int64_t*>(indices.raw_data()), g, x.device().index);
        return;
    }
    detail::require_cpu_kernel("max_pool2d_forward", {&x, &y, &indices});
    if (x.dtype() == DType::Float32) {  // the vector kernel of this CPU's instruction set
        cpu::kernel_table().pool.max_pool2d_forward(x.data_ptr<float>(), y.data_ptr<float>(),
                                                    indices.data_ptr<std::int64_t>(), g);
        return;
    }
    dispatch_floating(x.dtype(), "max_pool2d", [&]<typename T>() {
        cpu::max_pool2d_forward<T>(x.data_ptr<T>(), y.data_ptr<T>(), indices.data_ptr<std::int64_t>(), g);
    });
}
#endif

/// gx (planes, h, w) += scatter of gy at indices (planes, ho, wo): cpu::max_pool2d_backward.
#if FBSEG_SEAM_DEFINITIONS
FBSEG_SEAM void max_pool2d_backward(const Tensor& gy, const Tensor& indices, const Tensor& gx,
                                    const MaxPool2dGeometry& g) {
    if (!gx.device().is_cpu()) {
        pool_seam::require_contiguous("max_pool2d_backward", {&gy, &indices, &gx});
        cuda_twin(cuda::backend("max_pool2d_backward").max_pool2d_backward, "max_pool2d_backward")(
            gx.dtype(), gy.raw_data(), static_cast<const std::int64_t*>(indices.raw_data()), gx.raw_data(), g,
            gx.device().index);
        return;
    }
    detail::require_cpu_kernel("max_pool2d_backward", {&gy, &indices, &gx});
    dispatch_floating(gx.dtype(), "max_pool2d_backward", [&]<typename T>() {
        cpu::max_pool2d_backward<T>(gy.data_ptr<T>(), indices.data_ptr<std::int64_t>(), gx.data_ptr<T>(), g);
    });
}
#endif

/// x (planes, h, w) -> y (planes, oh, ow), contiguous: cpu::adaptive_avg_pool2d_forward.
#if FBSEG_SEAM_DEFINITIONS
FBSEG_SEAM void adaptive_avg_pool2d_forward(const Tensor& x, const Tensor& y, const AdaptivePool2dGeometry& g) {
    if (!x.device().is_cpu()) {
        pool_seam::require_contiguous("adaptive_avg_pool2d", {&x, &y});
        cuda_twin(cuda::backend("adaptive_avg_pool2d").adaptive_avg_pool2d_forward, "adaptive_avg_pool2d_forward")(
            x.dtype(), x.raw_data(), y.raw_data(), g, x.device().index);
        return;
    }
    detail::require_cpu_kernel("adaptive_avg_pool2d_forward", {&x, &y});
    dispatch_floating(x.dtype(), "adaptive_avg_pool2d",
                      [&]<typename T>() { cpu::adaptive_avg_pool2d_forward<T>(x.data_ptr<T>(), y.data_ptr<T>(), g); });
}
#endif

/// gx (planes, h, w) += the spread of gy (planes, oh, ow): cpu::adaptive_avg_pool2d_backward.
#if FBSEG_SEAM_DEFINITIONS
FBSEG_SEAM void adaptive_avg_pool2d_backward(const Tensor& gy, const Tensor& gx, const AdaptivePool2dGeometry& g) {
    if (!gx.device().is_cpu()) {
        pool_seam::require_contiguous("adaptive_avg_pool2d_backward", {&gy, &gx});
        cuda_twin(cuda::backend("adaptive_avg_pool2d_backward").adaptive_avg_pool2d_backward,
                  "adaptive_avg_pool2d_backward")(gx.dtype(), gy.raw_data(), gx.raw_data(), g, gx.device().index);
        return;
    }
    detail::require_cpu_kernel("adaptive_avg_pool2d_backward", {&gy, &gx});
    dispatch_floating(gx.dtype(), "adaptive_avg_pool2d_backward", [&]<typename T>() {
        cpu::adaptive_avg_pool2d_backward<T>(gy.data_ptr<T>(), gx.data_ptr<T>(), g);
    });
}
#endif

}  // namespace fbseg::kernel
