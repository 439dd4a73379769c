// augment_gallery: the augmentation gallery docs/images/augmentations.png. A synthetic 160 x 160
// "head" (a textured ellipse with an inner structure, labels 1 and 2) goes through each transform
// with fixed parameters; every panel shows the image in grey with the label's outline in colour
// (class 1 green, class 2 red). Panels, row by row:
//   original, hflip, rot90, affine (20 deg, x1.1, shear 8 deg), elastic (alpha 300, sigma 10),
//   grid distortion (0.3), crop + pad, letterbox of a 160 x 100 crop,
//   brightness/contrast (alpha 1.3, beta 0.1), gamma 2.0, Gaussian noise 0.05, Gaussian blur 2.0,
//   bias field (MONAI degree 3), Rician noise 0.08, strong preset (two samples)
//
//   fbseg_augment_gallery [out.png]      (default docs/images/augmentations.png in the source tree)
#include <stb_image_write.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "fbseg/fbseg.hpp"

using namespace fbseg;
using namespace fbseg::data;
namespace aug = fbseg::data::augment;

namespace {

constexpr std::int64_t kSize = 160, kGap = 4, kCols = 4;

Sample phantom() {
    Sample s;
    s.image = make_image(1, kSize, kSize);
    s.label = make_label(kSize, kSize);
    float* p = s.image.data_ptr<float>();
    std::int64_t* l = s.label.data_ptr<std::int64_t>();
    for (std::int64_t r = 0; r < kSize; ++r)
        for (std::int64_t c = 0; c < kSize; ++c) {
            const double x = double(c) - 82, y = double(r) - 76;
            const double e = (x * x) / (55.0 * 55.0) + (y * y) / (42.0 * 42.0);
            const double xi = x - 10, yi = y + 5;
            const double inner = (xi * xi) / (18.0 * 18.0) + (yi * yi) / (12.0 * 12.0);
            double v = 0.15 + 0.05 * std::sin(double(r) / 5.0);
            if (e < 1) v = 0.55 + 0.15 * std::sin(double(c) / 6.0) * std::cos(double(r) / 9.0);
            if (e >= 0.85 && e < 1) v = 0.9;  // the skull
            if (inner < 1) v = 0.3;
            p[r * kSize + c] = float(v);
            l[r * kSize + c] = inner < 1 ? 2 : e < 1 ? 1 : 0;
        }
    return s;
}

Sample copy(const Sample& s) {
    Sample c = s;
    c.image = s.image.clone();
    c.label = s.label.clone();
    return c;
}

/// Draws the sample into the RGB canvas at panel (row, col), fitted into kSize x kSize.
void draw(std::vector<std::uint8_t>& rgb, std::int64_t canvas_w, std::int64_t prow, std::int64_t pcol, Sample s) {
    if (s.height() != kSize || s.width() != kSize) aug::letterbox(s, kSize, kSize);
    const float* p = s.image.data_ptr<float>();
    const std::int64_t* l = s.label.data_ptr<std::int64_t>();
    const std::int64_t oy = kGap + prow * (kSize + kGap), ox = kGap + pcol * (kSize + kGap);
    for (std::int64_t r = 0; r < kSize; ++r)
        for (std::int64_t c = 0; c < kSize; ++c) {
            const auto g = std::uint8_t(std::lround(std::clamp(double(p[r * kSize + c]), 0.0, 1.0) * 255));
            std::uint8_t px[3] = {g, g, g};
            const std::int64_t v = l[r * kSize + c];
            bool edge = false;
            if (v != 0)
                for (auto [dr, dc] : {std::pair{-1, 0}, std::pair{1, 0}, std::pair{0, -1}, std::pair{0, 1}}) {
                    const std::int64_t rr = r + dr, cc = c + dc;
                    if (rr < 0 || cc < 0 || rr >= kSize || cc >= kSize || l[rr * kSize + cc] != v) edge = true;
                }
            if (edge) {
                px[0] = v == 2 ? 255 : 40;
                px[1] = v == 1 ? 230 : 40;
                px[2] = 40;
            }
            std::uint8_t* o = rgb.data() + ((oy + r) * canvas_w + ox + c) * 3;
            o[0] = px[0];
            o[1] = px[1];
            o[2] = px[2];
        }
}

}  // namespace

int main(int argc, char** argv) {
    const std::string out = argc > 1 ? argv[1] : std::string(FBSEG_SOURCE_DIR) + "/docs/images/augmentations.png";
    const Sample base = phantom();
    std::vector<std::function<void(Sample&)>> panels = {
        [](Sample&) {},
        [](Sample& s) { aug::hflip(s); },
        [](Sample& s) { aug::rot90(s, 1); },
        [](Sample& s) {
            aug::AffineParams a;
            a.rotate_deg = 20;
            a.scale = 1.1;
            a.shear_x_deg = 8;
            aug::affine_warp(s, aug::affine_matrix(a, double(kSize - 1) / 2, double(kSize - 1) / 2));
        },
        [](Sample& s) {
            Rng rng(7);
            auto nx = aug::uniform_field(kSize, kSize, rng), ny = aug::uniform_field(kSize, kSize, rng);
            aug::remap_sample(s, aug::elastic_map(kSize, kSize, nx, ny, 300, 10), {}, "gallery");
        },
        [](Sample& s) {
            aug::remap_sample(s, aug::grid_distortion_map(kSize, kSize, 5, {1.3, 0.7, 1.2, 0.8, 1.25, 1.0},
                                                          {0.75, 1.3, 0.9, 1.2, 0.8, 1.0}),
                              {}, "gallery");
        },
        [](Sample& s) { aug::crop_or_pad(s, 30, -20, kSize, kSize); },
        [](Sample& s) {
            aug::crop_or_pad(s, 30, 0, 100, kSize);
            aug::letterbox(s, kSize, kSize);
        },
        [](Sample& s) { aug::brightness_contrast(s.image, 1.3, 0.1); },
        [](Sample& s) { aug::adjust_gamma(s.image, 2.0); },
        [](Sample& s) {
            Rng rng(3);
            aug::gaussian_noise(s.image, 0.05, rng);
        },
        [](Sample& s) { aug::gaussian_blur(s.image, 2.0); },
        [](Sample& s) { aug::bias_field(s.image, 3, {0.1, 0.3, -0.2, 0.1, 0.2, -0.1, 0.1, 0.05, 0.0, -0.1}); },
        [](Sample& s) {
            Rng rng(5);
            aug::rician_noise(s.image, 0.0, 0.08, rng);
        },
        [](Sample& s) {
            Rng rng = Rng::for_sample(2024, 0, 1);
            aug::preset("strong")(s, rng);
        },
        [](Sample& s) {
            Rng rng = Rng::for_sample(2024, 0, 4);
            aug::preset("strong")(s, rng);
        },
    };
    const std::int64_t rows = (std::int64_t(panels.size()) + kCols - 1) / kCols;
    const std::int64_t w = kGap + kCols * (kSize + kGap), h = kGap + rows * (kSize + kGap);
    std::vector<std::uint8_t> rgb(std::size_t(w * h * 3), 255);
    for (std::size_t i = 0; i < panels.size(); ++i) {
        Sample s = copy(base);
        panels[i](s);
        draw(rgb, w, std::int64_t(i) / kCols, std::int64_t(i) % kCols, std::move(s));
    }
    if (!stbi_write_png(out.c_str(), int(w), int(h), 3, rgb.data(), int(w * 3))) {
        std::fprintf(stderr, "augment_gallery: could not write %s\n", out.c_str());
        return 1;
    }
    std::printf("wrote %s (%lld x %lld, %zu panels)\n", out.c_str(), static_cast<long long>(w), static_cast<long long>(h),
                panels.size());
    return 0;
}
