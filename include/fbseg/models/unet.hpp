// fbseg/models/unet.hpp - the classic UNet of Ronneberger, Fischer and Brox (MICCAI 2015), with
// padded 3x3 convolutions so the output has the input's height and width.
//
// With depth D (default 4) and base width B (default 32), level l = 0..D has 2^l B channels:
//
//   encoder.0  DoubleConv(in -> B)                                   [N,    B, H,      W     ]
//   encoder.l  maxpool 2x2, DoubleConv(2^(l-1) B -> 2^l B)   l=1..D  [N, 2^l B, H/2^l, W/2^l ]
//              (encoder.D is the bottleneck)
//   decoder.i  i = 0..D-1, from the bottleneck up, level l = D-1-i:
//              up:   2x2 transposed conv, stride 2 (2^(l+1) B -> 2^l B)          (up_mode Transposed)
//                    or bilinear x2 upsample (up.0) + 1x1 conv (up.1)             (up_mode Bilinear)
//              cat [up, encoder.l's output] -> 2^(l+1) B channels
//              conv: DoubleConv(2^(l+1) B -> 2^l B)                  [N, 2^l B, H/2^l, W/2^l ]
//   head       1x1 conv (B -> out_channels), with bias               [N, out, H, W]
//
// DoubleConv is a Sequential: conv 3x3 (padding 1), BatchNorm2d, ReLU, conv 3x3, BatchNorm2d,
// ReLU (keys .0 .1 .3 .4); without batch norm: conv, ReLU, conv, ReLU (keys .0 .2), and then the
// convs carry a bias (with batch norm the bias would be cancelled by the mean subtraction).
//
// Why base 32 and not the paper's 64: 64 gives 31M parameters, 32 gives 7.8M, which trains well
// on 256x256 fetal MRI/ultrasound slices and is 4x cheaper; set base_channels(64) for the paper's
// widths. The output is logits (no sigmoid). H and W must be multiples of 2^D (each max-pool
// halves them and the up path doubles them back), checked with a clear error.
//
// Initialisation: PyTorch's defaults (conv_default_init for convs, BatchNorm 1 and 0).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "fbseg/core/key_function.hpp"
#include "fbseg/nn/container.hpp"
#include "fbseg/nn/layers.hpp"
#include "fbseg/ops/join.hpp"

namespace fbseg::models {

enum class UpMode { Transposed, Bilinear };

struct UNetOptions {
    UNetOptions& in_channels(std::int64_t v) { in_channels_ = v; return *this; }
    UNetOptions& out_channels(std::int64_t v) { out_channels_ = v; return *this; }
    /// Number of 2x downsamplings (the encoder has depth + 1 levels).
    UNetOptions& depth(std::int64_t v) { depth_ = v; return *this; }
    /// Channels of the first level; level l has base * 2^l.
    UNetOptions& base_channels(std::int64_t v) { base_channels_ = v; return *this; }
    UNetOptions& batch_norm(bool v) { batch_norm_ = v; return *this; }
    UNetOptions& up_mode(UpMode v) { up_mode_ = v; return *this; }

    std::int64_t in_channels_ = 1;
    std::int64_t out_channels_ = 1;
    std::int64_t depth_ = 4;
    std::int64_t base_channels_ = 32;
    bool batch_norm_ = true;
    UpMode up_mode_ = UpMode::Transposed;
};

/// Two 3x3 conv - [BatchNorm] - ReLU layers.
inline std::shared_ptr<nn::Sequential> double_conv(std::int64_t in, std::int64_t out, bool batch_norm) {
    auto seq = std::make_shared<nn::Sequential>();
    for (int k = 0; k < 2; ++k) {
        seq->push_back(std::make_shared<nn::Conv2d>(nn::Conv2dOptions(k == 0 ? in : out, out, 3).padding(1).bias(!batch_norm)));
        if (batch_norm) seq->push_back(std::make_shared<nn::BatchNorm2d>(out));
        seq->push_back(std::make_shared<nn::ReLU>());
    }
    return seq;
}

/// One step of the up path: up-sample, concatenate the skip connection, DoubleConv.
class UNetUpBlock : public nn::Module {
public:
    FBSEG_KEY_FUNCTION(UNetUpBlock)
    UNetUpBlock(std::int64_t in, std::int64_t out, bool batch_norm, UpMode mode, std::string path)
        : nn::Module("UNetUpBlock"), in_channels(in), out_channels(out), path(std::move(path)) {
        if (mode == UpMode::Transposed) {
            up = register_module("up", std::make_shared<nn::ConvTranspose2d>(nn::ConvTranspose2dOptions(in, out, 2).stride(2)));
        } else {
            auto seq = std::make_shared<nn::Sequential>();
            seq->push_back(std::make_shared<nn::Upsample>(
                nn::UpsampleOptions().scale_factor(2.0).mode(nn::UpsampleMode::Bilinear).align_corners(false)));
            seq->push_back(std::make_shared<nn::Conv2d>(nn::Conv2dOptions(in, out, 1)));
            up = register_module("up", seq);
        }
        conv = register_module("conv", double_conv(2 * out, out, batch_norm));
    }

    Tensor forward(const Tensor& x, const Tensor& skip) {
        FBSEG_CHECK(x.dim() == 4 && x.size(1) == in_channels, path, ": expected an input [N, ", in_channels,
                    ", h, w] but got shape ", shape_str(x.shape()));
        const Tensor u = up->forward(x);
        const Shape want = {u.size(0), out_channels, u.size(2), u.size(3)};
        FBSEG_CHECK(skip.defined() && skip.shape() == want, path, ": the skip connection has shape ",
                    skip.defined() ? shape_str(skip.shape()) : "undefined", " but the upsampled input has shape ",
                    shape_str(u.shape()), " (expected the skip to be ", shape_str(want), ")");
        return conv->forward(concat({u, skip}, 1));
    }

    std::int64_t in_channels, out_channels;
    std::string path;
    std::shared_ptr<nn::UnaryModule> up;
    std::shared_ptr<nn::Sequential> conv;
};

class UNet : public nn::UnaryModule {
public:
    FBSEG_KEY_FUNCTION(UNet)
    explicit UNet(const UNetOptions& opts = {}) : nn::UnaryModule("UNet"), options(opts) {
        const auto& o = options;
        FBSEG_CHECK(o.in_channels_ > 0 && o.out_channels_ > 0, "UNet: in_channels and out_channels must be positive");
        FBSEG_CHECK(o.depth_ >= 1 && o.depth_ <= 8, "UNet: depth must be in [1, 8] but got ", o.depth_);
        FBSEG_CHECK(o.base_channels_ > 0, "UNet: base_channels must be positive but got ", o.base_channels_);
        encoder = register_module("encoder", std::make_shared<nn::ModuleList>());
        for (std::int64_t l = 0; l <= o.depth_; ++l)
            encoder->push_back(double_conv(l == 0 ? o.in_channels_ : width(l - 1), width(l), o.batch_norm_));
        pool = register_module("pool", std::make_shared<nn::MaxPool2d>(nn::MaxPool2dOptions(2)));
        decoder = register_module("decoder", std::make_shared<nn::ModuleList>());
        for (std::int64_t i = 0; i < o.depth_; ++i) {
            const std::int64_t l = o.depth_ - 1 - i;
            decoder->push_back(std::make_shared<UNetUpBlock>(width(l + 1), width(l), o.batch_norm_, o.up_mode_,
                                                             "decoder." + std::to_string(i)));
        }
        head = register_module("head", std::make_shared<nn::Conv2d>(nn::Conv2dOptions(o.base_channels_, o.out_channels_, 1)));
    }

    /// Channels at level l.
    std::int64_t width(std::int64_t l) const { return options.base_channels_ << l; }

    /// images [N, in_channels, H, W] with H, W multiples of 2^depth -> logits [N, out_channels, H, W].
    Tensor forward(const Tensor& x) override {
        const auto& o = options;
        FBSEG_CHECK(x.defined(), "UNet: the input is an undefined tensor");
        FBSEG_CHECK(x.dim() == 4, "UNet: expected a 4-D input [N, C, H, W] but got shape ", shape_str(x.shape()));
        FBSEG_CHECK(x.size(1) == o.in_channels_, "UNet: encoder.0 expects ", o.in_channels_, " input channels [N, ",
                    o.in_channels_, ", H, W] but the input has shape ", shape_str(x.shape()));
        const std::int64_t m = std::int64_t(1) << o.depth_;
        FBSEG_CHECK(x.size(2) > 0 && x.size(3) > 0 && x.size(2) % m == 0 && x.size(3) % m == 0,
                    "UNet: input height and width must be positive multiples of ", m, " (depth ", o.depth_, ": ",
                    o.depth_, " 2x max-pools in encoder.1..", o.depth_, ") but the input has shape ",
                    shape_str(x.shape()));
        std::vector<Tensor> skips;
        Tensor y = x;
        for (std::int64_t l = 0; l <= o.depth_; ++l) {
            if (l > 0) y = pool->forward(y);
            y = encoder->at<nn::Sequential>(std::size_t(l))->forward(y);
            if (l < o.depth_) skips.push_back(y);
        }
        for (std::int64_t i = 0; i < o.depth_; ++i)
            y = decoder->at<UNetUpBlock>(std::size_t(i))->forward(y, skips[std::size_t(o.depth_ - 1 - i)]);
        return head->forward(y);
    }

    UNetOptions options;
    std::shared_ptr<nn::ModuleList> encoder, decoder;
    std::shared_ptr<nn::MaxPool2d> pool;
    std::shared_ptr<nn::Conv2d> head;
};

}  // namespace fbseg::models
