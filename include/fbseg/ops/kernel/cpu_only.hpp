// fbseg/ops/kernel/cpu_only.hpp - the device seam of the kernels that have no CUDA twin yet.
//
// Each function here is the one place where its kernel's device is chosen. Today they all
// accept CPU tensors only and refuse CUDA ones with "<kernel>: no CUDA kernel for <kernel> yet";
// when a CUDA twin is written (declared in cuda/api.hpp, added to the backend table of
// cuda/backend.hpp), its CUDA branch goes here, as kernel::add in elementwise.hpp shows.
// The CPU kernels are raw-pointer functions in ops/cpu/<family>.hpp, shapes in their comments.
#pragma once

#include "fbseg/core/tensor.hpp"
#include "fbseg/ops/cpu/linalg.hpp"
#include "fbseg/ops/cpu/reduce.hpp"
#include "fbseg/ops/cpu/softmax.hpp"
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

/// y = (log_)softmax of contiguous x viewed as (outer, n, inner), along n: see cpu::softmax_forward.
inline void softmax_forward(const Tensor& x, const Tensor& y, std::int64_t outer, std::int64_t n, std::int64_t inner,
                            bool log) {
    const char* name = log ? "log_softmax_forward" : "softmax_forward";
    detail::require_cpu_kernel(name, {&x, &y});
    dispatch_floating(x.dtype(), log ? "log_softmax" : "softmax", [&]<typename T>() {
        cpu::softmax_forward<T>(x.data_ptr<T>(), y.data_ptr<T>(), outer, n, inner, log);
    });
}

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
