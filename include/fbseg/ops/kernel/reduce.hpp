// fbseg/ops/kernel/reduce.hpp - the device seam of the reduction kernels (CPU only so far).
// See ops/kernel/elementwise.hpp for the pattern and docs/architecture.md, "The device seam".
#pragma once

#include "fbseg/core/tensor.hpp"
#include "fbseg/ops/cpu/reduce.hpp"
#include "fbseg/ops/device_check.hpp"

namespace fbseg::kernel {

/// grad[o, index[o, j], j] += src[o, j]: see cpu::scatter_add_along_dim. grad (outer, n, inner),
/// src and index (outer, inner), all contiguous.
inline void scatter_add_along_dim(const Tensor& grad, const Tensor& src, const Tensor& index, std::int64_t outer,
                                  std::int64_t n, std::int64_t inner) {
    detail::require_cpu_kernel("scatter_add_along_dim", {&grad, &src, &index});
    dispatch_floating(grad.dtype(), "scatter_add_along_dim", [&]<typename T>() {
        cpu::scatter_add_along_dim<T>(grad.data_ptr<T>(), src.data_ptr<T>(), index.data_ptr<std::int64_t>(), outer, n,
                                      inner);
    });
}

}  // namespace fbseg::kernel
