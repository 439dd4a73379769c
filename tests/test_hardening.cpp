// Tests for the holes an outside review and an adversarial probe found in the core (the
// hardening issue). Each case reproduces one hole the way a user met it, and failed before the
// fix. Thread-pool and generator races are in tests/concurrency/ (run under ThreadSanitizer);
// device-seam holes (data_ptr on device memory, throwing destructors, overlapping in-place
// writes, allocation failures) are in test_device.cpp.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "fbseg/fbseg.hpp"
#include "support/check.hpp"
#include "support/safetensors_reader.hpp"

namespace hardening_tests {  // a namespace of its own: the test files are compiled as one unity source

using namespace fbseg;

namespace {

constexpr std::int64_t kI64Max = std::numeric_limits<std::int64_t>::max();
const double kNaN = std::numeric_limits<double>::quiet_NaN();
const double kInf = std::numeric_limits<double>::infinity();

/// The message of the fbseg::Error that `f` throws ("" if it throws nothing).
template <typename F>
std::string error_of(F&& f) {
    try {
        f();
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace

// ---- hole 5: unchecked size arithmetic ---------------------------------------------------------

TEST_CASE("hardening: a shape whose element count overflows int64 is an error naming the shape") {
    const Shape huge{std::int64_t(1) << 32, std::int64_t(1) << 32};  // 2^64 elements: wraps to 0
    const std::string msg = error_of([&] { (void)numel_of(huge); });
    CHECK(contains(msg, "[4294967296, 4294967296]"));
    CHECK(contains(msg, "overflow"));
    CHECK_THROWS_AS(Tensor::empty(huge), Error);
    CHECK_THROWS_AS(zeros({std::int64_t(1) << 62, 4}), Error);  // 2^64 elements as well
}

TEST_CASE("hardening: a byte count that overflows is an error, not a tiny allocation") {
    // 2^61 float64 elements fit in int64, but their 2^64 bytes do not fit in size_t.
    const std::string msg = error_of([] { (void)Tensor::empty({std::int64_t(1) << 61}, DType::Float64); });
    CHECK(contains(msg, "empty"));
    CHECK(contains(msg, "[2305843009213693952]"));
}

TEST_CASE("hardening: the safetensors test reader refuses a shape whose size overflows") {
    // shape [2^32, 2^32] of F32 claims 0 bytes after wrapping; the reader must not accept it.
    const std::string header = R"({"t":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}})";
    const auto path = std::filesystem::temp_directory_path() / "fbseg_overflow.safetensors";
    {
        std::ofstream out(path, std::ios::binary);
        const std::uint64_t n = header.size();
        out.write(reinterpret_cast<const char*>(&n), 8);
        out << header;
    }
    const std::string msg = error_of([&] { test_support::SafetensorsFile file(path.string()); });
    std::filesystem::remove(path);
    CHECK(contains(msg, "overflow"));
    CHECK(contains(msg, "'t'"));
}

// ---- hole 6: an in-place write to the base of a view ---------------------------------------------

TEST_CASE("hardening: a view used after an in-place write to its base is refused, never a wrong gradient") {
    // y = x * 2; v = y.view(-1); y.mul_(3): v now holds 6x but its history says 2x. Using v in
    // autograd would give d sum(v) / dx = 2 instead of 6.
    Tensor x = from_vector(std::vector<double>{1, 2, 3}, TensorOptions(DType::Float64).requires_grad());
    Tensor y = mul(x, 2.0);
    Tensor v = y.view({-1});
    mul_(y, 3.0);
    const std::string msg = error_of([&] { sum(v).backward(); });
    CHECK(contains(msg, "view"));
    CHECK(contains(msg, "in place"));
    CHECK_FALSE(x.grad().defined());
    // The base itself carries the in-place op in its history: its gradient is right.
    sum(y).backward();
    CHECK(x.grad().to_vector<double>() == std::vector<double>{6, 6, 6});
    // A view made after the write is fine, and so is a graph built from the view before it.
    Tensor x2 = from_vector(std::vector<double>{1, 2}, TensorOptions(DType::Float64).requires_grad());
    Tensor y2 = mul(x2, 2.0);
    Tensor before = sum(y2.view({-1}));
    mul_(y2, 3.0);
    before.backward(Tensor(), /*retain_graph=*/true);  // the x2 * 2 part is used again below
    CHECK(x2.grad().to_vector<double>() == std::vector<double>{2, 2});
    x2.zero_grad();
    sum(y2.view({-1})).backward();
    CHECK(x2.grad().to_vector<double>() == std::vector<double>{6, 6});
}

// ---- hole 8: version-counter holes ------------------------------------------------------------------

TEST_CASE("hardening: where's condition modified in place before backward is an error") {
    Tensor a = randn({4}, TensorOptions(DType::Float64).requires_grad());
    Tensor b = randn({4}, TensorOptions(DType::Float64).requires_grad());
    Tensor cond = from_vector(std::vector<double>{1, 0, 1, 0}).to(DType::Bool);
    Tensor out = where(cond, a, b);
    cond.fill_(1.0);  // the backward would route every gradient to a
    const std::string msg = error_of([&] { sum(out).backward(); });
    CHECK(contains(msg, "modified by an in-place operation"));
}

TEST_CASE("hardening: indices returned by max/min over a dim and modified in place make backward fail") {
    for (bool is_max : {true, false}) {
        Tensor x = randn({3, 5}, TensorOptions(DType::Float64).requires_grad());
        ValuesIndices r = is_max ? max(x, 1) : min(x, 1);
        r.indices.fill_(0.0);  // backward would scatter every gradient to column 0
        const std::string msg = error_of([&] { sum(r.values).backward(); });
        CHECK(contains(msg, "modified by an in-place operation"));
    }
}

// ---- hole 11: the adversarial probe -------------------------------------------------------------------

TEST_CASE("hardening: dim 0 and -1 on a 0-dim tensor: a value for sum and squeeze, an error for the rest") {
    const Tensor s = scalar_tensor(2.5);
    CHECK(sum(s, {0}).item<float>() == 2.5f);
    CHECK(sum(s, {-1}).dim() == 0);
    CHECK(mean(s, {0}).item<float>() == 2.5f);
    CHECK(s.squeeze(0).item<float>() == 2.5f);
    CHECK(s.squeeze(-1).dim() == 0);
    CHECK(contains(error_of([&] { (void)s.size(0); }), "0-dim"));
    CHECK(contains(error_of([&] { (void)s.stride(-1); }), "0-dim"));
    CHECK(contains(error_of([&] { (void)s.select(0, 0); }), "0-dim"));
    CHECK(contains(error_of([&] { (void)s.transpose(0, -1); }), "0-dim"));
    CHECK_THROWS_AS(sum(s, {1}), Error);
}

TEST_CASE("hardening: destroying a deep graph whose nodes use one tensor twice does not recurse") {
    // y = y * y, 50,000 times: each MulBackward holds two edges to the same child.
    Tensor x = scalar_tensor(1.0, TensorOptions(DType::Float64).requires_grad());
    {
        Tensor y = x;
        for (int i = 0; i < 50000; ++i) y = mul(y, y);
        CHECK(y.item<double>() == 1.0);
    }  // the graph dies here: a stack overflow before the fix
    // A graph shared with a live tensor must survive the destruction of another branch.
    Tensor z;
    {
        Tensor y = mul(x, x);
        z = mul(y, 3.0);
        Tensor w = mul(y, y);
    }
    z.backward();
    CHECK(x.grad().item<double>() == 6.0);
}

TEST_CASE("hardening: expand refuses negative sizes other than -1") {
    CHECK(contains(error_of([] { (void)ones({1}).expand({-2}); }), "expand"));
    CHECK_THROWS_AS(ones({2, 1}).expand({-3, 4}), Error);
    CHECK(ones({2, 1}).expand({-1, 4}).shape() == Shape{2, 4});
}

TEST_CASE("hardening: NaN propagates through maximum, minimum, relu and clamp") {
    const Tensor a = from_vector(std::vector<double>{kNaN, 1.0});
    const Tensor b = from_vector(std::vector<double>{1.0, kNaN});
    for (const Tensor& r : {maximum(a, b), minimum(a, b)}) {
        const auto v = r.to_vector<double>();
        CHECK(std::isnan(v[0]));
        CHECK(std::isnan(v[1]));
    }
    CHECK(std::isnan(relu(from_vector(std::vector<double>{kNaN})).item<double>()));
    Tensor inplace = from_vector(std::vector<double>{kNaN, -1.0});
    relu_(inplace);
    CHECK(std::isnan(inplace.to_vector<double>()[0]));
    CHECK(inplace.to_vector<double>()[1] == 0.0);
    CHECK(std::isnan(clamp(from_vector(std::vector<double>{kNaN}), 0.0, 1.0).item<double>()));
    // A NaN loss must be seen: the max over all elements is NaN too.
    CHECK(std::isnan(max(from_vector(std::vector<double>{1.0, kNaN, 3.0})).item<double>()));
}

TEST_CASE("hardening: slice and narrow bounds near INT64_MAX") {
    const Tensor x = arange(10.0);
    // Python: x[0:5:huge] has one element (x[0]); the size formula used to overflow to 0.
    CHECK(x.slice(0, 0, 5, kI64Max).to_vector<std::int64_t>() == std::vector<std::int64_t>{0});
    CHECK(x.slice(0, 2, kI64Max).numel() == 8);
    CHECK(x.slice(0, 3, 9, 4).to_vector<std::int64_t>() == std::vector<std::int64_t>{3, 7});
    CHECK(contains(error_of([&] { (void)x.narrow(0, 1, kI64Max); }), "out of bounds"));
    CHECK_THROWS_AS(x.narrow(0, kI64Max, 1), Error);
}

TEST_CASE("hardening: converting NaN, inf and huge floats to integers is defined (saturating, NaN to 0)") {
    // Rust's `as` rules: NaN -> 0, out-of-range values saturate at the type's limits.
    const Tensor f = from_vector(std::vector<double>{kNaN, kInf, -kInf, 1e30, -1e30, 2.9, -2.9});
    const auto i = f.to(DType::Int64).to_vector<std::int64_t>();
    const std::int64_t lo = std::numeric_limits<std::int64_t>::min();
    CHECK(i == std::vector<std::int64_t>{0, kI64Max, lo, kI64Max, lo, 2, -2});
    const auto u = f.to(DType::UInt8).to_vector<std::int64_t>();
    CHECK(u == std::vector<std::int64_t>{0, 255, 0, 255, 0, 2, 0});
    const Tensor f32 = from_vector(std::vector<float>{float(kNaN), 3e38f});
    CHECK(f32.to(DType::Int64).to_vector<std::int64_t>() == std::vector<std::int64_t>{0, kI64Max});
}

TEST_CASE("hardening: an integer tensor with a fractional scalar is promoted to float32, as in PyTorch") {
    const Tensor r = mul(arange(5.0), 0.5);  // used to be all zeros (0.5 truncated to 0)
    CHECK(r.dtype() == DType::Float32);
    CHECK(r.to_vector<float>() == std::vector<float>{0, 0.5f, 1, 1.5f, 2});
    CHECK(add(arange(3.0), 0.25).to_vector<float>() == std::vector<float>{0.25f, 1.25f, 2.25f});
    CHECK(sub(arange(3.0), 0.5).dtype() == DType::Float32);
    CHECK((arange(3.0) * 1.5).to_vector<float>() == std::vector<float>{0, 1.5f, 3});
    // Comparisons see the real scalar too: 0 < 0.5 is true (it was 0 < 0).
    CHECK(lt(arange(2.0), 0.5).to_vector<bool>() == std::vector<bool>{true, false});
    // Whole numbers keep the integer dtype (exact either way).
    CHECK(mul(arange(3.0), 2.0).dtype() == DType::Int64);
    // In place, the result cannot change dtype: refused, as PyTorch does.
    Tensor i = arange(3.0);
    CHECK(contains(error_of([&] { mul_(i, 0.5); }), "int64"));
    CHECK(i.to_vector<std::int64_t>() == std::vector<std::int64_t>{0, 1, 2});
}

TEST_CASE("hardening: mean over an empty dim is NaN, as in PyTorch") {
    const Tensor e = zeros({0, 3});
    const auto m = mean(e, {0}).to_vector<float>();
    REQUIRE(m.size() == 3);
    for (float v : m) CHECK(std::isnan(v));
    CHECK(std::isnan(mean(e).item<float>()));
    CHECK(sum(e).item<float>() == 0.0f);
}

}  // namespace hardening_tests
