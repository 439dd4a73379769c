// fbseg/ops/pool.hpp - 2-D pooling on NCHW tensors: max_pool2d and adaptive_avg_pool2d.
//
// Each (image, channel) plane is pooled independently, so the planes run in parallel and every
// backward writes only into its own plane (no races, results independent of the thread count).
// docs/layers.md has the output-size rules with examples.
#pragma once

#include <array>
#include <cmath>
#include <cstdint>
#include <limits>

#include "fbseg/autograd/function.hpp"
#include "fbseg/ops/device_check.hpp"
#include "fbseg/ops/factory.hpp"
#include "fbseg/ops/geometry/pool.hpp"
#include "fbseg/ops/kernel/pool.hpp"
#include "fbseg/ops/op_library.hpp"

namespace fbseg {

struct MaxPool2dParams {
    std::array<std::int64_t, 2> kernel{2, 2};
    std::array<std::int64_t, 2> stride{0, 0};  // 0 = same as kernel
    std::array<std::int64_t, 2> padding{0, 0};
    std::array<std::int64_t, 2> dilation{1, 1};
    bool ceil_mode = false;
};

namespace pool_detail {

/// floor(a / b) for b > 0 (C++ division truncates toward zero).
inline std::int64_t div_floor(std::int64_t a, std::int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

/// PyTorch's pooling_output_shape:
///   out = floor((in + 2 pad - dil (k - 1) - 1 + (ceil_mode ? stride - 1 : 0)) / stride) + 1,
/// and with ceil_mode the last window must start inside the input or the left padding:
///   if ((out - 1) stride >= in + pad) out -= 1.
inline std::int64_t output_size(std::int64_t in, std::int64_t k, std::int64_t pad, std::int64_t stride,
                                std::int64_t dil, bool ceil_mode) {
    const std::int64_t num = in + 2 * pad - dil * (k - 1) - 1 + (ceil_mode ? stride - 1 : 0);
    std::int64_t out = div_floor(num, stride) + 1;
    if (ceil_mode && (out - 1) * stride >= in + pad) --out;
    return out;
}

inline void check_input(const char* op, const Tensor& input) {
    FBSEG_CHECK(input.defined(), op, ": input is an undefined tensor");
    FBSEG_CHECK(is_floating(input.dtype()), op, ": expected a floating input but got ", input.describe());
    FBSEG_CHECK(input.dim() == 4, op, ": expected a 4-D input [N, C, H, W] but got ", input.describe());
}

}  // namespace pool_detail

// ---- the ops (defined below, or in libfbseg: ops/op_library.hpp) ----
/// Max pooling over kernel windows (padding counts as -inf, as in PyTorch). input [N, C, H, W]
/// -> [N, C, Ho, Wo] with Ho from pool_detail::output_size. The gradient goes to the position of
/// each window's maximum (the first one on ties; a NaN wins).
FBSEG_OP Tensor max_pool2d(const Tensor& input, const MaxPool2dParams& params);
/// Average pooling to a fixed output size. Output cell (i, j) averages input rows
/// [floor(i H / oh), ceil((i + 1) H / oh)) and columns [floor(j W / ow), ceil((j + 1) W / ow))
/// (windows may overlap when H is not a multiple of oh). input [N, C, H, W] -> [N, C, oh, ow].
FBSEG_OP Tensor adaptive_avg_pool2d(const Tensor& input, std::array<std::int64_t, 2> output_size);

#if FBSEG_OP_DEFINITIONS
FBSEG_OP Tensor max_pool2d(const Tensor& input, const MaxPool2dParams& params) {
    const char* op = "max_pool2d";
    pool_detail::check_input(op, input);
    MaxPool2dParams p = params;
    for (int d = 0; d < 2; ++d) {
        if (p.stride[d] == 0) p.stride[d] = p.kernel[d];
        FBSEG_CHECK(p.kernel[d] >= 1, op, ": kernel must be >= 1 but got (", p.kernel[0], ", ", p.kernel[1], ")");
        FBSEG_CHECK(p.stride[d] >= 1, op, ": stride must be >= 1 (or 0 for the kernel size) but got (",
                    params.stride[0], ", ", params.stride[1], ")");
        FBSEG_CHECK(p.dilation[d] >= 1, op, ": dilation must be >= 1 but got (", p.dilation[0], ", ", p.dilation[1],
                    ")");
        FBSEG_CHECK(p.padding[d] >= 0 && p.padding[d] <= p.kernel[d] / 2, op, ": padding (", p.padding[0], ", ",
                    p.padding[1], ") must be >= 0 and at most half the kernel (", p.kernel[0], ", ", p.kernel[1], ")");
    }
    const std::int64_t n = input.size(0), c = input.size(1), h = input.size(2), w = input.size(3);
    const std::int64_t ho = pool_detail::output_size(h, p.kernel[0], p.padding[0], p.stride[0], p.dilation[0], p.ceil_mode);
    const std::int64_t wo = pool_detail::output_size(w, p.kernel[1], p.padding[1], p.stride[1], p.dilation[1], p.ceil_mode);
    FBSEG_CHECK(ho >= 1 && wo >= 1, op, ": input ", shape_str(input.shape()), " is too small for kernel (",
                p.kernel[0], ", ", p.kernel[1], ") with padding (", p.padding[0], ", ", p.padding[1],
                ") and dilation (", p.dilation[0], ", ", p.dilation[1], "): the output would be (", ho, ", ", wo, ")");

    const Tensor x = input.detach().contiguous();
    Tensor out = empty({n, c, ho, wo}, options_of(input));
    Tensor indices = empty({n, c, ho, wo}, TensorOptions(DType::Int64).device(input.device()));  // flat position in the input plane
    const MaxPool2dGeometry geometry{.planes = n * c, .h = h, .w = w, .ho = ho, .wo = wo,
                                     .kh = p.kernel[0], .kw = p.kernel[1], .sh = p.stride[0], .sw = p.stride[1],
                                     .ph = p.padding[0], .pw = p.padding[1], .dh = p.dilation[0], .dw = p.dilation[1]};
    kernel::max_pool2d_forward(x, out, indices, geometry);

    if (autograd::needs_grad({&input})) {
        autograd::record("MaxPool2dBackward", {&input}, {&out},
                         [indices, geometry, x_shape = input.shape(), dtype = input.dtype()](const std::vector<Tensor>& grads) {
                             const Tensor gy = grads[0].contiguous();
                             Tensor gx = zeros(x_shape, TensorOptions(dtype).device(grads[0].device()));
                             kernel::max_pool2d_backward(gy, indices, gx, geometry);
                             return std::vector<Tensor>{gx};
                         });
    }
    return out;
}

FBSEG_OP Tensor adaptive_avg_pool2d(const Tensor& input, std::array<std::int64_t, 2> output_size) {
    const char* op = "adaptive_avg_pool2d";
    pool_detail::check_input(op, input);
    FBSEG_CHECK(output_size[0] >= 1 && output_size[1] >= 1, op, ": output_size must be >= 1 but got (",
                output_size[0], ", ", output_size[1], ")");
    const std::int64_t n = input.size(0), c = input.size(1), h = input.size(2), w = input.size(3);
    FBSEG_CHECK(h >= 1 && w >= 1, op, ": input ", shape_str(input.shape()), " has an empty plane");
    const std::int64_t oh = output_size[0], ow = output_size[1];

    const Tensor x = input.detach().contiguous();
    Tensor out = empty({n, c, oh, ow}, options_of(input));
    const AdaptivePool2dGeometry geometry{n * c, h, w, oh, ow};
    kernel::adaptive_avg_pool2d_forward(x, out, geometry);

    if (autograd::needs_grad({&input})) {
        autograd::record("AdaptiveAvgPool2dBackward", {&input}, {&out},
                         [geometry, x_shape = input.shape(), dtype = input.dtype()](const std::vector<Tensor>& grads) {
                             const Tensor gy = grads[0].contiguous();
                             Tensor gx = zeros(x_shape, TensorOptions(dtype).device(grads[0].device()));
                             kernel::adaptive_avg_pool2d_backward(gy, gx, geometry);
                             return std::vector<Tensor>{gx};
                         });
    }
    return out;
}
#endif  // FBSEG_OP_DEFINITIONS

}  // namespace fbseg
