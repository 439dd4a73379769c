// CPU benchmark of the data loader (include/fbseg/data/loader.hpp): does loading stall the
// training step? One training step of a small UNet (base 16, depth 3, batch 8, 1x128x128, BCE +
// Dice, Adam) on
//   step_from_memory          one batch made once, reused (no loading at all)
//   step_through_loader/W     batches from a DataLoader with W workers (0: built on the calling
//                             thread, between steps) and a realistic augmentation per sample
// and, for scale, the loader alone (loader_only/W: batches per second, no step).
// The augmentation (about what the augmentation pipeline does to an ultrasound frame): a random
// rotation (+-15 deg) and scale (0.9-1.1) resampled bilinearly, a random flip, a gamma
// (0.8-1.25) on the intensities and Gaussian noise (sigma 0.02), drawn from the sample's Rng.
//   build/release/benchmarks/fbseg_bench --benchmark_filter='loader'
// Timings go into benchmarks/RESULTS.md with the CPU model and thread count.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <vector>

#include "fbseg/data/loader.hpp"
#include "fbseg/fbseg.hpp"

using namespace fbseg;

namespace {

constexpr std::int64_t kSize = 128, kBatch = 8, kSamples = 64;

/// 64 synthetic frames: an ellipse of intensity 0.7 on a 0.2 background, its mask as the label.
/// get() copies them, as a reader returns fresh tensors.
class FrameDataset : public data::Dataset {
public:
    FrameDataset() {
        for (std::int64_t i = 0; i < kSamples; ++i) {
            data::Sample s;
            s.image = data::make_image(1, kSize, kSize);
            s.label = data::make_label(kSize, kSize);
            float* p = s.image.data_ptr<float>();
            std::int64_t* l = s.label.data_ptr<std::int64_t>();
            const double a = 30 + double(i % 7) * 3, b = 20 + double(i % 5) * 3;
            for (std::int64_t y = 0; y < kSize; ++y)
                for (std::int64_t x = 0; x < kSize; ++x) {
                    const double u = (double(x) - 64) / a, v = (double(y) - 64) / b;
                    const bool in = u * u + v * v <= 1;
                    p[y * kSize + x] = in ? 0.7f : 0.2f;
                    l[y * kSize + x] = in ? 1 : 0;
                }
            s.id = "frame" + std::to_string(i);
            s.subject = std::to_string(i / 2);
            frames_.push_back(s);
        }
    }
    std::size_t size() const override { return frames_.size(); }
    data::Sample get(std::size_t i) const override {
        data::Sample s = frames_.at(i);
        s.image = s.image.clone();
        s.label = s.label.clone();
        return s;
    }

private:
    std::vector<data::Sample> frames_;
};

/// The augmentation described at the top: rotation + scale (bilinear for the image, nearest for
/// the label), flip, gamma, noise.
void augment(data::Sample& s, data::Rng& rng) {
    const double angle = rng.uniform(-15, 15) * 3.141592653589793 / 180, scale = rng.uniform(0.9, 1.1);
    const bool flip = rng.bernoulli(0.5);
    const double gamma = std::exp(rng.uniform(std::log(0.8), std::log(1.25)));
    const std::int64_t h = s.height(), w = s.width();
    data::Sample out = s;
    out.image = data::make_image(1, h, w);
    out.label = data::make_label(h, w);
    const float* src = s.image.data_ptr<float>();
    const std::int64_t* lsrc = s.label.data_ptr<std::int64_t>();
    float* dst = out.image.data_ptr<float>();
    std::int64_t* ldst = out.label.data_ptr<std::int64_t>();
    const double c = std::cos(angle) / scale, si = std::sin(angle) / scale, cy = double(h - 1) / 2,
                 cx = double(w - 1) / 2;
    for (std::int64_t y = 0; y < h; ++y)
        for (std::int64_t x = 0; x < w; ++x) {
            const double xx = flip ? double(w - 1 - x) : double(x);
            const double sx = c * (xx - cx) - si * (double(y) - cy) + cx,
                         sy = si * (xx - cx) + c * (double(y) - cy) + cy;
            const auto x0 = std::int64_t(std::floor(sx)), y0 = std::int64_t(std::floor(sy));
            const double fx = sx - double(x0), fy = sy - double(y0);
            auto at = [&](std::int64_t yy, std::int64_t xq) {
                return yy < 0 || yy >= h || xq < 0 || xq >= w ? 0.0 : double(src[yy * w + xq]);
            };
            const double v = (1 - fy) * ((1 - fx) * at(y0, x0) + fx * at(y0, x0 + 1)) +
                             fy * ((1 - fx) * at(y0 + 1, x0) + fx * at(y0 + 1, x0 + 1));
            dst[y * w + x] = float(std::pow(std::clamp(v, 0.0, 1.0), gamma) + 0.02 * rng.normal());
            const auto nx = std::int64_t(std::lround(sx)), ny = std::int64_t(std::lround(sy));
            ldst[y * w + x] = nx < 0 || nx >= w || ny < 0 || ny >= h ? 0 : lsrc[ny * w + nx];
        }
    s = out;
}

/// A small UNet, its optimiser, and one training step on a batch.
struct Trainer {
    models::UNet model{models::UNetOptions().base_channels(16).depth(3)};
    optim::Adam opt{model.parameters(), optim::AdamOptions{.lr = 1e-3}};
    void step(const data::Batch& batch) {
        opt.zero_grad();
        Tensor loss = nn::bce_dice_loss(model.forward(batch.images), data::binary_target(batch));
        loss.backward();
        opt.step();
    }
};

const FrameDataset& dataset() {
    static const FrameDataset d;
    return d;
}

data::LoaderOptions loader_options(int workers) {
    data::LoaderOptions o;
    o.batch_size = kBatch;
    o.num_workers = workers;
    o.seed = 1;
    o.transform = augment;
    return o;
}

void step_from_memory(benchmark::State& state) {
    Trainer trainer;
    data::DataLoader loader(dataset(), loader_options(0));
    const data::Batch batch = *loader.epoch(0).next();
    for (auto _ : state) trainer.step(batch);
    state.counters["steps/s"] = benchmark::Counter(double(state.iterations()), benchmark::Counter::kIsRate);
}

void step_through_loader(benchmark::State& state) {
    Trainer trainer;
    data::DataLoader loader(dataset(), loader_options(int(state.range(0))));
    std::int64_t epoch = 0;
    auto batches = std::make_unique<data::Epoch>(loader.epoch(epoch));
    for (auto _ : state) {
        auto batch = batches->next();
        if (!batch) {  // next epoch (its first batch is built while the step runs only with workers)
            batches = std::make_unique<data::Epoch>(loader.epoch(++epoch));
            batch = batches->next();
        }
        trainer.step(*batch);
    }
    state.counters["steps/s"] = benchmark::Counter(double(state.iterations()), benchmark::Counter::kIsRate);
}

void loader_only(benchmark::State& state) {
    data::DataLoader loader(dataset(), loader_options(int(state.range(0))));
    std::int64_t batches = 0, epoch = 0;
    for (auto _ : state) {
        for (data::Batch& b : loader.epoch(epoch++)) benchmark::DoNotOptimize(b.images.data_ptr<float>());
        batches += loader.num_batches();
    }
    state.counters["batches/s"] = benchmark::Counter(double(batches), benchmark::Counter::kIsRate);
}

BENCHMARK(step_from_memory)->Iterations(5)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(step_through_loader)->Arg(0)->Arg(1)->Arg(2)->Iterations(5)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(loader_only)->Arg(0)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
