// fbseg_phantom_gallery: writes grids of phantom samples as PNG, for looking at the phantoms
// (docs/images/phantom_mri.png, phantom_mri_labels.png, phantom_us.png, phantom_mri_volume.png).
//
//   fbseg_phantom_gallery [--out DIR] [--seed N] [--rows R] [--cols C] [--size S]
//
// Each image is shown as grey levels (MRI: scaled so its 99.5th percentile is white; ultrasound:
// its [0, 1] values). The label images blend the grey image with one colour per class
// (FeTA's tissues; the ultrasound head mask's outline in yellow).
#include <stb/stb_image_write.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "fbseg/fbseg.hpp"

using namespace fbseg;
namespace ph = fbseg::data::phantom;

namespace {

struct Canvas {
    std::int64_t h, w;
    std::vector<std::uint8_t> rgb;
    Canvas(std::int64_t height, std::int64_t width) : h(height), w(width), rgb(std::size_t(height * width * 3), 0) {}
    void set(std::int64_t r, std::int64_t c, std::array<double, 3> v) {
        for (int k = 0; k < 3; ++k)
            rgb[std::size_t((r * w + c) * 3 + k)] = std::uint8_t(std::clamp(v[std::size_t(k)], 0.0, 255.0));
    }
    /// A grey canvas is written with one channel (a third of the bytes).
    bool write(const std::string& path) const {
        bool grey = true;
        for (std::size_t i = 0; i < rgb.size() && grey; i += 3) grey = rgb[i] == rgb[i + 1] && rgb[i] == rgb[i + 2];
        if (!grey) return stbi_write_png(path.c_str(), int(w), int(h), 3, rgb.data(), int(w * 3)) != 0;
        std::vector<std::uint8_t> g(rgb.size() / 3);
        for (std::size_t i = 0; i < g.size(); ++i) g[i] = rgb[3 * i];
        return stbi_write_png(path.c_str(), int(w), int(h), 1, g.data(), int(w)) != 0;
    }
};

constexpr std::array<std::array<double, 3>, 8> kColours = {{{0, 0, 0},
                                                             {60, 140, 255},    // external CSF
                                                             {240, 60, 60},     // grey matter
                                                             {250, 250, 250},   // white matter
                                                             {40, 220, 240},    // ventricles
                                                             {250, 160, 30},    // cerebellum
                                                             {60, 200, 80},     // deep grey matter
                                                             {200, 80, 220}}};  // brainstem

double white_level(const float* p, std::int64_t n, bool percentile) {
    if (!percentile) return 1.0;
    std::vector<float> v(p, p + n);
    const auto k = std::size_t(0.995 * double(n - 1));
    std::nth_element(v.begin(), v.begin() + std::ptrdiff_t(k), v.end());
    return std::max(1e-6, double(v[k]));
}

/// Draws image [1, H, W] (and its label blended in when `overlay`) at (top, left).
void draw(Canvas& canvas, const Tensor& image, const Tensor& label, std::int64_t top, std::int64_t left, bool overlay,
          bool percentile, bool outline) {
    const std::int64_t h = image.shape()[image.dim() - 2], w = image.shape()[image.dim() - 1];
    const float* p = image.data_ptr<float>();
    const std::int64_t* l = label.data_ptr<std::int64_t>();
    const double white = white_level(p, h * w, percentile);
    for (std::int64_t r = 0; r < h; ++r)
        for (std::int64_t c = 0; c < w; ++c) {
            const double g = 255.0 * std::min(1.0, double(p[r * w + c]) / white);
            std::array<double, 3> v = {g, g, g};
            const std::int64_t lab = l[r * w + c];
            if (overlay && lab > 0) {
                if (outline) {
                    const bool edge = r == 0 || c == 0 || r == h - 1 || c == w - 1 || l[(r - 1) * w + c] == 0 ||
                                      l[(r + 1) * w + c] == 0 || l[r * w + c - 1] == 0 || l[r * w + c + 1] == 0;
                    if (edge) v = {255, 230, 0};
                } else {
                    const auto& col = kColours[std::size_t(std::clamp<std::int64_t>(lab, 0, 7))];
                    for (int k = 0; k < 3; ++k) v[std::size_t(k)] = 0.45 * v[std::size_t(k)] + 0.55 * col[std::size_t(k)];
                }
            }
            canvas.set(top + r, left + c, v);
        }
}

}  // namespace

int main(int argc, char** argv) {
    std::string out = ".";
    std::uint64_t seed = 7;
    std::int64_t rows = 2, cols = 4, size = 192;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string a = argv[i];
        if (a == "--out") out = argv[i + 1];
        else if (a == "--seed") seed = std::strtoull(argv[i + 1], nullptr, 10);
        else if (a == "--rows") rows = std::atoll(argv[i + 1]);
        else if (a == "--cols") cols = std::atoll(argv[i + 1]);
        else if (a == "--size") size = std::atoll(argv[i + 1]);
        else {
            std::fprintf(stderr, "unknown argument %s\n", a.c_str());
            return 2;
        }
    }
    if (rows < 1 || cols < 1 || size < 32 || size > 1024) {
        std::fprintf(stderr, "fbseg_phantom_gallery: needs --rows, --cols >= 1 and --size in [32, 1024]\n");
        return 2;
    }
    std::error_code ec;
    std::filesystem::create_directories(out, ec);
    const std::int64_t gap = 4, n = rows * cols;
    // MRI: images, and the same images with their tissue labels
    ph::PhantomDatasetOptions mo;
    mo.modality = ph::Modality::mri;
    mo.count = std::size_t(n);
    mo.seed = seed;
    mo.mri.height = mo.mri.width = size;
    const ph::PhantomDataset mri(mo);
    Canvas images(rows * (size + gap), cols * (size + gap)), labels(rows * (size + gap), cols * (size + gap));
    for (std::int64_t i = 0; i < n; ++i) {
        const auto s = mri.get(std::size_t(i));
        const std::int64_t top = (i / cols) * (size + gap), left = (i % cols) * (size + gap);
        draw(images, s.image, s.label, top, left, false, true, false);
        draw(labels, s.image, s.label, top, left, true, true, false);
    }
    bool ok = images.write(out + "/phantom_mri.png") && labels.write(out + "/phantom_mri_labels.png");
    // Ultrasound at HC18's 800 x 540: images in the top row, the same with the label's outline below
    ph::PhantomDatasetOptions uo;
    uo.modality = ph::Modality::ultrasound;
    uo.count = 3;
    uo.seed = seed;
    const ph::PhantomDataset us(uo);
    const std::int64_t uh = uo.us.height, uw = uo.us.width;
    const std::int64_t hh = uh / 2, hw = uw / 2;  // shown at half size (2 x 2 box average)
    Canvas usc(2 * (hh + gap), 3 * (hw + gap));
    for (std::int64_t i = 0; i < 6; ++i) {
        const auto s = us.get(std::size_t(i % 3));
        Tensor img = data::make_image(1, hh, hw), lab = data::make_label(hh, hw);
        const float* p = s.image.data_ptr<float>();
        const std::int64_t* l = s.label.data_ptr<std::int64_t>();
        for (std::int64_t r = 0; r < hh; ++r)
            for (std::int64_t c = 0; c < hw; ++c) {
                const std::int64_t k = 2 * r * uw + 2 * c;
                img.data_ptr<float>()[r * hw + c] = 0.25f * (p[k] + p[k + 1] + p[k + uw] + p[k + uw + 1]);
                lab.data_ptr<std::int64_t>()[r * hw + c] = l[k];
            }
        draw(usc, img, lab, (i / 3) * (hh + gap), (i % 3) * (hw + gap), i >= 3, false, true);
        if (i < 3) std::printf("us %lld: HC %.1f mm, pixel %.3f mm\n", (long long)i, s.head_circumference_mm.value_or(0),
                    s.spacing_mm ? (*s.spacing_mm)[0] : 0.0);
    }
    ok = ok && usc.write(out + "/phantom_us.png");
    // One volume: 8 of its slices and a reformatted (coronal) cut
    ph::MriPhantomOptions vo;
    vo.height = vo.width = size;
    data::Rng rng = data::Rng::for_sample(seed, 0, 0);
    const auto vol = ph::make_mri_volume(vo, rng);
    const std::int64_t d = vol.image.shape()[0];
    Canvas vc(size + gap, 5 * (size + gap));
    for (std::int64_t k = 0; k < 4; ++k) {
        const std::int64_t z = 4 + k * (d - 8) / 3;
        const Tensor img = vol.image.select(0, z).unsqueeze(0).contiguous();
        const Tensor lab = vol.labels.select(0, z).contiguous();
        draw(vc, img, lab, 0, k * (size + gap), false, true, false);
    }
    {  // the coronal reformat (row = slice, stretched by the slice thickness)
        const double stretch = vol.spacing_mm[0] / vol.spacing_mm[1];
        const Tensor mid = vol.image.select(1, size / 2).contiguous();  // [D, W]
        const float* p = mid.data_ptr<float>();
        const double white = white_level(p, d * size, true);
        for (std::int64_t r = 0; r < std::min<std::int64_t>(size, std::int64_t(double(d) * stretch)); ++r)
            for (std::int64_t c = 0; c < size; ++c) {
                const auto z = std::min<std::int64_t>(d - 1, std::int64_t(double(r) / stretch));
                const double g = 255.0 * std::min(1.0, double(p[(d - 1 - z) * size + c]) / white);
                vc.set(r, 4 * (size + gap) + c, {g, g, g});
            }
    }
    ok = ok && vc.write(out + "/phantom_mri_volume.png");
    // generation time
    for (const auto& [name, ds] : {std::pair<const char*, const ph::PhantomDataset*>{"mri", &mri}, {"us", &us}}) {
        const auto t0 = std::chrono::steady_clock::now();
        for (std::size_t i = 0; i < 20; ++i) (void)ds->get(i % ds->size());
        const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() / 20;
        std::printf("%s: %.2f ms per sample\n", name, ms);
    }
    if (!ok) {
        std::fprintf(stderr, "fbseg_phantom_gallery: could not write the PNGs into %s\n", out.c_str());
        return 1;
    }
    std::printf("wrote %s/phantom_mri.png, phantom_mri_labels.png, phantom_us.png, phantom_mri_volume.png\n", out.c_str());
    return 0;
}
