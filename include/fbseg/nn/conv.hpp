// fbseg/nn/conv.hpp - Conv2d and ConvTranspose2d modules (torch::nn::Conv2d, ConvTranspose2d).
//
//   auto conv = std::make_shared<nn::Conv2d>(nn::Conv2dOptions(1, 32, 3).stride(2).padding(1).bias(false));
//   Tensor y = conv->forward(x);   // x [N, 1, H, W] -> y [N, 32, H', W']
//
// Shapes (PyTorch's):
//   Conv2d           weight [out, in/groups, kh, kw], bias [out]
//                    H' = floor((H + 2 p - d (k - 1) - 1) / s) + 1
//   ConvTranspose2d  weight [in, out/groups, kh, kw], bias [out]
//                    H' = (H - 1) s - 2 p + d (k - 1) + output_padding + 1
// Default initialisation is PyTorch's (nn::init::conv_default_init): weight and bias uniform in
// +-1/sqrt(fan_in), fan_in = weight.size(1) * kh * kw.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "fbseg/nn/init.hpp"
#include "fbseg/nn/module.hpp"
#include "fbseg/nn/size2.hpp"
#include "fbseg/ops/conv.hpp"

namespace fbseg::nn {

/// Options of Conv2d: the channel counts and kernel size are required, the rest are setters.
struct Conv2dOptions {
    Conv2dOptions(std::int64_t in_channels, std::int64_t out_channels, Size2 kernel_size)
        : in_channels_(in_channels), out_channels_(out_channels), kernel_size_(kernel_size) {}

    Conv2dOptions& stride(Size2 v) { stride_ = v; return *this; }
    Conv2dOptions& padding(Size2 v) { padding_ = v; return *this; }
    Conv2dOptions& dilation(Size2 v) { dilation_ = v; return *this; }
    Conv2dOptions& groups(std::int64_t v) { groups_ = v; return *this; }
    Conv2dOptions& bias(bool v) { bias_ = v; return *this; }

    std::int64_t in_channels_;
    std::int64_t out_channels_;
    Size2 kernel_size_;
    Size2 stride_ = 1;
    Size2 padding_ = 0;
    Size2 dilation_ = 1;
    std::int64_t groups_ = 1;
    bool bias_ = true;
};

/// Options of ConvTranspose2d (same pattern, plus output_padding).
struct ConvTranspose2dOptions {
    ConvTranspose2dOptions(std::int64_t in_channels, std::int64_t out_channels, Size2 kernel_size)
        : in_channels_(in_channels), out_channels_(out_channels), kernel_size_(kernel_size) {}

    ConvTranspose2dOptions& stride(Size2 v) { stride_ = v; return *this; }
    ConvTranspose2dOptions& padding(Size2 v) { padding_ = v; return *this; }
    ConvTranspose2dOptions& output_padding(Size2 v) { output_padding_ = v; return *this; }
    ConvTranspose2dOptions& dilation(Size2 v) { dilation_ = v; return *this; }
    ConvTranspose2dOptions& groups(std::int64_t v) { groups_ = v; return *this; }
    ConvTranspose2dOptions& bias(bool v) { bias_ = v; return *this; }

    std::int64_t in_channels_;
    std::int64_t out_channels_;
    Size2 kernel_size_;
    Size2 stride_ = 1;
    Size2 padding_ = 0;
    Size2 output_padding_ = 0;
    Size2 dilation_ = 1;
    std::int64_t groups_ = 1;
    bool bias_ = true;
};

namespace layer_detail {

/// Checks what every convolution layer needs of its options, naming the layer.
inline void check_conv_options(const std::string& layer, std::int64_t in, std::int64_t out, Size2 k, Size2 s,
                               Size2 p, Size2 d, std::int64_t groups) {
    FBSEG_CHECK(in > 0 && out > 0, layer, ": channel counts must be positive");
    FBSEG_CHECK(k.h > 0 && k.w > 0, layer, ": kernel_size must be positive");
    FBSEG_CHECK(s.h > 0 && s.w > 0, layer, ": stride must be positive");
    FBSEG_CHECK(p.h >= 0 && p.w >= 0, layer, ": padding must be non-negative");
    FBSEG_CHECK(d.h > 0 && d.w > 0, layer, ": dilation must be positive");
    FBSEG_CHECK(groups > 0 && in % groups == 0 && out % groups == 0, layer, ": groups (", groups,
                ") must divide both in_channels and out_channels");
}

/// Checks a layer's input: rank 4 (NCHW) with the channel count the layer was built for.
inline void check_nchw_input(const std::string& layer, const Tensor& input, std::int64_t channels) {
    FBSEG_CHECK(input.defined(), layer, ": the input is an undefined tensor");
    FBSEG_CHECK(input.dim() == 4, layer, ": expected a 4-D input [N, C, H, W] but got shape ",
                shape_str(input.shape()));
    FBSEG_CHECK(input.size(1) == channels, layer, ": expected an input with ", channels,
                " channels [N, ", channels, ", H, W] but got shape ", shape_str(input.shape()));
}

}  // namespace layer_detail

/// 2-D convolution over an NCHW input.
class Conv2d : public UnaryModule {
public:
    explicit Conv2d(const Conv2dOptions& opts) : UnaryModule("Conv2d"), options(opts) {
        const auto& o = options;
        layer_detail::check_conv_options(describe(), o.in_channels_, o.out_channels_, o.kernel_size_, o.stride_, o.padding_,
                                   o.dilation_, o.groups_);
        weight = register_parameter("weight", empty({o.out_channels_, o.in_channels_ / o.groups_, o.kernel_size_.h,
                                                     o.kernel_size_.w}));
        bias = register_parameter("bias", o.bias_ ? empty({o.out_channels_}) : Tensor());
        reset_parameters();
    }

    void reset_parameters() override { init::conv_default_init(weight, bias); }

    Tensor forward(const Tensor& input) override {
        layer_detail::check_nchw_input(describe(), input, options.in_channels_);
        return conv2d(input, weight, bias, params());
    }

    /// The parameters of the functional op.
    Conv2dParams params() const {
        const auto& o = options;
        Conv2dParams p;
        p.stride = {o.stride_.h, o.stride_.w};
        p.padding = {o.padding_.h, o.padding_.w};
        p.dilation = {o.dilation_.h, o.dilation_.w};
        p.groups = o.groups_;
        return p;
    }

    /// "Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=false)", as PyTorch prints it.
    std::string describe() const {
        const auto& o = options;
        std::string s = fbseg::detail::str("Conv2d(", o.in_channels_, ", ", o.out_channels_, ", kernel_size=",
                                    o.kernel_size_.str());
        if (o.stride_ != Size2(1)) s += ", stride=" + o.stride_.str();
        if (o.padding_ != Size2(0)) s += ", padding=" + o.padding_.str();
        if (o.dilation_ != Size2(1)) s += ", dilation=" + o.dilation_.str();
        if (o.groups_ != 1) s += fbseg::detail::str(", groups=", o.groups_);
        if (!o.bias_) s += ", bias=false";
        return s + ")";
    }

    Conv2dOptions options;
    Tensor weight, bias;
};

/// 2-D transposed convolution ("deconvolution"): the gradient of Conv2d with respect to its input.
class ConvTranspose2d : public UnaryModule {
public:
    explicit ConvTranspose2d(const ConvTranspose2dOptions& opts) : UnaryModule("ConvTranspose2d"), options(opts) {
        const auto& o = options;
        layer_detail::check_conv_options(describe(), o.in_channels_, o.out_channels_, o.kernel_size_, o.stride_, o.padding_,
                                   o.dilation_, o.groups_);
        FBSEG_CHECK(o.output_padding_.h >= 0 && o.output_padding_.w >= 0 &&
                        (o.output_padding_.h < o.stride_.h || o.output_padding_.h < o.dilation_.h) &&
                        (o.output_padding_.w < o.stride_.w || o.output_padding_.w < o.dilation_.w),
                    describe(), ": output_padding must be smaller than either stride or dilation");
        weight = register_parameter("weight", empty({o.in_channels_, o.out_channels_ / o.groups_, o.kernel_size_.h,
                                                     o.kernel_size_.w}));
        bias = register_parameter("bias", o.bias_ ? empty({o.out_channels_}) : Tensor());
        reset_parameters();
    }

    void reset_parameters() override { init::conv_default_init(weight, bias); }

    Tensor forward(const Tensor& input) override {
        layer_detail::check_nchw_input(describe(), input, options.in_channels_);
        return conv_transpose2d(input, weight, bias, params());
    }

    ConvTranspose2dParams params() const {
        const auto& o = options;
        ConvTranspose2dParams p;
        p.stride = {o.stride_.h, o.stride_.w};
        p.padding = {o.padding_.h, o.padding_.w};
        p.output_padding = {o.output_padding_.h, o.output_padding_.w};
        p.dilation = {o.dilation_.h, o.dilation_.w};
        p.groups = o.groups_;
        return p;
    }

    std::string describe() const {
        const auto& o = options;
        std::string s = fbseg::detail::str("ConvTranspose2d(", o.in_channels_, ", ", o.out_channels_, ", kernel_size=",
                                    o.kernel_size_.str());
        if (o.stride_ != Size2(1)) s += ", stride=" + o.stride_.str();
        if (o.padding_ != Size2(0)) s += ", padding=" + o.padding_.str();
        if (o.output_padding_ != Size2(0)) s += ", output_padding=" + o.output_padding_.str();
        if (o.dilation_ != Size2(1)) s += ", dilation=" + o.dilation_.str();
        if (o.groups_ != 1) s += fbseg::detail::str(", groups=", o.groups_);
        if (!o.bias_) s += ", bias=false";
        return s + ")";
    }

    ConvTranspose2dOptions options;
    Tensor weight, bias;
};

}  // namespace fbseg::nn
