// fbseg/ops/kernel/conv.hpp - the device seam of the convolution kernels: CPU tensors go to
// ops/cpu/conv_kernels.hpp (through cpu::kernel_table(): ops/cpu/kernel_table.hpp), CUDA tensors to the twins of
// kernels/conv.cu (cuda/api.hpp). See ops/kernel/elementwise.hpp for the pattern and docs/architecture.md, "The device
// seam". Every kernel is described in conv2d terms by one ConvGeometry (ops/geometry/conv.hpp): x [n, c_in, h, w],
// weight [c_out, c_in / groups, kh, kw], y [n, c_out, ho, wo], all contiguous. conv_transpose2d is conv2d's
// backward-data, and its backward uses conv2d's forward.
#pragma once

#include <initializer_list>
#include <string_view>

#include "fbseg/autograd/grad_mode.hpp"
#include "fbseg/core/parallel.hpp"
#include "fbseg/core/tensor.hpp"
#include "fbseg/ops/cpu/kernel_table.hpp"
#include "fbseg/ops/device_check.hpp"
#include "fbseg/ops/functors/unary.hpp"
#include "fbseg/ops/geometry/conv.hpp"
#include "fbseg/ops/kernel/elementwise.hpp"
#include "fbseg/ops/kernel/packed_weight_cache.hpp"
#include "fbseg/ops/kernel/seam.hpp"

namespace fbseg::kernel {

// The kernels of this file. Against libfbseg only these declarations are seen; the definitions
// below are compiled once, in the library (ops/kernel/seam.hpp).
FBSEG_SEAM void conv2d_forward(const ConvGeometry& g, const Tensor& x, const Tensor& weight, const Tensor& bias,
                               const Tensor& y, bool relu = false);
FBSEG_SEAM void conv2d_backward_data(const ConvGeometry& g, const Tensor& gy, const Tensor& weight, const Tensor& gx);
FBSEG_SEAM void conv2d_backward_weight(const ConvGeometry& g, const Tensor& x, const Tensor& gy, const Tensor& gw);
FBSEG_SEAM void conv_bias_backward(const Tensor& gy, const Tensor& gb, std::int64_t n, std::int64_t c, std::int64_t p);
FBSEG_SEAM void add_channel_bias(const Tensor& y, const Tensor& b, std::int64_t n, std::int64_t c, std::int64_t p);

namespace conv_seam {
/// The CUDA kernels read and write every operand as a dense, contiguous buffer of out's dtype on
/// out's device.
inline void require_contiguous(std::string_view kernel, const Tensor& out,
                               std::initializer_list<const Tensor*> operands) {
    for (const Tensor* t : operands) {
        if (!t->defined()) continue;
        FBSEG_CHECK(t->device() == out.device() && t->dtype() == out.dtype(), kernel, ": operand ", t->describe(),
                    " is not on the device or of the dtype of ", out.describe());
        FBSEG_CHECK(t->is_contiguous(), kernel, ": the CUDA kernel needs contiguous operands (got ", t->describe(),
                    ")");
    }
}
inline const void* data_or_null(const Tensor& t) { return t.defined() ? t.raw_data() : nullptr; }
}  // namespace conv_seam

/// y = conv2d(x, weight) + bias (bias may be undefined): cpu::conv::forward. With `relu` (CPU
/// only: conv2d_inference applies a CUDA output's ReLU itself), y = max(conv2d + bias, 0): in the
/// direct kernel's copy of its tiles to y, else in a pass over y after the convolution.
#if FBSEG_SEAM_DEFINITIONS
FBSEG_SEAM void conv2d_forward(const ConvGeometry& g, const Tensor& x, const Tensor& weight, const Tensor& bias,
                               const Tensor& y, bool relu) {
    if (!y.device().is_cpu()) {
        FBSEG_CHECK(!relu, "conv2d_forward: the ReLU epilogue is a CPU kernel's (got ", y.describe(), ")");
        const auto fn = cuda_twin(cuda::backend("conv2d").conv2d_forward, "conv2d_forward");
        conv_seam::require_contiguous("conv2d_forward", y, {&x, &weight, &bias, &y});
        fn(y.dtype(), g, x.raw_data(), weight.raw_data(), conv_seam::data_or_null(bias), y.raw_data(),
           y.device().index);
        return;
    }
    detail::require_cpu_kernel("conv2d_forward", {&x, &weight, &bias, &y});
    dispatch_floating(x.dtype(), "conv2d", [&]<typename T>() {
        const cpu::GemmKernels<T>& kernels = cpu::kernel_table().of<T>();
        const T* b = bias.defined() ? bias.data_ptr<T>() : nullptr;
        // Inference: the weights packed once, while their storage's version stays the same
        // (ops/kernel/packed_weight_cache.hpp). The same result, bit for bit.
        if (!is_grad_enabled()) {
            if (const std::int64_t values = kernels.conv_packed_size(g); values > 0) {
                const auto packed = packed_conv_weights<T>(g, weight, kernels, values);
                kernels.conv_forward_packed(g, x.data_ptr<T>(), packed.get(), b, y.data_ptr<T>(), relu);
                return;
            }
        }
        kernels.conv_forward(g, x.data_ptr<T>(), weight.data_ptr<T>(), b, y.data_ptr<T>());
        if (relu) {
            T* out = y.data_ptr<T>();
            parallel_for(0, y.numel(), std::int64_t(1) << 14, [out](std::int64_t i0, std::int64_t i1) {
                for (std::int64_t i = i0; i < i1; ++i) out[i] = unary::Relu{}.forward(out[i]);
            });
        }
    });
}
#endif

/// gx = the gradient of conv2d's input, from gy [n, c_out, ho, wo]: cpu::conv::backward_data.
#if FBSEG_SEAM_DEFINITIONS
FBSEG_SEAM void conv2d_backward_data(const ConvGeometry& g, const Tensor& gy, const Tensor& weight, const Tensor& gx) {
    if (!gx.device().is_cpu()) {
        const auto fn = cuda_twin(cuda::backend("conv2d_backward").conv2d_backward_data, "conv2d_backward_data");
        conv_seam::require_contiguous("conv2d_backward_data", gx, {&gy, &weight, &gx});
        fn(gx.dtype(), g, gy.raw_data(), weight.raw_data(), gx.raw_data(), gx.device().index);
        return;
    }
    detail::require_cpu_kernel("conv2d_backward_data", {&gy, &weight, &gx});
    dispatch_floating(gy.dtype(), "conv2d_backward", [&]<typename T>() {
        cpu::kernel_table().of<T>().conv_backward_data(g, gy.data_ptr<T>(), weight.data_ptr<T>(), gx.data_ptr<T>());
    });
}
#endif

/// gw = the gradient of conv2d's weight, from x and gy: cpu::conv::backward_weight.
#if FBSEG_SEAM_DEFINITIONS
FBSEG_SEAM void conv2d_backward_weight(const ConvGeometry& g, const Tensor& x, const Tensor& gy, const Tensor& gw) {
    if (!gw.device().is_cpu()) {
        const auto fn = cuda_twin(cuda::backend("conv2d_backward").conv2d_backward_weight, "conv2d_backward_weight");
        conv_seam::require_contiguous("conv2d_backward_weight", gw, {&x, &gy, &gw});
        fn(gw.dtype(), g, x.raw_data(), gy.raw_data(), gw.raw_data(), gw.device().index);
        return;
    }
    detail::require_cpu_kernel("conv2d_backward_weight", {&x, &gy, &gw});
    dispatch_floating(gy.dtype(), "conv2d_backward", [&]<typename T>() {
        cpu::kernel_table().of<T>().conv_backward_weight(g, x.data_ptr<T>(), gy.data_ptr<T>(), gw.data_ptr<T>());
    });
}
#endif

/// gb[c] = sum over images and pixels of gy [n, c, p]: cpu::conv::bias_grad.
#if FBSEG_SEAM_DEFINITIONS
FBSEG_SEAM void conv_bias_backward(const Tensor& gy, const Tensor& gb, std::int64_t n, std::int64_t c, std::int64_t p) {
    if (!gb.device().is_cpu()) {
        const auto fn = cuda_twin(cuda::backend("conv_bias_backward").conv_bias_backward, "conv_bias_backward");
        conv_seam::require_contiguous("conv_bias_backward", gb, {&gy, &gb});
        fn(gb.dtype(), gy.raw_data(), gb.raw_data(), n, c, p, gb.device().index);
        return;
    }
    detail::require_cpu_kernel("conv_bias_backward", {&gy, &gb});
    dispatch_floating(gy.dtype(), "conv_bias_backward", [&]<typename T>() {
        cpu::kernel_table().of<T>().conv_bias_grad(gy.data_ptr<T>(), n, c, p, gb.data_ptr<T>());
    });
}
#endif

/// y[i, k, :] += b[k] for y [n, c, p] (conv_transpose2d's bias): cpu::conv::add_channel_bias.
#if FBSEG_SEAM_DEFINITIONS
FBSEG_SEAM void add_channel_bias(const Tensor& y, const Tensor& b, std::int64_t n, std::int64_t c, std::int64_t p) {
    if (!y.device().is_cpu()) {
        const auto fn = cuda_twin(cuda::backend("conv_transpose2d").add_channel_bias, "add_channel_bias");
        conv_seam::require_contiguous("add_channel_bias", y, {&y, &b});
        fn(y.dtype(), y.raw_data(), b.raw_data(), n, c, p, y.device().index);
        return;
    }
    detail::require_cpu_kernel("add_channel_bias", {&y, &b});
    dispatch_floating(y.dtype(), "conv_transpose2d", [&]<typename T>() {
        cpu::kernel_table().of<T>().add_channel_bias(y.data_ptr<T>(), b.data_ptr<T>(), n, c, p);
    });
}
#endif

}  // namespace fbseg::kernel
