// fbseg/ops/kernel/batch_norm.hpp - the device seam of the batch-norm kernels: CPU tensors go to
// ops/cpu/batch_norm.hpp, CUDA tensors to kernels/batch_norm.cu (through cuda/backend.hpp).
// See ops/kernel/elementwise.hpp for the pattern and docs/architecture.md, "The device seam".
// The per-channel vectors (gamma, beta, mean, invstd, var_unbiased) are host arrays of doubles
// on both devices (the CUDA kernels upload and download them).
#pragma once

#include "fbseg/core/tensor.hpp"
#include "fbseg/ops/cpu/batch_norm.hpp"
#include "fbseg/ops/cpu/kernel_table.hpp"
#include "fbseg/ops/device_check.hpp"
#include "fbseg/ops/kernel/elementwise.hpp"
#include "fbseg/ops/kernel/seam.hpp"

namespace fbseg::kernel {

// The kernels of this file. Against libfbseg only these declarations are seen; the definitions
// below are compiled once, in the library (ops/kernel/seam.hpp).
FBSEG_SEAM void batch_norm_forward(const Tensor& x, const Tensor& y, std::int64_t n, std::int64_t c, std::int64_t s,
                                   const double* gamma, const double* beta, bool batch_stats, double eps, double* mean,
                                   double* invstd, double* var_unbiased);
FBSEG_SEAM void batch_norm_update_running_stats(const Tensor& running_mean, const Tensor& running_var,
                                                const double* mean, const double* var_unbiased, double momentum);
FBSEG_SEAM void batch_norm_backward(const Tensor& x, const Tensor& gy, const Tensor& gx, const Tensor& gw,
                                    const Tensor& gb, std::int64_t n, std::int64_t c, std::int64_t s,
                                    const double* gamma, const double* mean, const double* invstd, bool batch_stats);

/// x, y: (n, c, s) contiguous: cpu::batch_norm_forward.
#if FBSEG_SEAM_DEFINITIONS
FBSEG_SEAM void batch_norm_forward(const Tensor& x, const Tensor& y, std::int64_t n, std::int64_t c, std::int64_t s,
                                   const double* gamma, const double* beta, bool batch_stats, double eps, double* mean,
                                   double* invstd, double* var_unbiased) {
    if (!x.device().is_cpu()) {
        FBSEG_CHECK(x.is_contiguous() && y.is_contiguous(), "batch_norm: CUDA x and y must be contiguous (",
                    x.describe(), ", ", y.describe(), ")");
        cuda_twin(cuda::backend("batch_norm").batch_norm_forward, "batch_norm_forward")(
            x.dtype(), x.raw_data(), y.raw_data(), n, c, s, gamma, beta, batch_stats, eps, mean, invstd, var_unbiased,
            x.device().index);
        return;
    }
    detail::require_cpu_kernel("batch_norm_forward", {&x, &y});
    if (x.dtype() == DType::Float32) {  // the copy for this CPU's instruction set
        cpu::kernel_table().norm.batch_norm_forward(x.data_ptr<float>(), y.data_ptr<float>(), n, c, s, gamma, beta,
                                                    batch_stats, eps, mean, invstd, var_unbiased);
        return;
    }
    dispatch_floating(x.dtype(), "batch_norm", [&]<typename T>() {
        cpu::batch_norm_forward<T>(x.data_ptr<T>(), y.data_ptr<T>(), n, c, s, gamma, beta, batch_stats, eps, mean,
                                   invstd, var_unbiased);
    });
}
#endif

/// running_mean, running_var: (c,) of any stride, updated in place: cpu::batch_norm_update_running_stats.
#if FBSEG_SEAM_DEFINITIONS
FBSEG_SEAM void batch_norm_update_running_stats(const Tensor& running_mean, const Tensor& running_var,
                                                const double* mean, const double* var_unbiased, double momentum) {
    if (!running_mean.device().is_cpu()) {
        cuda_twin(cuda::backend("batch_norm").batch_norm_update_running_stats, "batch_norm_update_running_stats")(
            running_mean.dtype(), running_mean.raw_data(), running_mean.stride(0), running_var.raw_data(),
            running_var.stride(0), running_mean.size(0), mean, var_unbiased, momentum, running_mean.device().index);
        return;
    }
    detail::require_cpu_kernel("batch_norm_update_running_stats", {&running_mean, &running_var});
    dispatch_floating(running_mean.dtype(), "batch_norm", [&]<typename T>() {
        cpu::batch_norm_update_running_stats<T>(running_mean.data_ptr<T>(), running_mean.stride(0),
                                                running_var.data_ptr<T>(), running_var.stride(0), running_mean.size(0),
                                                mean, var_unbiased, momentum);
    });
}
#endif

/// x, gy, gx: (n, c, s) contiguous; gw, gb: (c,) contiguous; any of gx, gw, gb may be undefined
/// (not needed): cpu::batch_norm_backward.
#if FBSEG_SEAM_DEFINITIONS
FBSEG_SEAM void batch_norm_backward(const Tensor& x, const Tensor& gy, const Tensor& gx, const Tensor& gw,
                                    const Tensor& gb, std::int64_t n, std::int64_t c, std::int64_t s,
                                    const double* gamma, const double* mean, const double* invstd, bool batch_stats) {
    if (!x.device().is_cpu()) {
        for (const Tensor* t : {&x, &gy, &gx, &gw, &gb})
            FBSEG_CHECK(!t->defined() || t->is_contiguous(), "batch_norm_backward: CUDA operands must be contiguous (",
                        t->describe(), ")");
        cuda_twin(cuda::backend("batch_norm_backward").batch_norm_backward, "batch_norm_backward")(
            x.dtype(), x.raw_data(), gy.raw_data(), gx.defined() ? gx.raw_data() : nullptr,
            gw.defined() ? gw.raw_data() : nullptr, gb.defined() ? gb.raw_data() : nullptr, n, c, s, gamma, mean,
            invstd, batch_stats, x.device().index);
        return;
    }
    detail::require_cpu_kernel("batch_norm_backward", {&x, &gy, &gx, &gw, &gb});
    if (x.dtype() == DType::Float32) {  // the copy for this CPU's instruction set
        cpu::kernel_table().norm.batch_norm_backward(
            x.data_ptr<float>(), gy.data_ptr<float>(), gx.defined() ? gx.data_ptr<float>() : nullptr,
            gw.defined() ? gw.data_ptr<float>() : nullptr, gb.defined() ? gb.data_ptr<float>() : nullptr, n, c, s,
            gamma, mean, invstd, batch_stats);
        return;
    }
    dispatch_floating(x.dtype(), "batch_norm_backward", [&]<typename T>() {
        cpu::batch_norm_backward<T>(x.data_ptr<T>(), gy.data_ptr<T>(), gx.defined() ? gx.data_ptr<T>() : nullptr,
                                    gw.defined() ? gw.data_ptr<T>() : nullptr,
                                    gb.defined() ? gb.data_ptr<T>() : nullptr, n, c, s, gamma, mean, invstd,
                                    batch_stats);
    });
}
#endif

}  // namespace fbseg::kernel
