// examples/walkthrough/conv_versions.cpp - one convolution computed four ways and timed, the
// numbers of docs/cpu-kernels.md (after llm.c's dev/cuda: a reference, numbered versions, each
// checked against the reference, then timed).
//
//   version 0: the definition, seven nested loops (n, co, oh, ow, ci, ki, kj), a bounds test in
//              the innermost loop
//   version 1: the same sums reordered (n, co, ci, ki, kj, oh, ow) so that the innermost loop runs
//              over a contiguous output row with the padding handled outside it (vectorisable)
//   version 2: im2col of the whole image into col [K, P], then one GEMM W [Cout, K] @ col (Eigen),
//              one thread
//   version 3: fbseg's conv2d, 1 thread and all threads: im2col tile by tile, one GEMM per tile,
//              or, in libfbseg's AVX2 and AVX-512 copies, the direct path that reads the GEMM's
//              operand from padded planes (docs/cpu-kernels.md, version 4; FBSEG_CONV_PATH=im2col
//              forces the tiles)
//
// Shapes: encoder.0's second conv of the classic UNet, x [1, 32, 256, 256], w [32, 32, 3, 3],
// padding 1: 2 * 32 * 288 * 65,536 = 1.21 GFLOP. GFLOP/s = that / the best of 3 runs.
//
//   fbseg_conv_versions [--size S] [--channels C]
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include <Eigen/Core>

#include "fbseg/fbseg.hpp"

namespace {

using Clock = std::chrono::steady_clock;

/// The best of `runs` wall-clock times of f, in seconds.
double best_time(const std::function<void()>& f, int runs = 3) {
    double best = 1e30;
    for (int r = 0; r < runs; ++r) {
        const auto t0 = Clock::now();
        f();
        best = std::min(best, std::chrono::duration<double>(Clock::now() - t0).count());
    }
    return best;
}

std::string cpu_model() {
    std::ifstream in("/proc/cpuinfo");
    for (std::string line; std::getline(in, line);)
        if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
    return "unknown";
}

/// max |a - ref| / max |ref|, in double.
double max_rel_error(const std::vector<float>& a, const std::vector<float>& ref) {
    double num = 0, den = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
        num = std::max(num, std::abs(double(a[i]) - double(ref[i])));
        den = std::max(den, std::abs(double(ref[i])));
    }
    return num / den;
}

}  // namespace

int main(int argc, char** argv) {
    std::int64_t S = 256, C = 32;
    for (int i = 1; i + 1 < argc; ++i) {
        if (!std::strcmp(argv[i], "--size")) S = std::atoll(argv[++i]);
        else if (!std::strcmp(argv[i], "--channels")) C = std::atoll(argv[++i]);
    }
    const std::int64_t H = S, W = S, Cin = C, Cout = C, KH = 3, KW = 3, PAD = 1;
    const std::int64_t K = Cin * KH * KW, P = H * W;  // stride 1, padding 1: Ho = H, Wo = W
    const double gflop = 2.0 * double(Cout) * double(K) * double(P) / 1e9;

    fbseg::Generator gen(0);
    const fbseg::Tensor xt = fbseg::randn({1, Cin, H, W}, {}, gen), wt = fbseg::randn({Cout, Cin, KH, KW}, {}, gen);
    const float* x = xt.data_ptr<float>();
    const float* w = wt.data_ptr<float>();
    std::vector<float> y0(std::size_t(Cout * P)), y1(y0.size()), y2(y0.size()), y3(y0.size());

    // version 0: y[co, oh, ow] = sum_{ci, ki, kj} w[co, ci, ki, kj] * x[ci, oh - 1 + ki, ow - 1 + kj]
    const auto v0 = [&] {
        for (std::int64_t co = 0; co < Cout; ++co)
            for (std::int64_t oh = 0; oh < H; ++oh)
                for (std::int64_t ow = 0; ow < W; ++ow) {
                    float acc = 0;
                    for (std::int64_t ci = 0; ci < Cin; ++ci)
                        for (std::int64_t ki = 0; ki < KH; ++ki)
                            for (std::int64_t kj = 0; kj < KW; ++kj) {
                                const std::int64_t ih = oh - PAD + ki, iw = ow - PAD + kj;
                                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                                acc += w[((co * Cin + ci) * KH + ki) * KW + kj] * x[(ci * H + ih) * W + iw];
                            }
                    y0[std::size_t((co * H + oh) * W + ow)] = acc;
                }
    };
    // version 1: the loops reordered; the innermost runs over the valid ow of one output row.
    const auto v1 = [&] {
        std::fill(y1.begin(), y1.end(), 0.0f);
        for (std::int64_t co = 0; co < Cout; ++co)
            for (std::int64_t ci = 0; ci < Cin; ++ci)
                for (std::int64_t ki = 0; ki < KH; ++ki)
                    for (std::int64_t kj = 0; kj < KW; ++kj) {
                        const float wv = w[((co * Cin + ci) * KH + ki) * KW + kj];
                        const std::int64_t lo = std::max<std::int64_t>(0, PAD - kj);          // first ow with iw >= 0
                        const std::int64_t hi = std::min<std::int64_t>(W, W + PAD - kj);      // last ow with iw < W, + 1
                        for (std::int64_t oh = 0; oh < H; ++oh) {
                            const std::int64_t ih = oh - PAD + ki;
                            if (ih < 0 || ih >= H) continue;
                            float* yr = y1.data() + (co * H + oh) * W;
                            const float* xr = x + (ci * H + ih) * W - PAD + kj;
                            for (std::int64_t ow = lo; ow < hi; ++ow) yr[ow] += wv * xr[ow];
                        }
                    }
    };
    // version 2: col [K, P] (row r = (ci*3 + ki)*3 + kj, column p = oh*W + ow), then Y = W @ col.
    std::vector<float> col(std::size_t(K * P));
    const auto v2 = [&] {
        for (std::int64_t ci = 0; ci < Cin; ++ci)
            for (std::int64_t ki = 0; ki < KH; ++ki)
                for (std::int64_t kj = 0; kj < KW; ++kj) {
                    float* row = col.data() + ((ci * KH + ki) * KW + kj) * P;
                    for (std::int64_t oh = 0; oh < H; ++oh) {
                        const std::int64_t ih = oh - PAD + ki;
                        for (std::int64_t ow = 0; ow < W; ++ow) {
                            const std::int64_t iw = ow - PAD + kj;
                            row[oh * W + ow] = (ih < 0 || ih >= H || iw < 0 || iw >= W) ? 0.0f : x[(ci * H + ih) * W + iw];
                        }
                    }
                }
        using RowMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
        const Eigen::Map<const RowMatrix> Wm(w, Cout, K);
        const Eigen::Map<const RowMatrix> Cm(col.data(), K, P);
        Eigen::Map<RowMatrix> Ym(y2.data(), Cout, P);
        Ym.noalias() = Wm * Cm;
    };
    // version 3: the library.
    const auto v3 = [&] {
        const fbseg::Tensor y = fbseg::conv2d(xt, wt, fbseg::Tensor(), fbseg::Conv2dParams{.padding = {PAD, PAD}});
        std::memcpy(y3.data(), y.data_ptr<float>(), y3.size() * sizeof(float));
    };

    const unsigned hw_threads = std::max(1u, std::thread::hardware_concurrency());
    std::printf("conv2d x [1, %lld, %lld, %lld] * w [%lld, %lld, 3, 3], padding 1: K = %lld, P = %lld, %.2f GFLOP\n",
                (long long)Cin, (long long)H, (long long)W, (long long)Cout, (long long)Cin, (long long)K,
                (long long)P, gflop);
    std::printf("CPU: %s, %u hardware threads; compiler: g++ %s; versions 0-2: %s; version 3: libfbseg's %s kernels\n",
                cpu_model().c_str(), hw_threads, __VERSION__,
#if defined(__AVX512F__)
                "AVX-512"
#elif defined(__AVX2__)
                "AVX2"
#elif defined(__AVX__)
                "AVX"
#else
                "SSE2 only (no -march)"
#endif
                ,
                std::string(fbseg::cpu::kernel_isa()).c_str());
    fbseg::set_num_threads(1);
    const double t0 = best_time(v0), t1 = best_time(v1), t2 = best_time(v2), t3 = best_time(v3);
    fbseg::set_num_threads(int(hw_threads));
    std::vector<float> y3_all(y3.size());
    const double t3n = best_time([&] {
        v3();
        y3_all = y3;
    });
    std::printf("%-44s %9s %9s %14s\n", "version", "ms", "GFLOP/s", "max rel. err");
    const auto row = [&](const char* name, double t, const std::vector<float>& y) {
        std::printf("%-44s %9.1f %9.2f %14.1e\n", name, t * 1e3, gflop / t, max_rel_error(y, y3));
    };
    row("0: seven loops, 1 thread", t0, y0);
    row("1: loops reordered, inner loop contiguous", t1, y1);
    row("2: im2col (whole image) + Eigen GEMM", t2, y2);
    row("3: fbseg conv2d (libfbseg), 1 thread", t3, y3);
    char name[64];
    std::snprintf(name, sizeof name, "3: fbseg conv2d, %u threads", hw_threads);
    row(name, t3n, y3_all);
    std::printf("col for version 2: %.1f MB\n", double(col.size()) * sizeof(float) / 1e6);
    return 0;
}
