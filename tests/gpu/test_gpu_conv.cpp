// tests/gpu/test_gpu_conv.cpp - the convolution kernels (kernels/conv.cu) against the CPU.
//
// For every shape and every numbered version (forced on all three conv kernels at once):
// conv2d (or conv_transpose2d) on the CPU is the reference; the same op runs on copies of the
// inputs on cuda:0, forward and then backward through autograd with the same random upstream
// gradient, and the output and the gradients of x, weight and bias are compared per element.
// Outputs are poisoned with NaN first, so an element a kernel forgets to write fails.
//
// Tolerances: float32 results are long sums (up to Cg kh kw = 2304 terms forward, N Ho Wo = 8192
// terms for the weight gradient) accumulated in a different order than the CPU's Eigen GEMM, so
// rounding differs by far more than one ulp: atol = rtol = 1e-4. float64: 1e-10.
#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <string>
#include <vector>

#include "fbseg/fbseg.hpp"
#include "gpu_support.hpp"

namespace conv_gpu_tests {

using namespace fbseg;
using gpu_test::kGpu;

constexpr int kVersions = 3;
constexpr double kAtol32 = 1e-4, kRtol32 = 1e-4, kTol64 = 1e-10;

struct Case {
    const char* name;
    std::int64_t n, c_in, h, w, c_out, kh, kw;
    Conv2dParams p;
};

Conv2dParams params(std::int64_t stride, std::int64_t pad, std::int64_t dilation = 1, std::int64_t groups = 1) {
    Conv2dParams p;
    p.stride = {stride, stride}, p.padding = {pad, pad}, p.dilation = {dilation, dilation}, p.groups = groups;
    return p;
}

const std::vector<Case>& cases() {
    static const std::vector<Case> list = {
        {"1x1", 2, 8, 9, 7, 12, 1, 1, params(1, 0)},
        {"1x1 single", 1, 1, 1, 1, 1, 1, 1, params(1, 0)},
        {"3x3 pad 1", 2, 4, 11, 10, 6, 3, 3, params(1, 1)},
        {"3x3 stride 2", 2, 5, 13, 9, 7, 3, 3, params(2, 1)},
        {"7x7 stride 2 pad 3 (resnet stem)", 2, 1, 32, 30, 64, 7, 7, params(2, 3)},
        {"3x3 dilation 2", 2, 3, 12, 13, 5, 3, 3, params(1, 2, 2)},
        {"3x3 groups 2", 2, 6, 9, 11, 10, 3, 3, params(1, 1, 1, 2)},
        {"depthwise 3x3 s1", 2, 16, 15, 14, 16, 3, 3, params(1, 1, 1, 16)},
        {"depthwise 3x3 s2", 3, 8, 15, 17, 8, 3, 3, params(2, 1, 1, 8)},
        {"depthwise 5x5 s1", 2, 8, 13, 12, 8, 5, 5, params(1, 2, 1, 8)},
        {"depthwise 5x5 s2", 2, 12, 17, 16, 12, 5, 5, params(2, 2, 1, 12)},
        {"depthwise multiplier 2", 2, 4, 9, 8, 8, 3, 3, params(1, 1, 1, 4)},
        {"grouped, one input channel per group, 6 outputs", 1, 3, 8, 9, 18, 3, 3, params(1, 1, 1, 3)},
        {"odd sizes", 3, 5, 13, 9, 7, 3, 3, params(1, 1)},
        {"odd sizes, 2x3 kernel, stride 2", 3, 5, 13, 9, 7, 2, 3, params(2, 0)},
        {"65 output channels, 1x1 stride 2", 2, 33, 7, 9, 65, 1, 1, params(2, 0)},
        {"unet 32 -> 32 at 64x64", 2, 32, 64, 64, 32, 3, 3, params(1, 1)},
        {"unet 256 -> 256 at 16x16", 2, 256, 16, 16, 256, 3, 3, params(1, 1)},
    };
    return list;
}

/// A leaf copy of `t` on `device` that records gradients.
Tensor leaf(const Tensor& t, Device device) {
    Tensor l = t.to(device).detach();
    l.set_requires_grad(true);
    return l;
}

std::int64_t largest(std::initializer_list<std::int64_t> sizes) { return std::max(sizes); }

void check_conv2d(const Case& c, DType dtype, std::uint64_t seed) {
    const double atol = dtype == DType::Float32 ? kAtol32 : kTol64, rtol = dtype == DType::Float32 ? kRtol32 : kTol64;
    const Tensor x = gpu_test::random_cpu({c.n, c.c_in, c.h, c.w}, seed, -1, 1, dtype);
    const Tensor w = gpu_test::random_cpu({c.c_out, c.c_in / c.p.groups, c.kh, c.kw}, seed + 1, -1, 1, dtype);
    const Tensor b = gpu_test::random_cpu({c.c_out}, seed + 2, -1, 1, dtype);
    const Device cpu = Device();
    const Tensor xr = leaf(x, cpu), wr = leaf(w, cpu), br = leaf(b, cpu);
    const Tensor y = conv2d(xr, wr, br, c.p);
    const Tensor gy = gpu_test::random_cpu(y.shape(), seed + 3, -1, 1, dtype);
    y.backward(gy);
    const std::int64_t poison = 2 * largest({x.numel(), w.numel(), y.numel()}) + 64;
    for (int v = 1; v <= kVersions; ++v) {
        const std::string what = std::string(c.name) + " " + std::string(dtype_name(dtype)) + " v" + std::to_string(v);
        CAPTURE(what);
        gpu_test::ScopedKernelVersion f("conv2d_forward", v), d("conv2d_backward_data", v),
            k("conv2d_backward_weight", v);
        const Tensor xg = leaf(x, kGpu), wg = leaf(w, kGpu), bg = leaf(b, kGpu);
        gpu_test::poison_cache(poison);
        const Tensor yg = conv2d(xg, wg, bg, c.p);
        gpu_test::check_close(yg, y, atol, rtol, what + " forward");
        gpu_test::poison_cache(poison);
        yg.backward(gy.to(kGpu));
        gpu_test::check_close(xg.grad(), xr.grad(), atol, rtol, what + " grad x");
        gpu_test::check_close(wg.grad(), wr.grad(), atol, rtol, what + " grad weight");
        gpu_test::check_close(bg.grad(), br.grad(), atol, rtol, what + " grad bias");
        // Without a bias (the forward's null-bias path).
        gpu_test::poison_cache(poison);
        gpu_test::check_close(conv2d(x.to(kGpu), w.to(kGpu), Tensor(), c.p), conv2d(x, w, Tensor(), c.p), atol, rtol,
                              what + " forward without bias");
    }
}

TEST_CASE("gpu conv: conv2d forward and gradients match the CPU, every version, float32") {
    std::uint64_t seed = 100;
    for (const Case& c : cases()) check_conv2d(c, DType::Float32, seed += 10);
}

TEST_CASE("gpu conv: conv2d forward and gradients match the CPU, every version, float64") {
    std::uint64_t seed = 500;
    for (const Case& c : cases()) {
        if (c.c_in >= 256) continue;  // the large shape adds nothing in float64
        check_conv2d(c, DType::Float64, seed += 10);
    }
}

struct TransposeCase {
    const char* name;
    std::int64_t n, c_in, h, w, c_out, kh, kw;
    ConvTranspose2dParams p;
};

TEST_CASE("gpu conv: conv_transpose2d forward and gradients match the CPU, every version") {
    auto tp = [](std::int64_t s, std::int64_t pad, std::int64_t out_pad, std::int64_t dil, std::int64_t groups) {
        ConvTranspose2dParams p;
        p.stride = {s, s}, p.padding = {pad, pad}, p.output_padding = {out_pad, out_pad};
        p.dilation = {dil, dil}, p.groups = groups;
        return p;
    };
    const std::vector<TransposeCase> list = {
        {"unet up 2x2 stride 2", 2, 16, 9, 7, 8, 2, 2, tp(2, 0, 0, 1, 1)},
        {"3x3 stride 2 pad 1 out_pad 1", 3, 5, 7, 6, 7, 3, 3, tp(2, 1, 1, 1, 1)},
        {"3x3 groups 2 dilation 2", 2, 6, 8, 9, 4, 3, 3, tp(1, 1, 0, 2, 2)},
        {"1x1", 1, 3, 5, 5, 2, 1, 1, tp(1, 0, 0, 1, 1)},
    };
    std::uint64_t seed = 900;
    for (const TransposeCase& c : list) {
        for (DType dtype : {DType::Float32, DType::Float64}) {
            const double tol = dtype == DType::Float32 ? kAtol32 : kTol64;
            seed += 10;
            const Tensor x = gpu_test::random_cpu({c.n, c.c_in, c.h, c.w}, seed, -1, 1, dtype);
            const Tensor w = gpu_test::random_cpu({c.c_in, c.c_out / c.p.groups, c.kh, c.kw}, seed + 1, -1, 1, dtype);
            const Tensor b = gpu_test::random_cpu({c.c_out}, seed + 2, -1, 1, dtype);
            const Tensor xr = leaf(x, Device()), wr = leaf(w, Device()), br = leaf(b, Device());
            const Tensor y = conv_transpose2d(xr, wr, br, c.p);
            const Tensor gy = gpu_test::random_cpu(y.shape(), seed + 3, -1, 1, dtype);
            y.backward(gy);
            for (int v = 1; v <= kVersions; ++v) {
                const std::string what = std::string(c.name) + " " + std::string(dtype_name(dtype)) + " v" + std::to_string(v);
                CAPTURE(what);
                gpu_test::ScopedKernelVersion f("conv2d_forward", v), d("conv2d_backward_data", v),
                    k("conv2d_backward_weight", v);
                const Tensor xg = leaf(x, kGpu), wg = leaf(w, kGpu), bg = leaf(b, kGpu);
                gpu_test::poison_cache(2 * y.numel() + 64);
                const Tensor yg = conv_transpose2d(xg, wg, bg, c.p);
                gpu_test::check_close(yg, y, tol, tol, what + " forward");
                gpu_test::poison_cache(2 * y.numel() + 64);
                yg.backward(gy.to(kGpu));
                gpu_test::check_close(xg.grad(), xr.grad(), tol, tol, what + " grad x");
                gpu_test::check_close(wg.grad(), wr.grad(), tol, tol, what + " grad weight");
                gpu_test::check_close(bg.grad(), br.grad(), tol, tol, what + " grad bias");
            }
        }
    }
}

TEST_CASE("gpu conv: the weight gradient is deterministic (split-K sums in a fixed order)") {
    // 32 -> 32 at 64x64, batch 4: N Ho Wo = 16384, several splits.
    const Tensor x = gpu_test::random_cpu({4, 32, 64, 64}, 7).to(kGpu);
    const Tensor w = gpu_test::random_cpu({32, 32, 3, 3}, 8).to(kGpu);
    const Tensor gy = gpu_test::random_cpu({4, 32, 64, 64}, 9).to(kGpu);
    ConvGeometry g;
    g.n = 4, g.c_in = 32, g.h = 64, g.w = 64, g.c_out = 32, g.ho = 64, g.wo = 64, g.kh = 3, g.kw = 3, g.ph = 1, g.pw = 1;
    for (int v = 1; v <= kVersions; ++v) {
        gpu_test::ScopedKernelVersion k("conv2d_backward_weight", v);
        std::vector<float> first;
        for (int run = 0; run < 3; ++run) {
            const Tensor gw = empty({32, 32, 3, 3}, TensorOptions().device(kGpu));
            kernel::conv2d_backward_weight(g, x, gy, gw);
            const std::vector<float> values = gw.cpu().to_vector<float>();
            if (run == 0) first = values;
            else CHECK_MESSAGE(values == first, "v", v, " run ", run, " differs from run 0");
        }
    }
    (void)w;
}

TEST_CASE("gpu conv: bias gradient and channel bias add match the CPU") {
    for (auto [n, c, p] : {std::array<std::int64_t, 3>{1, 1, 1}, {3, 7, 33}, {2, 5, 100003}, {4, 64, 0}}) {
        const Tensor gy = gpu_test::random_cpu({n, c, p}, std::uint64_t(n * 1000 + c));
        const Tensor b = gpu_test::random_cpu({c}, std::uint64_t(c + 5));
        Tensor gb_ref = empty({c}), gb = empty({c}, TensorOptions().device(kGpu));
        kernel::conv_bias_backward(gy, gb_ref, n, c, p);
        gpu_test::poison_cache(c + 64);
        kernel::conv_bias_backward(gy.to(kGpu), gb, n, c, p);
        gpu_test::check_close(gb, gb_ref, kAtol32, kRtol32, "conv_bias_backward");
        const Tensor y_ref = gy.clone(), y = gy.to(kGpu);
        kernel::add_channel_bias(y_ref, b, n, c, p);
        kernel::add_channel_bias(y, b.to(kGpu), n, c, p);
        gpu_test::check_close(y, y_ref, 1e-5, 1.3e-6, "add_channel_bias");
    }
}

TEST_CASE("gpu conv: empty batches and a forced version out of range") {
    const Tensor x = empty({0, 3, 8, 8}, TensorOptions().device(kGpu));
    const Tensor w = gpu_test::random_cpu({4, 3, 3, 3}, 3).to(kGpu);
    const Tensor y = conv2d(x, w, Tensor(), params(1, 1));
    CHECK(y.shape() == Shape{0, 4, 8, 8});
    gpu_test::ScopedKernelVersion f("conv2d_forward", 4);
    const Tensor x1 = gpu_test::random_cpu({1, 3, 8, 8}, 4).to(kGpu);
    CHECK_THROWS_AS(conv2d(x1, w, Tensor(), params(1, 1)), Error);
}

}  // namespace conv_gpu_tests
