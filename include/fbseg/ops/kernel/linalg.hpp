// fbseg/ops/kernel/linalg.hpp - the device seam of the matrix-product kernels (CPU only so far).
// See ops/kernel/elementwise.hpp for the pattern and docs/architecture.md, "The device seam".
#pragma once

#include "fbseg/core/tensor.hpp"
#include "fbseg/ops/cpu/linalg.hpp"
#include "fbseg/ops/device_check.hpp"

namespace fbseg::kernel {

/// c = a @ b per batch: a (batch, n, k) and b (batch, k, m) of any strides, c (batch, n, m)
/// contiguous. See cpu::bmm_forward.
inline void bmm_forward(const Tensor& a, const Tensor& b, const Tensor& c) {
    detail::require_cpu_kernel("bmm_forward", {&a, &b, &c});
    dispatch_floating(a.dtype(), "bmm", [&]<typename T>() {
        cpu::bmm_forward<T>(a.data_ptr<T>(), a.strides().data(), b.data_ptr<T>(), b.strides().data(), c.data_ptr<T>(),
                            a.shape()[0], a.shape()[1], a.shape()[2], b.shape()[2]);
    });
}

}  // namespace fbseg::kernel
