// fbseg/ops/interpolate.hpp - 2-D upsampling of NCHW tensors: nearest and bilinear, with
// PyTorch's index rules reproduced exactly (F.interpolate with recompute_scale_factor=None).
//
// Both modes are separable: an output row oh reads input rows computed from oh alone, and an
// output column ow reads input columns computed from ow alone. The source indices and weights of
// every output row and column are computed once per call ("taps"), then each (image, channel)
// plane is a loop over the output. The backward pass scatters each output gradient back to the
// input positions it was read from, with the same weights (the transpose of the interpolation).
#pragma once

#include <array>
#include <cmath>
#include <cstdint>
#include <optional>
#include <vector>

#include "fbseg/autograd/function.hpp"
#include "fbseg/ops/device_check.hpp"
#include "fbseg/ops/factory.hpp"
#include "fbseg/ops/geometry/interpolate.hpp"
#include "fbseg/ops/kernel/interpolate.hpp"
#include "fbseg/ops/op_library.hpp"

namespace fbseg {

// ---- the ops (defined below, or in libfbseg: ops/op_library.hpp) ----
/// Nearest-neighbour upsampling (or downsampling) to `output_size` (oh, ow):
///   out[i, j] = x[min(floor(i * (H / oh)), H - 1), min(floor(j * (W / ow)), W - 1)]
/// with the ratio computed in float, as PyTorch's mode='nearest'.
FBSEG_OP Tensor upsample_nearest2d(const Tensor& input, std::array<std::int64_t, 2> output_size);
/// Nearest-neighbour resize by `scale_factor`: output size floor(H * scale) x floor(W * scale),
/// and source index floor(i / scale) (PyTorch with recompute_scale_factor=None).
FBSEG_OP Tensor upsample_nearest2d(const Tensor& input, double scale_factor);
/// Bilinear resize to `output_size`; align_corners as in PyTorch (true: the corner pixels of input
/// and output are aligned; false: pixel centres, the edge value repeated beyond them).
FBSEG_OP Tensor upsample_bilinear2d(const Tensor& input, std::array<std::int64_t, 2> output_size, bool align_corners);
/// Bilinear resize by `scale_factor` (output floor(H * scale) x floor(W * scale); without
/// align_corners the source step is 1 / scale, as PyTorch with recompute_scale_factor=None).
FBSEG_OP Tensor upsample_bilinear2d(const Tensor& input, double scale_factor, bool align_corners);

#if FBSEG_OP_DEFINITIONS
namespace interp_detail {

/// PyTorch's compute_scales_value: the source step per output pixel, 1 / scale_factor when the
/// user gave one, in / out otherwise.
template <typename T>
T scales_value(std::optional<double> scale, std::int64_t in, std::int64_t out) {
    return (scale.has_value() && *scale > 0) ? T(1.0 / *scale) : T(in) / T(out);
}

/// PyTorch's nearest_idx: src = min(floor(dst * scale), in - 1) with scale a float, and the
/// exact shortcuts for same size and exact doubling.
inline std::int64_t nearest_index(std::int64_t dst, std::int64_t in, std::int64_t out, std::optional<double> scale) {
    if (out == in) return dst;
    if (out == 2 * in) return dst >> 1;
    const float s = scales_value<float>(scale, in, out);
    return std::min(std::int64_t(std::floor(float(dst) * s)), in - 1);
}

/// Two source positions and their weights for one output position of a linear interpolation.
template <typename T>
struct LinearTaps {
    std::vector<std::int64_t> i0, i1;
    std::vector<T> l0, l1;  // weights of i0 and i1 (l0 + l1 = 1)
    LinearTapsView<T> view() const { return {i0.data(), i1.data(), l0.data(), l1.data()}; }
};

/// PyTorch's area_pixel_compute_source_index + guard_index_and_lambda:
///   align_corners: src = dst * (in - 1) / (out - 1)
///   otherwise:     src = max((dst + 0.5) * scale - 0.5, 0), scale = in / out or 1 / scale_factor
///   i0 = min(floor(src), in - 1), l1 = clamp(src - i0, 0, 1), i1 = min(i0 + 1, in - 1).
/// Arithmetic in T (float for float32 tensors), as PyTorch does.
template <typename T>
LinearTaps<T> linear_taps(std::int64_t in, std::int64_t out, bool align_corners, std::optional<double> scale) {
    LinearTaps<T> taps;
    taps.i0.resize(std::size_t(out));
    taps.i1.resize(std::size_t(out));
    taps.l0.resize(std::size_t(out));
    taps.l1.resize(std::size_t(out));
    const T ratio = align_corners ? (out > 1 ? T(in - 1) / T(out - 1) : T(0)) : scales_value<T>(scale, in, out);
    for (std::int64_t o = 0; o < out; ++o) {
        const auto k = std::size_t(o);
        if (out == in) {  // same size: a copy
            taps.i0[k] = taps.i1[k] = o;
            taps.l0[k] = T(1);
            taps.l1[k] = T(0);
            continue;
        }
        T src = align_corners ? ratio * T(o) : ratio * (T(o) + T(0.5)) - T(0.5);
        if (!align_corners && src < T(0)) src = T(0);
        const std::int64_t i0 = std::min(std::int64_t(std::floor(src)), in - 1);
        const T l1 = std::min(std::max(src - T(i0), T(0)), T(1));
        taps.i0[k] = i0;
        taps.i1[k] = i0 + (i0 < in - 1 ? 1 : 0);
        taps.l1[k] = l1;
        taps.l0[k] = T(1) - l1;
    }
    return taps;
}

inline void check_input(const char* op, const Tensor& input) {
    FBSEG_CHECK(input.defined(), op, ": input is an undefined tensor");
    FBSEG_CHECK(is_floating(input.dtype()), op, ": expected a floating input but got ", input.describe());
    FBSEG_CHECK(input.dim() == 4, op, ": expected a 4-D input [N, C, H, W] but got ", input.describe());
    FBSEG_CHECK(input.size(2) >= 1 && input.size(3) >= 1, op, ": input ", shape_str(input.shape()),
                " has an empty plane");
}

/// Output size for a scale factor, as F.interpolate computes it: floor(in * scale).
inline std::array<std::int64_t, 2> scaled_size(const char* op, const Tensor& input, double scale_factor) {
    check_input(op, input);
    FBSEG_CHECK(std::isfinite(scale_factor) && scale_factor > 0, op, ": scale_factor must be positive but got ",
                scale_factor);
    return {std::int64_t(std::floor(double(input.size(2)) * scale_factor)),
            std::int64_t(std::floor(double(input.size(3)) * scale_factor))};
}

inline void check_output(const char* op, const Tensor& input, std::array<std::int64_t, 2> size) {
    FBSEG_CHECK(size[0] >= 1 && size[1] >= 1, op, ": the output size (", size[0], ", ", size[1], ") for input ",
                shape_str(input.shape()), " is empty; it must be at least (1, 1)");
}

inline Tensor nearest(const Tensor& input, std::array<std::int64_t, 2> size, std::optional<double> scale) {
    const char* op = "upsample_nearest2d";
    check_output(op, input, size);
    const std::int64_t n = input.size(0), c = input.size(1), h = input.size(2), w = input.size(3);
    const std::int64_t oh = size[0], ow = size[1];
    std::vector<std::int64_t> src_h(static_cast<std::size_t>(oh)), src_w(static_cast<std::size_t>(ow));
    for (std::int64_t i = 0; i < oh; ++i) src_h[std::size_t(i)] = nearest_index(i, h, oh, scale);
    for (std::int64_t j = 0; j < ow; ++j) src_w[std::size_t(j)] = nearest_index(j, w, ow, scale);

    const Tensor x = input.detach().contiguous();
    Tensor out = empty({n, c, oh, ow}, options_of(input));
    const Resize2dGeometry geometry{n * c, h, w, oh, ow};
    kernel::upsample_nearest2d_forward(x, out, geometry, NearestTaps{src_h.data(), src_w.data()});
    if (autograd::needs_grad({&input})) {
        autograd::record("UpsampleNearest2dBackward", {&input}, {&out},
                         [src_h, src_w, geometry, x_shape = input.shape(), dtype = input.dtype()](const std::vector<Tensor>& grads) {
                             const Tensor gy = grads[0].contiguous();
                             Tensor gx = zeros(x_shape, TensorOptions(dtype).device(grads[0].device()));
                             kernel::upsample_nearest2d_backward(gy, gx, geometry, NearestTaps{src_h.data(), src_w.data()});
                             return std::vector<Tensor>{gx};
                         });
    }
    return out;
}

inline Tensor bilinear(const Tensor& input, std::array<std::int64_t, 2> size, bool align_corners,
                       std::optional<double> scale) {
    const char* op = "upsample_bilinear2d";
    check_output(op, input, size);
    const std::int64_t n = input.size(0), c = input.size(1), h = input.size(2), w = input.size(3);
    const std::int64_t oh = size[0], ow = size[1];
    const Tensor x = input.detach().contiguous();
    Tensor out = empty({n, c, oh, ow}, options_of(input));
    const Resize2dGeometry geometry{n * c, h, w, oh, ow};
    // out[i, j] = l0h (l0w x[h0, w0] + l1w x[h0, w1]) + l1h (l0w x[h1, w0] + l1w x[h1, w1])
    dispatch_floating(input.dtype(), op, [&]<typename T>() {
        const LinearTaps<T> th = linear_taps<T>(h, oh, align_corners, scale);
        const LinearTaps<T> tw = linear_taps<T>(w, ow, align_corners, scale);
        kernel::upsample_bilinear2d_forward<T>(x, out, geometry, th.view(), tw.view());
    });
    if (autograd::needs_grad({&input})) {
        autograd::record(
            "UpsampleBilinear2dBackward", {&input}, {&out},
            [geometry, align_corners, scale, x_shape = input.shape(), dtype = input.dtype()](const std::vector<Tensor>& grads) {
                const Tensor gy = grads[0].contiguous();
                Tensor gx = zeros(x_shape, TensorOptions(dtype).device(grads[0].device()));
                dispatch_floating(dtype, "upsample_bilinear2d_backward", [&]<typename T>() {
                    const LinearTaps<T> th = linear_taps<T>(geometry.h, geometry.oh, align_corners, scale);
                    const LinearTaps<T> tw = linear_taps<T>(geometry.w, geometry.ow, align_corners, scale);
                    kernel::upsample_bilinear2d_backward<T>(gy, gx, geometry, th.view(), tw.view());
                });
                return std::vector<Tensor>{gx};
            });
    }
    return out;
}

}  // namespace interp_detail

FBSEG_OP Tensor upsample_nearest2d(const Tensor& input, std::array<std::int64_t, 2> output_size) {
    interp_detail::check_input("upsample_nearest2d", input);
    return interp_detail::nearest(input, output_size, std::nullopt);
}

FBSEG_OP Tensor upsample_nearest2d(const Tensor& input, double scale_factor) {
    const auto size = interp_detail::scaled_size("upsample_nearest2d", input, scale_factor);
    return interp_detail::nearest(input, size, scale_factor);
}

FBSEG_OP Tensor upsample_bilinear2d(const Tensor& input, std::array<std::int64_t, 2> output_size, bool align_corners) {
    interp_detail::check_input("upsample_bilinear2d", input);
    return interp_detail::bilinear(input, output_size, align_corners, std::nullopt);
}

FBSEG_OP Tensor upsample_bilinear2d(const Tensor& input, double scale_factor, bool align_corners) {
    const auto size = interp_detail::scaled_size("upsample_bilinear2d", input, scale_factor);
    return interp_detail::bilinear(input, size, align_corners, scale_factor);
}
#endif  // FBSEG_OP_DEFINITIONS

}  // namespace fbseg
