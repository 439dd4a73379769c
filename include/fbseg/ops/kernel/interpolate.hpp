// fbseg/ops/kernel/interpolate.hpp - the device seam of the resize kernels: CPU tensors go to
// ops/cpu/interpolate.hpp, CUDA tensors (contiguous) to kernels/resize.cu (through cuda/backend.hpp).
// See ops/kernel/elementwise.hpp for the pattern and docs/architecture.md, "The device seam".
// The taps are host arrays computed by ops/interpolate.hpp.
#pragma once

#include "fbseg/core/tensor.hpp"
#include "fbseg/ops/cpu/interpolate.hpp"
#include "fbseg/ops/device_check.hpp"
#include "fbseg/ops/kernel/elementwise.hpp"

namespace fbseg::kernel {

namespace resize_seam {
/// The CUDA resize kernels take contiguous operands.
inline void require_contiguous(const char* op, const Tensor& a, const Tensor& b) {
    FBSEG_CHECK(a.is_contiguous() && b.is_contiguous(), op, ": CUDA operands must be contiguous (", a.describe(),
                ", ", b.describe(), ")");
}
template <typename T>
cuda::LinearTapsHost host_taps(LinearTapsView<T> t) {
    return cuda::LinearTapsHost{t.i0, t.i1, t.l0, t.l1};
}
}  // namespace resize_seam

/// x (planes, h, w) -> y (planes, oh, ow), contiguous: cpu::upsample_nearest2d_forward.
inline void upsample_nearest2d_forward(const Tensor& x, const Tensor& y, const Resize2dGeometry& g, NearestTaps taps) {
    if (!x.device().is_cpu()) {
        resize_seam::require_contiguous("upsample_nearest2d", x, y);
        cuda_twin(cuda::backend("upsample_nearest2d").upsample_nearest2d_forward, "upsample_nearest2d_forward")(
            x.dtype(), x.raw_data(), y.raw_data(), g, taps.rows, taps.cols, x.device().index);
        return;
    }
    detail::require_cpu_kernel("upsample_nearest2d_forward", {&x, &y});
    dispatch_floating(x.dtype(), "upsample_nearest2d", [&]<typename T>() {
        cpu::upsample_nearest2d_forward<T>(x.data_ptr<T>(), y.data_ptr<T>(), g, taps);
    });
}

/// gx (planes, h, w) += scatter of gy (planes, oh, ow): cpu::upsample_nearest2d_backward.
inline void upsample_nearest2d_backward(const Tensor& gy, const Tensor& gx, const Resize2dGeometry& g,
                                        NearestTaps taps) {
    if (!gx.device().is_cpu()) {
        resize_seam::require_contiguous("upsample_nearest2d_backward", gy, gx);
        cuda_twin(cuda::backend("upsample_nearest2d_backward").upsample_nearest2d_backward,
                  "upsample_nearest2d_backward")(gx.dtype(), gy.raw_data(), gx.raw_data(), g, taps.rows, taps.cols,
                                                 gx.device().index);
        return;
    }
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
    if (!x.device().is_cpu()) {
        resize_seam::require_contiguous("upsample_bilinear2d", x, y);
        cuda_twin(cuda::backend("upsample_bilinear2d").upsample_bilinear2d_forward, "upsample_bilinear2d_forward")(
            x.dtype(), x.raw_data(), y.raw_data(), g, resize_seam::host_taps(th), resize_seam::host_taps(tw),
            x.device().index);
        return;
    }
    detail::require_cpu_kernel("upsample_bilinear2d_forward", {&x, &y});
    cpu::upsample_bilinear2d_forward<T>(x.data_ptr<T>(), y.data_ptr<T>(), g, th, tw);
}

/// gx (planes, h, w) += the weighted scatter of gy (planes, oh, ow): cpu::upsample_bilinear2d_backward.
template <typename T>
void upsample_bilinear2d_backward(const Tensor& gy, const Tensor& gx, const Resize2dGeometry& g, LinearTapsView<T> th,
                                  LinearTapsView<T> tw) {
    if (!gx.device().is_cpu()) {
        resize_seam::require_contiguous("upsample_bilinear2d_backward", gy, gx);
        cuda_twin(cuda::backend("upsample_bilinear2d_backward").upsample_bilinear2d_backward,
                  "upsample_bilinear2d_backward")(gx.dtype(), gy.raw_data(), gx.raw_data(), g,
                                                  resize_seam::host_taps(th), resize_seam::host_taps(tw),
                                                  gx.device().index);
        return;
    }
    detail::require_cpu_kernel("upsample_bilinear2d_backward", {&gy, &gx});
    cpu::upsample_bilinear2d_backward<T>(gy.data_ptr<T>(), gx.data_ptr<T>(), g, th, tw);
}

}  // namespace fbseg::kernel
