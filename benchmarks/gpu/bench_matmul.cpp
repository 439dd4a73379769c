// benchmarks/gpu/bench_matmul.cpp - the SGEMM ladder of fbseg::cuda::bmm_forward against cuBLAS.
//
// A GEMM does 2 m n k floating-point operations; each benchmark reports TFLOP/s (from the GPU
// time of one call, measured with CUDA events: manual time) and, for the fbseg versions, the
// percentage of cuBLAS on the same shape in the same program:
//   - FP32 versions (v1 .. v7) against cublasSgemm in its default math mode (FP32 on the CUDA
//     cores: cuBLAS uses TF32 only when asked); cublasSgemm in pedantic mode is timed too;
//   - the TF32 tensor-core version (v8) against cublasGemmEx with CUBLAS_COMPUTE_32F_FAST_TF32.
// Shapes (row-major, c (m, n) = a (m, k) @ b (k, n)):
//   square4096  m = n = k = 4096, the classic ladder figure (137 GFLOP per call); v1 and v2 run
//               at 2048 instead (square2048, with its own cuBLAS yardstick), because at 4096 a
//               naive call takes seconds;
//   unet32_conv the im2col GEMM of a 3x3 convolution of the classic UNet (base 32) at its second
//               level: 64 output channels, k = 64 * 9 = 576, n = batch 8 x 128 x 128 pixels;
//   resnet34_conv a 3x3 convolution of resnet34's third stage in the smp UNet: 256 channels,
//               k = 256 * 9 = 2304, n = batch 16 x 16 x 16.
// GEMMs of these sizes are compute-bound and their operands (>= 15 MB) do not stay in L2
// between calls in a useful way, so no L2 flush is done between repeats.
//
//     fbseg_gpu_bench_matmul --benchmark_format=json --benchmark_out=matmul.json
#include <benchmark/benchmark.h>
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <iostream>
#include <map>
#include <string>
#include <tuple>

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
constexpr const char* kKernel = "bmm_forward";

void check(cublasStatus_t status, const char* what) {
    if (status != CUBLAS_STATUS_SUCCESS) throw fbseg::Error(std::string(what) + ": cuBLAS status " + std::to_string(int(status)));
}


/// Device float32 buffer, filled with a value, freed (into the allocator's cache) at the end.
class DeviceBuffer {
public:
    DeviceBuffer(int64_t numel, double value) : ptr_(cuda::allocate(std::size_t(numel) * sizeof(float), kDevice)) {
        cuda::fill(ptr_, DType::Float32, numel, value, kDevice);
    }
    ~DeviceBuffer() { cuda::deallocate(ptr_, kDevice); }
    DeviceBuffer(const DeviceBuffer&) = delete;
    DeviceBuffer& operator=(const DeviceBuffer&) = delete;
    float* get() const { return static_cast<float*>(ptr_); }

private:
    void* ptr_;
};

struct GemmShape {
    const char* name;
    int64_t m, k, n;
};
constexpr GemmShape kSquare4096{"square4096", 4096, 4096, 4096};
constexpr GemmShape kSquare2048{"square2048", 2048, 2048, 2048};
constexpr GemmShape kUnetConv{"unet32_conv", 64, 576, 8 * 128 * 128};
constexpr GemmShape kResnetConv{"resnet34_conv", 256, 2304, 16 * 16 * 16};

/// The seconds per call of each cuBLAS yardstick, by (shape, yardstick), filled as they run
/// (they are registered first, so they run before the versions that compare with them).
std::map<std::tuple<std::string, std::string>, double>& yardsticks() {
    static std::map<std::tuple<std::string, std::string>, double> times;
    return times;
}

/// Warm-up call, then one timed call per iteration; reports TFLOP/s and the seconds per call.
template <typename Launch>
double time_gemm(benchmark::State& state, const GemmShape& s, Launch launch) {
    launch();
    cuda::synchronize(kDevice);
    EventTimer timer;
    double total = 0;
    for (auto _ : state) {
        timer.start();
        launch();
        const double seconds = timer.stop_seconds();
        state.SetIterationTime(seconds);
        total += seconds;
    }
    const double flops = 2.0 * double(s.m) * double(s.k) * double(s.n);
    state.counters["TFLOP/s"] = benchmark::Counter(flops * 1e-12 * double(state.iterations()), benchmark::Counter::kIsRate);
    return total / double(state.iterations());
}

enum class Yardstick { SgemmDefault, SgemmPedantic, GemmExTf32 };
const char* yardstick_name(Yardstick y) {
    switch (y) {
        case Yardstick::SgemmDefault: return "sgemm_default";
        case Yardstick::SgemmPedantic: return "sgemm_pedantic";
        case Yardstick::GemmExTf32: return "gemmex_tf32";
    }
    return "?";
}

// cuBLAS is column-major: the row-major c = a b is, read column-major, c^T = b^T a^T, where each
// buffer read column-major is the transpose of the row-major matrix with the same leading dim.
void BM_cublas(benchmark::State& state, GemmShape s, Yardstick y) {
    try {
        DeviceBuffer a(s.m * s.k, 0.5), b(s.k * s.n, 0.25), c(s.m * s.n, 0.0);
        cublasHandle_t handle = nullptr;
        check(cublasCreate(&handle), "cublasCreate");
        struct Destroy {
            cublasHandle_t h;
            ~Destroy() { (void)cublasDestroy(h); }
        } destroy{handle};
        check(cublasSetMathMode(handle, y == Yardstick::SgemmPedantic ? CUBLAS_PEDANTIC_MATH : CUBLAS_DEFAULT_MATH),
              "cublasSetMathMode");
        const float alpha = 1.0f, beta = 0.0f;
        const int m = int(s.m), n = int(s.n), k = int(s.k);
        const double seconds = time_gemm(state, s, [&] {
            if (y == Yardstick::GemmExTf32) {
                check(cublasGemmEx(handle, CUBLAS_OP_N, CUBLAS_OP_N, n, m, k, &alpha, b.get(), CUDA_R_32F, n, a.get(),
                                   CUDA_R_32F, k, &beta, c.get(), CUDA_R_32F, n, CUBLAS_COMPUTE_32F_FAST_TF32,
                                   CUBLAS_GEMM_DEFAULT),
                      "cublasGemmEx");
            } else {
                check(cublasSgemm(handle, CUBLAS_OP_N, CUBLAS_OP_N, n, m, k, &alpha, b.get(), n, a.get(), k, &beta,
                                  c.get(), n),
                      "cublasSgemm");
            }
        });
        yardsticks()[{s.name, yardstick_name(y)}] = seconds;
    } catch (const fbseg::Error& e) {
        state.SkipWithError(e.what());
    }
}

void BM_fbseg(benchmark::State& state, GemmShape s, int version) {
    try {
        DeviceBuffer a(s.m * s.k, 0.5), b(s.k * s.n, 0.25), c(s.m * s.n, 0.0);
        const int64_t sa[3] = {s.m * s.k, s.k, 1}, sb[3] = {s.k * s.n, s.n, 1};
        cuda::set_kernel_version(kKernel, version);
        const double seconds = time_gemm(state, s, [&] {
            cuda::bmm_forward(DType::Float32, a.get(), sa, b.get(), sb, c.get(), 1, s.m, s.k, s.n, kDevice);
        });
        cuda::set_kernel_version(kKernel, 0);
        const Yardstick y = version == 8 ? Yardstick::GemmExTf32 : Yardstick::SgemmDefault;
        const auto it = yardsticks().find({s.name, yardstick_name(y)});
        if (it != yardsticks().end()) state.counters[std::string("%_of_") + yardstick_name(y)] = 100.0 * it->second / seconds;
    } catch (const fbseg::Error& e) {
        cuda::set_kernel_version(kKernel, 0);
        state.SkipWithError(e.what());
    }
}

void register_all() {
    const GemmShape shapes[] = {kSquare4096, kSquare2048, kUnetConv, kResnetConv};
    for (const GemmShape& s : shapes)
        for (Yardstick y : {Yardstick::SgemmDefault, Yardstick::SgemmPedantic, Yardstick::GemmExTf32}) {
            if (s.m == 2048 && y != Yardstick::SgemmDefault) continue;
            benchmark::RegisterBenchmark((std::string("cublas_") + yardstick_name(y) + "/" + s.name).c_str(), BM_cublas, s, y)
                ->UseManualTime()
                ->MinTime(0.05)
                ->Unit(benchmark::kMillisecond);
        }
    for (int version = 1; version <= 8; ++version)
        for (const GemmShape& s : shapes) {
            const bool slow = version <= 2;
            if (slow && s.m == 4096) continue;  // v1, v2: 2048 instead of 4096
            if (!slow && s.m == 2048) continue;
            benchmark::RegisterBenchmark(("fbseg_v" + std::to_string(version) + "/" + s.name).c_str(), BM_fbseg, s, version)
                ->UseManualTime()
                ->MinTime(0.05)
                ->Unit(benchmark::kMillisecond);
        }
}

}  // namespace

int main(int argc, char** argv) {
    return fbseg::gpu_bench::run_benchmarks(argc, argv, register_all);
}
