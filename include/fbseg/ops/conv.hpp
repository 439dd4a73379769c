// fbseg/ops/conv.hpp - 2-D convolution and transposed convolution (NCHW, weights OIHW as in
// PyTorch), forward and backward.
//
//   conv2d            y[n, co] = b[co] + sum_{c in group, ki, kj} w[co, c, ki, kj] * x[n, c, oh*s - p + ki*d, ...]
//   conv_transpose2d  its adjoint: the forward of conv_transpose2d is the input-gradient of a
//                     conv2d, and its input-gradient is a conv2d forward.
// The loops (im2col + Eigen GEMM, a direct path for depthwise) are in ops/cpu/conv_kernels.hpp
// (reached through ops/kernel/conv.hpp and cpu::kernel_table());
// docs/layers.md derives every formula and the output sizes.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "fbseg/autograd/function.hpp"
#include "fbseg/ops/device_check.hpp"
#include "fbseg/ops/factory.hpp"
#include "fbseg/ops/geometry/conv.hpp"
#include "fbseg/ops/kernel/conv.hpp"
#include "fbseg/ops/op_library.hpp"
#include "fbseg/ops/unary.hpp"

namespace fbseg {

struct Conv2dParams {
    std::array<std::int64_t, 2> stride{1, 1}, padding{0, 0}, dilation{1, 1};
    std::int64_t groups = 1;
};

struct ConvTranspose2dParams {
    std::array<std::int64_t, 2> stride{1, 1}, padding{0, 0}, output_padding{0, 0}, dilation{1, 1};
    std::int64_t groups = 1;
};

// ---- the ops (defined below, or in libfbseg: ops/op_library.hpp) ----
/// 2-D convolution. input [N, Cin, H, W], weight [Cout, Cin/groups, kh, kw], bias [Cout] or an
/// undefined Tensor. Output [N, Cout, Ho, Wo] with
///   Ho = floor((H + 2 padding[0] - dilation[0] (kh - 1) - 1) / stride[0]) + 1   (same for Wo).
FBSEG_OP Tensor conv2d(const Tensor& input, const Tensor& weight, const Tensor& bias = Tensor(),
                       const Conv2dParams& p = {});
/// The activation an inference convolution applies as it writes its output.
enum class ConvActivation { None, ReLU };
/// Inference only: act(conv2d(input, weight, bias, p)), with no autograd graph. On the CPU the
/// ReLU is applied as the direct kernel copies its register tiles to the output (else in a pass
/// after the convolution), so relu(conv2d(...)) costs one pass over the output instead of two.
/// Throws when an operand requires grad while grad mode is on: for training use conv2d, then
/// relu. nn::conv_bn_act (nn/fusion.hpp) calls it with the batch norm folded into the weights.
FBSEG_OP Tensor conv2d_inference(const Tensor& input, const Tensor& weight, const Tensor& bias = Tensor(),
                                 const Conv2dParams& p = {}, ConvActivation act = ConvActivation::None);
/// 2-D transposed convolution ("deconvolution"), the adjoint of conv2d. input [N, Cin, H, W],
/// weight [Cin, Cout/groups, kh, kw] (PyTorch's layout), bias [Cout] or undefined. Output
/// [N, Cout, Ho, Wo] with
///   Ho = (H - 1) stride[0] - 2 padding[0] + dilation[0] (kh - 1) + output_padding[0] + 1.
FBSEG_OP Tensor conv_transpose2d(const Tensor& input, const Tensor& weight, const Tensor& bias = Tensor(),
                                 const ConvTranspose2dParams& p = {});

#if FBSEG_OP_DEFINITIONS
namespace conv_detail {

inline std::string pair_str(const std::array<std::int64_t, 2>& v) {
    return detail::str("(", v[0], ", ", v[1], ")");
}

/// Checks shared by conv2d and conv_transpose2d: operands, ranks, dtypes, devices, parameters.
inline void check_common(const char* op, const Tensor& input, const Tensor& weight, const Tensor& bias,
                         const std::array<std::int64_t, 2>& stride, const std::array<std::int64_t, 2>& padding,
                         const std::array<std::int64_t, 2>& dilation, std::int64_t groups) {
    FBSEG_CHECK(input.defined(), op, ": input is an undefined tensor");
    FBSEG_CHECK(weight.defined(), op, ": weight is an undefined tensor");
    if (bias.defined()) detail::check_same_device_dtype(op, {&input, &weight, &bias});
    else detail::check_same_device_dtype(op, {&input, &weight});
    FBSEG_CHECK(is_floating(input.dtype()), op, ": expected a floating input but got ", input.describe());
    FBSEG_CHECK(input.dim() == 4, op, ": expected a 4-D input [N, C, H, W] but got ", input.describe());
    FBSEG_CHECK(weight.dim() == 4, op, ": expected a 4-D weight but got ", weight.describe());
    FBSEG_CHECK(stride[0] >= 1 && stride[1] >= 1, op, ": stride must be >= 1 but got ", pair_str(stride));
    FBSEG_CHECK(padding[0] >= 0 && padding[1] >= 0, op, ": padding must be >= 0 but got ", pair_str(padding));
    FBSEG_CHECK(dilation[0] >= 1 && dilation[1] >= 1, op, ": dilation must be >= 1 but got ", pair_str(dilation));
    FBSEG_CHECK(groups >= 1, op, ": groups must be >= 1 but got ", groups);
}

/// The bias, when there is one, must be [channels].
inline void check_bias(const char* op, const Tensor& bias, std::int64_t channels, const Tensor& weight) {
    if (!bias.defined()) return;
    FBSEG_CHECK(bias.dim() == 1 && bias.size(0) == channels, op, ": bias ", shape_str(bias.shape()),
                " does not match weight ", shape_str(weight.shape()), " (expected a bias of shape [", channels, "])");
}

/// conv2d's checks of its operands and parameters, naming `op`, and its geometry.
inline ConvGeometry conv2d_geometry(const char* op, const Tensor& input, const Tensor& weight, const Tensor& bias,
                                    const Conv2dParams& p) {
    conv_detail::check_common(op, input, weight, bias, p.stride, p.padding, p.dilation, p.groups);
    const std::int64_t n = input.size(0), c_in = input.size(1), h = input.size(2), w = input.size(3);
    const std::int64_t c_out = weight.size(0), kh = weight.size(2), kw = weight.size(3);
    FBSEG_CHECK(c_in % p.groups == 0 && c_out % p.groups == 0, op, ": groups=", p.groups,
                " must divide both the input channels of input ", shape_str(input.shape()),
                " and the output channels of weight ", shape_str(weight.shape()));
    FBSEG_CHECK(weight.size(1) * p.groups == c_in, op, ": input ", shape_str(input.shape()), " has ", c_in,
                " channels but weight ", shape_str(weight.shape()), " with groups=", p.groups, " expects ",
                weight.size(1) * p.groups, " (weight.size(1) * groups)");
    FBSEG_CHECK(kh >= 1 && kw >= 1, op, ": weight ", shape_str(weight.shape()), " has an empty kernel");
    conv_detail::check_bias(op, bias, c_out, weight);
    const std::int64_t eff_h = p.dilation[0] * (kh - 1) + 1, eff_w = p.dilation[1] * (kw - 1) + 1;
    FBSEG_CHECK(h + 2 * p.padding[0] >= eff_h && w + 2 * p.padding[1] >= eff_w, op, ": input ",
                shape_str(input.shape()), " padded by ", conv_detail::pair_str(p.padding),
                " is smaller than the dilated kernel (", eff_h, ", ", eff_w, ") of weight ", shape_str(weight.shape()));

    ConvGeometry g;
    g.n = n, g.c_in = c_in, g.h = h, g.w = w, g.c_out = c_out;
    g.kh = kh, g.kw = kw, g.sh = p.stride[0], g.sw = p.stride[1], g.ph = p.padding[0], g.pw = p.padding[1];
    g.dh = p.dilation[0], g.dw = p.dilation[1], g.groups = p.groups;
    g.ho = (h + 2 * g.ph - eff_h) / g.sh + 1;
    g.wo = (w + 2 * g.pw - eff_w) / g.sw + 1;
    return g;
}

}  // namespace conv_detail

FBSEG_OP Tensor conv2d(const Tensor& input, const Tensor& weight, const Tensor& bias, const Conv2dParams& p) {
    const ConvGeometry g = conv_detail::conv2d_geometry("conv2d", input, weight, bias, p);
    const Tensor x = input.detach().contiguous(), wt = weight.detach().contiguous();
    const Tensor b = bias.defined() ? bias.detach().contiguous() : Tensor();
    Tensor out = empty({g.n, g.c_out, g.ho, g.wo}, options_of(input));
    kernel::conv2d_forward(g, x, wt, b, out);

    if (autograd::needs_grad({&input, &weight, &bias})) {
        const bool need_x = input.requires_grad(), need_w = weight.requires_grad();
        const bool has_bias = bias.defined(), need_b = has_bias && bias.requires_grad();
        autograd::SavedTensor sx = need_w ? autograd::SavedTensor(x) : autograd::SavedTensor();
        autograd::SavedTensor sw = need_x ? autograd::SavedTensor(wt) : autograd::SavedTensor();
        std::vector<const Tensor*> inputs{&input, &weight};
        if (has_bias) inputs.push_back(&bias);
        autograd::record("Conv2dBackward", inputs, {&out},
                         [=, x_shape = input.shape(), w_shape = weight.shape(), dtype = input.dtype()](
                             const std::vector<Tensor>& grads) {
                             const Tensor gy = grads[0].contiguous();
                             Tensor gx, gw, gb;
                             const TensorOptions options = TensorOptions(dtype).device(grads[0].device());
                             if (need_x) {
                                 gx = empty(x_shape, options);
                                 kernel::conv2d_backward_data(g, gy, sw.unpack("Conv2dBackward"), gx);
                             }
                             if (need_w) {
                                 gw = empty(w_shape, options);
                                 kernel::conv2d_backward_weight(g, sx.unpack("Conv2dBackward"), gy, gw);
                             }
                             if (need_b) {
                                 gb = empty({g.c_out}, options);
                                 kernel::conv_bias_backward(gy, gb, g.n, g.c_out, g.p());
                             }
                             std::vector<Tensor> result{gx, gw};
                             if (has_bias) result.push_back(gb);
                             return result;
                         });
    }
    return out;
}

FBSEG_OP Tensor conv2d_inference(const Tensor& input, const Tensor& weight, const Tensor& bias, const Conv2dParams& p,
                                 ConvActivation act) {
    const char* op = "conv2d_inference";
    FBSEG_CHECK(!autograd::needs_grad({&input, &weight, &bias}), op,
                ": records no gradient, but an operand requires grad and grad mode is on (call it under "
                "NoGradGuard, or use conv2d for training)");
    const ConvGeometry g = conv_detail::conv2d_geometry(op, input, weight, bias, p);
    const Tensor x = input.contiguous(), wt = weight.contiguous();
    const Tensor b = bias.defined() ? bias.contiguous() : Tensor();
    Tensor out = empty({g.n, g.c_out, g.ho, g.wo}, options_of(input));
    const bool relu = act == ConvActivation::ReLU;
    const bool relu_in_kernel = relu && out.device().is_cpu();  // the CUDA kernels have no epilogue yet
    kernel::conv2d_forward(g, x, wt, b, out, relu_in_kernel);
    if (relu && !relu_in_kernel) relu_(out);
    return out;
}

FBSEG_OP Tensor conv_transpose2d(const Tensor& input, const Tensor& weight, const Tensor& bias,
                               const ConvTranspose2dParams& p) {
    const char* op = "conv_transpose2d";
    conv_detail::check_common(op, input, weight, bias, p.stride, p.padding, p.dilation, p.groups);
    const std::int64_t n = input.size(0), c_in = input.size(1), h = input.size(2), w = input.size(3);
    const std::int64_t kh = weight.size(2), kw = weight.size(3);
    FBSEG_CHECK(weight.size(0) == c_in, op, ": input ", shape_str(input.shape()), " has ", c_in,
                " channels but weight ", shape_str(weight.shape()), " expects ", weight.size(0),
                " (weight is [Cin, Cout/groups, kh, kw])");
    FBSEG_CHECK(c_in % p.groups == 0, op, ": groups=", p.groups, " must divide the input channels of input ",
                shape_str(input.shape()));
    FBSEG_CHECK(kh >= 1 && kw >= 1, op, ": weight ", shape_str(weight.shape()), " has an empty kernel");
    for (int d = 0; d < 2; ++d)
        FBSEG_CHECK(p.output_padding[d] >= 0 && (p.output_padding[d] < p.stride[d] || p.output_padding[d] < p.dilation[d]),
                    op, ": output_padding ", conv_detail::pair_str(p.output_padding),
                    " must be >= 0 and smaller than either stride ", conv_detail::pair_str(p.stride), " or dilation ",
                    conv_detail::pair_str(p.dilation));
    const std::int64_t c_out = weight.size(1) * p.groups;
    conv_detail::check_bias(op, bias, c_out, weight);
    const std::int64_t ho = (h - 1) * p.stride[0] - 2 * p.padding[0] + p.dilation[0] * (kh - 1) + p.output_padding[0] + 1;
    const std::int64_t wo = (w - 1) * p.stride[1] - 2 * p.padding[1] + p.dilation[1] * (kw - 1) + p.output_padding[1] + 1;
    FBSEG_CHECK(ho >= 1 && wo >= 1, op, ": input ", shape_str(input.shape()), " with weight ",
                shape_str(weight.shape()), " and padding ", conv_detail::pair_str(p.padding),
                " gives an empty output (", ho, ", ", wo, ")");

    // The conv2d whose input-gradient this is: conv input [N, Cout, Ho, Wo] -> conv output
    // [N, Cin, H, W], conv weight = weight read as [Cin (conv out), Cout/groups (conv in per group), kh, kw].
    ConvGeometry g;
    g.n = n, g.c_in = c_out, g.h = ho, g.w = wo, g.c_out = c_in, g.ho = h, g.wo = w;
    g.kh = kh, g.kw = kw, g.sh = p.stride[0], g.sw = p.stride[1], g.ph = p.padding[0], g.pw = p.padding[1];
    g.dh = p.dilation[0], g.dw = p.dilation[1], g.groups = p.groups;

    const Tensor x = input.detach().contiguous(), wt = weight.detach().contiguous();
    const Tensor b = bias.defined() ? bias.detach().contiguous() : Tensor();
    Tensor out = empty({n, c_out, ho, wo}, options_of(input));
    kernel::conv2d_backward_data(g, x, wt, out);
    if (b.defined()) kernel::add_channel_bias(out, b, n, c_out, ho * wo);

    if (autograd::needs_grad({&input, &weight, &bias})) {
        const bool need_x = input.requires_grad(), need_w = weight.requires_grad();
        const bool has_bias = bias.defined(), need_b = has_bias && bias.requires_grad();
        autograd::SavedTensor sx = need_w ? autograd::SavedTensor(x) : autograd::SavedTensor();
        autograd::SavedTensor sw = need_x ? autograd::SavedTensor(wt) : autograd::SavedTensor();
        std::vector<const Tensor*> inputs{&input, &weight};
        if (has_bias) inputs.push_back(&bias);
        autograd::record("ConvTranspose2dBackward", inputs, {&out},
                         [=, x_shape = input.shape(), w_shape = weight.shape(), dtype = input.dtype()](
                             const std::vector<Tensor>& grads) {
                             const Tensor gy = grads[0].contiguous();
                             Tensor gx, gw, gb;
                             const TensorOptions options = TensorOptions(dtype).device(grads[0].device());
                             if (need_x) {  // d input = conv2d(d out, weight)
                                 gx = empty(x_shape, options);
                                 kernel::conv2d_forward(g, gy, sw.unpack("ConvTranspose2dBackward"), Tensor(), gx);
                             }
                             if (need_w) {  // conv2d's weight gradient with x = d out, dy = input
                                 gw = empty(w_shape, options);
                                 kernel::conv2d_backward_weight(g, gy, sx.unpack("ConvTranspose2dBackward"), gw);
                             }
                             if (need_b) {
                                 gb = empty({g.c_in}, options);
                                 kernel::conv_bias_backward(gy, gb, g.n, g.c_in, g.h * g.w);
                             }
                             std::vector<Tensor> result{gx, gw};
                             if (has_bias) result.push_back(gb);
                             return result;
                         });
    }
    return out;
}
#endif  // FBSEG_OP_DEFINITIONS

}  // namespace fbseg
