// The direct convolution kernels (ops/cpu/direct_conv_kernels.hpp, direct_weight_kernels.hpp), Winograd's
// (winograd_kernels.hpp), the depthwise
// kernels with the channels in the lanes (depthwise_lanes_kernels.hpp, also checked against the row kernels' bits),
// and the 1x1 layers' paths that cut their work by images (conv_kernels.hpp), with 8 pool threads: results
// bit-identical to one thread and equal to float64 loops, and, in the ThreadSanitizer build (`bash tools/run.sh tsan`),
// no data race between the tasks that share the phase planes and the packed weights.
//
// The direct paths run only in AVX2 and AVX-512 code, and the sanitizer builds compile libfbseg's
// baseline copy alone; so this program uses the kernels header-only and the whole program is
// compiled for x86-64-v4 (tests/CMakeLists.txt). ctest skips it on a CPU without AVX-512.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "fbseg/core/parallel.hpp"
#include "fbseg/ops/cpu/conv_kernels.hpp"

using namespace fbseg;
using fbseg::cpu::ConvGeometry;

namespace {

ConvGeometry geometry(std::int64_t n, std::int64_t cin, std::int64_t h, std::int64_t w, std::int64_t cout,
                      std::int64_t k, std::int64_t stride, std::int64_t pad) {
    ConvGeometry g;
    g.n = n, g.c_in = cin, g.h = h, g.w = w, g.c_out = cout, g.kh = g.kw = k, g.sh = g.sw = stride;
    g.ph = g.pw = pad;
    g.ho = (h + 2 * pad - (k - 1) - 1) / stride + 1;
    g.wo = (w + 2 * pad - (k - 1) - 1) / stride + 1;
    return g;
}

std::vector<float> random_values(std::int64_t n, std::uint64_t seed) {
    std::vector<float> v(static_cast<std::size_t>(n));
    std::uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
    for (float& x : v) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;  // xorshift64
        x = float(double(s >> 11) / double(1ull << 53) * 2.0 - 1.0);
    }
    return v;
}

struct Passes {
    std::vector<float> y, dx, dw;
};

Passes run(const ConvGeometry& g, const std::vector<float>& x, const std::vector<float>& w,
           const std::vector<float>& dy, int threads) {
    set_num_threads(threads);
    Passes r{std::vector<float>(dy.size(), std::nanf("")), std::vector<float>(x.size(), std::nanf("")),
             std::vector<float>(w.size(), std::nanf(""))};
    cpu::conv::forward(g, x.data(), w.data(), static_cast<const float*>(nullptr), r.y.data());
    cpu::conv::backward_data(g, dy.data(), w.data(), r.dx.data());
    cpu::conv::backward_weight(g, x.data(), dy.data(), r.dw.data());
    return r;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

/// The three passes on 1 and on 8 threads: checks that both give the same bits, returns the first.
Passes run_on_1_and_8(const ConvGeometry& g, const std::vector<float>& x, const std::vector<float>& w,
                      const std::vector<float>& dy) {
    const Passes one = run(g, x, w, dy, 1), eight = run(g, x, w, dy, 8);
    CHECK(same_bits(one.y, eight.y));
    CHECK(same_bits(one.dx, eight.dx));
    CHECK(same_bits(one.dw, eight.dw));
    return one;
}

/// 0 when |a - b| <= 1e-4 (1 + |b|), else 1.
std::int64_t far(double a, double b) { return std::fabs(a - b) > 1e-4 * (1 + std::fabs(b)) ? 1 : 0; }

/// y[i] (no bias) by float64 loops, i the flat index into y [n, c_out, ho, wo].
double reference_y(const ConvGeometry& g, const std::vector<float>& x, const std::vector<float>& w, std::int64_t i) {
    const std::int64_t ow = i % g.wo, oh = i / g.wo % g.ho, co = i / g.p() % g.c_out, n = i / (g.p() * g.c_out);
    double s = 0;
    for (std::int64_t c = 0; c < g.c_in; ++c)
        for (std::int64_t ki = 0; ki < g.kh; ++ki)
            for (std::int64_t kj = 0; kj < g.kw; ++kj) {
                const std::int64_t ih = oh * g.sh - g.ph + ki, iw = ow * g.sw - g.pw + kj;
                if (ih >= 0 && ih < g.h && iw >= 0 && iw < g.w)
                    s += double(w[std::size_t(((co * g.c_in + c) * g.kh + ki) * g.kw + kj)]) *
                         double(x[std::size_t(((n * g.c_in + c) * g.h + ih) * g.w + iw)]);
            }
    return s;
}

}  // namespace

TEST_CASE("concurrency: the direct convolution kernels give the same bits on 1 and 8 threads and match float64 loops") {
    const int previous = num_threads();
    // several tasks along the plane and the channels; a weight gradient over 20 tasks; a single
    // image split over blocks of output channels; 16 output channels (the weight gradient's
    // narrow tile, 16 tasks); a 7x7/2 stem (four phase planes per channel); output channels in the
    // lanes (lanes_conv_kernels.hpp) over 4 tasks forward (2 images x 2 blocks of 64) and 8 in
    // backward-data (4 blocks of the 256 input channels)
    for (const ConvGeometry& g : {geometry(2, 256, 12, 12, 40, 3, 1, 1), geometry(2, 6, 40, 40, 40, 5, 1, 2),
                                  geometry(1, 64, 15, 16, 64, 3, 1, 1), geometry(2, 32, 40, 40, 16, 3, 1, 1),
                                  geometry(2, 3, 64, 64, 24, 7, 2, 3), geometry(2, 256, 8, 10, 128, 3, 1, 1)}) {
        const std::string shape = "c_in " + std::to_string(g.c_in) + ", c_out " + std::to_string(g.c_out) + ", " +
                                  std::to_string(g.h) + " x " + std::to_string(g.w) + ", k " + std::to_string(g.kh);
        CAPTURE(shape);
        REQUIRE(cpu::conv::direct_conv_preferred<float>(g));  // the path under test
        const auto x = random_values(g.n * g.c_in * g.hw(), 1), w = random_values(g.c_out * g.k(), 2),
                   dy = random_values(g.n * g.c_out * g.p(), 3);
        const Passes one = run_on_1_and_8(g, x, w, dy);
        // and right: y and dW against float64 loops, at every 7th output
        std::int64_t checked = 0, wrong = 0;
        for (std::int64_t i = 0; i < std::int64_t(one.y.size()); i += 7, ++checked)
            wrong += far(one.y[std::size_t(i)], reference_y(g, x, w, i));
        for (std::int64_t i = 0; i < std::int64_t(one.dw.size()); i += 7, ++checked) {
            const std::int64_t kj = i % g.kw, ki = i / g.kw % g.kh, c = i / g.kk() % g.c_in, co = i / g.k();
            double s = 0;
            for (std::int64_t n = 0; n < g.n; ++n)
                for (std::int64_t oh = 0; oh < g.ho; ++oh)
                    for (std::int64_t ow = 0; ow < g.wo; ++ow) {
                        const std::int64_t ih = oh * g.sh - g.ph + ki, iw = ow * g.sw - g.pw + kj;
                        if (ih >= 0 && ih < g.h && iw >= 0 && iw < g.w)
                            s += double(dy[std::size_t(((n * g.c_out + co) * g.ho + oh) * g.wo + ow)]) *
                                 double(x[std::size_t(((n * g.c_in + c) * g.h + ih) * g.w + iw)]);
                    }
            wrong += far(one.dw[std::size_t(i)], s);
        }
        CHECK(checked > 0);
        CHECK(wrong == 0);
    }
    set_num_threads(previous);
}

TEST_CASE("concurrency: Winograd F(2x2, 3x3) gives the same bits on 1 and 8 threads and matches float64 loops") {
    const int previous = num_threads();
    // 64 -> 128 on 2 images of 16 x 14 (112 tiles: forward 2 tile blocks x 2 blocks of outputs,
    // backward-data 2 x 1, rotated); 40 -> 32 on 3 images (the 12 x 2 tile, runs that cross images)
    for (const ConvGeometry& g : {geometry(2, 64, 16, 14, 128, 3, 1, 1), geometry(3, 40, 10, 14, 32, 3, 1, 1)}) {
        CAPTURE(g.c_in);
        CAPTURE(g.c_out);
        REQUIRE(cpu::conv::winograd_preferred<float>(g));  // the path under test
        const auto x = random_values(g.n * g.c_in * g.hw(), 11), w = random_values(g.c_out * g.k(), 12),
                   dy = random_values(g.n * g.c_out * g.p(), 13);
        const Passes one = run_on_1_and_8(g, x, w, dy);
        // y and dx against float64 loops, every 5th value
        std::int64_t checked = 0, wrong = 0;
        for (std::int64_t i = 0; i < std::int64_t(one.y.size()); i += 5, ++checked)
            wrong += far(one.y[std::size_t(i)], reference_y(g, x, w, i));
        for (std::int64_t i = 0; i < std::int64_t(one.dx.size()); i += 5, ++checked) {
            const std::int64_t iw = i % g.w, ih = i / g.w % g.h, c = i / g.hw() % g.c_in, n = i / (g.hw() * g.c_in);
            double s = 0;  // dx[c, ih, iw] = sum_{co, ki, kj} w[co, c, ki, kj] dy[co, ih + 1 - ki, iw + 1 - kj]
            for (std::int64_t co = 0; co < g.c_out; ++co)
                for (std::int64_t ki = 0; ki < 3; ++ki)
                    for (std::int64_t kj = 0; kj < 3; ++kj) {
                        const std::int64_t oh = ih + 1 - ki, ow = iw + 1 - kj;
                        if (oh >= 0 && oh < g.ho && ow >= 0 && ow < g.wo)
                            s += double(w[std::size_t((co * g.c_in + c) * 9 + ki * 3 + kj)]) *
                                 double(dy[std::size_t(((n * g.c_out + co) * g.ho + oh) * g.wo + ow)]);
                    }
            wrong += far(one.dx[std::size_t(i)], s);
        }
        CHECK(checked > 0);
        CHECK(wrong == 0);
    }
    set_num_threads(previous);
}

TEST_CASE("concurrency: the 1x1 layers' gathered products and image parts give the same bits on 1 and 8 threads") {
    const int previous = num_threads();
    // 4 x 4 planes of 6 images: forward and backward-data gather the images' columns into one
    // product per tile (pointwise_gathered); 24 input channels: the weight gradient is one chunk
    // of dW's columns, cut by images into parts
    for (const ConvGeometry& g : {geometry(6, 40, 4, 4, 72, 1, 1, 0), geometry(5, 24, 12, 12, 48, 1, 1, 0)}) {
        CAPTURE(g.c_in);
        CAPTURE(g.h);
        const auto x = random_values(g.n * g.c_in * g.hw(), 4), w = random_values(g.c_out * g.k(), 5),
                   dy = random_values(g.n * g.c_out * g.p(), 6);
        const Passes one = run_on_1_and_8(g, x, w, dy);
        // every value against float64 sums: y = W x, dx = W^T dy, dW = sum over images of dy x^T
        const std::int64_t P = g.p();
        std::int64_t wrong = 0;
        for (std::int64_t n = 0; n < g.n; ++n)
            for (std::int64_t p = 0; p < P; ++p) {
                for (std::int64_t co = 0; co < g.c_out; ++co) {
                    double s = 0;
                    for (std::int64_t c = 0; c < g.c_in; ++c)
                        s += double(w[std::size_t(co * g.c_in + c)]) * double(x[std::size_t((n * g.c_in + c) * P + p)]);
                    wrong += far(one.y[std::size_t((n * g.c_out + co) * P + p)], s);
                }
                for (std::int64_t c = 0; c < g.c_in; ++c) {
                    double s = 0;
                    for (std::int64_t co = 0; co < g.c_out; ++co)
                        s += double(w[std::size_t(co * g.c_in + c)]) *
                             double(dy[std::size_t((n * g.c_out + co) * P + p)]);
                    wrong += far(one.dx[std::size_t((n * g.c_in + c) * P + p)], s);
                }
            }
        for (std::int64_t co = 0; co < g.c_out; ++co)
            for (std::int64_t c = 0; c < g.c_in; ++c) {
                double s = 0;
                for (std::int64_t n = 0; n < g.n; ++n)
                    for (std::int64_t p = 0; p < P; ++p)
                        s += double(dy[std::size_t((n * g.c_out + co) * P + p)]) *
                             double(x[std::size_t((n * g.c_in + c) * P + p)]);
                wrong += far(one.dw[std::size_t(co * g.c_in + c)], s);
            }
        CHECK(wrong == 0);
    }
    set_num_threads(previous);
}

TEST_CASE("concurrency: the depthwise kernels with the channels in the lanes give the same bits on 1 and 8 threads") {
    const int previous = num_threads();
    // 40 channels (blocks of 16, 16 and 8) over 3 images: 9 (image, block) tasks forward and
    // backward-data, and a weight gradient of 3 blocks x 3 image parts; a 5x5/2 and a 3x3 at 8 x 8
    for (ConvGeometry g : {geometry(3, 40, 16, 15, 40, 5, 2, 2), geometry(3, 40, 8, 8, 40, 3, 1, 1)}) {
        g.groups = g.c_in;
        CAPTURE(g.kh);
        REQUIRE(cpu::conv::depthwise_lanes_forward_preferred(g));  // the paths under test
        REQUIRE(cpu::conv::depthwise_lanes_backward_data_preferred(g));
        REQUIRE(cpu::conv::depthwise_lanes_backward_weight_preferred(g));
        const auto x = random_values(g.n * g.c_in * g.hw(), 4), w = random_values(g.c_out * g.k(), 5),
                   dy = random_values(g.n * g.c_out * g.p(), 6);
        const Passes one = run_on_1_and_8(g, x, w, dy);
        // and right: every value of the three passes against float64 loops
        std::vector<double> y(one.y.size(), 0.0), dx(one.dx.size(), 0.0), dw(one.dw.size(), 0.0);
        for (std::int64_t n = 0; n < g.n; ++n)
            for (std::int64_t c = 0; c < g.c_in; ++c)
                for (std::int64_t oh = 0; oh < g.ho; ++oh)
                    for (std::int64_t ow = 0; ow < g.wo; ++ow)
                        for (std::int64_t ki = 0; ki < g.kh; ++ki)
                            for (std::int64_t kj = 0; kj < g.kw; ++kj) {
                                const std::int64_t ih = oh * g.sh - g.ph + ki, iw = ow * g.sw - g.pw + kj;
                                if (ih < 0 || ih >= g.h || iw < 0 || iw >= g.w) continue;
                                const std::size_t xi = std::size_t(((n * g.c_in + c) * g.h + ih) * g.w + iw),
                                                  yi = std::size_t(((n * g.c_out + c) * g.ho + oh) * g.wo + ow),
                                                  wi = std::size_t((c * g.kh + ki) * g.kw + kj);
                                y[yi] += double(w[wi]) * double(x[xi]);
                                dx[xi] += double(w[wi]) * double(dy[yi]);
                                dw[wi] += double(dy[yi]) * double(x[xi]);
                            }
        std::int64_t wrong = 0;
        for (std::size_t i = 0; i < y.size(); ++i) wrong += far(one.y[i], y[i]);
        for (std::size_t i = 0; i < dx.size(); ++i) wrong += far(one.dx[i], dx[i]);
        for (std::size_t i = 0; i < dw.size(); ++i) wrong += far(one.dw[i], dw[i]);
        CHECK(wrong == 0);
    }
    set_num_threads(previous);
}

TEST_CASE("concurrency: the depthwise kernels with the channels in the lanes give the row kernels' bits") {
    // depthwise_lanes_kernels.hpp adds the taps of the forward and of backward-data in the order of
    // depthwise_kernels.hpp's row kernels, so the two give the same floats wherever both apply:
    // stride 1 and 2, rows longer and shorter than the lanes' cutoffs, a part block of channels
    for (ConvGeometry g : {geometry(2, 40, 16, 15, 40, 5, 2, 2), geometry(2, 40, 8, 8, 40, 3, 1, 1),
                           geometry(1, 24, 20, 70, 24, 3, 1, 1), geometry(1, 16, 33, 40, 16, 3, 2, 1)}) {
        g.groups = g.c_in;
        CAPTURE(g.w);
        const auto x = random_values(g.n * g.c_in * g.hw(), 7), w = random_values(g.c_out * g.k(), 8),
                   b = random_values(g.c_out, 9), dy = random_values(g.n * g.c_out * g.p(), 10);
        std::vector<float> y_rows(dy.size()), y_lanes(dy.size()), dx_rows(x.size()), dx_lanes(x.size());
        cpu::conv::depthwise_forward(g, x.data(), w.data(), b.data(), y_rows.data());
        cpu::conv::depthwise_lanes_forward(g, x.data(), w.data(), b.data(), y_lanes.data());
        cpu::conv::depthwise_backward_data(g, dy.data(), w.data(), dx_rows.data());
        cpu::conv::depthwise_lanes_backward_data(g, dy.data(), w.data(), dx_lanes.data());
        CHECK(same_bits(y_rows, y_lanes));
        CHECK(same_bits(dx_rows, dx_lanes));
    }
}
