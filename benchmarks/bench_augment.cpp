// CPU benchmarks of the augmentations (include/fbseg/data/augment/): augmented samples per second
// on one thread, 256 x 256, one channel, with an int64 label map, for the presets and for single
// transforms at p = 1. benchmarks/compare_albumentations.py runs these beside Albumentations.
//   build/release/benchmarks/fbseg_bench --benchmark_filter=augment
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "fbseg/fbseg.hpp"

using namespace fbseg;
using namespace fbseg::data;

namespace {

/// A smooth 256 x 256 image (values in [0, 1]) with a label of three nested discs.
Sample bench_sample() {
    const std::int64_t n = 256;
    Sample s;
    s.image = make_image(1, n, n);
    s.label = make_label(n, n);
    float* p = s.image.data_ptr<float>();
    std::int64_t* l = s.label.data_ptr<std::int64_t>();
    for (std::int64_t r = 0; r < n; ++r)
        for (std::int64_t c = 0; c < n; ++c) {
            const double d = std::hypot(double(r) - 120, double(c) - 136);
            p[r * n + c] = float(0.5 + 0.4 * std::sin(double(r) / 17.0) * std::cos(double(c) / 23.0));
            l[r * n + c] = d < 40 ? 3 : d < 70 ? 2 : d < 100 ? 1 : 0;
        }
    return s;
}

void run_pipeline(benchmark::State& state, const augment::Pipeline& pipeline) {
    const Sample base = bench_sample();
    std::uint64_t index = 0;
    for (auto _ : state) {
        Sample s = base;
        s.image = base.image.clone();
        s.label = base.label.clone();
        Rng rng = Rng::for_sample(1234, 0, index++);
        pipeline(s, rng);
        benchmark::DoNotOptimize(s.image.raw_data());
    }
    state.counters["samples/s"] = benchmark::Counter(double(state.iterations()), benchmark::Counter::kIsRate);
}

void augment_preset(benchmark::State& state, const char* name) {
    run_pipeline(state, augment::preset(name));
}

void augment_step(benchmark::State& state, const char* step) {
    run_pipeline(state, augment::Pipeline::from_json(nlohmann::json::array({nlohmann::json::parse(step)})));
}

}  // namespace

BENCHMARK_CAPTURE(augment_preset, default, "default")->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(augment_preset, strong, "strong")->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(augment_step, copy_only, R"({"name": "hflip", "p": 0})")->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(augment_step, hflip, R"({"name": "hflip"})")->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(augment_step, affine, R"({"name": "affine", "rotate_deg": 15, "scale": [0.9, 1.1], "translate": 0.05})")
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(augment_step, elastic, R"({"name": "elastic", "alpha": 300, "sigma": 10})")
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(augment_step, grid_distortion, R"({"name": "grid_distortion", "num_steps": 5, "distort_limit": 0.3})")
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(augment_step, gaussian_blur, R"({"name": "gaussian_blur", "sigma": [1.0, 1.0]})")
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(augment_step, brightness_contrast, R"({"name": "brightness_contrast"})")
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(augment_step, gamma, R"({"name": "gamma"})")->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(augment_step, vflip, R"({"name": "vflip"})")->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(augment_step, gaussian_noise, R"({"name": "gaussian_noise", "std": [0.03, 0.03]})")
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(augment_step, bias_field, R"({"name": "bias_field"})")->Unit(benchmark::kMicrosecond)->UseRealTime();
