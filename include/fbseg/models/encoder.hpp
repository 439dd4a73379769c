// fbseg/models/encoder.hpp - what an smp-style encoder is: a module that turns an image into a
// list of feature maps, one per scale, the way segmentation_models_pytorch's encoders do.
//
// For depth 5 the list has 6 tensors: the input itself, then maps at 1/2, 1/4, 1/8, 1/16 and 1/32
// of the input's height and width; out_channels() gives their channel counts in that order
// (ResNet-34: [in, 64, 64, 128, 256, 512]). The UNet decoder (models/smp_unet.hpp) upsamples the
// deepest one and merges the others back in as skip connections.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "fbseg/nn/module.hpp"

namespace fbseg::models {

class Encoder : public nn::Module {
public:
    using nn::Module::Module;

    /// The feature maps, finest first: [x, f1 (1/2), f2 (1/4), f3 (1/8), f4 (1/16), f5 (1/32)].
    virtual std::vector<Tensor> forward(const Tensor& input) = 0;
    /// Channel counts of forward()'s tensors, in order (the first is the input's).
    virtual std::vector<std::int64_t> out_channels() const = 0;
    /// Name of the first convolution inside the encoder ("conv1", "conv_stem"), for messages.
    virtual std::string first_conv_name() const = 0;

    std::int64_t in_channels() const { return out_channels().front(); }

    /// Checks an input image batch before the first convolution sees it, naming that layer.
    void check_input(const Tensor& input, const std::string& model) const {
        FBSEG_CHECK(input.defined(), model, ": the input is an undefined tensor");
        FBSEG_CHECK(input.dim() == 4, model, ": expected a 4-D input [N, C, H, W] but got shape ",
                    shape_str(input.shape()));
        FBSEG_CHECK(input.size(1) == in_channels(), model, ": encoder.", first_conv_name(), " expects ",
                    in_channels(), " input channels [N, ", in_channels(), ", H, W] but the input has shape ",
                    shape_str(input.shape()));
        FBSEG_CHECK(input.size(2) > 0 && input.size(3) > 0, model, ": the input has an empty image, shape ",
                    shape_str(input.shape()));
    }
};

}  // namespace fbseg::models
