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
#include <mutex>
#include <string>
#include <vector>

#include "fbseg/core/key_function.hpp"
#include "fbseg/nn/check.hpp"
#include "fbseg/nn/init.hpp"
#include "fbseg/nn/module.hpp"
#include "fbseg/nn/options.hpp"
#include "fbseg/nn/size2.hpp"
#include "fbseg/ops/conv.hpp"

namespace fbseg::nn {

/// Options of Conv2d: the channel counts and kernel size are required, the rest are setters.
struct Conv2dOptions {
    Conv2dOptions(std::int64_t in_channels, std::int64_t out_channels, Size2 kernel_size)
        : in_channels_(in_channels), out_channels_(out_channels), kernel_size_(kernel_size) {}

    FBSEG_ARG(std::int64_t, in_channels);
    FBSEG_ARG(std::int64_t, out_channels);
    FBSEG_ARG(Size2, kernel_size);
    FBSEG_ARG(Size2, stride) = 1;
    FBSEG_ARG(Size2, padding) = 0;
    FBSEG_ARG(Size2, dilation) = 1;
    FBSEG_ARG(std::int64_t, groups) = 1;
    FBSEG_ARG(bool, bias) = true;
};

/// Options of ConvTranspose2d: Conv2d's, plus output_padding.
struct ConvTranspose2dOptions {
    ConvTranspose2dOptions(std::int64_t in_channels, std::int64_t out_channels, Size2 kernel_size)
        : in_channels_(in_channels), out_channels_(out_channels), kernel_size_(kernel_size) {}

    FBSEG_ARG(std::int64_t, in_channels);
    FBSEG_ARG(std::int64_t, out_channels);
    FBSEG_ARG(Size2, kernel_size);
    FBSEG_ARG(Size2, stride) = 1;
    FBSEG_ARG(Size2, padding) = 0;
    FBSEG_ARG(Size2, output_padding) = 0;
    FBSEG_ARG(Size2, dilation) = 1;
    FBSEG_ARG(std::int64_t, groups) = 1;
    FBSEG_ARG(bool, bias) = true;
};

namespace layer_detail {

/// Checks what every convolution layer needs of its options, naming the layer.
template <typename Options>
void check_conv_options(const std::string& layer, const Options& o) {
    FBSEG_CHECK(o.in_channels_ > 0 && o.out_channels_ > 0, layer, ": channel counts must be positive");
    FBSEG_CHECK(o.kernel_size_.h > 0 && o.kernel_size_.w > 0, layer, ": kernel_size must be positive");
    FBSEG_CHECK(o.stride_.h > 0 && o.stride_.w > 0, layer, ": stride must be positive");
    FBSEG_CHECK(o.padding_.h >= 0 && o.padding_.w >= 0, layer, ": padding must be non-negative");
    FBSEG_CHECK(o.dilation_.h > 0 && o.dilation_.w > 0, layer, ": dilation must be positive");
    FBSEG_CHECK(o.groups_ > 0 && o.in_channels_ % o.groups_ == 0 && o.out_channels_ % o.groups_ == 0, layer,
                ": groups (", o.groups_, ") must divide both in_channels and out_channels");
}

/// "Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=false)", as PyTorch prints a
/// convolution: the options that differ from their defaults.
template <typename Options>
std::string describe_conv(const char* name, const Options& o) {
    std::string s = fbseg::detail::str(name, "(", o.in_channels_, ", ", o.out_channels_, ", kernel_size=",
                                       o.kernel_size_.str());
    if (o.stride_ != Size2(1)) s += ", stride=" + o.stride_.str();
    if (o.padding_ != Size2(0)) s += ", padding=" + o.padding_.str();
    if constexpr (requires { o.output_padding_; })
        if (o.output_padding_ != Size2(0)) s += ", output_padding=" + o.output_padding_.str();
    if (o.dilation_ != Size2(1)) s += ", dilation=" + o.dilation_.str();
    if (o.groups_ != 1) s += fbseg::detail::str(", groups=", o.groups_);
    if (!o.bias_) s += ", bias=false";
    return s + ")";
}

}  // namespace layer_detail

/// Conv2d's weights and bias with the following batch norm folded in, for inference
/// (nn/fusion.hpp): `key` says what they were computed from. One per Conv2d, shared by the threads
/// that run it; the mutex guards the three fields.
struct ConvFoldCache {
    std::mutex mutex;
    std::vector<std::uint64_t> key;
    Tensor weight, bias;
};

/// 2-D convolution over an NCHW input.
class Conv2d : public UnaryModule {
public:
    FBSEG_KEY_FUNCTION(Conv2d)
    explicit Conv2d(const Conv2dOptions& opts) : UnaryModule("Conv2d"), options(opts) {
        const auto& o = options;
        layer_detail::check_conv_options(describe(), o);
        weight = register_parameter("weight", empty({o.out_channels_, o.in_channels_ / o.groups_, o.kernel_size_.h,
                                                     o.kernel_size_.w}));
        bias = register_parameter("bias", o.bias_ ? empty({o.out_channels_}) : Tensor());
        reset_parameters();
    }

    void reset_parameters() override { init::conv_default_init(weight, bias); }

    /// Back to training, the folded weights of the last inference (nn/fusion.hpp) go stale at the
    /// next optimizer step: they are freed here rather than held through training.
    void train(bool on = true) override {
        if (on) {
            const std::lock_guard<std::mutex> lock(fold_cache->mutex);
            fold_cache->key.clear();
            fold_cache->weight = Tensor();
            fold_cache->bias = Tensor();
        }
        UnaryModule::train(on);
    }

    Tensor forward(const Tensor& input) override {
        layer_detail::check_nchw_input([this] { return describe(); }, input, options.in_channels_);
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
    std::string describe() const { return layer_detail::describe_conv("Conv2d", options); }

    Conv2dOptions options;
    Tensor weight, bias;
    /// Inference with a batch norm folded in (nn/fusion.hpp); not a parameter, not saved.
    std::shared_ptr<ConvFoldCache> fold_cache = std::make_shared<ConvFoldCache>();
};

/// 2-D transposed convolution ("deconvolution"): the gradient of Conv2d with respect to its input.
class ConvTranspose2d : public UnaryModule {
public:
    FBSEG_KEY_FUNCTION(ConvTranspose2d)
    explicit ConvTranspose2d(const ConvTranspose2dOptions& opts) : UnaryModule("ConvTranspose2d"), options(opts) {
        const auto& o = options;
        layer_detail::check_conv_options(describe(), o);
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
        layer_detail::check_nchw_input([this] { return describe(); }, input, options.in_channels_);
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

    std::string describe() const { return layer_detail::describe_conv("ConvTranspose2d", options); }

    ConvTranspose2dOptions options;
    Tensor weight, bias;
};

}  // namespace fbseg::nn
