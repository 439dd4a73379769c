// Tests of the models (include/fbseg/models): the classic UNet and the smp-compatible Unets.
//
//   - state_dict layout: fbseg's summary text equals smp 0.6.0's (tests/fixtures/smp_keys/*.txt,
//     written by tools/dump_smp_keys.py) for every model and in_channels 1 and 3;
//   - numerics: with formula weights (the same in both, see tools/dump_smp_keys.py) the three smp
//     models give PyTorch's outputs in training and eval mode, its running statistics and its
//     weight gradients (tests/fixtures/smp_keys/forward.safetensors);
//   - forward shapes in training and eval mode, any input size for the smp models, a gradient for
//     every parameter that takes part in the forward;
//   - clear errors naming the layer and the shapes;
//   - the classic UNet learns a small synthetic segmentation task.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "fbseg/fbseg.hpp"
#include "fbseg/nn/loss.hpp"
#include "fbseg/optim/adam.hpp"
#include "support/check.hpp"
#include "support/safetensors_reader.hpp"

namespace models_tests {  // a namespace of its own: the test files are compiled as one unity source

using namespace fbseg;
using fbseg::test::contains;
using fbseg::test::error_of;


namespace {

const char* const kSmpModels[] = {"resnet18-unet", "resnet34-unet", "efficientnet-b0-unet"};

std::string read_text(const std::string& path) {
    std::ifstream in(path);
    REQUIRE_MESSAGE(in.good(), "cannot open ", path);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> lines;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
}

/// x[i] = scale sin(a i + b), row-major, float64.
Tensor formula(const Shape& shape, double a, double b, double scale = 1.0) {
    std::vector<double> v(std::size_t(numel_of(shape)));
    for (std::size_t i = 0; i < v.size(); ++i) v[i] = scale * std::sin(a * double(i) + b);
    return from_vector(v, shape);
}

/// The formula weights of tools/dump_smp_keys.py (float64), written into the model's state.
void load_formula_state(nn::Module& model) {
    nn::NamedTensors state;
    std::int64_t k = -1;
    for (const auto& [key, value] : model.state_dict()) {
        ++k;
        const auto ends = [&](const std::string& suffix) {
            return key.size() >= suffix.size() && key.compare(key.size() - suffix.size(), suffix.size(), suffix) == 0;
        };
        if (ends("num_batches_tracked")) {
            state.emplace_back(key, zeros({}, TensorOptions(DType::Int64)));
            continue;
        }
        std::vector<double> v(std::size_t(value.numel()));
        const double fan_in = value.dim() >= 2 ? double(value.numel() / value.size(0)) : 1.0;
        for (std::size_t j = 0; j < v.size(); ++j) {
            const double s = std::sin(0.7 * double(j) + 1.9 * double(k) + 0.3);
            double x;
            if (ends("running_mean")) x = 0.1 * s;
            else if (ends("running_var")) x = 0.75 + 0.25 * s;
            else if (value.dim() >= 2) x = s * std::sqrt(3.0 / fan_in);
            else if (ends(".weight")) x = 1.0 + 0.2 * s;
            else x = 0.1 * s;
            v[j] = x;
        }
        state.emplace_back(key, from_vector(v, value.shape()));
    }
    model.load_state_dict(state);
}

Tensor param_named(const nn::Module& m, const std::string& key) {
    for (const auto& [k, p] : m.named_parameters())
        if (k == key) return p;
    FAIL("no parameter ", key);
    return Tensor();
}
Tensor state_named(const nn::Module& m, const std::string& key) {
    for (const auto& [k, t] : m.state_dict())
        if (k == key) return t;
    FAIL("no state entry ", key);
    return Tensor();
}

/// A batch of n 16x16 images with a bright disc of random centre and radius on a noisy
/// background, and its mask.
void make_disc_batch(std::int64_t n, Generator& gen, Tensor& images, Tensor& masks) {
    const std::int64_t s = 16;
    std::vector<float> img(std::size_t(n * s * s)), msk(img.size());
    const std::vector<float> u = rand({n, 3}, {}, gen).to_vector<float>();
    const std::vector<float> noise = randn({n, s, s}, {}, gen).to_vector<float>();
    for (std::int64_t b = 0; b < n; ++b) {
        const double cy = 4.0 + 8.0 * u[std::size_t(3 * b)], cx = 4.0 + 8.0 * u[std::size_t(3 * b + 1)];
        const double r = 2.5 + 2.0 * u[std::size_t(3 * b + 2)];
        for (std::int64_t y = 0; y < s; ++y)
            for (std::int64_t x = 0; x < s; ++x) {
                const std::size_t i = std::size_t((b * s + y) * s + x);
                const bool inside = (double(y) - cy) * (double(y) - cy) + (double(x) - cx) * (double(x) - cx) < r * r;
                msk[i] = inside ? 1.0f : 0.0f;
                img[i] = (inside ? 1.0f : 0.0f) + 0.3f * noise[i];
            }
    }
    images = from_vector(img, {n, 1, s, s});
    masks = from_vector(msk, {n, 1, s, s});
}

/// Hard Dice of (logits > 0) against a 0/1 mask: 2 |A n B| / (|A| + |B|).
double dice_of(const Tensor& logits, const Tensor& masks) {
    const std::vector<float> z = logits.to_vector<float>(), t = masks.to_vector<float>();
    double inter = 0, a = 0, b = 0;
    for (std::size_t i = 0; i < z.size(); ++i) {
        const double p = z[i] > 0 ? 1.0 : 0.0;
        inter += p * t[i];
        a += p;
        b += t[i];
    }
    return (2 * inter + 1e-9) / (a + b + 1e-9);
}

}  // namespace

namespace {

/// models::summary(model) line by line against smp's listing tests/fixtures/smp_keys/<listing>.txt.
void check_summary_matches_listing(const nn::Module& model, const std::string& listing) {
    const auto got = lines_of(models::summary(model));
    const auto want = lines_of(read_text(std::string(FBSEG_FIXTURE_DIR) + "/smp_keys/" + listing + ".txt"));
    REQUIRE(want.size() > 100);
    for (std::size_t i = 0; i < std::min(got.size(), want.size()); ++i) {
        if (got[i] != want[i]) {
            FAIL_CHECK("line ", i + 1, ": fbseg '", got[i], "' vs smp '", want[i], "'");
            break;
        }
    }
    CHECK(got.size() == want.size());
}

}  // namespace

TEST_CASE("models: summaries equal smp's state_dict listings (keys, order, shapes, trainable count)") {
    for (const char* name : kSmpModels) {
        for (std::int64_t channels : {1, 3}) {
            CAPTURE(name);
            CAPTURE(channels);
            const auto model = models::make_model(name, channels, 1);
            check_summary_matches_listing(*model, std::string(name) + "_in" + std::to_string(channels));
        }
    }
}

TEST_CASE("models: EfficientNet channel and depth multipliers size the encoder as timm (smp listings)") {
    // smp's own timm-efficientnet-b3 (m 1.2, d 1.4) and a reduced encoder (m 0.25, d 0.3, the one of
    // the transfer fixtures) registered with smp by tools/dump_smp_keys.py. Each listing exercises
    // round_channels' rounding up (32 * 1.2 = 38.4 -> 40), its +8 when rounding loses over 10%
    // (16 * 1.2 = 19.2 -> 24, 40 * 0.25 = 10 -> 16), the minimum 8 and the ceil of the repeats
    // (4 * 0.3 = 1.2 -> 2 blocks, 4 * 1.4 = 5.6 -> 6).
    struct Case {
        const char* listing;
        double channel, depth;
        std::int64_t in;
        std::vector<std::int64_t> out_channels;
    };
    for (const Case& c : {Case{"timm-efficientnet-b3-unet_in3", 1.2, 1.4, 3, {3, 40, 32, 48, 136, 384}},
                          Case{"efficientnet-c0.25-d0.3-unet_in1", 0.25, 0.3, 1, {1, 8, 8, 16, 32, 80}}}) {
        CAPTURE(c.listing);
        auto encoder = std::make_shared<models::EfficientNetEncoder>(models::EfficientNetEncoderOptions()
                                                                         .in_channels(c.in)
                                                                         .channel_multiplier(c.channel)
                                                                         .depth_multiplier(c.depth));
        CHECK(encoder->out_channels() == c.out_channels);
        const models::SmpUnet model(encoder, models::SmpUnetOptions(), c.listing);
        check_summary_matches_listing(model, c.listing);
    }
    // The defaults are B0 exactly, and the multipliers are checked.
    CHECK(models::EfficientNetEncoder().out_channels() == std::vector<std::int64_t>{3, 32, 24, 40, 112, 320});
    CHECK(contains(error_of([] { models::EfficientNetEncoder(models::EfficientNetEncoderOptions().channel_multiplier(0)); }),
                   "channel_multiplier must be positive"));
    CHECK(contains(error_of([] { models::EfficientNetEncoder(models::EfficientNetEncoderOptions().depth_multiplier(-1)); }),
                   "depth_multiplier must be positive"));
}

TEST_CASE("models: the smp models compute what smp computes (formula weights, float64, train and eval)") {
    test_support::SafetensorsFile file(std::string(FBSEG_FIXTURE_DIR) + "/smp_keys/forward.safetensors");
    const std::vector<std::pair<std::string, std::vector<std::string>>> checks = {
        {"resnet18-unet", {"encoder.bn1.running_mean", "decoder.blocks.4.conv2.1.running_var"}},
        {"resnet34-unet", {"encoder.layer4.2.bn2.running_mean", "decoder.blocks.4.conv2.1.running_var"}},
        {"efficientnet-b0-unet", {"encoder.blocks.6.0.bn3.running_var", "decoder.blocks.0.conv1.1.running_mean"}}};
    for (const auto& [name, buffers] : checks) {
        CAPTURE(name);
        std::shared_ptr<models::SmpUnet> model;
        if (name == "efficientnet-b0-unet")  // stochastic depth off, as in the fixture
            model = std::make_shared<models::SmpUnet>(
                std::make_shared<models::EfficientNetEncoder>(
                    models::EfficientNetEncoderOptions().in_channels(1).drop_path_rate(0.0)),
                models::SmpUnetOptions(), name);
        else
            model = std::dynamic_pointer_cast<models::SmpUnet>(models::make_model(name, 1, 1));
        REQUIRE(model != nullptr);
        model->to(DType::Float64);
        load_formula_state(*model);
        for (auto& [path, m] : model->named_modules())
            if (auto* bn = dynamic_cast<nn::BatchNorm2d*>(m)) bn->options.momentum(1.0);

        const Tensor x = formula({2, 1, 32, 48}, 0.05, 0.1, 1.5);
        model->train();
        const Tensor y = model->forward(x);
        CHECK_ALLCLOSE(y, file.get(name + ".train.out"), 1e-9, 1e-9);
        for (const auto& key : buffers) {
            CAPTURE(key);
            CHECK_ALLCLOSE(state_named(*model, key), file.get(name + ".train." + key), 1e-9, 1e-9);
        }
        sum(mul(y, formula(y.shape(), 0.3, 0.0))).backward();
        const std::string first_conv = "encoder." + model->encoder->first_conv_name() + ".weight";
        for (const std::string& key : {first_conv, std::string("segmentation_head.0.weight")}) {
            CAPTURE(key);
            CHECK_ALLCLOSE(param_named(*model, key).grad(), file.get(name + ".grad." + key), 1e-7, 1e-7);
        }
        model->eval();
        NoGradGuard no_grad;
        CHECK_ALLCLOSE(model->forward(x), file.get(name + ".eval.out"), 1e-9, 1e-9);
    }
}

TEST_CASE("models: the classic UNet's layout and parameter count") {
    // Depth 4, base 32, 1 -> 1 channels, batch norm, transposed-conv up path.
    const auto model = models::make_model("unet", 1, 1);
    const std::string text = models::summary(*model);
    CHECK(contains(text, "encoder.0.0.weight [32, 1, 3, 3]\nencoder.0.1.weight [32]\n"));
    CHECK(contains(text, "encoder.4.3.weight [512, 512, 3, 3]\n"));
    CHECK(contains(text, "decoder.0.up.weight [512, 256, 2, 2]\ndecoder.0.up.bias [256]\n"));
    CHECK(contains(text, "decoder.3.conv.0.weight [32, 64, 3, 3]\n"));
    CHECK(contains(text, "head.weight [1, 32, 1, 1]\nhead.bias [1]\ntrainable parameters: "));
    // Independent count: a DoubleConv(i, o) with BN has 9 i o + 9 o o conv weights and 4 o BN
    // parameters; an up step (c -> c/2) has 4 c (c/2) + c/2 for the transposed conv.
    std::int64_t expected = 0;
    for (std::int64_t l = 0; l <= 4; ++l) {
        const std::int64_t i = l == 0 ? 1 : (32 << (l - 1)), o = 32 << l;
        expected += 9 * i * o + 9 * o * o + 4 * o;
    }
    for (std::int64_t l = 0; l < 4; ++l) {
        const std::int64_t c = 64 << l, o = 32 << l;
        expected += 4 * c * o + o + (9 * c * o + 9 * o * o + 4 * o);
    }
    expected += 32 + 1;
    CHECK(model->num_parameters(true) == expected);
    CHECK(expected == 7762465);

    // Without batch norm the convs get biases and the Sequential indices shift.
    models::UNet plain(models::UNetOptions().batch_norm(false).up_mode(models::UpMode::Bilinear).depth(2).base_channels(8));
    const std::string p = models::summary(plain);
    CHECK(contains(p, "encoder.0.0.weight [8, 1, 3, 3]\nencoder.0.0.bias [8]\nencoder.0.2.weight [8, 8, 3, 3]\n"));
    CHECK(contains(p, "decoder.0.up.1.weight [16, 32, 1, 1]\ndecoder.0.up.1.bias [16]\n"));
    CHECK(!contains(p, "running_mean"));
}

TEST_CASE("models: forward shapes in training and eval mode, a gradient for every used parameter") {
    manual_seed(7);
    struct Case {
        const char* name;
        std::int64_t in, classes, batch;
    };
    for (const Case& c : {Case{"unet", 1, 1, 2}, Case{"unet", 3, 2, 2}, Case{"resnet18-unet", 1, 1, 2},
                          Case{"resnet34-unet", 3, 1, 1}, Case{"efficientnet-b0-unet", 1, 1, 2}}) {
        CAPTURE(c.name);
        CAPTURE(c.in);
        const auto model = models::make_model(c.name, c.in, c.classes);
        const Tensor x = randn({c.batch, c.in, 64, 64});
        model->train();
        const Tensor y = model->forward(x);
        CHECK(y.shape() == Shape{c.batch, c.classes, 64, 64});
        mean(mul(y, y)).backward();
        std::int64_t with_grad = 0;
        for (const auto& [key, p] : model->named_parameters()) {
            CAPTURE(key);
            // smp keeps timm's classifier stem (conv_head, bn2) in the encoder but never runs it.
            const bool unused = contains(key, "encoder.conv_head.") || contains(key, "encoder.bn2.");
            if (unused) {
                CHECK(!p.grad().defined());
                continue;
            }
            REQUIRE(p.grad().defined());
            CHECK(p.grad().shape() == p.shape());
            ++with_grad;
        }
        CHECK(with_grad > 10);
        // One training step counted by every BatchNorm.
        for (const auto& [key, t] : model->state_dict())
            if (contains(key, "num_batches_tracked") && !contains(key, "encoder.bn2."))
                CHECK_MESSAGE(t.item<std::int64_t>() == 1, key);

        model->eval();
        NoGradGuard no_grad;
        const Tensor e1 = model->forward(x), e2 = model->forward(x);
        CHECK(e1.shape() == Shape{c.batch, c.classes, 64, 64});
        CHECK(fbseg::test::bitwise_equal(e1, e2));  // eval: no randomness, running statistics
    }
}

TEST_CASE("models: smp Unets accept sizes that are not multiples of 32, as smp 0.6") {
    manual_seed(3);
    const auto model = models::make_model("resnet18-unet", 1, 2);
    model->eval();
    NoGradGuard no_grad;
    CHECK(model->forward(randn({1, 1, 50, 70})).shape() == Shape{1, 2, 50, 70});
}

TEST_CASE("models: EfficientNet stochastic depth drops whole samples in training only") {
    manual_seed(11);
    const Tensor x = ones({400, 2, 3, 3});
    const Tensor y = models::efficientnet_detail::drop_path(x, 0.25, true);
    const std::vector<float> v = y.to_vector<float>();
    std::int64_t kept = 0;
    for (std::int64_t n = 0; n < 400; ++n) {
        const float first = v[std::size_t(n * 18)];
        CHECK((first == 0.0f || std::abs(first - 1.0f / 0.75f) < 1e-6f));
        for (std::int64_t j = 1; j < 18; ++j) CHECK(v[std::size_t(n * 18 + j)] == first);  // whole sample
        kept += first != 0.0f;
    }
    CHECK(kept > 260);  // expected 300 of 400
    CHECK(kept < 340);
    CHECK(models::efficientnet_detail::drop_path(x, 0.25, false).is_same(x));
}

TEST_CASE("models: bad inputs give errors naming the layer and the shapes") {
    manual_seed(5);
    const auto unet = models::make_model("unet", 1, 1);
    std::string e = error_of([&] { unet->forward(zeros({1, 64, 64})); });
    CHECK(contains(e, "UNet"));
    CHECK(contains(e, "[1, 64, 64]"));
    CHECK(contains(e, "4-D"));
    e = error_of([&] { unet->forward(zeros({2, 3, 64, 64})); });
    CHECK(contains(e, "encoder.0"));
    CHECK(contains(e, "1 input channels"));
    CHECK(contains(e, "[2, 3, 64, 64]"));
    e = error_of([&] { unet->forward(zeros({1, 1, 64, 72})); });
    CHECK(contains(e, "multiples of 16"));
    CHECK(contains(e, "[1, 1, 64, 72]"));

    const auto smp = std::dynamic_pointer_cast<models::SmpUnet>(models::make_model("resnet34-unet", 1, 1));
    REQUIRE(smp != nullptr);
    e = error_of([&] { smp->forward(zeros({2, 3, 64, 64})); });
    CHECK(contains(e, "resnet34-unet"));
    CHECK(contains(e, "encoder.conv1"));
    CHECK(contains(e, "[2, 3, 64, 64]"));

    // The decoder checks each skip connection: block 2 concatenates encoder feature 2 (64 channels).
    smp->eval();
    NoGradGuard no_grad;
    std::vector<Tensor> features = smp->encoder->forward(zeros({2, 1, 64, 64}));
    REQUIRE(features.size() == 6);
    features[2] = zeros({2, 65, 16, 16});
    e = error_of([&] { smp->decoder->forward(features); });
    CHECK(contains(e, "decoder.blocks.2"));
    CHECK(contains(e, "[2, 65, 16, 16]"));
    CHECK(contains(e, "[2, 64, 16, 16]"));   // what it expects
    CHECK(contains(e, "[2, 128, 16, 16]"));  // the upsampled input

    // Layers name themselves.
    nn::Conv2d conv(nn::Conv2dOptions(3, 8, 3).padding(1));
    e = error_of([&] { conv.forward(zeros({1, 4, 8, 8})); });
    CHECK(contains(e, "Conv2d(3, 8, kernel_size=3, padding=1)"));
    CHECK(contains(e, "[1, 4, 8, 8]"));
    nn::BatchNorm2d bn(16);
    e = error_of([&] { bn.forward(zeros({2, 8, 4, 4})); });
    CHECK(contains(e, "BatchNorm2d(16"));
    CHECK(contains(e, "[2, 8, 4, 4]"));

    e = error_of([&] { models::make_model("vgg-unet", 1, 1); });
    CHECK(contains(e, "unknown model 'vgg-unet'"));
    CHECK(contains(e, "efficientnet-b0-unet"));
}

TEST_CASE("models: a state_dict round trip reproduces the outputs") {
    manual_seed(21);
    models::UNet a(models::UNetOptions().depth(2).base_channels(8));
    manual_seed(22);
    models::UNet b(models::UNetOptions().depth(2).base_channels(8));
    const Tensor x = randn({2, 1, 16, 16});
    a.train();
    a.forward(x);  // moves the running statistics away from their initial values
    a.eval();
    b.eval();
    NoGradGuard no_grad;
    CHECK(!fbseg::test::bitwise_equal(a.forward(x), b.forward(x)));
    nn::NamedTensors state;
    for (const auto& [k, t] : a.state_dict()) state.emplace_back(k, t.clone());
    b.load_state_dict(state);
    CHECK(fbseg::test::bitwise_equal(a.forward(x), b.forward(x)));
}

TEST_CASE("models: the classic UNet learns to segment bright discs") {
    manual_seed(1234);
    Generator gen(99);
    models::UNet model(models::UNetOptions().depth(2).base_channels(8));
    optim::Adam opt(model.parameters(), optim::AdamOptions{.lr = 1e-2});
    Tensor val_images, val_masks;
    make_disc_batch(8, gen, val_images, val_masks);

    double first_loss = 0, last_loss = 0;
    const int steps = 40;
    model.train();
    for (int step = 0; step < steps; ++step) {
        Tensor images, masks;
        make_disc_batch(8, gen, images, masks);
        const Tensor loss = nn::binary_cross_entropy_with_logits(model.forward(images), masks);
        opt.zero_grad();
        loss.backward();
        opt.step();
        const double l = loss.item<double>();
        if (step == 0) first_loss = l;
        if (step >= steps - 5) last_loss += l / 5.0;
    }
    model.eval();
    NoGradGuard no_grad;
    const double dice = dice_of(model.forward(val_images), val_masks);
    MESSAGE("UNet disc task: loss ", first_loss, " -> ", last_loss, ", validation Dice ", dice);
    CHECK(last_loss < 0.5 * first_loss);
    CHECK(dice > 0.8);
}

}  // namespace models_tests
