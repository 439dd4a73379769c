// benchmarks/gpu/bench_reduce.cpp - memory throughput of the reductions and softmax
// (kernels/reduce.cu, kernels/softmax.cu), every numbered version.
//
// These kernels read each input element once (a few bytes out per row), so like the elementwise
// kernels their speed is a memory rate. Each benchmark reports GB/s (the bytes the kernel must at
// least read and write) and pct_of_memcpy: that rate as a percentage of the rate of a
// device-to-device cudaMemcpy of the same input bytes, timed in the same benchmark (the
// yardstick: what the memory system gives a plain copy on this GPU).
//
// Shapes: the full-tensor sums of the classic UNet's batch (8 x 1 x 256 x 256) and of 64M floats,
// the row sums (10^6, 3) (the loss's per-pixel sums) and (3, 10^6), max over the same, softmax
// over dim 1 of [16, 7, 256, 256] (the segmentation logits) and over the last dim of
// [2^20, 7]. Each timed run starts with a cold L2 (a 256 MiB memset between runs, outside the
// timed interval), so small inputs are not served from cache.
//
//     fbseg_gpu_bench_reduce --benchmark_format=json --benchmark_out=reduce.json
#include <benchmark/benchmark.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <iostream>
#include <string>

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
constexpr std::size_t kFlushBytes = std::size_t(256) << 20;  // larger than any GPU's L2



/// Device memory for one benchmark (bytes), filled with `value` as float32 or float64.
class DeviceBuffer {
public:
    DeviceBuffer(std::size_t bytes, DType dtype, double value) : ptr_(cuda::allocate(bytes, kDevice)) {
        const int64_t numel = int64_t(bytes / fbseg::element_size(dtype));
        if (numel > 0) cuda::fill(ptr_, dtype, numel, value, kDevice);
    }
    ~DeviceBuffer() { cuda::deallocate(ptr_, kDevice); }
    DeviceBuffer(const DeviceBuffer&) = delete;
    DeviceBuffer& operator=(const DeviceBuffer&) = delete;
    void* get() const { return ptr_; }

private:
    void* ptr_;
};

/// Evicts the inputs from L2: overwrites a buffer larger than the L2 (not timed).
void flush_l2() {
    static DeviceBuffer flush(kFlushBytes, DType::Float32, 0.0);
    check(cudaMemset(flush.get(), 0, kFlushBytes), "cudaMemset");
}

/// Mean seconds of `launch` over `runs` cold-L2 runs.
template <typename Launch>
double cold_seconds(int runs, Launch launch) {
    EventTimer timer;
    double total = 0;
    for (int i = 0; i < runs; ++i) {
        flush_l2();
        timer.start();
        launch();
        total += timer.stop_seconds();
    }
    return total / runs;
}

/// Times `launch` (after forcing `version` of `kernel`) per iteration with a cold L2; reports
/// bytes/s for `bytes` moved and the percentage of a cudaMemcpy of `input_bytes` (read + write).
template <typename Launch>
void time_kernel(benchmark::State& state, const char* kernel, int version, int64_t bytes, std::size_t input_bytes,
                 Launch launch) {
    try {
        cuda::set_kernel_version(kernel, version);
        launch();  // warm up (and fail early if this version cannot run)
        cuda::synchronize(kDevice);
        EventTimer timer;
        for (auto _ : state) {
            flush_l2();
            timer.start();
            launch();
            state.SetIterationTime(timer.stop_seconds());
        }
        cuda::set_kernel_version(kernel, 0);
        state.SetBytesProcessed(state.iterations() * bytes);
        // the yardstick: a device-to-device copy of the input bytes
        DeviceBuffer from(input_bytes, DType::Float32, 1.0), to(input_bytes, DType::Float32, 0.0);
        const double copy_s = cold_seconds(5, [&] {
            check(cudaMemcpy(to.get(), from.get(), input_bytes, cudaMemcpyDeviceToDevice), "cudaMemcpy");
        });
        const double kernel_s = cold_seconds(3, launch);
        const double copy_rate = 2.0 * double(input_bytes) / copy_s;  // read + write
        const double kernel_rate = double(bytes) / kernel_s;
        state.counters["memcpy_GBps"] = copy_rate / 1e9;
        state.counters["pct_of_memcpy"] = 100.0 * kernel_rate / copy_rate;
    } catch (const fbseg::Error& e) {
        cuda::set_kernel_version(kernel, 0);
        state.SkipWithError(e.what());
    }
}

// sum_rows: args (version, m, r); reads m * r floats, writes m.
void BM_sum_rows_float32(benchmark::State& state) {
    const int version = int(state.range(0));
    const int64_t m = state.range(1), r = state.range(2);
    const std::size_t in_bytes = std::size_t(m * r) * sizeof(float);
    DeviceBuffer in(in_bytes, DType::Float32, 0.5), out(std::size_t(m) * sizeof(float), DType::Float32, 0.0);
    time_kernel(state, "sum_rows", version, int64_t(in_bytes) + m * int64_t(sizeof(float)), in_bytes,
                [&] { cuda::sum_rows(DType::Float32, in.get(), out.get(), m, r, 1, kDevice); });
}

// extreme_rows (max): args (version, m, r); reads m * r floats, writes m floats and m int64.
void BM_max_rows_float32(benchmark::State& state) {
    const int version = int(state.range(0));
    const int64_t m = state.range(1), r = state.range(2);
    const std::size_t in_bytes = std::size_t(m * r) * sizeof(float);
    DeviceBuffer in(in_bytes, DType::Float32, 0.5), values(std::size_t(m) * sizeof(float), DType::Float32, 0.0),
        indices(std::size_t(m) * sizeof(int64_t), DType::Float64, 0.0);
    time_kernel(state, "extreme_rows", version, int64_t(in_bytes) + m * int64_t(sizeof(float) + sizeof(int64_t)),
                in_bytes, [&] {
                    cuda::extreme_rows(DType::Float32, in.get(), values.get(), static_cast<int64_t*>(indices.get()),
                                       m, r, true, kDevice);
                });
}

// softmax_forward: args (version, outer, n, inner); reads and writes outer * n * inner floats.
void BM_softmax_float32(benchmark::State& state) {
    const int version = int(state.range(0));
    const int64_t outer = state.range(1), n = state.range(2), inner = state.range(3);
    const std::size_t bytes = std::size_t(outer * n * inner) * sizeof(float);
    DeviceBuffer x(bytes, DType::Float32, 0.25), y(bytes, DType::Float32, 0.0);
    time_kernel(state, "softmax_forward", version, 2 * int64_t(bytes), bytes, [&] {
        cuda::softmax_forward(DType::Float32, x.get(), y.get(), outer, n, inner, false, kDevice);
    });
}

constexpr int64_t kUnetBatch = 8 * 1 * 256 * 256;  // the classic UNet's input batch
constexpr int64_t k64M = int64_t(64) << 20;

void sum_args(benchmark::internal::Benchmark* b) {
    for (int v = 1; v <= 3; ++v) {
        b->Args({v, 1, kUnetBatch});
        b->Args({v, 1, k64M});
        b->Args({v, 1000000, 3});
        b->Args({v, 3, 1000000});
    }
    b->ArgNames({"version", "m", "r"});
}

void max_args(benchmark::internal::Benchmark* b) {
    for (int v = 1; v <= 3; ++v) {
        b->Args({v, 1, kUnetBatch});
        b->Args({v, 1000000, 3});
        b->Args({v, 3, 1000000});
    }
    b->ArgNames({"version", "m", "r"});
}

void softmax_args(benchmark::internal::Benchmark* b) {
    // [16, 7, 256, 256] along dim 1: v1 (three passes), v3 (registers); v2 needs inner == 1
    b->Args({1, 16, 7, 65536});
    b->Args({3, 16, 7, 65536});
    // [2^20, 7] along the last dim: every version
    for (int v = 1; v <= 3; ++v) b->Args({v, 1 << 20, 7, 1});
    // [16384, 1000] along the last dim (n > 16: v3 falls back to v1)
    b->Args({1, 16384, 1000, 1});
    b->Args({2, 16384, 1000, 1});
    b->ArgNames({"version", "outer", "n", "inner"});
}

BENCHMARK(BM_sum_rows_float32)->Apply(sum_args)->UseManualTime()->MinTime(0.05)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_max_rows_float32)->Apply(max_args)->UseManualTime()->MinTime(0.05)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_softmax_float32)->Apply(softmax_args)->UseManualTime()->MinTime(0.05)->Unit(benchmark::kMicrosecond);

}  // namespace

int main(int argc, char** argv) {
    return fbseg::gpu_bench::run_benchmarks(argc, argv);
}
