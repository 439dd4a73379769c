// benchmarks/gpu/bench_elementwise.cpp - memory throughput of fbseg::cuda::fill and ::add.
//
// Elementwise kernels do almost no arithmetic: their speed is the rate at which they move bytes
// to and from GPU memory, so each benchmark reports bytes/s (the bytes the kernel must read and
// write at least) to compare with the GPU's peak bandwidth (about 3.35 TB/s on an H100 SXM).
//
// Kernel time is measured on the GPU with CUDA events (manual time): a CPU timer would measure
// the launch, which returns before the kernel has run.
//
//     fbseg_gpu_bench_elementwise --benchmark_format=json --benchmark_out=elementwise.json
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
constexpr int64_t kRows = 4096, kCols = 4096;
constexpr int64_t kNumel = kRows * kCols;  // 2^24 float32 elements, 64 MiB per tensor
constexpr int64_t kFloatBytes = sizeof(float);



/// Device memory for one benchmark, freed (into the allocator's cache) at the end.
class DeviceBuffer {
public:
    explicit DeviceBuffer(int64_t numel) : ptr_(cuda::allocate(std::size_t(numel) * kFloatBytes, kDevice)) {
        cuda::fill(ptr_, DType::Float32, numel, 1.0, kDevice);
    }
    ~DeviceBuffer() { cuda::deallocate(ptr_, kDevice); }
    DeviceBuffer(const DeviceBuffer&) = delete;
    DeviceBuffer& operator=(const DeviceBuffer&) = delete;
    float* get() const { return static_cast<float*>(ptr_); }

private:
    void* ptr_;
};

/// Runs `launch` once to warm up, then once per iteration between two events.
template <typename Launch>
void time_kernel(benchmark::State& state, int64_t bytes_per_run, Launch launch) {
    try {
        launch();
        cuda::synchronize(kDevice);
        EventTimer timer;
        for (auto _ : state) {
            timer.start();
            launch();
            state.SetIterationTime(timer.stop_seconds());
        }
        state.SetBytesProcessed(state.iterations() * bytes_per_run);
    } catch (const fbseg::Error& e) {
        state.SkipWithError(e.what());
    }
}

cuda::StridedOperand operand(const float* data, int64_t row_stride, int64_t col_stride) {
    cuda::StridedOperand op;
    op.data = data;
    op.strides[0] = row_stride;
    op.strides[1] = col_stride;
    return op;
}

const int64_t kSizes[2] = {kRows, kCols};
const int64_t kContiguousStrides[2] = {kCols, 1};

// fill: writes every element once.
void BM_fill_float32(benchmark::State& state) {
    DeviceBuffer out(kNumel);
    time_kernel(state, kNumel * kFloatBytes, [&] { cuda::fill(out.get(), DType::Float32, kNumel, 2.0, kDevice); });
}

// add, all contiguous (4096,4096) + (4096,4096): reads two tensors, writes one.
void BM_add_contiguous_float32(benchmark::State& state) {
    DeviceBuffer out(kNumel), a(kNumel), b(kNumel);
    time_kernel(state, 3 * kNumel * kFloatBytes, [&] {
        cuda::add(DType::Float32, 2, kSizes, out.get(), kContiguousStrides, operand(a.get(), kCols, 1),
                  operand(b.get(), kCols, 1), 1.0, kDevice);
    });
}

// add with broadcast (4096,4096) + (1,4096): the row vector stays in cache, so the minimum
// traffic is one tensor read and one written.
void BM_add_broadcast_float32(benchmark::State& state) {
    DeviceBuffer out(kNumel), a(kNumel), row(kCols);
    time_kernel(state, (2 * kNumel + kCols) * kFloatBytes, [&] {
        cuda::add(DType::Float32, 2, kSizes, out.get(), kContiguousStrides, operand(a.get(), kCols, 1),
                  operand(row.get(), 0, 1), 1.0, kDevice);
    });
}

// add with a transposed operand: a^T + b, the reads of a^T are strided (not coalesced).
void BM_add_transposed_float32(benchmark::State& state) {
    DeviceBuffer out(kNumel), a(kNumel), b(kNumel);
    time_kernel(state, 3 * kNumel * kFloatBytes, [&] {
        cuda::add(DType::Float32, 2, kSizes, out.get(), kContiguousStrides, operand(a.get(), 1, kRows),
                  operand(b.get(), kCols, 1), 1.0, kDevice);
    });
}

BENCHMARK(BM_fill_float32)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_add_contiguous_float32)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_add_broadcast_float32)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_add_transposed_float32)->UseManualTime()->Unit(benchmark::kMicrosecond);

}  // namespace

int main(int argc, char** argv) {
    return fbseg::gpu_bench::run_benchmarks(argc, argv);
}
