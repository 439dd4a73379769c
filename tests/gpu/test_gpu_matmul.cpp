// tests/gpu/test_gpu_matmul.cpp - the CUDA matrix product (kernels/matmul.cu) against the CPU.
//
// Every numbered version of bmm_forward is forced in turn (ScopedKernelVersion) and compared,
// element by element, with the public bmm / matmul ops on CPU tensors (Eigen's GEMM): odd sizes
// (1, 3, 7, 33, sizes that are not multiples of any tile), the models' im2col shapes, batches,
// transposed and misaligned (offset by one element) operands, a broadcast batch, k = 0, batches
// and row counts beyond the grid's y and z limits, float64, and the TF32 tensor-core version
// (v8) with a tolerance on random data and bit for bit on small integers. Outputs come from a
// NaN-poisoned cache, so an element a kernel forgets to write fails the comparison.
#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

#include "gpu/gpu_support.hpp"

namespace matmul_gpu_tests {

using namespace fbseg;
using std::int64_t;

constexpr const char* kKernel = "bmm_forward";
constexpr int kVersions = 8;

// float32: each element of c is a sum of k products, accumulated in float32 in a different order
// (and with different FMA contractions) on the GPU than in Eigen's blocked CPU GEMM. The rounding
// error of such a sum grows with k times the float32 epsilon (1.2e-7) times the size of the
// terms, so for k up to a few hundred and values in [-1, 1) the two results differ by up to
// ~1e-5 relative to the sum's terms: atol = rtol = 1e-4 leaves margin and still catches any
// wrong index (which gives errors of order 1).
constexpr double kTol32 = 1e-4;
constexpr double kTol64 = 1e-10;

/// Forces a matmul precision for the scope.
class ScopedPrecision {
public:
    explicit ScopedPrecision(cuda::MatmulPrecision p) : saved_(cuda::matmul_precision()) { cuda::set_matmul_precision(p); }
    ~ScopedPrecision() { cuda::set_matmul_precision(saved_); }
    ScopedPrecision(const ScopedPrecision&) = delete;
    ScopedPrecision& operator=(const ScopedPrecision&) = delete;

private:
    cuda::MatmulPrecision saved_;
};

/// How an operand of logical shape (batch, rows, cols) is laid out in memory.
enum class Layout { RowMajor, Transposed, Misaligned };

const char* layout_name(Layout l) {
    switch (l) {
        case Layout::RowMajor: return "row-major";
        case Layout::Transposed: return "transposed";
        case Layout::Misaligned: return "offset by one element";
    }
    return "?";
}

/// The same random operand on the CPU and on cuda:0, as views of the given layout.
struct Operand {
    Tensor cpu, gpu;
};

Operand make_operand(int64_t batch, int64_t rows, int64_t cols, Layout layout, std::uint64_t seed, DType dtype,
                     bool small_integers = false) {
    Shape base_shape = {batch, rows, cols};
    if (layout == Layout::Transposed) base_shape = {batch, cols, rows};
    if (layout == Layout::Misaligned) base_shape = {batch, rows, cols + 1};
    Tensor base = small_integers ? round(gpu_test::random_cpu(base_shape, seed, -4.49, 4.49, dtype))
                                 : gpu_test::random_cpu(base_shape, seed, -1.0, 1.0, dtype);
    Tensor base_gpu = base.to(gpu_test::kGpu);
    switch (layout) {
        case Layout::RowMajor: return {base, base_gpu};
        case Layout::Transposed: return {base.transpose(1, 2), base_gpu.transpose(1, 2)};
        case Layout::Misaligned: return {base.slice(2, 1, cols + 1), base_gpu.slice(2, 1, cols + 1)};
    }
    return {base, base_gpu};
}

struct Shape3 {
    int64_t batch, m, k, n;
};

std::string describe(const Shape3& s, Layout la, Layout lb, int version, DType dtype) {
    return "bmm v" + std::to_string(version) + " " + std::string(dtype_name(dtype)) + " batch " +
           std::to_string(s.batch) + ", m " + std::to_string(s.m) + ", k " + std::to_string(s.k) + ", n " +
           std::to_string(s.n) + ", a " + layout_name(la) + ", b " + layout_name(lb);
}

/// bmm on cuda:0 with `version` forced (0: the dispatcher), from a NaN-poisoned cache.
Tensor gpu_bmm(const Tensor& a, const Tensor& b, int version) {
    const int64_t out_numel = a.size(0) * a.size(1) * b.size(2);
    gpu_test::poison_cache(out_numel * int64_t(element_size(a.dtype()) / sizeof(float)));
    gpu_test::ScopedKernelVersion forced(kKernel, version);
    Tensor c = bmm(a, b);
    cuda::synchronize(0);
    return c;
}

/// The versions that compute in exact FP32 (v8 rounds its inputs to TF32: tested apart with
/// TF32 tolerances; for float64 a forced v8 runs v5, so it is included there).
int last_exact_version(DType dtype) { return dtype == DType::Float64 ? kVersions : kVersions - 1; }

/// Every exact version (and the dispatcher, at the default FP32 precision) on one shape and pair
/// of layouts.
void check_all_versions(const Shape3& s, Layout la, Layout lb, DType dtype, double tol, std::uint64_t seed) {
    const Operand a = make_operand(s.batch, s.m, s.k, la, seed, dtype);
    const Operand b = make_operand(s.batch, s.k, s.n, lb, seed + 1, dtype);
    const Tensor ref = bmm(a.cpu, b.cpu);
    for (int version = 0; version <= last_exact_version(dtype); ++version)
        gpu_test::check_close(gpu_bmm(a.gpu, b.gpu, version), ref, tol, tol, describe(s, la, lb, version, dtype));
}

// The brief's sizes, odd sizes around the tiles (32, 64, 128; k steps 8 and 32), vector-friendly
// odd sizes (k and n multiples of 4 but not of the tiles: the float4 / 16-byte paths with
// partial tiles), single rows and columns, and the models' im2col GEMMs at a small batch.
const std::vector<Shape3> kShapes32 = {
    {1, 1, 1, 1},     {1, 3, 5, 7},       {1, 33, 65, 17},  {1, 128, 128, 128}, {1, 257, 129, 300},
    {3, 33, 65, 17},  {3, 37, 36, 20},    {2, 129, 40, 132}, {1, 1, 300, 1},    {1, 130, 7, 1},
    {1, 1, 33, 257},  {1, 64, 576, 1024}, {2, 32, 288, 520},
};

TEST_CASE("gpu matmul: every version matches the CPU bmm in float32, row-major operands") {
    std::uint64_t seed = 100;
    for (const Shape3& s : kShapes32) check_all_versions(s, Layout::RowMajor, Layout::RowMajor, DType::Float32, kTol32, seed += 2);
}

TEST_CASE("gpu matmul: every version matches the CPU bmm in float32, transposed and misaligned operands") {
    const std::vector<Shape3> shapes = {{1, 3, 5, 7}, {1, 33, 65, 17}, {3, 37, 36, 20}, {1, 257, 129, 300}, {2, 129, 40, 132}};
    const Layout layouts[] = {Layout::RowMajor, Layout::Transposed, Layout::Misaligned};
    std::uint64_t seed = 200;
    for (const Shape3& s : shapes)
        for (Layout la : layouts)
            for (Layout lb : layouts) {
                if (la == Layout::RowMajor && lb == Layout::RowMajor) continue;  // the case above
                check_all_versions(s, la, lb, DType::Float32, kTol32, seed += 2);
            }
}

TEST_CASE("gpu matmul: every version matches the CPU bmm in float64") {
    const std::vector<Shape3> shapes = {{1, 1, 1, 1}, {1, 3, 5, 7}, {3, 33, 65, 17}, {1, 257, 129, 300}, {2, 129, 40, 132}};
    std::uint64_t seed = 300;
    for (const Shape3& s : shapes) {
        check_all_versions(s, Layout::RowMajor, Layout::RowMajor, DType::Float64, kTol64, seed += 2);
        check_all_versions(s, Layout::Transposed, Layout::Misaligned, DType::Float64, kTol64, seed += 2);
    }
}

TEST_CASE("gpu matmul: k = 0 gives zeros and empty products launch nothing") {
    for (int version = 1; version <= kVersions; ++version) {
        const Tensor a = gpu_test::random_cpu({2, 3, 0}, 1).to(gpu_test::kGpu);
        const Tensor b = gpu_test::random_cpu({2, 0, 5}, 2).to(gpu_test::kGpu);
        gpu_test::check_close(gpu_bmm(a, b, version), zeros({2, 3, 5}), 0, 0, "k = 0, v" + std::to_string(version));
        const Tensor e = gpu_test::random_cpu({2, 0, 4}, 3).to(gpu_test::kGpu);
        const Tensor f = gpu_test::random_cpu({2, 4, 5}, 4).to(gpu_test::kGpu);
        CHECK(gpu_bmm(e, f, version).shape() == Shape{2, 0, 5});
        CHECK(gpu_bmm(f.slice(0, 0, 0), f.transpose(1, 2).slice(0, 0, 0), version).shape() == Shape{0, 4, 4});
    }
}

TEST_CASE("gpu matmul: batches and row counts beyond the grid's y and z limits (65535)") {
    // batch 70000 > 65535: the tile kernels loop over the batch (grid z).
    const Operand a = make_operand(70000, 2, 3, Layout::RowMajor, 400, DType::Float32);
    const Operand b = make_operand(70000, 3, 2, Layout::Transposed, 401, DType::Float32);
    const Tensor ref = bmm(a.cpu, b.cpu);
    // v8 is TF32: k = 3 values in [-1, 1) give sums of size ~1, off by up to ~3e-3.
    const auto tol = [](int version) { return version == kVersions ? 5e-3 : kTol32; };
    for (int version = 1; version <= kVersions; ++version)
        gpu_test::check_close(gpu_bmm(a.gpu, b.gpu, version), ref, tol(version), tol(version),
                              "batch 70000, v" + std::to_string(version));
    // m = 65535 * 32 + 45 rows: v3's 32-row tiles need more than 65535 blocks along y.
    const int64_t m = 65535 * 32 + 45;
    const Operand c = make_operand(1, m, 2, Layout::RowMajor, 402, DType::Float32);
    const Operand d = make_operand(1, 2, 3, Layout::RowMajor, 403, DType::Float32);
    const Tensor ref2 = bmm(c.cpu, d.cpu);
    for (int version = 1; version <= kVersions; ++version)
        gpu_test::check_close(gpu_bmm(c.gpu, d.gpu, version), ref2, tol(version), tol(version),
                              "m = 2097165, v" + std::to_string(version));
}

TEST_CASE("gpu matmul: a broadcast batch (stride 0) and matmul of 2-D operands") {
    const Tensor a = gpu_test::random_cpu({3, 33, 40}, 500);
    const Tensor w = gpu_test::random_cpu({1, 40, 20}, 501);
    const Tensor w2 = gpu_test::random_cpu({40, 20}, 502);
    for (int version = 0; version < kVersions; ++version) {
        gpu_test::ScopedKernelVersion forced(kKernel, version);
        const std::string what = std::string("v").append(std::to_string(version));  // (GCC 12 -O3 warns on "v" + string)
        // b's batch stride is 0: the same (40, 20) matrix for the three batches.
        gpu_test::check_close(bmm(a.to(gpu_test::kGpu), w.to(gpu_test::kGpu).expand({3, 40, 20})),
                              bmm(a, w.expand({3, 40, 20})), kTol32, kTol32, what + ", (3,33,40) @ (1->3,40,20)");
        gpu_test::check_close(bmm(w.to(gpu_test::kGpu).expand({3, 40, 20}).transpose(1, 2), a.to(gpu_test::kGpu).transpose(1, 2)),
                              bmm(w.expand({3, 40, 20}).transpose(1, 2), a.transpose(1, 2)), kTol32, kTol32,
                              what + ", (1->3,20,40) @ (3,40,33), both transposed");
        gpu_test::check_close(matmul(a.select(0, 1).contiguous().to(gpu_test::kGpu), w2.to(gpu_test::kGpu)),
                              matmul(a.select(0, 1).contiguous(), w2), kTol32, kTol32, what + ", matmul (33,40) @ (40,20)");
    }
}

TEST_CASE("gpu matmul: gradients of bmm on CUDA match the CPU for every version") {
    const Tensor a0 = gpu_test::random_cpu({2, 37, 36}, 600);
    const Tensor b0 = gpu_test::random_cpu({2, 36, 20}, 601);
    const Tensor g0 = gpu_test::random_cpu({2, 37, 20}, 602);
    Tensor a_cpu = a0.clone(), b_cpu = b0.clone();
    a_cpu.set_requires_grad(true);
    b_cpu.set_requires_grad(true);
    bmm(a_cpu, b_cpu).backward(g0);
    for (int version = 1; version <= kVersions; ++version) {
        gpu_test::ScopedKernelVersion forced(kKernel, version);
        Tensor a_gpu = a0.to(gpu_test::kGpu), b_gpu = b0.to(gpu_test::kGpu);
        a_gpu.set_requires_grad(true);
        b_gpu.set_requires_grad(true);
        bmm(a_gpu, b_gpu).backward(g0.to(gpu_test::kGpu));
        const std::string what = "bmm backward v" + std::to_string(version);
        // v8 is TF32 (sums of 20 to 37 products: rtol 5e-3, atol 5e-3 sqrt(37))
        const double rtol = version == kVersions ? 5e-3 : kTol32, atol = version == kVersions ? 3e-2 : kTol32;
        gpu_test::check_close(a_gpu.grad(), a_cpu.grad(), atol, rtol, what + ": grad of a");
        gpu_test::check_close(b_gpu.grad(), b_cpu.grad(), atol, rtol, what + ": grad of b");
    }
}

TEST_CASE("gpu matmul: the dispatcher's choice is exact FP32 unless TF32 is allowed") {
    CHECK(cuda::matmul_precision() == cuda::MatmulPrecision::Float32);
    // Large enough for v7 (float32 default): still within the FP32 tolerance.
    check_all_versions({2, 256, 300, 260}, Layout::RowMajor, Layout::RowMajor, DType::Float32, kTol32, 700);
}

// TF32 keeps 10 mantissa bits: each input is rounded with a relative error up to 2^-11 (4.9e-4),
// so a product is off by up to ~1e-3 of its size, and a sum of k such products (values in
// [-1, 1)) by ~1e-3 sqrt(k) typically. The brief's rtol 5e-3, atol 5e-3 are scaled by sqrt(k)
// for atol (k up to 576 here), which still catches any indexing error.
TEST_CASE("gpu matmul: v8 (TF32 tensor cores) matches the CPU within the TF32 tolerance") {
    const std::vector<Shape3> shapes = {{1, 1, 1, 1},      {1, 3, 5, 7},     {3, 33, 65, 17},  {1, 257, 129, 300},
                                        {3, 37, 36, 20},   {2, 129, 40, 132}, {1, 64, 576, 1024}, {1, 128, 128, 128}};
    const Layout layouts[] = {Layout::RowMajor, Layout::Transposed, Layout::Misaligned};
    for (const cuda::MatmulPrecision precision : {cuda::MatmulPrecision::TF32, cuda::MatmulPrecision::BF16}) {
        ScopedPrecision scoped(precision);
        std::uint64_t seed = 800;
        for (const Shape3& s : shapes)
            for (Layout la : layouts)
                for (Layout lb : layouts) {
                    const Operand a = make_operand(s.batch, s.m, s.k, la, seed += 2, DType::Float32);
                    const Operand b = make_operand(s.batch, s.k, s.n, lb, seed + 1, DType::Float32);
                    const Tensor ref = bmm(a.cpu, b.cpu);
                    const double atol = 5e-3 * std::sqrt(double(s.k)), rtol = 5e-3;
                    for (int version : {0, 8})
                        gpu_test::check_close(gpu_bmm(a.gpu, b.gpu, version), ref, atol, rtol,
                                              describe(s, la, lb, version, DType::Float32) + " (TF32)");
                }
    }
}

// Small integers (-4..4) and k <= 256: every product (|x| <= 16) and every partial sum
// (|s| <= 4096) is an integer below 2^11, exact in TF32 inputs and float32 sums, so the tensor
// cores must give the CPU's result bit for bit (as CUTLASS's testbeds check).
TEST_CASE("gpu matmul: v8 is exact on small-integer inputs") {
    const std::vector<Shape3> shapes = {{1, 1, 1, 1},    {1, 3, 5, 7},     {3, 33, 65, 17},   {1, 257, 129, 300},
                                        {3, 37, 36, 20}, {2, 129, 40, 132}, {1, 128, 256, 128}, {1, 200, 256, 333}};
    const Layout layouts[] = {Layout::RowMajor, Layout::Transposed, Layout::Misaligned};
    for (const cuda::MatmulPrecision precision :
         {cuda::MatmulPrecision::Float32, cuda::MatmulPrecision::TF32, cuda::MatmulPrecision::BF16}) {
        ScopedPrecision scoped(precision);
        std::uint64_t seed = 900;
        for (const Shape3& s : shapes)
            for (Layout la : layouts)
                for (Layout lb : layouts) {
                    const Operand a = make_operand(s.batch, s.m, s.k, la, seed += 2, DType::Float32, true);
                    const Operand b = make_operand(s.batch, s.k, s.n, lb, seed + 1, DType::Float32, true);
                    const Tensor ref = bmm(a.cpu, b.cpu);
                    for (int version = 0; version <= kVersions; ++version)
                        gpu_test::check_close(gpu_bmm(a.gpu, b.gpu, version), ref, 0, 0,
                                              describe(s, la, lb, version, DType::Float32) + " (exact integers)");
                }
    }
}

TEST_CASE("gpu matmul: a forced version that does not exist is an error naming the kernel") {
    const Tensor a = gpu_test::random_cpu({1, 3, 4}, 1).to(gpu_test::kGpu);
    gpu_test::ScopedKernelVersion forced(kKernel, kVersions + 1);
    CHECK_THROWS_WITH_AS(bmm(a, a.transpose(1, 2)), doctest::Contains("bmm_forward"), fbseg::Error);
}

}  // namespace matmul_gpu_tests
