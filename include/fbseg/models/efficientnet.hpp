// fbseg/models/efficientnet.hpp - the EfficientNet-B0 encoder of smp's Unet("timm-efficientnet-b0"):
// timm's EfficientNet (the blocks of timm.models._efficientnet_blocks) with timm's names.
//
// EfficientNet (Tan & Le, 2019) stacks mobile inverted bottlenecks ("MBConv"). B0's stages, as
// smp writes them for timm (block type, repeats, kernel, stride, expansion, out channels, SE):
//
//   stem    conv_stem 3x3/2 (C -> 32, no bias) - bn1 (+SiLU)          -> f1 [N,  32, H/2,  W/2]
//   blocks.0  ds  r1 k3 s1 e1 c16  se0.25
//   blocks.1  ir  r2 k3 s2 e6 c24  se0.25                              -> f2 [N,  24, H/4,  W/4]
//   blocks.2  ir  r2 k5 s2 e6 c40  se0.25                              -> f3 [N,  40, H/8,  W/8]
//   blocks.3  ir  r3 k3 s2 e6 c80  se0.25
//   blocks.4  ir  r3 k5 s1 e6 c112 se0.25                              -> f4 [N, 112, H/16, W/16]
//   blocks.5  ir  r4 k5 s2 e6 c192 se0.25
//   blocks.6  ir  r1 k3 s1 e6 c320 se0.25                              -> f5 [N, 320, H/32, W/32]
//   head    conv_head 1x1 (320 -> 1280, no bias) - bn2 (+SiLU)        (kept, as smp keeps it, but
//                                                                       unused by the encoder)
//
// Scaling (timm's, as smp's "timm-efficientnet-b1..b8" encoders pass it; B0 is 1.0 and 1.0):
//   channel_multiplier m: every channel count c above (stem 32, each stage's c, head 1280) becomes
//     round_channels(c, m) = make_divisible(c m, 8): int(c m + 4) // 8 * 8, at least 8, plus 8
//     when that is below 0.9 c m. The expansion width of a block is make_divisible(in * e) of its
//     (rounded) input, the SE width round(mid * 0.25 / e) as before. out_channels() reports the
//     rounded stem and stage widths, e.g. m 1.2 (b3): {C, 40, 32, 48, 136, 384}.
//   depth_multiplier d: stage i repeats max(1, ceil(r_i d)) blocks (timm's depth_trunc 'ceil'),
//     e.g. d 1.4 (b3): 2, 3, 3, 5, 5, 6, 2.
// smp's b1..b8 and l2 list their out_channels in a table of their own; it equals these rounded
// widths. (smp's timm-tf_efficientnet_lite* fix the stem at 32 and use ReLU6: not this encoder.)
//
// DepthwiseSeparableConv ("ds", keys conv_dw, bn1, se.*, conv_pw, bn2):
//     y = bn2(conv_pw(se(silu(bn1(conv_dw(x))))))            [+ x when stride 1 and in == out]
// InvertedResidual ("ir", keys conv_pw, bn1, conv_dw, bn2, se.*, conv_pwl, bn3):
//     m = silu(bn1(conv_pw(x)))         1x1 expansion to mid = in * 6 channels
//     m = silu(bn2(conv_dw(m)))         k x k depthwise (groups = mid), carries the stride
//     y = bn3(conv_pwl(se(m)))          1x1 linear projection, no activation
//     y = drop_path(y) + x              only when stride 1 and in == out
// SqueezeExcite (keys se.conv_reduce, se.conv_expand; r = in_chs / 4 of the *block* input):
//     s = mean over H, W of m;  s = sigmoid(conv_expand(silu(conv_reduce(s))));  se(m) = m * s
//
// Padding is timm's default (pad_type ''): static and symmetric, ((s - 1) + d (k - 1)) / 2, which
// for these kernels is k / 2 (not TensorFlow's asymmetric "same"). BatchNorm eps 1e-5, momentum 0.1.
// Stochastic depth: block i of 16 (counted over all stages; of the scaled total when
// depth_multiplier != 1, as timm's builder counts) has drop_path rate 0.2 i / 16, applied
// only in training mode and only on residual blocks; it zeroes a whole sample's residual branch
// with that probability and scales the kept ones by 1 / (1 - rate).
//
// Initialisation is timm's (_init_weight_goog): conv weights N(0, 2 / fan_out) with
// fan_out = kh kw out / groups, conv biases 0, BatchNorm 1 and 0. As smp with encoder_weights=None,
// a conv_stem with in_channels != 3 gets PyTorch's default conv init.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "fbseg/core/key_function.hpp"
#include "fbseg/models/encoder.hpp"
#include "fbseg/nn/container.hpp"
#include "fbseg/nn/fusion.hpp"
#include "fbseg/nn/init.hpp"
#include "fbseg/nn/layers.hpp"

namespace fbseg::models {

namespace efficientnet_detail {

/// timm's make_divisible(v, 8): round to a multiple of 8, never more than 10% below v.
inline std::int64_t make_divisible(double v, std::int64_t divisor = 8) {
    std::int64_t n = std::max<std::int64_t>(divisor, std::int64_t(v + double(divisor) / 2) / divisor * divisor);
    if (double(n) < 0.9 * v) n += divisor;
    return n;
}

/// timm's round_channels(channels, multiplier): make_divisible(channels * multiplier, 8).
inline std::int64_t round_channels(std::int64_t channels, double multiplier) {
    return make_divisible(double(channels) * multiplier);
}

/// timm's _scale_stage_depth with depth_trunc 'ceil', for a stage of one block type:
/// max(1, ceil(repeats * multiplier)).
inline std::int64_t round_repeats(std::int64_t repeats, double multiplier) {
    return std::max<std::int64_t>(1, std::int64_t(std::ceil(double(repeats) * multiplier)));
}

/// Stochastic depth (timm's drop_path): in training, each sample of the batch keeps its residual
/// branch with probability 1 - rate (scaled by 1 / (1 - rate)) or drops it entirely.
inline Tensor drop_path(const Tensor& x, double rate, bool training) {
    if (!training || rate <= 0.0) return x;
    const double keep = 1.0 - rate;
    Shape mask_shape(std::size_t(x.dim()), 1);
    mask_shape[0] = x.size(0);
    // floor(keep + U[0, 1)) is 1 with probability keep, else 0. The draws are made on the CPU from
    // the default generator and moved to x's device, so a CUDA run drops the same samples.
    Tensor mask = ge(rand(mask_shape, TensorOptions(x.dtype())), rate).to(x.dtype()).to(x.device());
    return mul(x, div(mask, keep));
}

}  // namespace efficientnet_detail

/// timm's BatchNormAct2d: a BatchNorm2d (same keys) followed by an optional SiLU.
class BatchNormAct2d : public nn::BatchNorm2d {
public:
    FBSEG_KEY_FUNCTION(BatchNormAct2d)
    BatchNormAct2d(std::int64_t channels, bool apply_act) : nn::BatchNorm2d(channels), apply_act(apply_act) {}
    Tensor forward(const Tensor& x) override {
        const Tensor y = nn::BatchNorm2d::forward(x);
        return apply_act ? silu(y) : y;
    }
    /// forward(conv(x)), with this batch norm folded into conv in inference (nn/fusion.hpp).
    Tensor after(nn::Conv2d& conv, const Tensor& x) {
        const Tensor y = nn::conv_bn_act(conv, *this, x, ConvActivation::None);
        return apply_act ? silu(y) : y;
    }
    bool apply_act;
};

/// Squeeze-and-excitation: rescales each channel by a gate computed from the global average.
class SqueezeExcite : public nn::UnaryModule {
public:
    FBSEG_KEY_FUNCTION(SqueezeExcite)
    SqueezeExcite(std::int64_t channels, std::int64_t reduced) : nn::UnaryModule("SqueezeExcite") {
        conv_reduce = register_module("conv_reduce", std::make_shared<nn::Conv2d>(nn::Conv2dOptions(channels, reduced, 1)));
        act1 = register_module("act1", std::make_shared<nn::SiLU>());
        conv_expand = register_module("conv_expand", std::make_shared<nn::Conv2d>(nn::Conv2dOptions(reduced, channels, 1)));
        gate = register_module("gate", std::make_shared<nn::Sigmoid>());
    }
    Tensor forward(const Tensor& x) override {
        Tensor s = mean(x, {2, 3}, /*keepdim=*/true);
        s = conv_expand->forward(act1->forward(conv_reduce->forward(s)));
        return mul(x, gate->forward(s));
    }
    std::shared_ptr<nn::Conv2d> conv_reduce, conv_expand;
    std::shared_ptr<nn::SiLU> act1;
    std::shared_ptr<nn::Sigmoid> gate;
};

namespace efficientnet_detail {
inline std::shared_ptr<nn::Conv2d> conv(std::int64_t in, std::int64_t out, std::int64_t k, std::int64_t stride = 1,
                                        std::int64_t groups = 1) {
    return std::make_shared<nn::Conv2d>(
        nn::Conv2dOptions(in, out, k).stride(stride).padding(((stride - 1) + (k - 1)) / 2).groups(groups).bias(false));
}
}  // namespace efficientnet_detail

/// timm's DepthwiseSeparableConv (the "ds" block, no expansion).
class DepthwiseSeparableConv : public nn::UnaryModule {
public:
    FBSEG_KEY_FUNCTION(DepthwiseSeparableConv)
    DepthwiseSeparableConv(std::int64_t in, std::int64_t out, std::int64_t k, std::int64_t stride, double drop_path_rate)
        : nn::UnaryModule("DepthwiseSeparableConv"), has_skip(stride == 1 && in == out), drop_path_rate(drop_path_rate) {
        using efficientnet_detail::conv;
        conv_dw = register_module("conv_dw", conv(in, in, k, stride, in));
        bn1 = register_module("bn1", std::make_shared<BatchNormAct2d>(in, true));
        aa = register_module("aa", std::make_shared<nn::Identity>());
        se = register_module("se", std::make_shared<SqueezeExcite>(in, std::int64_t(std::nearbyint(double(in) * 0.25))));
        conv_pw = register_module("conv_pw", conv(in, out, 1));
        bn2 = register_module("bn2", std::make_shared<BatchNormAct2d>(out, false));
    }
    Tensor forward(const Tensor& x) override {
        Tensor y = bn1->after(*conv_dw, x);                     // bn1(conv_dw(x))
        y = bn2->after(*conv_pw, se->forward(aa->forward(y)));  // bn2(conv_pw(se(aa(y))))
        if (has_skip) y = add(efficientnet_detail::drop_path(y, drop_path_rate, is_training()), x);
        return y;
    }
    std::shared_ptr<nn::Conv2d> conv_dw, conv_pw;
    std::shared_ptr<BatchNormAct2d> bn1, bn2;
    std::shared_ptr<nn::Identity> aa;
    std::shared_ptr<SqueezeExcite> se;
    bool has_skip;
    double drop_path_rate;
};

/// timm's InvertedResidual (MBConv, the "ir" block).
class InvertedResidual : public nn::UnaryModule {
public:
    FBSEG_KEY_FUNCTION(InvertedResidual)
    InvertedResidual(std::int64_t in, std::int64_t out, std::int64_t k, std::int64_t stride, double exp_ratio,
                     double drop_path_rate)
        : nn::UnaryModule("InvertedResidual"), has_skip(stride == 1 && in == out), drop_path_rate(drop_path_rate) {
        using efficientnet_detail::conv;
        const std::int64_t mid = efficientnet_detail::make_divisible(double(in) * exp_ratio);
        // timm sizes the SE reduction from the block input: round(mid * (0.25 / exp_ratio)), in
        // timm's order of operations and with Python's round (half to even, as nearbyint).
        const auto reduced = std::int64_t(std::nearbyint(double(mid) * (0.25 / exp_ratio)));
        conv_pw = register_module("conv_pw", conv(in, mid, 1));
        bn1 = register_module("bn1", std::make_shared<BatchNormAct2d>(mid, true));
        conv_dw = register_module("conv_dw", conv(mid, mid, k, stride, mid));
        bn2 = register_module("bn2", std::make_shared<BatchNormAct2d>(mid, true));
        aa = register_module("aa", std::make_shared<nn::Identity>());
        se = register_module("se", std::make_shared<SqueezeExcite>(mid, reduced));
        conv_pwl = register_module("conv_pwl", conv(mid, out, 1));
        bn3 = register_module("bn3", std::make_shared<BatchNormAct2d>(out, false));
    }
    Tensor forward(const Tensor& x) override {
        Tensor y = bn1->after(*conv_pw, x);         // bn1(conv_pw(x))
        y = aa->forward(bn2->after(*conv_dw, y));   // aa(bn2(conv_dw(y)))
        y = bn3->after(*conv_pwl, se->forward(y));  // bn3(conv_pwl(se(y)))
        if (has_skip) y = add(efficientnet_detail::drop_path(y, drop_path_rate, is_training()), x);
        return y;
    }
    std::shared_ptr<nn::Conv2d> conv_pw, conv_dw, conv_pwl;
    std::shared_ptr<BatchNormAct2d> bn1, bn2, bn3;
    std::shared_ptr<nn::Identity> aa;
    std::shared_ptr<SqueezeExcite> se;
    bool has_skip;
    double drop_path_rate;
};

struct EfficientNetEncoderOptions {
    EfficientNetEncoderOptions& in_channels(std::int64_t v) { in_channels_ = v; return *this; }
    /// The largest stochastic-depth rate (of the last block); smp uses 0.2.
    EfficientNetEncoderOptions& drop_path_rate(double v) { drop_path_rate_ = v; return *this; }
    /// timm's channel_multiplier: the stem, every stage and the head get round_channels(c * m)
    /// (see the header comment). 1.0 is B0; smp's timm-efficientnet-b2 uses 1.1, b3 1.2, ...
    EfficientNetEncoderOptions& channel_multiplier(double v) { channel_multiplier_ = v; return *this; }
    /// timm's depth_multiplier: stage i repeats max(1, ceil(r_i * m)) blocks. smp's b1 uses 1.1.
    EfficientNetEncoderOptions& depth_multiplier(double v) { depth_multiplier_ = v; return *this; }

    std::int64_t in_channels_ = 3;
    double drop_path_rate_ = 0.2;
    double channel_multiplier_ = 1.0;
    double depth_multiplier_ = 1.0;
};

/// smp's EfficientNetEncoder for "timm-efficientnet-b0".
class EfficientNetEncoder : public Encoder {
public:
    FBSEG_KEY_FUNCTION(EfficientNetEncoder)
    /// One stage of the architecture (see the header comment).
    struct Stage {
        bool depthwise_separable;
        std::int64_t repeats, kernel, stride, expansion, channels;
    };
    static constexpr Stage kB0[7] = {{true, 1, 3, 1, 1, 16},   {false, 2, 3, 2, 6, 24},  {false, 2, 5, 2, 6, 40},
                                     {false, 3, 3, 2, 6, 80},  {false, 3, 5, 1, 6, 112}, {false, 4, 5, 2, 6, 192},
                                     {false, 1, 3, 1, 6, 320}};

    explicit EfficientNetEncoder(const EfficientNetEncoderOptions& opts = {})
        : Encoder("EfficientNetEncoder"), options(opts) {
        FBSEG_CHECK(options.in_channels_ > 0, "EfficientNetEncoder: in_channels must be positive");
        FBSEG_CHECK(options.drop_path_rate_ >= 0 && options.drop_path_rate_ < 1,
                    "EfficientNetEncoder: drop_path_rate must be in [0, 1) but got ", options.drop_path_rate_);
        FBSEG_CHECK(options.channel_multiplier_ > 0 && std::isfinite(options.channel_multiplier_),
                    "EfficientNetEncoder: channel_multiplier must be positive but got ", options.channel_multiplier_);
        FBSEG_CHECK(options.depth_multiplier_ > 0 && std::isfinite(options.depth_multiplier_),
                    "EfficientNetEncoder: depth_multiplier must be positive but got ", options.depth_multiplier_);
        using efficientnet_detail::round_channels;
        using efficientnet_detail::round_repeats;
        const double cm = options.channel_multiplier_, dm = options.depth_multiplier_;
        const std::int64_t stem = round_channels(32, cm);
        conv_stem = register_module("conv_stem", efficientnet_detail::conv(options.in_channels_, stem, 3, 2));
        bn1 = register_module("bn1", std::make_shared<BatchNormAct2d>(stem, true));
        blocks = register_module("blocks", std::make_shared<nn::Sequential>());
        // The drop-path rate of block i (counted over all stages after depth scaling) is rate * i / total.
        std::int64_t total = 0, index = 0, in = stem;
        for (const Stage& s : kB0) total += round_repeats(s.repeats, dm);
        for (const Stage& s : kB0) {
            auto stage = std::make_shared<nn::Sequential>();
            const std::int64_t out = round_channels(s.channels, cm), repeats = round_repeats(s.repeats, dm);
            for (std::int64_t r = 0; r < repeats; ++r, ++index) {
                const std::int64_t stride = r == 0 ? s.stride : 1;
                const double rate = options.drop_path_rate_ * double(index) / double(total);
                if (s.depthwise_separable)
                    stage->push_back(std::make_shared<DepthwiseSeparableConv>(in, out, s.kernel, stride, rate));
                else
                    stage->push_back(
                        std::make_shared<InvertedResidual>(in, out, s.kernel, stride, double(s.expansion), rate));
                in = out;
            }
            blocks->push_back(stage);
        }
        const std::int64_t head = round_channels(1280, cm);
        conv_head = register_module("conv_head", efficientnet_detail::conv(in, head, 1));
        bn2 = register_module("bn2", std::make_shared<BatchNormAct2d>(head, true));
        reset_parameters();
    }

    /// timm's init (see the header comment), then PyTorch's default for a non-RGB conv_stem.
    void reset_parameters() override {
        for (auto& [name, m] : named_modules()) {
            if (auto* c = dynamic_cast<nn::Conv2d*>(m)) {
                const auto& o = c->options;
                const double fan_out = double(o.kernel_size_.h * o.kernel_size_.w * o.out_channels_ / o.groups_);
                nn::init::normal_(c->weight, 0.0, std::sqrt(2.0 / fan_out));
                if (c->bias.defined()) nn::init::zeros_(c->bias);
            } else if (auto* bn = dynamic_cast<nn::BatchNorm2d*>(m)) {
                nn::init::ones_(bn->weight);
                nn::init::zeros_(bn->bias);
            }
        }
        if (options.in_channels_ != 3) conv_stem->reset_parameters();
    }

    /// smp's taps: [x, bn1(stem), blocks 0-1, block 2, blocks 3-4, blocks 5-6].
    std::vector<Tensor> forward(const Tensor& x) override {
        check_input(x, "EfficientNetEncoder");
        std::vector<Tensor> features{x};
        Tensor y = bn1->after(*conv_stem, x);  // bn1(conv_stem(x))
        features.push_back(y);
        const int taps[4][2] = {{0, 2}, {2, 3}, {3, 5}, {5, 7}};  // [first, last) stage of each tap
        for (const auto& tap : taps) {
            for (int i = tap[0]; i < tap[1]; ++i) y = (*blocks)[std::size_t(i)]->forward(y);
            features.push_back(y);
        }
        return features;
    }

    /// smp's out_channels: [in_channels, stem, stage 1, stage 2, stage 4, stage 6], each rounded by
    /// the channel multiplier ({C, 32, 24, 40, 112, 320} for B0; smp lists the same for b1..b7).
    std::vector<std::int64_t> out_channels() const override {
        const auto r = [&](std::int64_t c) { return efficientnet_detail::round_channels(c, options.channel_multiplier_); };
        return {options.in_channels_, r(32), r(kB0[1].channels), r(kB0[2].channels), r(kB0[4].channels),
                r(kB0[6].channels)};
    }
    std::string first_conv_name() const override { return "conv_stem"; }

    EfficientNetEncoderOptions options;
    std::shared_ptr<nn::Conv2d> conv_stem, conv_head;
    std::shared_ptr<BatchNormAct2d> bn1, bn2;
    std::shared_ptr<nn::Sequential> blocks;
};

inline std::shared_ptr<EfficientNetEncoder> efficientnet_b0_encoder(std::int64_t in_channels = 3) {
    return std::make_shared<EfficientNetEncoder>(EfficientNetEncoderOptions().in_channels(in_channels));
}

}  // namespace fbseg::models
