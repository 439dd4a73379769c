// benchmarks/bench_ops.cpp - the op harness's perf mode: one benchmark per case of
// tests/harness/ (forward only, float32, no graph), named ops/<op>/<case>. Each reports the bytes
// its inputs and outputs move (Google Benchmark prints bytes_per_second) and, where the case
// counts them (matmul, conv), FLOP/s. The harness shapes are the small, odd test shapes: this
// tells per-call overhead and regressions; the model benchmarks (bench_models.cpp) time real sizes.
//     build/dev/benchmarks/fbseg_bench --benchmark_filter='ops/conv2d'
#include <benchmark/benchmark.h>

#include "harness/registry.hpp"

namespace {

using fbseg::harness::OpCase;

void run_case(benchmark::State& state, const OpCase* c) {
    fbseg::NoGradGuard no_grad;
    const std::vector<fbseg::Tensor> bases = fbseg::harness::make_bases(*c, fbseg::DType::Float32, false);
    const fbseg::harness::Inputs inputs = fbseg::harness::views_of(*c, bases);
    const fbseg::harness::Outputs first = c->fn(inputs, c->attrs);
    const double bytes = fbseg::harness::bytes_moved(inputs, first);
    const double flops = c->flops ? c->flops(inputs) : 0.0;
    for (auto _ : state) {
        fbseg::harness::Outputs outputs = c->fn(inputs, c->attrs);  // in-place cases rewrite their input
        benchmark::DoNotOptimize(outputs.data());
    }
    state.SetBytesProcessed(std::int64_t(double(state.iterations()) * bytes));
    if (flops > 0) state.counters["FLOP/s"] = benchmark::Counter(flops, benchmark::Counter::kIsIterationInvariantRate);
}

[[maybe_unused]] const int registered = [] {
    for (const OpCase& c : fbseg::harness::registry())
        benchmark::RegisterBenchmark(("ops/" + c.id()).c_str(), run_case, &c);
    return 0;
}();

}  // namespace
