// fbseg/ops/kernel/softmax.hpp - the device seam of the softmax kernels (CPU only so far).
// See ops/kernel/elementwise.hpp for the pattern and docs/architecture.md, "The device seam".
#pragma once

#include "fbseg/core/tensor.hpp"
#include "fbseg/ops/cpu/softmax.hpp"
#include "fbseg/ops/device_check.hpp"

namespace fbseg::kernel {

/// y = (log_)softmax of contiguous x viewed as (outer, n, inner), along n: see cpu::softmax_forward.
inline void softmax_forward(const Tensor& x, const Tensor& y, std::int64_t outer, std::int64_t n, std::int64_t inner,
                            bool log) {
    const char* name = log ? "log_softmax_forward" : "softmax_forward";
    detail::require_cpu_kernel(name, {&x, &y});
    dispatch_floating(x.dtype(), log ? "log_softmax" : "softmax", [&]<typename T>() {
        cpu::softmax_forward<T>(x.data_ptr<T>(), y.data_ptr<T>(), outer, n, inner, log);
    });
}

}  // namespace fbseg::kernel
