// fbseg/ops/kernel/pool.hpp - the device seam of the pooling kernels (CPU only so far).
// See ops/kernel/elementwise.hpp for the pattern and docs/architecture.md, "The device seam".
#pragma once

#include "fbseg/core/tensor.hpp"
#include "fbseg/ops/cpu/pool.hpp"
#include "fbseg/ops/device_check.hpp"

namespace fbseg::kernel {

/// x (planes, h, w) -> y, indices (planes, ho, wo), all contiguous: cpu::max_pool2d_forward.
inline void max_pool2d_forward(const Tensor& x, const Tensor& y, const Tensor& indices, const MaxPool2dGeometry& g) {
    detail::require_cpu_kernel("max_pool2d_forward", {&x, &y, &indices});
    dispatch_floating(x.dtype(), "max_pool2d", [&]<typename T>() {
        cpu::max_pool2d_forward<T>(x.data_ptr<T>(), y.data_ptr<T>(), indices.data_ptr<std::int64_t>(), g);
    });
}

/// gx (planes, h, w) += scatter of gy at indices (planes, ho, wo): cpu::max_pool2d_backward.
inline void max_pool2d_backward(const Tensor& gy, const Tensor& indices, const Tensor& gx, const MaxPool2dGeometry& g) {
    detail::require_cpu_kernel("max_pool2d_backward", {&gy, &indices, &gx});
    dispatch_floating(gx.dtype(), "max_pool2d_backward", [&]<typename T>() {
        cpu::max_pool2d_backward<T>(gy.data_ptr<T>(), indices.data_ptr<std::int64_t>(), gx.data_ptr<T>(), g);
    });
}

/// x (planes, h, w) -> y (planes, oh, ow), contiguous: cpu::adaptive_avg_pool2d_forward.
inline void adaptive_avg_pool2d_forward(const Tensor& x, const Tensor& y, const AdaptivePool2dGeometry& g) {
    detail::require_cpu_kernel("adaptive_avg_pool2d_forward", {&x, &y});
    dispatch_floating(x.dtype(), "adaptive_avg_pool2d",
                      [&]<typename T>() { cpu::adaptive_avg_pool2d_forward<T>(x.data_ptr<T>(), y.data_ptr<T>(), g); });
}

/// gx (planes, h, w) += the spread of gy (planes, oh, ow): cpu::adaptive_avg_pool2d_backward.
inline void adaptive_avg_pool2d_backward(const Tensor& gy, const Tensor& gx, const AdaptivePool2dGeometry& g) {
    detail::require_cpu_kernel("adaptive_avg_pool2d_backward", {&gy, &gx});
    dispatch_floating(gx.dtype(), "adaptive_avg_pool2d_backward", [&]<typename T>() {
        cpu::adaptive_avg_pool2d_backward<T>(gy.data_ptr<T>(), gx.data_ptr<T>(), g);
    });
}

}  // namespace fbseg::kernel
