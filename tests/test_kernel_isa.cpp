// The GEMM-bound CPU kernels compiled once per instruction set (ops/cpu/kernel_table.hpp,
// src/cpu/): every copy this machine can run computes the convolutions of direct float64 loops
// and the matrix product of the float64 reference, gives the same bits on 1 and 2 threads, and a bad FBSEG_CPU_ISA is a
// clear error. ctest also runs the parity, layer and harness suites with each lower copy forced
// (isa_baseline, isa_avx2 in tests/CMakeLists.txt).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "fbseg/fbseg.hpp"
#include "support/check.hpp"
#include "support/direct_conv_reference.hpp"

namespace kernel_isa_tests {  // a namespace of its own: the test files are compiled as one unity source

using namespace fbseg;

#if defined(FBSEG_KERNEL_LIBRARY)
namespace {

/// Uniform values in [-1, 1) from a fixed seed, as float and as the same values in double.
struct Data {
    std::vector<float> f;
    std::vector<double> d;
};
Data random_data(std::int64_t n, std::uint64_t seed) {
    Data r;
    std::uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
    for (std::int64_t i = 0; i < n; ++i) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;  // xorshift64
        const float v = float(double(s >> 11) / double(1ull << 53) * 2.0 - 1.0);
        r.f.push_back(v);
        r.d.push_back(double(v));
    }
    return r;
}
std::vector<double> widen(const std::vector<float>& v) { return {v.begin(), v.end()}; }

ConvGeometry geometry(std::int64_t n, std::int64_t cin, std::int64_t cout, std::int64_t h, std::int64_t w,
                      std::int64_t k, std::int64_t stride, std::int64_t pad, std::int64_t dilation,
                      std::int64_t groups) {
    ConvGeometry g;
    g.n = n, g.c_in = cin, g.c_out = cout, g.h = h, g.w = w, g.kh = g.kw = k, g.sh = g.sw = stride;
    g.ph = g.pw = pad, g.dh = g.dw = dilation, g.groups = groups;
    g.ho = (h + 2 * pad - dilation * (k - 1) - 1) / stride + 1;
    g.wo = (w + 2 * pad - dilation * (k - 1) - 1) / stride + 1;
    return g;
}

/// Odd sizes, every path of ops/cpu/conv_kernels.hpp, direct_conv_kernels.hpp,
/// direct_weight_kernels.hpp and depthwise_kernels.hpp: im2col, 1x1 without a copy, grouped,
/// strided, dilated, one large enough to be split into several pixel tiles; direct (forward and
/// backward-data in the AVX2 and AVX-512 copies, backward-weight in the AVX-512 one) with 3x3, 5x5
/// and 7x7 kernels, stride 2, dilation, output channels not a multiple of the register tile, a sum cut
/// into chunks, several tasks along the plane and the channels, images in two rounds, and
/// backward-data as a rotated forward with padding 1 of 4, and backward-weight's narrow tile for
/// at most 16 output channels and strided weight gradients; depthwise with strides 1-3, padding wider than the kernel,
/// dilation, a depth multiplier, a 1x1 plane, a non-square kernel and stride, and planes of
/// several tap blocks; depthwise with the channels in the lanes (whole and part blocks); Winograd
/// F(2x2, 3x3) for the stride-1 3x3 layers.
std::vector<ConvGeometry> geometries() {
    ConvGeometry skewed = geometry(2, 4, 12, 7, 12, 3, 1, 1, 1, 4);  // 3x5 kernel, stride 2x1, multiplier 3
    skewed.kw = 5, skewed.sh = 2, skewed.pw = 2;
    skewed.ho = (skewed.h + 2 * skewed.ph - skewed.kh) / skewed.sh + 1, skewed.wo = skewed.w;
    ConvGeometry stride32 = geometry(1, 4, 16, 6, 5, 2, 1, 0, 2, 4);  // 2x3, stride 3x2, dilation 2x1, pad 0x1
    stride32.kw = 3, stride32.sh = 3, stride32.sw = 2, stride32.pw = 1, stride32.dw = 1;
    stride32.ho = (6 - 2 * 1 - 1) / 3 + 1, stride32.wo = (5 + 2 - 2 - 1) / 2 + 1;
    return {geometry(2, 5, 7, 13, 11, 3, 1, 1, 1, 1), geometry(2, 6, 4, 9, 10, 3, 2, 1, 1, 1),
            geometry(3, 8, 5, 7, 9, 1, 1, 0, 1, 1), geometry(2, 6, 6, 11, 8, 3, 1, 1, 1, 6),
            geometry(1, 6, 9, 10, 10, 3, 1, 2, 2, 3), geometry(2, 4, 6, 12, 12, 2, 2, 0, 1, 1),
            geometry(2, 33, 17, 40, 37, 3, 1, 1, 1, 1), geometry(2, 5, 5, 13, 11, 5, 2, 2, 1, 5),
            geometry(1, 3, 6, 10, 9, 3, 1, 2, 2, 3), geometry(2, 3, 3, 9, 9, 1, 2, 0, 1, 3),
            geometry(1, 2, 2, 1, 1, 3, 1, 1, 1, 2), geometry(2, 3, 3, 4, 4, 3, 1, 0, 1, 3),
            geometry(1, 2, 2, 5, 5, 3, 2, 3, 1, 2), geometry(3, 7, 7, 33, 35, 5, 2, 2, 1, 7),
            geometry(2, 9, 9, 20, 19, 3, 1, 1, 1, 9), skewed, stride32,
            // direct path
            geometry(2, 12, 10, 15, 13, 3, 1, 2, 2, 1), geometry(2, 3, 9, 21, 19, 7, 2, 3, 1, 1),
            geometry(1, 6, 9, 12, 14, 5, 1, 1, 1, 1), geometry(2, 256, 40, 12, 12, 3, 1, 1, 1, 1),
            geometry(2, 4, 8, 730, 730, 3, 1, 1, 1, 1), geometry(2, 66, 18, 40, 37, 3, 1, 1, 1, 2),
            // direct backward-weight (AVX-512): dilation 2, 5x5 with 40 outputs (two register blocks,
            // the second part-filled); the 33 -> 17 and 730 x 730 ones above take it too
            geometry(2, 12, 10, 30, 29, 3, 1, 2, 2, 1), geometry(2, 6, 40, 40, 40, 5, 1, 2, 1, 1),
            // its narrow tile (at most 16 outputs, pixels in the lanes; the one with dilation 2
            // above too): 16 outputs over 37,752 pixels (three float sums of 16,384 per lane),
            // and one output (a segmentation head)
            geometry(2, 4, 16, 140, 130, 3, 1, 1, 1, 1), geometry(2, 16, 1, 20, 22, 3, 1, 1, 1, 1),
            // strided (phase planes in rows of their own): 3x3/2 with 40 outputs, a 7x7/2 stem,
            // 3x3/3, and 3x3/2 with dilation 2 in the narrow tile
            geometry(2, 5, 40, 30, 28, 3, 2, 1, 1, 1), geometry(1, 3, 24, 64, 64, 7, 2, 3, 1, 1),
            geometry(1, 8, 20, 50, 47, 3, 3, 1, 1, 1), geometry(2, 4, 12, 40, 40, 3, 2, 2, 2, 1),
            // 2x2/2 windows that tile x exactly (backward-data stores instead of adding; the
            // 2 x 4 x 12 x 12 one above too), and ones that leave x's last row and column unread
            geometry(2, 40, 24, 64, 64, 2, 2, 0, 1, 1), geometry(1, 5, 7, 13, 11, 2, 2, 0, 1, 1),
            // output channels in the lanes (AVX-512, whole blocks of 64 float or 32 double outputs):
            // tiles of 6 pixels that run on into the next row, sums in chunks of 14 input channels
            // (20 -> 64), stride 2 with dilation 2 and two blocks, a 5x5 whose backward-data (64 ->
            // 64, rotated) takes it too, a plane of one tile and one of 4 pixels (a part tile)
            geometry(2, 20, 64, 13, 11, 3, 1, 1, 1, 1), geometry(1, 64, 128, 9, 7, 3, 2, 1, 2, 1),
            geometry(2, 64, 64, 10, 9, 5, 1, 2, 1, 1), geometry(3, 16, 64, 2, 3, 3, 1, 1, 1, 1),
            geometry(1, 24, 64, 1, 4, 3, 1, 1, 1, 1),
            // depthwise with the channels in the lanes (depthwise_lanes_kernels.hpp): 40 channels
            // (two whole blocks of 16 and part of one), rows of 19 (tiles of 8, 8, 2 and 1),
            // stride 2 with a 5x5, dilation 2, a 4 x 4 plane of one block, padding wider than the
            // kernel at stride 2, rows of 40 at stride 1 (the forward on depthwise_kernels.hpp;
            // 3 images cut into 3 parts in the weight gradient), and rows of 66 (the forward and
            // backward-data there, the weight gradient here)
            geometry(2, 40, 40, 21, 19, 3, 1, 1, 1, 40), geometry(2, 32, 32, 17, 18, 5, 2, 2, 1, 32),
            geometry(1, 48, 48, 12, 13, 3, 1, 2, 2, 48), geometry(3, 16, 16, 4, 4, 3, 1, 1, 1, 16),
            geometry(2, 24, 24, 9, 11, 3, 2, 3, 1, 24), geometry(3, 20, 20, 34, 40, 3, 1, 1, 1, 20),
            geometry(1, 18, 18, 6, 66, 3, 1, 1, 1, 18),
            // Winograd F(2x2, 3x3) (winograd_kernels.hpp; AVX-512, stride-1 3x3 with padding 1, even
            // sizes, >= 32 input channels, whole blocks of 64 or 32 outputs): 64 -> 64 on 96 tiles of 8 x 6
            // per image, backward-data too (rotated); 32 outputs (the 12 x 2 tile) on 105 tiles in two
            // blocks, runs of 7 tiles that cross images; 160 channels (three chunks of the sum) at 4 x 5
            // tiles per image; rows of 20 tiles (two vectors per run, the second part-filled), 128 outputs
            geometry(2, 64, 64, 16, 12, 3, 1, 1, 1, 1), geometry(3, 40, 32, 10, 14, 3, 1, 1, 1, 1),
            geometry(4, 160, 64, 8, 10, 3, 1, 1, 1, 1), geometry(1, 32, 128, 8, 40, 3, 1, 1, 1, 1)};
}

std::string describe(const ConvGeometry& g) {
    return "x [" + std::to_string(g.n) + ", " + std::to_string(g.c_in) + ", " + std::to_string(g.h) + ", " +
           std::to_string(g.w) + "], c_out " + std::to_string(g.c_out) + ", k " + std::to_string(g.kh) + ", stride " +
           std::to_string(g.sh) + ", pad " + std::to_string(g.ph) + ", dilation " + std::to_string(g.dh) +
           ", groups " + std::to_string(g.groups);
}

/// One table's float32 results for one geometry: forward (with bias), backward-data,
/// backward-weight, bias gradient.
struct ConvResults {
    std::vector<float> y, dx, dw, db;
};
ConvResults run_conv(const cpu::GemmKernels<float>& k, const ConvGeometry& g, const Data& x, const Data& w,
                     const Data& b, const Data& dy) {
    ConvResults r;
    r.y.assign(std::size_t(g.n * g.c_out * g.p()), std::nanf(""));
    r.dx.assign(std::size_t(g.n * g.c_in * g.hw()), std::nanf(""));
    r.dw.assign(std::size_t(g.c_out * g.k()), std::nanf(""));
    r.db.assign(std::size_t(g.c_out), std::nanf(""));
    k.conv_forward(g, x.f.data(), w.f.data(), b.f.data(), r.y.data());
    k.conv_backward_data(g, dy.f.data(), w.f.data(), r.dx.data());
    k.conv_backward_weight(g, x.f.data(), dy.f.data(), r.dw.data());
    k.conv_bias_grad(dy.f.data(), g.n, g.c_out, g.p(), r.db.data());
    return r;
}

}  // namespace

TEST_CASE("isa: every instruction set's convolution kernels match the direct float64 loops per element") {
    for (const ConvGeometry& g : geometries()) {
        const std::string shape = describe(g);
        CAPTURE(shape);
        const Data x = random_data(g.n * g.c_in * g.hw(), 1), w = random_data(g.c_out * g.k(), 2),
                   b = random_data(g.c_out, 3), dy = random_data(g.n * g.c_out * g.p(), 4);
        const test::DirectConvolution ref = test::direct_convolution(g, x.d, w.d, b.d, dy.d);
        for (const std::string_view isa : cpu::available_kernel_isas()) {
            CAPTURE(isa);
            const cpu::KernelTable& table = cpu::kernel_table(isa);
            CHECK(std::string_view(table.isa) == isa);
            const ConvResults got = run_conv(table.f32, g, x, w, b, dy);
            // float32 sums of products of values in [-1, 1): 1e-5 up to ~330 terms, then growing
            // with the number of terms (a missed or misplaced term is off by ~0.1 or more; the AVX2
            // copy's backward-data of 64 -> 64, one float sum of 576 terms, is off by 1.5e-5).
            const auto tol = [](std::int64_t terms, double floor) { return std::max(floor, 3e-8 * double(terms)); };
            const double t_y = tol(g.cg() * g.kk(), 1e-5), t_dx = tol(g.coutg() * g.kk(), 1e-5),
                         t_dw = tol(g.n * g.p(), 1e-4);
            CHECK_ALLCLOSE(widen(got.y), ref.y, t_y, t_y);
            CHECK_ALLCLOSE(widen(got.dx), ref.dx, t_dx, t_dx);
            CHECK_ALLCLOSE(widen(got.dw), ref.dw, t_dw, 1e-5);
            CHECK_ALLCLOSE(widen(got.db), ref.db, t_dw, 1e-5);
            // The float64 copy (gradcheck's) to float64 rounding.
            std::vector<double> y(ref.y.size()), dx(ref.dx.size()), dw(ref.dw.size());
            table.f64.conv_forward(g, x.d.data(), w.d.data(), b.d.data(), y.data());
            table.f64.conv_backward_data(g, dy.d.data(), w.d.data(), dx.data());
            table.f64.conv_backward_weight(g, x.d.data(), dy.d.data(), dw.data());
            CHECK_ALLCLOSE(y, ref.y, 1e-12, 1e-12);
            CHECK_ALLCLOSE(dx, ref.dx, 1e-12, 1e-12);
            CHECK_ALLCLOSE(dw, ref.dw, t_dw * 1e-8, 1e-12);
        }
    }
}

TEST_CASE("isa: every instruction set's batched matrix product matches the float64 reference, any strides") {
    const cpu::KernelTable& reference = cpu::kernel_table("baseline");
    const std::int64_t batch = 3, n = 67, k = 45, m = 29;
    const Data a = random_data(batch * n * k, 5), b = random_data(batch * k * m, 6);
    const std::int64_t sa[3] = {n * k, k, 1};
    const std::int64_t sb_t[3] = {k * m, 1, k};  // b read transposed: b[i][r][c] at i k m + c k + r
    std::vector<double> ref(std::size_t(batch * n * m));
    reference.f64.bmm(a.d.data(), sa, b.d.data(), sb_t, ref.data(), batch, n, k, m);
    for (const std::string_view isa : cpu::available_kernel_isas()) {
        CAPTURE(isa);
        std::vector<float> c(ref.size(), std::nanf(""));
        cpu::kernel_table(isa).f32.bmm(a.f.data(), sa, b.f.data(), sb_t, c.data(), batch, n, k, m);
        CHECK_ALLCLOSE(widen(c), ref, 1e-5, 1e-5);
    }
}

TEST_CASE("isa: every instruction set's sigmoid and SiLU match the float64 formulas per element, NaN and infinities included") {
    std::vector<float> x = {0.0f,   -0.0f, 1e-8f,  -1e-8f, 0.5f,   -0.5f,  20.0f, -20.0f, 86.9f,
                            -86.9f, 87.5f, -87.5f, 100.0f, -100.0f, 1e30f, -1e30f};
    x.push_back(std::numeric_limits<float>::infinity());
    x.push_back(-std::numeric_limits<float>::infinity());
    x.push_back(std::numeric_limits<float>::quiet_NaN());
    const Data random = random_data(5000, 11);
    for (const float v : random.f) x.push_back(v * 30.0f);  // [-30, 30): the range exp is reduced over
    const Data g = random_data(std::int64_t(x.size()), 12);
    const auto n = std::int64_t(x.size());
    std::vector<double> sig(x.size()), silu(x.size()), silu_grad(x.size());
    for (std::size_t i = 0; i < x.size(); ++i) {
        const double xd = x[i], s = 1.0 / (1.0 + std::exp(-xd));
        sig[i] = s;
        silu[i] = std::isinf(xd) && xd < 0 ? std::nan("") : xd * s;  // -inf * 0, as PyTorch: NaN
        silu_grad[i] = double(g.f[i]) * s * (1.0 + xd * (1.0 - s));
    }
    for (const std::string_view isa : cpu::available_kernel_isas()) {
        CAPTURE(isa);
        const cpu::ActivationKernels& act = cpu::kernel_table(isa).act;
        std::vector<float> y(x.size(), 0.25f), z(x.size(), 0.25f), gx(x.size(), 0.25f);
        act.sigmoid_forward(x.data(), y.data(), n);
        act.silu_forward(x.data(), z.data(), n);
        act.silu_backward(g.f.data(), x.data(), gx.data(), n);
        // a few ulp (float32's is 6e-8 relative); atol for the values under FLT_MIN that become 0
        CHECK_ALLCLOSE(widen(y), sig, 1e-37, 4e-7);
        CHECK_ALLCLOSE(widen(z), silu, 1e-37, 4e-7);
        // silu' = s (1 + x (1 - s)): for large x, 1 - s is lost in float32 (as in PyTorch)
        CHECK_ALLCLOSE(widen(gx), silu_grad, 1e-6, 1e-6);
    }
}

TEST_CASE("isa: every instruction set's max pooling gives the plain loop's values and indices bit for bit") {
    // The reference is cpu::max_pool2d_forward (one value at a time, the edges tested per tap);
    // the table's copy works a vector of output columns at a time over -inf-padded phase rows.
    // Values include ties, NaN (which wins) and -inf (whose windows keep the first tap inside
    // the plane), in every kernel, stride, padding, dilation and ceil mode up to 4 / 3 / 2 / 2.
    const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
    std::int64_t geometries = 0;
    for (std::int64_t k = 1; k <= 4; ++k)
        for (std::int64_t s = 1; s <= 3; ++s)
            for (std::int64_t p = 0; p <= k / 2; ++p)
                for (std::int64_t d = 1; d <= 2; ++d)
                    for (const bool ceil_mode : {false, true}) {
                        // 2 planes of 11 x 37 (tails in every copy) and kw = k, kh = k % 3 + 1
                        MaxPool2dGeometry g{.planes = 2, .h = 11, .w = 37, .kh = k % 3 + 1, .kw = k, .sh = s,
                                            .sw = 4 - s, .ph = std::min(p, (k % 3 + 1) / 2), .pw = p, .dh = d, .dw = d};
                        g.ho = pool_detail::output_size(g.h, g.kh, g.ph, g.sh, g.dh, ceil_mode);
                        g.wo = pool_detail::output_size(g.w, g.kw, g.pw, g.sw, g.dw, ceil_mode);
                        if (g.ho < 1 || g.wo < 1) continue;
                        ++geometries;
                        const std::int64_t n_in = g.planes * g.h * g.w, n_out = g.planes * g.ho * g.wo;
                        for (int values = 0; values < 3; ++values) {
                            std::vector<float> x = random_data(n_in, std::uint64_t(11 + values)).f;
                            for (std::size_t i = 0; i < x.size(); ++i) {
                                if (values == 1) x[i] = float(std::int64_t(i * 7 % 5) - 2);  // ties
                                if (values == 2) x[i] = i % 3 == 0 ? x[i] : (i % 7 == 1 ? nan : -inf);
                            }
                            std::vector<float> y_ref(std::size_t(n_out), 1.0f);
                            std::vector<std::int64_t> i_ref(std::size_t(n_out), -7);
                            cpu::max_pool2d_forward(x.data(), y_ref.data(), i_ref.data(), g);
                            for (const std::string_view isa : cpu::available_kernel_isas()) {
                                const auto pair = [](std::int64_t a, std::int64_t b) {
                                    return std::to_string(a) + "," + std::to_string(b);
                                };
                                const std::string shape = "kernel " + pair(g.kh, g.kw) + " stride " + pair(g.sh, g.sw) +
                                                          " padding " + pair(g.ph, g.pw) + " dilation " +
                                                          std::to_string(d) + (ceil_mode ? " ceil" : " floor") +
                                                          " values " + std::to_string(values);
                                CAPTURE(isa);
                                CAPTURE(shape);
                                std::vector<float> y(std::size_t(n_out), nan);
                                std::vector<std::int64_t> idx(std::size_t(n_out), -9);
                                cpu::kernel_table(isa).pool.max_pool2d_forward(x.data(), y.data(), idx.data(), g);
                                CHECK(std::memcmp(y.data(), y_ref.data(), y.size() * sizeof(float)) == 0);
                                CHECK(idx == i_ref);
                            }
                        }
                    }
    CHECK(geometries >= 90);
}

TEST_CASE("isa: every instruction set gives the same bits on 1 and 2 threads") {
    const int threads = num_threads();
    // a convolution through im2col + GEMM (two groups: the direct path declines it) split into
    // two pixel tiles, a direct one split into tasks along the plane and the channels, one whose
    // backward-weight is direct and split over several tasks, a depthwise 5x5/2 split into
    // several tasks, and a Winograd one (AVX-512) over 2 x 2 tasks forward and 2 backward-data
    const std::vector<ConvGeometry> shapes{
        geometry(2, 66, 18, 40, 37, 3, 1, 1, 1, 2), geometry(2, 256, 40, 12, 12, 3, 1, 1, 1, 1),
        geometry(2, 6, 40, 40, 40, 5, 1, 2, 1, 1), geometry(3, 7, 7, 33, 35, 5, 2, 2, 1, 7),
        geometry(2, 64, 128, 16, 14, 3, 1, 1, 1, 1)};
    for (const std::string_view isa : cpu::available_kernel_isas()) {
        for (const ConvGeometry& g : shapes) {
            CAPTURE(isa);
            const std::string shape = describe(g);
            CAPTURE(shape);
            const Data x = random_data(g.n * g.c_in * g.hw(), 7), w = random_data(g.c_out * g.k(), 8),
                       b = random_data(g.c_out, 9), dy = random_data(g.n * g.c_out * g.p(), 10);
            set_num_threads(1);
            const ConvResults one = run_conv(cpu::kernel_table(isa).f32, g, x, w, b, dy);
            set_num_threads(2);
            const ConvResults two = run_conv(cpu::kernel_table(isa).f32, g, x, w, b, dy);
            CHECK(std::memcmp(one.y.data(), two.y.data(), one.y.size() * sizeof(float)) == 0);
            CHECK(std::memcmp(one.dx.data(), two.dx.data(), one.dx.size() * sizeof(float)) == 0);
            CHECK(std::memcmp(one.dw.data(), two.dw.data(), one.dw.size() * sizeof(float)) == 0);
            CHECK(std::memcmp(one.db.data(), two.db.data(), one.db.size() * sizeof(float)) == 0);
        }
    }
    set_num_threads(threads);
}

TEST_CASE("isa: the table in use is the best this CPU runs, unless FBSEG_CPU_ISA names a lower one") {
    const std::vector<std::string_view> isas = cpu::available_kernel_isas();
    REQUIRE(!isas.empty());
    CHECK(isas.front() == "baseline");
    const char* env = std::getenv("FBSEG_CPU_ISA");
    const std::string_view expected = env != nullptr && *env != '\0' ? std::string_view(env) : isas.back();
    CHECK(cpu::kernel_isa() == expected);
    // The op layer goes through that table: conv2d of a 1x1 kernel of ones is a channel sum.
    const Tensor x = randn({2, 3, 5, 4});
    const Tensor y = conv2d(x, ones({1, 3, 1, 1}), Tensor(), Conv2dParams{});
    CHECK_ALLCLOSE(y, sum(x, {1}, true), 1e-6, 1e-6);
}

TEST_CASE("isa: an unknown or unavailable instruction set is an error naming the ones there are") {
    CHECK_ERROR(cpu::kernel_table("sse9"), "'sse9'", "baseline, avx2 and avx512", "the best available here is");
    const std::vector<std::string_view> isas = cpu::available_kernel_isas();
    if (isas.back() != "avx512") {
        const std::string best(isas.back());
        CHECK_ERROR(cpu::kernel_table("avx512"), "avx512", "cannot run them", best.c_str());
    }
}
#endif  // FBSEG_KERNEL_LIBRARY

}  // namespace kernel_isa_tests
