// CPU benchmarks of the UNet's hot path: Conv2d forward, backward-data and backward-weights on
// the classic UNet's real layer shapes (batch 8, 256x256 input, base width 32), reported in
// GFLOP/s, and the full training step and inference of the classic UNet and resnet34-unet.
//   build/release/benchmarks/fbseg_bench --benchmark_filter='conv|model'
// Timings go into benchmarks/RESULTS.md with the CPU model and thread count.
#include <benchmark/benchmark.h>

#include "fbseg/fbseg.hpp"

using namespace fbseg;

namespace {

/// The 3x3, padding-1 convolutions of UNet(base 32, depth 4) at batch 8, 256x256:
/// {c_in, c_out, spatial size}. Encoder levels, then the decoder's first conv per level.
constexpr std::int64_t kUNetConvs[][3] = {
    {1, 32, 256},   {32, 32, 256},   {32, 64, 128},  {64, 64, 128},  {128, 128, 64},
    {256, 256, 32}, {512, 512, 16},  {512, 256, 32}, {128, 64, 128}, {64, 32, 256},
};

cpu::ConvGeometry unet_conv(std::int64_t index) {
    const auto& c = kUNetConvs[index];
    cpu::ConvGeometry g;
    g.n = 8, g.c_in = c[0], g.c_out = c[1], g.h = c[2], g.w = c[2];
    g.kh = g.kw = 3, g.ph = g.pw = 1;
    g.ho = g.h, g.wo = g.w;
    return g;
}

void label_conv(benchmark::State& state, const cpu::ConvGeometry& g) {
    const double flops = 2.0 * double(g.n * g.c_out * g.p()) * double(g.k());
    state.counters["GFLOP/s"] = benchmark::Counter(flops * double(state.iterations()) / 1e9, benchmark::Counter::kIsRate);
    state.SetLabel(std::to_string(g.c_in) + "->" + std::to_string(g.c_out) + " @" + std::to_string(g.h));
}

void conv_forward(benchmark::State& state) {
    const auto g = unet_conv(state.range(0));
    const Tensor x = randn({g.n, g.c_in, g.h, g.w}), w = randn({g.c_out, g.c_in, 3, 3}), y = empty({g.n, g.c_out, g.ho, g.wo});
    for (auto _ : state) cpu::conv::forward<float>(g, x.data_ptr<float>(), w.data_ptr<float>(), nullptr, y.data_ptr<float>());
    label_conv(state, g);
}

void conv_backward_data(benchmark::State& state) {
    const auto g = unet_conv(state.range(0));
    const Tensor dy = randn({g.n, g.c_out, g.ho, g.wo}), w = randn({g.c_out, g.c_in, 3, 3}), dx = empty({g.n, g.c_in, g.h, g.w});
    for (auto _ : state) cpu::conv::backward_data<float>(g, dy.data_ptr<float>(), w.data_ptr<float>(), dx.data_ptr<float>());
    label_conv(state, g);
}

void conv_backward_weight(benchmark::State& state) {
    const auto g = unet_conv(state.range(0));
    const Tensor x = randn({g.n, g.c_in, g.h, g.w}), dy = randn({g.n, g.c_out, g.ho, g.wo}), dw = empty({g.c_out, g.c_in, 3, 3});
    for (auto _ : state) cpu::conv::backward_weight<float>(g, x.data_ptr<float>(), dy.data_ptr<float>(), dw.data_ptr<float>());
    label_conv(state, g);
}

constexpr int kNumConvs = int(sizeof(kUNetConvs) / sizeof(kUNetConvs[0]));
BENCHMARK(conv_forward)->DenseRange(0, kNumConvs - 1)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(conv_backward_data)->DenseRange(0, kNumConvs - 1)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(conv_backward_weight)->DenseRange(0, kNumConvs - 1)->Unit(benchmark::kMillisecond)->UseRealTime();

/// Model 0: UNet(base 32, depth 4) on [8, 1, 256, 256]; model 1: resnet34-unet on [8, 3, 256, 256].
std::shared_ptr<nn::UnaryModule> bench_model(std::int64_t which, std::int64_t& in_channels) {
    in_channels = which == 0 ? 1 : 3;
    if (which == 0) return std::make_shared<models::UNet>(models::UNetOptions().in_channels(1).depth(4).base_channels(32));
    return models::make_model("resnet34-unet", 3, 1);
}

void model_train_step(benchmark::State& state) {
    std::int64_t cin = 0;
    auto net = bench_model(state.range(0), cin);
    const Tensor images = randn({8, cin, 256, 256});
    const Tensor masks = gt(rand({8, 1, 256, 256}), 0.5).to(DType::Float32);
    std::vector<Tensor> params;
    for (auto& [name, p] : net->named_parameters()) params.push_back(p);
    optim::AdamW opt(params, optim::AdamWOptions{});
    net->train();
    for (auto _ : state) {
        opt.zero_grad();
        nn::bce_dice_loss(net->forward(images), masks).backward();
        opt.step();
    }
    state.SetLabel(state.range(0) == 0 ? "unet b8 1x256x256" : "resnet34-unet b8 3x256x256");
}
BENCHMARK(model_train_step)->Arg(0)->Arg(1)->Iterations(2)->Unit(benchmark::kSecond)->UseRealTime();

void model_inference(benchmark::State& state) {
    std::int64_t cin = 0;
    auto net = bench_model(state.range(0), cin);
    const Tensor images = randn({8, cin, 256, 256});
    net->eval();
    NoGradGuard no_grad;
    for (auto _ : state) benchmark::DoNotOptimize(net->forward(images).raw_data());
    state.SetLabel(state.range(0) == 0 ? "unet b8 1x256x256" : "resnet34-unet b8 3x256x256");
}
BENCHMARK(model_inference)->Arg(0)->Arg(1)->Iterations(2)->Unit(benchmark::kSecond)->UseRealTime();

}  // namespace
