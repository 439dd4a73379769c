// Tests of the layer ops: conv2d, conv_transpose2d, max_pool2d, adaptive_avg_pool2d,
// upsample_nearest2d / upsample_bilinear2d, batch_norm, dropout / dropout2d and silu.
//
//   - float64 finite-difference gradient checks (gradcheck) over every parameter variant;
//   - parity with PyTorch (tools/make_layer_fixtures.py -> tests/fixtures/layers.safetensors):
//     outputs and all gradients within max|a - b| / max|b| <= 1e-5 in float32;
//   - conv2d against a direct (naive) loop on problems large enough to use several GEMM tiles,
//     and its backward through the adjoint identities <conv(x), g> = <x, dx> = <w, dw>;
//   - bit-identical results with 1, 2 and 3 threads;
//   - batch norm's running statistics and eval mode, dropout's statistics;
//   - error messages naming the op and the shapes.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "fbseg/fbseg.hpp"
#include "support/check.hpp"
#include "support/safetensors_reader.hpp"

namespace layers_tests {  // a namespace of its own: the test files are compiled as one unity source

using namespace fbseg;
using fbseg::test::values;

namespace {

constexpr double kParityTolerance = 1e-5;

const test_support::SafetensorsFile& fixture() {
    static const test_support::SafetensorsFile file(FBSEG_FIXTURE_DIR "/layers.safetensors");
    return file;
}

using Fn = std::function<Tensor(const std::vector<Tensor>&)>;

/// Loads "<name>.<input>" for each input as a leaf that requires grad, runs `run`, and compares
/// the output and every input gradient with the fixture's out and g<input>.
void check_parity(const std::string& name, const std::vector<std::string>& input_names, const Fn& run) {
    INFO("case ", name);
    const auto& f = fixture();
    std::vector<Tensor> in;
    for (const auto& k : input_names) {
        Tensor t = f.get(name + "." + k);
        t.set_requires_grad(true);
        in.push_back(t);
    }
    Tensor out = run(in);
    const Tensor expected = f.get(name + ".out");
    REQUIRE(shape_str(out.shape()) == shape_str(expected.shape()));
    CHECK_CLOSE(out, expected, kParityTolerance);
    out.backward(f.get(name + ".gout"));
    for (std::size_t i = 0; i < in.size(); ++i) {
        INFO("gradient of ", input_names[i]);
        REQUIRE(in[i].grad().defined());
        CHECK_CLOSE(in[i].grad(), f.get(name + ".g" + input_names[i]), kParityTolerance);
    }
}

Conv2dParams conv_params(std::array<std::int64_t, 2> stride, std::array<std::int64_t, 2> padding,
                         std::array<std::int64_t, 2> dilation, std::int64_t groups) {
    Conv2dParams p;
    p.stride = stride;
    p.padding = padding;
    p.dilation = dilation;
    p.groups = groups;
    return p;
}

ConvTranspose2dParams convt_params(std::array<std::int64_t, 2> stride, std::array<std::int64_t, 2> padding,
                                   std::array<std::int64_t, 2> output_padding, std::array<std::int64_t, 2> dilation,
                                   std::int64_t groups) {
    ConvTranspose2dParams p;
    p.stride = stride;
    p.padding = padding;
    p.output_padding = output_padding;
    p.dilation = dilation;
    p.groups = groups;
    return p;
}

MaxPool2dParams pool_params(std::int64_t k, std::int64_t s, std::int64_t pad, std::int64_t dil, bool ceil_mode) {
    MaxPool2dParams p;
    p.kernel = {k, k};
    p.stride = {s, s};
    p.padding = {pad, pad};
    p.dilation = {dil, dil};
    p.ceil_mode = ceil_mode;
    return p;
}

Tensor randn64(const Shape& shape, std::uint64_t seed, bool requires_grad = true) {
    Generator gen(seed);
    return randn(shape, TensorOptions(DType::Float64).requires_grad(requires_grad), gen);
}

/// sum(a * b) in double, for the adjoint identities.
double dot(const Tensor& a, const Tensor& b) {
    const auto va = values(a), vb = values(b);
    double s = 0;
    for (std::size_t i = 0; i < va.size(); ++i) s += va[i] * vb[i];
    return s;
}

/// conv2d by its definition, in double, with the loops written out (independent of the library).
std::vector<double> naive_conv2d(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dParams& p) {
    const auto vx = values(x), vw = values(w);
    const std::vector<double> vb = b.defined() ? values(b) : std::vector<double>();
    const std::int64_t n = x.size(0), cin = x.size(1), h = x.size(2), wd = x.size(3);
    const std::int64_t cout = w.size(0), cg = w.size(1), kh = w.size(2), kw = w.size(3);
    const std::int64_t coutg = cout / p.groups;
    const std::int64_t ho = (h + 2 * p.padding[0] - p.dilation[0] * (kh - 1) - 1) / p.stride[0] + 1;
    const std::int64_t wo = (wd + 2 * p.padding[1] - p.dilation[1] * (kw - 1) - 1) / p.stride[1] + 1;
    std::vector<double> y;
    for (std::int64_t i = 0; i < n; ++i)
        for (std::int64_t co = 0; co < cout; ++co)
            for (std::int64_t oh = 0; oh < ho; ++oh)
                for (std::int64_t ow = 0; ow < wo; ++ow) {
                    double s = vb.empty() ? 0.0 : vb[std::size_t(co)];
                    const std::int64_t g = co / coutg;
                    for (std::int64_t c = 0; c < cg; ++c)
                        for (std::int64_t ki = 0; ki < kh; ++ki)
                            for (std::int64_t kj = 0; kj < kw; ++kj) {
                                const std::int64_t ih = oh * p.stride[0] - p.padding[0] + ki * p.dilation[0];
                                const std::int64_t iw = ow * p.stride[1] - p.padding[1] + kj * p.dilation[1];
                                if (ih < 0 || ih >= h || iw < 0 || iw >= wd) continue;
                                s += vw[std::size_t(((co * cg + c) * kh + ki) * kw + kj)] *
                                     vx[std::size_t(((i * cin + g * cg + c) * h + ih) * wd + iw)];
                            }
                    y.push_back(s);
                }
    return y;
}

}  // namespace

// ---- conv2d -------------------------------------------------------------------------------------

TEST_CASE("layers: conv2d output shapes") {
    const Tensor x = zeros({2, 3, 7, 9});
    CHECK_SHAPE(conv2d(x, zeros({4, 3, 3, 3})), {2, 4, 5, 7});
    CHECK_SHAPE(conv2d(x, zeros({4, 3, 3, 3}), Tensor(), conv_params({2, 2}, {1, 1}, {1, 1}, 1)), {2, 4, 4, 5});
    CHECK_SHAPE(conv2d(x, zeros({4, 3, 3, 3}), Tensor(), conv_params({1, 1}, {2, 2}, {2, 2}, 1)), {2, 4, 7, 9});
    CHECK_SHAPE(conv2d(x, zeros({4, 3, 7, 7}), Tensor(), conv_params({2, 2}, {3, 3}, {1, 1}, 1)), {2, 4, 4, 5});
    CHECK_SHAPE(conv2d(x, zeros({6, 1, 3, 3}), Tensor(), conv_params({1, 1}, {1, 1}, {1, 1}, 3)), {2, 6, 7, 9});
}

TEST_CASE("layers: conv2d gradients (float64 gradcheck) over strides, padding, dilation, groups, depthwise") {
    struct Variant {
        const char* name;
        Shape x, w;
        Conv2dParams p;
        bool bias;
    };
    const std::vector<Variant> variants = {
        {"3x3 s1 p1 bias", {2, 3, 7, 9}, {4, 3, 3, 3}, conv_params({1, 1}, {1, 1}, {1, 1}, 1), true},
        {"3x3 s2 p1", {2, 3, 7, 9}, {4, 3, 3, 3}, conv_params({2, 2}, {1, 1}, {1, 1}, 1), false},
        {"3x3 dilation 2", {1, 2, 9, 8}, {3, 2, 3, 3}, conv_params({1, 1}, {2, 1}, {2, 2}, 1), true},
        {"groups 2, stride (2, 1)", {2, 4, 7, 9}, {6, 2, 3, 3}, conv_params({2, 1}, {1, 0}, {1, 1}, 2), true},
        {"depthwise 3x3", {2, 4, 7, 9}, {4, 1, 3, 3}, conv_params({1, 1}, {1, 1}, {1, 1}, 4), true},
        {"depthwise 5x5 s2 multiplier 2", {1, 3, 9, 8}, {6, 1, 5, 5}, conv_params({2, 2}, {2, 2}, {1, 1}, 3), false},
        {"depthwise dilated", {1, 2, 7, 9}, {2, 1, 3, 3}, conv_params({1, 2}, {2, 1}, {2, 1}, 2), true},
        {"1x1", {2, 5, 7, 9}, {3, 5, 1, 1}, conv_params({1, 1}, {0, 0}, {1, 1}, 1), true},
        {"1x1 stride 2", {2, 4, 7, 9}, {3, 4, 1, 1}, conv_params({2, 2}, {0, 0}, {1, 1}, 1), false},
        {"1x1 padded", {1, 3, 4, 5}, {2, 3, 1, 1}, conv_params({1, 1}, {1, 1}, {1, 1}, 1), false},
        {"7x7 s2 p3 one input channel", {1, 1, 11, 10}, {5, 1, 7, 7}, conv_params({2, 2}, {3, 3}, {1, 1}, 1), true},
        {"asymmetric 3x1", {1, 3, 6, 5}, {2, 3, 3, 1}, conv_params({1, 2}, {1, 0}, {2, 1}, 1), true},
    };
    std::uint64_t seed = 10;
    for (const auto& v : variants) {
        INFO("variant ", v.name);
        const Tensor x = randn64(v.x, seed++), w = randn64(v.w, seed++);
        const Tensor b = v.bias ? randn64({v.w[0]}, seed++) : Tensor();
        const Conv2dParams p = v.p;
        std::vector<Tensor> inputs{x, w};
        if (v.bias) inputs.push_back(b);
        REQUIRE_GRADCHECK([p](const std::vector<Tensor>& in) {
            return conv2d(in[0], in[1], in.size() > 2 ? in[2] : Tensor(), p);
        }, inputs);
    }
}

TEST_CASE("layers: conv2d matches a direct loop, and its backward the adjoint identities, on multi-tile problems") {
    struct Variant {
        const char* name;
        Shape x, w;
        Conv2dParams p;
    };
    // Sizes chosen so that the GEMM path splits the pixels into several tiles and the
    // weight gradient into several row chunks.
    const std::vector<Variant> variants = {
        {"3x3 32 channels", {2, 32, 33, 35}, {8, 32, 3, 3}, conv_params({1, 1}, {1, 1}, {1, 1}, 1)},
        {"3x3 stride 2 groups 2", {2, 32, 41, 39}, {6, 16, 3, 3}, conv_params({2, 2}, {1, 1}, {1, 1}, 2)},
        {"5x5 dilated", {1, 24, 30, 31}, {4, 24, 5, 5}, conv_params({1, 1}, {4, 3}, {2, 2}, 1)},
        {"1x1 300 channels", {2, 300, 30, 30}, {3, 300, 1, 1}, conv_params({1, 1}, {0, 0}, {1, 1}, 1)},
        {"depthwise", {2, 6, 40, 37}, {6, 1, 3, 3}, conv_params({1, 1}, {1, 1}, {1, 1}, 6)},
    };
    std::uint64_t seed = 100;
    for (const auto& v : variants) {
        INFO("variant ", v.name);
        const Tensor x = randn64(v.x, seed++), w = randn64(v.w, seed++), b = randn64({v.w[0]}, seed++);
        const Tensor y = conv2d(x, w, b, v.p);
        CHECK_CLOSE(y, naive_conv2d(x, w, b, v.p), 1e-12);
        // <conv(x, w) - b, g> = <x, dx> = <w, dw> for any g: the backward passes are the adjoints.
        const Tensor g = randn64(y.shape(), seed++, false);
        const Tensor y0 = conv2d(x.detach(), w.detach(), Tensor(), v.p);
        y.backward(g);
        const double lhs = dot(y0, g);
        CHECK(std::abs(dot(x, x.grad()) - lhs) <= 1e-10 * std::abs(lhs) + 1e-9);
        CHECK(std::abs(dot(w, w.grad()) - lhs) <= 1e-10 * std::abs(lhs) + 1e-9);
        double sum_g = 0;
        for (double e : values(g)) sum_g += e;
        const auto vb = values(b.grad());
        double sum_db = 0;
        for (double e : vb) sum_db += e;
        CHECK(sum_db == doctest::Approx(sum_g).epsilon(1e-12));
    }
}

TEST_CASE("layers: conv2d and conv_transpose2d results do not depend on the number of threads") {
    test::ThreadsGuard guard;
    auto run = [](int threads) {
        set_num_threads(threads);
        Generator gen(77);
        Tensor x = randn({2, 32, 33, 35}, TensorOptions().requires_grad(true), gen);
        Tensor w = randn({8, 32, 3, 3}, TensorOptions().requires_grad(true), gen);
        Tensor b = randn({8}, TensorOptions().requires_grad(true), gen);
        Tensor xd = randn({2, 8, 20, 21}, TensorOptions().requires_grad(true), gen);
        Tensor wd = randn({8, 1, 3, 3}, TensorOptions().requires_grad(true), gen);
        Tensor wt = randn({8, 4, 3, 3}, TensorOptions().requires_grad(true), gen);
        Tensor y = conv2d(x, w, b, conv_params({1, 1}, {1, 1}, {1, 1}, 1));
        Tensor yd = conv2d(xd, wd, Tensor(), conv_params({2, 2}, {1, 1}, {1, 1}, 8));
        Tensor yt = conv_transpose2d(xd, wt, Tensor(), convt_params({2, 2}, {1, 1}, {1, 1}, {1, 1}, 1));
        const Tensor gy = randn(y.shape(), {}, gen), gyd = randn(yd.shape(), {}, gen), gyt = randn(yt.shape(), {}, gen);
        y.backward(gy);
        yd.backward(gyd);
        yt.backward(gyt);
        return std::vector<Tensor>{y, x.grad(), w.grad(), b.grad(), yd, xd.grad(), wd.grad(), yt, wt.grad()};
    };
    const auto one = run(1), two = run(2), three = run(3);
    for (std::size_t i = 0; i < one.size(); ++i) {
        INFO("result ", i);
        CHECK(test::bitwise_equal(one[i], two[i]));
        CHECK(test::bitwise_equal(one[i], three[i]));
    }
}

TEST_CASE("layers: conv2d parity with PyTorch") {
    struct Case {
        const char* name;
        Conv2dParams p;
        bool bias;
    };
    const std::vector<Case> cases = {
        {"conv_s1_p1", conv_params({1, 1}, {1, 1}, {1, 1}, 1), true},
        {"conv_s2_p1_nobias", conv_params({2, 2}, {1, 1}, {1, 1}, 1), false},
        {"conv_dil2", conv_params({1, 1}, {2, 2}, {2, 2}, 1), true},
        {"conv_groups2", conv_params({2, 1}, {1, 0}, {1, 1}, 2), true},
        {"conv_depthwise", conv_params({1, 1}, {1, 1}, {1, 1}, 6), true},
        {"conv_depthwise_s2_k5_mult2", conv_params({2, 2}, {2, 2}, {1, 1}, 4), false},
        {"conv_1x1", conv_params({1, 1}, {0, 0}, {1, 1}, 1), true},
        {"conv_1x1_s2", conv_params({2, 2}, {0, 0}, {1, 1}, 1), false},
        {"conv_stem_7x7_s2", conv_params({2, 2}, {3, 3}, {1, 1}, 1), false},
        {"conv_asym", conv_params({1, 2}, {1, 0}, {2, 1}, 1), true},
    };
    for (const auto& c : cases) {
        const Conv2dParams p = c.p;
        check_parity(c.name, c.bias ? std::vector<std::string>{"x", "w", "b"} : std::vector<std::string>{"x", "w"},
                     [p](const std::vector<Tensor>& in) { return conv2d(in[0], in[1], in.size() > 2 ? in[2] : Tensor(), p); });
    }
}

// ---- conv_transpose2d ---------------------------------------------------------------------------

TEST_CASE("layers: conv_transpose2d output shapes and adjointness to conv2d") {
    CHECK_SHAPE(conv_transpose2d(zeros({2, 4, 5, 6}), zeros({4, 3, 2, 2}), Tensor(), convt_params({2, 2}, {0, 0}, {0, 0}, {1, 1}, 1)),
                {2, 3, 10, 12});
    CHECK_SHAPE(conv_transpose2d(zeros({2, 4, 5, 6}), zeros({4, 3, 3, 3}), Tensor(), convt_params({2, 2}, {1, 1}, {1, 1}, {1, 1}, 1)),
                {2, 3, 10, 12});
    CHECK_SHAPE(conv_transpose2d(zeros({1, 4, 5, 6}), zeros({4, 2, 3, 3}), Tensor(), convt_params({1, 1}, {1, 1}, {0, 0}, {2, 2}, 2)),
                {1, 4, 7, 8});
    // <conv_transpose2d(x, w), y> = <x, conv2d(y, w)> with the same stride, padding, dilation, groups.
    const Tensor x = randn64({2, 4, 5, 6}, 1, false), w = randn64({4, 3, 3, 3}, 2, false);
    const Tensor yt = conv_transpose2d(x, w, Tensor(), convt_params({2, 2}, {1, 1}, {1, 1}, {1, 1}, 1));
    const Tensor y = randn64(yt.shape(), 3, false);
    const Tensor cy = conv2d(y, w, Tensor(), conv_params({2, 2}, {1, 1}, {1, 1}, 1));
    CHECK(dot(yt, y) == doctest::Approx(dot(x, cy)).epsilon(1e-12));
}

TEST_CASE("layers: conv_transpose2d gradients (float64 gradcheck)") {
    struct Variant {
        const char* name;
        Shape x, w;
        ConvTranspose2dParams p;
        bool bias;
    };
    const std::vector<Variant> variants = {
        {"k2 s2 bias", {2, 3, 4, 5}, {3, 2, 2, 2}, convt_params({2, 2}, {0, 0}, {0, 0}, {1, 1}, 1), true},
        {"k3 s2 p1 op1", {1, 3, 4, 5}, {3, 4, 3, 3}, convt_params({2, 2}, {1, 1}, {1, 1}, {1, 1}, 1), true},
        {"groups 2", {2, 4, 3, 4}, {4, 3, 3, 3}, convt_params({2, 1}, {1, 0}, {0, 0}, {1, 1}, 2), false},
        {"dilation 2", {1, 2, 4, 5}, {2, 3, 3, 3}, convt_params({1, 1}, {1, 1}, {0, 0}, {2, 2}, 1), true},
        {"depthwise", {1, 3, 5, 4}, {3, 1, 3, 3}, convt_params({2, 2}, {1, 1}, {1, 0}, {1, 1}, 3), true},
        {"1x1", {2, 3, 4, 5}, {3, 2, 1, 1}, convt_params({1, 1}, {0, 0}, {0, 0}, {1, 1}, 1), true},
        {"asymmetric with output padding", {1, 2, 4, 5}, {2, 3, 3, 2}, convt_params({3, 2}, {1, 0}, {2, 1}, {1, 1}, 1), true},
    };
    std::uint64_t seed = 200;
    for (const auto& v : variants) {
        INFO("variant ", v.name);
        const Tensor x = randn64(v.x, seed++), w = randn64(v.w, seed++);
        const Tensor b = v.bias ? randn64({v.w[1] * v.p.groups}, seed++) : Tensor();
        const ConvTranspose2dParams p = v.p;
        std::vector<Tensor> inputs{x, w};
        if (v.bias) inputs.push_back(b);
        REQUIRE_GRADCHECK([p](const std::vector<Tensor>& in) {
            return conv_transpose2d(in[0], in[1], in.size() > 2 ? in[2] : Tensor(), p);
        }, inputs);
    }
}

TEST_CASE("layers: conv_transpose2d parity with PyTorch") {
    struct Case {
        const char* name;
        ConvTranspose2dParams p;
        bool bias;
    };
    const std::vector<Case> cases = {
        {"convt_k2_s2", convt_params({2, 2}, {0, 0}, {0, 0}, {1, 1}, 1), true},
        {"convt_s2_p1_op1", convt_params({2, 2}, {1, 1}, {1, 1}, {1, 1}, 1), true},
        {"convt_groups2", convt_params({2, 2}, {1, 1}, {0, 0}, {1, 1}, 2), false},
        {"convt_dil2", convt_params({1, 1}, {1, 1}, {0, 0}, {2, 2}, 1), true},
        {"convt_s1", convt_params({1, 1}, {0, 0}, {0, 0}, {1, 1}, 1), false},
        {"convt_asym_op", convt_params({3, 2}, {1, 0}, {2, 1}, {1, 1}, 1), true},
    };
    for (const auto& c : cases) {
        const ConvTranspose2dParams p = c.p;
        check_parity(c.name, c.bias ? std::vector<std::string>{"x", "w", "b"} : std::vector<std::string>{"x", "w"},
                     [p](const std::vector<Tensor>& in) {
                         return conv_transpose2d(in[0], in[1], in.size() > 2 ? in[2] : Tensor(), p);
                     });
    }
}

TEST_CASE("layers: conv errors name the op and the shapes") {
    const Tensor x = zeros({2, 3, 8, 8}), w = zeros({4, 3, 3, 3});
    CHECK_ERROR(conv2d(zeros({3, 8, 8}), w), "conv2d", "4-D input", "[3, 8, 8]");
    CHECK_ERROR(conv2d(x, zeros({4, 3, 3})), "conv2d", "4-D weight", "[4, 3, 3]");
    CHECK_ERROR(conv2d(x, zeros({4, 2, 3, 3})), "conv2d", "[2, 3, 8, 8]", "[4, 2, 3, 3]", "3 channels");
    CHECK_ERROR(conv2d(zeros({2, 4, 8, 8}), zeros({4, 1, 3, 3}), Tensor(), conv_params({1, 1}, {0, 0}, {1, 1}, 3)),
                "conv2d", "groups=3", "[2, 4, 8, 8]");
    CHECK_ERROR(conv2d(x, w, zeros({3})), "conv2d", "bias [3]", "[4, 3, 3, 3]");
    CHECK_ERROR(conv2d(zeros({1, 3, 2, 2}), w), "conv2d", "[1, 3, 2, 2]", "smaller than the dilated kernel");
    CHECK_ERROR(conv2d(x, w.to(DType::Float64)), "conv2d", "dtype mismatch");
    CHECK_ERROR(conv2d(x, w, Tensor(), conv_params({0, 1}, {0, 0}, {1, 1}, 1)), "conv2d", "stride");
    CHECK_ERROR(conv2d(x, w, Tensor(), conv_params({1, 1}, {-1, 0}, {1, 1}, 1)), "conv2d", "padding");
    CHECK_ERROR(conv2d(x, w, Tensor(), conv_params({1, 1}, {0, 0}, {1, 0}, 1)), "conv2d", "dilation");
    CHECK_ERROR(conv2d(zeros({2, 3, 8, 8}, DType::Int64), zeros({4, 3, 3, 3}, DType::Int64)), "conv2d", "floating");
    CHECK_ERROR(conv_transpose2d(x, zeros({4, 2, 3, 3})), "conv_transpose2d", "[2, 3, 8, 8]", "[4, 2, 3, 3]");
    CHECK_ERROR(conv_transpose2d(x, zeros({3, 2, 3, 3}), Tensor(), convt_params({2, 2}, {0, 0}, {2, 2}, {1, 1}, 1)),
                "conv_transpose2d", "output_padding");
    CHECK_ERROR(conv_transpose2d(x, zeros({3, 2, 3, 3}), zeros({3})), "conv_transpose2d", "bias [3]");
}

// ---- pooling ------------------------------------------------------------------------------------

TEST_CASE("layers: max_pool2d output sizes follow PyTorch, ceil_mode included") {
    CHECK_SHAPE(max_pool2d(zeros({1, 1, 8, 10}), pool_params(2, 0, 0, 1, false)), {1, 1, 4, 5});
    CHECK_SHAPE(max_pool2d(zeros({1, 1, 7, 9}), pool_params(2, 0, 0, 1, false)), {1, 1, 3, 4});
    CHECK_SHAPE(max_pool2d(zeros({1, 1, 7, 9}), pool_params(2, 0, 0, 1, true)), {1, 1, 4, 5});
    CHECK_SHAPE(max_pool2d(zeros({1, 1, 7, 9}), pool_params(3, 2, 1, 1, false)), {1, 1, 4, 5});
    CHECK_SHAPE(max_pool2d(zeros({1, 1, 7, 9}), pool_params(3, 2, 1, 1, true)), {1, 1, 4, 5});
    // ceil_mode's rule: a last window that would start in the right padding is dropped
    // (6 + 2*1 - 2 + 1) / 2 + 1 = 5 windows, but the 5th starts at 8 - 1 = 7 >= 6 + 1: 4.
    CHECK_SHAPE(max_pool2d(zeros({1, 1, 6, 6}), pool_params(2, 2, 1, 1, true)), {1, 1, 4, 4});
    CHECK_SHAPE(max_pool2d(zeros({1, 1, 9, 11}), pool_params(3, 1, 1, 2, false)), {1, 1, 7, 9});
}

TEST_CASE("layers: max_pool2d values, -inf padding and the gradient routing") {
    // A 4x4 plane, k2 s2: each output is its window's max, and the gradient goes there only.
    Tensor x = from_vector<double>({1, 5, 2, 0, 3, 4, 8, 1, -1, -2, -3, -4, -6, -5, -9, -7}, {1, 1, 4, 4},
                                   TensorOptions(DType::Float64).requires_grad(true));
    Tensor y = max_pool2d(x, pool_params(2, 0, 0, 1, false));
    CHECK(values(y) == std::vector<double>{5, 8, -1, -3});
    y.backward(from_vector<double>({1, 2, 3, 4}, {1, 1, 2, 2}));
    CHECK(values(x.grad()) == std::vector<double>{0, 1, 0, 0, 0, 0, 2, 0, 3, 0, 4, 0, 0, 0, 0, 0});
    // Padding is -inf, not 0: an all-negative input keeps its negative maxima.
    const Tensor neg = full({1, 1, 3, 3}, -2.0);
    CHECK(values(max_pool2d(neg, pool_params(3, 1, 1, 1, false))) == std::vector<double>(9, -2.0));
}

TEST_CASE("layers: max_pool2d gradients (float64 gradcheck)") {
    const std::vector<std::pair<const char*, MaxPool2dParams>> variants = {
        {"k2", pool_params(2, 0, 0, 1, false)},           {"k3 s2 p1", pool_params(3, 2, 1, 1, false)},
        {"k3 s2 p1 ceil", pool_params(3, 2, 1, 1, true)}, {"k2 ceil", pool_params(2, 2, 0, 1, true)},
        {"k3 s1 p1 dilation 2", pool_params(3, 1, 1, 2, false)},
    };
    test::Data data(5);
    for (const auto& [name, p] : variants) {
        INFO("variant ", name);
        const Tensor x = data.distinct_tensor({2, 2, 7, 9});  // no ties: the max is differentiable
        REQUIRE_GRADCHECK([p](const std::vector<Tensor>& in) { return max_pool2d(in[0], p); }, {x});
    }
}

TEST_CASE("layers: max_pool2d parity with PyTorch") {
    const std::vector<std::pair<const char*, MaxPool2dParams>> cases = {
        {"maxpool_k2", pool_params(2, 0, 0, 1, false)},
        {"maxpool_k3_s2_p1", pool_params(3, 2, 1, 1, false)},
        {"maxpool_k3_s2_p1_ceil", pool_params(3, 2, 1, 1, true)},
        {"maxpool_k2_ceil", pool_params(2, 0, 0, 1, true)},
        {"maxpool_dil2", pool_params(3, 1, 1, 2, false)},
    };
    for (const auto& [name, p] : cases) {
        const MaxPool2dParams q = p;
        check_parity(name, {"x"}, [q](const std::vector<Tensor>& in) { return max_pool2d(in[0], q); });
    }
}

TEST_CASE("layers: adaptive_avg_pool2d windows, gradients and parity") {
    // 7 rows into 3: [0, 3), [2, 5), [4, 7) (floor(i*7/3), ceil((i+1)*7/3)): overlapping windows.
    const Tensor rows = from_vector<double>({0, 1, 2, 3, 4, 5, 6}, {1, 1, 7, 1});
    CHECK(values(adaptive_avg_pool2d(rows, {3, 1})) == std::vector<double>{1, 3, 5});
    CHECK_SHAPE(adaptive_avg_pool2d(zeros({2, 3, 7, 9}), {1, 1}), {2, 3, 1, 1});
    for (const auto& size : std::vector<std::array<std::int64_t, 2>>{{1, 1}, {3, 5}, {6, 7}, {7, 9}}) {
        INFO("output size ", size[0], "x", size[1]);
        const Tensor x = randn64({2, 2, 7, 9}, 300 + std::uint64_t(size[0]));
        REQUIRE_GRADCHECK([size](const std::vector<Tensor>& in) { return adaptive_avg_pool2d(in[0], size); }, {x});
    }
    check_parity("aavg_1x1", {"x"}, [](const std::vector<Tensor>& in) { return adaptive_avg_pool2d(in[0], {1, 1}); });
    check_parity("aavg_3x5", {"x"}, [](const std::vector<Tensor>& in) { return adaptive_avg_pool2d(in[0], {3, 5}); });
    check_parity("aavg_up", {"x"}, [](const std::vector<Tensor>& in) { return adaptive_avg_pool2d(in[0], {6, 7}); });
}

TEST_CASE("layers: pooling errors") {
    CHECK_ERROR(max_pool2d(zeros({3, 8, 8}), pool_params(2, 0, 0, 1, false)), "max_pool2d", "4-D", "[3, 8, 8]");
    CHECK_ERROR(max_pool2d(zeros({1, 1, 8, 8}), pool_params(2, 0, 2, 1, false)), "max_pool2d", "padding",
                "half the kernel");
    CHECK_ERROR(max_pool2d(zeros({1, 1, 2, 2}), pool_params(3, 1, 0, 1, false)), "max_pool2d", "[1, 1, 2, 2]",
                "too small");
    CHECK_ERROR(adaptive_avg_pool2d(zeros({1, 1, 4, 4}), {0, 2}), "adaptive_avg_pool2d", "output_size");
    CHECK_ERROR(adaptive_avg_pool2d(zeros({4, 4}), {2, 2}), "adaptive_avg_pool2d", "4-D", "[4, 4]");
}

// ---- interpolation ------------------------------------------------------------------------------

TEST_CASE("layers: upsample index rules") {
    // nearest 5 -> 11: src = floor(dst * (5 / 11 in float)).
    const Tensor x = from_vector<double>({0, 1, 2, 3, 4}, {1, 1, 1, 5});
    const auto near = values(upsample_nearest2d(x, {1, 11}));
    for (std::int64_t j = 0; j < 11; ++j)
        CHECK(near[std::size_t(j)] == double(std::min<std::int64_t>(4, std::int64_t(std::floor(float(j) * (5.0f / 11.0f))))));
    CHECK(values(upsample_nearest2d(x, 2.0)) ==
          std::vector<double>{0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4});  // [1, 1, 2, 10]
    CHECK_SHAPE(upsample_nearest2d(zeros({1, 1, 5, 7}), 1.5), {1, 1, 7, 10});
    // bilinear, align_corners: the corners coincide, 5 -> 9 lands on every half step.
    const auto ac = values(upsample_bilinear2d(x, {1, 9}, true));
    for (std::size_t j = 0; j < 9; ++j) CHECK(ac[j] == doctest::Approx(0.5 * double(j)));
    // bilinear, half-pixel centres, x2: 0, 0.25, 0.75, 1.25, ..., 3.75, 4 (edges clamped); the
    // first of the two output rows.
    const auto hp = values(upsample_bilinear2d(x, 2.0, false));
    const std::vector<double> expected{0, 0.25, 0.75, 1.25, 1.75, 2.25, 2.75, 3.25, 3.75, 4};
    for (std::size_t j = 0; j < expected.size(); ++j) CHECK(hp[j] == doctest::Approx(expected[j]));
    // Same size: the identity.
    const Tensor y = randn64({1, 2, 3, 4}, 9, false);
    CHECK(test::bitwise_equal(upsample_bilinear2d(y, {3, 4}, false), y));
    CHECK(test::bitwise_equal(upsample_nearest2d(y, {3, 4}), y));
}

TEST_CASE("layers: upsample gradients (float64 gradcheck)") {
    const Tensor x = randn64({2, 2, 5, 7}, 400);
    const std::vector<std::pair<const char*, Fn>> variants = {
        {"nearest to 11x13", [](const std::vector<Tensor>& in) { return upsample_nearest2d(in[0], {11, 13}); }},
        {"nearest to 3x4", [](const std::vector<Tensor>& in) { return upsample_nearest2d(in[0], {3, 4}); }},
        {"nearest x2", [](const std::vector<Tensor>& in) { return upsample_nearest2d(in[0], 2.0); }},
        {"nearest x1.5", [](const std::vector<Tensor>& in) { return upsample_nearest2d(in[0], 1.5); }},
        {"bilinear 9x13 align", [](const std::vector<Tensor>& in) { return upsample_bilinear2d(in[0], {9, 13}, true); }},
        {"bilinear 9x13", [](const std::vector<Tensor>& in) { return upsample_bilinear2d(in[0], {9, 13}, false); }},
        {"bilinear 3x4", [](const std::vector<Tensor>& in) { return upsample_bilinear2d(in[0], {3, 4}, false); }},
        {"bilinear x2", [](const std::vector<Tensor>& in) { return upsample_bilinear2d(in[0], 2.0, false); }},
        {"bilinear x2 align", [](const std::vector<Tensor>& in) { return upsample_bilinear2d(in[0], 2.0, true); }},
        {"bilinear x1.7", [](const std::vector<Tensor>& in) { return upsample_bilinear2d(in[0], 1.7, false); }},
        {"bilinear to 1x1 align", [](const std::vector<Tensor>& in) { return upsample_bilinear2d(in[0], {1, 1}, true); }},
    };
    for (const auto& [name, f] : variants) {
        INFO("variant ", name);
        REQUIRE_GRADCHECK(f, {x});
    }
}

TEST_CASE("layers: upsample parity with PyTorch") {
    const std::vector<std::pair<const char*, Fn>> cases = {
        {"nearest_size", [](const std::vector<Tensor>& in) { return upsample_nearest2d(in[0], {11, 13}); }},
        {"nearest_size_x2", [](const std::vector<Tensor>& in) { return upsample_nearest2d(in[0], {10, 14}); }},
        {"nearest_size_down", [](const std::vector<Tensor>& in) { return upsample_nearest2d(in[0], {3, 4}); }},
        {"nearest_scale2", [](const std::vector<Tensor>& in) { return upsample_nearest2d(in[0], 2.0); }},
        {"nearest_scale1.5", [](const std::vector<Tensor>& in) { return upsample_nearest2d(in[0], 1.5); }},
        {"bilinear_size_ac", [](const std::vector<Tensor>& in) { return upsample_bilinear2d(in[0], {9, 13}, true); }},
        {"bilinear_size", [](const std::vector<Tensor>& in) { return upsample_bilinear2d(in[0], {9, 13}, false); }},
        {"bilinear_size_down", [](const std::vector<Tensor>& in) { return upsample_bilinear2d(in[0], {3, 4}, false); }},
        {"bilinear_scale2", [](const std::vector<Tensor>& in) { return upsample_bilinear2d(in[0], 2.0, false); }},
        {"bilinear_scale2_ac", [](const std::vector<Tensor>& in) { return upsample_bilinear2d(in[0], 2.0, true); }},
        {"bilinear_scale1.7", [](const std::vector<Tensor>& in) { return upsample_bilinear2d(in[0], 1.7, false); }},
    };
    for (const auto& [name, f] : cases) check_parity(name, {"x"}, f);
}

TEST_CASE("layers: upsample errors") {
    CHECK_ERROR(upsample_nearest2d(zeros({3, 4, 4}), {8, 8}), "upsample_nearest2d", "4-D", "[3, 4, 4]");
    CHECK_ERROR(upsample_bilinear2d(zeros({1, 1, 4, 4}), 0.0, false), "upsample_bilinear2d", "scale_factor");
    CHECK_ERROR(upsample_nearest2d(zeros({1, 1, 4, 4}), 0.1), "upsample_nearest2d", "[1, 1, 4, 4]", "empty");
    CHECK_ERROR(upsample_bilinear2d(zeros({1, 1, 4, 4}), {0, 3}, true), "upsample_bilinear2d", "empty");
}

// ---- batch norm ---------------------------------------------------------------------------------

TEST_CASE("layers: batch_norm training normalises with the biased batch variance and updates running stats") {
    const Tensor x = randn64({3, 2, 4, 5}, 500, false);
    Tensor rm = from_vector<double>({0.5, -0.25}), rv = from_vector<double>({2.0, 0.5});
    const Tensor w = from_vector<double>({1.5, 0.5}), b = from_vector<double>({0.1, -0.2});
    const std::uint64_t version = rm.version();
    const Tensor y = batch_norm(x, rm, rv, w, b, true, 0.2, 1e-3);
    CHECK(rm.version() > version);
    const auto vx = values(x), vy = values(y);
    const std::int64_t m = 3 * 20;
    for (std::int64_t c = 0; c < 2; ++c) {
        double mean = 0, sq = 0;
        for (std::int64_t n = 0; n < 3; ++n)
            for (std::int64_t s = 0; s < 20; ++s) mean += vx[std::size_t((n * 2 + c) * 20 + s)];
        mean /= double(m);
        for (std::int64_t n = 0; n < 3; ++n)
            for (std::int64_t s = 0; s < 20; ++s) sq += std::pow(vx[std::size_t((n * 2 + c) * 20 + s)] - mean, 2);
        const double var_biased = sq / double(m), var_unbiased = sq / double(m - 1);
        const double gamma = c == 0 ? 1.5 : 0.5, beta = c == 0 ? 0.1 : -0.2;
        for (std::int64_t n = 0; n < 3; ++n)
            for (std::int64_t s = 0; s < 20; ++s) {
                const auto i = std::size_t((n * 2 + c) * 20 + s);
                CHECK(vy[i] == doctest::Approx(gamma * (vx[i] - mean) / std::sqrt(var_biased + 1e-3) + beta).epsilon(1e-12));
            }
        const double rm0 = c == 0 ? 0.5 : -0.25, rv0 = c == 0 ? 2.0 : 0.5;
        CHECK(rm.at<double>({c}) == doctest::Approx(0.8 * rm0 + 0.2 * mean).epsilon(1e-12));
        CHECK(rv.at<double>({c}) == doctest::Approx(0.8 * rv0 + 0.2 * var_unbiased).epsilon(1e-12));
    }
}

TEST_CASE("layers: batch_norm eval mode uses the running statistics and leaves them alone") {
    const Tensor x = randn64({2, 3, 3, 4}, 501, false);
    Tensor rm = from_vector<double>({0.5, -0.25, 1.0}), rv = from_vector<double>({2.0, 0.5, 1.5});
    const Tensor w = from_vector<double>({1.5, 0.5, -1.0}), b = from_vector<double>({0.1, -0.2, 0.3});
    const Tensor y = batch_norm(x, rm, rv, w, b, false);
    CHECK(values(rm) == std::vector<double>{0.5, -0.25, 1.0});
    CHECK(values(rv) == std::vector<double>{2.0, 0.5, 1.5});
    const auto vx = values(x), vy = values(y), vm = values(rm), vv = values(rv), vw = values(w), vb = values(b);
    for (std::size_t i = 0; i < vx.size(); ++i) {
        const std::size_t c = (i / 12) % 3;
        CHECK(vy[i] == doctest::Approx(vw[c] * (vx[i] - vm[c]) / std::sqrt(vv[c] + 1e-5) + vb[c]).epsilon(1e-12));
    }
    // Without running statistics, eval mode normalises with the batch statistics.
    const Tensor batch_stats = batch_norm(x, Tensor(), Tensor(), w, b, true);
    CHECK(test::bitwise_equal(batch_norm(x, Tensor(), Tensor(), w, b, false), batch_stats));
    // A batch of one value per channel is fine in eval mode but not in training.
    CHECK_SHAPE(batch_norm(zeros({1, 3, 1, 1}, DType::Float64), rm, rv, w, b, false), {1, 3, 1, 1});
    CHECK_ERROR(batch_norm(zeros({1, 3, 1, 1}, DType::Float64), rm, rv, w, b, true), "batch_norm",
                "more than 1 value per channel", "[1, 3, 1, 1]");
}

TEST_CASE("layers: batch_norm gradients (float64 gradcheck), training and eval, with and without affine") {
    const Tensor rm = from_vector<double>({0.3, -0.1, 0.2}), rv = from_vector<double>({1.2, 0.7, 2.0});
    const Tensor w = randn64({3}, 601), b = randn64({3}, 602);
    for (const Shape& shape : std::vector<Shape>{{4, 3, 3, 5}, {5, 3}, {2, 3, 7}}) {
        INFO("input ", shape_str(shape));
        const Tensor x = randn64(shape, 600 + std::uint64_t(shape.size()));
        REQUIRE_GRADCHECK([](const std::vector<Tensor>& in) { return batch_norm(in[0], Tensor(), Tensor(), in[1], in[2], true); },
                          {x, w, b});
        REQUIRE_GRADCHECK([](const std::vector<Tensor>& in) { return batch_norm(in[0], Tensor(), Tensor(), Tensor(), Tensor(), true, 0.1, 1e-3); },
                          {x});
        const Fn eval_mode = [rm, rv](const std::vector<Tensor>& in) { return batch_norm(in[0], rm, rv, in[1], in[2], false); };
        REQUIRE_GRADCHECK(eval_mode, {x, w, b});
    }
}

TEST_CASE("layers: batch_norm parity with PyTorch, running statistics after 1 and 3 steps") {
    const auto& f = fixture();
    {  // training, affine
        Tensor rm = f.get("bn_train.rm0"), rv = f.get("bn_train.rv0");
        check_parity("bn_train", {"x", "w", "b"}, [&](const std::vector<Tensor>& in) {
            return batch_norm(in[0], rm, rv, in[1], in[2], true, 0.1, 1e-5);
        });
        CHECK_CLOSE(rm, f.get("bn_train.rm1"), kParityTolerance);
        CHECK_CLOSE(rv, f.get("bn_train.rv1"), kParityTolerance);
        const Tensor w = f.get("bn_train.w"), b = f.get("bn_train.b");
        batch_norm(f.get("bn_train.x2"), rm, rv, w, b, true, 0.1, 1e-5);
        batch_norm(f.get("bn_train.x3"), rm, rv, w, b, true, 0.1, 1e-5);
        CHECK_CLOSE(rm, f.get("bn_train.rm3"), kParityTolerance);
        CHECK_CLOSE(rv, f.get("bn_train.rv3"), kParityTolerance);
    }
    {  // training, no affine, momentum 0.3, eps 1e-3
        Tensor rm = f.get("bn_train_noaffine_m03.rm0"), rv = f.get("bn_train_noaffine_m03.rv0");
        check_parity("bn_train_noaffine_m03", {"x"}, [&](const std::vector<Tensor>& in) {
            return batch_norm(in[0], rm, rv, Tensor(), Tensor(), true, 0.3, 1e-3);
        });
        CHECK_CLOSE(rm, f.get("bn_train_noaffine_m03.rm1"), kParityTolerance);
        CHECK_CLOSE(rv, f.get("bn_train_noaffine_m03.rv1"), kParityTolerance);
        batch_norm(f.get("bn_train_noaffine_m03.x2"), rm, rv, Tensor(), Tensor(), true, 0.3, 1e-3);
        batch_norm(f.get("bn_train_noaffine_m03.x3"), rm, rv, Tensor(), Tensor(), true, 0.3, 1e-3);
        CHECK_CLOSE(rm, f.get("bn_train_noaffine_m03.rm3"), kParityTolerance);
        CHECK_CLOSE(rv, f.get("bn_train_noaffine_m03.rv3"), kParityTolerance);
    }
    {  // eval
        const Tensor rm = f.get("bn_eval.rm0"), rv = f.get("bn_eval.rv0");
        check_parity("bn_eval", {"x", "w", "b"}, [&](const std::vector<Tensor>& in) {
            return batch_norm(in[0], rm, rv, in[1], in[2], false, 0.1, 1e-5);
        });
        CHECK(test::bitwise_equal(rm, f.get("bn_eval.rm0")));
    }
}

TEST_CASE("layers: batch_norm errors name the op and both shapes") {
    const Tensor x = zeros({2, 4, 5, 5});
    CHECK_ERROR(batch_norm(x, Tensor(), Tensor(), zeros({3}), Tensor(), true), "batch_norm", "weight [3]",
                "[2, 4, 5, 5]");
    CHECK_ERROR(batch_norm(x, zeros({4}), Tensor(), Tensor(), Tensor(), true), "batch_norm", "together");
    CHECK_ERROR(batch_norm(x, zeros({5}), ones({5}), Tensor(), Tensor(), true), "batch_norm", "running_mean [5]",
                "[2, 4, 5, 5]");
    CHECK_ERROR(batch_norm(zeros({4}), Tensor(), Tensor(), Tensor(), Tensor(), true), "batch_norm", "rank >= 2", "[4]");
    CHECK_ERROR(batch_norm(x, Tensor(), Tensor(), zeros({4}, DType::Float64), Tensor(), true), "batch_norm", "float64");
}

// ---- silu and dropout ---------------------------------------------------------------------------

TEST_CASE("layers: silu values, gradient and parity") {
    const Tensor x = from_vector<double>({-800.0, -3.0, 0.0, 2.0, 700.0});
    const auto y = values(silu(x));
    CHECK(y[0] == 0.0);
    CHECK(y[1] == doctest::Approx(-3.0 / (1.0 + std::exp(3.0))));
    CHECK(y[2] == 0.0);
    CHECK(y[3] == doctest::Approx(2.0 / (1.0 + std::exp(-2.0))));
    CHECK(y[4] == 700.0);
    REQUIRE_GRADCHECK([](const std::vector<Tensor>& in) { return silu(in[0]); }, {randn64({4, 9}, 700)});
    check_parity("silu", {"x"}, [](const std::vector<Tensor>& in) { return silu(in[0]); });
}

TEST_CASE("layers: dropout statistics, scaling, reproducibility and identity in eval") {
    const Tensor x = ones({200000});
    Generator gen(42);
    const Tensor y = dropout(x, 0.3, true, gen);
    const auto v = values(y);
    std::int64_t zeros_count = 0;
    double total = 0;
    const double scale = double(1.0f / 0.7f);  // float32 1 / (1 - p)
    for (double e : v) {
        if (e == 0.0) ++zeros_count;
        else CHECK_MESSAGE(std::abs(e - scale) < 1e-6, "kept value ", e);
        total += e;
    }
    // Binomial(200000, 0.3): standard deviation of the fraction ~0.001; 5 sigma.
    CHECK(std::abs(double(zeros_count) / 200000.0 - 0.3) < 0.005);
    CHECK(std::abs(total / 200000.0 - 1.0) < 0.01);  // inverted dropout keeps the mean
    // Reproducible from the seed, different on the next call.
    Generator again(42);
    CHECK(test::bitwise_equal(dropout(x, 0.3, true, again), y));
    CHECK(!test::bitwise_equal(dropout(x, 0.3, true, again), y));
    // Identity when not training or p == 0; all zeros when p == 1.
    CHECK(dropout(x, 0.3, false, gen).is_same(x));
    CHECK(dropout(x, 0.0, true, gen).is_same(x));
    CHECK(values(dropout(ones({10}), 1.0, true, gen)) == std::vector<double>(10, 0.0));
    // Independent of the number of threads.
    {
        test::ThreadsGuard guard;
        set_num_threads(1);
        Generator g1(9);
        const Tensor one = dropout(x, 0.5, true, g1);
        set_num_threads(3);
        Generator g3(9);
        CHECK(test::bitwise_equal(dropout(x, 0.5, true, g3), one));
    }
    CHECK_ERROR(dropout(x, 1.5, true, gen), "dropout", "between 0 and 1", "1.5");
    CHECK_ERROR(dropout2d(zeros({3, 4, 4}), 0.5, true, gen), "dropout2d", "4-D", "[3, 4, 4]");
}

TEST_CASE("layers: dropout2d zeroes whole channels") {
    const Tensor x = ones({64, 64, 4, 4});
    Generator gen(3);
    const auto v = values(dropout2d(x, 0.25, true, gen));
    std::int64_t dropped = 0;
    for (std::size_t plane = 0; plane < 64 * 64; ++plane) {
        const double first = v[plane * 16];
        for (std::size_t k = 1; k < 16; ++k) REQUIRE(v[plane * 16 + k] == first);  // one decision per plane
        if (first == 0.0) ++dropped;
        else CHECK(std::abs(first - double(1.0f / 0.75f)) < 1e-6);
    }
    CHECK(std::abs(double(dropped) / 4096.0 - 0.25) < 0.04);  // ~5.5 sigma
    CHECK(dropout2d(x, 0.25, false, gen).is_same(x));
}

TEST_CASE("layers: dropout gradients (float64 gradcheck with a fixed mask)") {
    const Tensor x = randn64({3, 4, 5, 2}, 800);
    REQUIRE_GRADCHECK([](const std::vector<Tensor>& in) {
        Generator gen(11);  // the same mask on every call
        return dropout(in[0], 0.4, true, gen);
    }, {x});
    REQUIRE_GRADCHECK([](const std::vector<Tensor>& in) {
        Generator gen(12);
        return dropout2d(in[0], 0.5, true, gen);
    }, {x});
}

// ---- the fixture itself -------------------------------------------------------------------------

TEST_CASE("layers: every case of the fixture is tested") {
    const std::set<std::string> tested = {
        "conv_s1_p1", "conv_s2_p1_nobias", "conv_dil2", "conv_groups2", "conv_depthwise",
        "conv_depthwise_s2_k5_mult2", "conv_1x1", "conv_1x1_s2", "conv_stem_7x7_s2", "conv_asym",
        "convt_k2_s2", "convt_s2_p1_op1", "convt_groups2", "convt_dil2", "convt_s1", "convt_asym_op",
        "maxpool_k2", "maxpool_k3_s2_p1", "maxpool_k3_s2_p1_ceil", "maxpool_k2_ceil", "maxpool_dil2",
        "aavg_1x1", "aavg_3x5", "aavg_up",
        "nearest_size", "nearest_size_x2", "nearest_size_down", "nearest_scale2", "nearest_scale1.5",
        "bilinear_size_ac", "bilinear_size", "bilinear_size_down", "bilinear_scale2", "bilinear_scale2_ac",
        "bilinear_scale1.7",
        "bn_train", "bn_train_noaffine_m03", "bn_eval", "silu",
    };
    const auto meta = nlohmann::json::parse(fixture().metadata("layers"));
    std::set<std::string> in_file;
    for (const auto& name : meta.at("cases")) in_file.insert(name.get<std::string>());
    CHECK(in_file == tested);
}

}  // namespace layers_tests
