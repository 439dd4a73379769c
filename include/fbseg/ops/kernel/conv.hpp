// fbseg/ops/kernel/conv.hpp - the device seam of the convolution kernels (CPU only so far).
// See ops/kernel/elementwise.hpp for the pattern and docs/architecture.md, "The device seam".
// Every kernel is described in conv2d terms by one ConvGeometry (ops/geometry/conv.hpp): x
// [n, c_in, h, w], weight [c_out, c_in / groups, kh, kw], y [n, c_out, ho, wo], all contiguous.
// conv_transpose2d is conv2d's backward-data, and its backward uses conv2d's forward.
#pragma once

#include "fbseg/core/tensor.hpp"
#include "fbseg/ops/cpu/conv_kernels.hpp"
#include "fbseg/ops/device_check.hpp"
#include "fbseg/ops/geometry/conv.hpp"

namespace fbseg::kernel {

/// y = conv2d(x, weight) + bias (bias may be undefined): cpu::conv::forward.
inline void conv2d_forward(const ConvGeometry& g, const Tensor& x, const Tensor& weight, const Tensor& bias,
                           const Tensor& y) {
    detail::require_cpu_kernel("conv2d_forward", {&x, &weight, &bias, &y});
    dispatch_floating(x.dtype(), "conv2d", [&]<typename T>() {
        cpu::conv::forward<T>(g, x.data_ptr<T>(), weight.data_ptr<T>(), bias.defined() ? bias.data_ptr<T>() : nullptr,
                              y.data_ptr<T>());
    });
}

/// gx = the gradient of conv2d's input, from gy [n, c_out, ho, wo]: cpu::conv::backward_data.
inline void conv2d_backward_data(const ConvGeometry& g, const Tensor& gy, const Tensor& weight, const Tensor& gx) {
    detail::require_cpu_kernel("conv2d_backward_data", {&gy, &weight, &gx});
    dispatch_floating(gy.dtype(), "conv2d_backward", [&]<typename T>() {
        cpu::conv::backward_data<T>(g, gy.data_ptr<T>(), weight.data_ptr<T>(), gx.data_ptr<T>());
    });
}

/// gw = the gradient of conv2d's weight, from x and gy: cpu::conv::backward_weight.
inline void conv2d_backward_weight(const ConvGeometry& g, const Tensor& x, const Tensor& gy, const Tensor& gw) {
    detail::require_cpu_kernel("conv2d_backward_weight", {&x, &gy, &gw});
    dispatch_floating(gy.dtype(), "conv2d_backward", [&]<typename T>() {
        cpu::conv::backward_weight<T>(g, x.data_ptr<T>(), gy.data_ptr<T>(), gw.data_ptr<T>());
    });
}

/// gb[c] = sum over images and pixels of gy [n, c, p]: cpu::conv::bias_grad.
inline void conv_bias_backward(const Tensor& gy, const Tensor& gb, std::int64_t n, std::int64_t c, std::int64_t p) {
    detail::require_cpu_kernel("conv_bias_backward", {&gy, &gb});
    dispatch_floating(gy.dtype(), "conv_bias_backward",
                      [&]<typename T>() { cpu::conv::bias_grad<T>(gy.data_ptr<T>(), n, c, p, gb.data_ptr<T>()); });
}

/// y[i, k, :] += b[k] for y [n, c, p] (conv_transpose2d's bias): cpu::conv::add_channel_bias.
inline void add_channel_bias(const Tensor& y, const Tensor& b, std::int64_t n, std::int64_t c, std::int64_t p) {
    detail::require_cpu_kernel("add_channel_bias", {&y, &b});
    dispatch_floating(y.dtype(), "conv_transpose2d",
                      [&]<typename T>() { cpu::conv::add_channel_bias<T>(y.data_ptr<T>(), b.data_ptr<T>(), n, c, p); });
}

}  // namespace fbseg::kernel
