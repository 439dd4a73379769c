// Concurrency tests: the thread pool, the shared random generator, per-sample generators,
// deterministic reductions, a training step and the data loader's 4 worker threads, all with 8
// pool threads (more than the 2 cores CI has, so that threads really interleave). This program
// is small on purpose: `.ci/run` builds it under ThreadSanitizer (`bash tools/run.sh tsan`),
// which would take too long for the whole suite. The release build runs it too (ctest name
// `concurrency`).
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "fbseg/data/loader.hpp"
#include "fbseg/fbseg.hpp"

using namespace fbseg;

namespace {

/// Sets the pool to `n` threads for one test and restores the previous count afterwards.
struct ThreadCount {
    int previous;
    explicit ThreadCount(int n) : previous(num_threads()) { set_num_threads(n); }
    ~ThreadCount() { set_num_threads(previous); }
};

/// One caller's share of the stress test: `rounds` tiny parallel_for calls of varying length
/// (1 to 12 chunks of work for an 8-thread pool). Every element must be visited exactly once,
/// and the work writes into this frame's own vector: if run() returned while a worker still
/// ran one of its tasks, or a task ran twice, the counts would show it (and ThreadSanitizer
/// would see the race).
std::int64_t hammer(int rounds, int salt) {
    std::int64_t errors = 0;
    for (int r = 0; r < rounds; ++r) {
        const std::int64_t n = 1 + (r * 7 + salt) % 12;
        std::vector<int> visits(std::size_t(n), 0);
        parallel_for(0, n, 1, [&](std::int64_t b, std::int64_t e) {
            for (std::int64_t i = b; i < e; ++i) ++visits[std::size_t(i)];
        });
        for (int v : visits) errors += v != 1;
    }
    return errors;
}

}  // namespace

TEST_CASE("concurrency: thousands of tiny parallel_for calls from two callers at once, 8 pool threads") {
    ThreadCount threads(8);
    std::int64_t errors_a = 0, errors_b = 0;
    std::thread other([&] { errors_b = hammer(3000, 1); });
    errors_a = hammer(3000, 5);
    other.join();
    CHECK(errors_a == 0);
    CHECK(errors_b == 0);
}

TEST_CASE("concurrency: pools replaced while their workers spin for the next job, and after they slept") {
    // The destructor stops workers that are spinning (right after a job) or asleep (after the
    // spin ran out, ~200 us): both must see `stopping_` and leave, or set_num_threads would hang.
    ThreadCount threads(8);
    std::int64_t errors = 0;
    for (int r = 0; r < 60; ++r) {
        set_num_threads(2 + r % 7);
        errors += hammer(5, r);
        if (r % 3 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(2));  // let them sleep
    }
    CHECK(errors == 0);
}

TEST_CASE("concurrency: an exception in a task reaches the caller and the pool keeps working") {
    ThreadCount threads(8);
    for (int r = 0; r < 200; ++r) {
        CHECK_THROWS_AS(parallel_for(0, 8, 1, [](std::int64_t b, std::int64_t) {
                            if (b == 3) FBSEG_FAIL("task ", b, " failed");
                        }),
                        Error);
        std::atomic<std::int64_t> sum{0};
        parallel_for(0, 100, 1, [&](std::int64_t b, std::int64_t e) {
            for (std::int64_t i = b; i < e; ++i) sum += i;
        });
        CHECK(sum.load() == 4950);
    }
}

TEST_CASE("concurrency: the default generator hands out disjoint ranges to threads drawing at once") {
    // Each thread reserves counters from the shared default generator; no range may overlap and
    // none may be lost (a plain `offset_ += n` loses updates under contention).
    Generator& gen = default_generator();
    const std::uint64_t start = gen.offset();
    constexpr int kThreads = 8, kDraws = 2000;
    std::vector<std::vector<std::uint64_t>> firsts(kThreads);
    std::vector<std::thread> pool;
    for (int t = 0; t < kThreads; ++t)
        pool.emplace_back([&, t] {
            for (int d = 0; d < kDraws; ++d) firsts[std::size_t(t)].push_back(gen.reserve(3));
        });
    for (auto& th : pool) th.join();
    std::vector<std::uint64_t> all;
    for (auto& f : firsts) all.insert(all.end(), f.begin(), f.end());
    std::sort(all.begin(), all.end());
    for (std::size_t i = 0; i < all.size(); ++i) CHECK_MESSAGE(all[i] == start + 3 * i, "range ", i);
    CHECK(gen.offset() == start + 3ull * kThreads * kDraws);
}

TEST_CASE("concurrency: randn from several threads at once on the default generator") {
    ThreadCount threads(8);
    std::vector<std::thread> callers;
    std::vector<double> sums(4, 0.0);
    for (int t = 0; t < 4; ++t)
        callers.emplace_back([&, t] { sums[std::size_t(t)] = sum(randn({64, 64})).item<double>(); });
    for (auto& c : callers) c.join();
    for (double s : sums) CHECK(std::isfinite(s));
}

TEST_CASE("concurrency: per-sample generators do not depend on the number of workers") {
    // A data loader draws sample i's augmentation from Generator::for_sample(seed, epoch, i):
    // whichever worker takes sample i, and however many workers there are, it sees the same
    // numbers.
    auto draw_all = [](int threads_n) {
        ThreadCount threads(threads_n);
        std::vector<double> first(64);
        parallel_for(0, 64, 1, [&](std::int64_t b, std::int64_t e) {
            for (std::int64_t i = b; i < e; ++i) {
                Generator g = Generator::for_sample(1234, 7, std::uint64_t(i));
                first[std::size_t(i)] = g.uniform<double>(g.reserve(1));
            }
        });
        return first;
    };
    const auto one = draw_all(1), eight = draw_all(8);
    CHECK(one == eight);
    // Different samples, epochs and seeds give different streams.
    std::vector<double> sorted = one;
    std::sort(sorted.begin(), sorted.end());
    CHECK(std::adjacent_find(sorted.begin(), sorted.end()) == sorted.end());
    CHECK(Generator::for_sample(1234, 7, 0).uniform<double>(0) != Generator::for_sample(1234, 8, 0).uniform<double>(0));
    CHECK(Generator::for_sample(1234, 7, 0).uniform<double>(0) != Generator::for_sample(1235, 7, 0).uniform<double>(0));
}

TEST_CASE("concurrency: reductions give bit-identical results with 1 and 8 threads") {
    Generator gen(42);
    const Tensor x = randn({3, 70001}, {}, gen);
    Tensor s1, s8, m1, m8;
    {
        ThreadCount threads(1);
        s1 = sum(x);
        m1 = sum(x, {1});
    }
    {
        ThreadCount threads(8);
        s8 = sum(x);
        m8 = sum(x, {1});
    }
    CHECK(s1.item<float>() == s8.item<float>());
    CHECK(m1.to_vector<float>() == m8.to_vector<float>());
}

TEST_CASE("concurrency: a UNet training step with 8 threads matches the one-thread step exactly") {
    auto step = [](int threads_n) {
        ThreadCount threads(threads_n);
        manual_seed(3);
        models::UNet model(models::UNetOptions().base_channels(4).depth(2));
        Generator gen(11);
        const Tensor x = randn({2, 1, 32, 32}, {}, gen);
        const Tensor y = gt(rand({2, 1, 32, 32}, {}, gen), 0.5).to(DType::Float32);
        optim::Adam opt(model.parameters(), optim::AdamOptions{.lr = 1e-3});
        for (int s = 0; s < 2; ++s) {
            opt.zero_grad();
            Tensor loss = nn::binary_cross_entropy_with_logits(model.forward(x), y);
            loss.backward();
            opt.step();
        }
        return model.parameters()[0].to_vector<float>();
    };
    CHECK(step(1) == step(8));
}

namespace {

/// A read-only dataset shared by the loader's workers: get() returns the stored tensors
/// themselves (aliases, as an in-memory dataset may), so a worker that wrote into them, or a
/// race between readers, would show here (and to ThreadSanitizer).
class SharedDataset : public data::Dataset {
public:
    explicit SharedDataset(std::size_t n) {
        Generator gen(5);
        for (std::size_t i = 0; i < n; ++i) {
            data::Sample s;
            s.image = randn({1, 16, 16}, {}, gen);
            s.label = gt(s.image.reshape({16, 16}), 0.0).to(DType::Int64);
            s.id = "img" + std::to_string(i);
            s.subject = "sub" + std::to_string(i / 2);
            samples_.push_back(s);
        }
    }
    std::size_t size() const override { return samples_.size(); }
    data::Sample get(std::size_t i) const override { return samples_.at(i); }

private:
    std::vector<data::Sample> samples_;
};

}  // namespace

TEST_CASE("concurrency: the data loader with 4 workers matches 1 worker, beside a training step on 8 pool threads") {
    ThreadCount threads(8);
    const SharedDataset dataset(24);
    const std::vector<float> pristine = dataset.get(3).image.to_vector<float>();
    // a transform made of ops (they run inline on the worker) and per-sample random draws
    auto transform = [](data::Sample& s, data::Rng& rng) {
        const Tensor noise = randn(s.image.shape(), {}, rng.generator());
        s.image = add(mul(s.image, rng.uniform(0.8, 1.2)), mul(noise, 0.05));
        s.image.mul_(1.0);  // an in-place write: must land on the loader's copy, never the dataset's
    };
    auto run = [&](int workers) {
        data::LoaderOptions o;
        o.batch_size = 5;
        o.num_workers = workers;
        o.prefetch = 3;
        o.seed = 77;
        o.transform = transform;
        data::DataLoader loader(dataset, o);
        std::vector<float> images;
        std::vector<std::int64_t> labels;
        for (std::int64_t e = 0; e < 2; ++e)
            for (data::Batch& b : loader.epoch(e)) {
                // the consumer keeps the pool busy meanwhile, as a training step would
                const Tensor x = randn({64, 1024});
                CHECK(std::isfinite(sum(mul(x, x)).item<float>()));
                const auto im = b.images.to_vector<float>();
                const auto la = b.labels.to_vector<std::int64_t>();
                images.insert(images.end(), im.begin(), im.end());
                labels.insert(labels.end(), la.begin(), la.end());
            }
        // an epoch abandoned after one batch: its workers are joined at once
        data::DataLoader(dataset, o).epoch(2).next();
        return std::make_pair(images, labels);
    };
    const auto one = run(1), four = run(4);
    CHECK(one.first.size() == std::size_t(2 * 24 * 256));
    CHECK(one.first == four.first);
    CHECK(one.second == four.second);
    CHECK(dataset.get(3).image.to_vector<float>() == pristine);
}

TEST_CASE("concurrency: 8 threads allocating and freeing large tensors through the CPU block cache") {
    // Sizes from 1 to 3 MiB, so every block goes through the cache (core/cpu_allocator.hpp); each
    // thread fills its tensor with its own value and checks it before freeing: a block handed to
    // two threads at once would show up here (and to ThreadSanitizer).
    std::atomic<int> errors{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t)
        threads.emplace_back([t, &errors] {
            for (int round = 0; round < 40; ++round) {
                const std::int64_t n = (std::int64_t(1) << 18) * (1 + (t + round) % 3);  // 1, 2 or 3 MiB
                Tensor x = empty({n});
                float* p = x.data_ptr<float>();
                std::fill(p, p + n, float(t));
                std::this_thread::yield();
                if (std::any_of(p, p + n, [t](float v) { return v != float(t); })) errors.fetch_add(1);
            }
        });
    for (auto& th : threads) th.join();
    CHECK(errors.load() == 0);
    CHECK(cpu_cache_stats().hits > 0);
}

namespace {
/// A stand-in for a kernel table's packing (the sanitizer builds' baseline copy never packs):
/// packed[i] = w[i] + 1, and a count of the calls.
std::atomic<int> pack_calls{0};
void test_pack(const ConvGeometry& g, const float* w, float* packed) {
    pack_calls.fetch_add(1);
    for (std::int64_t i = 0; i < g.c_out * g.c_in * g.kh * g.kw; ++i) packed[i] = w[i] + 1.0f;
}
}  // namespace

TEST_CASE("concurrency: 8 threads asking the packed-weight cache for 4 layers while one layer's weight changes") {
    // ops/kernel/packed_weight_cache.hpp: hits, misses, replacements of a changed weight and
    // evictions from 8 threads at once. Every copy handed out must be the packing of the weight's
    // value at the version it was asked for (the changing layer's values tell its version apart).
    cpu::GemmKernels<float> kernels = cpu::kernel_table().f32;
    kernels.conv_pack_weights = &test_pack;
    ConvGeometry g;
    g.c_out = 16, g.c_in = 8, g.kh = 3, g.kw = 3;
    const std::int64_t values = g.c_out * g.c_in * g.kh * g.kw;
    std::vector<Tensor> weights;
    for (int l = 0; l < 4; ++l) weights.push_back(full({g.c_out, g.c_in, g.kh, g.kw}, double(l)));
    kernel::clear_packed_weight_cache();
    std::atomic<int> errors{0};
    std::atomic<bool> done{false};
    std::mutex changing;  // the weight of layer 3 changes under this lock; readers of layer 3 take it too
    std::thread writer([&] {
        for (int v = 1; v <= 50; ++v) {
            const std::lock_guard<std::mutex> lock(changing);
            NoGradGuard no_grad;
            weights[3].fill_(3.0 + v);  // bumps the version
        }
        done = true;
    });
    std::vector<std::thread> readers;
    for (int t = 0; t < 8; ++t)
        readers.emplace_back([&, t] {
            for (int round = 0; round < 200 || !done; ++round) {
                const int l = (t + round) % 4;
                std::unique_lock<std::mutex> lock(changing, std::defer_lock);
                if (l == 3) lock.lock();
                const float expected = weights[std::size_t(l)].data_ptr<float>()[0] + 1.0f;
                const auto packed = kernel::packed_conv_weights<float>(g, weights[std::size_t(l)], kernels, values);
                if (packed[0] != expected || packed[values - 1] != expected) errors.fetch_add(1);
                if (round > 2000) break;
            }
        });
    writer.join();
    for (auto& th : readers) th.join();
    CHECK(errors.load() == 0);
    CHECK(pack_calls.load() >= 4);
    CHECK(kernel::packed_weight_cache_size().first <= 4u);  // one entry per layer at most
    kernel::clear_packed_weight_cache();
}

TEST_CASE("concurrency: 4 threads running one resnet18-unet's fused inference at once, 8 pool threads") {
    // nn/fusion.hpp: each Conv2d's folded weights are computed by whichever thread comes first
    // (two may both fold) and kept under the cache's mutex; every thread must get the outputs a
    // lone caller gets, bit for bit (the folds are computed identically).
    ThreadCount threads(8);
    const auto model = models::make_model("resnet18-unet", 1, 1);
    {
        NoGradGuard no_grad;
        Generator gen(4);
        for (auto& [name, m] : model->named_modules())
            if (auto* bn = dynamic_cast<nn::BatchNorm2d*>(m); bn != nullptr)
                bn->running_var.copy_(add(rand({bn->options.num_features_}, {}, gen), 0.5));
    }
    model->eval();
    const Tensor x = randn({1, 1, 32, 32});
    std::vector<std::vector<float>> outputs(4);
    std::vector<std::thread> callers;
    for (std::size_t t = 0; t < outputs.size(); ++t)
        callers.emplace_back([&, t] {
            NoGradGuard no_grad;  // grad mode is per thread
            for (int round = 0; round < 2; ++round) outputs[t] = model->forward(x).to_vector<float>();
        });
    for (auto& th : callers) th.join();
    NoGradGuard no_grad;
    const std::vector<float> alone = model->forward(x).to_vector<float>();
    for (const auto& out : outputs) CHECK(out == alone);
}
