// Tests of the multi-class soft Dice loss and CE + Dice (include/fbseg/nn/loss.hpp), suite
// "losses": values worked by hand, parity with MONAI 1.6's DiceLoss(softmax=True,
// to_onehot_y=True) and DiceCELoss (tools/make_loader_fixtures.py ->
// fixtures/loader/monai_dice.safetensors; loss and logits gradient computed by MONAI in float64
// from the float32 logits), and the error messages. Gradcheck in float64 and PyTorch parity of
// these losses run from the op harness (tests/harness/cases/class_loss.hpp). Tolerances, per
// element: float64 against MONAI 1e-12 absolute + 1e-10 relative (the same sums in another
// order); float32 1e-5 absolute + 1e-5 relative.
#include <doctest/doctest.h>

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "fbseg/autograd/engine.hpp"
#include "fbseg/nn/loss.hpp"
#include "fbseg/ops/factory.hpp"
#include "support/check.hpp"
#include "support/safetensors_reader.hpp"

namespace losses_tests {  // a namespace of its own: the test files are compiled as one unity source

using namespace fbseg;
using fbseg::test::values;

namespace {

const test_support::SafetensorsFile& monai_fixture() {
    static const test_support::SafetensorsFile file(std::string(FBSEG_FIXTURE_DIR) + "/loader/monai_dice.safetensors");
    return file;
}

/// The MONAI arguments of a fixture case as fbseg's options.
nn::MulticlassDiceOptions options_of(const nlohmann::json& m) {
    nn::MulticlassDiceOptions o;
    o.include_background = m.at("include_background").get<bool>();
    o.smooth_nr = m.at("smooth_nr").get<double>();
    o.smooth_dr = m.at("smooth_dr").get<double>();
    o.mode = m.at("batch").get<bool>() ? nn::DiceMode::Batch : nn::DiceMode::PerImage;
    const std::string r = m.value("reduction", std::string("mean"));
    o.reduction = r == "none" ? nn::Reduction::None : r == "sum" ? nn::Reduction::Sum : nn::Reduction::Mean;
    if (m.contains("ignore_index")) o.ignore_index = m.at("ignore_index").get<std::int64_t>();
    return o;
}

}  // namespace

TEST_CASE("losses: multiclass_dice_loss on a case worked by hand") {
    // logits 0 everywhere: p = 1/2 for both classes at both pixels; target [0, 1].
    // class k: sum(p t) = 1/2, sum(p) = 1, sum(t) = 1.
    const Tensor logits = zeros({1, 2, 1, 2}, TensorOptions(DType::Float64));
    const Tensor target = from_vector(std::vector<std::int64_t>{0, 1}, {1, 1, 2});
    nn::MulticlassDiceOptions o;
    o.smooth_nr = 0;
    o.smooth_dr = 0;
    // dice_k = 2 (1/2) / (1 + 1) = 1/2 -> loss 1/2 for each class, mean 1/2
    CHECK(values(nn::multiclass_dice_loss(logits, target, o))[0] == doctest::Approx(0.5).epsilon(1e-15));
    o.smooth_nr = o.smooth_dr = 1;
    o.reduction = nn::Reduction::None;
    // dice_k = (1 + 1) / (2 + 1) = 2/3 -> loss 1/3, shape [N, K] = [1, 2]
    const Tensor none = nn::multiclass_dice_loss(logits, target, o);
    CHECK_SHAPE(none, {1, 2});
    CHECK_CLOSE(none, (std::vector<double>{1.0 / 3, 1.0 / 3}), 1e-15);
    // ignore_index 1 (a class): pixel 1 leaves every sum, pixel 0 (label 0) stays.
    // class 0: sum(p t) = 1/2, sum(p) = 1/2, sum(t) = 1 -> (1 + 1) / (1.5 + 1) = 0.8, loss 0.2;
    // class 1 (kept, as MONAI): sum(p t) = 0, sum(p) = 1/2, sum(t) = 0 -> 1 / 1.5, loss 1/3.
    o.ignore_index = 1;
    CHECK_CLOSE(nn::multiclass_dice_loss(logits, target, o), (std::vector<double>{0.2, 1.0 / 3}), 1e-15);
    // without background only class 1 is left; Sum of one element
    o.include_background = false;
    o.reduction = nn::Reduction::Sum;
    CHECK(values(nn::multiclass_dice_loss(logits, target, o))[0] == doctest::Approx(1.0 / 3).epsilon(1e-15));
    // a perfect prediction (logits +-30) with smooth 1e-5: loss ~ 0 (1 - (2 + s) / (2 + s) up to e^-60)
    const Tensor sure = from_vector(std::vector<double>{30, -30, -30, 30}, {1, 2, 1, 2});
    CHECK(values(nn::multiclass_dice_loss(sure, target))[0] == doctest::Approx(0.0).epsilon(1e-12));
}

TEST_CASE("losses: multiclass_dice_loss and ce_dice_loss match MONAI's DiceLoss and DiceCELoss") {
    const nlohmann::json cases = nlohmann::json::parse(monai_fixture().metadata("cases"));
    int checked = 0;
    for (const auto& item : cases.items()) {
        const std::string name = item.key();  // (clang 14 cannot capture structured bindings)
        const nlohmann::json& args = item.value();
        INFO("case ", name, " ", args.dump());
        const Tensor logits32 = monai_fixture().get(name + ".logits");
        const Tensor target = monai_fixture().get(name + ".target");
        const std::vector<double> expected = values(monai_fixture().get(name + ".loss"));
        const Tensor gout = monai_fixture().get(name + ".gout");
        const std::vector<double> expected_grad = values(monai_fixture().get(name + ".grad"));
        const bool dice_ce = name == "dice_ce";
        auto loss_of = [&](const Tensor& x) {
            if (!dice_ce) return nn::multiclass_dice_loss(x, target, options_of(args));
            nn::CeDiceOptions o;
            o.dice = options_of(args);
            o.ce_weight = args.at("lambda_ce").get<double>();
            o.dice_weight = args.at("lambda_dice").get<double>();
            return nn::ce_dice_loss(x, target, o);
        };
        for (DType dtype : {DType::Float64, DType::Float32}) {
            const bool f64 = dtype == DType::Float64;
            Tensor x = logits32.to(dtype).detach();
            x.set_requires_grad(true);
            const Tensor loss = loss_of(x);
            const Tensor flat = loss.reshape({-1});
            CHECK_ALLCLOSE(flat, expected, f64 ? 1e-12 : 1e-5, f64 ? 1e-10 : 1e-5);
            sum(mul(flat, gout.to(dtype))).backward();
            CHECK_ALLCLOSE(x.grad(), expected_grad, f64 ? 1e-12 : 1e-6, f64 ? 1e-10 : 1e-4);
        }
        ++checked;
    }
    CHECK(checked == 6);
}

TEST_CASE("losses: CeDiceLoss is ce_dice_loss with its class weight as a buffer") {
    const Tensor logits = from_vector(std::vector<float>{0.3f, -1.2f, 2.0f, 0.1f, 0.5f, -0.4f}, {1, 3, 1, 2});
    const Tensor target = from_vector(std::vector<std::int64_t>{2, 0}, {1, 1, 2});
    const Tensor weight = from_vector(std::vector<float>{1.0f, 2.0f, 0.5f});
    nn::CeDiceOptions o;
    o.class_weight = weight;
    o.ce_weight = 0.25;
    o.dice.include_background = false;
    nn::CeDiceLoss module(o);
    CHECK(module.named_buffers().size() == 1);
    const double expected = values(nn::ce_dice_loss(logits, target, o))[0];
    CHECK(values(module(logits, target))[0] == expected);
    // = 0.25 CE + Dice (mean over classes 1, 2), each computed on its own
    const double ce = values(nn::cross_entropy(logits, target, weight))[0];
    nn::MulticlassDiceOptions d;
    d.include_background = false;
    const double dice = values(nn::multiclass_dice_loss(logits, target, d))[0];
    CHECK(expected == doctest::Approx(0.25 * ce + dice).epsilon(1e-6));
}

TEST_CASE("losses: multiclass_dice_loss errors name the problem") {
    const Tensor logits = zeros({2, 3, 2, 2});
    CHECK_ERROR(nn::multiclass_dice_loss(logits, zeros({2, 2, 2}, TensorOptions(DType::Int64)).reshape({2, 4})),
                "multiclass_dice_loss", "[2, 4]", "expected target [2, 2, 2]");
    CHECK_ERROR(nn::multiclass_dice_loss(logits, zeros({2, 2, 2})), "int64 class indices", "float32");
    CHECK_ERROR(nn::multiclass_dice_loss(zeros({2, 1, 2, 2}), zeros({2, 2, 2}, TensorOptions(DType::Int64))), "K >= 2",
                "dice_loss");
    Tensor bad = zeros({2, 2, 2}, TensorOptions(DType::Int64));
    bad.data_ptr<std::int64_t>()[5] = 3;
    CHECK_ERROR(nn::multiclass_dice_loss(logits, bad), "target value 3", "3 classes");
    nn::MulticlassDiceOptions o;
    o.ignore_index = 3;  // now the 3 is ignored, no error
    CHECK(values(nn::multiclass_dice_loss(logits, bad, o)).size() == 1);
    o.smooth_dr = -1;
    CHECK_ERROR(nn::multiclass_dice_loss(logits, bad, o), "smooth_dr", "-1");
}

}  // namespace losses_tests
