// CPU benchmarks of the models' hot path: Conv2d forward, backward-data and backward-weights on
// the classic UNet's real layer shapes (batch 8, 256x256 input, base width 32) and on a layer of
// each kind in the three models (conv_layer), reported in GFLOP/s beside this machine's SGEMM
// peak per instruction set (sgemm_peak/<isa>), and the full training step and inference of the
// classic UNet and resnet34-unet.
//   build/release/benchmarks/fbseg_bench --benchmark_filter='sgemm|conv|model'
// The convolutions run on the kernels kernel_table() picks; FBSEG_CPU_ISA=avx2 (or baseline)
// times a lower copy. Timings go into benchmarks/RESULTS.md with the CPU model and thread count.
#include <benchmark/benchmark.h>

#include <string>
#include <string_view>
#include <vector>

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
    state.SetLabel(std::to_string(g.c_in) + "->" + std::to_string(g.c_out) + " @" + std::to_string(g.h) + " (" +
                   std::string(cpu::kernel_isa()) + ")");
}

void conv_forward(benchmark::State& state) {
    const auto g = unet_conv(state.range(0));
    const Tensor x = randn({g.n, g.c_in, g.h, g.w}), w = randn({g.c_out, g.c_in, 3, 3}), y = empty({g.n, g.c_out, g.ho, g.wo});
    for (auto _ : state) cpu::kernel_table().f32.conv_forward(g, x.data_ptr<float>(), w.data_ptr<float>(), nullptr, y.data_ptr<float>());
    label_conv(state, g);
}

void conv_backward_data(benchmark::State& state) {
    const auto g = unet_conv(state.range(0));
    const Tensor dy = randn({g.n, g.c_out, g.ho, g.wo}), w = randn({g.c_out, g.c_in, 3, 3}), dx = empty({g.n, g.c_in, g.h, g.w});
    for (auto _ : state) cpu::kernel_table().f32.conv_backward_data(g, dy.data_ptr<float>(), w.data_ptr<float>(), dx.data_ptr<float>());
    label_conv(state, g);
}

void conv_backward_weight(benchmark::State& state) {
    const auto g = unet_conv(state.range(0));
    const Tensor x = randn({g.n, g.c_in, g.h, g.w}), dy = randn({g.n, g.c_out, g.ho, g.wo}), dw = empty({g.c_out, g.c_in, 3, 3});
    for (auto _ : state) cpu::kernel_table().f32.conv_backward_weight(g, x.data_ptr<float>(), dy.data_ptr<float>(), dw.data_ptr<float>());
    label_conv(state, g);
}

constexpr int kNumConvs = int(sizeof(kUNetConvs) / sizeof(kUNetConvs[0]));
BENCHMARK(conv_forward)->DenseRange(0, kNumConvs - 1)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(conv_backward_data)->DenseRange(0, kNumConvs - 1)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(conv_backward_weight)->DenseRange(0, kNumConvs - 1)->Unit(benchmark::kMillisecond)->UseRealTime();

// ---- this machine's SGEMM peak, per instruction set ------------------------------------------------
// C [n, n] = A [n, n] B [n, n] through each compiled copy of the batched matrix product (Eigen's
// GEMM, ops/cpu/kernel_table.hpp), on every thread: the "measured SGEMM peak" that the
// convolutions' GFLOP/s are compared with (docs/performance.md).
void sgemm_peak(benchmark::State& state, std::string_view isa) {
    const std::int64_t n = state.range(0);
    const Tensor a = randn({1, n, n}), b = randn({1, n, n}), c = empty({1, n, n});
    const auto& bmm = cpu::kernel_table(isa).f32.bmm;
    for (auto _ : state)
        bmm(a.data_ptr<float>(), a.strides().data(), b.data_ptr<float>(), b.strides().data(), c.data_ptr<float>(), 1,
            n, n, n);
    state.counters["GFLOP/s"] = benchmark::Counter(2.0 * double(n * n * n) * double(state.iterations()) / 1e9,
                                                   benchmark::Counter::kIsRate);
    state.SetLabel(std::string(isa) + ", " + std::to_string(num_threads()) + " threads");
}
const bool sgemm_registered = [] {
    for (const std::string_view isa : cpu::available_kernel_isas())
        benchmark::RegisterBenchmark(("sgemm_peak/" + std::string(isa)).c_str(), sgemm_peak, isa)
            ->Arg(1024)->Arg(2048)->Unit(benchmark::kMillisecond)->UseRealTime();
    return true;
}();

// ---- max pooling: the plain loop against each compiled vector copy -------------------------------
// resnet34-unet's one pool (3x3, stride 2, padding 1) on its [8, 64, 128, 128] input; GB/s counts
// the bytes that must move: the input read, the values and the int64 indices written.
void max_pool_resnet34(benchmark::State& state, std::string_view isa) {
    const MaxPool2dGeometry g{.planes = 8 * 64, .h = 128, .w = 128, .ho = 64, .wo = 64, .kh = 3, .kw = 3,
                              .sh = 2, .sw = 2, .ph = 1, .pw = 1};
    const Tensor x = randn({g.planes, g.h, g.w}), y = empty({g.planes, g.ho, g.wo});
    const Tensor indices = empty({g.planes, g.ho, g.wo}, TensorOptions(DType::Int64));
    for (auto _ : state) {
        if (isa == "reference")
            cpu::max_pool2d_forward(x.data_ptr<float>(), y.data_ptr<float>(), indices.data_ptr<std::int64_t>(), g);
        else
            cpu::kernel_table(isa).pool.max_pool2d_forward(x.data_ptr<float>(), y.data_ptr<float>(),
                                                           indices.data_ptr<std::int64_t>(), g);
    }
    const double bytes = double(g.planes) * double(g.h * g.w * 4 + g.ho * g.wo * (4 + 8));
    state.counters["GB/s"] = benchmark::Counter(bytes * double(state.iterations()) / 1e9, benchmark::Counter::kIsRate);
    state.SetLabel(std::string(isa) + ", " + std::to_string(num_threads()) + " threads");
}
const bool max_pool_registered = [] {
    std::vector<std::string_view> copies{"reference"};
    for (const std::string_view isa : cpu::available_kernel_isas()) copies.push_back(isa);
    for (const std::string_view isa : copies)
        benchmark::RegisterBenchmark(("max_pool_resnet34/" + std::string(isa)).c_str(), max_pool_resnet34, isa)
            ->Unit(benchmark::kMillisecond)
            ->UseRealTime();
    return true;
}();

// ---- every kind of convolution in the three models -------------------------------------------------
// {batch, c_in, c_out, size, kernel, stride, groups, transposed}: a layer of each kind that the
// classic UNet (batch 8, 256 px), resnet34-unet (batch 8, 256 px) and efficientnet-b0-unet (batch
// 16, 128 px) run. A transposed convolution's forward is conv2d's backward-data (ops/conv.hpp), so
// its row gives the geometry of that conv2d. GFLOP/s counts the direct convolution's 2 N Cout Ho Wo
// (Cin / groups) kh kw.
struct LayerShape {
    const char* name;
    std::int64_t n, c_in, c_out, size, k, stride, groups;
};
constexpr LayerShape kModelLayers[] = {
    {"unet 3x3 32->32 @256", 8, 32, 32, 256, 3, 1, 1},
    {"unet 3x3 256->256 @32", 8, 256, 256, 32, 3, 1, 1},
    {"unet up 2x2/2 256->128 @32 (transposed)", 8, 128, 256, 64, 2, 2, 1},
    {"resnet34 stem 7x7/2 3->64 @256", 8, 3, 64, 256, 7, 2, 1},
    {"resnet34 3x3 64->64 @64", 8, 64, 64, 64, 3, 1, 1},
    {"resnet34 3x3/2 128->256 @32", 8, 128, 256, 32, 3, 2, 1},
    {"resnet34 1x1/2 128->256 @32", 8, 128, 256, 32, 1, 2, 1},
    {"resnet34 3x3 512->512 @8", 8, 512, 512, 8, 3, 1, 1},
    {"effnet stem 3x3/2 1->32 @128", 16, 1, 32, 128, 3, 2, 1},
    {"effnet 1x1 24->144 @32", 16, 24, 144, 32, 1, 1, 1},
    {"effnet 1x1 144->24 @32", 16, 144, 24, 32, 1, 1, 1},
    {"effnet dw 3x3 144 @32", 16, 144, 144, 32, 3, 1, 144},
    {"effnet dw 5x5/2 240 @32", 16, 240, 240, 32, 5, 2, 240},
    {"effnet 1x1 1152->320 @4", 16, 1152, 320, 4, 1, 1, 1},
    {"resnet34 3x3 256->256 @16", 8, 256, 256, 16, 3, 1, 1},
    {"resnet34 3x3/2 64->128 @64", 8, 64, 128, 64, 3, 2, 1},
    {"resnet34 decoder 3x3 128->32 @128", 8, 128, 32, 128, 3, 1, 1},
    {"resnet34 decoder 3x3 32->16 @256", 8, 32, 16, 256, 3, 1, 1},
};

cpu::ConvGeometry layer_geometry(const LayerShape& l) {
    cpu::ConvGeometry g;
    g.n = l.n, g.c_in = l.c_in, g.c_out = l.c_out, g.h = g.w = l.size, g.kh = g.kw = l.k;
    g.sh = g.sw = l.stride, g.groups = l.groups;
    g.ph = g.pw = l.k == 2 ? 0 : l.k / 2;  // 2x2/2 (the transposed up-sampling's twin) has none
    g.ho = (g.h + 2 * g.ph - g.kh) / g.sh + 1, g.wo = (g.w + 2 * g.pw - g.kw) / g.sw + 1;
    return g;
}

/// pass 0: forward, 1: backward-data, 2: backward-weight.
void conv_layer(benchmark::State& state) {
    const LayerShape& l = kModelLayers[state.range(0)];
    const cpu::ConvGeometry g = layer_geometry(l);
    const Tensor x = randn({g.n, g.c_in, g.h, g.w}), w = randn({g.c_out, g.cg(), g.kh, g.kw}),
                 y = randn({g.n, g.c_out, g.ho, g.wo}), dx = empty({g.n, g.c_in, g.h, g.w}),
                 dw = empty({g.c_out, g.cg(), g.kh, g.kw});
    const auto& k = cpu::kernel_table().f32;
    for (auto _ : state) {
        if (state.range(1) == 0) k.conv_forward(g, x.data_ptr<float>(), w.data_ptr<float>(), nullptr, y.data_ptr<float>());
        if (state.range(1) == 1) k.conv_backward_data(g, y.data_ptr<float>(), w.data_ptr<float>(), dx.data_ptr<float>());
        if (state.range(1) == 2) k.conv_backward_weight(g, x.data_ptr<float>(), y.data_ptr<float>(), dw.data_ptr<float>());
    }
    const double flops = 2.0 * double(g.n * g.c_out * g.p()) * double(g.k());
    state.counters["GFLOP/s"] = benchmark::Counter(flops * double(state.iterations()) / 1e9, benchmark::Counter::kIsRate);
    static constexpr const char* kPass[] = {"forward", "backward-data", "backward-weight"};
    state.SetLabel(std::string(l.name) + " " + kPass[state.range(1)] + " (" + std::string(cpu::kernel_isa()) + ")");
}
BENCHMARK(conv_layer)
    ->ArgsProduct({benchmark::CreateDenseRange(0, int(sizeof(kModelLayers) / sizeof(kModelLayers[0])) - 1, 1), {0, 1, 2}})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

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
