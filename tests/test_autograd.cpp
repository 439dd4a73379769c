// Tests of the autograd engine: leaves and accumulation, grad mode, explicit gradients, graph
// lifetime (retain_graph, long chains), in-place checks, graph shapes (diamonds, dead branches,
// unused outputs) and gradcheck itself.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "fbseg/fbseg.hpp"
#include "support/check.hpp"

namespace autograd_tests {  // a namespace of its own: the test files are compiled as one unity source

using namespace fbseg;
using fbseg::test::Data;
using fbseg::test::values;

namespace {

Tensor leaf(std::vector<double> v, const Shape& shape) {
    return from_vector(v, shape, TensorOptions(DType::Float64).requires_grad(true));
}

/// A custom op made with autograd::record: y = x^2 with a chosen derivative factor (2 is right).
Tensor custom_square(const Tensor& x, double factor) {
    Tensor y;
    {
        NoGradGuard no_grad;
        y = mul(x, x);
    }
    if (autograd::needs_grad({&x})) {
        autograd::record("CustomSquareBackward", {&x}, {&y},
                         [sx = autograd::SavedTensor(x), factor](const std::vector<Tensor>& g) {
                             return std::vector<Tensor>{mul(mul(g[0], sx.unpack("CustomSquareBackward")), factor)};
                         });
    }
    return y;
}

}  // namespace

TEST_CASE("autograd: leaves accumulate across backward calls; zero_grad resets") {
    Data data(1);
    Tensor x = data.tensor({3});
    const auto xv = values(x);
    CHECK(x.is_leaf());
    CHECK_FALSE(x.grad().defined());

    sum(mul(x, x)).backward();
    REQUIRE(x.grad().defined());
    CHECK_SHAPE(x.grad(), {3});
    CHECK(x.grad().dtype() == DType::Float64);
    CHECK_FALSE(x.grad().requires_grad());
    std::vector<double> twice, four;
    for (double v : xv) twice.push_back(2 * v), four.push_back(4 * v);
    CHECK_CLOSE(x.grad(), twice, 1e-15);

    sum(mul(x, x)).backward();  // a fresh graph: the gradient adds up
    CHECK_CLOSE(x.grad(), four, 1e-15);

    x.zero_grad();
    CHECK_FALSE(x.grad().defined());
    sum(mul(x, x)).backward();
    CHECK_CLOSE(x.grad(), twice, 1e-15);

    // The stored gradient is the leaf's own buffer: it does not alias the incoming gradient.
    Tensor g = ones({3}, DType::Float64);
    Tensor y = leaf({1, 2, 3}, {3});
    y.backward(g);
    CHECK(y.grad().storage() != g.storage());
    CHECK(values(y.grad()) == std::vector<double>{1, 1, 1});

    // Non-leaves keep no gradient.
    Tensor z = leaf({1, 2}, {2});
    Tensor mid = mul(z, 3.0);
    sum(mid).backward();
    CHECK_FALSE(mid.grad().defined());
    CHECK(values(z.grad()) == std::vector<double>{3, 3});
}

TEST_CASE("autograd: requires_grad propagation and leaves") {
    Tensor a = from_vector(std::vector<double>{1, 2});
    Tensor b = leaf({3, 4}, {2});
    CHECK_FALSE(a.requires_grad());
    CHECK(b.requires_grad());

    Tensor c = add(a, b);
    CHECK(c.requires_grad());
    CHECK_FALSE(c.is_leaf());
    REQUIRE(c.grad_fn() != nullptr);
    CHECK(c.grad_fn()->name() == "AddBackward");

    Tensor d = mul(a, a);
    CHECK_FALSE(d.requires_grad());
    CHECK(d.is_leaf());

    CHECK(exp(b).requires_grad());
    CHECK(sum(b).requires_grad());
    CHECK(b.view({2, 1}).requires_grad());
    CHECK(b.slice(0, 0, 1).requires_grad());
    CHECK(b.to(DType::Float32).requires_grad());
    CHECK_FALSE(gt(b, 0.0).requires_grad());  // comparisons are not differentiable
    CHECK_FALSE(argmax(b, 0).requires_grad());
    CHECK_FALSE(max(b, 0).indices.requires_grad());
    CHECK(max(b, 0).values.requires_grad());

    // set_requires_grad: floating leaves only.
    CHECK_ERROR(arange(3).set_requires_grad(true), "set_requires_grad", "int64");
    CHECK_ERROR(c.set_requires_grad(true), "set_requires_grad", "not a leaf", "AddBackward");
    Tensor e = from_vector(std::vector<float>{1});
    e.set_requires_grad(true);
    CHECK(e.requires_grad());
    e.set_requires_grad(false);
    CHECK_FALSE(e.requires_grad());
}

TEST_CASE("autograd: detach") {
    Tensor x = leaf({1, 2, 3}, {3});
    Tensor y = mul(x, 2.0);
    Tensor d = y.detach();
    CHECK_FALSE(d.requires_grad());
    CHECK(d.is_leaf());
    CHECK(d.storage() == y.storage());  // same data
    CHECK(values(d) == std::vector<double>{2, 4, 6});
    CHECK_FALSE(mul(d, d).requires_grad());

    // Gradient does not flow through a detached path.
    Tensor z = add(mul(x.detach(), x), x);  // d/dx = x (treated as a constant) + 1
    sum(z).backward();
    CHECK(values(x.grad()) == std::vector<double>{2, 3, 4});

    // Writing through the detached handle changes the original (shared storage).
    Tensor base = from_vector(std::vector<double>{1, 2});
    Tensor alias = base.detach();
    alias.fill_(5.0);
    CHECK(values(base) == std::vector<double>{5, 5});
}

TEST_CASE("autograd: NoGradGuard stops recording and nests") {
    Tensor x = leaf({1, 2}, {2});
    CHECK(is_grad_enabled());
    {
        NoGradGuard outer;
        CHECK_FALSE(is_grad_enabled());
        Tensor y = mul(x, 2.0);
        CHECK_FALSE(y.requires_grad());
        CHECK(y.is_leaf());
        CHECK(values(y) == std::vector<double>{2, 4});
        {
            NoGradGuard inner;
            CHECK_FALSE(is_grad_enabled());
            CHECK_FALSE(exp(x).requires_grad());
        }
        CHECK_FALSE(is_grad_enabled());  // the inner guard restores "disabled"
        CHECK_FALSE(sum(x).requires_grad());
        // In-place updates of leaves are allowed here (optimizer steps).
        sub_(x, 0.5);
    }
    CHECK(is_grad_enabled());
    CHECK(values(x) == std::vector<double>{0.5, 1.5});
    CHECK(mul(x, 2.0).requires_grad());
}

TEST_CASE("autograd: backward with an explicit gradient") {
    Data data(2);
    Tensor x = data.tensor({2, 3});
    Tensor w = data.tensor({2, 3}, -1, 1, {}, 0, false);
    Tensor y = mul(x, 3.0);
    y.backward(w);
    std::vector<double> expected;
    for (double v : values(w)) expected.push_back(3 * v);
    CHECK_CLOSE(x.grad(), expected, 1e-15);

    Tensor y2 = mul(x, 3.0);
    CHECK_ERROR(y2.backward(), "backward", "non-scalar", "[2, 3]");
    CHECK_ERROR(y2.backward(ones({3, 2}, DType::Float64)), "backward", "[3, 2]", "[2, 3]");
    CHECK_ERROR(y2.backward(ones({2, 3}, DType::Float32)), "backward", "float32", "float64");
    CHECK_ERROR(mul(from_vector(std::vector<double>{1.0}), 2.0).backward(), "backward", "does not require grad");

    // A single-element non-0-dim tensor needs no explicit gradient.
    Tensor s = leaf({2}, {1, 1});
    mul(s, s).backward();
    CHECK(values(s.grad()) == std::vector<double>{4});
}

TEST_CASE("autograd: a freed graph cannot be run twice; retain_graph keeps it") {
    Tensor x = leaf({1, 2, 3}, {3});
    Tensor loss = sum(mul(exp(x), x));
    loss.backward();
    CHECK_ERROR(loss.backward(), "backward", "second time", "retain_graph");

    Tensor x2 = leaf({1, -2}, {2});
    Tensor loss2 = sum(mul(x2, x2));
    loss2.backward(Tensor(), /*retain_graph=*/true);
    CHECK(values(x2.grad()) == std::vector<double>{2, -4});
    loss2.backward(Tensor(), true);
    CHECK(values(x2.grad()) == std::vector<double>{4, -8});
    loss2.backward();  // the last one may free it
    CHECK(values(x2.grad()) == std::vector<double>{6, -12});
    CHECK_ERROR(loss2.backward(), "second time");
}

TEST_CASE("autograd: modifying a saved tensor in place is caught at backward time") {
    Tensor x = leaf({0.5, -1.0, 2.0}, {3});
    Tensor y = exp(x);  // exp saves its output
    Tensor z = sum(y);
    mul_(y, 2.0);
    CHECK(y.version() > 0);
    CHECK_ERROR(z.backward(), "in-place", "expBackward", "version");

    // Also when the saved tensor is an input of the op (mul saves both operands).
    Tensor a = leaf({1, 2}, {2});
    Tensor b = mul(a, 1.0);
    Tensor c = sum(mul(b, b));
    add_(b, 1.0);
    CHECK_ERROR(c.backward(), "in-place", "MulBackward");

    // An in-place op on something not saved is fine.
    Tensor p = leaf({1, 2}, {2});
    Tensor q = add(p, 1.0);  // add saves nothing
    Tensor r = sum(q);
    mul_(q, 3.0);
    r.backward();
    CHECK(values(p.grad()) == std::vector<double>{1, 1});
}

TEST_CASE("autograd: in-place ops on leaves and views that need grad are refused") {
    Tensor x = leaf({1, 2}, {2});
    CHECK_ERROR(add_(x, 1.0), "add_", "leaf");
    CHECK_ERROR(relu_(x), "relu", "leaf");
    CHECK_ERROR(x.fill_(0.0), "fill_", "leaf");
    CHECK_ERROR(x.copy_(ones({2}, DType::Float64)), "copy_", "leaf");
    CHECK(values(x) == std::vector<double>{1, 2});  // nothing was written

    // In-place on a view of a graph tensor: refused with a message naming the op.
    Tensor y = mul(leaf({1, 2, 3, 4}, {2, 2}), 1.0);
    Tensor v = y.select(0, 0);
    CHECK_ERROR(mul_(v, 2.0), "mul_", "view");
}

TEST_CASE("autograd: recorded in-place ops give the out-of-place gradients") {
    Data data(3);
    Tensor x = data.tensor({2, 5}, -1, 1, {0.0});
    Tensor w = data.tensor({2, 5}, -1, 1, {}, 0, false);

    Tensor y = mul(x, 1.5);
    relu_(y);
    CHECK(y.grad_fn()->name() == "relu_Backward");
    sum(mul(y, w)).backward();
    const Tensor g_inplace = x.grad().clone();

    x.zero_grad();
    sum(mul(relu(mul(x, 1.5)), w)).backward();
    CHECK_CLOSE(g_inplace, x.grad(), 1e-15);
    // Independent: d/dx relu(1.5 x) w = 1.5 w where x > 0.
    std::vector<double> expected;
    const auto xv = values(x), wv = values(w);
    for (std::size_t i = 0; i < xv.size(); ++i) expected.push_back(xv[i] > 0 ? 1.5 * wv[i] : 0.0);
    CHECK_CLOSE(g_inplace, expected, 1e-15);

    // A chain of in-place ops.
    Tensor a = data.tensor({4}, 0.2, 1.0);
    Tensor b = mul(a, 1.0);
    mul_(b, 3.0);
    add_(b, 1.0);
    tanh_(b);  // b = tanh(3a + 1)
    sum(b).backward();
    std::vector<double> ga;
    for (double v : values(a)) ga.push_back(3.0 * (1.0 - std::pow(std::tanh(3 * v + 1), 2)));
    CHECK_CLOSE(a.grad(), ga, 1e-14);

    // Squaring in place (y *= y): d/dy y^2 = 2 y with the value before the write.
    Tensor s = leaf({1.5, -2.0, 3.0}, {3});
    Tensor sq = mul(s, 1.0);
    mul_(sq, sq);
    CHECK(values(sq) == std::vector<double>{2.25, 4.0, 9.0});
    sum(sq).backward();
    CHECK(values(s.grad()) == std::vector<double>{3.0, -4.0, 6.0});
}

TEST_CASE("autograd: a 100,000-node chain runs backward and is destroyed without recursion") {
    constexpr int kNodes = 100000;
    {
        Tensor x = leaf({1.0}, {});
        Tensor y = x;
        for (int i = 0; i < kNodes; ++i) y = mul(y, 1.0001);
        CHECK(y.item<double>() == doctest::Approx(std::pow(1.0001, kNodes)).epsilon(1e-9));
        y.backward();
        CHECK(x.grad().item<double>() == doctest::Approx(std::pow(1.0001, kNodes)).epsilon(1e-9));
    }  // the graph (released by backward) is destroyed here
    {
        Tensor x = leaf({0.0}, {});
        Tensor y = x;
        for (int i = 0; i < kNodes; ++i) y = add(y, 1.0);
        CHECK(y.item<double>() == double(kNodes));
    }  // never backpropagated: the whole unreleased graph is destroyed here
    {
        Tensor x = leaf({2.0}, {1});
        Tensor y = x;
        for (int i = 0; i < kNodes; ++i) y = add(y, x);  // every node also points at the leaf
        sum(y).backward();
        CHECK(x.grad().item<double>() == double(kNodes + 1));
    }
}

TEST_CASE("autograd: diamonds sum the gradients of every use") {
    Data data(4);
    Tensor x = data.tensor({5});
    Tensor a = mul(x, 2.0);
    Tensor loss = sum(add(mul(a, 3.0), mul(a, a)));  // 6x + 4x^2
    loss.backward();
    std::vector<double> expected;
    for (double v : values(x)) expected.push_back(6.0 + 8.0 * v);
    CHECK_CLOSE(x.grad(), expected, 1e-14);

    // The same tensor as both operands, and a leaf used by several ops.
    Tensor y = data.tensor({3});
    Tensor l2 = sum(add(mul(y, y), add(y, exp(y))));  // y^2 + y + e^y
    l2.backward();
    std::vector<double> e2;
    for (double v : values(y)) e2.push_back(2 * v + 1 + std::exp(v));
    CHECK_CLOSE(y.grad(), e2, 1e-14);

    // A wide diamond: many branches from one node rejoin.
    Tensor z = data.tensor({2});
    Tensor h = exp(z);
    Tensor acc = zeros({2}, DType::Float64);
    for (int k = 1; k <= 10; ++k) acc = add(acc, mul(h, double(k)));
    sum(acc).backward();
    std::vector<double> e3;
    for (double v : values(z)) e3.push_back(55.0 * std::exp(v));
    CHECK_CLOSE(z.grad(), e3, 1e-14);
}

TEST_CASE("autograd: branches and outputs that receive no gradient") {
    // max along a dim: the indices have no gradient; only the values take part.
    Tensor x = leaf({1, 5, 3, 7, 2, 0}, {2, 3});
    auto [vals, idx] = max(x, 1);
    CHECK(idx.to_vector<std::int64_t>() == std::vector<std::int64_t>{1, 0});
    sum(vals).backward();
    CHECK(values(x.grad()) == std::vector<double>{0, 1, 0, 1, 0, 0});

    // A custom op with two outputs of which only the first is used: the engine supplies zeros.
    Tensor a = leaf({1, 2, 3}, {3});
    Tensor out0, out1;
    {
        NoGradGuard no_grad;
        out0 = mul(a, 2.0);
        out1 = mul(a, 3.0);
    }
    bool saw_zero_second = false;
    autograd::record("TwoOutputsBackward", {&a}, {&out0, &out1}, [&](const std::vector<Tensor>& g) {
        REQUIRE(g.size() == 2);
        REQUIRE(g[1].defined());
        saw_zero_second = values(g[1]) == std::vector<double>{0, 0, 0};
        return std::vector<Tensor>{add(mul(g[0], 2.0), mul(g[1], 3.0))};
    });
    sum(out0).backward();
    CHECK(saw_zero_second);
    CHECK(values(a.grad()) == std::vector<double>{2, 2, 2});

    // An op that returns no gradient for one of its inputs: the branch behind it gets nothing,
    // and the leaf it leads to is left without a gradient.
    Tensor p = leaf({1, 2}, {2});
    Tensor q = leaf({3, 4}, {2});
    Tensor pq = mul(p, 2.0);  // a branch that will receive no gradient
    Tensor out;
    {
        NoGradGuard no_grad;
        out = add(pq, q);
    }
    autograd::record("HalfBackward", {&pq, &q}, {&out},
                     [](const std::vector<Tensor>& g) { return std::vector<Tensor>{Tensor(), g[0]}; });
    sum(out).backward();
    CHECK_FALSE(p.grad().defined());
    CHECK(values(q.grad()) == std::vector<double>{1, 1});

    // A branch that reaches the leaf through a no-gradient node and through a normal path.
    Tensor r = leaf({1, 2}, {2});
    Tensor r2 = mul(r, 5.0);
    Tensor o2;
    {
        NoGradGuard no_grad;
        o2 = add(r2, r);
    }
    autograd::record("DropFirstBackward", {&r2, &r}, {&o2},
                     [](const std::vector<Tensor>& g) { return std::vector<Tensor>{Tensor(), g[0]}; });
    sum(add(o2, mul(r2, 1.0))).backward();  // r2 also gets a gradient directly: 5 + 1 per element
    CHECK(values(r.grad()) == std::vector<double>{6, 6});
}

TEST_CASE("autograd: the engine checks the gradients a node returns") {
    Tensor x = leaf({1, 2, 3}, {3});
    Tensor y;
    {
        NoGradGuard no_grad;
        y = mul(x, 1.0);
    }
    autograd::record("BadShapeBackward", {&x}, {&y},
                     [](const std::vector<Tensor>&) { return std::vector<Tensor>{ones({2}, DType::Float64)}; });
    CHECK_ERROR(sum(y).backward(), "BadShapeBackward", "[2]", "[3]");

    Tensor x2 = leaf({1, 2}, {2});
    Tensor y2;
    {
        NoGradGuard no_grad;
        y2 = mul(x2, 1.0);
    }
    autograd::record("TooManyBackward", {&x2}, {&y2}, [](const std::vector<Tensor>& g) {
        return std::vector<Tensor>{g[0], g[0]};
    });
    CHECK_ERROR(sum(y2).backward(), "TooManyBackward", "2 gradients", "1 inputs");
}

TEST_CASE("autograd: gradcheck accepts a right backward and catches a wrong one") {
    Data data(5);
    Tensor x = data.tensor({2, 3});
    auto right = [](const std::vector<Tensor>& in) { return custom_square(in[0], 2.0); };
    auto wrong = [](const std::vector<Tensor>& in) { return custom_square(in[0], 3.0); };
    REQUIRE_GRADCHECK(right, {x});

    const GradcheckResult bad = gradcheck(wrong, {x});
    CHECK_FALSE(bad.ok);
    CHECK(fbseg::test::contains(bad.message, "gradcheck"));
    CHECK(fbseg::test::contains(bad.message, "input 0"));
    CHECK(bad.max_abs_error > 0.1);

    // A slightly wrong formula is caught too (1% off).
    auto close = [](const std::vector<Tensor>& in) { return custom_square(in[0], 2.02); };
    CHECK_FALSE(gradcheck(close, {x}).ok);

    // A backward that ignores one input's broadcast (returns the unreduced gradient shape) is an
    // engine error; a backward that forgets to sum it is caught by gradcheck.
    Tensor b = data.tensor({3});
    auto bad_broadcast = [](const std::vector<Tensor>& in) {
        Tensor out;
        {
            NoGradGuard no_grad;
            out = add(in[0], in[1]);
        }
        autograd::record("BadBroadcastBackward", {&in[0], &in[1]}, {&out}, [](const std::vector<Tensor>& g) {
            return std::vector<Tensor>{g[0], g[0].select(0, 0)};  // should be sum over dim 0
        });
        return out;
    };
    CHECK_FALSE(gradcheck(bad_broadcast, {x, b}).ok);

    // gradcheck refuses inputs it cannot perturb.
    CHECK_ERROR(gradcheck(right, {from_vector(std::vector<float>{1}, {1}, TensorOptions().requires_grad(true))}),
                "gradcheck", "float64");
}

}  // namespace autograd_tests
