// Tests of the joint image/label augmentations (include/fbseg/data/augment/): a marker drawn in
// image and label lands in the same place after every geometric transform; labels stay in the
// label set; intensity transforms leave the label alone; strength 0 and p = 0 are the identity bit
// for bit; determinism from the Rng; config errors; and parity with OpenCV 5.0, Albumentations
// 2.0.8 and MONAI 1.6.1 (tools/make_augment_fixtures.py -> fixtures/augment.safetensors).
// Parity tolerances, per element:
//   flips, crop                 exact
//   resize INTER_LINEAR         1e-5 (OpenCV's float path uses float weights, no quantisation)
//   warpAffine INTER_LINEAR     1e-5: OpenCV 5.0 warps float32 images with float coordinates and
//                               weights (OpenCV 4.x rounded every source coordinate to 1/32 px,
//                               INTER_BITS = 5, which would need max|gradient| / 32); measured 3e-7
//   warpAffine INTER_NEAREST    at most 1% of the labels differ (x.5 ties); measured 0
//   resize INTER_NEAREST_EXACT  exact off the tie rows/columns (see the test)
//   GaussianBlur, kernel        1e-6 (float kernels, float accumulation in a different order)
//   brightness/contrast, gamma, bias field  1e-6 (float32 results of the same float64/float32 formula)
//   elastic / grid maps         1e-4 px (float32 maps)
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "fbseg/data/augment/distortion.hpp"
#include "fbseg/data/augment/filter.hpp"
#include "fbseg/data/augment/geometric.hpp"
#include "fbseg/data/augment/intensity.hpp"
#include "fbseg/data/augment/pipeline.hpp"
#include "fbseg/data/augment/presets.hpp"
#include "fbseg/data/augment/warp.hpp"
#include "fbseg/fbseg.hpp"
#include "support/check.hpp"
#include "support/safetensors_reader.hpp"

namespace augment_tests {  // a namespace of its own: the test files are compiled as one unity source

using namespace fbseg;
using namespace fbseg::data;
namespace aug = fbseg::data::augment;
using fbseg::test::contains;
using fbseg::test::error_of;
using fbseg::test::values;
using json = nlohmann::json;

namespace {

const test_support::SafetensorsFile& fixture() {
    static const test_support::SafetensorsFile file(FBSEG_FIXTURE_DIR "/augment.safetensors");
    return file;
}

/// A fixture's [H, W] array as a float32 [1, H, W] image.
Tensor fx_image(const std::string& key) {
    const Tensor t = fixture().get(key);
    const std::vector<double> v = values(t);
    Tensor out = make_image(1, t.shape()[0], t.shape()[1]);
    for (std::size_t i = 0; i < v.size(); ++i) out.data_ptr<float>()[i] = float(v[i]);
    return out;
}

/// A fixture's [H, W] uint8 label as int64.
Tensor fx_label(const std::string& key) {
    const Tensor t = fixture().get(key);
    const std::vector<double> v = values(t);
    Tensor out = make_label(t.shape()[0], t.shape()[1]);
    for (std::size_t i = 0; i < v.size(); ++i) out.data_ptr<std::int64_t>()[i] = std::int64_t(v[i]);
    return out;
}

Sample fixture_sample() {
    Sample s;
    s.image = fx_image("img");
    s.label = fx_label("label");
    return s;
}

Sample copy(const Sample& s) {
    Sample c = s;
    c.image = s.image.clone();
    if (s.has_label()) c.label = s.label.clone();
    return c;
}

void check_close(const Tensor& got, const Tensor& ref, double atol, const char* what) {
    const auto r = fbseg::test::allclose(got, ref, atol, 0.0);
    double worst = 0;
    if (got.shape() == ref.shape()) {
        const auto a = values(got), b = values(ref);
        for (std::size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::abs(a[i] - b[i]));
    }
    MESSAGE(std::string(what), ": max |fbseg - reference| = ", worst, " (tolerance ", atol, ")");
    INFO(what, ": ", r.message);
    CHECK(r.ok);
}

/// The fraction of differing elements of two label maps of the same shape.
double label_mismatch(const Tensor& a, const Tensor& b) {
    REQUIRE(a.shape() == b.shape());
    const auto va = values(a), vb = values(b);
    std::size_t bad = 0;
    for (std::size_t i = 0; i < va.size(); ++i) bad += va[i] != vb[i];
    return double(bad) / double(va.size());
}

/// A 64 x 56 sample, black with a bright 8 x 8 square (image 1, label 3) at rows 14..21, cols 30..37.
Sample marker_sample() {
    Sample s;
    s.image = make_image(1, 64, 56);
    s.label = make_label(64, 56);
    for (int r = 14; r < 22; ++r)
        for (int c = 30; c < 38; ++c) {
            s.image.data_ptr<float>()[r * 56 + c] = 1.0f;
            s.label.data_ptr<std::int64_t>()[r * 56 + c] = 3;
        }
    return s;
}

struct Centroid {
    double x = 0, y = 0, mass = 0;
};

/// The centroid of the image's intensity and of the label's pixels equal to 3.
Centroid image_centroid(const Sample& s) {
    Centroid c;
    const float* p = s.image.data_ptr<float>();
    for (std::int64_t r = 0; r < s.height(); ++r)
        for (std::int64_t col = 0; col < s.width(); ++col) {
            const double v = p[r * s.width() + col];
            c.x += v * double(col);
            c.y += v * double(r);
            c.mass += v;
        }
    c.x /= c.mass;
    c.y /= c.mass;
    return c;
}
Centroid label_centroid(const Sample& s) {
    Centroid c;
    const std::int64_t* p = s.label.data_ptr<std::int64_t>();
    for (std::int64_t r = 0; r < s.height(); ++r)
        for (std::int64_t col = 0; col < s.width(); ++col)
            if (p[r * s.width() + col] == 3) {
                c.x += double(col);
                c.y += double(r);
                c.mass += 1;
            }
    c.x /= c.mass;
    c.y /= c.mass;
    return c;
}

/// One step at p = 1 as a pipeline.
aug::Pipeline one(const std::string& step_json, double strength = 1.0) {
    return aug::Pipeline::from_json(json::array({json::parse(step_json)}), strength);
}

const std::vector<std::string>& geometric_steps() {
    static const std::vector<std::string> steps = {
        R"({"name": "hflip"})",
        R"({"name": "vflip"})",
        R"({"name": "rot90"})",
        R"({"name": "affine", "rotate_deg": 40, "scale": [0.8, 1.2], "translate": 0.1, "shear_deg": 10})",
        R"({"name": "affine", "rotate_deg": 40, "scale": [0.8, 1.2], "border": "reflect101"})",
        R"({"name": "elastic", "alpha": 300, "sigma": 8})",
        R"({"name": "grid_distortion", "num_steps": 5, "distort_limit": 0.3})",
        R"({"name": "random_crop", "height": 48, "width": 70})",
        R"({"name": "resize", "height": 96, "width": 96})",
        R"({"name": "resize", "height": 40, "width": 90, "mode": "stretch"})"};
    return steps;
}

bool same(const Sample& a, const Sample& b) {
    return fbseg::test::bitwise_equal(a.image, b.image) &&
           (a.has_label() == b.has_label()) && (!a.has_label() || fbseg::test::bitwise_equal(a.label, b.label));
}

}  // namespace

TEST_CASE("augment: a marker in image and label lands in the same place after every geometric transform") {
    const Sample base = marker_sample();
    for (const auto& step : geometric_steps())
        for (std::uint64_t seed = 0; seed < 4; ++seed) {
            Sample s = copy(base);
            Rng rng = Rng::for_sample(seed, 0, 7);
            one(step)(s, rng);
            INFO(step, " seed ", seed);
            REQUIRE(s.image.shape()[1] == s.label.shape()[0]);
            REQUIRE(s.image.shape()[2] == s.label.shape()[1]);
            const Centroid ci = image_centroid(s), cl = label_centroid(s);
            REQUIRE(ci.mass > 4.0);
            REQUIRE(cl.mass > 4.0);
            CHECK(std::hypot(ci.x - cl.x, ci.y - cl.y) < 1.5);
            // Pixel by pixel: the label's nearest tap is one of the image's four bilinear taps and
            // carries the largest weight (>= 1/4), so label 3 implies image >= 1/4 and any other
            // label implies image <= 3/4 (the marker is 1, the rest 0).
            const float* p = s.image.data_ptr<float>();
            const std::int64_t* l = s.label.data_ptr<std::int64_t>();
            std::int64_t bad = 0;
            for (std::int64_t i = 0; i < s.label.numel(); ++i) bad += l[i] == 3 ? p[i] < 0.2499f : p[i] > 0.7501f;
            CHECK(bad == 0);
        }
}

TEST_CASE("augment: every channel of a multi-channel image is warped alike") {
    // Channel 1 = 2 x channel 0 + 0.5, and borders that read pixels (reflect101; the resize and blur
    // read within the image), so no fill enters: after any of these, channel 1 = 2 x channel 0 + 0.5
    // (interpolation and blur are linear with weights summing to 1).
    const Sample base = fixture_sample();
    Sample s;
    s.image = make_image(2, 32, 40);
    s.label = base.label.clone();
    for (std::int64_t i = 0; i < 32 * 40; ++i) {
        const float v = base.image.data_ptr<float>()[i];
        s.image.data_ptr<float>()[i] = v;
        s.image.data_ptr<float>()[32 * 40 + i] = 2 * v + 0.5f;
    }
    for (const char* step : {R"({"name": "affine", "rotate_deg": 30, "scale": [0.8, 1.2], "border": "reflect101"})",
                             R"({"name": "elastic", "alpha": 200, "sigma": 6, "border": "reflect101"})",
                             R"({"name": "grid_distortion", "border": "reflect101"})",
                             R"({"name": "gaussian_blur", "sigma": [1.5, 1.5]})",
                             R"({"name": "resize", "height": 50, "width": 30, "mode": "stretch"})"}) {
        Sample t = copy(s);
        Rng rng(17);
        one(step)(t, rng);
        INFO(step);
        REQUIRE(t.channels() == 2);
        const std::int64_t n = t.height() * t.width();
        const float* p = t.image.data_ptr<float>();
        double worst = 0;
        for (std::int64_t i = 0; i < n; ++i) worst = std::max(worst, std::abs(double(p[n + i]) - (2.0 * p[i] + 0.5)));
        CHECK(worst < 1e-5);
    }
}

TEST_CASE("augment: flips and quarter turns move each pixel where expected") {
    Sample s = marker_sample();  // marker rows 14..21, cols 30..37 in 64 x 56
    Sample h = copy(s);
    aug::hflip(h);  // cols -> 55 - c: 18..25
    CHECK(h.label.data_ptr<std::int64_t>()[14 * 56 + 18] == 3);
    CHECK(h.label.data_ptr<std::int64_t>()[14 * 56 + 17] == 0);
    Sample r = copy(s);
    aug::rot90(r, 1);  // numpy.rot90: out[i, j] = in[j, W-1-i]; out is 56 x 64; rows 55-37..55-30 = 18..25, cols 14..21
    REQUIRE(r.height() == 56);
    REQUIRE(r.width() == 64);
    CHECK(r.label.data_ptr<std::int64_t>()[18 * 64 + 14] == 3);
    CHECK(r.label.data_ptr<std::int64_t>()[25 * 64 + 21] == 3);
    CHECK(r.label.data_ptr<std::int64_t>()[26 * 64 + 21] == 0);
    Sample r4 = copy(s);
    for (int i = 0; i < 4; ++i) aug::rot90(r4, 1);
    CHECK(same(r4, s));
    Sample r3 = copy(s);
    aug::rot90(r3, 3);
    aug::rot90(r3, 1);
    CHECK(same(r3, s));
}

TEST_CASE("augment: labels stay within the label set after every geometric transform") {
    const Sample base = fixture_sample();  // values 0..7
    std::set<std::int64_t> in;
    for (double v : values(base.label)) in.insert(std::int64_t(v));
    REQUIRE(in.size() == 8);
    for (const auto& step : geometric_steps())
        for (std::uint64_t seed = 0; seed < 3; ++seed) {
            Sample s = copy(base);
            Rng rng = Rng::for_sample(seed, 1, 2);
            one(step)(s, rng);
            for (double v : values(s.label)) {
                INFO(step, " produced the label ", v);
                CHECK(in.count(std::int64_t(v)) == 1);
            }
        }
}

TEST_CASE("augment: intensity transforms change the image and leave the label untouched") {
    const std::vector<std::string> steps = {
        R"({"name": "brightness_contrast", "brightness": [0.1, 0.2], "contrast": [0.2, 0.3]})",
        R"({"name": "gamma", "gamma": [1.5, 2.0]})",
        R"({"name": "gaussian_noise", "std": [0.05, 0.1]})",
        R"({"name": "gaussian_blur", "sigma": [1.0, 2.0]})",
        R"({"name": "bias_field", "coeff": [0.05, 0.1]})",
        R"({"name": "rician_noise", "std": 0.1})"};
    const Sample base = fixture_sample();
    for (const auto& step : steps) {
        Sample s = copy(base);
        Rng rng(3);
        one(step)(s, rng);
        INFO(step);
        CHECK(fbseg::test::bitwise_equal(s.label, base.label));
        CHECK(s.image.shape() == base.image.shape());
        CHECK(!fbseg::test::bitwise_equal(s.image, base.image));
        // A sample without a label goes through too.
        Sample u;
        u.image = base.image.clone();
        one(step)(u, rng);
        CHECK(!u.has_label());
    }
}

TEST_CASE("augment: strength 0 and p = 0 are the identity, bit for bit") {
    const Sample base = fixture_sample();
    for (const char* name : {"none", "flips", "default", "strong"})
        for (std::uint64_t i = 0; i < 5; ++i) {
            Sample s = copy(base);
            Rng rng = Rng::for_sample(9, 0, i);
            aug::preset(name, 0.0)(s, rng);
            INFO(name, " sample ", i);
            CHECK(same(s, base));
        }
    // Every transform (the size-preserving ones) at p = 0.
    json all = aug::preset_config("strong");
    all.push_back(json::parse(R"({"name": "rot90"})"));
    for (auto& step : all) step["p"] = 0.0;
    const aug::Pipeline never = aug::Pipeline::from_json(all);
    CHECK(never.size() == 12);
    for (std::uint64_t i = 0; i < 5; ++i) {
        Sample s = copy(base);
        Rng rng = Rng::for_sample(1, 2, i);
        never(s, rng);
        CHECK(same(s, base));
    }
    // At strength 1 the strong preset does change things.
    Sample s = copy(base);
    Rng rng = Rng::for_sample(9, 0, 0);
    aug::preset("strong", 1.0)(s, rng);
    CHECK(!same(s, base));
}

TEST_CASE("augment: the result depends only on the Rng's seed, epoch and index") {
    const Sample base = fixture_sample();
    const aug::Pipeline p = aug::preset("strong");
    int differ = 0;
    for (std::uint64_t i = 0; i < 6; ++i) {
        Sample a = copy(base), b = copy(base), c = copy(base);
        Rng ra = Rng::for_sample(42, 3, i), rb = Rng::for_sample(42, 3, i), rc = Rng::for_sample(42, 4, i);
        p(a, ra);
        p(b, rb);
        p(c, rc);
        CHECK(same(a, b));
        differ += !same(a, c);
    }
    CHECK(differ >= 5);
}

TEST_CASE("augment: config errors name the step, the key and what was expected") {
    auto err = [](const std::string& config, double strength = 1.0) {
        return error_of([&] { (void)aug::Pipeline::from_json(json::parse(config), strength); });
    };
    std::string e = err(R"([{"name": "hflip"}, {"name": "twirl", "p": 0.5}])");
    CHECK(contains(e, "step 1"));
    CHECK(contains(e, "unknown transform \"twirl\""));
    CHECK(contains(e, "affine"));  // the list of known names
    e = err(R"([{"name": "affine", "rotate": 10}])");
    CHECK(contains(e, "step 0 (\"affine\")"));
    CHECK(contains(e, "unknown key \"rotate\""));
    CHECK(contains(e, "rotate_deg"));
    e = err(R"([{"name": "hflip", "p": 1.5}])");
    CHECK(contains(e, "\"p\" must be in [0, 1]"));
    e = err(R"([{"name": "gamma", "gamma": "big"}])");
    CHECK(contains(e, "\"gamma\" must be a number or a pair"));
    e = err(R"([{"name": "affine", "scale": [1.2, 0.8]}])");
    CHECK(contains(e, "lo <= hi"));
    e = err(R"([{"name": "affine", "border": "wrap"}])");
    CHECK(contains(e, "unknown border \"wrap\""));
    e = err(R"([{"name": "resize", "height": 10, "width": 10, "mode": "fit"}])");
    CHECK(contains(e, "\"mode\" must be"));
    e = err(R"([{"name": "grid_distortion", "num_steps": 2.5}])");
    CHECK(contains(e, "\"num_steps\" must be a whole number"));
    e = err(R"([{"name": "random_crop", "height": 32}])");
    CHECK(contains(e, "\"width\" must be in [1, "));
    e = err(R"([{"p": 0.5}])");
    CHECK(contains(e, "expected a string \"name\""));
    e = err(R"({"name": "hflip"})");
    CHECK(contains(e, "expected a JSON array"));
    e = err(R"([])", 1.5);
    CHECK(contains(e, "strength must be in [0, 1]"));
    e = error_of([] { (void)aug::preset("extreme"); });
    CHECK(contains(e, "unknown preset \"extreme\""));
    // Bad samples.
    Sample s;
    s.image = Tensor::empty({2, 3}, DType::Float32);
    e = error_of([&] { aug::hflip(s); });
    CHECK(contains(e, "hflip: the image must be a contiguous float32 [C, H, W]"));
    s.image = make_image(1, 4, 5);
    s.label = make_label(4, 6);
    e = error_of([&] { aug::vflip(s); });
    CHECK(contains(e, "does not match the image's height and width 4 x 5"));
    e = error_of([&] { aug::adjust_gamma(s.image, -1.0); });
    CHECK(contains(e, "gamma must be finite and > 0"));
    s.label = make_label(4, 5);
    e = error_of([&] { aug::affine_warp(s, {0, 0, 0, 0, 0, 0}); });
    INFO(e);
    CHECK(contains(e, "singular"));
}

TEST_CASE("augment: flips, affine matrix and warpAffine match OpenCV") {
    const Sample base = fixture_sample();
    Sample h = copy(base), v = copy(base);
    aug::hflip(h);
    aug::vflip(v);
    check_close(h.image, fx_image("flip.h"), 0.0, "hflip");
    check_close(v.image, fx_image("flip.v"), 0.0, "vflip");

    const double H = 32, W = 40;
    aug::AffineParams p;
    p.rotate_deg = 17;
    p.scale = 1.1;
    const aug::Affine m = aug::affine_matrix(p, (W - 1) / 2, (H - 1) / 2);
    const auto rot = values(fixture().get("affine.rot"));
    for (int i = 0; i < 6; ++i) CHECK(m[std::size_t(i)] == doctest::Approx(rot[std::size_t(i)]).epsilon(1e-12));

    const auto mv = values(fixture().get("affine.M"));
    aug::Affine M;
    for (int i = 0; i < 6; ++i) M[std::size_t(i)] = mv[std::size_t(i)];
    const double tol = 1e-5;
    Sample a = copy(base);
    aug::affine_warp(a, M, {aug::Border::Constant, 0.25f, 0});
    check_close(a.image, fx_image("affine.const"), tol, "warpAffine BORDER_CONSTANT");
    const double mism = label_mismatch(a.label, fx_label("affine.label"));
    MESSAGE("warpAffine: tolerance ", tol, ", label mismatch ", mism);
    CHECK(mism <= 0.01);
    Sample b = copy(base);
    aug::affine_warp(b, M, {aug::Border::Reflect101, 0.0f, 0});
    check_close(b.image, fx_image("affine.reflect"), tol, "warpAffine BORDER_REFLECT_101");
}

TEST_CASE("augment: resize matches cv2.resize INTER_LINEAR and INTER_NEAREST_EXACT") {
    const Sample base = fixture_sample();
    Sample up = copy(base), down = copy(base);
    aug::resize(up, 45, 51);
    aug::resize(down, 17, 23);
    check_close(up.image, fx_image("resize.up"), 1e-5, "resize up");
    check_close(down.image, fx_image("resize.down"), 1e-5, "resize down");
    // Labels: exact, except on rows/columns where (r + 0.5) * H_in / H_out is an exact integer (a
    // tie): fbseg computes floor() exactly, OpenCV's 16.16 fixed point truncates the ratio and
    // rounds such ties down (45 rows from 32: row 22 reads 15, not 16).
    for (const auto& [got, key] : {std::pair{up.label, "resize.up_label"}, std::pair{down.label, "resize.down_label"}}) {
        const Tensor ref = fx_label(key);
        const std::int64_t oh = ref.shape()[0], ow = ref.shape()[1];
        auto tie = [](std::int64_t i, std::int64_t in, std::int64_t out) { return (2 * i + 1) * in % (2 * out) == 0; };
        std::int64_t bad = 0, ties = 0;
        for (std::int64_t r = 0; r < oh; ++r)
            for (std::int64_t c = 0; c < ow; ++c) {
                const bool differ = got.data_ptr<std::int64_t>()[r * ow + c] != ref.data_ptr<std::int64_t>()[r * ow + c];
                if (tie(r, 32, oh) || tie(c, 40, ow))
                    ties += differ;
                else
                    bad += differ;
            }
        MESSAGE(std::string(key), ": ", bad, " differing labels off the tie rows/columns, ", ties, " on them");
        CHECK(bad == 0);
    }
}

TEST_CASE("augment: letterbox keeps the aspect ratio, pads, and maps a prediction back") {
    Sample s;
    s.image = make_image(1, 20, 40);
    s.label = make_label(20, 40);
    for (std::int64_t i = 0; i < 800; ++i) s.label.data_ptr<std::int64_t>()[i] = (i / 40 + i % 40) % 5;
    const Tensor original = s.label.clone();
    const aug::Letterbox lb = aug::letterbox(s, 80, 80, 0.5f);
    CHECK(lb.scale == 2.0);
    CHECK(lb.scaled_h == 40);
    CHECK(lb.scaled_w == 80);
    CHECK(lb.pad_top == 20);
    CHECK(lb.pad_left == 0);
    CHECK(s.height() == 80);
    CHECK(s.width() == 80);
    CHECK(s.image.data_ptr<float>()[0] == 0.5f);  // padding
    CHECK(s.label.data_ptr<std::int64_t>()[0] == 0);
    CHECK(s.image.data_ptr<float>()[30 * 80] == 0.0f);  // the resized image
    // A 2x upscale by nearest then back: the original exactly.
    CHECK(fbseg::test::bitwise_equal(aug::undo_letterbox_label(s.label, lb), original));
    const Tensor back = aug::undo_letterbox_image(s.image, lb);
    CHECK(back.shape() == Shape{1, 20, 40});
    // A non-integer scale: 30 x 50 into 64 x 64 -> 38 x 64 (round(30 * 1.28) = 38), pad_top 13.
    const aug::Letterbox g = aug::letterbox_geometry(30, 50, 64, 64);
    CHECK(g.scaled_h == 38);
    CHECK(g.scaled_w == 64);
    CHECK(g.pad_top == 13);
}

TEST_CASE("augment: crop and pad cut the window and pad with the fill") {
    Sample s = marker_sample();
    aug::crop_or_pad(s, 10, 26, 16, 16);  // marker at rows 4..11, cols 4..11 of the window
    CHECK(s.label.data_ptr<std::int64_t>()[4 * 16 + 4] == 3);
    CHECK(s.label.data_ptr<std::int64_t>()[3 * 16 + 4] == 0);
    CHECK(s.image.data_ptr<float>()[11 * 16 + 11] == 1.0f);
    Sample t = marker_sample();
    aug::crop_or_pad(t, -2, -3, 70, 60, {aug::Border::Constant, 0.5f, 0});
    CHECK(t.image.data_ptr<float>()[0] == 0.5f);
    CHECK(t.label.data_ptr<std::int64_t>()[(14 + 2) * 60 + 30 + 3] == 3);
}

TEST_CASE("augment: Gaussian blur matches cv2.GaussianBlur and getGaussianKernel") {
    CHECK(aug::gaussian_kernel_size(1.3) == 11);  // cvRound(1.3 * 8 + 1) = 11, | 1 = 11
    CHECK(aug::gaussian_kernel_size(0.5) == 5);   // cvRound(5) = 5
    CHECK(aug::gaussian_kernel_size(2.7) == 23);  // cvRound(22.6) = 23
    const auto k = aug::gaussian_kernel(1.3);
    const auto kref = values(fixture().get("blur.kernel13"));
    REQUIRE(k.size() == kref.size());
    for (std::size_t i = 0; i < k.size(); ++i) CHECK(double(k[i]) == doctest::Approx(kref[i]).epsilon(1e-6));
    Tensor a = fx_image("img"), b = fx_image("img");
    aug::gaussian_blur(a, 1.3);
    aug::gaussian_blur(b, 2.7);
    check_close(a, fx_image("blur.s13"), 1e-6, "GaussianBlur sigma 1.3");
    check_close(b, fx_image("blur.s27"), 1e-6, "GaussianBlur sigma 2.7");
}

TEST_CASE("augment: brightness/contrast, gamma and bias field match Albumentations and MONAI") {
    Tensor bc = fx_image("img");
    aug::brightness_contrast(bc, 1.4, 0.15);
    check_close(bc, fx_image("bc"), 1e-6, "brightness_contrast (Albumentations)");
    Tensor g = fx_image("img");
    aug::adjust_gamma(g, 1.7);
    check_close(g, fx_image("gamma"), 1e-6, "adjust_gamma (MONAI AdjustContrast)");
    Tensor bias = fx_image("img");
    aug::bias_field(bias, 3, values(fixture().get("bias.coeffs")));
    check_close(bias, fx_image("bias"), 1e-6, "bias_field (MONAI RandBiasField)");
    // Hand values: the field of coefficient (a, b) = (1, 0) alone is P_1(u) = u, the row coordinate.
    const auto f = aug::bias_field_values(3, 2, 1, {0.0, 1.0, 0.0});
    CHECK(f == std::vector<double>{-1, -1, 0, 0, 1, 1});
    // Legendre P_3(0.5) = (5 * 0.125 - 1.5) / 2 = -0.4375.
    CHECK(aug::legendre(0.5, 3)[3] == doctest::Approx(-0.4375).epsilon(1e-15));
    // Rician noise with a zero spread is |x + mean| (n1 = n2 = mean = 0 gives |x|).
    Tensor r = from_vector(std::vector<float>{-0.5f, 0.25f}, Shape{1, 1, 2});
    Rng rng(1);
    aug::rician_noise(r, 0.0, 0.0, rng);
    CHECK(values(r) == std::vector<double>{0.5, 0.25});
}

TEST_CASE("augment: elastic and grid-distortion maps match Albumentations' recipes") {
    const std::int64_t h = 32, w = 40;
    const auto noise = values(fixture().get("elastic.noise"));
    std::vector<float> nx(noise.begin(), noise.begin() + h * w), ny(noise.begin() + h * w, noise.end());
    const aug::SamplingMap e = aug::elastic_map(h, w, nx, ny, 5.0, 3.0);
    const auto ex = values(fixture().get("elastic.map_x")), ey = values(fixture().get("elastic.map_y"));
    CHECK(fbseg::test::allclose(std::vector<double>(e.x.begin(), e.x.end()), ex, 1e-4, 0).ok);
    CHECK(fbseg::test::allclose(std::vector<double>(e.y.begin(), e.y.end()), ey, 1e-4, 0).ok);
    const aug::SamplingMap g = aug::grid_distortion_map(h, w, 4, values(fixture().get("grid.steps_x")),
                                                        values(fixture().get("grid.steps_y")));
    const auto gx = values(fixture().get("grid.map_x")), gy = values(fixture().get("grid.map_y"));
    const auto rx = fbseg::test::allclose(std::vector<double>(g.x.begin(), g.x.end()), gx, 1e-4, 0);
    const auto ry = fbseg::test::allclose(std::vector<double>(g.y.begin(), g.y.end()), gy, 1e-4, 0);
    INFO(rx.message, " / ", ry.message);
    CHECK(rx.ok);
    CHECK(ry.ok);
}

}  // namespace augment_tests
