// tests/gpu/test_gpu_map.cpp - the elementwise maps on CUDA (kernels/map.cu) against the CPU:
// every unary function and its gradient, the binary functions and comparisons with broadcasting
// and strided operands, where, masked_fill, flip, the converting copy (every dtype pair), and
// the ops built on them (concat, pad, contiguous, to(dtype)).
#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "fbseg/fbseg.hpp"
#include "gpu_support.hpp"

namespace map_gpu_tests {

using namespace fbseg;
using gpu_test::check_close;
using gpu_test::kGpu;
using gpu_test::random_cpu;

constexpr double kAtol = 1e-5, kRtol = 1.3e-6;  // PyTorch's float32 elementwise tolerances

/// f on the CPU and on CUDA (inputs copied), forward and the gradient of sum(f(x) * w).
void check_unary(const std::string& name, const std::function<Tensor(const Tensor&)>& f, double lo, double hi,
                 const Shape& shape = {3, 5, 7}) {
    INFO("unary ", name);
    const Tensor x = random_cpu(shape, 11, lo, hi).set_requires_grad(true);
    const Tensor xg = x.detach().to(kGpu).set_requires_grad(true);
    gpu_test::poison_cache(x.numel());
    const Tensor y = f(x), yg = f(xg);
    const Tensor w = random_cpu(y.shape(), 12);  // f may change the shape (a transpose)
    check_close(yg, y, kAtol, kRtol, name + " forward");
    sum(y * w).backward();
    sum(yg * w.to(kGpu)).backward();
    check_close(xg.grad(), x.grad(), kAtol, kRtol, name + " gradient");
}

TEST_CASE("gpu map: every unary function and its gradient matches the CPU") {
    check_unary("neg", [](const Tensor& t) { return neg(t); }, -3, 3);
    check_unary("exp", [](const Tensor& t) { return exp(t); }, -3, 3);
    check_unary("log", [](const Tensor& t) { return log(t); }, 0.1, 5);
    check_unary("sqrt", [](const Tensor& t) { return sqrt(t); }, 0.1, 5);
    check_unary("abs", [](const Tensor& t) { return abs(t); }, -3, 3);
    check_unary("relu", [](const Tensor& t) { return relu(t); }, -3, 3);
    check_unary("leaky_relu", [](const Tensor& t) { return leaky_relu(t, 0.2); }, -3, 3);
    check_unary("sigmoid", [](const Tensor& t) { return sigmoid(t); }, -8, 8);
    check_unary("tanh", [](const Tensor& t) { return tanh(t); }, -3, 3);
    check_unary("silu", [](const Tensor& t) { return silu(t); }, -6, 6);
    check_unary("pow 3", [](const Tensor& t) { return pow(t, 3.0); }, -2, 2);
    check_unary("square", [](const Tensor& t) { return square(t); }, -2, 2);
    check_unary("clamp", [](const Tensor& t) { return clamp(t, -0.5, 0.7); }, -2, 2);
    check_unary("round", [](const Tensor& t) { return round(t * 4.0); }, -2, 2);
    check_unary("softplus", [](const Tensor& t) { return nn::loss_detail::softplus(t); }, -30, 30);
    // a transposed (non-contiguous) input, and one large enough for several blocks per SM
    check_unary("sigmoid of a transpose", [](const Tensor& t) { return sigmoid(t.transpose(0, 2)); }, -4, 4, {4, 5, 6});
    check_unary("relu, 1M elements", [](const Tensor& t) { return relu(t); }, -1, 1, {1000003});
}

TEST_CASE("gpu map: in-place unary ops write through views") {
    const Tensor base = random_cpu({6, 8}, 21, -2, 2);
    Tensor cpu = base.clone(), gpu = base.to(kGpu);
    Tensor cv = cpu.slice(1, 1, 7, 2), gv = gpu.slice(1, 1, 7, 2);  // every other column
    relu_(cv);
    relu_(gv);
    check_close(gpu, cpu, 0, 0, "relu_ on a strided view");
    Tensor c2 = cpu.transpose(0, 1), g2 = gpu.transpose(0, 1);
    clamp_(c2, -0.3, 0.3);
    clamp_(g2, -0.3, 0.3);
    check_close(gpu, cpu, 0, 0, "clamp_ on a transpose");
}

TEST_CASE("gpu map: binary functions with broadcasting, strides and gradients") {
    const Tensor a = random_cpu({4, 1, 6}, 31, -2, 2).set_requires_grad(true);
    const Tensor b = random_cpu({5, 1}, 32, 0.5, 2).set_requires_grad(true);
    const Tensor ag = a.detach().to(kGpu).set_requires_grad(true), bg = b.detach().to(kGpu).set_requires_grad(true);
    const std::vector<std::pair<std::string, std::function<Tensor(const Tensor&, const Tensor&)>>> ops = {
        {"mul", [](const Tensor& x, const Tensor& y) { return x * y; }},
        {"div", [](const Tensor& x, const Tensor& y) { return x / y; }},
        {"maximum", [](const Tensor& x, const Tensor& y) { return maximum(x, y); }},
        {"minimum", [](const Tensor& x, const Tensor& y) { return minimum(x, y); }},
        {"sub then mul by scalar", [](const Tensor& x, const Tensor& y) { return (x - y) * 0.5; }},
    };
    for (const auto& [name, f] : ops) {
        INFO(name);
        const Tensor w = random_cpu({4, 5, 6}, 33);
        gpu_test::poison_cache(120);
        const Tensor y = f(a, b), yg = f(ag, bg);
        check_close(yg, y, kAtol, kRtol, name);
        sum(y * w).backward();
        sum(yg * w.to(kGpu)).backward();
        check_close(ag.grad(), a.grad(), 1e-5, 1e-5, name + " gradient of a");  // summed over broadcast dims
        check_close(bg.grad(), b.grad(), 1e-5, 1e-5, name + " gradient of b");
        a.grad().zero_(), b.grad().zero_(), ag.grad().zero_(), bg.grad().zero_();
    }
    // maximum's gradient on ties: half to each side
    const Tensor t = from_vector(std::vector<double>{1, 2, 3, 4}, {4}).set_requires_grad(true);
    const Tensor u = from_vector(std::vector<double>{1, 5, 3, 0}, {4});
    const Tensor tg = t.detach().to(kGpu).set_requires_grad(true);
    sum(maximum(t, u)).backward();
    sum(maximum(tg, u.to(kGpu))).backward();
    check_close(tg.grad(), t.grad(), 0, 0, "maximum gradient with ties");
}

TEST_CASE("gpu map: comparisons, int64 arithmetic, NaN propagation") {
    const Tensor a = round(random_cpu({7, 9}, 41, -3, 3)), b = round(random_cpu({9}, 42, -3, 3));
    const Tensor ag = a.to(kGpu), bg = b.to(kGpu);
    check_close(gt(ag, bg).to(DType::Float32), gt(a, b).to(DType::Float32), 0, 0, "gt");
    check_close(le(ag, bg).to(DType::Float32), le(a, b).to(DType::Float32), 0, 0, "le");
    check_close(eq(ag, bg).to(DType::Float32), eq(a, b).to(DType::Float32), 0, 0, "eq");
    check_close(ne(ag, 1.0).to(DType::Float32), ne(a, 1.0).to(DType::Float32), 0, 0, "ne scalar");
    const Tensor ai = a.to(DType::Int64), bi = b.to(DType::Int64);
    check_close((ai.to(kGpu) * bi.to(kGpu)).cpu(), ai * bi, 0, 0, "int64 mul");
    check_close(maximum(ai.to(kGpu), bi.to(kGpu)).cpu(), maximum(ai, bi), 0, 0, "int64 maximum");
    const double nan = std::numeric_limits<double>::quiet_NaN();
    const Tensor n = from_vector(std::vector<double>{nan, 1, nan, -2}, {4}), m = from_vector(std::vector<double>{0, nan, 3, 1}, {4});
    const std::vector<double> got = maximum(n.to(kGpu), m.to(kGpu)).to_vector<double>();
    CHECK(std::isnan(got[0]));
    CHECK(std::isnan(got[1]));
    CHECK(std::isnan(got[2]));
    CHECK(got[3] == 1.0);
}

TEST_CASE("gpu map: where, masked_fill and flip match the CPU") {
    const Tensor c = gt(random_cpu({3, 4, 5}, 51), 0.0);
    const Tensor a = random_cpu({3, 4, 5}, 52).set_requires_grad(true), b = random_cpu({4, 1}, 53);
    const Tensor ag = a.detach().to(kGpu).set_requires_grad(true);
    gpu_test::poison_cache(60);
    const Tensor y = where(c, a, b), yg = where(c.to(kGpu), ag, b.to(kGpu));
    check_close(yg, y, 0, 0, "where");
    sum(y).backward();
    sum(yg).backward();
    check_close(ag.grad(), a.grad(), 0, 0, "where gradient");
    const Tensor mask = gt(random_cpu({4, 1}, 54), 0.0);
    check_close(masked_fill(a.detach().to(kGpu), mask.to(kGpu), -7.0), masked_fill(a.detach(), mask, -7.0), 0, 0,
                "masked_fill");
    const Tensor x = random_cpu({2, 3, 4, 5}, 55);
    check_close(flip(x.to(kGpu), {1, 3}), flip(x, {1, 3}), 0, 0, "flip dims 1 and 3");
    check_close(flip(x.transpose(0, 3).to(kGpu).transpose(0, 3), {0, 2}), flip(x, {0, 2}), 0, 0,
                "flip of a transposed tensor");
}

TEST_CASE("gpu map: the converting copy, every dtype pair, with C++-cast rules") {
    const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
    const Tensor src64 = from_vector(std::vector<double>{-2.7, -0.5, 0, 0.5, 1, 2.5, 255, 300, 1e30, -1e30, inf, nan},
                                     {12}, TensorOptions(DType::Float64));
    const std::vector<DType> dtypes = {DType::Float32, DType::Float64, DType::Int64, DType::Bool, DType::UInt8};
    for (DType from : dtypes) {
        const Tensor src = from == DType::UInt8 ? clamp(abs(src64), 0, 255).to(from) : src64.to(from);
        for (DType to : dtypes) {
            INFO("from ", dtype_name(from), " to ", dtype_name(to));
            const Tensor want = src.to(to).to(DType::Float64);
            const Tensor got = src.to(kGpu).to(to).cpu().to(DType::Float64);
            const std::vector<double> w = want.to_vector<double>(), g = got.to_vector<double>();
            for (std::size_t i = 0; i < w.size(); ++i)
                CHECK_MESSAGE((w[i] == g[i] || (std::isnan(w[i]) && std::isnan(g[i]))), "element ", i, ": ", g[i],
                              " vs the CPU's ", w[i]);
        }
    }
}

TEST_CASE("gpu map: concat, pad, contiguous and copies between layouts") {
    const Tensor a = random_cpu({2, 3, 5, 4}, 61).set_requires_grad(true), b = random_cpu({2, 2, 5, 4}, 62);
    const Tensor ag = a.detach().to(kGpu).set_requires_grad(true);
    const Tensor y = concat({a, b}, 1), yg = concat({ag, b.to(kGpu)}, 1);
    check_close(yg, y, 0, 0, "concat along channels");
    const Tensor w = random_cpu(y.shape(), 63);
    sum(y * w).backward();
    sum(yg * w.to(kGpu)).backward();
    check_close(ag.grad(), a.grad(), 0, 0, "concat gradient");
    check_close(pad(ag.detach(), {1, 2, -1, 3}, 0.5), pad(a.detach(), {1, 2, -1, 3}, 0.5), 0, 0, "pad and crop");
    const Tensor p = a.detach().permute({3, 1, 0, 2});
    check_close(p.to(kGpu).contiguous(), p.contiguous(), 0, 0, "contiguous of a permuted CUDA tensor");
    check_close(p.to(kGpu), p, 0, 0, "to(cuda) of a permuted CPU tensor");
    Tensor dst = zeros({5, 6}).to(kGpu);
    Tensor view = dst.slice(1, 0, 6, 2);  // a strided destination
    view.copy_(random_cpu({5, 3}, 64));
    Tensor dst_cpu = zeros({5, 6});
    dst_cpu.slice(1, 0, 6, 2).copy_(random_cpu({5, 3}, 64));
    check_close(dst, dst_cpu, 0, 0, "host to a strided CUDA view");
    Tensor host = zeros({3, 5});
    host.transpose(0, 1).copy_(dst.slice(1, 0, 3));  // a strided host destination from a CUDA view
    check_close(host.transpose(0, 1), dst_cpu.slice(1, 0, 3), 0, 0, "a CUDA view to a strided host view");
}

}  // namespace map_gpu_tests
