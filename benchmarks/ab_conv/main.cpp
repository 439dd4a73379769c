// benchmarks/ab_conv/main.cpp - two copies of the CPU convolution kernels (A: an older revision,
// B: the working tree; see ab_conv.sh) timed in alternation on the three models' 3x3 layers.
//
// On a shared cloud VM the same binary moves by 10-50% from minute to minute (neighbours, clock),
// so timing A, then B, in two runs compares the machine's moods as much as the kernels. Here the
// two copies alternate call by call (A B, B A, A B, ...) on the same data, and the report is the
// ratio of their medians, with the ratio of their best times beside it: a change both agree on
// is real; where they disagree, the layer is within the noise.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "fbseg/ops/geometry/conv.hpp"

extern "C" void ab_run_a(int pass, const fbseg::ConvGeometry* g, const float* a, const float* b, float* out);
extern "C" void ab_run_b(int pass, const fbseg::ConvGeometry* g, const float* a, const float* b, float* out);

namespace {

struct Layer {
    const char* name;
    std::int64_t n, c_in, c_out, size, k, stride, groups = 1, pad = -1;  // pad -1: k / 2
};

// The 3x3 (and stem) convolutions of the classic UNet (batch 8, 256 px), resnet34-unet (batch 8,
// 256 px) and efficientnet-b0-unet's decoder (batch 16, 128 px).
constexpr Layer kLayers[] = {
    {"unet 32->32 @256", 8, 32, 32, 256, 3, 1},
    {"unet 128->128 @64", 8, 128, 128, 64, 3, 1},
    {"unet 256->256 @32", 8, 256, 256, 32, 3, 1},
    {"unet 512->512 @16", 8, 512, 512, 16, 3, 1},
    {"resnet34 stem 7x7/2", 8, 3, 64, 256, 7, 2},
    {"resnet34 64->64 @64", 8, 64, 64, 64, 3, 1},
    {"resnet34 3x3/2 64->128 @64", 8, 64, 128, 64, 3, 2},
    {"resnet34 128->128 @32", 8, 128, 128, 32, 3, 1},
    {"resnet34 3x3/2 128->256 @32", 8, 128, 256, 32, 3, 2},
    {"resnet34 256->256 @16", 8, 256, 256, 16, 3, 1},
    {"resnet34 512->512 @8", 8, 512, 512, 8, 3, 1},
    {"decoder 768->256 @16", 8, 768, 256, 16, 3, 1},
    {"decoder 384->128 @32", 8, 384, 128, 32, 3, 1},
    {"decoder 192->64 @64", 8, 192, 64, 64, 3, 1},
    {"decoder 128->32 @128", 8, 128, 32, 128, 3, 1},
    {"decoder 32->16 @256", 8, 32, 16, 256, 3, 1},
    {"effnet decoder 144->64 @32", 16, 144, 64, 32, 3, 1},
};

// efficientnet-b0-unet's depthwise layers (batch 16, 128 px): every distinct geometry of the encoder.
constexpr Layer kDepthwiseLayers[] = {
    {"dw 3x3 32 @64", 16, 32, 32, 64, 3, 1, 32},       {"dw 3x3/2 96 @64", 16, 96, 96, 64, 3, 2, 96},
    {"dw 3x3 144 @32", 16, 144, 144, 32, 3, 1, 144},   {"dw 5x5/2 144 @32", 16, 144, 144, 32, 5, 2, 144},
    {"dw 5x5 240 @16", 16, 240, 240, 16, 5, 1, 240},   {"dw 3x3/2 240 @16", 16, 240, 240, 16, 3, 2, 240},
    {"dw 3x3 480 @8", 16, 480, 480, 8, 3, 1, 480},     {"dw 5x5 480 @8", 16, 480, 480, 8, 5, 1, 480},
    {"dw 5x5 672 @8", 16, 672, 672, 8, 5, 1, 672},     {"dw 5x5/2 672 @8", 16, 672, 672, 8, 5, 2, 672},
    {"dw 5x5 1152 @4", 16, 1152, 1152, 4, 5, 1, 1152}, {"dw 3x3 1152 @4", 16, 1152, 1152, 4, 3, 1, 1152},
};

// The classic UNet's 2x2 stride-2 transposed convolutions (batch 8), as the conv2d whose
// backward-data they are: conv input = the upsampled output [8, c_in, size, size], conv output =
// the transposed convolution's input [8, c_out, size / 2, size / 2]. Time them with
// --pass backward-data.
constexpr Layer kTransposedLayers[] = {
    {"unet up 512->256 @16", 8, 256, 512, 32, 2, 2, 1, 0},
    {"unet up 256->128 @32", 8, 128, 256, 64, 2, 2, 1, 0},
    {"unet up 128->64 @64", 8, 64, 128, 128, 2, 2, 1, 0},
    {"unet up 64->32 @128", 8, 32, 64, 256, 2, 2, 1, 0},
};

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 3 && argc != 4) {
        std::fprintf(stderr, "usage: %s forward|backward-data|backward-weight ROUNDS [conv|depthwise|transposed]\n",
                     argv[0]);
        return 2;
    }
    const std::string pass_name = argv[1];
    const int pass = pass_name == "forward"           ? 0
                     : pass_name == "backward-data"   ? 1
                     : pass_name == "backward-weight" ? 2
                                                      : -1;
    const int rounds = std::atoi(argv[2]);
    if (pass < 0 || rounds < 1) {
        std::fprintf(stderr, "%s: unknown pass '%s' or rounds '%s'\n", argv[0], argv[1], argv[2]);
        return 2;
    }
    std::printf("%-30s %10s %10s %8s %8s  %s\n", "layer", "A ms", "B ms", "B/A med", "B/A min", "max |B-A| / max |A|");
    double total_a = 0, total_b = 0;
    const std::string set = argc == 4 ? argv[3] : "conv";
    const std::vector<Layer> layers =
        set == "depthwise"    ? std::vector<Layer>(std::begin(kDepthwiseLayers), std::end(kDepthwiseLayers))
        : set == "transposed" ? std::vector<Layer>(std::begin(kTransposedLayers), std::end(kTransposedLayers))
                              : std::vector<Layer>(std::begin(kLayers), std::end(kLayers));
    for (const Layer& l : layers) {
        fbseg::ConvGeometry g;
        g.n = l.n, g.c_in = l.c_in, g.c_out = l.c_out, g.h = g.w = l.size, g.kh = g.kw = l.k;
        g.sh = g.sw = l.stride, g.ph = g.pw = l.pad < 0 ? l.k / 2 : l.pad, g.groups = l.groups;
        g.ho = (g.h + 2 * g.ph - g.kh) / g.sh + 1, g.wo = (g.w + 2 * g.pw - g.kw) / g.sw + 1;
        const std::size_t nx = std::size_t(g.n * g.c_in * g.h * g.w),
                          nw = std::size_t(g.c_out * (g.c_in / g.groups) * g.kh * g.kw),
                          ny = std::size_t(g.n * g.c_out * g.ho * g.wo);
        // inputs and output of each pass: forward (x, w) -> y, backward-data (dy, w) -> dx,
        // backward-weight (x, dy) -> dw
        const std::size_t sizes[3][3] = {{nx, nw, ny}, {ny, nw, nx}, {nx, ny, nw}};
        std::vector<float> a(sizes[pass][0]), b(sizes[pass][1]), out_a(sizes[pass][2]), out_b(sizes[pass][2]);
        std::mt19937 rng(1);
        std::normal_distribution<float> normal;
        for (float& v : a) v = normal(rng);
        for (float& v : b) v = normal(rng);
        ab_run_a(pass, &g, a.data(), b.data(), out_a.data());  // warm-up, and the outputs compared
        ab_run_b(pass, &g, a.data(), b.data(), out_b.data());
        double diff = 0, scale = 0;
        for (std::size_t i = 0; i < out_a.size(); ++i) {
            diff = std::max(diff, double(std::fabs(out_a[i] - out_b[i])));
            scale = std::max(scale, double(std::fabs(out_a[i])));
        }
        std::vector<double> times_a, times_b;
        for (int r = 0; r < 2 * rounds; ++r) {
            const bool a_first = r % 2 == 0;
            for (int which = 0; which < 2; ++which) {
                const bool run_a = (which == 0) == a_first;
                const auto t0 = std::chrono::steady_clock::now();
                (run_a ? ab_run_a : ab_run_b)(pass, &g, a.data(), b.data(), (run_a ? out_a : out_b).data());
                const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
                (run_a ? times_a : times_b).push_back(dt);
            }
        }
        const double ma = median(times_a), mb = median(times_b);
        const double ba = *std::min_element(times_a.begin(), times_a.end());
        const double bb = *std::min_element(times_b.begin(), times_b.end());
        total_a += ma, total_b += mb;
        std::printf("%-30s %10.2f %10.2f %8.3f %8.3f  %.1e\n", l.name, ma * 1e3, mb * 1e3, mb / ma, bb / ba,
                    scale > 0 ? diff / scale : diff);
    }
    std::printf("%-30s %10.1f %10.1f %8.3f\n", "sum of medians", total_a * 1e3, total_b * 1e3, total_b / total_a);
    return 0;
}
