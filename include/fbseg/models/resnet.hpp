// fbseg/models/resnet.hpp - the ResNet-18/34 encoder of smp's Unet (torchvision's ResNet with
// BasicBlocks, no avgpool and fc), with torchvision's parameter names.
//
//   input [N, C, H, W]
//   conv1 7x7/2 (C -> 64, no bias) - bn1 - relu            -> f1 [N,  64, H/2,  W/2]
//   maxpool 3x3/2 - layer1 (BasicBlock x n1, 64)            -> f2 [N,  64, H/4,  W/4]
//   layer2 (BasicBlock x n2, 128, first stride 2)           -> f3 [N, 128, H/8,  W/8]
//   layer3 (BasicBlock x n3, 256, first stride 2)           -> f4 [N, 256, H/16, W/16]
//   layer4 (BasicBlock x n4, 512, first stride 2)           -> f5 [N, 512, H/32, W/32]
// ResNet-18 has (n1..n4) = (2, 2, 2, 2), ResNet-34 (3, 4, 6, 3). forward() returns
// [input, f1, f2, f3, f4, f5], as smp's ResNetEncoder.
//
// The widths above (stem 64, stages 64/128/256/512) are torchvision's and the defaults; options
// stem_width() and widths() shrink them (same module tree, same code path) for small test models
// such as the end-to-end parity fixture (tools/make_e2e_fixtures.py, docs/parity.md). layer1's
// first block then takes stem_width channels, as torchvision's `inplanes` = 64.
//
// A BasicBlock computes  relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))  where both convs are
// 3x3 (the first carries the block's stride) and the shortcut is x itself, or, when the stride or
// the width changes, `downsample` = 1x1 conv with the stride (downsample.0) + BatchNorm
// (downsample.1).
//
// Initialisation is torchvision's: every conv kaiming_normal(fan_out, relu), every BatchNorm
// weight 1 and bias 0. As in smp with encoder_weights=None, a first conv with in_channels != 3 is
// re-created with PyTorch's default conv init (smp's patch_first_conv calls reset_parameters()).
#pragma once

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

/// torchvision.models.resnet.BasicBlock (expansion 1).
class BasicBlock : public nn::UnaryModule {
public:
    FBSEG_KEY_FUNCTION(BasicBlock)
    BasicBlock(std::int64_t inplanes, std::int64_t planes, std::int64_t stride) : nn::UnaryModule("BasicBlock") {
        conv1 = register_module("conv1", std::make_shared<nn::Conv2d>(
                                             nn::Conv2dOptions(inplanes, planes, 3).stride(stride).padding(1).bias(false)));
        bn1 = register_module("bn1", std::make_shared<nn::BatchNorm2d>(planes));
        relu = register_module("relu", std::make_shared<nn::ReLU>());
        conv2 = register_module("conv2", std::make_shared<nn::Conv2d>(
                                             nn::Conv2dOptions(planes, planes, 3).padding(1).bias(false)));
        bn2 = register_module("bn2", std::make_shared<nn::BatchNorm2d>(planes));
        if (stride != 1 || inplanes != planes) {
            downsample = register_module("downsample", std::make_shared<nn::Sequential>());
            downsample->push_back(std::make_shared<nn::Conv2d>(
                nn::Conv2dOptions(inplanes, planes, 1).stride(stride).bias(false)));
            downsample->push_back(std::make_shared<nn::BatchNorm2d>(planes));
        }
    }

    /// In inference each conv-bn pair is one convolution with the batch norm folded in, the first
    /// with its ReLU in the epilogue (nn/fusion.hpp); the same modules one by one otherwise.
    Tensor forward(const Tensor& x) override {
        Tensor out = nn::conv_bn_act(*conv1, *bn1, x, ConvActivation::ReLU);
        out = nn::conv_bn_act(*conv2, *bn2, out, ConvActivation::None);
        const Tensor identity = downsample ? downsample->forward(x) : x;
        return relu->forward(add(out, identity));
    }

    std::shared_ptr<nn::Conv2d> conv1, conv2;
    std::shared_ptr<nn::BatchNorm2d> bn1, bn2;
    std::shared_ptr<nn::ReLU> relu;
    std::shared_ptr<nn::Sequential> downsample;  // null when the shortcut is the identity
};

struct ResNetEncoderOptions {
    /// Number of BasicBlocks in layer1..layer4: {2, 2, 2, 2} is ResNet-18, {3, 4, 6, 3} ResNet-34.
    ResNetEncoderOptions(std::vector<std::int64_t> layers) : layers_(std::move(layers)) {}  // NOLINT
    ResNetEncoderOptions& in_channels(std::int64_t v) { in_channels_ = v; return *this; }
    /// Output channels of conv1/bn1 (torchvision: 64).
    ResNetEncoderOptions& stem_width(std::int64_t v) { stem_width_ = v; return *this; }
    /// Output channels of layer1..layer4 (torchvision: 64, 128, 256, 512).
    ResNetEncoderOptions& widths(std::vector<std::int64_t> v) { widths_ = std::move(v); return *this; }

    std::vector<std::int64_t> layers_;
    std::int64_t in_channels_ = 3;
    std::int64_t stem_width_ = 64;
    std::vector<std::int64_t> widths_ = {64, 128, 256, 512};
};

/// smp's ResNetEncoder: torchvision's ResNet minus avgpool and fc, returning 6 feature maps.
class ResNetEncoder : public Encoder {
public:
    FBSEG_KEY_FUNCTION(ResNetEncoder)
    explicit ResNetEncoder(const ResNetEncoderOptions& opts) : Encoder("ResNetEncoder"), options(opts) {
        FBSEG_CHECK(options.layers_.size() == 4, "ResNetEncoder: expected 4 stage sizes but got ",
                    options.layers_.size());
        FBSEG_CHECK(options.in_channels_ > 0, "ResNetEncoder: in_channels must be positive");
        for (auto n : options.layers_) FBSEG_CHECK(n > 0, "ResNetEncoder: every stage needs at least one block");
        FBSEG_CHECK(options.widths_.size() == 4, "ResNetEncoder: expected 4 stage widths but got ",
                    options.widths_.size());
        FBSEG_CHECK(options.stem_width_ > 0, "ResNetEncoder: stem_width must be positive");
        for (auto w : options.widths_) FBSEG_CHECK(w > 0, "ResNetEncoder: stage widths must be positive");
        const std::int64_t stem = options.stem_width_;
        conv1 = register_module("conv1", std::make_shared<nn::Conv2d>(nn::Conv2dOptions(options.in_channels_, stem, 7)
                                                                          .stride(2)
                                                                          .padding(3)
                                                                          .bias(false)));
        bn1 = register_module("bn1", std::make_shared<nn::BatchNorm2d>(stem));
        relu = register_module("relu", std::make_shared<nn::ReLU>());
        maxpool = register_module("maxpool", std::make_shared<nn::MaxPool2d>(nn::MaxPool2dOptions(3).stride(2).padding(1)));
        std::int64_t inplanes = stem;
        const std::vector<std::int64_t>& widths = options.widths_;
        for (int i = 0; i < 4; ++i) {
            auto layer = std::make_shared<nn::Sequential>();
            for (std::int64_t b = 0; b < options.layers_[std::size_t(i)]; ++b) {
                const std::int64_t stride = (i > 0 && b == 0) ? 2 : 1;
                layer->push_back(std::make_shared<BasicBlock>(inplanes, widths[std::size_t(i)], stride));
                inplanes = widths[std::size_t(i)];
            }
            layers[i] = register_module("layer" + std::to_string(i + 1), layer);
        }
        reset_parameters();
    }

    /// torchvision's init (see the header comment), then PyTorch's default init for a first conv
    /// that does not take 3 channels (what smp does when it patches the input channels).
    void reset_parameters() override {
        for (auto& [name, m] : named_modules()) {
            if (auto* conv = dynamic_cast<nn::Conv2d*>(m)) {
                nn::init::kaiming_normal_(conv->weight, 0.0, nn::init::FanMode::FanOut, nn::init::Nonlinearity::Relu);
            } else if (auto* bn = dynamic_cast<nn::BatchNorm2d*>(m)) {
                nn::init::ones_(bn->weight);
                nn::init::zeros_(bn->bias);
            }
        }
        if (options.in_channels_ != 3) conv1->reset_parameters();
    }

    std::vector<Tensor> forward(const Tensor& x) override {
        check_input(x, "ResNetEncoder");
        std::vector<Tensor> features{x};
        Tensor y = nn::conv_bn_act(*conv1, *bn1, x, ConvActivation::ReLU);  // relu(bn1(conv1(x)))
        features.push_back(y);
        y = layers[0]->forward(maxpool->forward(y));
        features.push_back(y);
        for (int i = 1; i < 4; ++i) {
            y = layers[i]->forward(y);
            features.push_back(y);
        }
        return features;
    }

    std::vector<std::int64_t> out_channels() const override {
        const auto& w = options.widths_;
        return {options.in_channels_, options.stem_width_, w[0], w[1], w[2], w[3]};
    }
    std::string first_conv_name() const override { return "conv1"; }

    ResNetEncoderOptions options;
    std::shared_ptr<nn::Conv2d> conv1;
    std::shared_ptr<nn::BatchNorm2d> bn1;
    std::shared_ptr<nn::ReLU> relu;
    std::shared_ptr<nn::MaxPool2d> maxpool;
    std::shared_ptr<nn::Sequential> layers[4];  // layer1 .. layer4
};

inline std::shared_ptr<ResNetEncoder> resnet18_encoder(std::int64_t in_channels = 3) {
    return std::make_shared<ResNetEncoder>(ResNetEncoderOptions({2, 2, 2, 2}).in_channels(in_channels));
}
inline std::shared_ptr<ResNetEncoder> resnet34_encoder(std::int64_t in_channels = 3) {
    return std::make_shared<ResNetEncoder>(ResNetEncoderOptions({3, 4, 6, 3}).in_channels(in_channels));
}

}  // namespace fbseg::models
