// Tests of the ops a PyTorch user reaches for: the method forms (x.add_(y), x.sum(1)), argmin,
// any/all, round, cumsum, flip, repeat, chunk/split, gather, masked_fill, topk, cross_entropy,
// mse_loss, l1_loss, and sums over expanded (stride-0) dims without materialising them.
// Each op: known values, a float64 gradcheck (also through non-contiguous inputs), its error
// messages, and parity with PyTorch (tools/make_newop_fixtures.py -> fixtures/newops.safetensors)
// element by element: |fbseg - torch| <= atol + rtol |torch|.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "fbseg/fbseg.hpp"
#include "support/check.hpp"
#include "support/safetensors_reader.hpp"

namespace newops_tests {  // a namespace of its own: the test files are compiled as one unity source

using namespace fbseg;
using fbseg::test::Data;
using fbseg::test::values;

namespace {

using Fn = std::function<Tensor(const std::vector<Tensor>&)>;
using Vec = std::vector<double>;
using IVec = std::vector<std::int64_t>;

Tensor f64(const Vec& v, const Shape& shape, bool requires_grad = false) {
    return from_vector(v, shape, TensorOptions(DType::Float64).requires_grad(requires_grad));
}
Tensor i64(const IVec& v, const Shape& shape) { return from_vector(v, shape); }

/// Pieces scaled by their position + 1 and joined, so each piece's gradient differs.
Tensor weighted_cat(const std::vector<Tensor>& pieces, std::int64_t dim) {
    std::vector<Tensor> scaled;
    for (std::size_t i = 0; i < pieces.size(); ++i) scaled.push_back(mul(pieces[i], double(i + 1)));
    return cat(scaled, dim);
}

/// gradcheck of f(x) for x itself, x permuted and x sliced with a step. x is [4, 5, 6].
void gradcheck_layouts(const std::function<Tensor(const Tensor&)>& f, Data& data) {
    std::string variant = "contiguous";
    INFO("input: ", variant);
    REQUIRE_GRADCHECK([f](const std::vector<Tensor>& in) { return f(in[0]); }, {data.distinct_tensor({4, 5, 6})});
    variant = "permuted";
    REQUIRE_GRADCHECK(
        [f](const std::vector<Tensor>& in) {
            return f(in[0].permute({1, 2, 0}));
        },
        {data.distinct_tensor({6, 4, 5})});
    variant = "sliced with step 2";
    REQUIRE_GRADCHECK([f](const std::vector<Tensor>& in) { return f(in[0].slice(2, 1, 12, 2)); },
                      {data.distinct_tensor({4, 5, 12})});
}

}  // namespace

// ---- method forms ------------------------------------------------------------------------------

TEST_CASE("newops: method forms compile as a PyTorch user writes them") {
    Tensor x = full({2, 3}, 1.0);
    const Tensor y = full({2, 3}, 2.0);
    x.add_(y);
    auto s = x.sum(1);
    Tensor b = zeros({4, 3});
    add_(b.slice(0, 1, 3), x.slice(0, 0, 2));  // an in-place op on a temporary view writes into b
    CHECK(values(s) == Vec{9, 9});
    CHECK(values(b) == Vec{0, 0, 0, 3, 3, 3, 3, 3, 3, 0, 0, 0});
    b.slice(0, 0, 1).mul_(2.0).add_(1.0);  // chained, on a temporary
    CHECK(values(b.select(0, 0)) == Vec{1, 1, 1});
    mul_(b.select(0, 3), 5.0);
    relu_(b.slice(0, 3, 4));
    clamp_(b.slice(0, 1, 2), 0.0, 2.0);
    CHECK(values(b.select(0, 1)) == Vec{2, 2, 2});

    // Every kind of entry of the list: unary, binary with a tensor and a scalar, comparisons,
    // reductions (all, Shape, int, braced list, {} = all), extremes, softmax, matmul.
    const Tensor a = from_vector(Vec{1, -2, 3, -4, 5, -6}, {2, 3});
    CHECK(values(a.abs()) == values(abs(a)));
    CHECK(values(a.exp().log()) == values(log(exp(a))));
    CHECK(values(a.mul(2.0).add(a).sub(1.0).div(a)) == values(div(sub(add(mul(a, 2.0), a), 1.0), a)));
    CHECK(values(a.maximum(zeros({3}, DType::Float64))) == Vec{1, 0, 3, 0, 5, 0});
    CHECK(values(a.gt(0.0)) == Vec{1, 0, 1, 0, 1, 0});
    CHECK(values(a.sum()) == Vec{-3});
    CHECK(values(a.sum(1)) == Vec{2, -5});
    CHECK(values(a.sum(-1, true)) == Vec{2, -5});
    CHECK_SHAPE(a.sum(1, true), {2, 1});
    CHECK(values(a.sum({1})) == Vec{2, -5});
    CHECK(values(a.sum({0, 1})) == Vec{-3});
    CHECK(values(a.sum({})) == Vec{-3});  // {} means every dim, as sum(x, {})
    CHECK(values(sum(a, 0)) == Vec{-3, 3, -3});
    CHECK(values(a.mean(0)) == Vec{-1.5, 1.5, -1.5});
    CHECK(values(a.mean()) == Vec{-0.5});
    CHECK(values(mean(a, std::int64_t(1), true)) == Vec{2.0 / 3, -5.0 / 3});
    CHECK(values(a.max()) == Vec{5});
    CHECK(values(a.max(1).indices) == Vec{2, 1});
    CHECK(values(a.min(1).values) == Vec{-2, -6});
    CHECK(values(a.argmax(1)) == Vec{2, 1});
    CHECK(values(a.argmin()) == Vec{5});
    CHECK(values(a.var()) == values(var(a)));
    CHECK(values(a.softmax(1)) == values(softmax(a, 1)));
    CHECK(values(a.log_softmax(0)) == values(log_softmax(a, 0)));
    CHECK(values(a.matmul(a.t())) == values(matmul(a, a.t())));
    CHECK(values(a.pow(2.0)) == values(square(a)));
    CHECK(values(a.clamp(-1, 1)) == Vec{1, -1, 1, -1, 1, -1});
    CHECK(values(a.any()) == Vec{1});
    CHECK(values(a.all(1)) == Vec{1, 1});
    // The new ops' method forms.
    CHECK(values(a.round()) == values(a));
    CHECK(values(a.cumsum(1)) == Vec{1, -1, 2, -4, 1, -5});
    CHECK(values(a.flip({1})) == Vec{3, -2, 1, -6, 5, -4});
    CHECK_SHAPE(a.repeat({2, 2}), {4, 6});
    CHECK(values(a.gather(1, i64({0, 0}, {2, 1}))) == Vec{1, -4});
    CHECK(values(a.masked_fill(a.lt(0.0), 0.0)) == Vec{1, 0, 3, 0, 5, 0});
    CHECK(values(a.topk(1, 1).values) == Vec{3, 5});
    CHECK(a.chunk(2, 1).size() == 2);
    CHECK(a.split(1).size() == 2);
    CHECK(a.split({1, 2}, 1).size() == 2);
    CHECK(a.split(2, -1).size() == 2);
    Tensor c = a.clone();
    c.masked_fill_(c.gt(2.0), 2.0).neg_();
    CHECK(values(c) == Vec{-1, 2, -2, 4, -2, 6});
    CHECK(values(cat({a, a}).sum(0)) == values(mul(a.sum(0), 2.0)));
}

TEST_CASE("newops: method forms record the same graph as the free functions") {
    Data data(200);
    Tensor x = data.tensor({3, 4});
    Tensor w = data.tensor({4, 2});
    Tensor l = x.matmul(w).tanh().sum(1).mean();
    l.backward();
    const Tensor gx = x.grad().clone(), gw = w.grad().clone();
    x.zero_grad();
    w.zero_grad();
    mean(sum(tanh(matmul(x, w)), {1})).backward();
    CHECK(test::bitwise_equal(gx, x.grad()));
    CHECK(test::bitwise_equal(gw, w.grad()));
    // In place on a non-leaf through the method form: x * 2, then add_ and relu_.
    REQUIRE_GRADCHECK(
        [](const std::vector<Tensor>& in) {
            Tensor y = in[0].mul(2.0);
            y.add_(in[1]).clamp_(-0.5, 0.5);
            return y;
        },
        {data.tensor({3, 4}, -1, 1, {-0.25, 0.25}), data.tensor({4}, -0.3, 0.3)});
}

// ---- reductions over expanded dims -------------------------------------------------------------

TEST_CASE("newops: sum and mean over expanded dims do not materialise the expansion") {
    // [4] expanded to [2^20, 2^20, 4]: 2^42 elements, 16 TiB of float32 if it were copied.
    const Tensor x = from_vector(std::vector<float>{1, 2, 3, 4});
    const Tensor big = x.expand({1 << 20, 1 << 20, 4});
    const auto start = std::chrono::steady_clock::now();
    const double n = double(1LL << 40);
    CHECK(sum(big).item<float>() == float(10 * n));
    CHECK(big.sum({0, 1}).to_vector<float>() == std::vector<float>{float(n), float(2 * n), float(3 * n), float(4 * n)});
    CHECK(mean(big).item<float>() == 2.5f);
    CHECK(big.mean({0, 1}).to_vector<float>() == std::vector<float>{1, 2, 3, 4});
    // A kept dim of stride 0 is still computed (the output has its size), the reduced one is not.
    const Tensor wide = from_vector(std::vector<float>{1, 2, 3}, {3, 1}).expand({3, 1 << 30});
    CHECK(wide.sum(1).to_vector<float>() == std::vector<float>{float(1 << 30), float(2LL << 30), float(3LL << 30)});
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    CHECK(seconds < 5.0);
    // int64 and float64 too, and the values match a materialised sum on a small expansion.
    CHECK(sum(arange(3.0).expand({1000, 3})).item<std::int64_t>() == 3000);
    Data data(201);
    const Tensor y = data.tensor({3, 1}, -1, 1, {}, 0.05, false);
    const Tensor e = y.expand({2, 3, 5});
    CHECK_CLOSE(sum(e, {0, 2}), sum(e.contiguous(), {0, 2}), 1e-15);
    CHECK_CLOSE(mean(e), mean(e.contiguous()), 1e-15);
    // The gradient through expand goes through sum_to over stride-0 dims: it stays cheap and right.
    const Tensor leaf = data.tensor({1, 4});
    sum(leaf.expand({1 << 20, 1 << 20, 4})).backward();
    CHECK(values(leaf.grad()) == Vec(4, n));
    REQUIRE_GRADCHECK(
        [](const std::vector<Tensor>& in) {
            return sum(in[0].expand({3, 2, 4}), {0, 2}, true);
        },
        {data.tensor({2, 1})});
    REQUIRE_GRADCHECK(
        [](const std::vector<Tensor>& in) {
            return mean(in[0].expand({5, 2, 3}), {0});
        },
        {data.tensor({2, 3})});
}

// ---- argmin, any, all, round -------------------------------------------------------------------

TEST_CASE("newops: argmin") {
    const Tensor x = from_vector(Vec{3, 1, 2, 1, 0, 0}, {2, 3});
    CHECK(values(argmin(x, 1)) == Vec{1, 1});  // the first of tied minima
    CHECK(values(argmin(x, 0)) == Vec{1, 1, 1});
    CHECK_SHAPE(argmin(x, -1, true), {2, 1});
    CHECK(values(argmin(x)) == Vec{4});
    CHECK(argmin(x).dtype() == DType::Int64);
    CHECK(values(argmin(x.t(), 0)) == Vec{1, 1});
    CHECK(values(argmin(arange(5.0).flip({0}))) == Vec{4});
    CHECK_ERROR(argmin(x, 2), "argmin", "dim");
    CHECK_ERROR(argmin(zeros({0})), "argmin", "empty");
}

TEST_CASE("newops: any and all") {
    const Tensor f = from_vector(Vec{0, 0, 1, 0, 2, 3}, {2, 3});
    CHECK(any(f).dtype() == DType::Bool);
    CHECK(any(f).dim() == 0);
    CHECK(values(any(f)) == Vec{1});
    CHECK(values(all(f)) == Vec{0});
    CHECK(values(any(f, 1)) == Vec{1, 1});
    CHECK(values(all(f, 1)) == Vec{0, 0});
    CHECK(values(all(f, 0)) == Vec{0, 0, 1});
    CHECK(values(any(f, 0, true)) == Vec{0, 1, 1});
    CHECK_SHAPE(any(f, 0, true), {1, 3});
    CHECK(values(all(f.t(), 1)) == Vec{0, 0, 1});
    CHECK(values(any(zeros({0, 3}))) == Vec{0});  // empty: any is false, all is true
    CHECK(values(all(zeros({0, 3}))) == Vec{1});
    CHECK(values(all(zeros({0, 3}), 0)) == Vec{1, 1, 1});
    CHECK(values(any(from_vector(Vec{0, std::nan("")}))) == Vec{1});  // NaN is not 0
    CHECK(values(all(gt(f, -1.0))) == Vec{1});
    CHECK(values(any(arange(3.0), 0)) == Vec{1});
    CHECK(values(all(scalar_tensor(2.0), 0)) == Vec{1});
    const Tensor g = full({2}, 1.0, TensorOptions(DType::Float64).requires_grad(true));
    CHECK_FALSE(any(g).requires_grad());
    CHECK_ERROR(any(f, 2), "any", "dim");
}

TEST_CASE("newops: round halves to even and has a zero gradient") {
    const Tensor x = from_vector(Vec{-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 0.49, -0.51, 1e15 + 0.5});
    CHECK(values(round(x)) == Vec{-2, -2, -0, 0, 2, 2, 0, -1, 1e15});
    CHECK(values(round(x.to(DType::Float32))) == values(round(x).to(DType::Float32)));
    Data data(202);
    const Tensor a = data.tensor({2, 3});
    sum(round(mul(a, 3.0))).backward();
    CHECK(values(a.grad()) == Vec(6, 0.0));
    CHECK_ERROR(round(arange(3.0)), "round", "floating");
}

// ---- cumsum, flip, repeat ----------------------------------------------------------------------

TEST_CASE("newops: cumsum") {
    const Tensor x = from_vector(Vec{1, 2, 3, 4, 5, 6}, {2, 3});
    CHECK(values(cumsum(x, 1)) == Vec{1, 3, 6, 4, 9, 15});
    CHECK(values(cumsum(x, 0)) == Vec{1, 2, 3, 5, 7, 9});
    CHECK(values(cumsum(x.t(), 1)) == Vec{1, 5, 2, 7, 3, 9});
    CHECK(values(cumsum(arange(5.0), 0)) == Vec{0, 1, 3, 6, 10});
    CHECK(cumsum(arange(5.0), 0).dtype() == DType::Int64);
    CHECK(values(cumsum(scalar_tensor(3.0), 0)) == Vec{3});
    CHECK(cumsum(zeros({0, 2}), 0).numel() == 0);
    // float32 accumulates in double: a long run of 0.1 stays accurate.
    const Tensor tenth = full({100000}, 0.1f);
    CHECK(std::abs(cumsum(tenth, 0).to_vector<float>().back() - 10000.0f) < 1e-3f);
    Data data(203);
    for (std::int64_t dim : {0, 1, 2, -1}) {
        INFO("dim ", dim);
        gradcheck_layouts([dim](const Tensor& t) { return cumsum(t, dim); }, data);
    }
    // The gradient is the reverse running sum: d/dx_j sum_i cumsum(x)_i = n - j.
    const Tensor z = data.tensor({5});
    sum(cumsum(z, 0)).backward();
    CHECK(values(z.grad()) == Vec{5, 4, 3, 2, 1});
    CHECK_ERROR(cumsum(x, 2), "cumsum", "dim");
}

TEST_CASE("newops: flip") {
    const Tensor x = from_vector(Vec{1, 2, 3, 4, 5, 6}, {2, 3});
    CHECK(values(flip(x, {1})) == Vec{3, 2, 1, 6, 5, 4});
    CHECK(values(flip(x, {0})) == Vec{4, 5, 6, 1, 2, 3});
    CHECK(values(flip(x, {0, -1})) == Vec{6, 5, 4, 3, 2, 1});
    CHECK(values(flip(x, {})) == values(x));
    CHECK(values(flip(x.t(), {0})) == Vec{3, 6, 2, 5, 1, 4});
    CHECK(values(flip(x.slice(1, 0, 3, 2), {1})) == Vec{3, 1, 6, 4});
    CHECK(values(flip(gt(x, 3.0), {1})) == Vec{0, 0, 0, 1, 1, 1});  // any dtype
    const Tensor f = flip(x, {1});
    CHECK(f.is_contiguous());
    CHECK(f.storage() != x.storage());  // a copy, as in PyTorch
    // Test-time augmentation: flipping twice gives the input back.
    CHECK(values(flip(flip(x, {1}), {1})) == values(x));
    Data data(204);
    gradcheck_layouts([](const Tensor& t) { return flip(t, {2}); }, data);
    gradcheck_layouts([](const Tensor& t) { return flip(t, {0, 1, 2}); }, data);
    CHECK_ERROR(flip(x, {1, -1}), "flip", "twice");
    CHECK_ERROR(flip(x, {2}), "flip", "dim");
}

TEST_CASE("newops: repeat") {
    const Tensor x = from_vector(Vec{1, 2, 3}, {1, 3});
    CHECK(values(repeat(x, {2, 2})) == Vec{1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3});
    CHECK_SHAPE(repeat(x, {2, 2}), {2, 6});
    CHECK_SHAPE(repeat(x, {3, 1, 2}), {3, 1, 6});  // leading dims added, as torch.Tensor.repeat
    CHECK(values(repeat(from_vector(Vec{1, 2}), {2})) == Vec{1, 2, 1, 2});
    CHECK(values(repeat(from_vector(Vec{1, 2, 3, 4}, {2, 2}).t(), {1, 2})) == Vec{1, 3, 1, 3, 2, 4, 2, 4});
    CHECK_SHAPE(repeat(x, {0, 2}), {0, 6});
    CHECK_SHAPE(repeat(scalar_tensor(5.0), {2, 3}), {2, 3});
    Data data(205);
    gradcheck_layouts([](const Tensor& t) { return repeat(t, {2, 1, 3}); }, data);
    gradcheck_layouts([](const Tensor& t) { return repeat(t, {2, 1, 1, 2}); }, data);
    CHECK_ERROR(repeat(x, {2}), "repeat", "[1, 3]");
    CHECK_ERROR(repeat(x, {1, -1}), "repeat", ">= 0");
}

// ---- chunk and split ---------------------------------------------------------------------------

TEST_CASE("newops: chunk and split are views") {
    const Tensor x = arange(10.0, TensorOptions(DType::Float64)).reshape({5, 2});
    auto sizes = [](const std::vector<Tensor>& pieces, std::int64_t dim) {
        IVec s;
        for (const Tensor& p : pieces) s.push_back(p.shape()[std::size_t(dim)]);
        return s;
    };
    CHECK(sizes(split(x, 2), 0) == IVec{2, 2, 1});
    CHECK(sizes(split(x, 5), 0) == IVec{5});
    CHECK(sizes(split(x, 7), 0) == IVec{5});
    CHECK(sizes(split(x, 1, 1), 1) == IVec{1, 1});
    CHECK(sizes(split(x, {1, 4}), 0) == IVec{1, 4});
    CHECK(sizes(split(x, {0, 5, 0}), 0) == IVec{0, 5, 0});
    CHECK(sizes(chunk(x, 2), 0) == IVec{3, 2});
    CHECK(sizes(chunk(x, 5), 0) == IVec{1, 1, 1, 1, 1});
    CHECK(sizes(chunk(x, 4), 0) == IVec{2, 2, 1});  // fewer pieces than asked, as torch.chunk
    CHECK(sizes(chunk(arange(6.0), 4), 0) == IVec{2, 2, 2});
    CHECK(sizes(chunk(x, 9), 0) == IVec{1, 1, 1, 1, 1});
    CHECK(sizes(chunk(zeros({0, 2}), 3), 0) == IVec{0});
    CHECK(values(split(x, 2)[1]) == Vec{4, 5, 6, 7});
    CHECK(values(chunk(x, 2, 1)[1]) == Vec{1, 3, 5, 7, 9});
    // Views: writing into a piece writes into x.
    Tensor y = x.clone();
    chunk(y, 2, 1)[0].fill_(-1);
    CHECK(values(y.select(1, 0)) == Vec(5, -1.0));
    add_(split(y, 2)[2], 100.0);
    CHECK(values(y.select(0, 4)) == Vec{99, 109});
    Data data(206);
    REQUIRE_GRADCHECK([](const std::vector<Tensor>& in) { return weighted_cat(split(in[0], 2, 1), 1); },
                      {data.tensor({3, 5})});
    REQUIRE_GRADCHECK(
        [](const std::vector<Tensor>& in) {
            return weighted_cat(split(in[0].t(), {1, 3, 1}, 0), 0);
        },
        {data.tensor({3, 5})});
    REQUIRE_GRADCHECK([](const std::vector<Tensor>& in) { return weighted_cat(chunk(in[0], 3, 0), 0); },
                      {data.tensor({7, 2})});
    REQUIRE_GRADCHECK([](const std::vector<Tensor>& in) { return chunk(in[0], 2, 1)[1]; }, {data.tensor({2, 5})});
    CHECK_ERROR(split(x, {1, 2}), "split", "add up to 3", "[5, 2]");
    CHECK_ERROR(split(x, 0), "split", "positive");
    CHECK_ERROR(chunk(x, 0), "chunk", "positive");
    CHECK_ERROR(split(scalar_tensor(1.0), 1), "split", "at least one dim");
    CHECK_ERROR(split(x, 2, 2), "split", "dim");
}

// ---- gather, masked_fill, topk -----------------------------------------------------------------

TEST_CASE("newops: gather") {
    const Tensor x = from_vector(Vec{1, 2, 3, 4, 5, 6}, {2, 3});
    CHECK(values(gather(x, 1, i64({2, 0, 1, 1}, {2, 2}))) == Vec{3, 1, 5, 5});
    CHECK(values(gather(x, 0, i64({1, 0, 1}, {1, 3}))) == Vec{4, 2, 6});
    CHECK(values(gather(x, -1, i64({0, 2}, {2, 1}))) == Vec{1, 6});
    CHECK(values(gather(x.t(), 1, i64({1, 0, 1}, {3, 1}))) == Vec{4, 2, 6});
    CHECK(values(gather(x, 1, i64({0, 2, 0, 2}, {1, 4}))) == Vec{1, 3, 1, 3});  // longer than x along dim
    CHECK(values(gather(arange(4.0), 0, i64({3, 3}, {2}))) == Vec{3, 3});       // int64 input
    CHECK_SHAPE(gather(x, 1, zeros({2, 0}, DType::Int64)), {2, 0});
    Data data(207);
    // Repeated indices: the backward scatter-adds both gradients.
    const Tensor idx = i64({0, 0, 1, 2, 2, 2, 4, 3, 0, 1, 1, 1}, {3, 4});
    REQUIRE_GRADCHECK([idx](const std::vector<Tensor>& in) { return gather(in[0], 1, idx); }, {data.tensor({3, 5})});
    REQUIRE_GRADCHECK([idx](const std::vector<Tensor>& in) { return gather(in[0].t(), 1, idx); },
                      {data.tensor({5, 3})});
    REQUIRE_GRADCHECK([idx](const std::vector<Tensor>& in) { return gather(in[0], 0, idx.slice(1, 0, 2)); },
                      {data.tensor({5, 3})});
    REQUIRE_GRADCHECK(
        [](const std::vector<Tensor>& in) {
            return gather(in[0], 2, i64({1, 0, 0, 1, 1, 1}, {1, 3, 2}));
        },
        {data.tensor({2, 3, 2})});
    const Tensor leaf = data.tensor({3});
    sum(gather(leaf, 0, i64({1, 1, 1, 2}, {4}))).backward();
    CHECK(values(leaf.grad()) == Vec{0, 3, 1});
    CHECK_ERROR(gather(x, 1, i64({3}, {1, 1})), "gather", "index 3", "out of range", "[2, 3]");
    CHECK_ERROR(gather(x, 1, i64({-1}, {1, 1})), "gather", "index -1");
    CHECK_ERROR(gather(x, 1, from_vector(Vec{0}, {1, 1})), "gather", "int64");
    CHECK_ERROR(gather(x, 1, i64({0}, {1})), "gather", "as many dims");
    CHECK_ERROR(gather(x, 1, i64({0, 0, 0}, {3, 1})), "gather", "larger than the input");
    CHECK_ERROR(gather(x, 2, i64({0}, {1, 1})), "gather", "dim");
}

TEST_CASE("newops: masked_fill") {
    const Tensor x = from_vector(Vec{1, 2, 3, 4, 5, 6}, {2, 3});
    const Tensor m = from_vector(std::vector<bool>{true, false, true, false, false, true}, {2, 3});
    CHECK(values(masked_fill(x, m, -1)) == Vec{-1, 2, -1, 4, 5, -1});
    const Tensor col = from_vector(std::vector<bool>{false, true}, {2, 1});
    CHECK(values(masked_fill(x, col, 0)) == Vec{1, 2, 3, 0, 0, 0});  // the mask broadcasts
    CHECK(values(masked_fill(x.t(), m.t(), 9)) == Vec{9, 4, 2, 5, 9, 9});
    CHECK(values(masked_fill(arange(3.0), from_vector(std::vector<bool>{false, true, false}), 7)) == Vec{0, 7, 2});
    CHECK(values(masked_fill(x, m, std::numeric_limits<double>::infinity())).at(0) ==
          std::numeric_limits<double>::infinity());
    Tensor y = x.clone();
    Tensor& r = masked_fill_(y, m, 0.5);
    CHECK(r.is_same(y));
    CHECK(values(y) == Vec{0.5, 2, 0.5, 4, 5, 0.5});
    masked_fill_(y.slice(1, 1, 2), col.expand({2, 1}), 8.0);  // on a temporary view
    CHECK(values(y) == Vec{0.5, 2, 0.5, 4, 8, 0.5});
    Data data(208);
    REQUIRE_GRADCHECK([m](const std::vector<Tensor>& in) { return masked_fill(in[0], m, 2.0); }, {data.tensor({2, 3})});
    REQUIRE_GRADCHECK([m](const std::vector<Tensor>& in) { return masked_fill(in[0].t(), m.t(), 2.0); },
                      {data.tensor({2, 3})});
    REQUIRE_GRADCHECK(
        [col](const std::vector<Tensor>& in) {
            return masked_fill(in[0].expand({2, 3}), col, 2.0);
        },
        {data.tensor({3})});
    REQUIRE_GRADCHECK(
        [m](const std::vector<Tensor>& in) {
            Tensor t = mul(in[0], 1.0);
            return masked_fill_(t, m, -3.0).mul(in[0]);
        },
        {data.tensor({2, 3})});
    CHECK_ERROR(masked_fill(x, gt(x, 1.0).to(DType::Int64), 0), "masked_fill", "bool");
    CHECK_ERROR(masked_fill(x, from_vector(std::vector<bool>{true, false}), 0), "masked_fill", "[2]", "[2, 3]");
    CHECK_ERROR(masked_fill(x.select(0, 0), m, 0), "masked_fill", "broadcast");
    Tensor leaf = data.tensor({2, 3});
    CHECK_ERROR(masked_fill_(leaf, m, 0), "masked_fill_", "leaf");
}

TEST_CASE("newops: topk") {
    const Tensor x = from_vector(Vec{3, 1, 4, 1, 5, 9, 2, 6}, {2, 4});
    auto [v, i] = topk(x, 2);
    CHECK(values(v) == Vec{4, 3, 9, 6});
    CHECK(values(i) == Vec{2, 0, 1, 3});
    CHECK(i.dtype() == DType::Int64);
    const ValuesIndices small = topk(x, 2, 1, false);
    CHECK(values(small.values) == Vec{1, 1, 2, 5});
    CHECK(values(small.indices) == Vec{1, 3, 2, 0});  // ties: the lower position first
    const ValuesIndices unsorted = topk(x, 3, 1, true, false);
    CHECK(values(unsorted.indices) == Vec{0, 1, 2, 0, 1, 3});  // in order of position
    CHECK(values(unsorted.values) == Vec{3, 1, 4, 5, 9, 6});
    CHECK(values(topk(x, 1, 0).values) == Vec{5, 9, 4, 6});
    CHECK(values(topk(x.t(), 1, 0).indices) == Vec{2, 1});
    CHECK_SHAPE(topk(x, 0).values, {2, 0});
    CHECK(values(topk(from_vector(Vec{1, std::nan(""), 3}), 1).indices) == Vec{1});  // NaN is the largest
    CHECK(values(topk(arange(5.0), 2).values) == Vec{4, 3});
    Data data(209);
    gradcheck_layouts([](const Tensor& t) { return topk(t, 2, 1).values; }, data);
    gradcheck_layouts([](const Tensor& t) { return topk(t, 3, -1, false, false).values; }, data);
    CHECK_ERROR(topk(x, 5), "topk", "k = 5", "size 4");
    CHECK_ERROR(topk(x, -1), "topk", "k = -1");
    CHECK_ERROR(topk(x, 1, 2), "topk", "dim");
}

// ---- losses ------------------------------------------------------------------------------------

TEST_CASE("newops: cross_entropy") {
    // Two samples, three classes: -log softmax at the target, averaged.
    const Tensor logits = f64({1, 2, 3, 0, 0, 0}, {2, 3});
    const Tensor target = i64({2, 0}, {2});
    const double l0 = -(3 - std::log(std::exp(1) + std::exp(2) + std::exp(3))), l1 = std::log(3.0);
    CHECK_CLOSE(nn::cross_entropy(logits, target), Vec{(l0 + l1) / 2}, 1e-14);
    CHECK_CLOSE(nn::cross_entropy(logits, target, Tensor(), -100, nn::Reduction::Sum), Vec{l0 + l1}, 1e-14);
    CHECK_CLOSE(nn::cross_entropy(logits, target, Tensor(), -100, nn::Reduction::None), (Vec{l0, l1}), 1e-14);
    // Weighted mean: sum(w_c l) / sum(w_c); an ignored target counts in neither.
    const Tensor w = f64({1, 2, 4}, {3});
    CHECK_CLOSE(nn::cross_entropy(logits, target, w), Vec{(4 * l0 + 1 * l1) / 5}, 1e-14);
    CHECK_CLOSE(nn::cross_entropy(logits, i64({2, -100}, {2}), w), Vec{l0}, 1e-14);
    CHECK_CLOSE(nn::cross_entropy(logits, i64({2, 7}, {2}), Tensor(), 7, nn::Reduction::None), (Vec{l0, 0}), 1e-14);
    CHECK(std::isnan(nn::cross_entropy(logits, i64({-100, -100}, {2})).item<double>()));  // 0 / 0, as PyTorch
    // Unbatched [C] logits with a 0-dim target.
    CHECK_CLOSE(nn::cross_entropy(logits.select(0, 0), scalar_tensor(2.0, DType::Int64)), Vec{l0}, 1e-14);
    // Stable for huge logits (computed through log_softmax).
    CHECK_CLOSE(nn::cross_entropy(f64({1000, 0}, {1, 2}), i64({1}, {1})), Vec{1000}, 1e-14);
    // Label smoothing: (1 - e) nll + e / C * (-sum_k log p_k).
    const Vec lp0 = values(log_softmax(logits, 1).select(0, 0));
    const double smooth0 = -(lp0[0] + lp0[1] + lp0[2]);
    CHECK_CLOSE(nn::cross_entropy(logits.slice(0, 0, 1), i64({2}, {1}), Tensor(), -100, nn::Reduction::Mean, 0.3),
                Vec{0.7 * l0 + 0.1 * smooth0}, 1e-14);

    Data data(210);
    const Tensor seg_target = i64({0, 2, 1, -100, 2, 2, 0, 1, 1, 0, -100, 2, 0, 1, 2, 0}, {2, 2, 4});
    for (double smoothing : {0.0, 0.2}) {
        for (auto reduction : {nn::Reduction::Mean, nn::Reduction::Sum, nn::Reduction::None}) {
            INFO("smoothing ", smoothing, ", reduction ", int(reduction));
            REQUIRE_GRADCHECK(
                [&](const std::vector<Tensor>& in) {
                    return nn::cross_entropy(in[0], seg_target, Tensor(), -100, reduction, smoothing);
                },
                {data.tensor({2, 3, 2, 4}, -2, 2)});
            REQUIRE_GRADCHECK(
                [&](const std::vector<Tensor>& in) {
                    return nn::cross_entropy(in[0].permute({0, 3, 1, 2}), seg_target, w, -100, reduction, smoothing);
                },
                {data.tensor({2, 2, 4, 3}, -2, 2)});
        }
    }
    // The class weights get a gradient too (PyTorch refuses one; it is well defined here).
    REQUIRE_GRADCHECK([&](const std::vector<Tensor>& in) { return nn::cross_entropy(in[0], seg_target, in[1]); },
                      {data.tensor({2, 3, 2, 4}, -2, 2), data.tensor({3}, 0.5, 2)});
    // The module form, with the weight as a buffer.
    nn::CrossEntropyLoss module(nn::CrossEntropyLossOptions().weight(w).ignore_index(7).label_smoothing(0.1));
    CHECK(module.named_buffers().size() == 1);
    CHECK_CLOSE(module(logits, i64({2, 7}, {2})),
                nn::cross_entropy(logits, i64({2, 7}, {2}), w, 7, nn::Reduction::Mean, 0.1), 1e-15);

    CHECK_ERROR(nn::cross_entropy(logits, i64({3, 0}, {2})), "cross_entropy", "target value 3", "3 classes");
    CHECK_ERROR(nn::cross_entropy(logits, i64({-1, 0}, {2})), "cross_entropy", "target value -1");
    CHECK_ERROR(nn::cross_entropy(logits, f64({2, 0}, {2})), "cross_entropy", "int64", "float64 [2]");
    CHECK_ERROR(nn::cross_entropy(logits, i64({0, 0, 0}, {3})), "cross_entropy", "[3]", "[2, 3]");
    CHECK_ERROR(nn::cross_entropy(logits, target, f64({1, 1}, {2})), "cross_entropy", "weight", "[3]");
    CHECK_ERROR(nn::cross_entropy(logits, target, Tensor(), -100, nn::Reduction::Mean, 1.5), "cross_entropy",
                "label_smoothing");
}

TEST_CASE("newops: mse_loss and l1_loss") {
    const Tensor a = f64({1, 2, 3, 4}, {2, 2});
    const Tensor b = f64({0, 2, 5, 3}, {2, 2});
    CHECK(values(nn::mse_loss(a, b)) == Vec{1.5});
    CHECK(values(nn::mse_loss(a, b, nn::Reduction::Sum)) == Vec{6});
    CHECK(values(nn::mse_loss(a, b, nn::Reduction::None)) == Vec{1, 0, 4, 1});
    CHECK(values(nn::l1_loss(a, b)) == Vec{1});
    CHECK(values(nn::l1_loss(a, b, nn::Reduction::Sum)) == Vec{4});
    CHECK(values(nn::l1_loss(a, b, nn::Reduction::None)) == Vec{1, 0, 2, 1});
    CHECK(values(nn::MSELoss(nn::Reduction::Sum)(a, b)) == Vec{6});
    CHECK(values(nn::L1Loss()(a, b)) == Vec{1});
    Data data(211);
    for (auto reduction : {nn::Reduction::Mean, nn::Reduction::Sum, nn::Reduction::None}) {
        INFO("reduction ", int(reduction));
        REQUIRE_GRADCHECK(
            [reduction](const std::vector<Tensor>& in) { return nn::mse_loss(in[0].t(), in[1], reduction); },
            {data.tensor({3, 2}), data.tensor({2, 3})});
        REQUIRE_GRADCHECK(
            [reduction](const std::vector<Tensor>& in) { return nn::l1_loss(in[0], in[1].t(), reduction); },
            {data.tensor({2, 3}, 0.5, 1.0), data.tensor({3, 2}, -1.0, 0.4)});
    }
    CHECK_ERROR(nn::mse_loss(a, b.reshape({4})), "mse_loss", "[4]", "[2, 2]");
    CHECK_ERROR(nn::l1_loss(a, b.to(DType::Float32)), "l1_loss", "float32");
}

// ---- large inputs: the parallel paths -----------------------------------------------------------

TEST_CASE("newops: large inputs match plain loops for any number of threads") {
    test::ThreadsGuard guard;
    Data data(212);
    const std::int64_t rows = 64, cols = 1500, picks = 700;
    const Tensor x = data.tensor({rows, cols}, -1, 1, {}, 0.0, false);
    IVec idx_values;
    for (std::int64_t i = 0; i < rows * picks; ++i) idx_values.push_back(std::int64_t(data.uniform(0, double(cols))));
    const Tensor idx = i64(idx_values, {rows, picks});
    const Vec xv = values(x);
    const Tensor g = data.tensor({rows, picks}, -1, 1, {}, 0.0, false);
    const Vec gv = values(g);
    Vec gather_ref, scatter_ref(std::size_t(rows * cols), 0.0);
    for (std::int64_t r = 0; r < rows; ++r)
        for (std::int64_t j = 0; j < picks; ++j) {
            const std::int64_t k = idx_values[std::size_t(r * picks + j)];
            gather_ref.push_back(xv[std::size_t(r * cols + k)]);
            scatter_ref[std::size_t(r * cols + k)] += gv[std::size_t(r * picks + j)];
        }
    Vec cumsum_ref(xv.size());  // along dim 0
    for (std::int64_t c = 0; c < cols; ++c) {
        double acc = 0;
        for (std::int64_t r = 0; r < rows; ++r)
            cumsum_ref[std::size_t(r * cols + c)] = acc += xv[std::size_t(r * cols + c)];
    }
    std::vector<Tensor> first;
    for (int threads : {1, 3, 8}) {
        INFO("threads: ", threads);
        set_num_threads(threads);
        const Tensor leaf = x.clone().set_requires_grad(true);
        const Tensor picked = gather(leaf, 1, idx);
        picked.backward(g);
        CHECK(values(picked) == gather_ref);
        CHECK_CLOSE(leaf.grad(), scatter_ref, 1e-14);
        CHECK_CLOSE(cumsum(x, 0), cumsum_ref, 1e-14);
        const ValuesIndices top = topk(x, 5, 1);
        const Tensor flipped = flip(x, {0, 1});
        CHECK(values(flipped).front() == xv.back());
        CHECK(values(repeat(x, {2, 1})) == values(cat({x, x}, 0)));
        CHECK(values(any(gt(x, 0.999), 1)) == values(gt(max(x, 1).values, 0.999)));
        const std::vector<Tensor> results = {leaf.grad(), cumsum(x, 0), top.values,
                                             top.indices, flipped,      masked_fill(x, gt(x, 0.0), 0.0)};
        if (first.empty()) {
            first = results;
            // topk against a sort of each row
            for (std::int64_t r = 0; r < rows; r += 13) {
                Vec row(xv.begin() + r * cols, xv.begin() + (r + 1) * cols);
                std::sort(row.begin(), row.end(), std::greater<>());
                CHECK(values(top.values.select(0, r)) == Vec(row.begin(), row.begin() + 5));
            }
        } else {
            for (std::size_t k = 0; k < results.size(); ++k) CHECK(test::bitwise_equal(results[k], first[k]));
        }
    }
}

// ---- parity with PyTorch -----------------------------------------------------------------------

namespace {

using test_support::SafetensorsFile;
using Inputs = std::vector<Tensor>;
using Outputs = std::vector<Tensor>;

constexpr double kRtol = 1e-5, kAtol = 1e-6;

Outputs as_outputs(const Tensor& t) { return {t}; }
Outputs as_outputs(const ValuesIndices& vi) { return {vi.values, vi.indices}; }

struct ParityCase {
    const char* name;
    std::function<Outputs(const Inputs&)> run;
};

#define CASE(name, ...)                                                           \
    ParityCase {                                                                  \
        name, [](const Inputs& in) -> Outputs { return as_outputs(__VA_ARGS__); } \
    }

using nn::Reduction;

/// The fbseg side of tools/make_newop_fixtures.py, one line per case (its expression in the
/// script, with in0, in1, ... the inputs).
const std::vector<ParityCase>& parity_cases() {
    static const std::vector<ParityCase> table = {
        CASE("argmin_dim", argmin(in[0], 1)),
        CASE("argmin_keepdim", argmin(in[0], -1, true)),
        CASE("argmin_all", argmin(in[0])),
        CASE("any_all_float", any(in[0])),
        CASE("any_dim_float", any(in[0], 1)),
        CASE("all_dim_keepdim", all(in[0], 0, true)),
        CASE("any_dim_bool", any(in[0], -1)),
        CASE("all_bool", all(in[0])),
        CASE("round_halves", round(in[0])),
        CASE("round_randn", round(in[0] * 3.0)),
        CASE("cumsum_dim1", cumsum(in[0], 1)),
        CASE("cumsum_last", cumsum(in[0], -1)),
        CASE("cumsum_permuted", cumsum(in[0].permute({2, 0, 1}), 0)),
        CASE("flip_last", flip(in[0], {-1})),
        CASE("flip_two", flip(in[0], {0, 2})),
        CASE("flip_transposed", flip(in[0].t(), {0})),
        CASE("repeat_same_rank", in[0].repeat({2, 3})),
        CASE("repeat_more_dims", in[0].repeat({2, 1, 2})),
        CASE("repeat_transposed", in[0].t().repeat({1, 2})),
        CASE("chunk_dim1", weighted_cat(chunk(in[0], 3, 1), 1)),
        CASE("split_size", weighted_cat(split(in[0], 2, 0), 0)),
        CASE("split_sizes", weighted_cat(split(in[0], {1, 4}, 0), 0)),
        CASE("gather_dim1", gather(in[0], 1, in[1])),
        CASE("gather_dim0_smaller", gather(in[0], 0, in[1])),
        CASE("gather_repeated", gather(in[0], 1, in[1])),
        CASE("gather_3d_last", gather(in[0], 2, in[1])),
        CASE("gather_transposed", gather(in[0].t(), 1, in[1])),
        CASE("masked_fill", in[0].masked_fill(in[1], -1.5)),
        CASE("masked_fill_bcast", in[0].masked_fill(in[1], 0.5)),
        CASE("masked_fill_inplace", in[0].clone().masked_fill_(in[1], 0.25)),
        CASE("topk_largest", topk(in[0], 3, 1)),
        CASE("topk_smallest_dim0", topk(in[0], 2, 0, false)),
        CASE("topk_3d", topk(in[0], 2, 1)),
        CASE("ce_2d", nn::cross_entropy(in[0], in[1])),
        CASE("ce_seg", nn::cross_entropy(in[0], in[1])),
        CASE("ce_weight_ignore", nn::cross_entropy(in[0], in[1], in[2])),
        CASE("ce_ignore255_sum", nn::cross_entropy(in[0], in[1], Tensor(), 255, Reduction::Sum)),
        CASE("ce_none", nn::cross_entropy(in[0], in[1], Tensor(), -100, Reduction::None)),
        CASE("ce_smoothing", nn::cross_entropy(in[0], in[1], Tensor(), -100, Reduction::Mean, 0.1)),
        CASE("ce_smoothing_weight", nn::cross_entropy(in[0], in[1], in[2], -100, Reduction::Mean, 0.2)),
        CASE("ce_smoothing_weight_none", nn::cross_entropy(in[0], in[1], in[2], -100, Reduction::None, 0.3)),
        CASE("ce_smoothing_sum", nn::cross_entropy(in[0], in[1], Tensor(), -100, Reduction::Sum, 0.1)),
        CASE("ce_unbatched", nn::cross_entropy(in[0], in[1])),
        CASE("ce_transposed", nn::cross_entropy(in[0].t(), in[1])),
        CASE("mse_mean", nn::mse_loss(in[0], in[1])),
        CASE("mse_sum", nn::mse_loss(in[0], in[1], Reduction::Sum)),
        CASE("mse_none", nn::mse_loss(in[0], in[1], Reduction::None)),
        CASE("l1_mean", nn::l1_loss(in[0], in[1])),
        CASE("l1_sum", nn::l1_loss(in[0], in[1], Reduction::Sum)),
        CASE("l1_none", nn::l1_loss(in[0], in[1], Reduction::None)),
        CASE("sum_expanded", in[0].expand({1000, 4}).sum(0)),
        CASE("sum_expanded_all", in[0].expand({2, 3, 500}).sum()),
        CASE("mean_expanded", in[0].expand({2, 3, 500}).mean({0, 2})),
    };
    return table;
}
#undef CASE

const SafetensorsFile& newops_fixture() {
    static const SafetensorsFile file(FBSEG_FIXTURE_DIR "/newops.safetensors");
    return file;
}

/// The largest error seen, as (|a - b|, and that error over atol + rtol |ref|).
struct Worst {
    double abs_error = 0, ratio = 0;
    std::string where = "-";
};

void compare(const std::string& key, const Tensor& actual, Worst& worst) {
    INFO("tensor ", key);
    const Tensor expected = newops_fixture().get(key);
    REQUIRE_MESSAGE(actual.defined(), key, ": fbseg produced no tensor");
    CHECK_MESSAGE(actual.dtype() == expected.dtype(), key, ": dtype ", std::string(dtype_name(actual.dtype())),
                  " vs torch's ", std::string(dtype_name(expected.dtype())));
    REQUIRE_MESSAGE(actual.shape() == expected.shape(), key, ": shape ", shape_str(actual.shape()), " vs torch's ",
                    shape_str(expected.shape()));
    const Vec a = values(actual), b = values(expected);
    if (!is_floating(expected.dtype())) {
        CHECK_MESSAGE(a == b, key, ": values differ\n  fbseg: ", actual, "\n  torch: ", expected);
        return;
    }
    for (std::size_t i = 0; i < a.size(); ++i) {
        const double err = std::abs(a[i] - b[i]), allowed = kAtol + kRtol * std::abs(b[i]);
        if (std::isnan(b[i]) && std::isnan(a[i])) continue;
        if (!(err <= allowed)) {
            FAIL_CHECK(key, "[", i, "]: fbseg ", a[i], " vs torch ", b[i], " (|diff| ", err, " > ", allowed, ")");
            return;
        }
        if (err / allowed > worst.ratio) worst = {err, err / allowed, key};
        worst.abs_error = std::max(worst.abs_error, err);
    }
}

void run_parity_case(const ParityCase& c, Worst& worst) {
    const std::string name = c.name;
    INFO("parity case '", name, "': ", newops_fixture().metadata("case." + name));
    const nlohmann::json meta = nlohmann::json::parse(newops_fixture().metadata("case." + name));
    const int n_inputs = meta.at("inputs").get<int>(), n_outputs = meta.at("outputs").get<int>();
    const std::vector<int> grads = meta.at("grads").get<std::vector<int>>();
    Inputs inputs;
    for (int i = 0; i < n_inputs; ++i) inputs.push_back(newops_fixture().get(name + ".in" + std::to_string(i)));
    for (int i : grads) inputs[std::size_t(i)].set_requires_grad(true);
    const Outputs outputs = c.run(inputs);
    REQUIRE(int(outputs.size()) >= n_outputs);
    for (int k = 0; k < n_outputs; ++k)
        compare(name + ".out" + (k == 0 ? "" : std::to_string(k)), outputs[std::size_t(k)], worst);
    if (grads.empty()) {
        CHECK_MESSAGE(!outputs[0].requires_grad(), name, ": torch's output has no gradient but fbseg's requires grad");
        return;
    }
    REQUIRE_MESSAGE(outputs[0].requires_grad(), name, ": fbseg's output does not require grad");
    outputs[0].backward(newops_fixture().get(name + ".gout"));
    for (int i : grads) compare(name + ".grad" + std::to_string(i), inputs[std::size_t(i)].grad(), worst);
}

}  // namespace

TEST_CASE("newops: parity with PyTorch (fixtures/newops.safetensors)") {
    std::set<std::string> in_file, in_table;
    std::stringstream ss(newops_fixture().metadata("cases"));
    for (std::string name; std::getline(ss, name, ',');) in_file.insert(name);
    for (const ParityCase& c : parity_cases()) in_table.insert(c.name);
    CHECK(in_file == in_table);
    Worst worst;
    for (const ParityCase& c : parity_cases()) {
        if (!in_file.count(c.name)) continue;
        try {
            run_parity_case(c, worst);
        } catch (const std::exception& e) {
            FAIL_CHECK("parity case '", std::string(c.name), "' threw: ", std::string(e.what()));
        }
    }
    MESSAGE("parity newops: ", parity_cases().size(), " cases, torch ", newops_fixture().metadata("torch_version"),
            "; largest |fbseg - torch| ", worst.abs_error, "; worst error / (atol + rtol |torch|) ", worst.ratio, " (",
            worst.where, ")");
}

}  // namespace newops_tests
