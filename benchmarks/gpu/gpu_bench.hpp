// benchmarks/gpu/gpu_bench.hpp - what every GPU benchmark program shares: a checked CUDA call and
// an event timer that measures GPU time (a CPU clock would time only the launch, which returns
// before the kernel has run).
#pragma once

#include <benchmark/benchmark.h>
#include <cuda_runtime.h>

#include <functional>
#include <iostream>
#include <string>

#include "fbseg/core/error.hpp"
#include "fbseg/cuda/api.hpp"

namespace fbseg::gpu_bench {

/// Throws fbseg::Error naming `what` when a CUDA runtime call failed.
inline void check(cudaError_t status, const char* what) {
    if (status != cudaSuccess) throw fbseg::Error(std::string(what) + ": " + cudaGetErrorString(status));
}

/// GPU time between two events recorded on the default stream, where fbseg launches its kernels.
class EventTimer {
public:
    EventTimer() {
        check(cudaEventCreate(&start_), "cudaEventCreate");
        check(cudaEventCreate(&stop_), "cudaEventCreate");
    }
    ~EventTimer() {
        (void)cudaEventDestroy(start_);
        (void)cudaEventDestroy(stop_);
    }
    EventTimer(const EventTimer&) = delete;
    EventTimer& operator=(const EventTimer&) = delete;

    void start() { check(cudaEventRecord(start_, nullptr), "cudaEventRecord"); }
    /// Seconds since start(), once the work queued before this call has finished.
    double stop_seconds() {
        check(cudaEventRecord(stop_, nullptr), "cudaEventRecord");
        check(cudaEventSynchronize(stop_), "cudaEventSynchronize");
        float milliseconds = 0.0f;
        check(cudaEventElapsedTime(&milliseconds, start_, stop_), "cudaEventElapsedTime");
        return double(milliseconds) / 1e3;
    }

private:
    cudaEvent_t start_{};
    cudaEvent_t stop_{};
};

/// A GPU benchmark program's main: "skipped: no CUDA device" and exit 0 without a GPU; otherwise
/// registers the benchmarks made at run time (`register_all`, may be empty) and runs them all.
inline int run_benchmarks(int argc, char** argv, const std::function<void()>& register_all = {}) {
    if (fbseg::cuda::device_count() == 0) {
        std::cout << "skipped: no CUDA device" << std::endl;
        return 0;
    }
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    if (register_all) register_all();
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}

}  // namespace fbseg::gpu_bench
