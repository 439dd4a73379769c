// tests/gpu/test_gpu_reduce.cpp - the reduction, softmax and indexing kernels (kernels/reduce.cu,
// softmax.cu, index.cu) against the CPU.
//
// Two levels. The kernel seams (kernel::sum_rows, kernel::extreme_rows, ...) are called with CPU
// tensors (the reference: the CPU kernels) and with CUDA copies, for every numbered version
// (ScopedKernelVersion), over shapes that hit every regime: empty rows, r = 1, odd sizes, sizes
// around the kernels' chunk (2048) and the CPU's block (16384), m = 1 with r = 2^20 + 3,
// m = 10^5 with r = 3. Then the public ops (sum, mean, max, argmax, softmax, gather, cumsum, any,
// all) and their gradients through autograd. A public op whose CUDA path needs a kernel of
// another family that is not there yet (a strided copy, an elementwise op in a backward) is
// reported as skipped, not failed (run_or_skip), so the suite grows with the other families.
//
// Tolerances: sums accumulate in double on both sides (float32 values are exact in double), so
// they differ from the CPU only by the order of double additions: atol = rtol = 1e-5 is loose.
// Softmax: rtol 1.3e-6, atol 1e-6 (exp in float32 on the GPU, in double on the CPU).
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "fbseg/fbseg.hpp"
#include "gpu_support.hpp"

using namespace fbseg;

namespace reduce_gpu_tests {

using gpu_test::check_close;
using gpu_test::kGpu;
using gpu_test::poison_cache;
using gpu_test::random_cpu;
using gpu_test::ScopedKernelVersion;

constexpr double kSumTol = 1e-5;
constexpr double kSoftmaxRtol = 1.3e-6;
constexpr double kSoftmaxAtol = 1e-6;

Tensor gpu(const Tensor& t) { return t.to(kGpu); }
std::string dname(DType dtype) { return std::string(dtype_name(dtype)); }

/// Runs `body`; an fbseg::Error saying that some CUDA kernel is missing (another family's, not
/// yet merged) is reported as a skip, anything else fails the test.
template <typename Body>
void run_or_skip(const std::string& what, Body body) {
    try {
        body();
    } catch (const Error& e) {
        const std::string message = e.what();
        if (message.find("no CUDA kernel") != std::string::npos ||
            message.find("not supported yet") != std::string::npos) {
            MESSAGE("skipped (", what, "): ", message);
            return;
        }
        FAIL(what, ": ", message);
    }
}

/// Exact equality of two tensors' values (NaN equals NaN), as doubles.
bool same_values(const Tensor& a, const Tensor& b) {
    const auto x = a.cpu().contiguous().to(DType::Float64).to_vector<double>();
    const auto y = b.cpu().contiguous().to(DType::Float64).to_vector<double>();
    if (x.size() != y.size()) return false;
    for (std::size_t i = 0; i < x.size(); ++i) {
        if (std::isnan(x[i]) && std::isnan(y[i])) continue;
        if (x[i] != y[i]) return false;
    }
    return true;
}

/// Bitwise equality of two float32 / float64 / int64 tensors.
bool bitwise_equal(const Tensor& a, const Tensor& b) {
    const Tensor x = a.cpu().contiguous(), y = b.cpu().contiguous();
    if (x.dtype() != y.dtype() || x.numel() != y.numel()) return false;
    const std::size_t bytes = std::size_t(x.numel()) * element_size(x.dtype());
    return bytes == 0 || std::memcmp(x.raw_data(), y.raw_data(), bytes) == 0;
}

/// Random values in [-1, 1) of `dtype`; for int64 the values are in [-1000, 1000).
Tensor random_rows(const Shape& shape, std::uint64_t seed, DType dtype) {
    if (dtype == DType::Int64) return random_cpu(shape, seed, -1000.0, 1000.0, DType::Float64).to(DType::Int64);
    return random_cpu(shape, seed, -1.0, 1.0, dtype);
}

/// Values with many ties: random integers in [-3, 3] (as dtype).
Tensor tied_rows(const Shape& shape, std::uint64_t seed, DType dtype) {
    return random_cpu(shape, seed, -3.0, 4.0, DType::Float64).to(DType::Int64).to(dtype);
}

struct RowShape {
    std::int64_t m, r;
};

// empty rows, r = 1, odd sizes, around warp (32), chunk (2048) and CPU block (16384) sizes, the
// loss's (10^5, 3) and the full-tensor sums
const std::vector<RowShape> kRowShapes = {
    {1, 1},    {3, 0},    {1, 0},     {7, 1},        {33, 3},    {100000, 3}, {5, 31},   {5, 32},
    {5, 33},   {13, 65},  {1, 2047},  {1, 2048},     {1, 2049},  {3, 4099},   {300, 257}, {2, 16391},
    {1, 16384}, {1, 16385}, {1, (1 << 20) + 3}, {3, 100003}, {1000, 64}};

// ---- sum_rows ------------------------------------------------------------------------------------

TEST_CASE("gpu reduce: sum_rows, every version and dtype, vs the CPU kernel") {
    for (DType dtype : {DType::Float32, DType::Float64, DType::Int64}) {
        std::uint64_t seed = 100;
        for (const RowShape& s : kRowShapes) {
            if (dtype != DType::Float32 && s.m * s.r > 200000) continue;  // float64 / int64: the small ones
            const Tensor rows = random_rows({s.m, s.r}, ++seed, dtype);
            for (std::int64_t scale : {std::int64_t(1), std::int64_t(3)}) {
                const Tensor ref = empty({s.m}, TensorOptions(dtype));
                kernel::sum_rows(rows, ref, s.r, scale);
                const Tensor rows_gpu = gpu(rows);
                for (int v = 1; v <= 3; ++v) {
                    const std::string what = std::string("sum_rows ") + dname(dtype) + " (" +
                                             std::to_string(s.m) + ", " + std::to_string(s.r) + ") scale " +
                                             std::to_string(scale) + " v" + std::to_string(v);
                    ScopedKernelVersion force("sum_rows", v);
                    poison_cache(2 * s.m + 64);  // 2x: covers float64 / int64 outputs too
                    const Tensor out = empty({s.m}, TensorOptions(dtype).device(kGpu));
                    kernel::sum_rows(rows_gpu, out, s.r, scale);
                    if (dtype == DType::Int64) {
                        CHECK_MESSAGE(bitwise_equal(out, ref), what, ": int64 sums must be exact");
                    } else {
                        check_close(out, ref, kSumTol, kSumTol, what);
                    }
                    // v1 adds in the CPU's order for rows of at most 16384 elements (the CPU cuts
                    // longer single rows into blocks): bitwise the CPU's result there.
                    if (v == 1 && (s.m > 1 || s.r <= 16384)) CHECK_MESSAGE(bitwise_equal(out, ref), what, ": v1 == CPU");
                    // Same version, same input: bitwise the same result (fixed order, no atomics).
                    const Tensor again = empty({s.m}, TensorOptions(dtype).device(kGpu));
                    kernel::sum_rows(rows_gpu, again, s.r, scale);
                    CHECK_MESSAGE(bitwise_equal(out, again), what, ": two runs differ");
                }
            }
        }
    }
}

TEST_CASE("gpu reduce: sum, mean and sum over dims (public ops) vs the CPU") {
    const Tensor x = random_cpu({8, 1, 64, 48}, 7);
    const Tensor xg = gpu(x);
    check_close(sum(xg), sum(x), kSumTol, kSumTol, "sum(x)");
    run_or_skip("mean (sum, then an elementwise division)",
                [&] { check_close(mean(xg), mean(x), kSumTol, kSumTol, "mean(x)"); });
    check_close(sum(xg, {2, 3}, false), sum(x, {2, 3}, false), kSumTol, kSumTol, "sum over H, W");
    check_close(sum(xg, {-1}, true), sum(x, {-1}, true), kSumTol, kSumTol, "sum over the last dim");
    run_or_skip("sum over dim 1 of [N, C, H, W] (a permuted copy)", [&] {
        const Tensor y = random_cpu({4, 3, 9, 7}, 8);
        check_close(sum(gpu(y), {1}, false), sum(y, {1}, false), kSumTol, kSumTol, "sum over dim 1");
    });
    run_or_skip("sum of an expanded tensor (scale)", [&] {
        const Tensor row = random_cpu({1, 37}, 9);
        check_close(sum(gpu(row).expand({1000, 37})), sum(row.expand({1000, 37})), kSumTol, kSumTol,
                    "sum of expand");
    });
    // a full-tensor sum of the classic UNet's batch: m = 1, r = 8 * 256 * 256 (v3 by default)
    const Tensor big = random_cpu({8, 1, 256, 256}, 10);
    check_close(sum(gpu(big)), sum(big), kSumTol, kSumTol, "sum of [8, 1, 256, 256]");
    // every version gives bitwise the same result on a second run
    for (int v = 1; v <= 3; ++v) {
        ScopedKernelVersion force("sum_rows", v);
        const Tensor bg = gpu(big);
        CHECK_MESSAGE(bitwise_equal(sum(bg), sum(bg)), "sum v", v, " is not reproducible");
    }
}

TEST_CASE("gpu reduce: sum's gradient through autograd") {
    run_or_skip("sum backward", [&] {
        const Tensor x = random_cpu({4, 5, 6}, 11);
        Tensor xc = x.clone().set_requires_grad(true);
        Tensor xg = gpu(x).set_requires_grad(true);
        const Tensor g = random_cpu({4, 5}, 12);
        sum(xc, {2}, false).backward(g);
        sum(xg, {2}, false).backward(gpu(g));
        REQUIRE(xg.grad().defined());
        check_close(xg.grad(), xc.grad(), kSumTol, kSumTol, "d sum / dx");
    });
}

// ---- extreme_rows ----------------------------------------------------------------------------------

TEST_CASE("gpu reduce: extreme_rows (max / min, first index, NaN wins), every version, vs the CPU kernel") {
    for (DType dtype : {DType::Float32, DType::Float64, DType::Int64}) {
        std::uint64_t seed = 300;
        for (const RowShape& s : kRowShapes) {
            if (s.r == 0) continue;  // the public ops refuse empty rows; r = 0 is checked below
            if (dtype != DType::Float32 && s.m * s.r > 200000) continue;
            for (int variant = 0; variant < 3; ++variant) {  // random, many ties, NaNs
                if (variant == 2 && dtype == DType::Int64) continue;
                Tensor rows = variant == 0 ? random_rows({s.m, s.r}, ++seed, dtype) : tied_rows({s.m, s.r}, ++seed, dtype);
                if (variant == 2) {  // a NaN in about every third row, some rows with two
                    std::vector<double> v = rows.to(DType::Float64).to_vector<double>();
                    for (std::int64_t i = 0; i < s.m; i += 3) {
                        v[std::size_t(i * s.r + (i * 7) % s.r)] = std::numeric_limits<double>::quiet_NaN();
                        v[std::size_t(i * s.r + s.r - 1)] = std::numeric_limits<double>::quiet_NaN();
                    }
                    rows = from_vector(v, {s.m, s.r}).to(dtype);
                }
                const Tensor rows_gpu = gpu(rows);
                for (bool is_max : {true, false}) {
                    const Tensor ref_v = empty({s.m}, TensorOptions(dtype));
                    const Tensor ref_i = empty({s.m}, TensorOptions(DType::Int64));
                    kernel::extreme_rows(rows, ref_v, ref_i, s.r, is_max, is_max ? "max" : "min");
                    for (int v = 1; v <= 3; ++v) {
                        const std::string what = std::string(is_max ? "max " : "min ") + dname(dtype) + " (" +
                                                 std::to_string(s.m) + ", " + std::to_string(s.r) + ") variant " +
                                                 std::to_string(variant) + " v" + std::to_string(v);
                        ScopedKernelVersion force("extreme_rows", v);
                        poison_cache(3 * s.m + 64);
                        const Tensor out_v = empty({s.m}, TensorOptions(dtype).device(kGpu));
                        const Tensor out_i = empty({s.m}, TensorOptions(DType::Int64).device(kGpu));
                        kernel::extreme_rows(rows_gpu, out_v, out_i, s.r, is_max, "max");
                        CHECK_MESSAGE(same_values(out_v, ref_v), what, ": values differ");
                        CHECK_MESSAGE(bitwise_equal(out_i, ref_i), what, ": indices differ");
                    }
                }
            }
        }
    }
}

TEST_CASE("gpu reduce: extreme_rows of empty rows gives 0 and -1, as the CPU") {
    for (int v = 1; v <= 3; ++v) {
        ScopedKernelVersion force("extreme_rows", v);
        const Tensor rows = empty({4, 0}, TensorOptions().device(kGpu));
        const Tensor out_v = empty({4}, TensorOptions().device(kGpu));
        const Tensor out_i = empty({4}, TensorOptions(DType::Int64).device(kGpu));
        kernel::extreme_rows(rows, out_v, out_i, 0, true, "max");
        CHECK(out_i.cpu().to_vector<std::int64_t>() == std::vector<std::int64_t>(4, -1));
        CHECK(out_v.cpu().to_vector<float>() == std::vector<float>(4, 0.0f));
    }
}

TEST_CASE("gpu reduce: max, min, argmax (public ops) and max's gradient") {
    const Tensor x = tied_rows({6, 5, 33}, 21, DType::Float32);
    const Tensor xg = gpu(x);
    for (std::int64_t dim : {std::int64_t(-1), std::int64_t(2)}) {
        const auto a = max(x, dim), b = max(xg, dim);
        CHECK(same_values(b.values, a.values));
        CHECK(bitwise_equal(b.indices, a.indices));
        const auto c = min(x, dim, true), d = min(xg, dim, true);
        CHECK(same_values(d.values, c.values));
        CHECK(bitwise_equal(d.indices, c.indices));
        CHECK(bitwise_equal(argmax(xg, dim), argmax(x, dim)));
    }
    CHECK(same_values(max(xg), max(x)));
    CHECK(same_values(min(xg), min(x)));
    run_or_skip("max over dim 1 (a permuted copy)", [&] {
        CHECK(bitwise_equal(argmax(xg, 1), argmax(x, 1)));
    });
    // max's gradient: scatter_add_along_dim (along the last dim: no permuted copy needed)
    run_or_skip("max backward", [&] {
        const Tensor y = random_cpu({4, 5, 7}, 22);
        Tensor yc = y.clone().set_requires_grad(true);
        Tensor yg = gpu(y).set_requires_grad(true);
        const Tensor g = random_cpu({4, 5}, 23);
        max(yc, -1).values.backward(g);
        max(yg, -1).values.backward(gpu(g));
        REQUIRE(yg.grad().defined());
        check_close(yg.grad(), yc.grad(), 1e-6, 1.3e-6, "d max / dx");
    });
}

// ---- scatter_add_along_dim ---------------------------------------------------------------------------

TEST_CASE("gpu reduce: scatter_add_along_dim vs the CPU kernel") {
    struct S {
        std::int64_t outer, n, inner;
    };
    std::uint64_t seed = 500;
    for (const S s : {S{1, 1, 1}, S{3, 7, 1}, S{4, 7, 5}, S{2, 3, 65536}, S{33, 1, 33}, S{1000, 4, 3}}) {
        for (DType dtype : {DType::Float32, DType::Float64}) {
            const Tensor grad0 = random_cpu({s.outer, s.n, s.inner}, ++seed, -1, 1, dtype);
            const Tensor src = random_cpu({s.outer, s.inner}, ++seed, -1, 1, dtype);
            const Tensor index = random_cpu({s.outer, s.inner}, ++seed, 0.0, double(s.n), DType::Float64)
                                     .to(DType::Int64);
            const Tensor ref = grad0.clone();
            kernel::scatter_add_along_dim(ref, src, index, s.outer, s.n, s.inner);
            const Tensor out = gpu(grad0);
            kernel::scatter_add_along_dim(out, gpu(src), gpu(index), s.outer, s.n, s.inner);
            CHECK_MESSAGE(bitwise_equal(out, ref), "scatter_add_along_dim (", s.outer, ", ", s.n, ", ", s.inner, ") ",
                          dname(dtype));
        }
    }
}

// ---- all / any -------------------------------------------------------------------------------------

TEST_CASE("gpu reduce: any and all over rows, every version") {
    std::uint64_t seed = 600;
    for (const RowShape& s : kRowShapes) {
        if (s.m * s.r > 2000000) continue;
        // rows mostly true, mostly false, and random; row 0 all true, row 1 all false
        for (double p : {0.02, 0.5, 0.98}) {
            std::vector<double> v = random_cpu({s.m, s.r}, ++seed, 0.0, 1.0, DType::Float64).to_vector<double>();
            for (double& e : v) e = e < p ? 1.0 : 0.0;
            for (std::int64_t k = 0; k < s.r; ++k) {
                v[std::size_t(k)] = 1.0;
                if (s.m > 1) v[std::size_t(s.r + k)] = 0.0;
            }
            const Tensor rows = from_vector(v, {s.m, s.r}).to(DType::Bool);
            const Tensor rows_gpu = gpu(rows);
            for (bool is_all : {true, false}) {
                const Tensor ref = empty({s.m}, TensorOptions(DType::Bool));
                kernel::any_all(rows, ref, s.r, is_all);
                for (int ver = 1; ver <= 2; ++ver) {
                    ScopedKernelVersion force("all_any_rows", ver);
                    const Tensor out = empty({s.m}, TensorOptions(DType::Bool).device(kGpu));
                    kernel::any_all(rows_gpu, out, s.r, is_all);
                    CHECK_MESSAGE(same_values(out, ref), (is_all ? "all" : "any"), " (", s.m, ", ", s.r, ") p ", p,
                                  " v", ver);
                }
            }
        }
    }
    const Tensor x = gt(random_cpu({5, 40}, 61), 0.9);
    CHECK(same_values(any(gpu(x), 1), any(x, 1)));
    CHECK(same_values(all(gpu(x), -1, true), all(x, -1, true)));
    CHECK(same_values(any(gpu(x)), any(x)));
}

// ---- softmax ---------------------------------------------------------------------------------------

TEST_CASE("gpu softmax: softmax and log_softmax, every version, over dim 1 of NCHW and the last dim") {
    struct Case {
        Shape shape;
        std::int64_t dim;
    };
    const std::vector<Case> cases = {
        {{2, 7, 5, 3}, 1},      {{4, 2, 7, 7}, 1},     {{2, 3, 256, 256}, 1}, {{16, 7, 33, 33}, 1},
        {{2, 40, 9, 9}, 1},     {{3, 1, 4}, 1},        {{1, 1}, 1},           {{100, 7}, 1},
        {{33, 1000}, 1},        {{5, 17}, -1},         {{4, 16}, -1},         {{1000, 3}, -1},
        {{2, 5, 33}, 2},        {{7}, 0},              {{3, 65}, 0}};
    std::uint64_t seed = 700;
    for (const Case& c : cases) {
        for (DType dtype : {DType::Float32, DType::Float64}) {
            const Tensor x = random_cpu(c.shape, ++seed, -5.0, 5.0, dtype);
            const Tensor xg = gpu(x);
            for (bool log : {false, true}) {
                const Tensor ref = log ? log_softmax(x, c.dim) : softmax(x, c.dim);
                for (int v = 1; v <= 3; ++v) {
                    ScopedKernelVersion force("softmax_forward", v);
                    poison_cache(2 * x.numel() + 64);
                    const Tensor y = log ? log_softmax(xg, c.dim) : softmax(xg, c.dim);
                    check_close(y, ref, kSoftmaxAtol, kSoftmaxRtol,
                                std::string(log ? "log_softmax " : "softmax ") + dname(dtype) + " " +
                                    shape_str(c.shape) + " dim " + std::to_string(c.dim) + " v" + std::to_string(v));
                }
            }
        }
    }
}

TEST_CASE("gpu softmax: gradients through autograd") {
    for (bool log : {false, true}) {
        run_or_skip(log ? "log_softmax backward" : "softmax backward", [&] {
            const Tensor x = random_cpu({2, 3, 5, 4}, 81);
            Tensor xc = x.clone().set_requires_grad(true);
            Tensor xg = gpu(x).set_requires_grad(true);
            const Tensor g = random_cpu({2, 3, 5, 4}, 82);
            (log ? log_softmax(xc, 1) : softmax(xc, 1)).backward(g);
            (log ? log_softmax(xg, 1) : softmax(xg, 1)).backward(gpu(g));
            REQUIRE(xg.grad().defined());
            check_close(xg.grad(), xc.grad(), kSoftmaxAtol, kSoftmaxRtol, "d softmax / dx");
        });
    }
}

// ---- gather and scatter_add ------------------------------------------------------------------------

/// int64 indices in [0, n) of `shape`.
Tensor random_index(const Shape& shape, std::int64_t n, std::uint64_t seed) {
    return random_cpu(shape, seed, 0.0, double(n), DType::Float64).to(DType::Int64);
}

TEST_CASE("gpu index: gather along every dim, strided input, vs the CPU") {
    std::uint64_t seed = 900;
    const Tensor x = random_cpu({4, 6, 5}, ++seed);
    const Tensor xg = gpu(x);
    for (std::int64_t dim = 0; dim < 3; ++dim) {
        Shape ishape{3, 4, 5};
        ishape[std::size_t(dim)] = 9;  // larger than x along dim: repeated picks
        const Tensor index = random_index(ishape, x.shape()[std::size_t(dim)], ++seed);
        poison_cache(200);
        CHECK(same_values(gather(xg, dim, gpu(index)), gather(x, dim, index)));
        // a transposed (strided) input
        const Tensor xt = x.transpose(0, 2), xtg = xg.transpose(0, 2);
        Shape tshape{5, 6, 4};
        tshape[std::size_t(dim)] = 3;
        const Tensor tindex = random_index(tshape, xt.shape()[std::size_t(dim)], ++seed);
        CHECK(same_values(gather(xtg, dim, gpu(tindex)), gather(xt, dim, tindex)));
    }
    // the loss's case: one class per pixel, [N, C, H, W] gathered along C by [N, 1, H, W]
    const Tensor logits = random_cpu({8, 3, 33, 31}, ++seed);
    const Tensor labels = random_index({8, 1, 33, 31}, 3, ++seed);
    CHECK(same_values(gather(gpu(logits), 1, gpu(labels)), gather(logits, 1, labels)));
    // rank 1, float64 and int64 inputs
    const Tensor v = random_cpu({100}, ++seed, -1, 1, DType::Float64);
    const Tensor vi = random_index({250}, 100, ++seed);
    CHECK(same_values(gather(gpu(v), 0, gpu(vi)), gather(v, 0, vi)));
    const Tensor w = random_index({7, 9}, 50, ++seed);
    const Tensor wi = random_index({7, 2}, 9, ++seed);
    CHECK(same_values(gather(gpu(w), 1, gpu(wi)), gather(w, 1, wi)));
}

TEST_CASE("gpu index: an out-of-range index is an fbseg::Error naming it; the GPU stays usable") {
    const Tensor x = random_cpu({2, 6}, 950);
    for (std::int64_t bad : {std::int64_t(6), std::int64_t(-1), std::int64_t(1000000)}) {
        const Tensor index = from_vector(std::vector<std::int64_t>{0, 1, bad, 2}, {2, 2});
        std::string message;
        try {
            (void)gather(gpu(x), 1, gpu(index));
        } catch (const Error& e) {
            message = e.what();
        }
        CHECK_MESSAGE(message.find("index " + std::to_string(bad) + " is out of range for dim 1 of size 6") !=
                          std::string::npos,
                      "got: ", message);
    }
    CHECK(same_values(sum(gpu(x)), sum(x)));  // still usable
    // scatter_add checks too
    for (int v = 1; v <= 2; ++v) {
        ScopedKernelVersion force("scatter_add", v);
        const Tensor grad = zeros({2, 6}, TensorOptions().device(kGpu));
        const Tensor index = from_vector(std::vector<std::int64_t>{0, 7, 1, 2}, {2, 2});
        CHECK_THROWS_AS(kernel::scatter_add(grad, gpu(random_cpu({2, 2}, 951)), gpu(index), 1), Error);
    }
}

TEST_CASE("gpu index: scatter_add (gather's backward), both versions, with collisions") {
    struct Case {
        Shape index_shape, grad_shape;
        std::int64_t dim;
    };
    const std::vector<Case> cases = {{{3, 9, 5}, {3, 6, 5}, 1}, {{9, 4, 5}, {4, 4, 5}, 0}, {{3, 4, 33}, {3, 4, 7}, 2},
                                     {{8, 1, 33, 31}, {8, 3, 33, 31}, 1}, {{250}, {100}, 0},  {{1, 1}, {1, 1}, 1},
                                     {{2, 300}, {2, 5}, 1}};
    std::uint64_t seed = 1000;
    for (const Case& c : cases) {
        for (DType dtype : {DType::Float32, DType::Float64}) {
            const Tensor g = random_cpu(c.index_shape, ++seed, -1, 1, dtype);
            const Tensor index = random_index(c.index_shape, c.grad_shape[std::size_t(c.dim)], ++seed);
            const Tensor ref = random_cpu(c.grad_shape, ++seed, -1, 1, dtype);
            const Tensor start = gpu(ref);
            kernel::scatter_add(ref, g, index, c.dim);
            for (int v = 1; v <= 2; ++v) {
                ScopedKernelVersion force("scatter_add", v);
                const Tensor out = start.clone();
                kernel::scatter_add(out, gpu(g), gpu(index), c.dim);
                const std::string what = "scatter_add " + shape_str(c.index_shape) + " dim " +
                                         std::to_string(c.dim) + " " + dname(dtype) + " v" + std::to_string(v);
                // v1 adds colliding terms in any order (atomics): close; v2 in the CPU's order: exact
                check_close(out, ref, 1e-5, 1e-5, what);
                if (v == 2) CHECK_MESSAGE(bitwise_equal(out, ref), what, ": v2 must match the CPU bitwise");
            }
        }
    }
    run_or_skip("gather backward", [&] {
        const Tensor x = random_cpu({4, 6, 5}, ++seed);
        const Tensor index = random_index({4, 9, 5}, 6, ++seed);
        Tensor xc = x.clone().set_requires_grad(true);
        Tensor xg = gpu(x).set_requires_grad(true);
        const Tensor g = random_cpu({4, 9, 5}, ++seed);
        gather(xc, 1, index).backward(g);
        gather(xg, 1, gpu(index)).backward(gpu(g));
        REQUIRE(xg.grad().defined());
        check_close(xg.grad(), xc.grad(), 1e-6, 1.3e-6, "d gather / dx");
    });
}

// ---- cumsum ----------------------------------------------------------------------------------------

TEST_CASE("gpu index: cumsum forward and reverse along every dim") {
    std::uint64_t seed = 1100;
    for (const Shape& shape : {Shape{3, 7, 5}, Shape{1000}, Shape{2, 100003}, Shape{1}, Shape{33, 1, 9}}) {
        for (DType dtype : {DType::Float32, DType::Float64, DType::Int64}) {
            const Tensor x = random_rows(shape, ++seed, dtype);
            const Tensor xg = gpu(x);
            for (std::int64_t dim = 0; dim < std::int64_t(shape.size()); ++dim) {
                std::int64_t outer = 1, inner = 1;
                for (std::int64_t k = 0; k < dim; ++k) outer *= shape[std::size_t(k)];
                for (std::int64_t k = dim + 1; k < std::int64_t(shape.size()); ++k) inner *= shape[std::size_t(k)];
                const std::int64_t n = shape[std::size_t(dim)];
                for (bool reverse : {false, true}) {
                    const Tensor ref = empty(shape, TensorOptions(dtype));
                    kernel::cumsum(x, ref, outer, n, inner, reverse);
                    poison_cache(2 * x.numel() + 64);
                    const Tensor out = empty(shape, TensorOptions(dtype).device(kGpu));
                    kernel::cumsum(xg, out, outer, n, inner, reverse);
                    // the same double (int64) running sum in the same order: bitwise equal
                    CHECK_MESSAGE(bitwise_equal(out, ref), "cumsum ", shape_str(shape), " dim ", dim, " ",
                                  dname(dtype), reverse ? " reverse" : "");
                }
            }
            CHECK(bitwise_equal(cumsum(xg, -1), cumsum(x, -1)));
        }
    }
    run_or_skip("cumsum backward", [&] {
        const Tensor x = random_cpu({3, 8}, ++seed);
        Tensor xc = x.clone().set_requires_grad(true);
        Tensor xg = gpu(x).set_requires_grad(true);
        const Tensor g = random_cpu({3, 8}, ++seed);
        cumsum(xc, 1).backward(g);
        cumsum(xg, 1).backward(gpu(g));
        REQUIRE(xg.grad().defined());
        check_close(xg.grad(), xc.grad(), kSumTol, kSumTol, "d cumsum / dx");
    });
}

}  // namespace reduce_gpu_tests
