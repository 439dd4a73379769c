// fbseg/ops/kernel/interpolate.hpp - the device seam of the resize kernels (CPU only so far).
// See ops/kernel/elementwise.hpp for the pattern and docs/architecture.md, "The device seam".
// The taps are host arrays computed by ops/interpolate.hpp.
#pragma once

#include "fbseg/core/tensor.hpp"
#include "fbseg/ops/cpu/interpolate.hpp"
#include "fbseg/ops/device_check.hpp"

namespace fbseg::kernel {

/// x (planes, h, w) -> y (planes, oh, ow), contiguous: cpu::upsample_nearest2d_forward.
inline void upsample_nearest2d_forward(const Tensor& x, const Tensor& y, const Resize2dGeometry& g, NearestTaps taps) {
    detail::require_cpu_kernel("upsample_nearest2d_forward", {&x, &y});
    dispatch_floating(x.dtype(), "upsample_nearest2d", [&]<typename T>() {
        cpu::upsample_nearest2d_forward<T>(x.data_ptr<T>(), y.data_ptr<T>(), g, taps);
    });
}

/// gx (planes, h, w) += scatter of gy (planes, oh, ow): cpu::upsample_nearest2d_backward.
inline void upsample_nearest2d_backward(const Tensor& gy, const Tensor& gx, const Resize2dGeometry& g,
                                        NearestTaps taps) {
    detail::require_cpu_kernel("upsample_nearest2d_backward", {&gy, &gx});
    dispatch_floating(gx.dtype(), "upsample_nearest2d_backward", [&]<typename T>() {
        cpu::upsample_nearest2d_backward<T>(gy.data_ptr<T>(), gx.data_ptr<T>(), g, taps);
    });
}

/// x (planes, h, w) -> y (planes, oh, ow), contiguous: cpu::upsample_bilinear2d_forward.
/// th and tw are the row and column taps in the tensors' scalar type T.
template <typename T>
void upsample_bilinear2d_forward(const Tensor& x, const Tensor& y, const Resize2dGeometry& g, LinearTapsView<T> th,
                                 LinearTapsView<T> tw) {
    detail::require_cpu_kernel("upsample_bilinear2d_forward", {&x, &y});
    cpu::upsample_bilinear2d_forward<T>(x.data_ptr<T>(), y.data_ptr<T>(), g, th, tw);
}

/// gx (planes, h, w) += the weighted scatter of gy (planes, oh, ow): cpu::upsample_bilinear2d_backward.
template <typename T>
void upsample_bilinear2d_backward(const Tensor& gy, const Tensor& gx, const Resize2dGeometry& g, LinearTapsView<T> th,
                                  LinearTapsView<T> tw) {
    detail::require_cpu_kernel("upsample_bilinear2d_backward", {&gy, &gx});
    cpu::upsample_bilinear2d_backward<T>(gy.data_ptr<T>(), gx.data_ptr<T>(), g, th, tw);
}

}  // namespace fbseg::kernel
