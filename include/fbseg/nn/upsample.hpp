// fbseg/nn/upsample.hpp - Upsample (torch::nn::Upsample): nearest or bilinear resizing of an
// NCHW input to a fixed size or by a scale factor.
//
//   nn::Upsample up(nn::UpsampleOptions().scale_factor(2).mode(nn::UpsampleMode::Bilinear));
//   nn::Upsample to(nn::UpsampleOptions().size({64, 64}));   // nearest by default
//
// With a scale factor s the output is floor(H s) x floor(W s), as PyTorch. Nearest picks input
// pixel floor(i / s); bilinear (align_corners=false) samples at (i + 0.5) / s - 0.5, clamped.
#pragma once

#include <optional>
#include <string>

#include "fbseg/core/key_function.hpp"
#include "fbseg/nn/module.hpp"
#include "fbseg/nn/size2.hpp"
#include "fbseg/ops/interpolate.hpp"

namespace fbseg::nn {

enum class UpsampleMode { Nearest, Bilinear };

struct UpsampleOptions {
    /// A fixed output size (exclusive with scale_factor).
    UpsampleOptions& size(Size2 v) { size_ = v; return *this; }
    /// A scale factor for both dims (exclusive with size).
    UpsampleOptions& scale_factor(double v) { scale_factor_ = v; return *this; }
    UpsampleOptions& mode(UpsampleMode v) { mode_ = v; return *this; }
    /// Bilinear only: sample at the corner pixels' centres (true) or by half-pixel offsets (false).
    UpsampleOptions& align_corners(bool v) { align_corners_ = v; return *this; }

    std::optional<Size2> size_;
    std::optional<double> scale_factor_;
    UpsampleMode mode_ = UpsampleMode::Nearest;
    bool align_corners_ = false;
};

class Upsample : public UnaryModule {
public:
    FBSEG_KEY_FUNCTION(Upsample)
    explicit Upsample(const UpsampleOptions& opts = {}) : UnaryModule("Upsample"), options(opts) {
        FBSEG_CHECK(options.size_.has_value() != options.scale_factor_.has_value(), describe(),
                    ": give exactly one of size and scale_factor");
        FBSEG_CHECK(!options.size_ || (options.size_->h > 0 && options.size_->w > 0), describe(),
                    ": size must be positive");
        FBSEG_CHECK(!options.scale_factor_ || *options.scale_factor_ > 0, describe(), ": scale_factor must be positive");
        FBSEG_CHECK(!options.align_corners_ || options.mode_ == UpsampleMode::Bilinear, describe(),
                    ": align_corners only applies to bilinear mode");
    }

    Tensor forward(const Tensor& input) override {
        FBSEG_CHECK(input.defined() && input.dim() == 4, describe(), ": expected a 4-D input [N, C, H, W] but got ",
                    input.defined() ? shape_str(input.shape()) : std::string("an undefined tensor"));
        const auto& o = options;
        if (o.mode_ == UpsampleMode::Nearest) {
            if (o.size_) return upsample_nearest2d(input, {o.size_->h, o.size_->w});
            return upsample_nearest2d(input, *o.scale_factor_);
        }
        if (o.size_) return upsample_bilinear2d(input, {o.size_->h, o.size_->w}, o.align_corners_);
        return upsample_bilinear2d(input, *o.scale_factor_, o.align_corners_);
    }

    std::string describe() const {
        const auto& o = options;
        std::string s = "Upsample(";
        s += o.size_ ? "size=" + o.size_->str() : fbseg::detail::str("scale_factor=", *o.scale_factor_);
        s += o.mode_ == UpsampleMode::Nearest ? ", mode=nearest" : ", mode=bilinear";
        if (o.align_corners_) s += ", align_corners=true";
        return s + ")";
    }

    UpsampleOptions options;
};

}  // namespace fbseg::nn
