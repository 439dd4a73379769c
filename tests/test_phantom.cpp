// Tests of the phantoms (include/fbseg/data/phantom/): the exact ellipse perimeter against
// independent values (2 pi r; scipy.special.ellipe, tools/phantom_reference_values.py), determinism
// (same seed -> bit-identical, other seed -> different, any call order or thread), label values and
// tissue geometry (ventricles inside the brain, never touching grey matter or the outside; the
// grey-matter ribbon thin), the T2 contrast of the noise-free image, each artefact on and off, the
// ultrasound fan and filled-ellipse label, and the HC metric (metrics/head_circumference.hpp) on
// the phantom's labels against the phantom's exact circumference.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <numbers>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include "fbseg/fbseg.hpp"
#include "fbseg/data/phantom/dataset.hpp"
#include "fbseg/data/phantom/mri.hpp"
#include "fbseg/data/phantom/shapes.hpp"
#include "fbseg/data/phantom/ultrasound.hpp"
#include "fbseg/data/phantom/write.hpp"
#include "fbseg/metrics/head_circumference.hpp"
#include "support/temp_dir.hpp"

namespace phantom_tests {  // a namespace of its own: the test files are compiled as one unity source

using namespace fbseg;
namespace ph = fbseg::data::phantom;
using data::Rng;

namespace {

std::vector<float> pixels(const Tensor& t) {
    const float* p = t.data_ptr<float>();
    return std::vector<float>(p, p + t.numel());
}
std::vector<std::int64_t> labels_of(const Tensor& t) {
    const std::int64_t* p = t.data_ptr<std::int64_t>();
    return std::vector<std::int64_t>(p, p + t.numel());
}

ph::MriPhantomOptions small_mri(std::int64_t size = 96) {
    ph::MriPhantomOptions o;
    o.height = o.width = size;
    return o;
}

ph::UsPhantomOptions small_us() {
    ph::UsPhantomOptions o;
    o.height = 135;
    o.width = 200;
    return o;
}

/// The 4-neighbours' labels of every pixel with label `value`.
template <typename F>
void for_neighbours(const std::vector<std::int64_t>& lab, std::int64_t h, std::int64_t w, std::int64_t value, F&& f) {
    for (std::int64_t r = 0; r < h; ++r)
        for (std::int64_t c = 0; c < w; ++c) {
            if (lab[std::size_t(r * w + c)] != value) continue;
            if (r > 0) f(lab[std::size_t((r - 1) * w + c)]);
            if (r + 1 < h) f(lab[std::size_t((r + 1) * w + c)]);
            if (c > 0) f(lab[std::size_t(r * w + c - 1)]);
            if (c + 1 < w) f(lab[std::size_t(r * w + c + 1)]);
        }
}

}  // namespace

TEST_CASE("phantom: the exact ellipse perimeter matches independent values") {
    // a circle: 2 pi r
    CHECK(ph::ellipse_perimeter(1, 1) == doctest::Approx(2 * std::numbers::pi).epsilon(1e-15));
    CHECK(ph::ellipse_perimeter(37.5, 37.5) == doctest::Approx(75 * std::numbers::pi).epsilon(1e-15));
    // 4 a E(1 - b^2 / a^2) by scipy 1.17.1: 4 * a * scipy.special.ellipe(1 - (b / a) ** 2)
    // (tools/phantom_reference_values.py prints these)
    CHECK(ph::ellipse_perimeter(3, 2) == doctest::Approx(15.865439589290588).epsilon(1e-14));
    CHECK(ph::ellipse_perimeter(2, 3) == doctest::Approx(15.865439589290588).epsilon(1e-14));
    CHECK(ph::ellipse_perimeter(100, 60) == doctest::Approx(510.5399772679626).epsilon(1e-14));
    CHECK(ph::ellipse_perimeter(5, 1) == doctest::Approx(21.010044539689005).epsilon(1e-14));
    // the degenerate ellipse (a segment, walked there and back) and the empty one
    CHECK(ph::ellipse_perimeter(5, 0) == 20);
    CHECK(ph::ellipse_perimeter(0, 0) == 0);
    // Ramanujan's approximation is close but not the same for an eccentric ellipse (it gives
    // 21.010026651559343 by the same formula in Python: 1.79e-5 less)
    CHECK(std::abs(metrics::ramanujan_perimeter(5, 1) - 21.010044539689005) > 1e-5);
    CHECK_THROWS_WITH_AS(ph::ellipse_perimeter(-1, 2), doctest::Contains("semi-axes must be finite and >= 0"),
                         fbseg::Error);
}

TEST_CASE("phantom: the MRI slice is deterministic in its seed") {
    const auto o = small_mri();
    Rng a = Rng::for_sample(5, 0, 3), b = Rng::for_sample(5, 0, 3), c = Rng::for_sample(5, 0, 4);
    const auto sa = ph::make_mri_slice(o, a), sb = ph::make_mri_slice(o, b), sc = ph::make_mri_slice(o, c);
    CHECK(pixels(sa.image) == pixels(sb.image));
    CHECK(labels_of(sa.label) == labels_of(sb.label));
    CHECK(sa.spacing_mm == sb.spacing_mm);
    CHECK(pixels(sa.image) != pixels(sc.image));
    CHECK(sa.image.shape() == Shape{1, 96, 96});
    CHECK(sa.label.shape() == Shape{96, 96});
    CHECK(sa.original_size == std::array<std::int64_t, 2>{96, 96});
}

TEST_CASE("phantom: MRI labels lie in FeTA's set, the brain mask is their union, and the geometry holds") {
    auto o = small_mri(160);
    o.pixel_spacing_mm = {0.25, 0.3};  // 0.4-0.48 mm pixels: the thin layers are several pixels wide
    o.slice_position = {-0.6, 0.6};
    auto mask_options = o;
    mask_options.labels = ph::MriLabels::brain_mask;
    const auto feta = data::LabelSet::feta();
    std::int64_t gm_pixels = 0, gm_thick = 0, slices_with_ventricles = 0;
    std::vector<std::int64_t> seen(8, 0);
    for (std::uint64_t i = 0; i < 16; ++i) {
        Rng rng = Rng::for_sample(11, 0, i), rng2 = Rng::for_sample(11, 0, i);
        const auto s = ph::make_mri_slice(o, rng);
        const auto m = ph::make_mri_slice(mask_options, rng2);
        const auto lab = labels_of(s.label), mask = labels_of(m.label);
        CHECK(pixels(s.image) == pixels(m.image));  // the label mode draws nothing
        const std::int64_t h = 160, w = 160;
        for (std::size_t k = 0; k < lab.size(); ++k) {
            REQUIRE(feta.contains(lab[k]));
            ++seen[std::size_t(lab[k])];
            REQUIRE(mask[k] == (lab[k] > 0 ? 1 : 0));
        }
        // ventricles: never next to the outside or to the cortex
        bool ventricles = false;
        for_neighbours(lab, h, w, 4, [&](std::int64_t n) {
            ventricles = true;
            CHECK(n != 0);
            CHECK(n != 2);
        });
        slices_with_ventricles += ventricles;
        // brain tissue (2-7) never touches the outside: external CSF lies between
        for (std::int64_t t = 2; t <= 7; ++t) for_neighbours(lab, h, w, t, [&](std::int64_t n) { CHECK(n != 0); });
        // the ribbon is thin: a grey-matter pixel whose whole ~3 mm square is grey matter is rare
        // (the cortex is 1.2-2 mm thick perpendicular to its surface; only a slice that cuts a sulcal
        // wall obliquely, or the two walls of a sulcus whose CSF cleft falls between pixels, widen it)
        const double spacing = (*s.spacing_mm)[0];
        const std::int64_t k = std::int64_t(std::ceil(1.5 / spacing));
        for (std::int64_t r = 0; r < h; ++r)
            for (std::int64_t c = 0; c < w; ++c) {
                if (lab[std::size_t(r * w + c)] != 2) continue;
                ++gm_pixels;
                bool all = true;
                for (std::int64_t dr = -k; dr <= k && all; ++dr)
                    for (std::int64_t dc = -k; dc <= k && all; ++dc) {
                        const std::int64_t rr = std::clamp(r + dr, std::int64_t(0), h - 1), cc = std::clamp(c + dc, std::int64_t(0), w - 1);
                        all = lab[std::size_t(rr * w + cc)] == 2;
                    }
                gm_thick += all;
            }
    }
    MESSAGE("grey-matter pixels ", gm_pixels, ", of which ", gm_thick, " inside a 3 mm square of grey matter");
    for (std::int64_t t = 0; t <= 7; ++t) CHECK_MESSAGE(seen[std::size_t(t)] > 0, "label ", t, " never appears");
    CHECK(slices_with_ventricles >= 4);
    CHECK(gm_pixels > 1000);
    CHECK(double(gm_thick) < 0.05 * double(gm_pixels));
}

TEST_CASE("phantom: the noise-free MRI image shows fetal T2 contrast") {
    // clean(): no texture, blur or artefacts, so each tissue's pixels carry the fetus's intensity
    // table. Chosen contrast (unmyelinated fetal brain): CSF > white matter > grey matter.
    auto o = small_mri(128);
    o.clean();
    o.slice_position = {-0.2, 0.5};
    for (std::uint64_t i = 0; i < 6; ++i) {
        Rng rng = Rng::for_sample(3, 0, i);
        const auto fetus = ph::draw_mri_fetus(o, rng);
        const auto s = ph::make_mri_slice(fetus, o, rng);
        const auto img = pixels(s.image);
        const auto lab = labels_of(s.label);
        float csf_min = 1e9f, wm_min = 1e9f, wm_max = -1e9f, gm_max = -1e9f, dgm_max = -1e9f;
        for (std::size_t k = 0; k < img.size(); ++k) {
            const float v = img[k];
            switch (lab[k]) {
                case 1:
                case 4: csf_min = std::min(csf_min, v); break;
                case 2:
                    gm_max = std::max(gm_max, v);
                    CHECK(v == float(fetus.intensity[2]));
                    break;
                case 3:
                    wm_min = std::min(wm_min, v);
                    wm_max = std::max(wm_max, v);
                    break;
                case 6: dgm_max = std::max(dgm_max, v); break;
                default: break;
            }
        }
        CHECK(csf_min > wm_max);
        CHECK(wm_min > gm_max);
        if (dgm_max > 0) CHECK(wm_min > dgm_max);
        CHECK(csf_min > 0.8f);
        CHECK(gm_max < 0.4f);
    }
}

TEST_CASE("phantom: each MRI artefact changes the image when on and is absent when off") {
    auto base_options = small_mri(96);
    base_options.bias_probability = base_options.stripe_probability = 0;
    base_options.ghost_probability = base_options.noise_probability = 0;
    auto make = [&](const ph::MriPhantomOptions& o) {
        Rng rng = Rng::for_sample(21, 0, 1);
        return ph::make_mri_slice(o, rng);
    };
    const auto base = make(base_options);
    const auto b = pixels(base.image);
    CHECK(pixels(make(base_options).image) == b);
    auto with = [&](double ph::MriPhantomOptions::*member) {
        auto o = base_options;
        o.*member = 1.0;
        const auto s = make(o);
        CHECK(labels_of(s.label) == labels_of(base.label));  // artefacts never move the anatomy
        return pixels(s.image);
    };
    {  // bias: a smooth positive gain, exp(+-b B) with |B| <= sqrt(10) (5 waves), b <= 0.35
        const auto v = with(&ph::MriPhantomOptions::bias_probability);
        CHECK(v != b);
        for (std::size_t k = 0; k < v.size(); ++k)
            if (b[k] > 0.05f) {
                const double g = double(v[k]) / double(b[k]);
                CHECK(g > std::exp(-0.35 * std::sqrt(10.0)) - 1e-4);
                CHECK(g < std::exp(0.35 * std::sqrt(10.0)) + 1e-4);
            }
    }
    {  // stripe: only darkens, by at least 1 - 0.25 somewhere
        const auto v = with(&ph::MriPhantomOptions::stripe_probability);
        double min_ratio = 1;
        for (std::size_t k = 0; k < v.size(); ++k) {
            CHECK(v[k] <= b[k] + 1e-6f);
            if (b[k] > 0.05f) min_ratio = std::min(min_ratio, double(v[k]) / double(b[k]));
        }
        CHECK(min_ratio < 0.76);
    }
    {  // ghost: adds a shifted, attenuated copy (0.05-0.2 of the image)
        const auto v = with(&ph::MriPhantomOptions::ghost_probability);
        double added = 0, total = 0;
        for (std::size_t k = 0; k < v.size(); ++k) {
            CHECK(v[k] >= b[k] - 1e-6f);
            added += v[k] - b[k];
            total += b[k];
        }
        CHECK(added / total > 0.04);
        CHECK(added / total < 0.21);
    }
    {  // Rician noise: sigma 0.01-0.05 (the difference's spread where the signal is bright)
        const auto v = with(&ph::MriPhantomOptions::noise_probability);
        double sum = 0, sum2 = 0;
        std::int64_t n = 0;
        for (std::size_t k = 0; k < v.size(); ++k)
            if (b[k] > 0.5f) {
                const double d = double(v[k]) - double(b[k]);
                sum += d;
                sum2 += d * d;
                ++n;
            }
        REQUIRE(n > 100);
        const double sd = std::sqrt(sum2 / double(n) - (sum / double(n)) * (sum / double(n)));
        CHECK(sd > 0.008);
        CHECK(sd < 0.06);
    }
}

TEST_CASE("phantom: partial MRI slices cut the head at the border of the field of view") {
    auto o = small_mri(96);
    o.slice_position = {-0.1, 0.3};
    int cut = 0, whole = 0;
    for (std::uint64_t i = 0; i < 8; ++i) {
        auto touches_border = [&](double p) {
            o.partial_probability = p;
            Rng rng = Rng::for_sample(13, 0, i);
            const auto lab = labels_of(ph::make_mri_slice(o, rng).label);
            bool border = false;
            for (std::int64_t k = 0; k < 96; ++k)
                border = border || lab[std::size_t(k)] > 0 || lab[std::size_t(95 * 96 + k)] > 0 ||
                         lab[std::size_t(k * 96)] > 0 || lab[std::size_t(k * 96 + 95)] > 0;
            return border;
        };
        cut += touches_border(1.0);
        whole += !touches_border(0.0);
    }
    CHECK(cut == 8);
    CHECK(whole >= 6);  // a large head can fill a small field of view even when centred
}

TEST_CASE("phantom: the MRI volume is a stack through one head") {
    auto o = small_mri(64);
    o.volume_slices = 12;
    Rng a = Rng::for_sample(9, 0, 0), b = Rng::for_sample(9, 0, 0);
    const auto v = ph::make_mri_volume(o, a), w = ph::make_mri_volume(o, b);
    CHECK(v.image.shape() == Shape{12, 64, 64});
    CHECK(v.labels.shape() == Shape{12, 64, 64});
    CHECK(v.spacing_mm[0] == 3.0);
    CHECK(v.spacing_mm[1] == v.spacing_mm[2]);
    CHECK(v.gestational_age_weeks >= 20);
    CHECK(v.gestational_age_weeks <= 35);
    CHECK(pixels(v.image) == pixels(w.image));
    const auto lab = labels_of(v.labels);
    std::vector<std::int64_t> brain(12, 0);
    for (std::size_t k = 0; k < lab.size(); ++k) {
        REQUIRE(lab[k] >= 0);
        REQUIRE(lab[k] <= 7);
        brain[k / (64 * 64)] += lab[k] > 0;
    }
    // the head is centred in the stack: the middle slices hold more brain than the end ones
    CHECK(brain[6] > 0);
    CHECK(brain[6] > brain[0]);
    CHECK(brain[5] > brain[11]);
}

TEST_CASE("phantom: ultrasound: black outside the fan, the label a filled ellipse, the truth exact") {
    const auto o = small_us();
    for (std::uint64_t i = 0; i < 6; ++i) {
        Rng rng = Rng::for_sample(2, 0, i);
        ph::UsHead head;
        const auto s = ph::make_us_image(o, rng, &head);
        const auto img = pixels(s.image);
        const auto lab = labels_of(s.label);
        const std::int64_t h = o.height, w = o.width;
        std::int64_t inside_fan = 0, lit = 0, area = 0;
        for (std::int64_t y = 0; y < h; ++y)
            for (std::int64_t x = 0; x < w; ++x) {
                const std::size_t k = std::size_t(y * w + x);
                CHECK(img[k] >= 0.0f);
                CHECK(img[k] <= 1.0f);
                if (!head.fan.contains(double(x), double(y))) {
                    CHECK(img[k] == 0.0f);
                } else {
                    ++inside_fan;
                    lit += img[k] > 0;
                }
                CHECK((lab[k] == 0 || lab[k] == 1));
                area += lab[k];
            }
        CHECK(double(lit) > 0.95 * double(inside_fan));
        // the label is the ellipse: its area pi a b to within the boundary's pixels
        const double a = head.semi_a, b = head.semi_b;
        CHECK(std::abs(double(area) - std::numbers::pi * a * b) < 0.5 * ph::ellipse_perimeter(a, b));
        // the centre pixel is in, the corners of the bounding box out (filled, convex)
        CHECK(lab[std::size_t(std::llround(head.center_y) * w + std::llround(head.center_x))] == 1);
        CHECK(lab[0] == 0);
        // the truth: the exact perimeter of the ellipse in mm
        REQUIRE(s.head_circumference_mm.has_value());
        CHECK(*s.head_circumference_mm == doctest::Approx(ph::ellipse_perimeter(a, b) * head.pixel_mm).epsilon(1e-12));
        CHECK(*s.head_circumference_mm >= 100);
        CHECK(*s.head_circumference_mm <= 350);
        REQUIRE(s.spacing_mm.has_value());
        CHECK((*s.spacing_mm)[0] == head.pixel_mm);
    }
}

TEST_CASE("phantom: the HC metric on the ultrasound label recovers the exact circumference") {
    // HC18's size: the fit on the 800 x 540 mask (metrics/head_circumference.hpp) against the
    // phantom's exact perimeter; over 20 images the largest relative error is reported
    ph::UsPhantomOptions o;
    o.speckle = false;  // the label does not depend on the echo; this only saves time
    double worst = 0, sum = 0;
    for (std::uint64_t i = 0; i < 20; ++i) {
        Rng rng = Rng::for_sample(18, 0, i);
        const auto s = ph::make_us_image(o, rng);
        const auto hc = metrics::head_circumference(s.label, (*s.spacing_mm)[0]);
        REQUIRE(hc.defined());
        CHECK((*s.spacing_mm)[0] >= 0.052);  // HC18's range of pixel sizes at 800 pixels wide
        CHECK((*s.spacing_mm)[0] <= 0.326);
        const double err = std::abs(hc.hc_mm - *s.head_circumference_mm) / *s.head_circumference_mm;
        worst = std::max(worst, err);
        sum += err;
    }
    MESSAGE("HC relative error over 20 images: mean ", sum / 20, ", max ", worst);
    CHECK(worst < 0.01);
}

TEST_CASE("phantom: each ultrasound effect changes the image when on and is absent when off") {
    auto off = small_us();
    off.speckle = off.shadowing = off.depth_gain = false;
    off.noise_sigma = 0;
    auto make = [&](const ph::UsPhantomOptions& o) {
        Rng rng = Rng::for_sample(4, 0, 0);
        return ph::make_us_image(o, rng);
    };
    const auto base = make(off);
    const auto b = pixels(base.image);
    CHECK(pixels(make(off).image) == b);
    Rng other = Rng::for_sample(5, 0, 0);
    CHECK(pixels(ph::make_us_image(off, other).image) != b);  // another seed, another image
    for (int which = 0; which < 4; ++which) {
        auto o = off;
        if (which == 0) o.speckle = true;
        if (which == 1) o.shadowing = true;
        if (which == 2) o.depth_gain = true;
        if (which == 3) o.noise_sigma = 0.02;
        const auto s = make(o);
        CHECK_MESSAGE(pixels(s.image) != b, "effect ", which);
        CHECK(labels_of(s.label) == labels_of(base.label));
        CHECK(*s.head_circumference_mm == *base.head_circumference_mm);
        if (which == 1) {  // shadowing only darkens
            const auto v = pixels(s.image);
            for (std::size_t k = 0; k < v.size(); ++k) CHECK(v[k] <= b[k] + 1e-6f);
        }
    }
}

TEST_CASE("phantom: PhantomDataset depends only on (seed, index), from any thread") {
    ph::PhantomDatasetOptions mo;
    mo.count = 6;
    mo.seed = 42;
    mo.mri = small_mri(48);
    mo.slices_per_subject = 2;
    const ph::PhantomDataset mri(mo);
    CHECK(mri.size() == 6);
    CHECK(mri.label_set().num_classes() == 8);
    const auto s3 = mri.get(3);
    (void)mri.get(0);
    CHECK(pixels(mri.get(3).image) == pixels(s3.image));
    CHECK(s3.id == "phantom-mri-000003");
    CHECK(s3.subject == "phantom-mri-fetus-000001");
    CHECK(mri.subject(2) == s3.subject);
    CHECK(mri.subject(4) != s3.subject);
    CHECK(pixels(mri.get(2).image) != pixels(s3.image));
    // two threads, each making every sample: the same pixels as one thread
    std::vector<std::vector<float>> one(6), two(6);
    for (std::size_t i = 0; i < 6; ++i) one[i] = pixels(mri.get(i).image);
    std::thread t1([&] {
        for (std::size_t i = 0; i < 6; i += 2) two[i] = pixels(mri.get(i).image);
    });
    std::thread t2([&] {
        for (std::size_t i = 1; i < 6; i += 2) two[i] = pixels(mri.get(i).image);
    });
    t1.join();
    t2.join();
    CHECK(one == two);
    auto other = mo;
    other.seed = 43;
    CHECK(pixels(ph::PhantomDataset(other).get(3).image) != pixels(s3.image));
    CHECK_THROWS_WITH_AS(mri.get(6), doctest::Contains("index 6 is out of range for 6 samples"), fbseg::Error);

    ph::PhantomDatasetOptions uo;
    uo.modality = ph::Modality::ultrasound;
    uo.count = 2;
    uo.us = small_us();
    const ph::PhantomDataset us(uo);
    const auto u = us.get(1);
    CHECK(u.id == "phantom-us-000001");
    CHECK(u.subject == "phantom-us-fetus-000001");
    CHECK(u.head_circumference_mm.has_value());
    CHECK(u.spacing_mm.has_value());
    CHECK(u.original_size == std::array<std::int64_t, 2>{135, 200});
    CHECK(us.label_set().binary);
}

TEST_CASE("phantom: bad options are refused with what was expected") {
    auto o = small_mri();
    o.gestational_age_min = 18;
    Rng rng(1);
    CHECK_THROWS_WITH_AS(ph::make_mri_slice(o, rng), doctest::Contains("gestational age range must lie in [20, 35]"),
                         fbseg::Error);
    o = small_mri();
    o.height = 4;
    CHECK_THROWS_WITH_AS(ph::make_mri_slice(o, rng), doctest::Contains("image size must be in [8, 8192]"), fbseg::Error);
    o = small_mri();
    o.ghost_probability = 1.5;
    CHECK_THROWS_WITH_AS(ph::make_mri_volume(o, rng), doctest::Contains("probabilities must lie in [0, 1]"),
                         fbseg::Error);
    auto u = small_us();
    u.hc_min_mm = 0;
    CHECK_THROWS_WITH_AS(ph::make_us_image(u, rng), doctest::Contains("head circumference range"), fbseg::Error);
    ph::PhantomDatasetOptions d;
    d.slices_per_subject = 0;
    CHECK_THROWS_WITH_AS(ph::PhantomDataset{d}, doctest::Contains("slices_per_subject must be >= 1"), fbseg::Error);
}

// ---- the phantom on disk (data/phantom/write.hpp), read back by the readers ---------------------

namespace {

bool touches_border(const Tensor& label) {
    const std::int64_t h = label.shape()[0], w = label.shape()[1];
    const std::int64_t* p = label.data_ptr<std::int64_t>();
    for (std::int64_t y = 0; y < h; ++y)
        for (std::int64_t x = 0; x < w; ++x)
            if (p[y * w + x] != 0 && (y == 0 || x == 0 || y == h - 1 || x == w - 1)) return true;
    return false;
}

}  // namespace

TEST_CASE("phantom: ultrasound written in HC18's layout reads back with Hc18Dataset as the in-memory phantom") {
    fbseg::test::TempDir dir("fbseg_phantom");
    ph::UsDatasetWriteOptions w;
    w.count = 4;
    w.test_count = 1;
    w.seed = 21;
    w.us = small_us();
    ph::write_us_dataset(dir.path.string(), w);

    const data::Hc18Dataset train(dir.path.string());
    REQUIRE(train.size() == 4);
    const ph::PhantomDataset memory({.modality = ph::Modality::ultrasound, .count = 5, .seed = 21, .mri = {},
                                     .us = small_us(), .slices_per_subject = 1});
    int closed = 0;
    for (std::size_t i = 0; i < train.size(); ++i) {
        const data::Sample disk = train.get(i), mem = memory.get(i);
        CAPTURE(disk.id);
        CHECK(disk.id == std::string(i < 10 ? "00" : "0") + std::to_string(i) + "_HC");
        REQUIRE(disk.image.shape() == mem.image.shape());
        // 8-bit PNG: round(255 v) / 255, so at most half a level from the float image
        const auto a = pixels(disk.image), b = pixels(mem.image);
        float worst = 0;
        for (std::size_t k = 0; k < a.size(); ++k) worst = std::max(worst, std::abs(a[k] - std::clamp(b[k], 0.0f, 1.0f)));
        CHECK(worst <= 0.5f / 255 + 1e-6f);
        REQUIRE(disk.spacing_mm.has_value());
        CHECK((*disk.spacing_mm)[0] == doctest::Approx((*mem.spacing_mm)[0]).epsilon(1e-15));
        CHECK(*disk.head_circumference_mm == doctest::Approx(*mem.head_circumference_mm).epsilon(1e-15));
        if (!touches_border(mem.label)) {  // a closed outline fills back to the label exactly
            ++closed;
            CHECK(labels_of(disk.label) == labels_of(mem.label));
        }
    }
    CHECK(closed >= 2);
    data::Hc18Options test_split;
    test_split.split = data::Hc18Split::Test;
    const data::Hc18Dataset test(dir.path.string(), test_split);
    REQUIRE(test.size() == 1);
    CHECK_FALSE(test.get(0).has_label());
}

TEST_CASE("phantom: MRI written as BIDS NIfTI and PNG slices reads back with BidsDataset and FolderDataset") {
    fbseg::test::TempDir dir("fbseg_phantom");
    ph::MriDatasetWriteOptions w;
    w.subjects = 2;
    w.seed = 5;
    w.mri = small_mri();  // 96 x 96 pixels of 1.3-2.4 mm, slices 3 mm apart: z is the coarsest axis
    w.mri.volume_slices = 6;
    ph::write_mri_dataset(dir.path.string(), w);

    const data::BidsDataset bids(dir.path.string());
    REQUIRE(bids.size() == 12);  // 2 volumes x 6 slices along z, the coarsest axis
    const data::FolderDataset png((dir.path / "png").string(), {.images_dir = "images",
                                                                 .masks_dir = "masks",
                                                                 .label_set = {},
                                                                 .subject_regex = "^(sub-[0-9]+)",
                                                                 .strip_channel_suffix = true,
                                                                 .image = {}});
    REQUIRE(png.size() == 12);
    CHECK(png.label_set().num_classes() == 8);  // FeTA's labels.json
    for (std::size_t s = 0; s < 2; ++s) {
        Rng rng = Rng::for_sample(5, 2, s);
        const ph::MriVolume v = ph::make_mri_volume(w.mri, rng);
        for (std::int64_t z = 0; z < 6; ++z) {
            const std::size_t i = s * 6 + std::size_t(z);
            const data::Sample a = bids.get(i), b = png.get(i);
            CAPTURE(a.id);
            CHECK(a.subject == "sub-00" + std::to_string(s + 1));
            CHECK(b.subject == a.subject);
            const std::int64_t hw = 96 * 96;
            const float* vi = v.image.data_ptr<float>() + z * hw;
            const std::int64_t* vl = v.labels.data_ptr<std::int64_t>() + z * hw;
            CHECK(pixels(a.image) == std::vector<float>(vi, vi + hw));  // float32 NIfTI: exact
            CHECK(labels_of(a.label) == std::vector<std::int64_t>(vl, vl + hw));
            CHECK(labels_of(b.label) == std::vector<std::int64_t>(vl, vl + hw));
            REQUIRE(a.spacing_mm.has_value());
            CHECK((*a.spacing_mm)[0] == doctest::Approx(v.spacing_mm[1]));
            CHECK((*a.spacing_mm)[1] == doctest::Approx(v.spacing_mm[2]));
        }
    }
}

}  // namespace phantom_tests
