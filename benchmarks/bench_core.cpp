// CPU benchmarks of the core ops: elementwise (GB/s), reductions (GB/s) and matmul (GFLOP/s).
//   build/release/benchmarks/fbseg_bench --benchmark_filter=core
#include <benchmark/benchmark.h>

#include "fbseg/fbseg.hpp"

using namespace fbseg;

namespace {

void core_add_contiguous(benchmark::State& state) {
    const std::int64_t n = state.range(0);
    const Tensor a = randn({n}), b = randn({n});
    for (auto _ : state) benchmark::DoNotOptimize(add(a, b).raw_data());
    state.SetBytesProcessed(state.iterations() * n * 3 * 4);  // two reads, one write
}
BENCHMARK(core_add_contiguous)->Arg(1 << 16)->Arg(1 << 22)->Unit(benchmark::kMicrosecond)->UseRealTime();

void core_add_broadcast_channel(benchmark::State& state) {
    // [8, 64, 64, 64] + [64, 1, 1]: a per-channel bias, the common broadcast in a UNet.
    const Tensor x = randn({8, 64, 64, 64}), bias = randn({64, 1, 1});
    for (auto _ : state) benchmark::DoNotOptimize(add(x, bias).raw_data());
    state.SetBytesProcessed(state.iterations() * x.numel() * 2 * 4);
}
BENCHMARK(core_add_broadcast_channel)->Unit(benchmark::kMicrosecond)->UseRealTime();

void core_relu_permuted(benchmark::State& state) {
    const Tensor x = randn({8, 64, 64, 64}).permute({0, 2, 3, 1});  // NHWC view of NCHW memory
    for (auto _ : state) benchmark::DoNotOptimize(relu(x).raw_data());
    state.SetBytesProcessed(state.iterations() * x.numel() * 2 * 4);
}
BENCHMARK(core_relu_permuted)->Unit(benchmark::kMicrosecond)->UseRealTime();

void core_sum_all(benchmark::State& state) {
    const Tensor x = randn({state.range(0)});
    for (auto _ : state) benchmark::DoNotOptimize(sum(x).raw_data());
    state.SetBytesProcessed(state.iterations() * x.numel() * 4);
}
BENCHMARK(core_sum_all)->Arg(1 << 22)->Unit(benchmark::kMicrosecond)->UseRealTime();

void core_sum_channels(benchmark::State& state) {
    // Sum over N, H, W keeping C: the reduction batch norm and bias gradients need.
    const Tensor x = randn({8, 64, 64, 64});
    for (auto _ : state) benchmark::DoNotOptimize(sum(x, {0, 2, 3}).raw_data());
    state.SetBytesProcessed(state.iterations() * x.numel() * 4);
}
BENCHMARK(core_sum_channels)->Unit(benchmark::kMicrosecond)->UseRealTime();

void core_matmul(benchmark::State& state) {
    const std::int64_t n = state.range(0);
    const Tensor a = randn({n, n}), b = randn({n, n});
    for (auto _ : state) benchmark::DoNotOptimize(matmul(a, b).raw_data());
    state.counters["GFLOP/s"] = benchmark::Counter(2.0 * double(n) * n * n * double(state.iterations()) / 1e9,
                                                   benchmark::Counter::kIsRate);
}
BENCHMARK(core_matmul)->Arg(256)->Arg(1024)->Unit(benchmark::kMillisecond)->UseRealTime();

void core_autograd_chain(benchmark::State& state) {
    // Overhead of the tape: 1000 small ops forward and backward.
    const Tensor x0 = randn({16}, TensorOptions().requires_grad());
    for (auto _ : state) {
        Tensor x = x0;
        for (int i = 0; i < 1000; ++i) x = mul(x, 1.0001);
        sum(x).backward();
    }
    state.SetItemsProcessed(state.iterations() * 1000);
}
BENCHMARK(core_autograd_chain)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
