// benchmarks/gpu/bench_conv.cpp - the convolution kernels (kernels/conv.cu), every version, on the
// layer shapes of the project's models; cuDNN's forward as the yardstick when it was found.
//
// Throughput is counted as direct-convolution FLOPs, 2 N Cout Ho Wo (Cin / G) kh kw per pass
// (forward, backward-data and backward-weight do the same number of multiply-adds), reported as
// TFLOP/s (float32; the H200's FP32 peak without tensor cores is about 67 TFLOP/s). Kernel time is
// measured with CUDA events around each launch (manual time); the L2 cache is flushed before each
// one (the H200 has 50 MB of L2), so every run starts from memory as in training.
// cuDNN runs first on each shape with the fastest algorithm cudnnFindConvolutionForwardAlgorithm
// reports, in FP32 FMA math (no TF32: CUDNN_FMA_MATH); fbseg's forward then also reports
// pct_of_cudnn = 100 x cuDNN's time / fbseg's time.
//
//     fbseg_gpu_bench_conv --benchmark_format=json --benchmark_out=conv.json
#include <benchmark/benchmark.h>
#include <cuda_runtime.h>
#if FBSEG_BENCH_HAVE_CUDNN
#include <cudnn.h>
#endif

#include <algorithm>
#include <cstdint>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "fbseg/core/error.hpp"
#include "fbseg/cuda/api.hpp"
#include "gpu_bench.hpp"

namespace cuda = fbseg::cuda;
using fbseg::ConvGeometry;
using fbseg::DType;
using std::int64_t;

namespace {

using fbseg::gpu_bench::check;
using fbseg::gpu_bench::EventTimer;

constexpr int kDevice = 0;
constexpr std::size_t kFlushBytes = std::size_t(128) << 20;  // more than the L2 of any GPU we target



/// Device memory filled with small non-zero values, freed into the allocator's cache at the end.
class DeviceBuffer {
public:
    explicit DeviceBuffer(int64_t numel) : ptr_(cuda::allocate(std::size_t(std::max<int64_t>(numel, 1)) * 4, kDevice)) {
        cuda::fill(ptr_, DType::Float32, std::max<int64_t>(numel, 1), 0.01, kDevice);
    }
    ~DeviceBuffer() { cuda::deallocate(ptr_, kDevice); }
    DeviceBuffer(const DeviceBuffer&) = delete;
    DeviceBuffer& operator=(const DeviceBuffer&) = delete;
    float* get() const { return static_cast<float*>(ptr_); }

private:
    void* ptr_;
};

void flush_l2() {
    static DeviceBuffer scratch(int64_t(kFlushBytes / 4));
    check(cudaMemsetAsync(scratch.get(), 0, kFlushBytes, nullptr), "cudaMemsetAsync");
}

struct Shape {
    const char* name;
    ConvGeometry g;
};

ConvGeometry geometry(int64_t n, int64_t c_in, int64_t h, int64_t w, int64_t c_out, int64_t k, int64_t stride,
                      int64_t pad, int64_t groups) {
    ConvGeometry g;
    g.n = n, g.c_in = c_in, g.h = h, g.w = w, g.c_out = c_out, g.kh = k, g.kw = k;
    g.sh = g.sw = stride, g.ph = g.pw = pad, g.groups = groups;
    g.ho = (h + 2 * pad - k) / stride + 1;
    g.wo = (w + 2 * pad - k) / stride + 1;
    return g;
}

const std::vector<Shape>& shapes() {
    static const std::vector<Shape> list = {
        {"unet_b8_32to32_256x256_3x3", geometry(8, 32, 256, 256, 32, 3, 1, 1, 1)},
        {"unet_b8_64to64_128x128_3x3", geometry(8, 64, 128, 128, 64, 3, 1, 1, 1)},
        {"unet_b8_256to256_32x32_3x3", geometry(8, 256, 32, 32, 256, 3, 1, 1, 1)},
        {"resnet34_b16_stem_1to64_256x256_7x7s2", geometry(16, 1, 256, 256, 64, 7, 2, 3, 1)},
        {"effnet_b16_dw96_64x64_3x3", geometry(16, 96, 64, 64, 96, 3, 1, 1, 96)},
    };
    return list;
}

double conv_flops(const ConvGeometry& g) { return 2.0 * double(g.n * g.c_out * g.p() * g.cg() * g.kk()); }

std::map<std::string, double>& cudnn_seconds() {  // shape name -> cuDNN forward time per run
    static std::map<std::string, double> m;
    return m;
}

/// Times `launch` (warm-up first), flushing L2 before each timed run.
template <typename Launch>
double time_kernel(benchmark::State& state, const ConvGeometry& g, Launch launch) {
    double total = 0;
    try {
        launch();
        cuda::synchronize(kDevice);
        EventTimer timer;
        for (auto _ : state) {
            flush_l2();
            timer.start();
            launch();
            const double s = timer.stop_seconds();
            state.SetIterationTime(s);
            total += s;
        }
        state.counters["TFLOP/s"] =
            benchmark::Counter(conv_flops(g) * double(state.iterations()) / 1e12, benchmark::Counter::kIsRate);
    } catch (const std::exception& e) {
        state.SkipWithError(e.what());
    }
    return state.iterations() > 0 ? total / double(state.iterations()) : 0.0;
}

enum class Pass { Forward, BackwardData, BackwardWeight };

const char* kernel_name(Pass pass) {
    switch (pass) {
        case Pass::Forward: return "conv2d_forward";
        case Pass::BackwardData: return "conv2d_backward_data";
        default: return "conv2d_backward_weight";
    }
}

void BM_fbseg(benchmark::State& state, const Shape& shape, Pass pass, int version) {
    const ConvGeometry& g = shape.g;
    DeviceBuffer x(g.n * g.c_in * g.hw()), w(g.c_out * g.k()), b(g.c_out), y(g.n * g.c_out * g.p());
    cuda::set_kernel_version(kernel_name(pass), version);
    const double seconds = time_kernel(state, g, [&] {
        if (pass == Pass::Forward) cuda::conv2d_forward(DType::Float32, g, x.get(), w.get(), b.get(), y.get(), kDevice);
        else if (pass == Pass::BackwardData) cuda::conv2d_backward_data(DType::Float32, g, y.get(), w.get(), x.get(), kDevice);
        else cuda::conv2d_backward_weight(DType::Float32, g, x.get(), y.get(), w.get(), kDevice);
    });
    cuda::set_kernel_version(kernel_name(pass), 0);
    const auto it = cudnn_seconds().find(shape.name);
    if (pass == Pass::Forward && it != cudnn_seconds().end() && seconds > 0)
        state.counters["pct_of_cudnn"] = 100.0 * it->second / seconds;
}

#if FBSEG_BENCH_HAVE_CUDNN
void cudnn_check(cudnnStatus_t status, const char* what) {
    if (status != CUDNN_STATUS_SUCCESS) throw fbseg::Error(std::string(what) + ": " + cudnnGetErrorString(status));
}

void BM_cudnn_forward(benchmark::State& state, const Shape& shape) {
    const ConvGeometry& g = shape.g;
    DeviceBuffer x(g.n * g.c_in * g.hw()), w(g.c_out * g.k()), y(g.n * g.c_out * g.p());
    cudnnHandle_t handle{};
    cudnnTensorDescriptor_t xd{}, yd{};
    cudnnFilterDescriptor_t wd{};
    cudnnConvolutionDescriptor_t cd{};
    void* workspace = nullptr;
    try {
        cudnn_check(cudnnCreate(&handle), "cudnnCreate");
        cudnn_check(cudnnCreateTensorDescriptor(&xd), "cudnnCreateTensorDescriptor");
        cudnn_check(cudnnCreateTensorDescriptor(&yd), "cudnnCreateTensorDescriptor");
        cudnn_check(cudnnCreateFilterDescriptor(&wd), "cudnnCreateFilterDescriptor");
        cudnn_check(cudnnCreateConvolutionDescriptor(&cd), "cudnnCreateConvolutionDescriptor");
        cudnn_check(cudnnSetTensor4dDescriptor(xd, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, int(g.n), int(g.c_in),
                                               int(g.h), int(g.w)),
                    "x descriptor");
        cudnn_check(cudnnSetTensor4dDescriptor(yd, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, int(g.n), int(g.c_out),
                                               int(g.ho), int(g.wo)),
                    "y descriptor");
        cudnn_check(cudnnSetFilter4dDescriptor(wd, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, int(g.c_out), int(g.cg()),
                                               int(g.kh), int(g.kw)),
                    "w descriptor");
        cudnn_check(cudnnSetConvolution2dDescriptor(cd, int(g.ph), int(g.pw), int(g.sh), int(g.sw), int(g.dh),
                                                    int(g.dw), CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT),
                    "conv descriptor");
        cudnn_check(cudnnSetConvolutionGroupCount(cd, int(g.groups)), "group count");
        cudnn_check(cudnnSetConvolutionMathType(cd, CUDNN_FMA_MATH), "math type (FP32 FMA, no TF32)");
        cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
        int returned = 0;
        cudnn_check(cudnnFindConvolutionForwardAlgorithm(handle, xd, wd, cd, yd, CUDNN_CONVOLUTION_FWD_ALGO_COUNT,
                                                         &returned, perf),
                    "cudnnFindConvolutionForwardAlgorithm");
        int best = -1;
        for (int i = 0; i < returned && best < 0; ++i)
            if (perf[i].status == CUDNN_STATUS_SUCCESS && perf[i].mathType != CUDNN_TENSOR_OP_MATH) best = i;
        if (best < 0) throw fbseg::Error("cuDNN found no FP32 forward algorithm");
        const cudnnConvolutionFwdAlgo_t algo = perf[best].algo;
        std::size_t ws_bytes = 0;
        cudnn_check(cudnnGetConvolutionForwardWorkspaceSize(handle, xd, wd, cd, yd, algo, &ws_bytes), "workspace size");
        if (ws_bytes > 0) workspace = cuda::allocate(ws_bytes, kDevice);
        const float alpha = 1.0f, beta = 0.0f;
        const double seconds = time_kernel(state, g, [&] {
            cudnn_check(cudnnConvolutionForward(handle, &alpha, xd, x.get(), wd, w.get(), cd, algo, workspace, ws_bytes,
                                                &beta, yd, y.get()),
                        "cudnnConvolutionForward");
        });
        cudnn_seconds()[shape.name] = seconds;
        state.SetLabel("algo " + std::to_string(int(algo)));
    } catch (const std::exception& e) {
        state.SkipWithError(e.what());
    }
    if (workspace) cuda::deallocate(workspace, kDevice);
    if (cd) (void)cudnnDestroyConvolutionDescriptor(cd);
    if (wd) (void)cudnnDestroyFilterDescriptor(wd);
    if (yd) (void)cudnnDestroyTensorDescriptor(yd);
    if (xd) (void)cudnnDestroyTensorDescriptor(xd);
    if (handle) (void)cudnnDestroy(handle);
}
#endif

void register_all() {
    for (const Shape& shape : shapes()) {
#if FBSEG_BENCH_HAVE_CUDNN
        benchmark::RegisterBenchmark((std::string("cudnn_forward/") + shape.name).c_str(), BM_cudnn_forward, shape)
            ->UseManualTime()
            ->MinTime(0.05)
            ->Unit(benchmark::kMicrosecond);
#endif
        for (Pass pass : {Pass::Forward, Pass::BackwardData, Pass::BackwardWeight}) {
            // v3 differs from v2 only on depthwise shapes.
            const int versions = shape.g.depthwise() ? 3 : 2;
            for (int v = 1; v <= versions; ++v) {
                const std::string name =
                    std::string(kernel_name(pass)) + "/v" + std::to_string(v) + "/" + shape.name;
                benchmark::RegisterBenchmark(name.c_str(), BM_fbseg, shape, pass, v)
                    ->UseManualTime()
                    ->MinTime(0.05)
                    ->Unit(benchmark::kMicrosecond);
            }
        }
    }
}

}  // namespace

int main(int argc, char** argv) {
#if !FBSEG_BENCH_HAVE_CUDNN
    std::cout << "note: built without cuDNN, no yardstick (pct_of_cudnn) is reported" << std::endl;
#endif
    return fbseg::gpu_bench::run_benchmarks(argc, argv, register_all);
}
