// tests/gpu/test_gpu_training.cpp - a whole training step of each model on CUDA against the same
// step on the CPU: the forward output, the loss (BCE + Dice), every parameter's gradient, the
// BatchNorm running statistics, and the parameters after two SGD steps.
//
// SGD, not Adam: Adam's first update is lr * g / |g| = +-lr per element, so a gradient of 1e-9 on
// one device and -1e-9 on the other (float32 rounding of a sum that is almost 0) moves the weight
// by 2 lr between them. SGD's update lr * g is continuous in g. (On an H200, every step-0 loss and
// gradient of the UNet and resnet18-unet matched; the step-1 gradients differed by up to 2-9 % of
// each tensor's largest element with Adam and still with SGD: not explained yet, see
// benchmarks/RESULTS.md. This test keeps failing until it is.)
//
// The two models start from one state (the CPU model's state_dict loaded into a second model,
// which is then moved with Module::to(cuda)). Float32 results of a deep network differ between
// the devices by the order of their long sums (convolutions, batch-norm statistics), and the
// differences grow through the layers, so a gradient element is compared with
//     |gpu - cpu| <= atol + rtol |cpu|,   rtol = 1e-3,  atol = 1e-4 x max |cpu| over the tensor
// (an element far smaller than the tensor's largest is compared on the tensor's scale). A wrong
// kernel is off by far more: a missing term, a wrong index or an uninitialised element gives
// errors of the order of the values themselves.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "fbseg/fbseg.hpp"
#include "gpu_support.hpp"

namespace training_gpu_tests {

using namespace fbseg;
using gpu_test::kGpu;

double max_abs(const Tensor& t) {
    double m = 0;
    for (double v : t.to_vector<double>()) m = std::max(m, std::abs(v));
    return m;
}

void check_scaled(const Tensor& gpu, const Tensor& cpu, const std::string& what, double rtol = 1e-3,
                  double scale_tol = 1e-4) {
    gpu_test::check_close(gpu, cpu, scale_tol * std::max(max_abs(cpu), 1e-12), rtol, what);
}

Tensor step_loss(nn::UnaryModule& model, const Tensor& x, const Tensor& t, std::uint64_t seed) {
    manual_seed(seed);  // EfficientNet's stochastic depth draws its masks from the default generator:
                        // the same seed before each device's forward gives both the same masks
    const Tensor logits = model.forward(x);
    return nn::binary_cross_entropy_with_logits(logits, t) + nn::dice_loss(logits, t);
}

void check_training_step(const std::string& name, std::int64_t batch, std::int64_t size) {
    INFO("model ", name);
    manual_seed(7);
    auto cpu_model = models::make_model(name, 1, 1);
    auto gpu_model = models::make_model(name, 1, 1);
    gpu_model->load_state_dict(cpu_model->state_dict());
    gpu_model->to(kGpu);
    for (const auto& [key, p] : gpu_model->named_parameters()) REQUIRE_MESSAGE(p.is_cuda(), key, " stayed on the CPU");
    cpu_model->train();
    gpu_model->train();

    const Tensor x = gpu_test::random_cpu({batch, 1, size, size}, 1, -1, 1);
    const Tensor t = gt(gpu_test::random_cpu({batch, 1, size, size}, 2), 0.3).to(DType::Float32);
    optim::SGD cpu_opt(cpu_model->parameters(), optim::SGDOptions{.lr = 1e-2, .momentum = 0.9});
    optim::SGD gpu_opt(gpu_model->parameters(), optim::SGDOptions{.lr = 1e-2, .momentum = 0.9});

    for (int step = 0; step < 2; ++step) {
        INFO("step ", step);
        cpu_opt.zero_grad();
        gpu_opt.zero_grad();
        const Tensor loss_cpu = step_loss(*cpu_model, x, t, 100 + std::uint64_t(step));
        const Tensor loss_gpu = step_loss(*gpu_model, x.to(kGpu), t.to(kGpu), 100 + std::uint64_t(step));
        REQUIRE(loss_gpu.is_cuda());
        const double lc = loss_cpu.item<double>(), lg = loss_gpu.item<double>();
        CHECK_MESSAGE(std::abs(lc - lg) <= 1e-4 * std::abs(lc), "loss: cuda ", lg, " vs cpu ", lc);
        loss_cpu.backward();
        loss_gpu.backward();
        const auto cpu_params = cpu_model->named_parameters(), gpu_params = gpu_model->named_parameters();
        REQUIRE(cpu_params.size() == gpu_params.size());
        for (std::size_t i = 0; i < cpu_params.size(); ++i) {
            const Tensor gc = cpu_params[i].second.grad(), gg = gpu_params[i].second.grad();
            REQUIRE_MESSAGE(gc.defined() == gg.defined(), cpu_params[i].first);
            if (gc.defined()) check_scaled(gg, gc, "gradient of " + cpu_params[i].first);
        }
        cpu_opt.step();
        gpu_opt.step();
    }
    const auto cpu_state = cpu_model->state_dict(), gpu_state = gpu_model->state_dict();
    // Parameters after the steps: a tensor whose values are all tiny (a BatchNorm bias moved from
    // 0 by lr x its gradient, ~1e-7) is compared on the scale of 1e-3, not its own: its relative
    // rounding differences would otherwise count, though they are a millionth of a weight.
    for (std::size_t i = 0; i < cpu_state.size(); ++i) {
        if (!is_floating(cpu_state[i].second.dtype())) continue;
        gpu_test::check_close(gpu_state[i].second, cpu_state[i].second,
                              1e-4 * std::max(max_abs(cpu_state[i].second), 1e-3), 1e-3,
                              "after two steps: " + cpu_state[i].first);
    }
    // eval mode (running statistics) gives the same prediction on both devices
    cpu_model->eval();
    gpu_model->eval();
    NoGradGuard no_grad;
    check_scaled(gpu_model->forward(x.to(kGpu)), cpu_model->forward(x), "eval forward");
}

TEST_CASE("gpu training: a classic UNet step on CUDA matches the CPU") { check_training_step("unet", 2, 64); }
TEST_CASE("gpu training: a resnet18-unet step on CUDA matches the CPU") { check_training_step("resnet18-unet", 2, 64); }
TEST_CASE("gpu training: an efficientnet-b0-unet step on CUDA matches the CPU") {
    check_training_step("efficientnet-b0-unet", 2, 64);
}

TEST_CASE("gpu training: Module::to moves parameters and buffers and keeps their identity") {
    auto model = models::make_model("unet", 1, 1);
    const Tensor first = model->named_parameters()[0].second;
    const std::vector<double> before = first.to_vector<double>();
    model->to(kGpu);
    CHECK(first.is_cuda());  // the handle taken before the move sees the move
    for (const auto& [key, b] : model->named_buffers()) CHECK_MESSAGE(b.is_cuda(), key);
    CHECK(first.to_vector<double>() == before);
    model->to(kCPU);
    CHECK(!first.is_cuda());
    CHECK(first.to_vector<double>() == before);
}

}  // namespace training_gpu_tests
