// fbseg/nn/pool.hpp - MaxPool2d and AdaptiveAvgPool2d modules (no parameters).
//
//   nn::MaxPool2d pool(nn::MaxPool2dOptions(3).stride(2).padding(1));  // ResNet's stem pool
//   nn::AdaptiveAvgPool2d gap(1);                                     // global average pool
//
// Output size of max pooling (PyTorch's rule, ceil_mode rounds up):
//     H' = floor((H + 2 p - d (k - 1) - 1) / s) + 1
#pragma once

#include <cstdint>
#include <string>

#include "fbseg/core/key_function.hpp"
#include "fbseg/nn/module.hpp"
#include "fbseg/nn/size2.hpp"
#include "fbseg/ops/pool.hpp"

namespace fbseg::nn {

struct MaxPool2dOptions {
    MaxPool2dOptions(Size2 kernel_size) : kernel_size_(kernel_size), stride_(kernel_size) {}  // NOLINT: implicit

    /// Defaults to the kernel size, as in PyTorch.
    MaxPool2dOptions& stride(Size2 v) { stride_ = v; return *this; }
    MaxPool2dOptions& padding(Size2 v) { padding_ = v; return *this; }
    MaxPool2dOptions& dilation(Size2 v) { dilation_ = v; return *this; }
    MaxPool2dOptions& ceil_mode(bool v) { ceil_mode_ = v; return *this; }

    Size2 kernel_size_;
    Size2 stride_;
    Size2 padding_ = 0;
    Size2 dilation_ = 1;
    bool ceil_mode_ = false;
};

class MaxPool2d : public UnaryModule {
public:
    FBSEG_KEY_FUNCTION(MaxPool2d)
    explicit MaxPool2d(const MaxPool2dOptions& opts) : UnaryModule("MaxPool2d"), options(opts) {
        const auto& o = options;
        FBSEG_CHECK(o.kernel_size_.h > 0 && o.kernel_size_.w > 0 && o.stride_.h > 0 && o.stride_.w > 0 &&
                        o.dilation_.h > 0 && o.dilation_.w > 0,
                    describe(), ": kernel_size, stride and dilation must be positive");
        FBSEG_CHECK(2 * o.padding_.h <= o.kernel_size_.h && 2 * o.padding_.w <= o.kernel_size_.w && o.padding_.h >= 0 &&
                        o.padding_.w >= 0,
                    describe(), ": padding must be non-negative and at most half the kernel size");
    }

    Tensor forward(const Tensor& input) override {
        FBSEG_CHECK(input.defined() && input.dim() == 4, describe(), ": expected a 4-D input [N, C, H, W] but got ",
                    input.defined() ? shape_str(input.shape()) : std::string("an undefined tensor"));
        const auto& o = options;
        MaxPool2dParams p;
        p.kernel = {o.kernel_size_.h, o.kernel_size_.w};
        p.stride = {o.stride_.h, o.stride_.w};
        p.padding = {o.padding_.h, o.padding_.w};
        p.dilation = {o.dilation_.h, o.dilation_.w};
        p.ceil_mode = o.ceil_mode_;
        return max_pool2d(input, p);
    }

    std::string describe() const {
        const auto& o = options;
        return fbseg::detail::str("MaxPool2d(kernel_size=", o.kernel_size_.str(), ", stride=", o.stride_.str(),
                                  ", padding=", o.padding_.str(), ", dilation=", o.dilation_.str(),
                                  ", ceil_mode=", o.ceil_mode_ ? "true" : "false", ")");
    }

    MaxPool2dOptions options;
};

/// Averages each channel down to a fixed output size (1 gives global average pooling).
class AdaptiveAvgPool2d : public UnaryModule {
public:
    FBSEG_KEY_FUNCTION(AdaptiveAvgPool2d)
    explicit AdaptiveAvgPool2d(Size2 output_size) : UnaryModule("AdaptiveAvgPool2d"), output_size(output_size) {
        FBSEG_CHECK(output_size.h > 0 && output_size.w > 0, describe(), ": output_size must be positive");
    }

    Tensor forward(const Tensor& input) override {
        FBSEG_CHECK(input.defined() && input.dim() == 4, describe(), ": expected a 4-D input [N, C, H, W] but got ",
                    input.defined() ? shape_str(input.shape()) : std::string("an undefined tensor"));
        return adaptive_avg_pool2d(input, {output_size.h, output_size.w});
    }

    std::string describe() const { return "AdaptiveAvgPool2d(output_size=" + output_size.str() + ")"; }

    Size2 output_size;
};

}  // namespace fbseg::nn
