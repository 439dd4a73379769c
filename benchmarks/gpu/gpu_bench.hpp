// benchmarks/gpu/gpu_bench.hpp - what every GPU benchmark program shares: a checked CUDA call and
// an event timer that measures GPU time (a CPU clock would time only the launch, which returns
// before the kernel has run).
#pragma once

#include <cuda_runtime.h>

#include <string>

#include "fbseg/core/error.hpp"

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

}  // namespace fbseg::gpu_bench
