// benchmarks/gpu/bench_norm.cpp - memory throughput of batch norm, max pooling and nearest
// upsampling (kernels/batch_norm.cu, pool.cu, resize.cu), each numbered version on the models'
// layer shapes, next to a device-to-device cudaMemcpy of the same bytes (the yardstick: what
// moving that much memory costs at best on this GPU).
//
// All of these kernels are memory bound, so each reports bytes/s of the bytes it must read and
// write at least (batch norm: x read twice in training, y written; backward: x and gy read twice,
// gx written), and the `vs_memcpy` counter: the memcpy's time over the kernel's, for a copy of
// (bytes read + bytes written) / 2 bytes, i.e. the same traffic (a copy reads and writes each
// byte once).
//
// Kernel time is measured on the GPU with CUDA events around each launch (manual time).
//
//     fbseg_gpu_bench_norm --benchmark_format=json --benchmark_out=norm.json
#include <benchmark/benchmark.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <iostream>
#include <string>
#include <vector>

#include "fbseg/core/error.hpp"
#include "fbseg/cuda/api.hpp"
#include "gpu_bench.hpp"

namespace cuda = fbseg::cuda;
using fbseg::DType;
using std::int64_t;

namespace {

using fbseg::gpu_bench::check;
using fbseg::gpu_bench::EventTimer;

constexpr int kDevice = 0;
constexpr int64_t kF = sizeof(float);



/// Device memory of `bytes`, filled with `value` as float32 (so inputs are not all zero).
class DeviceBuffer {
public:
    explicit DeviceBuffer(int64_t bytes, double value = 0.5)
        : ptr_(cuda::allocate(std::size_t(bytes), kDevice)) {
        cuda::fill(ptr_, DType::Float32, bytes / kF, value, kDevice);
    }
    ~DeviceBuffer() { cuda::deallocate(ptr_, kDevice); }
    DeviceBuffer(const DeviceBuffer&) = delete;
    DeviceBuffer& operator=(const DeviceBuffer&) = delete;
    void* get() const { return ptr_; }

private:
    void* ptr_;
};

/// A 64 MiB buffer written between repeats, so that each launch starts with a cold L2 (the H200's
/// L2 is 60 MiB; some inputs here would otherwise be served from it).
void flush_l2() {
    static DeviceBuffer flush(int64_t(64) << 20);
    cuda::fill(flush.get(), DType::Float32, (int64_t(64) << 20) / kF, 1.0, kDevice);
}

/// Time of a device-to-device cudaMemcpy of `bytes` (the yardstick), seconds, best of 5.
double memcpy_seconds(int64_t bytes) {
    DeviceBuffer a(bytes), b(bytes);
    EventTimer timer;
    double best = 1e30;
    for (int i = 0; i < 5; ++i) {
        flush_l2();
        timer.start();
        check(cudaMemcpy(b.get(), a.get(), std::size_t(bytes), cudaMemcpyDeviceToDevice), "cudaMemcpy");
        best = std::min(best, timer.stop_seconds());
    }
    return best;
}

/// Times `launch` with kernel version `version` of `kernel` forced; bytes = read + written.
template <typename Launch>
void time_kernel(benchmark::State& state, const char* kernel, int version, int64_t bytes, Launch launch) {
    try {
        cuda::set_kernel_version(kernel, version);
        launch();
        cuda::synchronize(kDevice);
        EventTimer timer;
        double total = 0;
        for (auto _ : state) {
            flush_l2();
            timer.start();
            launch();
            const double t = timer.stop_seconds();
            total += t;
            state.SetIterationTime(t);
        }
        cuda::set_kernel_version(kernel, 0);
        state.SetBytesProcessed(state.iterations() * bytes);
        const double mean = total / double(state.iterations());
        state.counters["vs_memcpy"] = memcpy_seconds(bytes / 2) / mean;
    } catch (const fbseg::Error& e) {
        cuda::set_kernel_version(kernel, 0);
        state.SkipWithError(e.what());
    }
}

// ---- batch norm: args n, c, s, version -------------------------------------------------------

void BM_batch_norm_forward_train(benchmark::State& state) {
    const int64_t n = state.range(0), c = state.range(1), s = state.range(2), numel = n * c * s;
    DeviceBuffer x(numel * kF, 0.25), y(numel * kF);
    const std::size_t cs = std::size_t(c);
    std::vector<double> gamma(cs, 1.0), beta(cs, 0.0), mean(cs, 0.0), invstd(cs, 0.0), var(cs, 0.0);
    time_kernel(state, "batch_norm_forward", int(state.range(3)), 3 * numel * kF, [&] {
        cuda::batch_norm_forward(DType::Float32, x.get(), y.get(), n, c, s, gamma.data(), beta.data(), true, 1e-5,
                                 mean.data(), invstd.data(), var.data(), kDevice);
    });
}

void BM_batch_norm_backward_train(benchmark::State& state) {
    const int64_t n = state.range(0), c = state.range(1), s = state.range(2), numel = n * c * s;
    DeviceBuffer x(numel * kF, 0.25), gy(numel * kF, 0.75), gx(numel * kF), gw(c * kF), gb(c * kF);
    std::vector<double> gamma(std::size_t(c), 1.0), mean(std::size_t(c), 0.1), invstd(std::size_t(c), 2.0);
    time_kernel(state, "batch_norm_backward", int(state.range(3)), 5 * numel * kF, [&] {
        cuda::batch_norm_backward(DType::Float32, x.get(), gy.get(), gx.get(), gw.get(), gb.get(), n, c, s,
                                  gamma.data(), mean.data(), invstd.data(), true, kDevice);
    });
}

void bn_args(benchmark::internal::Benchmark* b) {
    for (int v = 1; v <= 2; ++v) {
        b->Args({8, 32, 256 * 256, v});   // classic UNet base 32, first level, batch 8
        b->Args({16, 256, 32 * 32, v});   // resnet34-UNet decoder, batch 16
    }
    b->ArgNames({"n", "c", "s", "v"});
}

// ---- max pooling 2x2 stride 2 on 8 x 32 x 256 x 256: args version ----------------------------

fbseg::MaxPool2dGeometry unet_pool() {
    return fbseg::MaxPool2dGeometry{.planes = 8 * 32, .h = 256, .w = 256, .ho = 128, .wo = 128, .kh = 2, .kw = 2,
                                    .sh = 2, .sw = 2};
}

void BM_max_pool2d_forward(benchmark::State& state) {
    const auto g = unet_pool();
    const int64_t in = g.planes * g.h * g.w, out = g.planes * g.ho * g.wo;
    DeviceBuffer x(in * kF, 0.25), y(out * kF), idx(out * 8);
    time_kernel(state, "max_pool2d_forward", 1, in * kF + out * (kF + 8), [&] {
        cuda::max_pool2d_forward(DType::Float32, x.get(), y.get(), static_cast<int64_t*>(idx.get()), g, kDevice);
    });
}

void BM_max_pool2d_backward(benchmark::State& state) {
    const auto g = unet_pool();
    const int64_t in = g.planes * g.h * g.w, out = g.planes * g.ho * g.wo;
    DeviceBuffer x(in * kF, 0.25), y(out * kF), idx(out * 8), gx(in * kF);
    cuda::max_pool2d_forward(DType::Float32, x.get(), y.get(), static_cast<int64_t*>(idx.get()), g, kDevice);
    // v1 reads gy, indices and gx and writes gx; v2 reads gy and indices, then one gx element per window
    const int v = int(state.range(0));
    const int64_t bytes = v == 1 ? out * (kF + 8) + 2 * in * kF : out * (kF + 8) + 2 * out * kF;
    time_kernel(state, "max_pool2d_backward", v, bytes, [&] {
        cuda::max_pool2d_backward(DType::Float32, y.get(), static_cast<const int64_t*>(idx.get()), gx.get(), g,
                                  kDevice);
    });
}

// ---- nearest upsampling x2: args planes, h, w --------------------------------------------------

std::vector<int64_t> double_taps(int64_t n) {
    std::vector<int64_t> t(std::size_t(2 * n));
    for (int64_t i = 0; i < 2 * n; ++i) t[std::size_t(i)] = i / 2;
    return t;
}

void BM_upsample_nearest2d_forward(benchmark::State& state) {
    const fbseg::Resize2dGeometry g{state.range(0), state.range(1), state.range(2), 2 * state.range(1),
                                    2 * state.range(2)};
    const int64_t in = g.planes * g.h * g.w, out = g.planes * g.oh * g.ow;
    DeviceBuffer x(in * kF, 0.25), y(out * kF);
    const auto rows = double_taps(g.h), cols = double_taps(g.w);
    time_kernel(state, "upsample_nearest2d_forward", 1, (in + out) * kF, [&] {
        cuda::upsample_nearest2d_forward(DType::Float32, x.get(), y.get(), g, rows.data(), cols.data(), kDevice);
    });
}

void BM_upsample_nearest2d_backward(benchmark::State& state) {
    const fbseg::Resize2dGeometry g{state.range(0), state.range(1), state.range(2), 2 * state.range(1),
                                    2 * state.range(2)};
    const int64_t in = g.planes * g.h * g.w, out = g.planes * g.oh * g.ow;
    DeviceBuffer gy(out * kF, 0.25), gx(in * kF);
    const auto rows = double_taps(g.h), cols = double_taps(g.w);
    time_kernel(state, "upsample_nearest2d_backward", 1, (out + 2 * in) * kF, [&] {
        cuda::upsample_nearest2d_backward(DType::Float32, gy.get(), gx.get(), g, rows.data(), cols.data(), kDevice);
    });
}

void resize_args(benchmark::internal::Benchmark* b) {
    b->Args({16 * 256, 16, 16});  // resnet34-UNet decoder, batch 16
    b->Args({8 * 64, 128, 128});  // classic UNet decoder, batch 8
    b->ArgNames({"planes", "h", "w"});
}

BENCHMARK(BM_batch_norm_forward_train)->Apply(bn_args)->UseManualTime()->MinTime(0.05)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_batch_norm_backward_train)->Apply(bn_args)->UseManualTime()->MinTime(0.05)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_max_pool2d_forward)->UseManualTime()->MinTime(0.05)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_max_pool2d_backward)->Arg(1)->Arg(2)->ArgName("v")->UseManualTime()->MinTime(0.05)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_upsample_nearest2d_forward)->Apply(resize_args)->UseManualTime()->MinTime(0.05)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_upsample_nearest2d_backward)->Apply(resize_args)->UseManualTime()->MinTime(0.05)->Unit(benchmark::kMicrosecond);

}  // namespace

int main(int argc, char** argv) {
    return fbseg::gpu_bench::run_benchmarks(argc, argv);
}
