// tests/gpu/test_gpu_norm.cpp - the CUDA kernels of batch norm, pooling, resizing and dropout
// (kernels/batch_norm.cu, pool.cu, resize.cu, dropout.cu) against the CPU.
//
// For every kernel and every numbered version: random inputs (never constant), the public op on
// the CPU as the reference, the same op on cuda:0 copies, outputs poisoned with NaN first,
// compared per element; then the gradients through autograd (the same random output gradient on
// both devices). Tolerances: batch norm atol = rtol = 1e-4, because its per-channel sums run over
// up to 8 * 128 * 128 values in a different order on the GPU (a tree of partial sums instead of
// the CPU's serial loop; both in double, but the float32 outputs and gradients are rounded from
// slightly different doubles, and the gradient formula subtracts nearly equal terms); the
// pooling and resizing kernels add in the CPU's order (bit-identical in practice) and use the
// elementwise tolerances rtol 1.3e-6, atol 1e-5; max-pool indices and dropout masks are exact.
#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "fbseg/fbseg.hpp"
#include "gpu/gpu_support.hpp"

namespace norm_gpu_tests {

using namespace fbseg;
using gpu_test::check_close;
using gpu_test::kGpu;
using gpu_test::poison_cache;
using gpu_test::random_cpu;
using gpu_test::ScopedKernelVersion;

constexpr double kBnTol = 1e-4;         // long float32 sums (see the header comment)
constexpr double kRtol = 1.3e-6, kAtol = 1e-5;  // elementwise-like results

std::string shape_name(const Shape& s) { return shape_str(s); }

/// Runs `f` on a CPU copy and a CUDA copy of x, compares the outputs, then back-propagates the
/// same random gradient on both and compares x's gradients.
void check_op_and_grad(const std::function<Tensor(const Tensor&)>& f, const Tensor& x_cpu, double atol, double rtol,
                       const std::string& what) {
    Tensor xc = x_cpu.detach();
    xc.set_requires_grad(true);
    Tensor yc = f(xc);
    const Tensor g = random_cpu(yc.shape(), 4242, -1.0, 1.0, x_cpu.dtype());
    yc.backward(g);

    poison_cache(2 * yc.numel() + 64);
    Tensor xg = x_cpu.detach().to(kGpu);
    xg.set_requires_grad(true);
    Tensor yg = f(xg);
    CHECK(yg.device() == kGpu);
    check_close(yg, yc, atol, rtol, what + " forward");
    poison_cache(2 * x_cpu.numel() + 64);
    yg.backward(g.to(kGpu));
    REQUIRE(xg.grad().defined());
    check_close(xg.grad(), xc.grad(), atol, rtol, what + " grad x");
}

// ---- batch norm ---------------------------------------------------------------------------

struct BnCase {
    Shape shape;
    double offset;  // added to x: |mean| >> std exercises the shifted sums
};

const std::vector<BnCase> kBnCases = {
    {{1, 1, 7, 3}, 0.0},      {{3, 3, 5, 7}, 2.0},      {{3, 33, 4, 9}, -1.0}, {{2, 1, 33, 17}, 5.0},
    {{8, 33}, 0.5},           {{1, 3, 1, 2}, 0.0},      {{16, 256, 8, 8}, 0.0}, {{3, 2, 61, 67}, 1.0},
    {{8, 32, 128, 128}, 0.25},
};

void check_batch_norm(const BnCase& bc, int version, bool training, bool running, bool affine, DType dtype) {
    const std::string what = "batch_norm v" + std::to_string(version) + " " + shape_name(bc.shape) +
                              (training ? " train" : " eval") + (running ? " running" : "") +
                              (affine ? " affine" : "") + (dtype == DType::Float64 ? " f64" : " f32");
    CAPTURE(what);
    ScopedKernelVersion vf("batch_norm_forward", version);
    ScopedKernelVersion vb("batch_norm_backward", version);
    const std::int64_t c = bc.shape[1];
    const Tensor x = random_cpu(bc.shape, 11, -1.0, 1.0, dtype) + bc.offset;
    const Tensor w0 = random_cpu({c}, 12, 0.5, 1.5, dtype), b0 = random_cpu({c}, 13, -0.5, 0.5, dtype);
    const Tensor rm0 = random_cpu({c}, 14, -0.2, 0.2, dtype), rv0 = random_cpu({c}, 15, 0.5, 2.0, dtype);
    const Tensor gy = random_cpu(bc.shape, 16, -1.0, 1.0, dtype);

    auto run = [&](Device dev, Tensor& y, Tensor& gx, Tensor& gw, Tensor& gb, Tensor& rm, Tensor& rv) {
        Tensor xd = x.to(dev).detach(), w = affine ? w0.to(dev).detach() : Tensor(),
               b = affine ? b0.to(dev).detach() : Tensor();
        xd.set_requires_grad(true);
        if (affine) w.set_requires_grad(true), b.set_requires_grad(true);
        // clone: on the CPU .to(kCPU) is the same tensor, which batch_norm updates in place
        rm = running ? rm0.clone().to(dev) : Tensor();
        rv = running ? rv0.clone().to(dev) : Tensor();
        if (dev == kGpu) poison_cache(2 * x.numel() + 64);
        y = batch_norm(xd, rm, rv, w, b, training, 0.1, 1e-5);
        if (dev == kGpu) poison_cache(2 * x.numel() + 64);
        y.backward(gy.to(dev));
        gx = xd.grad();
        if (affine) gw = w.grad(), gb = b.grad();
    };
    Tensor yc, gxc, gwc, gbc, rmc, rvc, yg, gxg, gwg, gbg, rmg, rvg;
    run(kCPU, yc, gxc, gwc, gbc, rmc, rvc);
    run(kGpu, yg, gxg, gwg, gbg, rmg, rvg);
    check_close(yg, yc, kBnTol, kBnTol, what + " y");
    check_close(gxg, gxc, kBnTol, kBnTol, what + " grad x");
    if (affine) {
        check_close(gwg, gwc, kBnTol, kBnTol, what + " grad weight");
        check_close(gbg, gbc, kBnTol, kBnTol, what + " grad bias");
    }
    if (running) {
        check_close(rmg, rmc, kBnTol, kBnTol, what + " running_mean");
        check_close(rvg, rvc, kBnTol, kBnTol, what + " running_var");
    }
}

TEST_CASE("gpu batch_norm: training forward, running statistics and backward, every version") {
    for (int version = 1; version <= 2; ++version)
        for (const BnCase& bc : kBnCases) check_batch_norm(bc, version, true, true, true, DType::Float32);
}

TEST_CASE("gpu batch_norm: eval mode with running statistics, and batch statistics without them") {
    for (int version = 1; version <= 2; ++version)
        for (const BnCase& bc : kBnCases) {
            if (bc.shape[0] * bc.shape[1] > 4096) continue;  // the big layer is covered in training mode
            check_batch_norm(bc, version, false, true, true, DType::Float32);
            check_batch_norm(bc, version, false, false, true, DType::Float32);
            check_batch_norm(bc, version, true, false, false, DType::Float32);
        }
}

TEST_CASE("gpu batch_norm: float64") {
    for (int version = 1; version <= 2; ++version) {
        check_batch_norm(kBnCases[2], version, true, true, true, DType::Float64);
        check_batch_norm(kBnCases[7], version, false, true, true, DType::Float64);
    }
}

TEST_CASE("gpu batch_norm: the statistics are deterministic (the same bits on every run)") {
    const Tensor x = random_cpu({8, 32, 64, 64}, 21).to(kGpu);
    for (int version = 1; version <= 2; ++version) {
        ScopedKernelVersion vf("batch_norm_forward", version);
        const Tensor a = batch_norm(x, Tensor(), Tensor(), Tensor(), Tensor(), true);
        const Tensor b = batch_norm(x, Tensor(), Tensor(), Tensor(), Tensor(), true);
        check_close(a, b, 0.0, 0.0, "batch_norm v" + std::to_string(version) + " run to run");
    }
}

// ---- pooling ------------------------------------------------------------------------------

struct PoolCase {
    MaxPool2dParams params;
    bool overlapping;
};

MaxPool2dParams pool_params(std::int64_t k, std::int64_t s, std::int64_t p, std::int64_t d, bool ceil) {
    MaxPool2dParams q;
    q.kernel = {k, k};
    q.stride = {s, s};
    q.padding = {p, p};
    q.dilation = {d, d};
    q.ceil_mode = ceil;
    return q;
}

const std::vector<PoolCase> kPoolCases = {
    {pool_params(2, 2, 0, 1, false), false}, {pool_params(2, 2, 0, 1, true), false},
    {pool_params(3, 3, 1, 1, false), false}, {pool_params(3, 1, 1, 1, false), true},
    {pool_params(3, 2, 1, 1, true), true},   {pool_params(3, 1, 1, 2, false), true},
};

const std::vector<Shape> kPoolShapes = {{1, 1, 7, 7}, {3, 3, 33, 17}, {2, 33, 8, 9}, {1, 1, 3, 5}, {8, 32, 128, 128}};

TEST_CASE("gpu pool: max_pool2d forward, indices and backward, every version") {
    for (const PoolCase& pc : kPoolCases)
        for (const Shape& shape : kPoolShapes) {
            const auto& q = pc.params;
            if (shape[2] < (q.kernel[0] - 1) * q.dilation[0] + 1 - 2 * q.padding[0]) continue;
            for (int version = 1; version <= (pc.overlapping ? 1 : 2); ++version) {
                ScopedKernelVersion v("max_pool2d_backward", version);
                const std::string what = "max_pool2d k" + std::to_string(q.kernel[0]) + " s" +
                                         std::to_string(q.stride[0]) + " p" + std::to_string(q.padding[0]) + " d" +
                                         std::to_string(q.dilation[0]) + (q.ceil_mode ? " ceil" : "") + " v" +
                                         std::to_string(version) + " " + shape_name(shape);
                check_op_and_grad([&](const Tensor& t) { return max_pool2d(t, q); }, random_cpu(shape, 31), kAtol,
                                  kRtol, what);
            }
        }
}

TEST_CASE("gpu pool: max_pool2d indices are the CPU's exactly, NaN and -inf included") {
    const Shape shape{2, 3, 9, 11};
    Tensor x = random_cpu(shape, 41);
    std::vector<float> v = x.to_vector<float>();
    v[5] = std::numeric_limits<float>::quiet_NaN();
    v[100] = std::numeric_limits<float>::quiet_NaN();
    for (int i = 200; i < 240; ++i) v[std::size_t(i)] = -std::numeric_limits<float>::infinity();
    x = from_vector(v, shape);
    for (const PoolCase& pc : kPoolCases) {
        const auto& q = pc.params;
        const std::int64_t ho = pool_detail::output_size(9, q.kernel[0], q.padding[0], q.stride[0], q.dilation[0],
                                                         q.ceil_mode);
        const std::int64_t wo = pool_detail::output_size(11, q.kernel[1], q.padding[1], q.stride[1], q.dilation[1],
                                                         q.ceil_mode);
        const MaxPool2dGeometry g{.planes = 6, .h = 9, .w = 11, .ho = ho, .wo = wo, .kh = q.kernel[0],
                                  .kw = q.kernel[1], .sh = q.stride[0], .sw = q.stride[1], .ph = q.padding[0],
                                  .pw = q.padding[1], .dh = q.dilation[0], .dw = q.dilation[1]};
        Tensor yc = empty({2, 3, ho, wo}), ic = empty({2, 3, ho, wo}, TensorOptions(DType::Int64));
        kernel::max_pool2d_forward(x, yc, ic, g);
        poison_cache(4096);
        const Tensor xg = x.to(kGpu);
        Tensor yg = empty({2, 3, ho, wo}, TensorOptions(DType::Float32).device(kGpu));
        Tensor ig = empty({2, 3, ho, wo}, TensorOptions(DType::Int64).device(kGpu));
        kernel::max_pool2d_forward(xg, yg, ig, g);
        CHECK(ig.cpu().to_vector<std::int64_t>() == ic.to_vector<std::int64_t>());
        const std::vector<float> a = yg.cpu().to_vector<float>(), b = yc.to_vector<float>();
        bool same = true;
        for (std::size_t i = 0; i < a.size(); ++i)
            same = same && ((std::isnan(a[i]) && std::isnan(b[i])) || a[i] == b[i]);
        CHECK_MESSAGE(same, "max_pool2d values with NaN and -inf differ");
    }
}

TEST_CASE("gpu pool: max_pool2d float64") {
    check_op_and_grad([](const Tensor& t) { return max_pool2d(t, pool_params(3, 1, 1, 1, false)); },
                      random_cpu({3, 3, 17, 13}, 51, -1, 1, DType::Float64), kAtol, kRtol, "max_pool2d f64 overlap");
    ScopedKernelVersion v("max_pool2d_backward", 2);
    check_op_and_grad([](const Tensor& t) { return max_pool2d(t, pool_params(2, 2, 0, 1, false)); },
                      random_cpu({3, 3, 17, 13}, 52, -1, 1, DType::Float64), kAtol, kRtol, "max_pool2d f64 v2");
}

TEST_CASE("gpu pool: adaptive_avg_pool2d forward and backward") {
    const std::vector<std::pair<Shape, std::array<std::int64_t, 2>>> cases = {
        {{1, 1, 7, 7}, {1, 1}},     {{3, 3, 33, 17}, {5, 4}},  {{2, 33, 8, 9}, {3, 3}},
        {{1, 3, 5, 3}, {7, 6}},     {{3, 1, 16, 16}, {4, 4}},  {{8, 32, 128, 128}, {7, 7}},
        {{2, 3, 1, 1}, {3, 2}},
    };
    for (const DType dtype : {DType::Float32, DType::Float64})
        for (const auto& [shape, out] : cases) {
            const std::string what = "adaptive_avg_pool2d " + shape_name(shape) + " -> " + std::to_string(out[0]) +
                                     "x" + std::to_string(out[1]);
            check_op_and_grad([&](const Tensor& t) { return adaptive_avg_pool2d(t, out); },
                              random_cpu(shape, 61, -1, 1, dtype), kAtol, kRtol, what);
        }
}

// ---- resizing -----------------------------------------------------------------------------

const std::vector<Shape> kResizeShapes = {{1, 1, 7, 5}, {3, 3, 16, 16}, {2, 33, 9, 13}, {1, 1, 1, 1}, {8, 32, 64, 64}};

TEST_CASE("gpu resize: nearest, scale 2 and odd output sizes, forward and backward") {
    for (const DType dtype : {DType::Float32, DType::Float64})
        for (const Shape& shape : kResizeShapes) {
            const Tensor x = random_cpu(shape, 71, -1, 1, dtype);
            check_op_and_grad([](const Tensor& t) { return upsample_nearest2d(t, 2.0); }, x, kAtol, kRtol,
                              "nearest x2 " + shape_name(shape));
            for (const std::array<std::int64_t, 2> out : {std::array<std::int64_t, 2>{17, 11}, {3, 7}, {1, 2}})
                check_op_and_grad([&](const Tensor& t) { return upsample_nearest2d(t, out); }, x, kAtol, kRtol,
                                  "nearest to " + std::to_string(out[0]) + "x" + std::to_string(out[1]) + " " +
                                      shape_name(shape));
        }
}

TEST_CASE("gpu resize: bilinear, align_corners both ways, scale 2 and odd sizes, forward and backward") {
    for (const DType dtype : {DType::Float32, DType::Float64})
        for (const Shape& shape : kResizeShapes)
            for (const bool align : {false, true}) {
                const Tensor x = random_cpu(shape, 81, -1, 1, dtype);
                const std::string tag = std::string(align ? " align" : "") + " " + shape_name(shape);
                check_op_and_grad([&](const Tensor& t) { return upsample_bilinear2d(t, 2.0, align); }, x, kAtol,
                                  kRtol, "bilinear x2" + tag);
                for (const std::array<std::int64_t, 2> out : {std::array<std::int64_t, 2>{17, 11}, {3, 7}, {1, 1}})
                    check_op_and_grad([&](const Tensor& t) { return upsample_bilinear2d(t, out, align); }, x, kAtol,
                                      kRtol,
                                      "bilinear to " + std::to_string(out[0]) + "x" + std::to_string(out[1]) + tag);
            }
}

// ---- dropout ------------------------------------------------------------------------------

TEST_CASE("gpu dropout: the CUDA mask is the CPU mask exactly (same seed and offset)") {
    for (const DType dtype : {DType::Float32, DType::Float64})
        for (const double p : {0.5, 0.1, 0.9, 0.0, 1.0})
            for (const std::uint64_t first : {std::uint64_t(0), std::uint64_t(12345), (std::uint64_t(1) << 33) + 7})
                for (const std::int64_t numel : {std::int64_t(1), std::int64_t(33), std::int64_t(100003)}) {
                    Generator gen(0xC0FFEE + std::uint64_t(numel));
                    Tensor mc = empty({numel}, TensorOptions(dtype));
                    kernel::dropout_mask(mc, p, gen, first);
                    poison_cache(2 * numel + 64);
                    Tensor mg = empty({numel}, TensorOptions(dtype).device(kGpu));
                    kernel::dropout_mask(mg, p, gen, first);
                    check_close(mg, mc, 0.0, 0.0,
                                "dropout_mask p " + std::to_string(p) + " first " + std::to_string(first) + " numel " +
                                    std::to_string(numel) + (dtype == DType::Float64 ? " f64" : " f32"));
                }
}

// ---- version switch -----------------------------------------------------------------------

TEST_CASE("gpu norm: a version a kernel does not have is an error naming it") {
    const Tensor x = random_cpu({2, 3, 8, 8}, 91).to(kGpu);
    {
        ScopedKernelVersion v("batch_norm_forward", 3);
        CHECK_THROWS_WITH_AS(batch_norm(x, Tensor(), Tensor(), Tensor(), Tensor(), true),
                             doctest::Contains("batch_norm_forward"), Error);
    }
    {
        ScopedKernelVersion v("max_pool2d_backward", 2);  // overlapping windows: v2 refuses
        Tensor xr = x.detach();
        xr.set_requires_grad(true);
        Tensor y = max_pool2d(xr, pool_params(3, 1, 1, 1, false));
        CHECK_THROWS_AS(y.backward(random_cpu(y.shape(), 92).to(kGpu)), Error);
    }
}

}  // namespace norm_gpu_tests
