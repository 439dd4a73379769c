// Tests that keep docs/ true: the numbers the chapters quote, checked against values computed
// independently (by hand in the comments, or by PyTorch: tools/walkthrough_reference.py), and
// docs/architecture.md's file listing against the tree.
//
//   - the walkthrough (examples/walkthrough/walkthrough.hpp) equals PyTorch's numbers;
//   - layers.md's small examples: d2l's 3x3 * 2x2 convolution, the ceil_mode trimming rule at
//     H = 5, the overlap counts of a stride-2 transposed convolution (checkerboard), backward-data
//     as a convolution with the flipped, transposed kernel, the im2col sizes of the UNet's layers;
//   - the BatchNorm factor M / (M - 1) quoted for real layers;
//   - every file of include/fbseg/ and kernels/ is listed in docs/architecture.md, and nothing else.
// (The ctest `docs_walkthrough_output` compares the walkthrough's printed output with the block
// quoted in docs/walkthrough.md; `docs_snippets` compiles the docs' C++ snippets.)
#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "../examples/walkthrough/walkthrough.hpp"
#include "fbseg/fbseg.hpp"
#include "fbseg/ops/cpu/conv_kernels.hpp"  // cpu::conv::pixel_tile, quoted in docs/layers.md

namespace docs_tests {  // a namespace of its own: the test files are compiled as one unity source

using namespace fbseg;

namespace {

std::vector<double> to_doubles(const Tensor& t) { return walkthrough::values_of(t.to(DType::Float64)); }

void check_close(const std::vector<double>& got, const std::vector<double>& expected, double tol = 1e-9) {
    REQUIRE(got.size() == expected.size());
    for (std::size_t i = 0; i < got.size(); ++i) {
        INFO("element " << i << ": got " << got[i] << ", expected " << expected[i]);
        CHECK(std::abs(got[i] - expected[i]) <= tol * std::max(1.0, std::abs(expected[i])));
    }
}

std::string read_text(const std::string& path) {
    std::ifstream in(path);
    REQUIRE_MESSAGE(in.good(), "cannot read " << path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

}  // namespace

TEST_CASE("docs: the walkthrough's numbers equal PyTorch's (tools/walkthrough_reference.py)") {
    const walkthrough::Result r = walkthrough::run_walkthrough();
    // Printed by tools/walkthrough_reference.py (torch 2.x, float64).
    CHECK(r.loss == doctest::Approx(0.624828656222).epsilon(1e-11));
    check_close(r.mean, {0.8444444444, 0.1111111111});
    check_close(r.var, {0.2602469136, 1.654320988});
    check_close(r.running_mean, {0.08444444444, 0.01111111111});
    check_close(r.running_var, {0.926768254, 1.07015873});
    check_close(std::vector<double>(r.logits.begin() + 12, r.logits.begin() + 18),
                {-0.3293670113, 1.385015495, 1.581034808, 1.581034808, 1.385015495, -0.3293670113});
    check_close(r.dw, {0.02170075437, 0.04095354566, 0.02170075437, 0.01153849579, -0.07420491869, 0.01153849579,
                       0.02170075437, 0.04095354566, 0.02170075437, -0.005532926597, -0.003314941389,
                       -0.005532926597, -0.002664212061, -0.002989410738, -0.002664212061, -0.005532926597,
                       -0.003314941389, -0.005532926597});
    check_close(std::vector<double>(r.dy.begin() + 6, r.dy.begin() + 12),
                {0.006995033031, -0.0179383371, -0.004758417069, -0.004758417069, -0.0179383371, 0.006995033031});
    check_close(std::vector<double>(r.dy.begin() + 36 + 6, r.dy.begin() + 36 + 12),
                {0.002031147037, 0.0009342738494, 0.0006990410062, 0.0006990410062, 0.0009342738494,
                 0.002031147037});
    check_close(std::vector<double>(r.d_bn_out.begin() + 6, r.d_bn_out.begin() + 12),
                {0, -0.01615570425, -0.01080625794, -0.01080625794, -0.01615570425, 0});
    // The by-hand and loop forms agree with the library, and gradcheck passes.
    check_close(r.y_by_hand, r.y, 1e-12);
    check_close(r.y_by_loops, r.y, 1e-12);
    check_close(r.dy_by_hand, r.dy, 1e-12);
    check_close(r.dw_by_hand, r.dw, 1e-12);
    check_close(r.dw_by_loops, r.dw, 1e-12);
    CHECK(r.gradcheck_ok);
    // By hand: sum(Y1) = sum_p x_p (4 - in-image neighbours of p): 1 for each of the four ellipse
    // pixels on the image's left and right edges, 0 elsewhere, so the mean is 4/36; Y0's sum is
    // sum_p x_p * (sum of the blur taps that land inside the image), mean 30.4/36.
    CHECK(r.mean[1] == doctest::Approx(4.0 / 36.0).epsilon(1e-14));
    CHECK(r.mean[0] == doctest::Approx(30.4 / 36.0).epsilon(1e-14));
}

TEST_CASE("docs: autograd.md's worked example: z = sum(exp(x) * x), x.grad = e^x (1 + x)") {
    Tensor x = from_vector<double>({1, 2, 3}, TensorOptions(DType::Float64).requires_grad());
    const Tensor y = exp(x);
    const Tensor z = sum(mul(y, x));
    z.backward();
    // By hand: z = e + 2e^2 + 3e^3 = 77.7530..., dz/dx_i = e^x_i (1 + x_i).
    CHECK(z.item<double>() == doctest::Approx(std::exp(1.0) + 2 * std::exp(2.0) + 3 * std::exp(3.0)).epsilon(1e-15));
    CHECK(z.item<double>() == doctest::Approx(77.7530).epsilon(1e-6));
    check_close(to_doubles(x.grad()), {2 * std::exp(1.0), 3 * std::exp(2.0), 4 * std::exp(3.0)}, 1e-15);
}

TEST_CASE("docs: tensor.md's table of views (shapes, strides, offsets of a [2, 3, 4] tensor)") {
    // By hand: a contiguous [2, 3, 4] has strides [12, 4, 1]; each row of the table follows.
    const Tensor x = zeros({2, 3, 4});
    CHECK(x.strides() == Shape{12, 4, 1});
    const Tensor p = x.permute({2, 0, 1});
    CHECK(p.shape() == Shape{4, 2, 3});
    CHECK(p.strides() == Shape{1, 12, 4});
    CHECK(p.offset() == x.offset());
    const Tensor s1 = x.slice(1, 1, 3);
    CHECK(s1.shape() == Shape{2, 2, 4});
    CHECK(s1.strides() == Shape{12, 4, 1});
    CHECK(s1.offset() == x.offset() + 4);
    const Tensor s2 = x.slice(2, 0, 4, 2);
    CHECK(s2.shape() == Shape{2, 3, 2});
    CHECK(s2.strides() == Shape{12, 4, 2});
    const Tensor sel = x.select(0, 1);
    CHECK(sel.shape() == Shape{3, 4});
    CHECK(sel.strides() == Shape{4, 1});
    CHECK(sel.offset() == x.offset() + 12);
    const Tensor e = zeros({1, 3}).expand({5, 3});
    CHECK(e.shape() == Shape{5, 3});
    CHECK(e.strides() == Shape{0, 1});
    const Tensor v = x.view({6, 4});
    CHECK(v.shape() == Shape{6, 4});
    CHECK(v.strides() == Shape{4, 1});
}

TEST_CASE("docs: layers.md's small convolution (d2l): [[0,1,2],[3,4,5],[6,7,8]] * [[0,1],[2,3]]") {
    // By hand: 0*0 + 1*1 + 3*2 + 4*3 = 19, 1*0 + 2*1 + 4*2 + 5*3 = 25, 3*0 + 4*1 + 6*2 + 7*3 = 37,
    // 4*0 + 5*1 + 7*2 + 8*3 = 43.
    const Tensor x = from_vector<double>({0, 1, 2, 3, 4, 5, 6, 7, 8}, {1, 1, 3, 3});
    const Tensor w = from_vector<double>({0, 1, 2, 3}, {1, 1, 2, 2});
    check_close(to_doubles(conv2d(x, w)), {19, 25, 37, 43}, 0);
}

TEST_CASE("docs: layers.md's ceil_mode example: H = 5, k = 2, s = 2, p = 1 trims the last window") {
    // Untrimmed ceil: floor((5 + 2 - 1 - 1 + 1) / 2) + 1 = 4 windows starting at -1, 1, 3, 5 (in
    // input coordinates); the fourth starts at 5 = H, entirely in the right padding:
    // (4 - 1) * 2 = 6 >= H + p = 6, so 3 windows. With H = 6 nothing is trimmed: 4.
    const Tensor x5 = arange(0, 25, 1, TensorOptions(DType::Float64)).reshape({1, 1, 5, 5});
    MaxPool2dParams p{.kernel = {2, 2}, .stride = {2, 2}, .padding = {1, 1}, .dilation = {1, 1}, .ceil_mode = true};
    const Tensor y = max_pool2d(x5, p);
    CHECK(y.shape() == Shape{1, 1, 3, 3});
    // Windows rows {-1,0}, {1,2}, {3,4} and the same columns: the maxima are x[0,0], x[0,2], x[0,4], ...
    check_close(to_doubles(y), {0, 2, 4, 10, 12, 14, 20, 22, 24}, 0);
    const Tensor x6 = zeros({1, 1, 6, 6}, TensorOptions(DType::Float64));
    CHECK(max_pool2d(x6, p).shape() == Shape{1, 1, 4, 4});
    p.ceil_mode = false;
    CHECK(max_pool2d(x6, p).shape() == Shape{1, 1, 4, 4});
}

TEST_CASE("docs: layers.md's checkerboard: a 3x3 stride-2 transposed convolution of ones counts overlaps") {
    // Output position o receives input i through tap k = o - 2 i, 0 <= k < 3: along one axis the
    // counts are 1 1 2 1 2 1 1 (even positions inside are reached twice); in 2-D the product.
    const Tensor x = ones({1, 1, 3, 3}, TensorOptions(DType::Float64));
    const Tensor w = ones({1, 1, 3, 3}, TensorOptions(DType::Float64));
    const Tensor y = conv_transpose2d(x, w, Tensor(), ConvTranspose2dParams{.stride = {2, 2}});
    REQUIRE(y.shape() == Shape{1, 1, 7, 7});
    const std::vector<double> line{1, 1, 2, 1, 2, 1, 1};
    std::vector<double> expected;
    for (double a : line)
        for (double b : line) expected.push_back(a * b);
    check_close(to_doubles(y), expected, 0);
    // Nearest-neighbour upsampling followed by a 3x3 conv reaches every output with the same
    // number of taps: on ones (padding 1) the interior is uniformly 9.
    const Tensor up = upsample_nearest2d(x, std::array<std::int64_t, 2>{6, 6});
    const Tensor z = conv2d(up, w, Tensor(), Conv2dParams{.padding = {1, 1}});
    const std::vector<double> zv = to_doubles(z);
    for (int i = 1; i < 5; ++i)
        for (int j = 1; j < 5; ++j) CHECK(zv[std::size_t(i * 6 + j)] == 9.0);
}

TEST_CASE("docs: layers.md's backward-data is a convolution of dy with the flipped, transposed kernel") {
    // For stride 1: dx = conv2d(dy, flip(w, {2, 3}).transpose(0, 1), padding = k - 1 - p).
    Generator gen(7);
    const TensorOptions f64(DType::Float64);
    Tensor x = randn({2, 3, 5, 6}, f64, gen);
    x.set_requires_grad(true);
    const Tensor w = randn({4, 3, 3, 3}, f64, gen);
    const Tensor dy = randn({2, 4, 5, 6}, f64, gen);
    conv2d(x, w, Tensor(), Conv2dParams{.padding = {1, 1}}).backward(dy);
    const Tensor w_flipped = flip(w, {2, 3}).transpose(0, 1).contiguous();  // [3, 4, 3, 3]
    const Tensor dx = conv2d(dy, w_flipped, Tensor(), Conv2dParams{.padding = {1, 1}});
    check_close(to_doubles(dx), to_doubles(x.grad()), 1e-12);
}

TEST_CASE("docs: layers.md's Winograd F(2x2, 3x3) matrices give the 3x3 convolution of a 4 x 4 patch") {
    // y = A^T [(G g G^T) (.) (B^T d B)] A, with G, B^T and A^T as layers.md writes them, against
    // the four 3x3 windows of d (cross-correlation, as conv2d), on random values.
    const double G[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
    const double BT[4][4] = {{1, 0, -1, 0}, {0, 1, 1, 0}, {0, -1, 1, 0}, {0, 1, 0, -1}};
    const double AT[2][4] = {{1, 1, 1, 0}, {0, 1, -1, -1}};
    Generator gen(11);
    const std::vector<double> dv = to_doubles(randn({4, 4}, TensorOptions(DType::Float64), gen));
    const std::vector<double> gv = to_doubles(randn({3, 3}, TensorOptions(DType::Float64), gen));
    double u[4][4] = {}, v[4][4] = {}, m[4][4], y[2][2] = {};
    for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 4; ++j)
            for (int a = 0; a < 3; ++a)
                for (int b = 0; b < 3; ++b) u[i][j] += G[i][a] * gv[std::size_t(a * 3 + b)] * G[j][b];  // G g G^T
    for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 4; ++j)
            for (int a = 0; a < 4; ++a)
                for (int b = 0; b < 4; ++b) v[i][j] += BT[i][a] * dv[std::size_t(a * 4 + b)] * BT[j][b];  // B^T d B
    for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 4; ++j) m[i][j] = u[i][j] * v[i][j];
    for (int r = 0; r < 2; ++r)
        for (int s = 0; s < 2; ++s)
            for (int i = 0; i < 4; ++i)
                for (int j = 0; j < 4; ++j) y[r][s] += AT[r][i] * m[i][j] * AT[s][j];  // A^T m A
    for (int r = 0; r < 2; ++r)
        for (int s = 0; s < 2; ++s) {
            double direct = 0;
            for (int a = 0; a < 3; ++a)
                for (int b = 0; b < 3; ++b) direct += gv[std::size_t(a * 3 + b)] * dv[std::size_t((r + a) * 4 + s + b)];
            CHECK(y[r][s] == doctest::Approx(direct).epsilon(1e-12));
        }
}

TEST_CASE("docs: the im2col sizes and BatchNorm factors quoted in layers.md and unet.md") {
    // encoder.0's second conv of the classic UNet: 32 -> 32 channels, 3x3, on 256 x 256.
    const std::int64_t k = 32 * 3 * 3, p = 256 * 256;
    CHECK(k == 288);
    CHECK(p == 65536);
    CHECK(k * p * 4 == 75497472);  // bytes of a full float32 col per image: 75.5 MB (72 MiB)
    // A tile: 2^18 / K = 910.2 columns, rounded down to a multiple of 64: 896 pixels, so a tile
    // is 288 x 896 = 258,048 floats (1,032,192 bytes) and a 256 x 256 plane takes 74 tiles.
    CHECK(cpu::conv::pixel_tile(k, p) == 896);
    CHECK((p + 895) / 896 == 74);
    // M / (M - 1) at batch 8: encoder.0 (256 x 256), the bottleneck (16 x 16), resnet layer4 (8 x 8).
    const auto factor = [](double m) { return m / (m - 1); };
    CHECK(factor(8.0 * 256 * 256) == doctest::Approx(1.0000019073522).epsilon(1e-12));
    CHECK(factor(8.0 * 16 * 16) == doctest::Approx(1.000488519785).epsilon(1e-12));
    CHECK(factor(8.0 * 8 * 8) == doctest::Approx(1.001956947162).epsilon(1e-12));
    // ... and the running_var the library stores uses it: one step from running_var = 1 on a
    // channel of M = 4 values {0, 1, 2, 3}: biased var 1.25, unbiased 5/3, 0.9 + 0.1 * 5/3.
    const Tensor x = from_vector<double>({0, 1, 2, 3}, {4, 1});
    Tensor rm = zeros({1}, TensorOptions(DType::Float64)), rv = ones({1}, TensorOptions(DType::Float64));
    const Tensor y = batch_norm(x, rm, rv, Tensor(), Tensor(), true, 0.1, 0.0);
    CHECK(rv.item<double>() == doctest::Approx(0.9 + 0.1 * 5.0 / 3.0).epsilon(1e-14));
    CHECK(y.select(0, 0).item<double>() == doctest::Approx(-1.5 / std::sqrt(1.25)).epsilon(1e-14));
}

namespace {

/// The lines between `begin` and `end` in `doc`, without the ``` fence lines.
std::string quoted_block(const std::string& doc, const std::string& begin, const std::string& end) {
    const auto b = doc.find(begin), e = doc.find(end);
    REQUIRE_MESSAGE(b != std::string::npos, "the doc has no " << begin);
    REQUIRE_MESSAGE(e != std::string::npos, "the doc has no " << end);
    std::string quoted;
    std::istringstream block(doc.substr(b + begin.size(), e - b - begin.size()));
    for (std::string line; std::getline(block, line);)
        if (line.rfind("```", 0) != 0 && !(quoted.empty() && line.empty())) quoted += line + "\n";
    return quoted;
}

/// Line-by-line equality, failing at the first line that differs.
void check_same_lines(const std::string& quoted, const std::string& printed) {
    std::istringstream a(quoted), p(printed);
    std::string la, lp;
    int line_no = 0;
    while (true) {
        const bool more_a = bool(std::getline(a, la)), more_p = bool(std::getline(p, lp));
        ++line_no;
        if (!more_a && !more_p) break;
        INFO("line " << line_no << " of the quoted block; rebuild fbseg_walkthrough and paste its output into "
             "docs/walkthrough.md");
        REQUIRE(la == lp);
    }
}

}  // namespace

TEST_CASE("docs: docs/walkthrough.md quotes the walkthrough's output (examples/walkthrough) exactly") {
    const std::string doc = read_text(std::string(FBSEG_SOURCE_DIR) + "/docs/walkthrough.md");
    check_same_lines(quoted_block(doc, "<!-- walkthrough-output:begin -->", "<!-- walkthrough-output:end -->"),
                     walkthrough::format_walkthrough(walkthrough::run_walkthrough()));
    // fbseg_walkthrough --phantom
    const walkthrough::Result r = walkthrough::run_walkthrough(walkthrough::phantom_input(32));
    check_same_lines(quoted_block(doc, "<!-- walkthrough-phantom:begin -->", "<!-- walkthrough-phantom:end -->"),
                     walkthrough::format_summary(r, "the ultrasound phantom (seed 0), averaged down to 32 x 32"));
    CHECK(r.gradcheck_ok);
}

TEST_CASE("docs: layers.md's im2col table matches the UNet") {
    // Every row of the table between the im2col-table markers, recomputed: K from the weight's
    // shape in the default UNet, P from the level (encoder.l at 256 >> l, decoder.i at
    // 256 >> (3 - i)), the MB of a full float32 col, the tile width, 2*Cout*K*P.
    const std::string doc = read_text(std::string(FBSEG_SOURCE_DIR) + "/docs/layers.md");
    const std::string begin = "<!-- im2col-table:begin -->", end = "<!-- im2col-table:end -->";
    const auto b = doc.find(begin), e = doc.find(end);
    REQUIRE(b != std::string::npos);
    REQUIRE(e != std::string::npos);
    const models::UNet unet;
    std::map<std::string, Tensor> weights;
    for (const auto& [name, t] : unet.named_parameters()) weights[name] = t;
    const auto plain = [](std::string v) {  // "65,536" -> "65536", "`a`" -> "a"
        v.erase(std::remove_if(v.begin(), v.end(), [](char c) { return c == ',' || c == '`' || c == ' '; }), v.end());
        return v;
    };
    const auto fixed = [](double v, int digits) {
        std::ostringstream o;
        o.setf(std::ios::fixed);
        o.precision(digits);
        o << v;
        return o.str();
    };
    int rows = 0;
    std::istringstream block(doc.substr(b + begin.size(), e - b - begin.size()));
    for (std::string line; std::getline(block, line);) {
        if (line.rfind("| `", 0) != 0) continue;  // the header and the separator
        std::vector<std::string> cells;
        std::istringstream cs(line.substr(1));
        for (std::string c; std::getline(cs, c, '|');) cells.push_back(c);
        REQUIRE(cells.size() >= 8);
        const std::string name = plain(cells[0]);
        INFO("row " << name);
        REQUIRE(weights.count(name + ".weight"));
        const Tensor& w = weights[name + ".weight"];
        const std::int64_t c_out = w.size(0), c_in = w.size(1), k = c_in * w.size(2) * w.size(3);
        const std::int64_t level = name.rfind("encoder.", 0) == 0 ? std::stoll(name.substr(8, 1))
                                                                  : 3 - std::stoll(name.substr(8, 1));
        const std::int64_t side = 256 >> level, p = side * side;
        CHECK(plain(cells[1]) == std::to_string(c_in) + "->" + std::to_string(c_out));
        CHECK(plain(cells[2]) == std::to_string(side) + "x" + std::to_string(side));
        CHECK(plain(cells[3]) == std::to_string(k));
        CHECK(plain(cells[4]) == std::to_string(p));
        CHECK(plain(cells[5]) == fixed(double(k) * double(p) * 4 / 1e6, 1) + "MB");
        CHECK(plain(cells[6]) == std::to_string(cpu::conv::pixel_tile(k, p)));
        CHECK(plain(cells[7]) == fixed(2.0 * double(c_out) * double(k) * double(p) / 1e9, 2));
        ++rows;
    }
    CHECK(rows == 18);  // every 3x3 conv of the default UNet: 2 per level, 5 encoder + 4 decoder levels
}

TEST_CASE("docs: unet.md's receptive fields of the classic UNet") {
    // Measured by perturbation: with positive weights (1 / fan_in), BatchNorm in eval mode (mean 0,
    // var 1) and a positive input, every path from an input pixel to the output is a product of
    // positive factors and max pooling passes a large value on, so putting 1e30 into input row i
    // changes output row `row` exactly when row i is in its receptive field (float64: the
    // farthest row's share, about 9^-18 * 1e30, is far above rounding). The field is an interval;
    // binary search finds its ends. Expected values: tools/unet_receptive_fields.py, which
    // propagates index intervals through the layers (18 and 44 for depth 1 and 2 everywhere; for
    // depth 4, 188 or 204 depending on the output row modulo 16: 188 at row 128, 204 at row 136).
    struct Case {
        std::int64_t depth, row, expected;
    };
    const TensorOptions f64(DType::Float64);
    for (const Case& c : {Case{1, 128, 18}, Case{2, 128, 44}, Case{4, 128, 188}, Case{4, 136, 204}}) {
        CAPTURE(c.depth);
        CAPTURE(c.row);
        models::UNet unet(models::UNetOptions().depth(c.depth).base_channels(1));
        unet.to(DType::Float64);
        unet.eval();
        NoGradGuard no_grad;
        for (auto& [name, t] : unet.named_parameters()) {
            if (t.dim() == 4) t.fill_(1.0 / double(t.size(1) * t.size(2) * t.size(3)));
            else t.fill_(name.size() >= 6 && name.substr(name.size() - 6) == "weight" ? 1.0 : 0.0);
        }
        const auto output = [&](std::int64_t perturbed) {  // output (c.row, 128) with 1e30 in input row `perturbed`
            Tensor x = ones({1, 1, 256, 256}, f64);
            if (perturbed >= 0) x.select(2, perturbed).fill_(1e30);
            return unet.forward(x).select(2, c.row).select(2, 128).item<double>();
        };
        const double base = output(-1);
        const auto in_field = [&](std::int64_t i) { return output(i) != base; };
        REQUIRE(in_field(c.row));
        REQUIRE(!in_field(0));
        REQUIRE(!in_field(255));
        std::int64_t lo = 0, hi = c.row;  // the first row in the field is in (lo, hi]
        while (hi - lo > 1) {
            const std::int64_t mid = (lo + hi) / 2;
            (in_field(mid) ? hi : lo) = mid;
        }
        const std::int64_t first = hi;
        lo = c.row, hi = 255;  // the last row in the field is in [lo, hi)
        while (hi - lo > 1) {
            const std::int64_t mid = (lo + hi) / 2;
            (in_field(mid) ? lo : hi) = mid;
        }
        CHECK(lo - first + 1 == c.expected);
    }
}

TEST_CASE("docs: docs/architecture.md lists every file of include/fbseg/, kernels/ and src/, and nothing else") {
    namespace fs = std::filesystem;
    const std::string root = FBSEG_SOURCE_DIR;
    const std::string doc = read_text(root + "/docs/architecture.md");
    const std::string begin = "<!-- file-listing:begin -->", end = "<!-- file-listing:end -->";
    const auto b = doc.find(begin), e = doc.find(end);
    REQUIRE_MESSAGE(b != std::string::npos, "docs/architecture.md has no " << begin);
    REQUIRE_MESSAGE(e != std::string::npos, "docs/architecture.md has no " << end);
    std::set<std::string> listed;
    std::istringstream block(doc.substr(b + begin.size(), e - b - begin.size()));
    for (std::string line; std::getline(block, line);) {
        std::istringstream words(line);
        std::string first;
        if (!(words >> first) || first.rfind("```", 0) == 0) continue;
        listed.insert(first);
    }
    std::set<std::string> tree;
    for (const char* dir : {"include/fbseg", "kernels", "src"})
        for (const auto& entry : fs::recursive_directory_iterator(root + "/" + dir)) {
            const std::string ext = entry.path().extension().string();
            if (entry.is_regular_file() && (ext == ".hpp" || ext == ".cpp" || ext == ".cu" || ext == ".cuh"))
                tree.insert(fs::relative(entry.path(), root).generic_string());
        }
    CHECK(tree.size() > 100);
    for (const std::string& f : tree) CHECK_MESSAGE(listed.count(f), f << " is not listed in docs/architecture.md");
    for (const std::string& f : listed) CHECK_MESSAGE(tree.count(f), f << " is listed in docs/architecture.md but does not exist");
}

}  // namespace docs_tests
