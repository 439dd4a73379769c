// Inference fusion (nn/fusion.hpp, conv2d_inference in ops/conv.hpp): a batch norm folded into
// the convolution before it and the ReLU applied in the convolution's epilogue give the unfused
// modules' outputs up to rounding; the fold follows every change of the tensors it came from;
// training and grad mode never take the fused path.
#include <doctest/doctest.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "fbseg/fbseg.hpp"

namespace fusion_tests {  // a namespace of its own: the test files are compiled as one unity source

using namespace fbseg;

/// Turns inference fusion off for one scope.
struct FusionOff {
    FusionOff() { nn::set_inference_fusion(false); }
    ~FusionOff() { nn::set_inference_fusion(true); }
};

/// The largest |a - b| / (atol + rtol |b|) over the elements: <= 1 when every element passes.
double worst_ratio(const Tensor& a, const Tensor& b, double atol, double rtol) {
    REQUIRE(a.shape() == b.shape());
    const std::vector<double> va = a.to(DType::Float64).to_vector<double>(),
                              vb = b.to(DType::Float64).to_vector<double>();
    double worst = 0.0;
    for (std::size_t i = 0; i < va.size(); ++i)
        worst = std::max(worst, std::abs(va[i] - vb[i]) / (atol + rtol * std::abs(vb[i])));
    return worst;
}

/// Whether a and b hold the same values (compared as float64).
bool equal(const Tensor& a, const Tensor& b) {
    return a.shape() == b.shape() &&
           a.to(DType::Float64).to_vector<double>() == b.to(DType::Float64).to_vector<double>();
}

/// Random affine parameters and running statistics for every batch norm of `model` (the defaults,
/// mean 0, var 1, weight 1, bias 0, would make the fold an identity and hide a mistake): weight
/// and var in 1 +- spread, bias and mean around 0 with deviation spread / 2.
void randomise_batch_norms(nn::Module& model, Generator& gen, double spread = 0.9) {
    NoGradGuard no_grad;
    auto around_one = [&](std::int64_t c) { return add(mul(rand({c}, {}, gen), 2.0 * spread), 1.0 - spread); };
    for (auto& [name, m] : model.named_modules()) {
        auto* bn = dynamic_cast<nn::BatchNorm2d*>(m);
        if (bn == nullptr) continue;
        const std::int64_t c = bn->options.num_features_;
        if (bn->options.affine_) {
            bn->weight.copy_(around_one(c));
            bn->bias.copy_(mul(randn({c}, {}, gen), spread / 2));
        }
        bn->running_mean.copy_(mul(randn({c}, {}, gen), spread / 2));
        bn->running_var.copy_(around_one(c));
    }
}

TEST_CASE("ops: conv2d_inference is relu(conv2d) on the direct path, im2col, 1x1, strided and depthwise layers") {
    struct Case {
        const char* name;
        std::int64_t n, c_in, h, w, c_out, k, stride, pad, groups;
    };
    const std::vector<Case> cases = {
        {"3x3 32 -> 40 (direct, a partial block)", 2, 32, 20, 24, 40, 3, 1, 1, 1},
        {"3x3/2 16 -> 24", 1, 16, 17, 19, 24, 3, 2, 1, 1},
        {"1x1 24 -> 8", 2, 24, 9, 11, 8, 1, 1, 0, 1},
        {"7x7/2 stem 3 -> 16", 1, 3, 30, 34, 16, 7, 2, 3, 1},
        {"depthwise 3x3 12", 2, 12, 13, 15, 12, 3, 1, 1, 12},
        {"3x3 512 -> 40 at 4 x 4 (im2col)", 2, 512, 4, 4, 40, 3, 1, 1, 1},
        {"3x3 48 -> 64 (output channels in the lanes)", 2, 48, 11, 13, 64, 3, 1, 1, 1},
    };
    Generator gen(5);
    for (const Case& c : cases) {
        CAPTURE(c.name);
        const Tensor x = randn({c.n, c.c_in, c.h, c.w}, {}, gen);
        const Tensor w = mul(randn({c.c_out, c.c_in / c.groups, c.k, c.k}, {}, gen), 0.2);
        const Tensor b = randn({c.c_out}, {}, gen);
        const Conv2dParams p{
            .stride = {c.stride, c.stride}, .padding = {c.pad, c.pad}, .dilation = {1, 1}, .groups = c.groups};
        const Tensor plain = conv2d(x, w, b, p);  // grad mode: never the inference kernels
        const Tensor expected = relu(plain);
        NoGradGuard no_grad;
        const Tensor with_relu = conv2d_inference(x, w, b, p, ConvActivation::ReLU);
        const Tensor without = conv2d_inference(x, w, b, p, ConvActivation::None);
        // the same sums as conv2d (packed weights give the same bits): equal, not just close
        CHECK(equal(with_relu, expected));
        CHECK(equal(without, plain));
        // the test has teeth: about half the outputs were negative and are now 0
        const std::vector<float> y = with_relu.to_vector<float>(), raw = plain.to_vector<float>();
        std::size_t clamped = 0;
        for (std::size_t i = 0; i < y.size(); ++i) clamped += raw[i] < 0.0f && y[i] == 0.0f;
        CHECK(clamped > y.size() / 4);
        CHECK(clamped < 3 * y.size() / 4);
    }
}

TEST_CASE("ops: conv2d_inference refuses operands that require grad while grad mode is on") {
    const Tensor x = randn({1, 2, 5, 5});
    Tensor w = randn({3, 2, 3, 3});
    w.set_requires_grad(true);
    std::string message;
    try {
        conv2d_inference(x, w);
    } catch (const Error& e) {
        message = e.what();
    }
    CHECK(message.find("conv2d_inference") != std::string::npos);
    CHECK(message.find("NoGradGuard") != std::string::npos);
    NoGradGuard no_grad;  // the same call in inference is fine
    CHECK(conv2d_inference(x, w).shape() == Shape{1, 3, 3, 3});
}

TEST_CASE("layers: Sequential folds batch norm into the convolution before it in inference, and follows every change") {
    Generator gen(9);
    nn::Sequential seq;
    auto conv_a = seq.push_back(std::make_shared<nn::Conv2d>(nn::Conv2dOptions(6, 16, 3).padding(1)));  // with bias
    auto bn_a = seq.push_back(std::make_shared<nn::BatchNorm2d>(16));
    seq.push_back(std::make_shared<nn::ReLU>());
    auto conv_b =
        seq.push_back(std::make_shared<nn::Conv2d>(nn::Conv2dOptions(16, 12, 3).stride(2).padding(1).bias(false)));
    auto bn_b = seq.push_back(std::make_shared<nn::BatchNorm2d>(nn::BatchNorm2dOptions(12).affine(false)));
    auto conv_c = seq.push_back(std::make_shared<nn::Conv2d>(nn::Conv2dOptions(12, 8, 1)));
    seq.push_back(std::make_shared<nn::ReLU>());
    {
        NoGradGuard no_grad;
        bn_b->running_mean.copy_(randn({12}, {}, gen));
        bn_b->running_var.copy_(add(rand({12}, {}, gen), 0.5));
    }
    randomise_batch_norms(seq, gen);
    const Tensor x = randn({2, 6, 15, 18}, {}, gen);

    // training mode, or grad mode on: the modules one by one, nothing folded
    const Tensor training_out = seq.forward(x);
    seq.eval();
    const Tensor graph_out = seq.forward(x);
    CHECK_FALSE(conv_a->fold_cache->weight.defined());
    CHECK(graph_out.requires_grad());

    auto unfused = [&] {
        FusionOff off;
        NoGradGuard no_grad;
        return seq.forward(x);
    };
    auto fused = [&] {
        NoGradGuard no_grad;
        return seq.forward(x);
    };
    Tensor expected = unfused();
    CHECK(equal(expected, graph_out));  // the same ops as with grad
    CHECK_FALSE(conv_a->fold_cache->weight.defined());
    Tensor y = fused();
    CHECK(conv_a->fold_cache->weight.defined());  // the fused path was taken
    CHECK(conv_b->fold_cache->weight.defined());
    CHECK_FALSE(conv_c->fold_cache->weight.defined());  // [Conv2d, ReLU]: nothing to fold
    CHECK(worst_ratio(y, expected, 1e-5, 1e-5) <= 1.0);
    CHECK(worst_ratio(y, training_out, 1e-5, 1e-5) > 1.0);  // eval differs from training here

    // every source of the fold, changed in place, changes the output (no stale copy)
    const std::vector<std::pair<std::string, Tensor>> sources = {
        {"conv weight", conv_a->weight}, {"conv bias", conv_a->bias},          {"bn weight", bn_a->weight},
        {"bn bias", bn_a->bias},         {"running mean", bn_b->running_mean}, {"running var", bn_b->running_var}};
    for (const auto& [what, source] : sources) {
        CAPTURE(what);
        {
            NoGradGuard no_grad;
            Tensor t = source;
            t.add_(0.3);
        }
        const Tensor before = y;
        expected = unfused();
        y = fused();
        CHECK(worst_ratio(y, expected, 1e-5, 1e-5) <= 1.0);
        CHECK(worst_ratio(y, before, 1e-5, 1e-5) > 1.0);
    }

    // load_state_dict from another module: the fold follows
    nn::Sequential other;
    other.push_back(std::make_shared<nn::Conv2d>(nn::Conv2dOptions(6, 16, 3).padding(1)));
    other.push_back(std::make_shared<nn::BatchNorm2d>(16));
    other.push_back(std::make_shared<nn::ReLU>());
    other.push_back(std::make_shared<nn::Conv2d>(nn::Conv2dOptions(16, 12, 3).stride(2).padding(1).bias(false)));
    other.push_back(std::make_shared<nn::BatchNorm2d>(nn::BatchNorm2dOptions(12).affine(false)));
    other.push_back(std::make_shared<nn::Conv2d>(nn::Conv2dOptions(12, 8, 1)));
    other.push_back(std::make_shared<nn::ReLU>());
    randomise_batch_norms(other, gen);
    seq.load_state_dict(other.state_dict());
    other.eval();
    expected = [&] {
        FusionOff off;
        NoGradGuard no_grad;
        return other.forward(x);
    }();
    CHECK(worst_ratio(fused(), expected, 1e-5, 1e-5) <= 1.0);

    // back to training: the folded copies are freed, and the batch statistics are used again,
    // even under NoGradGuard
    CHECK(conv_a->fold_cache->weight.defined());
    seq.train();
    CHECK_FALSE(conv_a->fold_cache->weight.defined());
    CHECK(conv_a->fold_cache->key.empty());
    NoGradGuard no_grad;
    const Tensor fused_flag_on = seq.forward(x);
    {
        FusionOff off;
        CHECK(equal(fused_flag_on, seq.forward(x)));
    }
}

TEST_CASE("models: inference fusion gives the unfused outputs of every model, in float64 and float32") {
    // float64 shows a wrong fold at once (the two paths then agree to ~1e-12), with statistics
    // far from the defaults; float32 checks the rounding of W' and b' to the model's dtype, with
    // statistics closer to a trained model's (through 20-60 layers the wide ones grow the
    // activations to ~1e5 and every rounding error with them). atol is scaled to the largest output.
    Generator gen(3);
    for (const std::string name : {"unet", "resnet18-unet", "efficientnet-b0-unet"}) {
        for (const DType dtype : {DType::Float64, DType::Float32}) {
            CAPTURE(name);
            CAPTURE(dtype_name(dtype));
            const auto model = models::make_model(name, 1, 2);
            randomise_batch_norms(*model, gen, dtype == DType::Float64 ? 0.9 : 0.2);
            model->to(dtype);
            model->eval();
            const Tensor x = randn({1, 1, 64, 64}, {}, gen).to(dtype);
            NoGradGuard no_grad;
            Tensor expected;
            {
                FusionOff off;
                expected = model->forward(x);
            }
            const Tensor y = model->forward(x);
            std::size_t folded = 0;
            for (auto& [path, m] : model->named_modules())
                if (auto* conv = dynamic_cast<nn::Conv2d*>(m); conv != nullptr)
                    folded += conv->fold_cache->weight.defined();
            CHECK(folded > 10);
            double scale = 0.0;
            for (const double v : expected.to(DType::Float64).to_vector<double>()) scale = std::max(scale, std::abs(v));
            const double tol = dtype == DType::Float64 ? 1e-10 : 1e-4;
            MESSAGE(name << ", " << dtype_name(dtype) << ": " << folded << " convolutions folded, largest output "
                         << scale << ", worst error / tolerance " << worst_ratio(y, expected, tol * scale, tol));
            CHECK(worst_ratio(y, expected, tol * scale, tol) <= 1.0);
        }
    }
}

}  // namespace fusion_tests
