// Tests of the tensor layer: dtypes, factories, random numbers, views, copies, element access,
// printing and error messages.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <sstream>
#include <vector>

#include "fbseg/fbseg.hpp"
#include "support/check.hpp"

namespace tensor_tests {  // a namespace of its own: the test files are compiled as one unity source

using namespace fbseg;
using fbseg::test::values;

namespace {

/// 0, 1, 2, ... as a float32 tensor of `shape` (contiguous).
Tensor counting(const Shape& shape, DType dtype = DType::Float32) {
    std::vector<double> v(std::size_t(numel_of(shape)));
    for (std::size_t i = 0; i < v.size(); ++i) v[i] = double(i);
    return from_vector(v, shape, TensorOptions(dtype));
}

std::vector<double> seq(std::initializer_list<double> v) { return std::vector<double>(v); }

}  // namespace

// ---- dtypes -----------------------------------------------------------------------------------

TEST_CASE("tensor: dtype sizes, names and classification") {
    CHECK(element_size(DType::Float32) == 4);
    CHECK(element_size(DType::Float64) == 8);
    CHECK(element_size(DType::Int64) == 8);
    CHECK(element_size(DType::Bool) == 1);
    CHECK(element_size(DType::UInt8) == 1);
    CHECK(element_size(DType::Float16) == 2);
    CHECK(element_size(DType::BFloat16) == 2);
    CHECK(dtype_name(DType::Float32) == "float32");
    CHECK(dtype_name(DType::Float64) == "float64");
    CHECK(dtype_name(DType::Int64) == "int64");
    CHECK(dtype_name(DType::Bool) == "bool");
    CHECK(dtype_name(DType::UInt8) == "uint8");
    CHECK(is_floating(DType::Float32));
    CHECK(is_floating(DType::Float64));
    CHECK_FALSE(is_floating(DType::Int64));
    CHECK_FALSE(is_floating(DType::Bool));
    CHECK(dtype_v<float> == DType::Float32);
    CHECK(dtype_v<double> == DType::Float64);
    CHECK(dtype_v<std::int64_t> == DType::Int64);
    CHECK(dtype_v<bool> == DType::Bool);

    // The storage of a tensor is numel * element size bytes.
    for (DType d : {DType::Float32, DType::Float64, DType::Int64, DType::Bool, DType::UInt8}) {
        Tensor t = empty({3, 5}, d);
        CHECK(t.dtype() == d);
        CHECK(t.storage()->nbytes() == 15 * element_size(d));
    }
    // The reserved half types have storage but no kernels.
    Tensor h = empty({4}, DType::Float16);
    CHECK(h.storage()->nbytes() == 8);
    CHECK_ERROR(h.fill_(1.0), "fill_", "float16");
}

// ---- factories --------------------------------------------------------------------------------

TEST_CASE("tensor: zeros, ones, full, empty") {
    Tensor z = zeros({2, 3});
    CHECK(z.dtype() == DType::Float32);
    CHECK(z.device() == kCPU);
    CHECK_SHAPE(z, {2, 3});
    CHECK(z.strides() == Shape{3, 1});
    CHECK(z.numel() == 6);
    CHECK(z.dim() == 2);
    CHECK(z.is_leaf());
    CHECK_FALSE(z.requires_grad());
    CHECK(values(z) == std::vector<double>(6, 0.0));

    Tensor o = ones({4}, DType::Float64);
    CHECK(o.dtype() == DType::Float64);
    CHECK(values(o) == std::vector<double>(4, 1.0));

    CHECK(values(full({2, 2}, 2.5)) == std::vector<double>(4, 2.5));
    CHECK(values(full({3}, 7.9, DType::Int64)) == std::vector<double>(3, 7.0));  // converted like a cast
    CHECK(values(full({2}, 0.5, DType::Bool)) == std::vector<double>(2, 1.0));
    CHECK(values(full({2}, 0.0, DType::Bool)) == std::vector<double>(2, 0.0));
    CHECK(values(full({2}, 200.0, DType::UInt8)) == std::vector<double>(2, 200.0));

    Tensor e = empty({2, 0, 3});
    CHECK(e.numel() == 0);
    CHECK_SHAPE(e, {2, 0, 3});
    CHECK_ERROR(empty({2, -1}), "empty", "negative", "[2, -1]");

    Tensor s = scalar_tensor(3.25, DType::Float64);
    CHECK(s.dim() == 0);
    CHECK(s.numel() == 1);
    CHECK(s.item<double>() == 3.25);

    Tensor g = zeros({2}, TensorOptions(DType::Float64).requires_grad(true));
    CHECK(g.requires_grad());
    CHECK(g.is_leaf());
    CHECK_ERROR(zeros({2}, TensorOptions(DType::Int64).requires_grad(true)), "requires_grad", "int64");
}

TEST_CASE("tensor: arange, integer and floating") {
    Tensor a = arange(5);
    CHECK(a.dtype() == DType::Int64);
    CHECK(a.to_vector<std::int64_t>() == std::vector<std::int64_t>{0, 1, 2, 3, 4});
    CHECK(arange(2, 9, 3).to_vector<std::int64_t>() == std::vector<std::int64_t>{2, 5, 8});
    CHECK(arange(5, 0, -2).to_vector<std::int64_t>() == std::vector<std::int64_t>{5, 3, 1});

    Tensor f = arange(1.0, 2.0, 0.25, DType::Float32);
    CHECK(f.dtype() == DType::Float32);
    CHECK(values(f) == seq({1.0, 1.25, 1.5, 1.75}));

    Tensor d = arange(0.0, 1.0, 0.1, DType::Float64);
    REQUIRE(d.numel() == 10);
    const auto dv = values(d);
    for (int i = 0; i < 10; ++i) CHECK(dv[std::size_t(i)] == doctest::Approx(0.1 * i).epsilon(1e-14));

    CHECK(arange(3.0, 3.0, 1.0).numel() == 0);
    CHECK_ERROR(arange(0.0, 1.0, 0.0), "arange", "step");
    CHECK_ERROR(arange(0.0, 5.0, -1.0), "arange");
}

TEST_CASE("tensor: from_vector and *_like") {
    Tensor t = from_vector(std::vector<double>{1.5, -2.0, 3.25, 4.0, 5.0, 6.5}, {2, 3});
    CHECK(t.dtype() == DType::Float64);
    CHECK_SHAPE(t, {2, 3});
    CHECK(values(t) == seq({1.5, -2.0, 3.25, 4.0, 5.0, 6.5}));
    CHECK(t.at<double>({1, 2}) == 6.5);

    Tensor f = from_vector(std::vector<double>{1.5, -2.0}, {2}, DType::Float32);
    CHECK(f.dtype() == DType::Float32);
    CHECK(values(f) == seq({1.5, -2.0}));

    Tensor i = from_vector(std::vector<std::int64_t>{7, -8, 9});
    CHECK(i.dtype() == DType::Int64);
    CHECK_SHAPE(i, {3});
    CHECK(i.to_vector<std::int64_t>() == std::vector<std::int64_t>{7, -8, 9});

    Tensor b = from_vector(std::vector<bool>{true, false, true});
    CHECK(b.dtype() == DType::Bool);
    CHECK(values(b) == seq({1, 0, 1}));

    Tensor r = from_vector(std::vector<float>{1, 2}, {2}, TensorOptions(DType::Float32).requires_grad(true));
    CHECK(r.requires_grad());
    CHECK(r.is_leaf());

    CHECK_ERROR(from_vector(std::vector<float>{1, 2, 3}, {2, 2}), "from_vector", "[2, 2]");

    Tensor src = full({2, 3}, 4.0, TensorOptions(DType::Float64).requires_grad(true));
    for (const Tensor& like : {zeros_like(src), ones_like(src), full_like(src, -1.5), empty_like(src)}) {
        CHECK(like.dtype() == DType::Float64);
        CHECK_SHAPE(like, {2, 3});
        CHECK(like.device() == kCPU);
        CHECK_FALSE(like.requires_grad());
        CHECK_FALSE(like.storage() == src.storage());
    }
    CHECK(values(zeros_like(src)) == std::vector<double>(6, 0.0));
    CHECK(values(ones_like(src)) == std::vector<double>(6, 1.0));
    CHECK(values(full_like(src, -1.5)) == std::vector<double>(6, -1.5));
    CHECK(values(zeros_like(arange(3))) == std::vector<double>(3, 0.0));
    CHECK(zeros_like(arange(3)).dtype() == DType::Int64);
}

TEST_CASE("tensor: rand is uniform on [0, 1)") {
    Generator gen(2024);
    for (DType d : {DType::Float32, DType::Float64}) {
        Tensor u = rand({100000}, d, gen);
        CHECK(u.dtype() == d);
        const auto v = values(u);
        double lo = 1, hi = 0, sum = 0, sq = 0;
        for (double x : v) {
            lo = std::min(lo, x);
            hi = std::max(hi, x);
            sum += x;
            sq += x * x;
        }
        const double mean = sum / double(v.size()), var = sq / double(v.size()) - mean * mean;
        CHECK(lo >= 0.0);
        CHECK(hi < 1.0);
        CHECK(lo < 0.001);  // the whole range is covered
        CHECK(hi > 0.999);
        CHECK(mean == doctest::Approx(0.5).epsilon(0.01));
        CHECK(var == doctest::Approx(1.0 / 12.0).epsilon(0.02));
        // Fraction below 0.25: a crude check of the shape of the distribution.
        const auto below = std::count_if(v.begin(), v.end(), [](double x) { return x < 0.25; });
        CHECK(double(below) / double(v.size()) == doctest::Approx(0.25).epsilon(0.03));
    }
    CHECK_ERROR(rand({2}, DType::Int64, gen), "rand", "int64");
}

TEST_CASE("tensor: randn has mean 0 and std 1") {
    Generator gen(99);
    for (DType d : {DType::Float32, DType::Float64}) {
        const auto v = values(randn({100000}, d, gen));
        double sum = 0, sq = 0, within1 = 0;
        for (double x : v) {
            sum += x;
            sq += x * x;
            within1 += std::abs(x) < 1.0 ? 1 : 0;
            REQUIRE(std::isfinite(x));
        }
        const double n = double(v.size());
        const double mean = sum / n, stddev = std::sqrt(sq / n - mean * mean);
        CHECK(std::abs(mean) < 0.015);  // standard error of the mean is 0.0032
        CHECK(std::abs(stddev - 1.0) < 0.015);
        CHECK(within1 / n == doctest::Approx(0.6827).epsilon(0.02));  // one-sigma mass of a normal
    }
}

TEST_CASE("tensor: generator reproducibility") {
    Generator a(42), b(42), c(43);
    Tensor xa = rand({1000}, DType::Float32, a);
    Tensor xb = rand({1000}, DType::Float32, b);
    Tensor xc = rand({1000}, DType::Float32, c);
    CHECK(fbseg::test::bitwise_equal(xa, xb));
    CHECK_FALSE(fbseg::test::rel_error(xa, xc) < 1e-3);
    CHECK(a.offset() == 1000);

    // Consecutive draws continue the stream: they differ, and a restored offset replays them.
    Tensor next = rand({1000}, DType::Float32, a);
    CHECK_FALSE(fbseg::test::rel_error(next, xa) < 1e-3);
    b.set_offset(1000);
    CHECK(fbseg::test::bitwise_equal(rand({1000}, DType::Float32, b), next));
    a.manual_seed(42);
    CHECK(fbseg::test::bitwise_equal(rand({1000}, DType::Float32, a), xa));

    // The same counters give the same normals.
    Generator n1(5), n2(5);
    CHECK(fbseg::test::bitwise_equal(randn({257}, DType::Float64, n1), randn({257}, DType::Float64, n2)));

    // The default generator is reset by manual_seed.
    manual_seed(7);
    Tensor d1 = randn({64});
    manual_seed(7);
    Tensor d2 = randn({64});
    CHECK(fbseg::test::bitwise_equal(d1, d2));
}

TEST_CASE("tensor: random numbers do not depend on the number of threads") {
    fbseg::test::ThreadsGuard restore;
    set_num_threads(1);
    Generator g1(11);
    Tensor u1 = rand({100003}, DType::Float32, g1);
    Tensor n1 = randn({100003}, DType::Float64, g1);
    set_num_threads(2);
    CHECK(num_threads() == 2);
    Generator g2(11);
    Tensor u2 = rand({100003}, DType::Float32, g2);
    Tensor n2 = randn({100003}, DType::Float64, g2);
    CHECK(fbseg::test::bitwise_equal(u1, u2));
    CHECK(fbseg::test::bitwise_equal(n1, n2));
}

// ---- views ------------------------------------------------------------------------------------

TEST_CASE("tensor: view and reshape") {
    Tensor x = counting({24});
    Tensor v = x.view({2, 3, 4});
    CHECK_SHAPE(v, {2, 3, 4});
    CHECK(v.strides() == Shape{12, 4, 1});
    CHECK(v.at<float>({1, 2, 3}) == 23.0f);
    CHECK(v.at<float>({1, 0, 2}) == 14.0f);
    CHECK(v.storage() == x.storage());
    CHECK_SHAPE(x.view({-1, 4}), {6, 4});
    CHECK_SHAPE(x.view({2, -1}), {2, 12});
    CHECK_SHAPE(x.view({2, 3, -1}), {2, 3, 4});
    CHECK_SHAPE(scalar_tensor(1.0).view({1, 1}), {1, 1});
    CHECK_ERROR(x.view({-1, -1}), "view", "-1");
    CHECK_ERROR(x.view({5, -1}), "view", "[5, -1]");
    CHECK_ERROR(x.view({5, 5}), "view", "[5, 5]");

    // view needs a contiguous input; reshape copies then.
    Tensor t = v.transpose(1, 2);
    CHECK_ERROR(t.view({24}), "view", "contiguous");
    Tensor r = t.reshape({24});
    CHECK(r.storage() != x.storage());
    // t[i][j][k] = v[i][k][j] = 12 i + 4 k + j, flattened in (i, j, k) order.
    std::vector<double> expected;
    for (int i = 0; i < 2; ++i)
        for (int j = 0; j < 4; ++j)
            for (int k = 0; k < 3; ++k) expected.push_back(12 * i + 4 * k + j);
    CHECK(values(r) == expected);
    // reshape of a contiguous tensor is a view.
    Tensor rv = x.reshape({4, 6});
    CHECK(rv.storage() == x.storage());
    CHECK(values(rv) == values(x));
}

TEST_CASE("tensor: permute, transpose and t") {
    Tensor x = counting({2, 3, 4});
    Tensor p = x.permute({2, 0, 1});
    CHECK_SHAPE(p, {4, 2, 3});
    CHECK(p.strides() == Shape{1, 12, 4});
    CHECK(p.storage() == x.storage());
    for (int k = 0; k < 4; ++k)
        for (int i = 0; i < 2; ++i)
            for (int j = 0; j < 3; ++j) CHECK(p.at<float>({k, i, j}) == float(12 * i + 4 * j + k));
    CHECK_SHAPE(x.permute({-1, -2, -3}), {4, 3, 2});
    CHECK_ERROR(x.permute({0, 0, 1}), "permute", "twice");
    CHECK_ERROR(x.permute({0, 1}), "permute", "[2, 3, 4]");
    CHECK_ERROR(x.permute({0, 1, 3}), "permute", "out of range");

    Tensor tr = x.transpose(0, 2);
    CHECK_SHAPE(tr, {4, 3, 2});
    CHECK(tr.at<float>({3, 1, 1}) == float(12 + 4 + 3));
    CHECK_SHAPE(x.transpose(-1, 0), {4, 3, 2});

    Tensor m = counting({2, 3});
    Tensor mt = m.t();
    CHECK_SHAPE(mt, {3, 2});
    CHECK(values(mt) == seq({0, 3, 1, 4, 2, 5}));
    CHECK(values(mt.t()) == values(m));
    CHECK_ERROR(x.t(), "t:", "[2, 3, 4]");
}

TEST_CASE("tensor: slice with steps and negative indices, narrow, select") {
    Tensor x = counting({10});
    CHECK(values(x.slice(0, 1, 8, 3)) == seq({1, 4, 7}));
    CHECK(values(x.slice(0, 1, 9, 3)) == seq({1, 4, 7}));
    CHECK(values(x.slice(0, 1, 10, 3)) == seq({1, 4, 7}));
    CHECK(values(x.slice(0, 0, 10, 4)) == seq({0, 4, 8}));
    CHECK(values(x.slice(0, -3, 10)) == seq({7, 8, 9}));
    CHECK(values(x.slice(0, -4, -1)) == seq({6, 7, 8}));
    CHECK(values(x.slice(0, 7, 100)) == seq({7, 8, 9}));  // clipped like Python
    CHECK(x.slice(0, 6, 3).numel() == 0);
    CHECK(x.slice(0, 1, 8, 3).strides() == Shape{3});
    CHECK(x.slice(0, 1, 8, 3).offset() == 1);
    CHECK_ERROR(x.slice(0, 0, 5, 0), "slice", "step");
    CHECK_ERROR(x.slice(1, 0, 5), "slice", "dim 1");

    Tensor m = counting({3, 4});
    Tensor cols = m.slice(1, 0, 4, 2);
    CHECK_SHAPE(cols, {3, 2});
    CHECK(cols.strides() == Shape{4, 2});
    CHECK(values(cols) == seq({0, 2, 4, 6, 8, 10}));
    CHECK(values(m.slice(-1, -2, 4)) == seq({2, 3, 6, 7, 10, 11}));
    CHECK(values(m.slice(0, 1, 3)) == seq({4, 5, 6, 7, 8, 9, 10, 11}));

    CHECK(values(m.narrow(1, 1, 2)) == seq({1, 2, 5, 6, 9, 10}));
    CHECK(values(m.narrow(0, 2, 1)) == seq({8, 9, 10, 11}));
    CHECK_ERROR(m.narrow(1, 3, 2), "narrow", "out of bounds");

    Tensor row = m.select(0, -1);
    CHECK_SHAPE(row, {4});
    CHECK(values(row) == seq({8, 9, 10, 11}));
    Tensor col = m.select(1, 2);
    CHECK_SHAPE(col, {3});
    CHECK(col.strides() == Shape{4});
    CHECK(values(col) == seq({2, 6, 10}));
    CHECK(values(m.select(1, -4)) == seq({0, 4, 8}));
    CHECK_ERROR(m.select(0, 3), "select", "index 3");
    CHECK_ERROR(m.select(1, -5), "select", "index -5");
}

TEST_CASE("tensor: expand has stride 0") {
    Tensor c = from_vector(std::vector<float>{1, 2, 3}, {3, 1});
    Tensor e = c.expand({2, 3, 4});
    CHECK_SHAPE(e, {2, 3, 4});
    CHECK(e.strides() == Shape{0, 1, 0});
    CHECK(e.storage() == c.storage());
    std::vector<double> expected;
    for (int i = 0; i < 2; ++i)
        for (int j = 0; j < 3; ++j)
            for (int k = 0; k < 4; ++k) expected.push_back(j + 1);
    CHECK(values(e) == expected);
    CHECK_SHAPE(c.expand({-1, 5}), {3, 5});
    CHECK_ERROR(c.expand({4, 4}), "expand", "[3, 1]", "[4, 4]");
    CHECK_ERROR(c.expand({4}), "expand", "fewer dims");
    CHECK_ERROR(c.expand({-1, 3, 4}), "expand", "-1");

    // Writing the base is visible through every expanded position.
    {
        NoGradGuard no_grad;
        c.select(0, 1).fill_(9.0);
    }
    CHECK(e.at<float>({1, 1, 3}) == 9.0f);
    CHECK(e.at<float>({0, 1, 0}) == 9.0f);
}

TEST_CASE("tensor: squeeze, unsqueeze, flatten") {
    Tensor x = counting({1, 3, 1, 2});
    CHECK_SHAPE(x.squeeze(), {3, 2});
    CHECK_SHAPE(x.squeeze(0), {3, 1, 2});
    CHECK_SHAPE(x.squeeze(1), {1, 3, 1, 2});  // size > 1: no-op
    CHECK_SHAPE(x.squeeze(-2), {1, 3, 2});
    CHECK(values(x.squeeze()) == values(x));
    CHECK_SHAPE(x.unsqueeze(0), {1, 1, 3, 1, 2});
    CHECK_SHAPE(x.unsqueeze(-1), {1, 3, 1, 2, 1});
    CHECK_SHAPE(x.unsqueeze(2), {1, 3, 1, 1, 2});
    CHECK(x.unsqueeze(-1).is_contiguous());
    CHECK_ERROR(x.unsqueeze(6), "unsqueeze");
    CHECK_SHAPE(scalar_tensor(1.0).unsqueeze(0), {1});

    Tensor y = counting({2, 3, 4});
    CHECK_SHAPE(y.flatten(), {24});
    CHECK_SHAPE(y.flatten(1), {2, 12});
    CHECK_SHAPE(y.flatten(0, 1), {6, 4});
    CHECK_SHAPE(y.flatten(-2, -1), {2, 12});
    CHECK(y.flatten().storage() == y.storage());
    CHECK_SHAPE(scalar_tensor(2.0).flatten(), {1});
    CHECK_ERROR(y.flatten(2, 1), "flatten");
    // Flattening a permuted tensor copies in logical order.
    Tensor p = y.permute({2, 1, 0}).flatten();
    std::vector<double> expected;
    for (int k = 0; k < 4; ++k)
        for (int j = 0; j < 3; ++j)
            for (int i = 0; i < 2; ++i) expected.push_back(12 * i + 4 * j + k);
    CHECK(values(p) == expected);
}

TEST_CASE("tensor: views share storage with their base") {
    Tensor x = counting({3, 4});
    const auto v0 = x.version();
    x.view({12}).slice(0, 0, 12, 5).fill_(-1.0);  // elements 0, 5, 10
    CHECK(x.version() == v0 + 1);
    CHECK(values(x) == seq({-1, 1, 2, 3, 4, -1, 6, 7, 8, 9, -1, 11}));

    x.t().select(0, 3).copy_(from_vector(std::vector<float>{30, 70, 110}));  // column 3
    CHECK(values(x) == seq({-1, 1, 2, 30, 4, -1, 6, 70, 8, 9, -1, 110}));

    x.permute({1, 0}).narrow(0, 1, 1).zero_();  // column 1
    CHECK(values(x.select(1, 1)) == seq({0, 0, 0}));

    Tensor u = x.unsqueeze(0).squeeze(0).flatten();
    u.fill_(2.0);
    CHECK(values(x) == std::vector<double>(12, 2.0));
}

TEST_CASE("tensor: contiguous copies only when needed; clone always copies") {
    Tensor x = counting({3, 4});
    Tensor same = x.contiguous();
    CHECK(same.is_same(x));
    CHECK(same.storage() == x.storage());

    Tensor t = x.t();
    CHECK_FALSE(t.is_contiguous());
    Tensor tc = t.contiguous();
    CHECK(tc.is_contiguous());
    CHECK(tc.storage() != x.storage());
    CHECK(tc.strides() == Shape{3, 1});
    CHECK(values(tc) == values(t));
    CHECK(values(tc) == seq({0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11}));

    Tensor c = x.clone();
    CHECK(c.storage() != x.storage());
    CHECK(values(c) == values(x));
    c.fill_(5.0);
    CHECK(values(x) == values(counting({3, 4})));  // the original is untouched

    Tensor ct = t.clone();
    CHECK(ct.is_contiguous());
    CHECK(values(ct) == values(t));
}

TEST_CASE("tensor: is_contiguous for views") {
    Tensor x = counting({3, 4});
    CHECK(x.is_contiguous());
    CHECK_FALSE(x.t().is_contiguous());
    CHECK_FALSE(x.slice(1, 0, 4, 2).is_contiguous());
    CHECK_FALSE(x.slice(1, 1, 3).is_contiguous());
    CHECK(x.slice(0, 1, 3).is_contiguous());
    CHECK(x.select(0, 1).is_contiguous());
    CHECK_FALSE(x.select(1, 1).is_contiguous());
    CHECK(x.narrow(0, 2, 1).is_contiguous());
    CHECK(x.unsqueeze(1).is_contiguous());
    CHECK_FALSE(x.unsqueeze(0).expand({2, 3, 4}).is_contiguous());
    CHECK(x.unsqueeze(0).expand({1, 3, 4}).is_contiguous());
    CHECK(x.t().t().is_contiguous());
    Tensor row = counting({1, 4});
    CHECK(row.t().is_contiguous());  // [4, 1] with stride 1 along the non-trivial dim
    CHECK(counting({2, 3, 4}).permute({0, 1, 2}).is_contiguous());
    CHECK_FALSE(counting({2, 3, 4}).permute({1, 0, 2}).is_contiguous());
    // Tensors without elements are contiguous whatever their strides, and can be viewed.
    const Tensor empty_t = zeros({3, 0});
    CHECK(empty_t.is_contiguous());
    CHECK(empty_t.t().is_contiguous());
    CHECK_SHAPE(empty_t.view({0, 5}), {0, 5});
    CHECK_SHAPE(empty_t.t().reshape({2, 0, 7}), {2, 0, 7});
}

// ---- copies between tensors and dtypes ---------------------------------------------------------

TEST_CASE("tensor: copy_ broadcasts") {
    Tensor dst = zeros({2, 3});
    dst.copy_(from_vector(std::vector<float>{1, 2, 3}));
    CHECK(values(dst) == seq({1, 2, 3, 1, 2, 3}));
    dst.copy_(from_vector(std::vector<float>{7, 8}, {2, 1}));
    CHECK(values(dst) == seq({7, 7, 7, 8, 8, 8}));
    dst.copy_(scalar_tensor(4.0));
    CHECK(values(dst) == std::vector<double>(6, 4.0));
    CHECK_ERROR(dst.copy_(zeros({4})), "copy_", "[2, 3]", "[4]");
    CHECK_ERROR(dst.copy_(zeros({3, 3})), "copy_", "[2, 3]", "[3, 3]");

    // Into a non-contiguous destination.
    Tensor base = zeros({3, 2});
    base.t().copy_(from_vector(std::vector<float>{1, 2, 3, 4, 5, 6}, {2, 3}));
    CHECK(values(base) == seq({1, 4, 2, 5, 3, 6}));
    // From a non-contiguous source.
    Tensor d2 = zeros({2, 3});
    d2.copy_(base.t());
    CHECK(values(d2) == seq({1, 2, 3, 4, 5, 6}));
}

TEST_CASE("tensor: copy_ and to() between dtypes") {
    Tensor f = from_vector(std::vector<float>{2.75f, -2.75f, 0.0f, 1.5f});
    Tensor d = zeros({4}, DType::Float64);
    d.copy_(f);
    CHECK(values(d) == seq({2.75, -2.75, 0.0, 1.5}));

    Tensor i = zeros({4}, DType::Int64);
    i.copy_(d);
    CHECK(i.to_vector<std::int64_t>() == std::vector<std::int64_t>{2, -2, 0, 1});  // truncation toward 0

    Tensor b = zeros({4}, DType::Bool);
    b.copy_(i);
    CHECK(values(b) == seq({1, 1, 0, 1}));
    b.copy_(from_vector(std::vector<float>{0.25f, 0.0f, -0.5f, 0.0f}));
    CHECK(values(b) == seq({1, 0, 1, 0}));  // nonzero -> true, even when |x| < 1

    Tensor back = zeros({4});
    back.copy_(b);
    CHECK(values(back) == seq({1, 0, 1, 0}));
    Tensor i2 = zeros({4}, DType::Int64);
    i2.copy_(b);
    CHECK(values(i2) == seq({1, 0, 1, 0}));
    Tensor f2 = zeros({4}, DType::Float32);
    f2.copy_(from_vector(std::vector<std::int64_t>{-3, 16777217, 5, 0}));
    CHECK(values(f2) == seq({-3, 16777216, 5, 0}));  // rounds to the nearest float

    // to(dtype) makes a converted copy and leaves the source alone.
    Tensor src = from_vector(std::vector<double>{1.9, -0.5, 0.0, 3.0});
    Tensor as_f = src.to(DType::Float32);
    CHECK(as_f.dtype() == DType::Float32);
    CHECK(as_f.storage() != src.storage());
    CHECK(values(as_f) == seq({double(1.9f), -0.5, 0.0, 3.0}));
    CHECK(src.to(DType::Int64).to_vector<std::int64_t>() == std::vector<std::int64_t>{1, 0, 0, 3});
    CHECK(values(src.to(DType::Bool)) == seq({1, 1, 0, 1}));
    CHECK(values(src.to(DType::Bool).to(DType::Float64)) == seq({1, 1, 0, 1}));
    CHECK(src.to(DType::Float64).is_same(src));  // no conversion needed: the same tensor
    CHECK(values(src) == seq({1.9, -0.5, 0.0, 3.0}));
    // to() of a non-contiguous tensor keeps the logical order.
    CHECK(values(counting({2, 3}).t().to(DType::Int64)) == seq({0, 3, 1, 4, 2, 5}));
}

TEST_CASE("tensor: item, at, to_vector") {
    Tensor x = from_vector(std::vector<double>{1, 2, 3, 4, 5, 6}, {2, 3});
    CHECK(x.at<double>({0, 0}) == 1);
    CHECK(x.at<double>({1, 2}) == 6);
    CHECK(x.at<double>({-1, -2}) == 5);
    CHECK(x.at<std::int64_t>({1, 0}) == 4);
    CHECK(x.at<float>({0, 2}) == 3.0f);
    CHECK_ERROR(x.at<double>({1}), "at", "rank 2");
    CHECK_ERROR(x.item<double>(), "item", "[2, 3]");
    CHECK(x.select(1, 1).select(0, 1).item<double>() == 5);
    CHECK(scalar_tensor(-2.5).item<float>() == -2.5f);
    CHECK(from_vector(std::vector<std::int64_t>{42}).item<std::int64_t>() == 42);

    CHECK(x.to_vector<double>() == seq({1, 2, 3, 4, 5, 6}));
    CHECK(x.t().to_vector<double>() == seq({1, 4, 2, 5, 3, 6}));
    CHECK(x.to_vector<std::int64_t>() == std::vector<std::int64_t>{1, 2, 3, 4, 5, 6});
    CHECK(x.slice(1, 0, 3, 2).to_vector<float>() == std::vector<float>{1, 3, 4, 6});

    // Reading a tensor that requires grad works for every target type.
    Tensor g = from_vector(std::vector<float>{2.5f}, {1}, TensorOptions(DType::Float32).requires_grad(true));
    CHECK(g.item<float>() == 2.5f);
    CHECK(g.item<double>() == 2.5);
    CHECK(g.item<std::int64_t>() == 2);
    CHECK((g * 2.0).to_vector<std::int64_t>() == std::vector<std::int64_t>{5});
}

TEST_CASE("tensor: fill_ and zero_") {
    Tensor x = zeros({2, 3}, DType::Int64);
    x.fill_(3.7);
    CHECK(values(x) == std::vector<double>(6, 3.0));
    x.zero_();
    CHECK(values(x) == std::vector<double>(6, 0.0));
    Tensor y = ones({3, 3});
    y.t().slice(0, 0, 3, 2).fill_(4.0);  // columns 0 and 2
    CHECK(values(y) == seq({4, 1, 4, 4, 1, 4, 4, 1, 4}));
}

// ---- printing -----------------------------------------------------------------------------------

TEST_CASE("tensor: printing") {
    auto print = [](const Tensor& t) {
        std::ostringstream out;
        out << t;
        return out.str();
    };
    CHECK(print(from_vector(std::vector<float>{1, 2, 3, 4}, {2, 2})) ==
          "tensor([[1.0000, 2.0000], [3.0000, 4.0000]], dtype=float32)");
    CHECK(print(from_vector(std::vector<float>{1, 2, 3, 4}, {2, 2}).t()) ==
          "tensor([[1.0000, 3.0000], [2.0000, 4.0000]], dtype=float32)");
    CHECK(print(from_vector(std::vector<std::int64_t>{1, -2, 3})) == "tensor([1, -2, 3], dtype=int64)");
    CHECK(print(from_vector(std::vector<bool>{true, false})) == "tensor([True, False], dtype=bool)");
    CHECK(print(scalar_tensor(2.5)) == "tensor(2.5000, dtype=float32)");
    CHECK(print(from_vector(std::vector<double>{0.5}, {1}, TensorOptions(DType::Float64).requires_grad(true))) ==
          "tensor([0.5000], dtype=float64, requires_grad=True)");
    CHECK(print(zeros({2, 0})) == "tensor([[], []], dtype=float32)");
    CHECK(print(Tensor()) == "tensor(undefined)");
    CHECK(zeros({2, 3}, DType::Float64).describe() == "float64 [2, 3] cpu");
}

// ---- error messages ---------------------------------------------------------------------------

TEST_CASE("tensor: shape mismatches name the op and both shapes") {
    const Tensor a = ones({2, 3}), b = ones({4});
    CHECK_ERROR(add(a, b), "add", "[2, 3]", "[4]");
    CHECK_ERROR(a + b, "add", "[2, 3]", "[4]");
    CHECK_ERROR(sub(a, b), "sub", "[2, 3]", "[4]");
    CHECK_ERROR(mul(a, b), "mul", "[2, 3]", "[4]");
    CHECK_ERROR(div(a, b), "div", "[2, 3]", "[4]");
    CHECK_ERROR(maximum(a, b), "maximum", "[2, 3]", "[4]");
    CHECK_ERROR(minimum(a, b), "minimum", "[2, 3]", "[4]");
    CHECK_ERROR(gt(a, b), "gt", "[2, 3]", "[4]");
    CHECK_ERROR(where(gt(a, 0.0), a, b), "where", "[2, 3]", "[4]");
    Tensor c = ones({2, 3});
    CHECK_ERROR(add_(c, b), "add_", "[2, 3]", "[4]");
    CHECK_ERROR(mul_(c, ones({2, 2, 3})), "mul_", "[2, 3]", "[2, 2, 3]");
    CHECK_ERROR(matmul(a, ones({4, 5})), "matmul", "[2, 3]", "[4, 5]");
    CHECK_ERROR(matmul(ones({2, 2, 3}), ones({3, 3, 2})), "matmul", "[2]", "[3]");
    CHECK_ERROR(bmm(ones({2, 2, 3}), ones({2, 4, 5})), "bmm", "[2, 2, 3]", "[2, 4, 5]");
    CHECK_ERROR(concat({a, ones({3, 4})}, 0), "concat", "[2, 3]", "[3, 4]");
    CHECK_ERROR(stack({a, ones({3, 2})}, 0), "stack", "[2, 3]", "[3, 2]");
    CHECK_ERROR(sum_to(a, {4}), "sum_to", "[2, 3]", "[4]");
    CHECK_ERROR(a.view({4, 2}), "view", "[4, 2]");
    CHECK_ERROR(a.expand({3, 3}), "expand", "[2, 3]", "[3, 3]");
}

TEST_CASE("tensor: dtype mismatches name the op and both dtypes") {
    const Tensor f = ones({2, 3}), d = ones({2, 3}, DType::Float64), i = ones({3}, DType::Int64);
    CHECK_ERROR(add(f, d), "add", "float32", "float64", "[2, 3]");
    CHECK_ERROR(mul(d, i), "mul", "float64", "int64", "[2, 3]", "[3]");
    CHECK_ERROR(maximum(f, i), "maximum", "float32", "int64");
    CHECK_ERROR(matmul(f, ones({3, 2}, DType::Float64)), "matmul", "float32", "float64");
    CHECK_ERROR(bmm(ones({1, 2, 3}), ones({1, 3, 2}, DType::Float64)), "bmm", "float32", "float64");
    CHECK_ERROR(concat({f, d}, 0), "concat", "float32", "float64");
    CHECK_ERROR(where(gt(f, 0.0), f, d), "where", "float32", "float64");
    CHECK_ERROR(where(f, f, f), "where", "bool", "float32");
    Tensor g = ones({2, 3});
    CHECK_ERROR(add_(g, d), "add_", "float32", "float64");
    CHECK_ERROR(exp(i), "exp", "int64");
    CHECK_ERROR(div(i, i), "div", "int64");
    CHECK_ERROR(mean(i), "mean", "int64");
    CHECK_ERROR(softmax(i, 0), "softmax", "int64");
    CHECK_ERROR(add(ones({2}, DType::Bool), ones({2}, DType::Bool)), "add", "bool");
}

#if !FBSEG_WITH_CUDA
TEST_CASE("tensor: CUDA tensors in a CPU-only build give a clear error") {
    CHECK_ERROR(zeros({2, 3}, TensorOptions(cuda_device(0))), "CUDA", "cuda:0");
    CHECK_ERROR(empty({4}, cuda_device(1)), "CUDA", "cuda:1");
    CHECK_ERROR(rand({4}, TensorOptions(DType::Float32).device(cuda_device())), "CUDA");
    const Tensor x = ones({2});
    CHECK_ERROR(x.cuda(), "CUDA");
    CHECK_ERROR(x.to(cuda_device(0)), "CUDA");
    CHECK(x.to(kCPU).is_same(x));
    CHECK(x.cpu().is_same(x));
}
#endif

}  // namespace tensor_tests
