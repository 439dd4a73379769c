// fbseg/models/smp_unet.hpp - segmentation_models_pytorch's Unet over the ResNet-18/34 and
// EfficientNet-B0 encoders, with smp's state_dict keys, order and shapes, and the model factory.
//
//   auto model = models::make_model("efficientnet-b0-unet", /*in_channels=*/1, /*classes=*/1);
//   Tensor logits = model->forward(images);   // [N, 1, H, W] -> [N, 1, H, W]
//
// is the C++ twin of smp.Unet("timm-efficientnet-b0", encoder_weights=None, in_channels=1,
// classes=1) (smp 0.6.0): the same module tree, so a state_dict exported from PyTorch loads with
// load_state_dict() one-to-one. tests/fixtures/smp_keys/*.txt hold smp's own listings.
//
// The decoder (smp's UnetDecoder, decoder_channels (256, 128, 64, 32, 16), no centre block for
// these encoders, no attention) walks the encoder features [x, f1, ..., f5] from the deepest:
//
//   d = f5
//   block 0: d = up(d) to f4's size, cat [d, f4], conv1, conv2   -> [N, 256, H/16, W/16]
//   block 1: d = up(d) to f3's size, cat [d, f3], conv1, conv2   -> [N, 128, H/8,  W/8]
//   block 2: d = up(d) to f2's size, cat [d, f2], conv1, conv2   -> [N,  64, H/4,  W/4]
//   block 3: d = up(d) to f1's size, cat [d, f1], conv1, conv2   -> [N,  32, H/2,  W/2]
//   block 4: d = up(d) to x's size,  (no skip),   conv1, conv2   -> [N,  16, H,    W]
//   segmentation_head.0: 3x3 conv with bias                       -> [N, classes, H, W]
//
// "up" is nearest-neighbour interpolation to the *skip's* spatial size (smp >= 0.5 passes
// size=(h, w); older smp used scale_factor=2, which is the same whenever H and W are multiples of
// 32), so inputs of any size work, as smp 0.6's Unet (requires_divisible_input_shape = False).
// conv1 and conv2 are smp's Conv2dReLU: 3x3 conv without bias (.0), BatchNorm2d (.1), ReLU (.2).
//
// Initialisation is smp's: decoder convs kaiming_uniform(fan_in, relu) with zero bias, decoder
// BatchNorm 1 and 0, head xavier_uniform with zero bias; encoders as in their own headers.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "fbseg/core/key_function.hpp"
#include "fbseg/models/efficientnet.hpp"
#include "fbseg/models/encoder.hpp"
#include "fbseg/models/resnet.hpp"
#include "fbseg/models/unet.hpp"
#include "fbseg/nn/container.hpp"
#include "fbseg/nn/init.hpp"
#include "fbseg/nn/layers.hpp"
#include "fbseg/ops/interpolate.hpp"
#include "fbseg/ops/join.hpp"

namespace fbseg::models {

/// smp's Conv2dReLU with batch norm: Sequential(Conv2d 3x3 no bias, BatchNorm2d, ReLU).
inline std::shared_ptr<nn::Sequential> conv2d_relu(std::int64_t in, std::int64_t out) {
    auto seq = std::make_shared<nn::Sequential>();
    seq->push_back(std::make_shared<nn::Conv2d>(nn::Conv2dOptions(in, out, 3).padding(1).bias(false)));
    seq->push_back(std::make_shared<nn::BatchNorm2d>(out));
    seq->push_back(std::make_shared<nn::ReLU>());
    return seq;
}

/// smp's UnetDecoderBlock: upsample to the skip's size, concatenate the skip, two Conv2dReLU.
class UnetDecoderBlock : public nn::Module {
public:
    FBSEG_KEY_FUNCTION(UnetDecoderBlock)
    /// `path` ("decoder.blocks.2") names the block in error messages.
    UnetDecoderBlock(std::int64_t in_channels, std::int64_t skip_channels, std::int64_t out_channels, std::string path)
        : nn::Module("UnetDecoderBlock"),
          in_channels(in_channels),
          skip_channels(skip_channels),
          out_channels(out_channels),
          path(std::move(path)) {
        conv1 = register_module("conv1", conv2d_relu(in_channels + skip_channels, out_channels));
        attention1 = register_module("attention1", std::make_shared<nn::Identity>());
        conv2 = register_module("conv2", conv2d_relu(out_channels, out_channels));
        attention2 = register_module("attention2", std::make_shared<nn::Identity>());
    }

    /// x [N, in, h, w] -> [N, out, height, width]; `skip` is [N, skip_channels, height, width], or
    /// undefined for the last block.
    Tensor forward(const Tensor& x, std::int64_t height, std::int64_t width, const Tensor& skip = Tensor()) {
        FBSEG_CHECK(x.defined() && x.dim() == 4 && x.size(1) == in_channels, path, ": expected an input [N, ",
                    in_channels, ", h, w] but got shape ", x.defined() ? shape_str(x.shape()) : "undefined");
        Tensor y = upsample_nearest2d(x, {height, width});
        if (skip_channels > 0) {
            FBSEG_CHECK(skip.defined(), path, ": expected a skip connection with ", skip_channels,
                        " channels but got none; the upsampled input is ", shape_str(y.shape()));
            const Shape want = {y.size(0), skip_channels, height, width};
            FBSEG_CHECK(skip.shape() == want, path, ": the skip connection has shape ", shape_str(skip.shape()),
                        " but the block expects ", shape_str(want), " to concatenate with the upsampled input ",
                        shape_str(y.shape()));
            y = attention1->forward(concat({y, skip}, 1));
        } else {
            FBSEG_CHECK(!skip.defined(), path, ": this block takes no skip connection but got one of shape ",
                        shape_str(skip.shape()));
        }
        return attention2->forward(conv2->forward(conv1->forward(y)));
    }

    std::int64_t in_channels, skip_channels, out_channels;
    std::string path;
    std::shared_ptr<nn::Sequential> conv1, conv2;
    std::shared_ptr<nn::Identity> attention1, attention2;
};

/// smp's UnetDecoder (without centre block: smp adds one only for VGG encoders).
class UnetDecoder : public nn::Module {
public:
    FBSEG_KEY_FUNCTION(UnetDecoder)
    UnetDecoder(const std::vector<std::int64_t>& encoder_channels, const std::vector<std::int64_t>& decoder_channels)
        : nn::Module("UnetDecoder"), encoder_channels(encoder_channels) {
        FBSEG_CHECK(encoder_channels.size() == decoder_channels.size() + 1, "UnetDecoder: ",
                    encoder_channels.size(), " encoder features need ", encoder_channels.size() - 1,
                    " decoder channel counts but got ", decoder_channels.size());
        center = register_module("center", std::make_shared<nn::Identity>());
        blocks = register_module("blocks", std::make_shared<nn::ModuleList>());
        // Reversed encoder channels without the input: head first, then the skips.
        const std::vector<std::int64_t> rev(encoder_channels.rbegin(), encoder_channels.rend() - 1);
        std::int64_t in = rev[0];
        for (std::size_t i = 0; i < decoder_channels.size(); ++i) {
            const std::int64_t skip = i + 1 < rev.size() ? rev[i + 1] : 0;
            FBSEG_CHECK(decoder_channels[i] > 0, "UnetDecoder: decoder channel counts must be positive");
            blocks->push_back(std::make_shared<UnetDecoderBlock>(in, skip, decoder_channels[i],
                                                                 "decoder.blocks." + std::to_string(i)));
            in = decoder_channels[i];
        }
    }

    /// features = the encoder's [x, f1, ..., f5]; returns the last block's output.
    Tensor forward(const std::vector<Tensor>& features) {
        FBSEG_CHECK(features.size() == encoder_channels.size(), "decoder: expected ", encoder_channels.size(),
                    " encoder features but got ", features.size());
        for (std::size_t i = 0; i < features.size(); ++i)
            FBSEG_CHECK(features[i].defined() && features[i].dim() == 4, "decoder: encoder feature ", i,
                        " must be a 4-D tensor [N, C, H, W] but got ",
                        features[i].defined() ? shape_str(features[i].shape()) : "undefined");
        const std::size_t n = features.size();
        Tensor x = center->forward(features[n - 1]);
        for (std::size_t i = 0; i < blocks->size(); ++i) {
            const Tensor& target = features[n - 2 - i];  // the next finer feature sets the size
            const Tensor skip = i + 2 < n ? target : Tensor();
            x = blocks->at<UnetDecoderBlock>(i)->forward(x, target.size(2), target.size(3), skip);
        }
        return x;
    }

    std::vector<std::int64_t> encoder_channels;
    std::shared_ptr<nn::Identity> center;
    std::shared_ptr<nn::ModuleList> blocks;
};

struct SmpUnetOptions {
    SmpUnetOptions& decoder_channels(std::vector<std::int64_t> v) { decoder_channels_ = std::move(v); return *this; }
    SmpUnetOptions& classes(std::int64_t v) { classes_ = v; return *this; }

    std::vector<std::int64_t> decoder_channels_ = {256, 128, 64, 32, 16};
    std::int64_t classes_ = 1;
};

/// smp.Unet: encoder, decoder, segmentation_head (Sequential(conv 3x3, Identity, Identity): smp's
/// SegmentationHead with no upsampling and no activation, so the output is logits).
class SmpUnet : public nn::UnaryModule {
public:
    FBSEG_KEY_FUNCTION(SmpUnet)
    /// `model_name` is used in error messages ("resnet34-unet").
    SmpUnet(std::shared_ptr<Encoder> enc, const SmpUnetOptions& opts, std::string model_name = "smp-unet")
        : nn::UnaryModule("SmpUnet"), options(opts), model_name(std::move(model_name)) {
        FBSEG_CHECK(enc != nullptr, this->model_name, ": the encoder is null");
        FBSEG_CHECK(options.classes_ > 0, this->model_name, ": classes must be positive but got ", options.classes_);
        FBSEG_CHECK(!options.decoder_channels_.empty(), this->model_name, ": decoder_channels is empty");
        encoder = register_module("encoder", std::move(enc));
        decoder = register_module("decoder", std::make_shared<UnetDecoder>(encoder->out_channels(),
                                                                           options.decoder_channels_));
        segmentation_head = register_module("segmentation_head", std::make_shared<nn::Sequential>());
        segmentation_head->push_back(std::make_shared<nn::Conv2d>(
            nn::Conv2dOptions(options.decoder_channels_.back(), options.classes_, 3).padding(1)));
        segmentation_head->push_back(std::make_shared<nn::Identity>());  // upsampling = 1
        segmentation_head->push_back(std::make_shared<nn::Identity>());  // activation = None
        initialize();
    }

    /// smp's SegmentationModel.initialize(): decoder and head (the encoder keeps its own init).
    void initialize() {
        for (auto& [name, m] : decoder->named_modules()) {
            if (auto* c = dynamic_cast<nn::Conv2d*>(m)) {
                nn::init::kaiming_uniform_(c->weight, 0.0, nn::init::FanMode::FanIn, nn::init::Nonlinearity::Relu);
                if (c->bias.defined()) nn::init::zeros_(c->bias);
            } else if (auto* bn = dynamic_cast<nn::BatchNorm2d*>(m)) {
                nn::init::ones_(bn->weight);
                nn::init::zeros_(bn->bias);
            }
        }
        auto head = segmentation_head->at<nn::Conv2d>(0);
        nn::init::xavier_uniform_(head->weight);
        nn::init::zeros_(head->bias);
    }

    /// images [N, in_channels, H, W] -> logits [N, classes, H, W].
    Tensor forward(const Tensor& x) override {
        encoder->check_input(x, model_name);
        return segmentation_head->forward(decoder->forward(encoder->forward(x)));
    }

    SmpUnetOptions options;
    std::string model_name;
    std::shared_ptr<Encoder> encoder;
    std::shared_ptr<UnetDecoder> decoder;
    std::shared_ptr<nn::Sequential> segmentation_head;
};

/// The model names make_model() knows, in the order the CLI lists them.
inline std::vector<std::string> model_names() {
    return {"unet", "resnet18-unet", "resnet34-unet", "efficientnet-b0-unet"};
}

/// Builds a model by name with freshly initialised weights (seed with fbseg::manual_seed):
///   "unet"                  the classic UNet (models/unet.hpp, default options)
///   "resnet18-unet"         smp.Unet("resnet18")
///   "resnet34-unet"         smp.Unet("resnet34")
///   "efficientnet-b0-unet"  smp.Unet("timm-efficientnet-b0"), the original project's model
inline std::shared_ptr<nn::UnaryModule> make_model(const std::string& name, std::int64_t in_channels = 1,
                                                   std::int64_t classes = 1) {
    FBSEG_CHECK(in_channels > 0, "make_model('", name, "'): in_channels must be positive but got ", in_channels);
    FBSEG_CHECK(classes > 0, "make_model('", name, "'): classes must be positive but got ", classes);
    const SmpUnetOptions smp = SmpUnetOptions().classes(classes);
    if (name == "unet") return std::make_shared<UNet>(UNetOptions().in_channels(in_channels).out_channels(classes));
    if (name == "resnet18-unet") return std::make_shared<SmpUnet>(resnet18_encoder(in_channels), smp, name);
    if (name == "resnet34-unet") return std::make_shared<SmpUnet>(resnet34_encoder(in_channels), smp, name);
    if (name == "efficientnet-b0-unet")
        return std::make_shared<SmpUnet>(efficientnet_b0_encoder(in_channels), smp, name);
    std::string known;
    for (const auto& n : model_names()) known += (known.empty() ? "" : ", ") + n;
    FBSEG_FAIL("make_model: unknown model '", name, "'; known models: ", known);
}

}  // namespace fbseg::models
