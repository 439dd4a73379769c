// fbseg/ops/kernel/batch_norm.hpp - the device seam of the batch-norm kernels (CPU only so far).
// See ops/kernel/elementwise.hpp for the pattern and docs/architecture.md, "The device seam".
// The per-channel vectors (gamma, beta, mean, invstd, var_unbiased) are host arrays of doubles.
#pragma once

#include "fbseg/core/tensor.hpp"
#include "fbseg/ops/cpu/batch_norm.hpp"
#include "fbseg/ops/device_check.hpp"

namespace fbseg::kernel {

/// x, y: (n, c, s) contiguous: cpu::batch_norm_forward.
inline void batch_norm_forward(const Tensor& x, const Tensor& y, std::int64_t n, std::int64_t c, std::int64_t s,
                               const double* gamma, const double* beta, bool batch_stats, double eps, double* mean,
                               double* invstd, double* var_unbiased) {
    detail::require_cpu_kernel("batch_norm_forward", {&x, &y});
    dispatch_floating(x.dtype(), "batch_norm", [&]<typename T>() {
        cpu::batch_norm_forward<T>(x.data_ptr<T>(), y.data_ptr<T>(), n, c, s, gamma, beta, batch_stats, eps, mean,
                                   invstd, var_unbiased);
    });
}

/// running_mean, running_var: (c,) of any stride, updated in place: cpu::batch_norm_update_running_stats.
inline void batch_norm_update_running_stats(const Tensor& running_mean, const Tensor& running_var, const double* mean,
                                            const double* var_unbiased, double momentum) {
    detail::require_cpu_kernel("batch_norm_update_running_stats", {&running_mean, &running_var});
    dispatch_floating(running_mean.dtype(), "batch_norm", [&]<typename T>() {
        cpu::batch_norm_update_running_stats<T>(running_mean.data_ptr<T>(), running_mean.stride(0),
                                                running_var.data_ptr<T>(), running_var.stride(0), running_mean.size(0),
                                                mean, var_unbiased, momentum);
    });
}

/// x, gy, gx: (n, c, s) contiguous; gw, gb: (c,) contiguous; any of gx, gw, gb may be undefined
/// (not needed): cpu::batch_norm_backward.
inline void batch_norm_backward(const Tensor& x, const Tensor& gy, const Tensor& gx, const Tensor& gw, const Tensor& gb,
                                std::int64_t n, std::int64_t c, std::int64_t s, const double* gamma, const double* mean,
                                const double* invstd, bool batch_stats) {
    detail::require_cpu_kernel("batch_norm_backward", {&x, &gy, &gx, &gw, &gb});
    dispatch_floating(x.dtype(), "batch_norm_backward", [&]<typename T>() {
        cpu::batch_norm_backward<T>(x.data_ptr<T>(), gy.data_ptr<T>(), gx.defined() ? gx.data_ptr<T>() : nullptr,
                                    gw.defined() ? gw.data_ptr<T>() : nullptr,
                                    gb.defined() ? gb.data_ptr<T>() : nullptr, n, c, s, gamma, mean, invstd,
                                    batch_stats);
    });
}

}  // namespace fbseg::kernel
