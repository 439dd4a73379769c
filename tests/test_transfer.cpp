// tests/test_transfer.cpp - suite "transfer": weights exported from PyTorch/smp by
// tools/export_torch.py load into fbseg and give smp's eval logits; smp's own first-conv
// adaptation; fbseg's re-saved weights are bit-identical to what PyTorch exported.
//
// Fixtures (tools/make_transfer_fixtures.py, committed):
//   transfer_<name>.weights.safetensors  an smp Unet's state_dict as export_torch writes it
//   transfer_<name>.io.safetensors       "input" and PyTorch's "eval.logits", and in the metadata
//                                        how to build the same model in fbseg
// with <name> resnet (a reduced-width ResNet-34-shaped encoder: stages of 3/4/6/3 blocks) and
// efficientnet (timm-efficientnet-b0 scaled by channel and depth multipliers, 1 input channel).
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <sstream>

#include "fbseg/fbseg.hpp"
#include "support/check.hpp"

using namespace fbseg;

namespace {

std::vector<std::int64_t> int_list(const std::string& csv) {
    std::vector<std::int64_t> out;
    std::stringstream in(csv);
    for (std::string item; std::getline(in, item, ',');) out.push_back(std::stoll(item));
    return out;
}

/// The smp Unet the io fixture's metadata describes, built with fbseg's own classes.
std::shared_ptr<models::SmpUnet> model_from(const io::SafetensorsReader& io) {
    const std::int64_t in_channels = std::stoll(io.metadata("in_channels"));
    const std::int64_t classes = std::stoll(io.metadata("classes"));
    std::shared_ptr<models::Encoder> encoder;
    if (io.metadata("encoder") == "resnet") {
        encoder = std::make_shared<models::ResNetEncoder>(models::ResNetEncoderOptions(int_list(io.metadata("encoder_layers")))
                                                              .in_channels(in_channels)
                                                              .stem_width(std::stoll(io.metadata("encoder_stem_width")))
                                                              .widths(int_list(io.metadata("encoder_widths"))));
    } else {
        REQUIRE(io.metadata("encoder") == "efficientnet");
        encoder = std::make_shared<models::EfficientNetEncoder>(
            models::EfficientNetEncoderOptions()
                .in_channels(in_channels)
                .channel_multiplier(std::stod(io.metadata("encoder_channel_multiplier")))
                .depth_multiplier(std::stod(io.metadata("encoder_depth_multiplier"))));
    }
    return std::make_shared<models::SmpUnet>(
        encoder, models::SmpUnetOptions().decoder_channels(int_list(io.metadata("decoder_channels"))).classes(classes));
}

const char* const kNames[] = {"resnet", "efficientnet"};

std::string fixture(const std::string& name, const std::string& kind) {
    return std::string(FBSEG_FIXTURE_DIR) + "/transfer_" + name + "." + kind + ".safetensors";
}

}  // namespace

TEST_CASE("transfer: smp Unets exported from PyTorch load strictly into fbseg and give smp's eval logits") {
    for (const std::string name : kNames) {
        CAPTURE(name);
        io::SafetensorsReader io(fixture(name, "io"));
        auto model = model_from(io);
        const auto report = io::load_weights(*model, fixture(name, "weights"));  // strict
        CHECK(report.loaded_keys.size() == model->state_dict().size());
        model->eval();
        NoGradGuard no_grad;
        const Tensor logits = model->forward(io.get("input"));
        // float32 against float32, per element: rtol 1e-4 with an absolute floor of 1e-5 of the
        // largest logit (the reduced ResNet's logits reach ~160; near zero only the floor can hold,
        // as in tools/check_transfer.py).
        const Tensor want = io.get("eval.logits");
        const double floor = 1e-5 * max(abs(want)).item<double>();
        CHECK_ALLCLOSE(logits, want, floor, 1e-4);
    }
}

TEST_CASE("transfer: weights re-saved by fbseg are bit-identical to the ones PyTorch exported") {
    const auto dir = std::filesystem::temp_directory_path() / ("fbseg_transfer_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    for (const std::string name : kNames) {
        CAPTURE(name);
        io::SafetensorsReader io(fixture(name, "io"));
        auto model = model_from(io);
        io::load_weights(*model, fixture(name, "weights"));
        const std::string out = (dir / (name + ".safetensors")).string();
        io::save_weights(*model, out);
        const io::SafetensorsReader original(fixture(name, "weights")), saved(out);
        REQUIRE(saved.size() == original.size());
        for (const auto& key : original.keys()) {
            CAPTURE(key);
            REQUIRE(saved.contains(key));
            CHECK(saved.entry(key).dtype == original.entry(key).dtype);
            CHECK(test::bitwise_equal(saved.get(key), original.get(key)));
        }
    }
    std::filesystem::remove_all(dir);
}

TEST_CASE("transfer: first-conv adaptation matches smp's patch_first_conv on the same weights") {
    io::SafetensorsReader file(FBSEG_FIXTURE_DIR "/transfer_adapt.safetensors");
    const Tensor rgb = file.get("adapt.in");
    for (std::int64_t n : {1, 2, 4, 5}) {
        CAPTURE(n);
        const Tensor want = file.get("adapt." + std::to_string(n));
        // The same float32 arithmetic in the same order: (w0 + w1) + w2, or w[i mod 3] * float(3 / n).
        CHECK(test::bitwise_equal(nn::adapt_input_channels(rgb, n), want));
    }
}
