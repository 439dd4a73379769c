// Tests of the CPU op set. For every op: (a) forward values against an independent computation
// (a plain loop over values read straight from storage, or known values), and (b) a float64
// gradcheck, directly and through broadcast and non-contiguous (permuted, sliced with a step,
// expanded) inputs. Plus thread-count determinism and float32 accuracy of large sums.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "fbseg/fbseg.hpp"
#include "support/check.hpp"

namespace ops_tests {  // a namespace of its own: the test files are compiled as one unity source

using namespace fbseg;
using fbseg::test::broadcast_flat;
using fbseg::test::Data;
using fbseg::test::unravel;
using fbseg::test::values;

namespace {

using Fn = std::function<Tensor(const std::vector<Tensor>&)>;
using Unary = std::function<Tensor(const Tensor&)>;
using Binary = std::function<Tensor(const Tensor&, const Tensor&)>;
using Vec = std::vector<double>;

constexpr double kTol64 = 1e-14;  // forward tolerance of float64 results against a double loop

std::int64_t ravel(const std::vector<std::int64_t>& index, const Shape& shape) {
    std::int64_t flat = 0;
    for (std::size_t d = 0; d < shape.size(); ++d) flat = flat * shape[d] + index[d];
    return flat;
}

/// NumPy broadcast of two shapes, written independently of the library.
Shape bshape(const Shape& a, const Shape& b) {
    const std::size_t n = std::max(a.size(), b.size());
    Shape out(n, 1);
    for (std::size_t k = 0; k < n; ++k) {
        const std::int64_t da = k + a.size() >= n ? a[k + a.size() - n] : 1;
        const std::int64_t db = k + b.size() >= n ? b[k + b.size() - n] : 1;
        out[k] = da == 1 ? db : da;
    }
    return out;
}

Vec map_ref(const Vec& v, const std::function<double(double)>& f) {
    Vec out;
    for (double x : v) out.push_back(f(x));
    return out;
}

/// out[i] = f(a[i], b[i]) with broadcasting, by a loop.
Vec ref_binary(const Tensor& a, const Tensor& b, const std::function<double(double, double)>& f) {
    const Vec av = values(a), bv = values(b);
    const Shape out = bshape(a.shape(), b.shape());
    Vec r;
    for (std::int64_t i = 0; i < numel_of(out); ++i) {
        const auto idx = unravel(i, out);
        r.push_back(f(av[std::size_t(broadcast_flat(idx, a.shape()))], bv[std::size_t(broadcast_flat(idx, b.shape()))]));
    }
    return r;
}

/// The elements of x grouped by the position they reduce to when `dims` are reduced.
struct Grouping {
    Shape keep_shape;  // reduced dims set to 1
    Shape out_shape;   // reduced dims removed
    std::vector<std::int64_t> group_of;  // for every input element
    std::vector<Vec> members;            // per group, in increasing order along the reduced dims
};
Grouping group_by(const Tensor& x, Shape dims) {
    const Shape& shape = x.shape();
    const auto nd = std::int64_t(shape.size());
    if (dims.empty())
        for (std::int64_t d = 0; d < nd; ++d) dims.push_back(d);
    for (auto& d : dims) d = d < 0 ? d + nd : d;
    Grouping g;
    g.keep_shape = shape;
    for (auto d : dims) g.keep_shape[std::size_t(d)] = 1;
    for (std::int64_t d = 0; d < nd; ++d)
        if (std::find(dims.begin(), dims.end(), d) == dims.end()) g.out_shape.push_back(shape[std::size_t(d)]);
    g.members.resize(std::size_t(numel_of(g.keep_shape)));
    const Vec v = values(x);
    for (std::int64_t i = 0; i < x.numel(); ++i) {
        auto idx = unravel(i, shape);
        for (auto d : dims) idx[std::size_t(d)] = 0;
        const std::int64_t k = ravel(idx, g.keep_shape);
        g.group_of.push_back(k);
        g.members[std::size_t(k)].push_back(v[std::size_t(i)]);
    }
    return g;
}

Vec ref_reduce(const Grouping& g, const std::function<double(const Vec&)>& f) {
    Vec out;
    for (const auto& m : g.members) out.push_back(f(m));
    return out;
}
double vsum(const Vec& v) {
    double s = 0;
    for (double x : v) s += x;
    return s;
}
double vmax(const Vec& v) { return *std::max_element(v.begin(), v.end()); }
double vmin(const Vec& v) { return *std::min_element(v.begin(), v.end()); }
double vargmax(const Vec& v) { return double(std::max_element(v.begin(), v.end()) - v.begin()); }  // first
double vargmin(const Vec& v) { return double(std::min_element(v.begin(), v.end()) - v.begin()); }
double vvar(const Vec& v, double correction) {
    const double mean = vsum(v) / double(v.size());
    double ss = 0;
    for (double x : v) ss += (x - mean) * (x - mean);
    return ss / (double(v.size()) - correction);
}

/// Matrix product with PyTorch's rules, by loops (1-D promotion, broadcast batch dims).
std::pair<Vec, Shape> ref_matmul(const Tensor& a, const Tensor& b) {
    const Vec av = values(a), bv = values(b);
    Shape sa = a.shape(), sb = b.shape();
    const bool a1 = sa.size() == 1, b1 = sb.size() == 1;
    if (a1) sa.insert(sa.begin(), 1);
    if (b1) sb.push_back(1);
    const std::int64_t n = sa[sa.size() - 2], k = sa.back(), m = sb.back();
    const Shape ba(sa.begin(), sa.end() - 2), bb(sb.begin(), sb.end() - 2);
    const Shape batch = bshape(ba, bb);
    Vec out;
    for (std::int64_t bi = 0; bi < numel_of(batch); ++bi) {
        const auto idx = unravel(bi, batch);
        const std::int64_t ao = broadcast_flat(idx, ba) * n * k, bo = broadcast_flat(idx, bb) * k * m;
        for (std::int64_t i = 0; i < n; ++i)
            for (std::int64_t j = 0; j < m; ++j) {
                double s = 0;
                for (std::int64_t l = 0; l < k; ++l) s += av[std::size_t(ao + i * k + l)] * bv[std::size_t(bo + l * m + j)];
                out.push_back(s);
            }
    }
    Shape shape = batch;
    if (!a1) shape.push_back(n);
    if (!b1) shape.push_back(m);
    return {out, shape};
}

/// Values uniform in one of two interleaved grids, so that a value of phase 0 and one of phase 1
/// are always at least 0.02 apart (maximum/minimum never tie or come close).
Tensor grid_tensor(Data& data, const Shape& shape, int phase) {
    Vec v;
    for (std::int64_t i = 0; i < numel_of(shape); ++i)
        v.push_back(0.2 * std::floor(data.uniform(-5, 5)) + 0.1 * phase + data.uniform(0, 0.08));
    return from_vector(v, shape, TensorOptions(DType::Float64).requires_grad(true));
}

/// gradcheck of op(x) for x itself and for non-contiguous views of it. x is [2, 3, 4]; col is
/// [3, 1] (expanded to [2, 3, 4]).
void gradcheck_views(const Unary& op, const Tensor& x, const Tensor& col) {
    std::string variant = "contiguous";
    INFO("input: ", variant);
    const Fn direct = [op](const std::vector<Tensor>& in) { return op(in[0]); };
    const Fn permuted = [op](const std::vector<Tensor>& in) { return op(in[0].permute({2, 0, 1})); };
    const Fn stepped = [op](const std::vector<Tensor>& in) { return op(in[0].slice(2, 0, 4, 2)); };
    const Fn transposed_slice = [op](const std::vector<Tensor>& in) { return op(in[0].transpose(0, 2).slice(1, 1, 3)); };
    const Fn expanded = [op](const std::vector<Tensor>& in) { return op(in[0].expand({2, 3, 4})); };
    REQUIRE_GRADCHECK(direct, {x});
    variant = "permuted";
    REQUIRE_GRADCHECK(permuted, {x});
    variant = "sliced with step 2";
    REQUIRE_GRADCHECK(stepped, {x});
    variant = "transposed and sliced";
    REQUIRE_GRADCHECK(transposed_slice, {x});
    variant = "expanded";
    REQUIRE_GRADCHECK(expanded, {col});
}

/// gradcheck of op(a, b) for several broadcasting and layout combinations.
void gradcheck_binary(const Binary& op, const std::function<Tensor(const Shape&)>& make_a,
                      const std::function<Tensor(const Shape&)>& make_b) {
    std::string variant;
    INFO("operands: ", variant);
    const Fn direct = [op](const std::vector<Tensor>& in) { return op(in[0], in[1]); };
    const std::vector<std::pair<Shape, Shape>> shapes = {
        {{2, 3, 4}, {2, 3, 4}}, {{2, 3, 4}, {3, 1}}, {{4}, {2, 3, 4}}, {{2, 1, 4}, {3, 1}}, {{}, {2, 3}}, {{2, 3}, {}}};
    for (const auto& [sa, sb] : shapes) {
        variant = shape_str(sa) + " and " + shape_str(sb);
        REQUIRE_GRADCHECK(direct, {make_a(sa), make_b(sb)});
    }
    // a permuted [2, 3, 4] -> [4, 2, 3]; b a transposed [3, 2] -> [2, 3], broadcast.
    const Fn noncontig = [op](const std::vector<Tensor>& in) { return op(in[0].permute({2, 0, 1}), in[1].t()); };
    variant = "permuted and transposed";
    REQUIRE_GRADCHECK(noncontig, {make_a({2, 3, 4}), make_b({3, 2})});
    // a sliced with a step, b expanded.
    const Fn stepped = [op](const std::vector<Tensor>& in) {
        return op(in[0].slice(2, 1, 4, 2), in[1].expand({2, 3, 2}));
    };
    variant = "sliced and expanded";
    REQUIRE_GRADCHECK(stepped, {make_a({2, 3, 4}), make_b({3, 1})});
    // the same leaf on both sides, one of them permuted.
    const Fn self_op = [op](const std::vector<Tensor>& in) { return op(in[0], in[0].t()); };
    variant = "x and x.t()";
    REQUIRE_GRADCHECK(self_op, {make_b({3, 3})});
}

}  // namespace

// ---- elementwise: one input ---------------------------------------------------------------------

namespace {
struct UnaryCase {
    std::string name;
    Unary op;
    std::function<double(double)> ref;
    double lo, hi;
    Vec avoid;  // kinks the data must stay away from
};

std::vector<UnaryCase> unary_cases() {
    return {
        {"neg", [](const Tensor& x) { return neg(x); }, [](double x) { return -x; }, -2, 2, {}},
        {"operator-", [](const Tensor& x) { return -x; }, [](double x) { return -x; }, -2, 2, {}},
        {"exp", [](const Tensor& x) { return exp(x); }, [](double x) { return std::exp(x); }, -2, 2, {}},
        {"log", [](const Tensor& x) { return log(x); }, [](double x) { return std::log(x); }, 0.3, 3, {}},
        {"sqrt", [](const Tensor& x) { return sqrt(x); }, [](double x) { return std::sqrt(x); }, 0.3, 3, {}},
        {"abs", [](const Tensor& x) { return abs(x); }, [](double x) { return std::abs(x); }, -2, 2, {0.0}},
        {"relu", [](const Tensor& x) { return relu(x); }, [](double x) { return x > 0 ? x : 0.0; }, -2, 2, {0.0}},
        {"leaky_relu", [](const Tensor& x) { return leaky_relu(x); }, [](double x) { return x > 0 ? x : 0.01 * x; },
         -2, 2, {0.0}},
        {"leaky_relu(0.2)", [](const Tensor& x) { return leaky_relu(x, 0.2); },
         [](double x) { return x > 0 ? x : 0.2 * x; }, -2, 2, {0.0}},
        {"sigmoid", [](const Tensor& x) { return sigmoid(x); }, [](double x) { return 1.0 / (1.0 + std::exp(-x)); }, -4,
         4, {}},
        {"tanh", [](const Tensor& x) { return tanh(x); }, [](double x) { return std::tanh(x); }, -3, 3, {}},
        {"silu", [](const Tensor& x) { return silu(x); }, [](double x) { return x / (1.0 + std::exp(-x)); }, -4, 4, {}},
        {"pow 2", [](const Tensor& x) { return pow(x, 2.0); }, [](double x) { return x * x; }, -2, 2, {}},
        {"square", [](const Tensor& x) { return square(x); }, [](double x) { return x * x; }, -2, 2, {}},
        {"pow 3", [](const Tensor& x) { return pow(x, 3.0); }, [](double x) { return x * x * x; }, -2, 2, {}},
        {"pow 0.5", [](const Tensor& x) { return pow(x, 0.5); }, [](double x) { return std::sqrt(x); }, 0.3, 3, {}},
        {"pow -1.5", [](const Tensor& x) { return pow(x, -1.5); }, [](double x) { return 1.0 / (x * std::sqrt(x)); },
         0.3, 3, {}},
        {"pow 0", [](const Tensor& x) { return pow(x, 0.0); }, [](double) { return 1.0; }, -2, 2, {}},
        {"pow 1", [](const Tensor& x) { return pow(x, 1.0); }, [](double x) { return x; }, -2, 2, {}},
        {"clamp", [](const Tensor& x) { return clamp(x, -0.5, 0.7); },
         [](double x) { return std::min(std::max(x, -0.5), 0.7); }, -1.5, 1.5, {-0.5, 0.7}},
        {"clamp_min", [](const Tensor& x) { return clamp_min(x, 0.2); }, [](double x) { return std::max(x, 0.2); }, -1.5,
         1.5, {0.2}},
        {"clamp_max", [](const Tensor& x) { return clamp_max(x, -0.1); }, [](double x) { return std::min(x, -0.1); },
         -1.5, 1.5, {-0.1}},
    };
}
}  // namespace

TEST_CASE("ops: unary forward values") {
    Data data(100);
    for (const auto& c : unary_cases()) {
        INFO("op: ", c.name);
        const Tensor x = data.tensor({2, 3, 4}, c.lo, c.hi, c.avoid, 0.05, false);
        const Tensor y = c.op(x);
        CHECK_SHAPE(y, {2, 3, 4});
        CHECK(y.dtype() == DType::Float64);
        CHECK_FALSE(y.requires_grad());
        CHECK_CLOSE(y, map_ref(values(x), c.ref), kTol64);
        // Non-contiguous inputs: permuted, sliced with a step, expanded.
        const Tensor xp = x.permute({2, 0, 1});
        CHECK_CLOSE(c.op(xp), map_ref(values(xp), c.ref), kTol64);
        const Tensor xs = x.slice(2, 1, 4, 2);
        CHECK_CLOSE(c.op(xs), map_ref(values(xs), c.ref), kTol64);
        const Tensor xe = x.select(2, 0).unsqueeze(0).expand({3, 2, 3});
        CHECK_CLOSE(c.op(xe), map_ref(values(xe), c.ref), kTol64);
        // float32: the same function, to float precision.
        const Tensor xf = x.to(DType::Float32);
        const Tensor yf = c.op(xf);
        CHECK(yf.dtype() == DType::Float32);
        CHECK_CLOSE(yf, map_ref(values(xf), c.ref), 1e-6);
        // 0-dim and empty inputs.
        const Tensor s = x.select(0, 1).select(0, 2).select(0, 3);
        CHECK(c.op(s).dim() == 0);
        CHECK_CLOSE(c.op(s), map_ref(values(s), c.ref), kTol64);
        CHECK(c.op(zeros({0, 3}, DType::Float64)).numel() == 0);
    }
    // Known values, independent of any reference formula.
    const Tensor k = from_vector(Vec{-2.0, -0.5, 0.0, 0.5, 2.0});
    CHECK(values(relu(k)) == Vec{0, 0, 0, 0.5, 2});
    CHECK(values(abs(k)) == Vec{2, 0.5, 0, 0.5, 2});
    CHECK(values(clamp(k, -1, 1)) == Vec{-1, -0.5, 0, 0.5, 1});
    CHECK(values(clamp_min(k, 0.25)) == Vec{0.25, 0.25, 0.25, 0.5, 2});
    CHECK(values(clamp_max(k, 0.25)) == Vec{-2, -0.5, 0, 0.25, 0.25});
    CHECK(values(leaky_relu(k, 0.5)) == Vec{-1, -0.25, 0, 0.5, 2});
    CHECK(values(sigmoid(k)).at(2) == 0.5);
    CHECK(values(pow(from_vector(Vec{4, 9}), 0.5)) == Vec{2, 3});
    CHECK(values(sigmoid(from_vector(Vec{-800, 800}))) == Vec{0, 1});  // no overflow to NaN
    CHECK_ERROR(clamp(k, 1, -1), "clamp", "min");
    CHECK_ERROR(leaky_relu(k, -0.1), "leaky_relu", "negative_slope");
}

TEST_CASE("ops: unary gradients (float64 gradcheck)") {
    Data data(101);
    for (const auto& c : unary_cases()) {
        INFO("op: ", c.name);
        gradcheck_views(c.op, data.tensor({2, 3, 4}, c.lo, c.hi, c.avoid), data.tensor({3, 1}, c.lo, c.hi, c.avoid));
    }
    // Known derivatives at chosen points.
    Tensor x = from_vector(Vec{-2.0, -0.5, 0.5, 2.0}, {4}, TensorOptions(DType::Float64).requires_grad(true));
    sum(clamp(x, -1, 1)).backward();
    CHECK(values(x.grad()) == Vec{0, 1, 1, 0});
    x.zero_grad();
    sum(abs(x)).backward();
    CHECK(values(x.grad()) == Vec{-1, -1, 1, 1});
    x.zero_grad();
    sum(leaky_relu(x, 0.1)).backward();
    CHECK(values(x.grad()) == Vec{0.1, 0.1, 1, 1});
}

namespace {
struct InplaceCase {
    std::string name;
    std::function<Tensor&(Tensor&)> op_;
    Unary op;
    double lo, hi;
    Vec avoid;
};
std::vector<InplaceCase> inplace_unary_cases() {
    return {
        {"relu_", [](Tensor& x) -> Tensor& { return relu_(x); }, [](const Tensor& x) { return relu(x); }, -2, 2, {0.0}},
        {"leaky_relu_", [](Tensor& x) -> Tensor& { return leaky_relu_(x, 0.2); },
         [](const Tensor& x) { return leaky_relu(x, 0.2); }, -2, 2, {0.0}},
        {"sigmoid_", [](Tensor& x) -> Tensor& { return sigmoid_(x); }, [](const Tensor& x) { return sigmoid(x); }, -3, 3, {}},
        {"tanh_", [](Tensor& x) -> Tensor& { return tanh_(x); }, [](const Tensor& x) { return tanh(x); }, -3, 3, {}},
        {"exp_", [](Tensor& x) -> Tensor& { return exp_(x); }, [](const Tensor& x) { return exp(x); }, -2, 2, {}},
        {"neg_", [](Tensor& x) -> Tensor& { return neg_(x); }, [](const Tensor& x) { return neg(x); }, -2, 2, {}},
        {"sqrt_", [](Tensor& x) -> Tensor& { return sqrt_(x); }, [](const Tensor& x) { return sqrt(x); }, 0.3, 3, {}},
    };
}
}  // namespace

TEST_CASE("ops: in-place unary ops") {
    Data data(102);
    for (const auto& c : inplace_unary_cases()) {
        INFO("op: ", c.name);
        // Forward: the same values as the out-of-place op, written into the same storage.
        Tensor base = data.tensor({2, 3, 4}, c.lo, c.hi, c.avoid, 0.05, false);
        const Vec before = values(base);
        const Vec expected = values(c.op(base));
        Tensor t = base;
        const auto version = t.version();
        Tensor& r = c.op_(t);
        CHECK(&r == &t);
        CHECK(t.is_same(base));
        CHECK(t.version() == version + 1);
        CHECK_CLOSE(base, expected, 0.0);

        // Through a non-contiguous view (no autograd involved): only the viewed elements change.
        Tensor b2 = data.tensor({2, 3, 4}, c.lo, c.hi, c.avoid, 0.05, false);
        const Vec orig = values(b2);
        const Vec full_result = values(c.op(b2));
        Tensor view = b2.permute({2, 0, 1}).slice(0, 0, 4, 2);  // elements with last index even
        c.op_(view);
        const Vec after = values(b2);
        Vec want;
        for (std::size_t i = 0; i < orig.size(); ++i) want.push_back(i % 2 == 0 ? full_result[i] : orig[i]);
        CHECK_CLOSE(after, want, 0.0);

        // Backward on a non-leaf: gradcheck, with non-contiguous and expanded sources.
        const auto op_ = c.op_;
        const Unary through_copy = [op_](const Tensor& x) {
            Tensor y = mul(x, 1.0);
            op_(y);
            return y;
        };
        gradcheck_views(through_copy, data.tensor({2, 3, 4}, c.lo, c.hi, c.avoid), data.tensor({3, 1}, c.lo, c.hi, c.avoid));
        (void)before;
    }
}

// ---- elementwise: two inputs --------------------------------------------------------------------

namespace {
struct BinaryCase {
    std::string name;
    Binary op;
    std::function<double(double, double)> ref;
    int kind;  // 0: any values; 1: b away from 0 (div); 2: a, b never close (maximum, minimum)
};
std::vector<BinaryCase> binary_cases() {
    return {
        {"add", [](const Tensor& a, const Tensor& b) { return add(a, b); }, [](double a, double b) { return a + b; }, 0},
        {"sub", [](const Tensor& a, const Tensor& b) { return sub(a, b); }, [](double a, double b) { return a - b; }, 0},
        {"mul", [](const Tensor& a, const Tensor& b) { return mul(a, b); }, [](double a, double b) { return a * b; }, 0},
        {"div", [](const Tensor& a, const Tensor& b) { return div(a, b); }, [](double a, double b) { return a / b; }, 1},
        {"maximum", [](const Tensor& a, const Tensor& b) { return maximum(a, b); },
         [](double a, double b) { return std::max(a, b); }, 2},
        {"minimum", [](const Tensor& a, const Tensor& b) { return minimum(a, b); },
         [](double a, double b) { return std::min(a, b); }, 2},
        {"operator+", [](const Tensor& a, const Tensor& b) { return a + b; }, [](double a, double b) { return a + b; }, 0},
        {"operator-", [](const Tensor& a, const Tensor& b) { return a - b; }, [](double a, double b) { return a - b; }, 0},
        {"operator*", [](const Tensor& a, const Tensor& b) { return a * b; }, [](double a, double b) { return a * b; }, 0},
        {"operator/", [](const Tensor& a, const Tensor& b) { return a / b; }, [](double a, double b) { return a / b; }, 1},
    };
}
std::function<Tensor(const Shape&)> maker(Data& data, int kind, bool second) {
    if (kind == 1 && second) return [&data](const Shape& s) { return data.signed_tensor(s); };
    if (kind == 2) return [&data, second](const Shape& s) { return grid_tensor(data, s, second ? 1 : 0); };
    return [&data](const Shape& s) { return data.tensor(s); };
}
}  // namespace

TEST_CASE("ops: binary forward values with broadcasting and strided operands") {
    Data data(200);
    for (const auto& c : binary_cases()) {
        INFO("op: ", c.name);
        const auto make_a = maker(data, c.kind, false), make_b = maker(data, c.kind, true);
        const std::vector<std::pair<Shape, Shape>> shapes = {{{2, 3, 4}, {2, 3, 4}}, {{2, 3, 4}, {3, 1}},
                                                             {{4}, {2, 3, 4}},       {{2, 1, 4}, {3, 1}},
                                                             {{}, {2, 3}},           {{2, 3}, {}}};
        for (const auto& [sa, sb] : shapes) {
            INFO("shapes ", shape_str(sa), " and ", shape_str(sb));
            const Tensor a = make_a(sa).detach(), b = make_b(sb).detach();
            const Tensor out = c.op(a, b);
            CHECK(shape_str(out.shape()) == shape_str(bshape(sa, sb)));
            CHECK_CLOSE(out, ref_binary(a, b, c.ref), kTol64);
        }
        const Tensor a = make_a({2, 3, 4}).detach().permute({2, 0, 1}), b = make_b({3, 2}).detach().t();
        CHECK_CLOSE(c.op(a, b), ref_binary(a, b, c.ref), kTol64);
        const Tensor a2 = make_a({2, 3, 4}).detach().slice(2, 1, 4, 2), b2 = make_b({3, 1}).detach().expand({2, 3, 2});
        CHECK_CLOSE(c.op(a2, b2), ref_binary(a2, b2, c.ref), kTol64);
        // float32
        const Tensor af = make_a({3, 4}).detach().to(DType::Float32), bf = make_b({4}).detach().to(DType::Float32);
        const Tensor of = c.op(af, bf);
        CHECK(of.dtype() == DType::Float32);
        CHECK_CLOSE(of, ref_binary(af, bf, c.ref), 1e-6);
    }
    // int64 arithmetic stays exact.
    const Tensor i = from_vector(std::vector<std::int64_t>{5, -7, 9}), j = from_vector(std::vector<std::int64_t>{2});
    CHECK(add(i, j).to_vector<std::int64_t>() == std::vector<std::int64_t>{7, -5, 11});
    CHECK(sub(i, j).to_vector<std::int64_t>() == std::vector<std::int64_t>{3, -9, 7});
    CHECK(mul(i, j).to_vector<std::int64_t>() == std::vector<std::int64_t>{10, -14, 18});
    CHECK(maximum(i, j).to_vector<std::int64_t>() == std::vector<std::int64_t>{5, 2, 9});
    CHECK(minimum(i, j).to_vector<std::int64_t>() == std::vector<std::int64_t>{2, -7, 2});
    CHECK(add(i, 3.0).to_vector<std::int64_t>() == std::vector<std::int64_t>{8, -4, 12});
    CHECK(add(i, j).dtype() == DType::Int64);
}

TEST_CASE("ops: binary gradients (float64 gradcheck)") {
    Data data(201);
    for (const auto& c : binary_cases()) {
        INFO("op: ", c.name);
        gradcheck_binary(c.op, maker(data, c.kind, false), maker(data, c.kind, true));
    }
    // maximum/minimum on ties share the gradient equally (PyTorch's convention).
    const auto opts = TensorOptions(DType::Float64).requires_grad(true);
    Tensor a = from_vector(Vec{1, 2, 3}, {3}, opts), b = from_vector(Vec{1, 0, 5}, {3}, opts);
    sum(maximum(a, b)).backward();
    CHECK(values(a.grad()) == Vec{0.5, 1, 0});
    CHECK(values(b.grad()) == Vec{0.5, 0, 1});
    a.zero_grad();
    b.zero_grad();
    sum(minimum(a, b)).backward();
    CHECK(values(a.grad()) == Vec{0.5, 0, 1});
    CHECK(values(b.grad()) == Vec{0.5, 1, 0});
}

TEST_CASE("ops: scalar forms of binary ops and operators") {
    Data data(202);
    const Tensor x = data.tensor({2, 3}, 0.3, 2.0, {}, 0, false);
    const Vec xv = values(x);
    CHECK_CLOSE(add(x, 2.5), map_ref(xv, [](double v) { return v + 2.5; }), kTol64);
    CHECK_CLOSE(sub(x, 2.5), map_ref(xv, [](double v) { return v - 2.5; }), kTol64);
    CHECK_CLOSE(mul(x, -1.5), map_ref(xv, [](double v) { return v * -1.5; }), kTol64);
    CHECK_CLOSE(div(x, 4.0), map_ref(xv, [](double v) { return v / 4.0; }), kTol64);
    CHECK_CLOSE(x + 1.0, map_ref(xv, [](double v) { return v + 1; }), kTol64);
    CHECK_CLOSE(x - 1.0, map_ref(xv, [](double v) { return v - 1; }), kTol64);
    CHECK_CLOSE(x * 3.0, map_ref(xv, [](double v) { return v * 3; }), kTol64);
    CHECK_CLOSE(x / 3.0, map_ref(xv, [](double v) { return v / 3; }), kTol64);
    CHECK_CLOSE(1.0 + x, map_ref(xv, [](double v) { return 1 + v; }), kTol64);
    CHECK_CLOSE(1.0 - x, map_ref(xv, [](double v) { return 1 - v; }), kTol64);
    CHECK_CLOSE(3.0 * x, map_ref(xv, [](double v) { return 3 * v; }), kTol64);
    CHECK_CLOSE(3.0 / x, map_ref(xv, [](double v) { return 3 / v; }), kTol64);
    CHECK((x + 1.0).dtype() == DType::Float64);
    CHECK((x.to(DType::Float32) * 2.0).dtype() == DType::Float32);

    const Fn f1 = [](const std::vector<Tensor>& in) { return 3.0 / in[0] - in[0] * 2.0 + 1.5; };
    const Fn f2 = [](const std::vector<Tensor>& in) { return div(sub(2.0 - in[0], 0.5), 4.0) + mul(in[0], -3.0); };
    const Fn f3 = [](const std::vector<Tensor>& in) { return (in[0].t() + 1.0) / (2.0 + in[0].t() * in[0].t()); };
    REQUIRE_GRADCHECK(f1, {data.tensor({2, 3}, 0.3, 2.0)});
    REQUIRE_GRADCHECK(f2, {data.tensor({2, 3})});
    REQUIRE_GRADCHECK(f3, {data.tensor({2, 3})});
}

namespace {
struct InplaceBinaryCase {
    std::string name;
    std::function<Tensor&(Tensor&, const Tensor&)> op_;
    std::function<Tensor&(Tensor&, double)> op_scalar;
    std::function<double(double, double)> ref;
};
std::vector<InplaceBinaryCase> inplace_binary_cases() {
    return {
        {"add_", [](Tensor& a, const Tensor& b) -> Tensor& { return add_(a, b); },
         [](Tensor& a, double b) -> Tensor& { return add_(a, b); }, [](double a, double b) { return a + b; }},
        {"sub_", [](Tensor& a, const Tensor& b) -> Tensor& { return sub_(a, b); },
         [](Tensor& a, double b) -> Tensor& { return sub_(a, b); }, [](double a, double b) { return a - b; }},
        {"mul_", [](Tensor& a, const Tensor& b) -> Tensor& { return mul_(a, b); },
         [](Tensor& a, double b) -> Tensor& { return mul_(a, b); }, [](double a, double b) { return a * b; }},
        {"div_", [](Tensor& a, const Tensor& b) -> Tensor& { return div_(a, b); },
         [](Tensor& a, double b) -> Tensor& { return div_(a, b); }, [](double a, double b) { return a / b; }},
        {"operator+=", [](Tensor& a, const Tensor& b) -> Tensor& { return a += b; },
         [](Tensor& a, double b) -> Tensor& { return a += b; }, [](double a, double b) { return a + b; }},
        {"operator-=", [](Tensor& a, const Tensor& b) -> Tensor& { return a -= b; },
         [](Tensor& a, double b) -> Tensor& { return a -= b; }, [](double a, double b) { return a - b; }},
        {"operator*=", [](Tensor& a, const Tensor& b) -> Tensor& { return a *= b; },
         [](Tensor& a, double b) -> Tensor& { return a *= b; }, [](double a, double b) { return a * b; }},
        {"operator/=", [](Tensor& a, const Tensor& b) -> Tensor& { return a /= b; },
         [](Tensor& a, double b) -> Tensor& { return a /= b; }, [](double a, double b) { return a / b; }},
    };
}
}  // namespace

TEST_CASE("ops: in-place binary ops") {
    Data data(203);
    for (const auto& c : inplace_binary_cases()) {
        INFO("op: ", c.name);
        // Forward, broadcasting `other`, into a contiguous and into a strided destination.
        Tensor self = data.tensor({2, 3, 4}, -1, 1, {}, 0, false);
        const Tensor other = data.signed_tensor({3, 1}, 0.3, 1.5, false);
        const Vec expected = ref_binary(self.detach().clone(), other, c.ref);
        const auto version = self.version();
        Tensor& r = c.op_(self, other);
        CHECK(&r == &self);
        CHECK(self.version() == version + 1);
        CHECK_CLOSE(self, expected, kTol64);

        Tensor base = data.tensor({4, 3}, -1, 1, {}, 0, false);
        const Tensor o2 = data.signed_tensor({4, 3}, 0.3, 1.5, false).t();  // [3, 4], strided
        Tensor dst = base.t();                                                // [3, 4], strided
        const Vec want = ref_binary(dst.clone(), o2, c.ref);
        c.op_(dst, o2);
        CHECK_CLOSE(dst, want, kTol64);
        CHECK_CLOSE(base.t(), want, kTol64);  // written through to the base

        Tensor s = data.tensor({5}, -1, 1, {}, 0, false);
        const Vec sv = values(s);
        c.op_scalar(s, -2.5);
        CHECK_CLOSE(s, map_ref(sv, [&](double v) { return c.ref(v, -2.5); }), kTol64);

        // Backward on a non-leaf, with broadcast and non-contiguous `other`.
        const auto op_ = c.op_;
        const auto op_scalar = c.op_scalar;
        const Fn broadcast = [op_](const std::vector<Tensor>& in) {
            Tensor y = mul(in[0], 1.0);
            op_(y, in[1]);
            return y;
        };
        const Fn strided = [op_](const std::vector<Tensor>& in) {
            Tensor y = mul(in[0].permute({2, 0, 1}), 1.0);  // [4, 2, 3]
            op_(y, in[1].t());                              // [2, 3]
            return y;
        };
        const Fn expanded = [op_](const std::vector<Tensor>& in) {
            Tensor y = mul(in[0].expand({2, 3, 4}), 1.0);
            op_(y, in[1].slice(0, 0, 8, 2));  // [4]
            return y;
        };
        const Fn twice = [op_, op_scalar](const std::vector<Tensor>& in) {
            Tensor y = mul(in[0], 1.0);
            op_(y, in[1]);
            op_scalar(y, 1.5);
            op_(y, in[1]);
            return y;
        };
        REQUIRE_GRADCHECK(broadcast, {data.tensor({2, 3, 4}), data.signed_tensor({3, 1})});
        REQUIRE_GRADCHECK(broadcast, {data.tensor({2, 3, 4}), data.signed_tensor({2, 3, 4})});
        REQUIRE_GRADCHECK(strided, {data.tensor({2, 3, 4}), data.signed_tensor({3, 2})});
        REQUIRE_GRADCHECK(expanded, {data.tensor({3, 1}), data.signed_tensor({8})});
        REQUIRE_GRADCHECK(twice, {data.tensor({3, 4}), data.signed_tensor({4})});
        // Only one side requiring grad.
        const Tensor const_other = data.signed_tensor({4}, 0.3, 1.5, false);
        REQUIRE_GRADCHECK(broadcast, {data.tensor({3, 4}), const_other});
        const Fn into_constant = [op_](const std::vector<Tensor>& in) {
            Tensor y = full({3, 4}, 0.75, DType::Float64);  // does not require grad until op_
            op_(y, in[0]);
            return y;
        };
        REQUIRE_GRADCHECK(into_constant, {data.signed_tensor({4})});
        // `other` is `self` itself (x *= x): backward must use the value from before the write.
        const Fn aliased = [op_](const std::vector<Tensor>& in) {
            Tensor y = mul(in[0], 1.0);
            op_(y, y);
            return y;
        };
        REQUIRE_GRADCHECK(aliased, {data.signed_tensor({2, 3})});
    }
}

// ---- reductions ---------------------------------------------------------------------------------

TEST_CASE("ops: sum and mean forward") {
    Data data(300);
    const Tensor x = data.tensor({2, 3, 4}, -1, 1, {}, 0, false);
    const std::vector<Shape> dim_sets = {{}, {0}, {1}, {2}, {-1}, {0, 2}, {2, 0}, {1, 2}, {0, 1, 2}, {-3, -2}};
    for (const Tensor& in : {x, x.permute({1, 2, 0}), x.slice(2, 0, 4, 2)}) {
        for (const auto& dims : dim_sets) {
            for (bool keepdim : {false, true}) {
                INFO("input ", shape_str(in.shape()), " dims ", shape_str(dims), " keepdim ", keepdim);
                const Grouping g = group_by(in, dims);
                const Tensor s = sum(in, dims, keepdim);
                CHECK(shape_str(s.shape()) == shape_str(keepdim ? g.keep_shape : g.out_shape));
                CHECK_CLOSE(s, ref_reduce(g, vsum), kTol64);
                const Tensor m = mean(in, dims, keepdim);
                CHECK(shape_str(m.shape()) == shape_str(keepdim ? g.keep_shape : g.out_shape));
                CHECK_CLOSE(m, ref_reduce(g, [](const Vec& v) { return vsum(v) / double(v.size()); }), kTol64);
            }
        }
    }
    // sum of everything gives a 0-dim tensor; an empty sum is 0; integers sum exactly.
    CHECK(sum(x).dim() == 0);
    CHECK(sum(x).item<double>() == doctest::Approx(vsum(values(x))).epsilon(1e-14));
    CHECK(mean(x).item<double>() == doctest::Approx(vsum(values(x)) / 24).epsilon(1e-14));
    CHECK(sum(zeros({0, 3})).item<float>() == 0.0f);
    CHECK(values(sum(zeros({0, 3}), {0})) == Vec{0, 0, 0});
    CHECK(sum(arange(10)).item<std::int64_t>() == 45);
    CHECK(sum(arange(10)).dtype() == DType::Int64);
    CHECK(sum(arange(12).view({3, 4}), {1}).to_vector<std::int64_t>() == std::vector<std::int64_t>{6, 22, 38});
    CHECK(sum(ones({2, 3}).expand({4, 2, 3}), {0, 2}).to_vector<float>() == std::vector<float>{12, 12});
    CHECK_ERROR(sum(x, {0, 0}), "sum", "twice");
    CHECK_ERROR(sum(x, {3}), "sum", "dim 3");
    CHECK_ERROR(mean(x, {-4}), "mean", "dim -4");
}

TEST_CASE("ops: sum and mean gradients") {
    Data data(301);
    const std::vector<std::pair<Shape, bool>> cases = {{{}, false}, {{1}, false}, {{0, 2}, true}, {{-1}, false},
                                                       {{2, 0}, false}, {{0, 1, 2}, true}};
    for (const auto& [dims, keepdim] : cases) {
        INFO("dims ", shape_str(dims), " keepdim ", keepdim);
        const Shape d = dims;
        const bool k = keepdim;
        gradcheck_views([d, k](const Tensor& t) { return sum(t, d, k); }, data.tensor({2, 3, 4}), data.tensor({3, 1}));
        gradcheck_views([d, k](const Tensor& t) { return mean(t, d, k); }, data.tensor({2, 3, 4}), data.tensor({3, 1}));
    }
    const Fn all = [](const std::vector<Tensor>& in) { return add(sum(in[0]), mean(in[0].t())); };
    REQUIRE_GRADCHECK(all, {data.tensor({3, 5})});
}

TEST_CASE("ops: max, min, argmax forward") {
    Data data(302);
    const Tensor x = data.distinct_tensor({2, 3, 4}, 0.1, false);
    for (const Tensor& in : {x, x.permute({2, 0, 1}), x.slice(1, 0, 3, 2)}) {
        INFO("input ", shape_str(in.shape()));
        CHECK(max(in).item<double>() == vmax(values(in)));
        CHECK(min(in).item<double>() == vmin(values(in)));
        CHECK(max(in).dim() == 0);
        CHECK(argmax(in).item<std::int64_t>() == std::int64_t(vargmax(values(in))));
        for (std::int64_t dim : {0, 1, 2, -1, -3}) {
            for (bool keepdim : {false, true}) {
                INFO("dim ", dim, " keepdim ", keepdim);
                const Grouping g = group_by(in, {dim});
                const Shape& want_shape = keepdim ? g.keep_shape : g.out_shape;
                const auto mx = max(in, dim, keepdim);
                const auto mn = min(in, dim, keepdim);
                CHECK(shape_str(mx.values.shape()) == shape_str(want_shape));
                CHECK(shape_str(mx.indices.shape()) == shape_str(want_shape));
                CHECK(mx.indices.dtype() == DType::Int64);
                CHECK(values(mx.values) == ref_reduce(g, vmax));
                CHECK(values(mx.indices) == ref_reduce(g, vargmax));
                CHECK(values(mn.values) == ref_reduce(g, vmin));
                CHECK(values(mn.indices) == ref_reduce(g, vargmin));
                const Tensor am = argmax(in, dim, keepdim);
                CHECK(shape_str(am.shape()) == shape_str(want_shape));
                CHECK(values(am) == ref_reduce(g, vargmax));
            }
        }
    }
    // Ties: the first occurrence wins; integers work.
    const Tensor t = from_vector(std::vector<std::int64_t>{3, 7, 7, 1, 1, 0}, {2, 3});
    CHECK(values(max(t, 1).indices) == Vec{1, 0});
    CHECK(values(max(t, 1).values) == Vec{7, 1});
    CHECK(values(min(t, 1).indices) == Vec{0, 2});
    CHECK(values(argmax(t, 0)) == Vec{0, 0, 0});
    CHECK(argmax(t).item<std::int64_t>() == 1);
    CHECK(max(t).item<std::int64_t>() == 7);
    CHECK(min(t).item<std::int64_t>() == 0);
    CHECK_ERROR(max(zeros({0})), "max", "empty");
    CHECK_ERROR(max(x, 3), "max", "dim 3");
}

TEST_CASE("ops: max, min gradients") {
    Data data(303);
    const Unary max_all = [](const Tensor& t) { return max(t); };
    const Unary min_all = [](const Tensor& t) { return min(t); };
    gradcheck_views(max_all, data.distinct_tensor({2, 3, 4}), data.distinct_tensor({3, 1}));
    gradcheck_views(min_all, data.distinct_tensor({2, 3, 4}), data.distinct_tensor({3, 1}));
    for (std::int64_t dim : {0, 1, 2, -1}) {
        for (bool keepdim : {false, true}) {
            INFO("dim ", dim, " keepdim ", keepdim);
            const Unary mx = [dim, keepdim](const Tensor& t) { return max(t, dim, keepdim).values; };
            const Unary mn = [dim, keepdim](const Tensor& t) { return min(t, dim, keepdim).values; };
            const Tensor x = data.distinct_tensor({2, 3, 4});
            const Fn f_max = [mx](const std::vector<Tensor>& in) { return mx(in[0]); };
            const Fn f_min = [mn](const std::vector<Tensor>& in) { return mn(in[0]); };
            const Fn f_perm = [mx](const std::vector<Tensor>& in) { return mx(in[0].permute({2, 0, 1})); };
            const Fn f_step = [mn](const std::vector<Tensor>& in) { return mn(in[0].slice(2, 0, 4, 2)); };
            REQUIRE_GRADCHECK(f_max, {x});
            REQUIRE_GRADCHECK(f_min, {x});
            REQUIRE_GRADCHECK(f_perm, {x});
            REQUIRE_GRADCHECK(f_step, {x});
        }
    }
    const Fn f_expand = [](const std::vector<Tensor>& in) { return max(in[0].expand({2, 3, 4}), 1).values; };
    REQUIRE_GRADCHECK(f_expand, {data.distinct_tensor({3, 1})});

    // Ties: max over everything shares the gradient evenly; max along a dim gives it to the
    // first index only.
    const auto opts = TensorOptions(DType::Float64).requires_grad(true);
    Tensor t = from_vector(Vec{1, 4, 4, 2, 4, 0}, {2, 3}, opts);
    max(t).backward();
    CHECK_CLOSE(t.grad(), (Vec{0, 1.0 / 3, 1.0 / 3, 0, 1.0 / 3, 0}), 1e-15);
    t.zero_grad();
    sum(max(t, 1).values).backward();
    CHECK(values(t.grad()) == Vec{0, 1, 0, 0, 1, 0});
    t.zero_grad();
    sum(min(t, 0, true).values).backward();
    CHECK(values(t.grad()) == Vec{1, 1, 0, 0, 0, 1});
}

TEST_CASE("ops: var forward and gradients") {
    Data data(304);
    const Tensor x = data.tensor({2, 3, 4}, -1, 1, {}, 0, false);
    const std::vector<Shape> dim_sets = {{}, {0}, {1}, {-1}, {0, 2}, {1, 2}};
    for (const Tensor& in : {x, x.permute({2, 1, 0})}) {
        for (const auto& dims : dim_sets) {
            for (std::int64_t correction : {0, 1}) {
                for (bool keepdim : {false, true}) {
                    INFO("dims ", shape_str(dims), " correction ", correction, " keepdim ", keepdim);
                    const Grouping g = group_by(in, dims);
                    const Tensor v = var(in, dims, correction, keepdim);
                    CHECK(shape_str(v.shape()) == shape_str(keepdim ? g.keep_shape : g.out_shape));
                    CHECK_CLOSE(v, ref_reduce(g, [c = double(correction)](const Vec& m) { return vvar(m, c); }), 1e-13);
                }
            }
        }
    }
    CHECK(var(from_vector(Vec{1, 2, 3, 4})).item<double>() == doctest::Approx(5.0 / 3.0));
    CHECK(var(from_vector(Vec{1, 2, 3, 4}), {}, 0).item<double>() == doctest::Approx(1.25));
    CHECK_ERROR(var(arange(4)), "var", "int64");

    for (const auto& dims : std::vector<Shape>{{}, {1}, {0, 2}, {-1}}) {
        for (std::int64_t correction : {0, 1}) {
            INFO("dims ", shape_str(dims), " correction ", correction);
            const Shape d = dims;
            const std::int64_t c = correction;
            gradcheck_views([d, c](const Tensor& t) { return var(t, d, c, false); }, data.tensor({2, 3, 4}),
                            data.tensor({3, 1}));
            const Fn keep = [d, c](const std::vector<Tensor>& in) { return var(in[0], d, c, true); };
            REQUIRE_GRADCHECK(keep, {data.tensor({2, 3, 4})});
        }
    }
}

TEST_CASE("ops: sum_to") {
    Data data(305);
    const Tensor x = data.tensor({2, 3, 4}, -1, 1, {}, 0, false);
    for (const Shape& target : std::vector<Shape>{{3, 1}, {4}, {1, 1, 4}, {2, 1, 1}, {1}, {}, {3, 4}, {2, 3, 4}}) {
        INFO("target ", shape_str(target));
        const Tensor s = sum_to(x, target);
        CHECK(shape_str(s.shape()) == shape_str(target));
        Vec want(std::size_t(numel_of(target)), 0.0);
        const Vec xv = values(x);
        for (std::int64_t i = 0; i < x.numel(); ++i)
            want[std::size_t(broadcast_flat(unravel(i, x.shape()), target))] += xv[std::size_t(i)];
        CHECK_CLOSE(s, want, kTol64);
        const Shape t = target;
        const Fn direct = [t](const std::vector<Tensor>& in) { return sum_to(in[0], t); };
        const Fn permuted = [t](const std::vector<Tensor>& in) { return sum_to(in[0].permute({2, 1, 0}), t); };
        const Fn stepped = [t](const std::vector<Tensor>& in) { return sum_to(in[0].slice(2, 1, 8, 2), t); };
        const Fn expanded = [t](const std::vector<Tensor>& in) { return sum_to(in[0].expand({2, 3, 4}), t); };
        REQUIRE_GRADCHECK(direct, {data.tensor({2, 3, 4})});
        REQUIRE_GRADCHECK(permuted, {data.tensor({4, 3, 2})});
        REQUIRE_GRADCHECK(stepped, {data.tensor({2, 3, 8})});
        REQUIRE_GRADCHECK(expanded, {data.tensor({3, 1})});
    }
    CHECK(sum_to(x, {2, 3, 4}).is_same(x));
    CHECK_ERROR(sum_to(x, {3, 3}), "sum_to", "[3, 3]");
    CHECK_ERROR(sum_to(x, {1, 2, 3, 4}), "sum_to", "[1, 2, 3, 4]");
}

// ---- matrix products ----------------------------------------------------------------------------

TEST_CASE("ops: matmul forward for every rank combination") {
    Data data(400);
    auto t = [&](const Shape& s) { return data.tensor(s, -1, 1, {}, 0, false); };
    const std::vector<std::pair<Tensor, Tensor>> cases = {
        {t({4}), t({4})},                       // dot product -> 0-dim
        {t({3, 4}), t({4, 5})},                 // matrix @ matrix
        {t({4}), t({4, 5})},                    // vector @ matrix
        {t({3, 4}), t({4})},                    // matrix @ vector
        {t({2, 3, 4}), t({2, 4, 5})},           // batched
        {t({2, 1, 3, 4}), t({5, 4, 2})},        // broadcast batch dims
        {t({3, 4}), t({2, 4, 5})},              // matrix @ batch
        {t({2, 3, 4}), t({4})},                 // batch @ vector
        {t({4}), t({2, 4, 5})},                 // vector @ batch
        {t({4, 3}).t(), t({5, 4}).t()},         // both transposed
        {t({2, 4, 3}).transpose(1, 2), t({2, 4, 5}).slice(2, 0, 5, 2)},  // strided batched operands
        {t({3, 0}), t({0, 2})},                 // empty inner dim: zeros
    };
    for (const auto& [a, b] : cases) {
        INFO("shapes ", shape_str(a.shape()), " @ ", shape_str(b.shape()));
        const auto [want, want_shape] = ref_matmul(a, b);
        const Tensor c = matmul(a, b);
        CHECK(shape_str(c.shape()) == shape_str(want_shape));
        CHECK_CLOSE(c, want, 1e-14);
        const Tensor cf = matmul(a.to(DType::Float32), b.to(DType::Float32));
        CHECK(cf.dtype() == DType::Float32);
        CHECK_CLOSE(cf, want, 1e-5);
    }
    // Known values.
    const Tensor m = from_vector(Vec{1, 2, 3, 4, 5, 6}, {2, 3});
    const Tensor n = from_vector(Vec{7, 8, 9, 10, 11, 12}, {3, 2});
    CHECK(values(matmul(m, n)) == Vec{58, 64, 139, 154});
    CHECK(matmul(from_vector(Vec{1, 2, 3}), from_vector(Vec{4, 5, 6})).item<double>() == 32);
    CHECK(values(matmul(m, from_vector(Vec{1, 0, -1}))) == Vec{-2, -2});
    CHECK_ERROR(matmul(scalar_tensor(1.0, DType::Float64), m), "matmul", "at least 1 dim");
    CHECK_ERROR(matmul(m, m), "matmul", "[2, 3]");
    CHECK_ERROR(matmul(arange(4), arange(4)), "int64");
}

TEST_CASE("ops: matmul and bmm gradients") {
    Data data(401);
    auto t = [&](const Shape& s) { return data.tensor(s); };
    const Fn mm = [](const std::vector<Tensor>& in) { return matmul(in[0], in[1]); };
    const std::vector<std::pair<Shape, Shape>> shapes = {
        {{4}, {4}}, {{3, 4}, {4, 2}}, {{4}, {4, 2}}, {{3, 4}, {4}}, {{2, 3, 4}, {2, 4, 2}},
        {{2, 1, 3, 4}, {3, 4, 2}}, {{3, 4}, {2, 4, 2}}, {{2, 3, 4}, {4}}, {{4}, {2, 4, 3}}};
    for (const auto& [sa, sb] : shapes) {
        INFO("shapes ", shape_str(sa), " @ ", shape_str(sb));
        REQUIRE_GRADCHECK(mm, {t(sa), t(sb)});
    }
    const Fn transposed = [](const std::vector<Tensor>& in) { return matmul(in[0].t(), in[1].t()); };
    REQUIRE_GRADCHECK(transposed, {t({4, 3}), t({2, 4})});
    const Fn strided = [](const std::vector<Tensor>& in) {
        return matmul(in[0].transpose(1, 2), in[1].slice(2, 0, 5, 2));
    };
    REQUIRE_GRADCHECK(strided, {t({2, 4, 3}), t({2, 4, 5})});
    const Fn expanded = [](const std::vector<Tensor>& in) { return matmul(in[0].expand({2, 3, 4}), in[1]); };
    REQUIRE_GRADCHECK(expanded, {t({3, 4}), t({2, 4, 2})});
    const Fn same = [](const std::vector<Tensor>& in) { return matmul(in[0], in[0].t()); };
    REQUIRE_GRADCHECK(same, {t({3, 4})});
    // Only one operand requiring grad.
    REQUIRE_GRADCHECK(mm, {t({3, 4}), data.tensor({4, 2}, -1, 1, {}, 0, false)});
    REQUIRE_GRADCHECK(mm, {data.tensor({3, 4}, -1, 1, {}, 0, false), t({4, 2})});

    // bmm
    const Tensor a = data.tensor({2, 3, 4}, -1, 1, {}, 0, false), b = data.tensor({2, 4, 5}, -1, 1, {}, 0, false);
    CHECK_CLOSE(bmm(a, b), ref_matmul(a, b).first, 1e-14);
    CHECK_SHAPE(bmm(a, b), {2, 3, 5});
    const Tensor bt = data.tensor({2, 5, 4}, -1, 1, {}, 0, false).transpose(1, 2);
    CHECK_CLOSE(bmm(a, bt), ref_matmul(a, bt).first, 1e-14);
    const Fn fb = [](const std::vector<Tensor>& in) { return bmm(in[0], in[1]); };
    const Fn fbt = [](const std::vector<Tensor>& in) { return bmm(in[0].permute({0, 2, 1}), in[1].permute({1, 0, 2})); };
    REQUIRE_GRADCHECK(fb, {t({2, 3, 4}), t({2, 4, 2})});
    REQUIRE_GRADCHECK(fbt, {t({2, 4, 3}), t({4, 2, 2})});
    CHECK_ERROR(bmm(t({3, 4}), t({4, 5})), "bmm", "[3, 4]", "[4, 5]");
    CHECK_ERROR(bmm(t({2, 3, 4}), t({3, 4, 5})), "bmm", "[2, 3, 4]", "[3, 4, 5]");
}

// ---- softmax ------------------------------------------------------------------------------------

TEST_CASE("ops: softmax and log_softmax") {
    Data data(500);
    const Tensor x = data.tensor({2, 3, 4}, -3, 3, {}, 0, false);
    for (const Tensor& in : {x, x.permute({1, 2, 0}), x.slice(2, 0, 4, 2)}) {
        for (std::int64_t dim : {0, 1, 2, -1, -2}) {
            INFO("input ", shape_str(in.shape()), " dim ", dim);
            const Grouping g = group_by(in, {dim});
            const Vec xv = values(in);
            Vec want, want_log;
            for (std::size_t i = 0; i < xv.size(); ++i) {
                const Vec& row = g.members[std::size_t(g.group_of[i])];
                const double mx = vmax(row);
                double total = 0;
                for (double v : row) total += std::exp(v - mx);
                want.push_back(std::exp(xv[i] - mx) / total);
                want_log.push_back(xv[i] - mx - std::log(total));
            }
            const Tensor y = softmax(in, dim);
            CHECK(shape_str(y.shape()) == shape_str(in.shape()));
            CHECK_CLOSE(y, want, 1e-14);
            CHECK_CLOSE(log_softmax(in, dim), want_log, 1e-14);
            CHECK_CLOSE(sum(y, {dim}), Vec(std::size_t(numel_of(g.out_shape)), 1.0), 1e-14);
            CHECK_CLOSE(softmax(in.to(DType::Float32), dim), want, 1e-6);
        }
    }
    // Large inputs do not overflow.
    const Tensor big = from_vector(Vec{1000, 1001, 1002, -1000});
    const double total = std::exp(-2.0) + std::exp(-1.0) + 1.0 + std::exp(-2002.0);
    CHECK_CLOSE(softmax(big, 0), (Vec{std::exp(-2.0) / total, std::exp(-1.0) / total, 1.0 / total, 0.0}), 1e-14);
    CHECK_CLOSE(log_softmax(big, 0), (Vec{-2 - std::log(total), -1 - std::log(total), -std::log(total), -2002 - std::log(total)}),
                1e-14);
    CHECK_CLOSE(softmax(big.to(DType::Float32), 0), (Vec{std::exp(-2.0) / total, std::exp(-1.0) / total, 1.0 / total, 0.0}),
                1e-6);
    CHECK_ERROR(softmax(x, 3), "softmax", "dim 3");

    for (std::int64_t dim : {0, 1, 2, -1}) {
        INFO("dim ", dim);
        gradcheck_views([dim](const Tensor& t) { return softmax(t, dim); }, data.tensor({2, 3, 4}, -2, 2),
                        data.tensor({3, 1}, -2, 2));
        gradcheck_views([dim](const Tensor& t) { return log_softmax(t, dim); }, data.tensor({2, 3, 4}, -2, 2),
                        data.tensor({3, 1}, -2, 2));
    }
}

// ---- joining and padding ------------------------------------------------------------------------

namespace {
/// Concatenation along dim by loops.
Vec ref_concat(const std::vector<Tensor>& ts, std::int64_t dim, Shape& shape) {
    const auto nd = std::int64_t(ts[0].dim());
    if (dim < 0) dim += nd;
    shape = ts[0].shape();
    shape[std::size_t(dim)] = 0;
    for (const auto& t : ts) shape[std::size_t(dim)] += t.shape()[std::size_t(dim)];
    std::vector<Vec> vs;
    for (const auto& t : ts) vs.push_back(values(t));
    Vec out;
    for (std::int64_t i = 0; i < numel_of(shape); ++i) {
        auto idx = unravel(i, shape);
        std::size_t which = 0;
        while (idx[std::size_t(dim)] >= ts[which].shape()[std::size_t(dim)]) idx[std::size_t(dim)] -= ts[which++].shape()[std::size_t(dim)];
        out.push_back(vs[which][std::size_t(ravel(idx, ts[which].shape()))]);
    }
    return out;
}
}  // namespace

TEST_CASE("ops: concat and stack") {
    Data data(600);
    auto t = [&](const Shape& s) { return data.tensor(s, -1, 1, {}, 0, false); };
    struct Case {
        std::vector<Tensor> ts;
        std::int64_t dim;
    };
    const std::vector<Case> cases = {
        {{t({2, 3, 4}), t({1, 3, 4})}, 0},
        {{t({2, 3, 4}), t({2, 1, 4}), t({2, 2, 4})}, 1},
        {{t({2, 3, 4}), t({2, 3, 2})}, -1},
        {{t({4, 3, 2}).permute({2, 1, 0}), t({2, 5, 4}).slice(1, 0, 5, 2)}, 1},
        {{t({3}), t({5})}, 0},
        {{t({2, 3}), t({2, 0})}, 1},
        {{t({2, 3})}, 0},
    };
    for (const auto& c : cases) {
        INFO("dim ", c.dim, " first ", shape_str(c.ts[0].shape()));
        Shape want_shape;
        const Vec want = ref_concat(c.ts, c.dim, want_shape);
        const Tensor out = concat(c.ts, c.dim);
        CHECK(shape_str(out.shape()) == shape_str(want_shape));
        CHECK(values(out) == want);
    }
    CHECK_ERROR(concat({}, 0), "concat", "at least one");
    CHECK_ERROR(concat({t({2, 3}), t({2, 3, 1})}, 0), "concat", "[2, 3, 1]", "[2, 3]");
    CHECK_ERROR(concat({scalar_tensor(1.0), scalar_tensor(2.0)}, 0), "concat");

    // stack = unsqueeze + concat, checked by loops.
    const Tensor a = t({2, 3}), b = t({3, 2}).t();
    const Vec av = values(a), bv = values(b);
    for (std::int64_t dim : {0, 1, 2, -1, -3}) {
        INFO("stack dim ", dim);
        const Tensor s = stack({a, b}, dim);
        const std::int64_t d = dim < 0 ? dim + 3 : dim;
        Shape want_shape = {2, 3};
        want_shape.insert(want_shape.begin() + d, 2);
        CHECK(shape_str(s.shape()) == shape_str(want_shape));
        Vec want;
        for (std::int64_t i = 0; i < 12; ++i) {
            auto idx = unravel(i, want_shape);
            const std::int64_t which = idx[std::size_t(d)];
            idx.erase(idx.begin() + d);
            want.push_back((which == 0 ? av : bv)[std::size_t(ravel(idx, {2, 3}))]);
        }
        CHECK(values(s) == want);
    }
    CHECK_ERROR(stack({a, t({2, 2})}, 0), "stack", "[2, 2]", "[2, 3]");
    CHECK_ERROR(stack({a, b}, 3), "stack", "dim 3");

    // Gradients.
    auto g = [&](const Shape& s) { return data.tensor(s); };
    const Fn cat3 = [](const std::vector<Tensor>& in) {
        return concat({in[0], in[1].permute({1, 2, 0}), in[2].slice(1, 0, 6, 3)}, 1);  // [2,3,4] [2,2,4] [2,2,4]
    };
    REQUIRE_GRADCHECK(cat3, {g({2, 3, 4}), g({4, 2, 2}), g({2, 6, 4})});
    const Fn cat_last = [](const std::vector<Tensor>& in) { return concat({in[0], in[1].expand({2, 3, 2})}, -1); };
    REQUIRE_GRADCHECK(cat_last, {g({2, 3, 4}), g({3, 1})});
    const Fn cat_mixed = [](const std::vector<Tensor>& in) { return concat({in[0], in[1], in[0]}, 0); };
    REQUIRE_GRADCHECK(cat_mixed, {g({2, 3}), data.tensor({1, 3}, -1, 1, {}, 0, false)});
    for (std::int64_t dim : {0, 1, 2, -1}) {
        INFO("stack dim ", dim);
        const Fn st = [dim](const std::vector<Tensor>& in) { return stack({in[0], in[1].t(), in[2].expand({2, 3})}, dim); };
        REQUIRE_GRADCHECK(st, {g({2, 3}), g({3, 2}), g({3})});
    }
}

namespace {
/// Constant padding by loops: pads are (before, after) pairs from the last dim backwards.
Vec ref_pad(const Tensor& x, const std::vector<std::int64_t>& pads, double value, Shape& shape) {
    const Vec xv = values(x);
    shape = x.shape();
    std::vector<std::int64_t> before(shape.size(), 0);
    for (std::size_t p = 0; p < pads.size() / 2; ++p) {
        const std::size_t d = shape.size() - 1 - p;
        before[d] = pads[2 * p];
        shape[d] += pads[2 * p] + pads[2 * p + 1];
    }
    Vec out;
    for (std::int64_t i = 0; i < numel_of(shape); ++i) {
        auto idx = unravel(i, shape);
        bool inside = true;
        for (std::size_t d = 0; d < shape.size(); ++d) {
            idx[d] -= before[d];
            inside = inside && idx[d] >= 0 && idx[d] < x.shape()[d];
        }
        out.push_back(inside ? xv[std::size_t(ravel(idx, x.shape()))] : value);
    }
    return out;
}
}  // namespace

TEST_CASE("ops: pad") {
    Data data(700);
    const std::vector<std::vector<std::int64_t>> pad_sets = {
        {1, 2}, {0, 3}, {2, 0, 1, 1}, {-1, 2}, {-1, -1}, {1, -2, -1, 2}, {0, 0}, {-2, -1, 0, 0}, {1, 1, 1, 1, 1, 0}};
    const Tensor x = data.tensor({2, 3, 4}, -1, 1, {}, 0, false);
    for (const Tensor& in : {x, x.permute({0, 2, 1})}) {
        for (const auto& pads : pad_sets) {
            for (double value : {0.0, 3.5}) {
                INFO("input ", shape_str(in.shape()), " pads ", shape_str(Shape(pads.begin(), pads.end())), " value ", value);
                Shape want_shape;
                const Vec want = ref_pad(in, pads, value, want_shape);
                const Tensor out = pad(in, pads, value);
                CHECK(shape_str(out.shape()) == shape_str(want_shape));
                CHECK(values(out) == want);
            }
        }
    }
    CHECK_ERROR(pad(x, {1}), "pad", "even");
    CHECK_ERROR(pad(x, {1, 1, 1, 1, 1, 1, 1, 1}), "pad");
    CHECK_ERROR(pad(x, {-3, -2}), "pad", "negative");

    // The same pads on every variant of gradcheck_views (the smallest input there is [2, 3, 2]).
    const std::vector<std::vector<std::int64_t>> grad_pad_sets = {
        {1, 2}, {0, 3}, {2, 0, 1, 1}, {-1, 2}, {-1, -1}, {1, -2, -1, 2}, {0, 0}, {-1, 0, 0, 0}, {1, 1, 1, 1, 1, 0}};
    for (const auto& pads : grad_pad_sets) {
        INFO("pads ", shape_str(Shape(pads.begin(), pads.end())));
        const std::vector<std::int64_t> p = pads;
        gradcheck_views([p](const Tensor& t) { return pad(t, p, 0.5); }, data.tensor({2, 3, 4}), data.tensor({3, 1}));
    }
}

TEST_CASE("ops: where with broadcasting") {
    Data data(800);
    const Tensor cond = from_vector(std::vector<bool>{true, false, true}, {3, 1});
    const Tensor a = data.tensor({2, 3, 4}, -1, 1, {}, 0, false), b = data.tensor({4}, -1, 1, {}, 0, false);
    const Tensor out = where(cond, a, b);
    CHECK_SHAPE(out, {2, 3, 4});
    const Vec cv = values(cond), av = values(a), bv = values(b);
    Vec want;
    for (std::int64_t i = 0; i < 24; ++i) {
        const auto idx = unravel(i, {2, 3, 4});
        want.push_back(cv[std::size_t(broadcast_flat(idx, {3, 1}))] != 0 ? av[std::size_t(i)]
                                                                           : bv[std::size_t(broadcast_flat(idx, {4}))]);
    }
    CHECK(values(out) == want);
    // Condition computed from data, a strided a, a 0-dim b.
    const Tensor at = a.permute({2, 1, 0});
    const Tensor c2 = gt(at, 0.0);
    const Tensor o2 = where(c2, at, scalar_tensor(-9.0, DType::Float64));
    const Vec atv = values(at);
    CHECK(values(o2) == map_ref(atv, [](double v) { return v > 0 ? v : -9.0; }));
    // Integer and bool operands.
    CHECK(where(from_vector(std::vector<bool>{true, false}), arange(2), arange(10, 12)).to_vector<std::int64_t>() ==
          std::vector<std::int64_t>{0, 11});
    CHECK_ERROR(where(cond, a, from_vector(Vec{1, 2, 3})), "where", "[3]");

    const Fn f = [cond](const std::vector<Tensor>& in) { return where(cond, in[0], in[1]); };
    REQUIRE_GRADCHECK(f, {data.tensor({2, 3, 4}), data.tensor({4})});
    REQUIRE_GRADCHECK(f, {data.tensor({3, 4}), data.tensor({2, 1, 1})});
    const Fn fs = [](const std::vector<Tensor>& in) {
        const Tensor x = in[0].permute({2, 0, 1});
        return where(gt(x, 0.0), x, in[1].expand({4, 2, 3}));
    };
    REQUIRE_GRADCHECK(fs, {data.tensor({2, 3, 4}, -1, 1, {0.0}), data.tensor({1, 3})});
    const Fn only_b = [cond](const std::vector<Tensor>& in) {
        return where(cond, full({3, 2}, 1.0, DType::Float64), in[0].slice(1, 0, 4, 2));
    };
    REQUIRE_GRADCHECK(only_b, {data.tensor({3, 4})});
}

TEST_CASE("ops: view ops are differentiable") {
    Data data(900);
    const Fn views = [](const std::vector<Tensor>& in) {
        const Tensor& x = in[0];  // [2, 3, 4]
        return concat({x.view({6, 4}).slice(0, 1, 6, 2).reshape({-1}), x.permute({2, 0, 1}).flatten(1).select(1, 2),
                       x.transpose(0, 1).narrow(1, 1, 1).squeeze().unsqueeze(0).flatten(), x.select(2, -1).t().flatten(),
                       x.slice(1, -2, 3).expand({5, 2, 2, 4}).flatten()},
                      0);
    };
    REQUIRE_GRADCHECK(views, {data.tensor({2, 3, 4})});
    const Fn conversions = [](const std::vector<Tensor>& in) {
        return mul(in[0].t().contiguous().clone(), in[0].t().reshape({4, 3}).to(DType::Float64));
    };
    REQUIRE_GRADCHECK(conversions, {data.tensor({3, 4})});
    // Through float32 and back: gradients are converted back to float64.
    const Fn through_f32 = [](const std::vector<Tensor>& in) { return exp(in[0].to(DType::Float32)).to(DType::Float64); };
    GradcheckOptions loose;
    loose.eps = 1e-3;
    loose.atol = 1e-3;
    loose.rtol = 1e-2;
    REQUIRE_GRADCHECK(through_f32, {data.tensor({2, 3})}, loose);
}

// ---- determinism and accuracy -------------------------------------------------------------------

TEST_CASE("ops: results do not depend on the number of threads") {
    fbseg::test::ThreadsGuard restore;
    Generator gen(31337);
    const Tensor big = rand({1000000}, DType::Float32, gen);
    const Tensor big64 = randn({1000, 1000}, DType::Float64, gen);
    const Tensor a = randn({300, 200}, DType::Float32, gen), b = randn({200, 150}, DType::Float32, gen);
    const Tensor a64 = a.to(DType::Float64), b64 = b.to(DType::Float64);

    auto run = [&](int threads) {
        set_num_threads(threads);
        REQUIRE(num_threads() == threads);
        return std::vector<Tensor>{sum(big),
                                   sum(big64),
                                   sum(big64, {0}),
                                   sum(big64.t(), {1}),
                                   mean(big.view({1000, 1000}), {1}),
                                   matmul(a, b),
                                   matmul(a64, b64),
                                   matmul(b.t(), a.t()),
                                   add(big64.t(), big64),
                                   softmax(big64, 1),
                                   max(big64, 0).values,
                                   max(big)};
    };
    const auto one = run(1);
    const auto two = run(2);
    REQUIRE(one.size() == two.size());
    for (std::size_t i = 0; i < one.size(); ++i) {
        INFO("result ", i);
        CHECK(fbseg::test::bitwise_equal(one[i], two[i]));
    }
    // And the matrix product is right.
    CHECK_CLOSE(one[6], ref_matmul(a64, b64).first, 1e-12);
    CHECK_CLOSE(one[5], ref_matmul(a64, b64).first, 1e-5);
}

TEST_CASE("ops: float32 sum of a million values matches a double loop") {
    Generator gen(4242);
    const Tensor u = rand({1000000}, DType::Float32, gen);
    const Tensor n = randn({1000, 1000}, DType::Float32, gen);
    for (const Tensor& t : {u, n}) {
        const Vec v = values(t);
        double ref = 0;
        for (double x : v) ref += x;
        const double s = double(sum(t).item<float>());
        CHECK(std::abs(s - ref) <= 1e-6 * std::abs(ref));
        const double m = double(mean(t).item<float>());
        CHECK(std::abs(m - ref / 1e6) <= 1e-6 * std::abs(ref / 1e6));
    }
    // Summing many equal values: a naive float32 accumulation would stall far below the answer.
    CHECK(sum(full({1000000}, 0.1)).item<float>() == doctest::Approx(100000.0).epsilon(1e-6));
    CHECK(sum(ones({4096, 4096})).item<float>() == 16777216.0f);
}

}  // namespace ops_tests
