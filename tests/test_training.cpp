// Tests of the training pieces: nn::Module (names, order, state_dict, strict loading, modes,
// zero_grad, containers), nn::init, the losses, the optimizers, gradient clipping and the
// learning-rate schedules.
//
//   - module names and order are PyTorch's (params then buffers per module, pre-order);
//   - init: bounds and sample statistics (fbseg's random numbers are not torch's);
//   - losses: float64 gradcheck, and parity with PyTorch (tools/make_training_fixtures.py ->
//     tests/fixtures/training.safetensors) within max|a - b| / max|b| <= 1e-5 in float32;
//   - optimizers: 10 steps over two parameter groups against torch.optim in float64 (<= 1e-6),
//     including skipped parameters (no gradient) and a state_dict round trip in the middle;
//   - clip_grad_norm_ and every schedule against PyTorch.
#include <doctest/doctest.h>

#include <array>
#include <cmath>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "fbseg/fbseg.hpp"
#include "fbseg/nn/container.hpp"
#include "fbseg/nn/init.hpp"
#include "fbseg/nn/loss.hpp"
#include "fbseg/nn/module.hpp"
#include "fbseg/optim/adam.hpp"
#include "fbseg/optim/clip.hpp"
#include "fbseg/optim/lr_scheduler.hpp"
#include "fbseg/optim/sgd.hpp"
#include "support/check.hpp"
#include "support/safetensors_reader.hpp"

namespace training_tests {  // a namespace of its own: the test files are compiled as one unity source

using namespace fbseg;
using fbseg::test::values;

namespace {

const test_support::SafetensorsFile& fixture() {
    static const test_support::SafetensorsFile file(FBSEG_FIXTURE_DIR "/training.safetensors");
    return file;
}

std::vector<std::string> keys_of(const nn::NamedTensors& list) {
    std::vector<std::string> out;
    for (const auto& [k, t] : list) out.push_back(k);
    return out;
}

// ---- a small module tree ----------------------------------------------------------------------

/// y = x * weight + bias, with a buffer, and an optional (undefined) extra parameter.
struct Affine : nn::UnaryModule {
    explicit Affine(std::int64_t n, double scale = 1.0) : nn::UnaryModule("Affine") {
        weight = register_parameter("weight", full({n}, scale));
        absent = register_parameter("absent", Tensor());  // like a conv without bias
        bias = register_parameter("bias", zeros({n}));
        count = register_buffer("count", zeros({}, TensorOptions(DType::Int64)));
    }
    Tensor forward(const Tensor& x) override { return x * weight + bias; }
    Tensor weight, absent, bias, count;
};

/// scale, then [a], then seq = [Affine, Affine]; `late` is registered after the submodules.
struct Net : nn::Module {
    Net() : nn::Module("Net") {
        scale = register_parameter("scale", ones({1}));
        steps = register_buffer("steps", zeros({2}));
        a = register_module("a", std::make_shared<Affine>(3, 2.0));
        seq = register_module("seq", std::make_shared<nn::Sequential>());
        seq->push_back(std::make_shared<Affine>(3, 3.0));
        seq->push_back(std::make_shared<Affine>(3, 4.0));
        late = register_parameter("late", zeros({2, 2}), false);  // frozen
    }
    Tensor forward(const Tensor& x) { return seq->forward(a->forward(x * scale)); }
    Tensor scale, steps, late;
    std::shared_ptr<Affine> a;
    std::shared_ptr<nn::Sequential> seq;
};

}  // namespace

// ============================== modules ==========================================================

TEST_CASE("training: module names and order follow PyTorch (params, then buffers, per module, pre-order)") {
    Net net;
    CHECK(keys_of(net.named_parameters()) ==
          std::vector<std::string>{"scale", "late", "a.weight", "a.bias", "seq.0.weight", "seq.0.bias",
                                   "seq.1.weight", "seq.1.bias"});
    CHECK(keys_of(net.named_parameters(false)) == std::vector<std::string>{"scale", "late"});
    CHECK(keys_of(net.named_buffers()) == std::vector<std::string>{"steps", "a.count", "seq.0.count", "seq.1.count"});
    CHECK(keys_of(net.state_dict()) ==
          std::vector<std::string>{"scale", "late", "steps", "a.weight", "a.bias", "a.count", "seq.0.weight",
                                   "seq.0.bias", "seq.0.count", "seq.1.weight", "seq.1.bias", "seq.1.count"});
    std::vector<std::string> modules;
    for (const auto& [name, m] : net.named_modules()) modules.push_back(name + ":" + m->name());
    CHECK(modules == std::vector<std::string>{":Net", "a:Affine", "seq:Sequential", "seq.0:Affine", "seq.1:Affine"});

    // parameters() are the registered handles themselves
    CHECK(net.parameters()[2].is_same(net.a->weight));
    CHECK(net.parameters().size() == 8);
    CHECK(net.a->weight.requires_grad());
    CHECK_FALSE(net.late.requires_grad());
    CHECK(net.num_parameters() == 1 + 4 + 3 * 6);  // scale, late, 3 x (weight + bias)
    CHECK(net.num_parameters(true) == 1 + 3 * 6);

    // registration errors
    nn::Module m("Block");
    m.register_parameter("w", ones({2}));
    CHECK_ERROR(m.register_parameter("w", ones({2})), "Block", "'w'", "already registered");
    CHECK_ERROR(m.register_buffer("w", ones({2})), "already registered");
    CHECK_ERROR(m.register_parameter("a.b", ones({2})), "must not contain '.'");
    CHECK_ERROR(m.register_parameter("", ones({2})), "must not be empty");
    CHECK_ERROR(m.register_parameter("i", zeros({2}, TensorOptions(DType::Int64))), "floating");
    // an integer tensor can be a frozen parameter or a buffer
    CHECK_NOTHROW(m.register_parameter("i", zeros({2}, TensorOptions(DType::Int64)), false));
    // a non-leaf is detached into a leaf
    Tensor x = ones({2}).set_requires_grad();
    Tensor p = m.register_parameter("from_op", x * 2.0);
    CHECK(p.is_leaf());
    CHECK(p.requires_grad());
}

TEST_CASE("training: state_dict aliases the module's tensors and round-trips through load_state_dict") {
    Net a, b;
    {
        NoGradGuard no_grad;
        Tensor w = a.seq->at<Affine>(1)->weight;
        w.copy_(from_vector<float>({7, 8, 9}));
        Tensor steps = a.steps;
        steps.fill_(5);
        Tensor count = a.a->count;
        count.fill_(3);
    }
    // the entries share storage with the module's tensors and carry no history
    const auto sd = a.state_dict();
    CHECK(sd[6].first == "seq.0.weight");
    CHECK(sd[9].second.storage() == a.seq->at<Affine>(1)->weight.storage());
    CHECK_FALSE(sd[9].second.requires_grad());

    nn::NamedTensors saved;
    for (const auto& [k, t] : sd) saved.emplace_back(k, t.clone());
    const auto result = b.load_state_dict(saved);
    CHECK(result.missing_keys.empty());
    CHECK(result.unexpected_keys.empty());
    const auto sa = a.state_dict(), sb = b.state_dict();
    REQUIRE(sa.size() == sb.size());
    for (std::size_t i = 0; i < sa.size(); ++i) CHECK_MESSAGE(test::bitwise_equal(sa[i].second, sb[i].second), sa[i].first);
    // the loaded module kept its own tensors (same handles, still leaves that require grad)
    CHECK(b.seq->at<Affine>(1)->weight.to_vector<float>() == std::vector<float>{7, 8, 9});
    CHECK(b.a->weight.requires_grad());
    CHECK(b.a->weight.is_leaf());
    CHECK(b.a->count.item<std::int64_t>() == 3);
    CHECK(b.steps.to_vector<float>() == std::vector<float>{5, 5});
    // the same outputs
    Tensor x = from_vector<float>({1, -2, 3});
    CHECK(test::bitwise_equal(a.forward(x), b.forward(x)));
}

TEST_CASE("training: a strict load_state_dict lists every missing, unexpected and mismatched key") {
    Net net;
    nn::NamedTensors state;
    for (const auto& [k, t] : net.state_dict()) {
        if (k == "a.bias" || k == "seq.1.count") continue;  // missing
        if (k == "scale") state.emplace_back(k, zeros({4}));  // wrong shape
        else if (k == "seq.0.weight") state.emplace_back(k, zeros({3, 1}));  // wrong shape
        else state.emplace_back(k, t.clone());
    }
    state.emplace_back("a.extra", zeros({1}));  // unexpected
    state.emplace_back("head.weight", zeros({1}));  // unexpected
    const auto before = net.a->weight.to_vector<float>();
    CHECK_ERROR(net.load_state_dict(state), "Net.load_state_dict", "4 error(s)", "missing keys: 'a.bias', 'seq.1.count'",
                "unexpected keys: 'a.extra', 'head.weight'",
                "size mismatch for 'scale': the state has shape [4], the module has shape [1]",
                "size mismatch for 'seq.0.weight': the state has shape [3, 1], the module has shape [3]");
    CHECK(net.a->weight.to_vector<float>() == before);  // a failed load changes nothing

    // non-strict: missing, unexpected and shape-mismatched keys are reported (and skipped)
    nn::NamedTensors partial{{"a.weight", full({3}, 5.0)}, {"nope", zeros({1})}};
    const auto result = net.load_state_dict(partial, false);
    CHECK(result.unexpected_keys == std::vector<std::string>{"nope"});
    CHECK(result.missing_keys.size() == 11);
    CHECK(net.a->weight.to_vector<float>() == std::vector<float>{5, 5, 5});
    const auto mismatch = net.load_state_dict({{"a.weight", zeros({2})}}, false);
    REQUIRE(mismatch.mismatched.size() == 1);
    CHECK(mismatch.mismatched[0].key == "a.weight");
    CHECK(mismatch.mismatched[0].found == Shape{2});
    CHECK(mismatch.loaded_keys.empty());
    CHECK(net.a->weight.to_vector<float>() == std::vector<float>{5, 5, 5});
    CHECK_ERROR(net.load_state_dict({{"a.weight", zeros({3})}, {"a.weight", zeros({3})}}, false), "duplicate key");
    // a float64 state is converted to the parameter's dtype, as torch's copy_ does
    net.load_state_dict({{"a.weight", full({3}, 0.5, TensorOptions(DType::Float64))}}, false);
    CHECK(net.a->weight.dtype() == DType::Float32);
    CHECK(net.a->weight.to_vector<float>() == std::vector<float>{0.5f, 0.5f, 0.5f});
}

TEST_CASE("training: train/eval propagate to every submodule; zero_grad; containers") {
    Net net;
    CHECK(net.is_training());
    net.eval();
    for (const auto& [n, m] : net.named_modules()) CHECK_MESSAGE(!m->is_training(), n);
    net.seq->train();
    CHECK(net.seq->at<Affine>(0)->is_training());
    CHECK_FALSE(net.a->is_training());
    net.train();
    for (const auto& [n, m] : net.named_modules()) CHECK_MESSAGE(m->is_training(), n);

    // zero_grad: set_to_none by default, or zeros in place
    Tensor y = sum(net.forward(from_vector<float>({1, 2, 3})));
    y.backward();
    CHECK(net.a->weight.grad().defined());
    CHECK_FALSE(net.late.grad().defined());  // frozen
    net.zero_grad(false);
    CHECK(net.a->weight.grad().to_vector<float>() == std::vector<float>{0, 0, 0});
    net.zero_grad();
    for (const auto& p : net.parameters()) CHECK_FALSE(p.grad().defined());

    // Sequential chains its elements; ModuleList only holds them
    nn::Sequential seq{std::make_shared<Affine>(2, 2.0), std::make_shared<Affine>(2, 3.0)};
    CHECK(seq.size() == 2);
    CHECK(seq.forward(from_vector<float>({1, -1})).to_vector<float>() == std::vector<float>{6, -6});
    CHECK(seq(from_vector<float>({2, 0})).to_vector<float>() == std::vector<float>{12, 0});
    CHECK(keys_of(seq.named_parameters()) == std::vector<std::string>{"0.weight", "0.bias", "1.weight", "1.bias"});
    CHECK_ERROR(seq.at<nn::Sequential>(0), "Sequential::at(0)", "Affine");
    CHECK_ERROR(seq[2], "index 2 is out of range");
    nn::ModuleList list;
    list.push_back(std::make_shared<Affine>(1));
    list.push_back(std::make_shared<Net>());
    CHECK(list.at<Net>(1)->scale.numel() == 1);
    CHECK(keys_of(list.named_parameters())[2] == "1.scale");
    int visited = 0;
    list.apply([&](nn::Module&) { ++visited; });
    CHECK(visited == 1 + 1 + 5);
}

// ============================== init =============================================================

TEST_CASE("training: init fans, gains, bounds and sample statistics") {
    using namespace nn::init;
    CHECK(calculate_fan_in_and_fan_out(empty({64, 32, 3, 3})).fan_in == 288);
    CHECK(calculate_fan_in_and_fan_out(empty({64, 32, 3, 3})).fan_out == 576);
    CHECK(calculate_fan_in_and_fan_out(empty({10, 20})).fan_in == 20);
    CHECK_ERROR(calculate_fan_in_and_fan_out(empty({5})), "fewer than 2 dims");
    CHECK(calculate_gain(Nonlinearity::Relu) == doctest::Approx(std::sqrt(2.0)));
    CHECK(calculate_gain(Nonlinearity::Tanh) == doctest::Approx(5.0 / 3.0));
    CHECK(calculate_gain(Nonlinearity::LeakyRelu) == doctest::Approx(std::sqrt(2.0 / (1 + 1e-4))));
    CHECK(calculate_gain(Nonlinearity::LeakyRelu, std::sqrt(5.0)) == doctest::Approx(std::sqrt(1.0 / 3.0)));

    auto stats = [](const Tensor& t) {
        const auto v = values(t);
        double mean = 0, sq = 0, mx = 0;
        for (double x : v) mean += x, mx = std::max(mx, std::abs(x));
        mean /= double(v.size());
        for (double x : v) sq += (x - mean) * (x - mean);
        return std::array<double, 3>{mean, std::sqrt(sq / double(v.size() - 1)), mx};
    };
    Generator gen(7);
    Tensor w = empty({64, 32, 3, 3}).set_requires_grad();  // a parameter: init works under NoGradGuard
    {
        kaiming_uniform_(w, 0.0, FanMode::FanIn, Nonlinearity::Relu, gen);
        const double bound = std::sqrt(3.0) * std::sqrt(2.0) / std::sqrt(288.0);
        const auto [mean, sd, mx] = stats(w);
        CHECK(mx <= bound);
        CHECK(mx > 0.99 * bound);
        CHECK(std::abs(mean) < 0.02 * bound);
        CHECK(sd == doctest::Approx(bound / std::sqrt(3.0)).epsilon(0.02));
        CHECK(w.requires_grad());
        CHECK(w.is_leaf());
    }
    {
        kaiming_normal_(w, 0.0, FanMode::FanOut, Nonlinearity::Relu, gen);
        const auto [mean, sd, mx] = stats(w);
        CHECK(sd == doctest::Approx(std::sqrt(2.0 / 576.0)).epsilon(0.02));
        CHECK(std::abs(mean) < 0.02 * sd);
    }
    {
        xavier_uniform_(w, 2.0, gen);
        const double bound = 2.0 * std::sqrt(6.0 / (288.0 + 576.0));
        const auto [mean, sd, mx] = stats(w);
        CHECK(mx <= bound);
        CHECK(mx > 0.99 * bound);
        CHECK(sd == doctest::Approx(bound / std::sqrt(3.0)).epsilon(0.02));
    }
    {
        xavier_normal_(w, 1.0, gen);
        const auto [mean, sd, mx] = stats(w);
        CHECK(sd == doctest::Approx(std::sqrt(2.0 / (288.0 + 576.0))).epsilon(0.02));
    }
    {
        Tensor t = empty({20000}, TensorOptions(DType::Float64));
        uniform_(t, -2.0, 3.0, gen);
        auto s = stats(t);
        CHECK(s[0] == doctest::Approx(0.5).epsilon(0.05));
        CHECK(s[1] == doctest::Approx(5.0 / std::sqrt(12.0)).epsilon(0.02));
        CHECK(s[2] <= 3.0);
        normal_(t, 1.5, 0.25, gen);
        s = stats(t);
        CHECK(s[0] == doctest::Approx(1.5).epsilon(0.01));
        CHECK(s[1] == doctest::Approx(0.25).epsilon(0.02));
        constant_(t, 4.0);
        CHECK(stats(t)[0] == 4.0);
        zeros_(t);
        CHECK(stats(t)[2] == 0.0);
        ones_(t);
        CHECK(stats(t)[0] == 1.0);
    }
    // PyTorch's conv default: both bounds 1/sqrt(fan_in); ConvTranspose2d's fan_in is size(1) * k * k
    for (const Shape& shape : {Shape{32, 16, 3, 3}, Shape{8, 16, 2, 2}}) {
        Tensor cw = empty(shape).set_requires_grad(), cb = empty({shape[0]}).set_requires_grad();
        nn::init::conv_default_init(cw, cb, gen);
        const double bound = 1.0 / std::sqrt(double(shape[1] * shape[2] * shape[3]));
        CHECK(stats(cw)[2] <= bound);
        CHECK(stats(cw)[2] > 0.95 * bound);
        CHECK(stats(cb)[2] <= bound);
    }
    // the same seed gives the same values
    Generator g1(99), g2(99);
    Tensor u1 = empty({4, 4}), u2 = empty({4, 4});
    kaiming_uniform_(u1, 0.0, FanMode::FanIn, Nonlinearity::LeakyRelu, g1);
    kaiming_uniform_(u2, 0.0, FanMode::FanIn, Nonlinearity::LeakyRelu, g2);
    CHECK(test::bitwise_equal(u1, u2));
    Tensor ints = zeros({2, 2}, TensorOptions(DType::Int64));
    CHECK_ERROR(uniform_(ints), "uniform_", "floating");
}

// ============================== losses ===========================================================

namespace {

using LossFn = std::function<Tensor(const Tensor& logits, const Tensor& target, const Tensor& pos_weight)>;

/// The fixture's cases (tools/make_training_fixtures.py, LOSS_CASES), rebuilt with fbseg.
const std::map<std::string, LossFn>& loss_cases() {
    using nn::DiceMode;
    using nn::Reduction;
    static const std::map<std::string, LossFn> cases{
        {"bce_mean", [](auto& x, auto& t, auto&) { return nn::binary_cross_entropy_with_logits(x, t); }},
        {"bce_sum", [](auto& x, auto& t, auto&) { return nn::binary_cross_entropy_with_logits(x, t, {}, Reduction::Sum); }},
        {"bce_none", [](auto& x, auto& t, auto&) { return nn::binary_cross_entropy_with_logits(x, t, {}, Reduction::None); }},
        {"bce_soft_mean", [](auto& x, auto& t, auto&) { return nn::binary_cross_entropy_with_logits(x, t); }},
        {"bce_pw_mean", [](auto& x, auto& t, auto& pw) { return nn::binary_cross_entropy_with_logits(x, t, pw); }},
        {"bce_pw_sum", [](auto& x, auto& t, auto& pw) { return nn::binary_cross_entropy_with_logits(x, t, pw, Reduction::Sum); }},
        {"bce_pw_none", [](auto& x, auto& t, auto& pw) { return nn::binary_cross_entropy_with_logits(x, t, pw, Reduction::None); }},
        {"dice_image_mean", [](auto& x, auto& t, auto&) { return nn::dice_loss(x, t, 1.0, DiceMode::PerImage); }},
        {"dice_image_sum", [](auto& x, auto& t, auto&) { return nn::dice_loss(x, t, 1.0, DiceMode::PerImage, Reduction::Sum); }},
        {"dice_image_none", [](auto& x, auto& t, auto&) { return nn::dice_loss(x, t, 0.5, DiceMode::PerImage, Reduction::None); }},
        {"dice_batch", [](auto& x, auto& t, auto&) { return nn::dice_loss(x, t, 1.0, DiceMode::Batch); }},
        {"dice_batch_soft", [](auto& x, auto& t, auto&) { return nn::dice_loss(x, t, 1e-3, DiceMode::Batch); }},
        {"focal_mean", [](auto& x, auto& t, auto&) { return nn::sigmoid_focal_loss(x, t); }},
        {"focal_noalpha_sum", [](auto& x, auto& t, auto&) { return nn::sigmoid_focal_loss(x, t, std::nullopt, 1.5, Reduction::Sum); }},
        {"focal_none", [](auto& x, auto& t, auto&) { return nn::sigmoid_focal_loss(x, t, 0.6, 3.0, Reduction::None); }},
        {"bce_dice", [](auto& x, auto& t, auto&) {
             return nn::bce_dice_loss(x, t, {.bce_weight = 0.7, .dice_weight = 0.3});
         }},
        {"bce_dice_pw_batch", [](auto& x, auto& t, auto& pw) {
             return nn::bce_dice_loss(x, t, {.dice_mode = DiceMode::Batch, .pos_weight = pw});
         }},
    };
    return cases;
}

}  // namespace

TEST_CASE("training: losses match PyTorch (values and gradients, float32)") {
    const auto& file = fixture();
    for (const auto& [name, fn] : loss_cases()) {
        CAPTURE(name);
        const std::string prefix = "loss." + name + ".";
        Tensor x = file.get(prefix + "logits").set_requires_grad();
        const Tensor t = file.get(prefix + "target");
        const Tensor pw = file.contains(prefix + "pos_weight") ? file.get(prefix + "pos_weight") : Tensor();
        Tensor loss = fn(x, t, pw);
        const Tensor expected = file.get(prefix + "loss");
        REQUIRE(loss.numel() == expected.numel());
        CHECK_CLOSE(loss, values(expected), 1e-5);
        if (file.contains(prefix + "gout")) loss.backward(file.get(prefix + "gout"));
        else loss.backward();
        CHECK_CLOSE(x.grad(), file.get(prefix + "grad"), 1e-5);
    }
}

TEST_CASE("training: losses pass float64 gradcheck") {
    test::Data data(11);
    for (const auto& [name, fn] : loss_cases()) {
        CAPTURE(name);
        Tensor x = data.tensor({2, 2, 3, 3}, -4.0, 4.0);
        // soft targets for BCE-like losses are allowed; use a mix of 0, 1 and fractions
        std::vector<double> tv = data.uniform_values(36, 0.0, 1.0);
        for (std::size_t i = 0; i < tv.size(); i += 3) tv[i] = tv[i] < 0.5 ? 0.0 : 1.0;
        const Tensor t = from_vector(tv, {2, 2, 3, 3});
        const Tensor pw = from_vector<double>({2.0, 0.5}, {2, 1, 1});
        REQUIRE_GRADCHECK([&](const std::vector<Tensor>& in) { return fn(in[0], t, pw); }, {x});
    }
}

TEST_CASE("training: BCE-with-logits is stable for large logits and exact at 0") {
    Tensor x = from_vector<float>({100.0f, -100.0f, 100.0f, -100.0f, 0.0f, 0.0f}).set_requires_grad();
    const Tensor t = from_vector<float>({0, 1, 1, 0, 1, 0});
    Tensor loss = nn::binary_cross_entropy_with_logits(x, t, {}, nn::Reduction::None);
    const auto v = loss.to_vector<float>();
    CHECK(v[0] == doctest::Approx(100.0));
    CHECK(v[1] == doctest::Approx(100.0));
    CHECK(v[2] == doctest::Approx(0.0));
    CHECK(v[3] == doctest::Approx(0.0));
    CHECK(v[4] == doctest::Approx(std::log(2.0)));
    CHECK(v[5] == doctest::Approx(std::log(2.0)));
    sum(loss).backward();
    // d/dx = sigmoid(x) - t
    const std::vector<float> expected{1, -1, 0, 0, -0.5f, 0.5f};
    const auto g = x.grad().to_vector<float>();
    for (std::size_t i = 0; i < g.size(); ++i) CHECK(g[i] == doctest::Approx(expected[i]).epsilon(1e-6));
    // focal and dice stay finite too
    Tensor f = nn::sigmoid_focal_loss(x.detach(), t);
    CHECK(std::isfinite(f.item<float>()));
    // a perfect, empty prediction of an empty mask is a perfect Dice (thanks to smooth)
    CHECK(nn::dice_loss(full({2, 1, 4, 4}, -100.0), zeros({2, 1, 4, 4})).item<float>() == doctest::Approx(0.0));
    CHECK_ERROR(nn::dice_loss(zeros({2, 1, 4, 4}), zeros({2, 1, 4})), "dice_loss", "shape");
    CHECK_ERROR(nn::binary_cross_entropy_with_logits(zeros({2, 2}), zeros({2, 2}, TensorOptions(DType::Float64))),
                "dtype");
    CHECK_ERROR(nn::binary_cross_entropy_with_logits(zeros({2, 3}), zeros({2, 3}), ones({2})), "pos_weight");
}

// ============================== optimizers =======================================================

namespace {

constexpr int kSteps = 10;
constexpr int kParams = 4;

struct OptimRun {
    std::vector<Tensor> params;
    std::unique_ptr<optim::Optimizer> optimizer;
};

/// The fixture's OPTIM_CONFIGS: p0, p1 in group 0 (defaults), p2, p3 in group 1 (overrides).
OptimRun make_optimizer(const std::string& name, const std::vector<Tensor>& init) {
    OptimRun run;
    for (const Tensor& t : init) run.params.push_back(t.clone().detach().set_requires_grad());
    auto groups = [&](optim::Options group1) {
        return std::vector<optim::ParamGroup>{{{run.params[0], run.params[1]}}, {{run.params[2], run.params[3]}, group1}};
    };
    if (name == "sgd")
        run.optimizer = std::make_unique<optim::SGD>(groups({{"lr", 0.05}, {"weight_decay", 0.01}}),
                                                     optim::SGDOptions{.lr = 0.1});
    else if (name == "sgd_momentum")
        run.optimizer = std::make_unique<optim::SGD>(
            groups({{"lr", 0.05}, {"momentum", 0.5}, {"weight_decay", 0.0}}),
            optim::SGDOptions{.lr = 0.1, .momentum = 0.9, .dampening = 0.1, .weight_decay = 0.01});
    else if (name == "sgd_nesterov")
        run.optimizer = std::make_unique<optim::SGD>(
            groups({{"lr", 0.02}, {"weight_decay", 0.05}}),
            optim::SGDOptions{.lr = 0.1, .momentum = 0.9, .weight_decay = 1e-3, .nesterov = true});
    else if (name == "adam")
        run.optimizer = std::make_unique<optim::Adam>(
            groups({{"lr", 5e-3}, {"weight_decay", 0.1}, {"beta1", 0.8}}), optim::AdamOptions{.lr = 1e-2});
    else if (name == "adam_amsgrad")
        run.optimizer = std::make_unique<optim::Adam>(
            groups({{"lr", 5e-3}, {"beta1", 0.8}, {"beta2", 0.99}}),
            optim::AdamOptions{.lr = 1e-2, .weight_decay = 0.01, .amsgrad = true});
    else if (name == "adamw")
        run.optimizer = std::make_unique<optim::AdamW>(
            groups({{"lr", 5e-3}, {"weight_decay", 0.1}, {"beta1", 0.8}, {"beta2", 0.99}, {"eps", 1e-6}}),
            optim::AdamWOptions{.lr = 1e-2, .weight_decay = 1e-2});
    else if (name == "adamw_amsgrad")
        run.optimizer = std::make_unique<optim::AdamW>(
            groups({{"lr", 5e-3}, {"weight_decay", 0.1}, {"beta1", 0.8}, {"beta2", 0.99}}),
            optim::AdamWOptions{.lr = 1e-2, .weight_decay = 1e-2, .amsgrad = true});
    else
        FBSEG_FAIL("no optimizer config ", name);
    return run;
}

const std::vector<std::string> kOptimConfigs{"sgd",          "sgd_momentum", "sgd_nesterov", "adam",
                                             "adam_amsgrad", "adamw",        "adamw_amsgrad"};

std::vector<Tensor> fixture_init() {
    std::vector<Tensor> init;
    for (int i = 0; i < kParams; ++i) init.push_back(fixture().get("optim.init.p" + std::to_string(i)));
    return init;
}

/// Gives each parameter its step-k gradient from the fixture (none where the mask says so).
void set_grads(const std::vector<Tensor>& params, int k) {
    const Tensor mask = fixture().get("optim.grad_defined");
    for (int i = 0; i < kParams; ++i) {
        Tensor p = params[std::size_t(i)];
        p.zero_grad();
        if (mask.at<double>({k, i}) != 0.0)
            p.set_grad(fixture().get("optim.grads.p" + std::to_string(i)).select(0, k).clone());
    }
}

void check_params(const std::string& name, const std::vector<Tensor>& params, int k) {
    for (int i = 0; i < kParams; ++i) {
        CAPTURE(name);
        CAPTURE(k);
        CAPTURE(i);
        const Tensor expected = fixture().get("optim." + name + ".p" + std::to_string(i)).select(0, k);
        CHECK_CLOSE(params[std::size_t(i)], expected, 1e-6);
    }
}

}  // namespace

TEST_CASE("training: SGD, Adam and AdamW match torch.optim over 10 steps with two parameter groups (float64)") {
    const auto init = fixture_init();
    for (const auto& name : kOptimConfigs) {
        OptimRun run = make_optimizer(name, init);
        for (int k = 0; k < kSteps; ++k) {
            set_grads(run.params, k);
            run.optimizer->step();
            check_params(name, run.params, k);
        }
        // steps record no graph
        for (const auto& p : run.params) CHECK(p.is_leaf());
    }
}

TEST_CASE("training: the fused Adam step gives the tensor operations' values (float32, every option)") {
    // A contiguous parameter takes the fused path (ops/cpu/optim.hpp); the same values as a
    // transposed view take the tensor operations of optim/adam.hpp. Both must agree per element.
    struct Config {
        const char* name;
        optim::AdamOptions options;
        bool decoupled;
    };
    const std::vector<Config> configs{
        {"adam", {.lr = 1e-2}, false},
        {"adam_l2", {.lr = 1e-2, .weight_decay = 0.1}, false},
        {"adam_amsgrad_l2", {.lr = 1e-2, .beta2 = 0.99, .weight_decay = 0.01, .amsgrad = true}, false},
        {"adam_beta1_0.3", {.lr = 3e-2, .beta1 = 0.3}, false},  // lerp's other branch: 1 - beta1 >= 0.5
        {"adamw", {.lr = 1e-2, .weight_decay = 0.05}, true},
        {"adamw_amsgrad", {.lr = 1e-2, .eps = 1e-6, .weight_decay = 0.01, .amsgrad = true}, true},
    };
    Generator gen(2024);
    const Tensor init = randn({7, 5}, TensorOptions(DType::Float32), gen);
    std::vector<Tensor> grads;
    for (int k = 0; k < 6; ++k) grads.push_back(randn({7, 5}, TensorOptions(DType::Float32), gen) * (k % 2 ? 10.0 : 0.1));
    for (const Config& c : configs) {
        CAPTURE(std::string(c.name));
        Tensor fused = init.clone().set_requires_grad();
        Tensor strided = init.t().contiguous().detach().t();  // the same values, transposed strides
        strided.set_requires_grad(true);
        REQUIRE_FALSE(strided.is_contiguous());
        auto make = [&](Tensor p) -> std::unique_ptr<optim::Optimizer> {
            if (c.decoupled)
                return std::make_unique<optim::AdamW>(
                    std::vector<Tensor>{p}, optim::AdamWOptions{c.options.lr, c.options.beta1, c.options.beta2,
                                                                c.options.eps, c.options.weight_decay, c.options.amsgrad});
            return std::make_unique<optim::Adam>(std::vector<Tensor>{p}, c.options);
        };
        auto opt_fused = make(fused), opt_strided = make(strided);
        for (std::size_t k = 0; k < grads.size(); ++k) {
            CAPTURE(k);
            fused.set_grad(grads[k].clone());
            strided.set_grad(grads[k].clone());
            const std::uint64_t version = fused.version();
            opt_fused->step();
            opt_strided->step();
            CHECK(fused.version() > version);  // the fused kernel marks p as written
            CHECK_ALLCLOSE(fused, strided.contiguous(), 1e-7, 1e-6);
        }
        CHECK(kernel::fused_adam_supported(fused, fused.grad(), zeros_like(fused), zeros_like(fused), Tensor()));
        CHECK_FALSE(kernel::fused_adam_supported(strided, strided.grad(), zeros_like(fused), zeros_like(fused), Tensor()));
    }
}

TEST_CASE("training: optimizer state_dict / load_state_dict resumes exactly") {
    const auto init = fixture_init();
    for (const auto& name : kOptimConfigs) {
        CAPTURE(name);
        OptimRun first = make_optimizer(name, init);
        for (int k = 0; k < 5; ++k) {
            set_grads(first.params, k);
            first.optimizer->step();
        }
        optim::StateDict saved = first.optimizer->state_dict();
        for (auto& [key, t] : saved.tensors) t = t.clone();
        if (name.rfind("adam", 0) == 0) {
            CHECK(saved.tensors.count("state.0.exp_avg"));
            CHECK(saved.scalars.at("state.0.step") == 5);
            CHECK(saved.scalars.at("state.3.step") == 3);  // p3 had no gradient at steps 3 and 4
            CHECK(saved.scalars.at("param_groups.1.beta1") == 0.8);
        }
        if (name == "sgd_momentum") CHECK(saved.tensors.count("state.2.momentum_buffer"));
        CHECK(saved.scalars.at("param_groups.0.num_params") == 2);

        // a fresh optimizer (built with other hyperparameters) over the parameters after step 5
        std::vector<Tensor> now;
        for (const auto& p : first.params) now.push_back(p.detach().clone());
        OptimRun second = make_optimizer(name, now);
        second.optimizer->param_groups()[1].set_lr(123.0);
        second.optimizer->load_state_dict(saved);
        CHECK(second.optimizer->param_groups()[1].lr() == first.optimizer->param_groups()[1].lr());
        for (int k = 5; k < kSteps; ++k) {
            set_grads(second.params, k);
            second.optimizer->step();
            check_params(name, second.params, k);
        }
    }
    // errors name every problem
    OptimRun run = make_optimizer("adam", init);
    set_grads(run.params, 0);
    run.optimizer->step();
    optim::StateDict bad = run.optimizer->state_dict();
    bad.tensors["state.0.exp_avg"] = zeros({2});
    bad.tensors["state.9.exp_avg"] = zeros({2});
    bad.scalars["param_groups.0.momentum"] = 0.9;
    bad.scalars["param_groups.1.num_params"] = 3;
    CHECK_ERROR(run.optimizer->load_state_dict(bad), "Adam.load_state_dict", "4 error(s)",
                "size mismatch for 'state.0.exp_avg'", "'state.9.exp_avg': the optimizer has only 4 parameters",
                "'param_groups.0.momentum': unknown hyperparameter", "parameter group 1 has 2 parameters");
}

TEST_CASE("training: optimizer construction checks and zero_grad") {
    Tensor a = ones({2}, TensorOptions(DType::Float64).requires_grad());
    Tensor b = ones({2}, TensorOptions(DType::Float64).requires_grad());
    CHECK_ERROR(optim::SGD(std::vector<optim::ParamGroup>{{{a}, {{"betas", 0.9}}}}), "SGD", "unknown hyperparameter 'betas'");
    CHECK_ERROR(optim::SGD(std::vector<optim::ParamGroup>{{{a}}, {{a, b}}}), "more than one parameter group");
    CHECK_ERROR(optim::SGD(std::vector<Tensor>{a}, {.nesterov = true}), "nesterov");
    CHECK_ERROR(optim::Adam(std::vector<Tensor>{a}, {.beta1 = 1.0}), "beta1");
    CHECK_ERROR(optim::SGD(std::vector<Tensor>{a * 2.0}), "non-leaf");
    optim::SGD opt(std::vector<Tensor>{a, b}, {.lr = 0.5});
    CHECK(opt.param_groups()[0].get("momentum") == 0.0);  // defaults fill the group
    sum(a * b).backward();
    opt.step();
    CHECK(a.to_vector<double>() == std::vector<double>{0.5, 0.5});
    opt.zero_grad(false);
    CHECK(a.grad().to_vector<double>() == std::vector<double>{0, 0});
    opt.zero_grad();
    CHECK_FALSE(a.grad().defined());
    opt.step();  // no gradients: nothing moves
    CHECK(a.to_vector<double>() == std::vector<double>{0.5, 0.5});
    opt.add_param_group({{ones({1}, TensorOptions(DType::Float64).requires_grad())}, {{"lr", 0.1}}});
    CHECK(opt.param_groups().size() == 2);
    CHECK(opt.param_groups()[1].lr() == 0.1);
}

// ============================== clipping and schedules ==========================================

TEST_CASE("training: clip_grad_norm_ matches torch.nn.utils.clip_grad_norm_") {
    const std::map<std::string, std::pair<double, double>> cases{
        {"l2", {1.0, 2.0}}, {"l2_noop", {100.0, 2.0}}, {"inf", {0.5, INFINITY}}, {"l1", {2.0, 1.0}}};
    for (const auto& [name, c] : cases) {
        CAPTURE(name);
        std::vector<Tensor> params;
        for (int i = 0; i < 3; ++i) {
            const Tensor g = fixture().get("clip.g" + std::to_string(i));
            Tensor p = zeros_like(g).set_requires_grad();
            p.set_grad(g.clone());
            params.push_back(p);
        }
        params.push_back(zeros({3}, TensorOptions(DType::Float64).requires_grad()));  // no grad: skipped
        const double norm = optim::clip_grad_norm_(params, c.first, c.second);
        CHECK(norm == doctest::Approx(fixture().get("clip." + name + ".norm").item<double>()).epsilon(1e-12));
        for (int i = 0; i < 3; ++i)
            CHECK_CLOSE(params[std::size_t(i)].grad(), fixture().get("clip." + name + ".g" + std::to_string(i)), 1e-12);
    }
    CHECK(optim::clip_grad_norm_({}, 1.0) == 0.0);
    Tensor p = zeros({2}, TensorOptions(DType::Float64).requires_grad());
    p.set_grad(from_vector<double>({NAN, 1.0}));
    CHECK_ERROR(optim::clip_grad_norm_({p}, 1.0, 2.0, true), "clip_grad_norm_", "nan");
}

TEST_CASE("training: learning-rate schedules match torch.optim.lr_scheduler over 24 steps") {
    using namespace optim;
    const std::vector<std::string> names{"step",          "multistep",   "exponential", "polynomial",
                                         "warmup_cosine", "plateau_min", "plateau_max"};
    for (const auto& name : names) {
        CAPTURE(name);
        std::vector<Tensor> params{zeros({1}, TensorOptions(DType::Float64).requires_grad()),
                                   zeros({1}, TensorOptions(DType::Float64).requires_grad())};
        SGD opt(std::vector<ParamGroup>{{{params[0]}, {{"lr", 0.1}}}, {{params[1]}, {{"lr", 0.02}}}});
        std::unique_ptr<LRScheduler> sched;
        std::unique_ptr<ReduceLROnPlateau> plateau;
        if (name == "step") sched = std::make_unique<StepLR>(opt, 3, 0.5);
        if (name == "multistep") sched = std::make_unique<MultiStepLR>(opt, std::vector<std::int64_t>{4, 9, 9, 15}, 0.3);
        if (name == "exponential") sched = std::make_unique<ExponentialLR>(opt, 0.85);
        if (name == "polynomial") sched = std::make_unique<PolynomialLR>(opt, 15, 2.0);
        if (name == "warmup_cosine") sched = std::make_unique<WarmupCosineLR>(opt, 5, 20, 1e-3);
        if (name == "plateau_min")
            plateau = std::make_unique<ReduceLROnPlateau>(
                opt, ReduceLROnPlateauOptions{.mode = PlateauMode::Min, .factor = 0.5, .patience = 2, .threshold = 0.01,
                                              .threshold_mode = ThresholdMode::Rel, .cooldown = 1,
                                              .min_lr = {0.01, 0.005}});
        if (name == "plateau_max")
            plateau = std::make_unique<ReduceLROnPlateau>(
                opt, ReduceLROnPlateauOptions{.mode = PlateauMode::Max, .factor = 0.3, .patience = 1, .threshold = 0.05,
                                              .threshold_mode = ThresholdMode::Abs, .cooldown = 0, .min_lr = {0.001}});
        const Tensor expected = fixture().get("sched." + name + ".lr");
        const std::vector<double> metric =
            plateau ? values(fixture().get("sched." + name + ".metric")) : std::vector<double>{};
        std::vector<double> got;
        for (int k = 0; k <= 24; ++k) {
            if (k > 0) {
                opt.step();
                if (plateau) plateau->step(metric[std::size_t(k - 1)]);
                else sched->step();
            }
            for (const auto& g : opt.param_groups()) got.push_back(g.lr());
        }
        CHECK_ALLCLOSE(got, values(expected), 0.0, 1e-12);  // learning rates: relative per element
        if (sched) CHECK(sched->last_epoch() == 24);
    }
}

TEST_CASE("training: scheduler state_dict round trips") {
    using namespace optim;
    Tensor p = zeros({1}, TensorOptions(DType::Float64).requires_grad());
    SGD opt(std::vector<Tensor>{p}, {.lr = 0.1});
    WarmupCosineLR a(opt, 5, 20, 1e-3);
    for (int k = 0; k < 7; ++k) a.step();
    const StateDict saved = a.state_dict();
    CHECK(saved.scalars.at("last_epoch") == 7);
    const double lr7 = opt.param_groups()[0].lr();
    a.step();
    const double lr8 = opt.param_groups()[0].lr();

    // resume: a new optimizer at the same (decayed) lr, a new scheduler, then the saved state
    Tensor q = zeros({1}, TensorOptions(DType::Float64).requires_grad());
    SGD opt2(std::vector<Tensor>{q}, {.lr = lr7});
    WarmupCosineLR b(opt2, 5, 20, 1e-3);
    b.load_state_dict(saved);
    CHECK(opt2.param_groups()[0].lr() == lr7);
    CHECK(b.base_lrs()[0] == 0.1);
    b.step();
    CHECK(opt2.param_groups()[0].lr() == doctest::Approx(lr8).epsilon(1e-15));

    ReduceLROnPlateau plateau(opt, {.patience = 0});
    plateau.step(1.0);
    plateau.step(2.0);
    const StateDict ps = plateau.state_dict();
    CHECK(ps.scalars.at("best") == 1.0);
    ReduceLROnPlateau plateau2(opt, {.patience = 0});
    plateau2.load_state_dict(ps);
    CHECK(plateau2.best() == 1.0);
    CHECK(plateau2.last_epoch() == 2);
    CHECK_ERROR(StepLR(opt, 0), "step_size");
    CHECK_ERROR(WarmupCosineLR(opt, 5, 5), "warmup_steps");
}

TEST_CASE("training: a BatchNorm2d synchronised over 3 replicated ranks computes what batch_norm computes") {
    // distributed::ReplicatedGroup(3): the global batch is 3 copies of this one, so its mean and
    // (biased) variance are this batch's; y, the running mean and every gradient must be those of
    // the plain layer, and the running variance's unbiased factor is 3M / (3M - 1) instead of
    // M / (M - 1) (M = 2 * 4 * 4 = 32 values per channel).
    manual_seed(4);
    const Tensor x = randn({2, 3, 4, 4}, TensorOptions(DType::Float64)) * 2.0 + 1.0;
    const Tensor dy = randn({2, 3, 4, 4}, TensorOptions(DType::Float64));
    auto make = [] {
        auto bn = std::make_shared<nn::BatchNorm2d>(3);
        bn->to(DType::Float64);
        NoGradGuard no_grad;
        bn->weight.copy_(from_vector<double>({0.5, 1.5, -1.0}, {3}));
        bn->bias.copy_(from_vector<double>({0.1, -0.2, 0.3}, {3}));
        return bn;
    };
    auto plain = make(), synced = make();
    distributed::ReplicatedGroup group(3);
    CHECK(distributed::convert_sync_batchnorm(*synced, &group) == 1);
    const Tensor xa = x.clone().set_requires_grad(true), xb = x.clone().set_requires_grad(true);
    const Tensor ya = plain->forward(xa), yb = synced->forward(xb);
    sum(mul(ya, dy)).backward();
    sum(mul(yb, dy)).backward();
    auto close = [](const Tensor& a, const Tensor& b) {
        const std::vector<double> u = a.contiguous().to_vector<double>(), v = b.contiguous().to_vector<double>();
        REQUIRE(u.size() == v.size());
        for (std::size_t i = 0; i < u.size(); ++i)
            if (!(std::abs(u[i] - v[i]) <= 1e-12 + 1e-10 * std::abs(u[i]))) return false;
        return true;
    };
    CHECK(close(ya, yb));
    CHECK(close(xa.grad(), xb.grad()));
    CHECK(close(plain->weight.grad(), synced->weight.grad()));
    CHECK(close(plain->bias.grad(), synced->bias.grad()));
    CHECK(close(plain->running_mean, synced->running_mean));
    // running_var = 0.9 * 1 + 0.1 * var * factor: the two factors' ratio, from the updates
    const std::vector<double> ra = plain->running_var.to_vector<double>(), rb = synced->running_var.to_vector<double>();
    for (std::size_t k = 0; k < 3; ++k) {
        const double var_a = (ra[k] - 0.9) / 0.1 / (32.0 / 31.0), var_b = (rb[k] - 0.9) / 0.1 / (96.0 / 95.0);
        CHECK(var_a == doctest::Approx(var_b).epsilon(1e-12));
    }
    // the GPU's path (tensor ops and a differentiable all_reduce), run here on the CPU: the same
    // numbers and, through autograd, the same gradients
    const Tensor xe = x.clone().set_requires_grad(true);
    const Tensor w = from_vector<double>({0.5, 1.5, -1.0}, {3}).set_requires_grad(true);
    const Tensor b = from_vector<double>({0.1, -0.2, 0.3}, {3}).set_requires_grad(true);
    Tensor rm = zeros({3}, TensorOptions(DType::Float64)), rv = ones({3}, TensorOptions(DType::Float64));
    const Tensor ye = distributed::sync_batch_norm_composite(xe, rm, rv, w, b, 0.1, 1e-5, group);
    sum(mul(ye, dy)).backward();
    CHECK(close(ya, ye));
    CHECK(close(xa.grad(), xe.grad()));
    CHECK(close(plain->weight.grad(), w.grad()));
    CHECK(close(plain->bias.grad(), b.grad()));
    CHECK(close(synced->running_mean, rm));
    CHECK(close(synced->running_var, rv));

    // a group of one is the plain layer itself, bit for bit
    distributed::SingleProcess alone;
    auto single = make();
    distributed::convert_sync_batchnorm(*single, &alone);
    const Tensor xc = x.clone();
    const Tensor yc = single->forward(xc);
    const Tensor yd = make()->forward(x.clone());
    CHECK(std::memcmp(yc.contiguous().data_ptr<double>(), yd.contiguous().data_ptr<double>(), sizeof(double) * 96) == 0);
}

}  // namespace training_tests
