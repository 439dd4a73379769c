// Tests of the metrics (include/fbseg/metrics/): hand-worked small cases, parity with MONAI and
// OpenCV (tools/make_metric_fixtures.py -> fixtures/metrics.safetensors), edge cases (empty
// masks give NaN and the reason) and error messages. Tolerances, per element:
//   Dice/IoU/...        1e-12 absolute against MONAI's Dice computed in float64
//   HD95, ASSD          1e-9 mm against MONAI's algorithm replicated in float64 (its edges, a
//                       KD-tree, numpy's percentile), and 1e-6 mm + 1e-6 relative against MONAI's
//                       own float32 output (MONAI casts surface distances to float32)
//   ellipse fit         against cv2.fitEllipseDirect (the same least-squares problem; OpenCV
//                       returns float32): centre and semi-axes 1e-3 px, angle 1e-4 rad;
//                       against cv2.fitEllipse (a different, unconstrained conic fit): 0.02 px;
//                       against the ellipse as drawn: centre 0.05 px, semi-axes 0.25 px, angle
//                       0.01 rad (cv2.ellipse draws a polygon), and the HC from Ramanujan's
//                       perimeter within 0.2 mm (0.15%); HC within 1e-4 mm of the direct fit's
//                       and 0.05% of cv2.fitEllipse's
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numbers>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "fbseg/fbseg.hpp"
#include "fbseg/metrics/metrics.hpp"
#include "support/check.hpp"
#include "support/safetensors_reader.hpp"

namespace metrics_tests {  // a namespace of its own: the test files are compiled as one unity source

using namespace fbseg;
using fbseg::test::values;
namespace fm = fbseg::metrics;

namespace {

using Vec = std::vector<double>;

Tensor u8(const std::vector<std::uint8_t>& v, const Shape& shape) { return from_vector(v, shape); }

const test_support::SafetensorsFile& fixture() {
    static const test_support::SafetensorsFile file(FBSEG_FIXTURE_DIR "/metrics.safetensors");
    return file;
}

std::vector<std::int64_t> ints(const Tensor& t) {
    std::vector<std::int64_t> out;
    for (double v : values(t)) out.push_back(std::int64_t(v));
    return out;
}

/// The [H, W] uint8 mask of a fixture ellipse: its row runs, then the hole and the extra blob.
Tensor ellipse_image(const std::string& key) {
    const auto& f = fixture();
    const auto runs = ints(f.get(key + ".runs"));
    const std::int64_t h = std::int64_t(runs.size() / 2), w = 800;
    std::vector<std::uint8_t> img(std::size_t(h * w), 0);
    for (std::int64_t r = 0; r < h; ++r)
        for (std::int64_t c = runs[std::size_t(2 * r)]; c >= 0 && c <= runs[std::size_t(2 * r + 1)]; ++c)
            img[std::size_t(r * w + c)] = 1;
    auto rect = [&](const std::string& name, std::uint8_t value) {
        if (!f.contains(key + "." + name)) return;
        const auto b = ints(f.get(key + "." + name));  // x0 y0 x1 y1, inclusive
        for (std::int64_t r = b[1]; r <= b[3]; ++r)
            for (std::int64_t c = b[0]; c <= b[2]; ++c) img[std::size_t(r * w + c)] = value;
    };
    rect("hole", 0);
    rect("blob", 1);
    return u8(img, {h, w});
}

double angle_diff(double a, double b) {  // of two axis angles (mod pi)
    double d = std::fmod(std::abs(a - b), std::numbers::pi);
    return std::min(d, std::numbers::pi - d);
}

}  // namespace

// ---- hand-worked -------------------------------------------------------------------------------

// P is a 3x3 square at rows 1-3, columns 1-3 of a 5x5 image; R the same square one column to the
// right (columns 2-4).
//   TP = 6 (columns 2-3), FP = 3 (column 1), FN = 3 (column 4)
//   Dice = 12/18 = 2/3, IoU = 6/12 = 1/2, precision = recall = 6/9, VS = 1 - |3-3|/18 = 1
// Surfaces (M XOR erosion with the 4-neighbour cross): each square minus its centre, 8 pixels.
// With spacing 1: D(P->R), in raster order of P's surface (1,1) (1,2) (1,3) (2,1) (2,3) (3,1)
// (3,2) (3,3) = 1 0 0 1 1 1 0 0 ((2,3) is R's centre, not R's surface: 1 to (2,2) or (2,4)); by
// symmetry D(R->P) = 0 0 1 1 1 0 0 1. ASSD = 8/16 = 0.5; HD95: sorted 0 0 0 0 1 1 1 1, position
// 0.95 * 7 = 6.65 between two 1s: 1.
// With spacing (rows 2 mm, columns 0.5 mm) each of those 1s is a horizontal step: 0.5 mm, so
// ASSD = 0.25 mm and HD95 = 0.5 mm.
// "Down" is P one row lower (rows 2-4), spacing (2, 0.5): D(P->Down) over P's surface as above =
// 2 2 2 0 0 0 0.5 0 (row 1 is 2 mm above Down's row 2; (3,2) is Down's centre, 0.5 mm from (3,1)
// or (3,3)), and D(Down->P) = 0 0.5 0 0 0 2 2 2. ASSD = 13/16 = 0.8125 mm; HD95: sorted
// 0 0 0 0 0.5 2 2 2, position 6.65 between two 2s: 2 mm.
TEST_CASE("metrics: a 5x5 example worked by hand") {
    std::vector<std::uint8_t> p(25, 0), r(25, 0), down(25, 0);
    for (int y = 1; y <= 3; ++y)
        for (int x = 1; x <= 3; ++x) {
            p[std::size_t(y * 5 + x)] = 1;
            r[std::size_t(y * 5 + x + 1)] = 1;
            down[std::size_t((y + 1) * 5 + x)] = 1;
        }
    const Tensor P = u8(p, {5, 5}), R = u8(r, {5, 5}), Down = u8(down, {5, 5});
    const auto c = fm::overlap_counts(P, R);
    CHECK(c.tp == 6);
    CHECK(c.fp == 3);
    CHECK(c.fn == 3);
    CHECK(c.tn == 13);
    CHECK(fm::dice(c).value == doctest::Approx(2.0 / 3).epsilon(1e-15));
    CHECK(fm::iou(c).value == 0.5);
    CHECK(fm::precision(c).value == doctest::Approx(6.0 / 9).epsilon(1e-15));
    CHECK(fm::recall(c).value == doctest::Approx(6.0 / 9).epsilon(1e-15));
    CHECK(fm::volume_similarity(c).value == 1.0);

    const std::vector<std::uint8_t> ring = {0, 0, 0, 0, 0, 0, 1, 1, 1, 0, 0, 1, 0, 1, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0};
    CHECK(values(fm::mask_edges(P)) == Vec(ring.begin(), ring.end()));
    const auto d = fm::surface_distances(P, R);
    CHECK(d.pred_to_ref == Vec{1, 0, 0, 1, 1, 1, 0, 0});
    CHECK(d.ref_to_pred == Vec{0, 0, 1, 1, 1, 0, 0, 1});
    CHECK(fm::hausdorff_distance(P, R).value == 1.0);
    CHECK(fm::average_surface_distance(P, R).value == 0.5);
    const fm::SurfaceOptions aniso{{2.0, 0.5}, 95};
    CHECK(fm::hausdorff_distance(P, R, -1, aniso).value == 0.5);
    CHECK(fm::average_surface_distance(P, R, -1, aniso).value == 0.25);
    CHECK(fm::hausdorff_distance(P, Down, -1, aniso).value == 2.0);
    CHECK(fm::average_surface_distance(P, Down, -1, aniso).value == 0.8125);
    CHECK(fm::hausdorff_distance(P, R, -1, {{}, 100}).value == 1.0);  // percentile 100: the Hausdorff distance

    // the same through evaluate_case with int64 and bool inputs
    const auto m = fm::evaluate_case(P.to(DType::Int64), R.to(DType::Bool), {1}, {.spacing = {2.0, 0.5}});
    CHECK(m.of(1).dice.value == doctest::Approx(2.0 / 3).epsilon(1e-15));
    CHECK(m.of(1).hd95_mm.value == 0.5);
    CHECK(m.of(1).assd_mm.value == 0.25);
    CHECK(m.of(1).reasons().empty());
}

TEST_CASE("metrics: percentile is numpy's linear percentile") {
    // sorted 0..8, 10: position 0.95 * 9 = 8.55 -> 8 + 0.55 * (10 - 8) = 9.1
    CHECK(fm::percentile_linear({10, 3, 1, 0, 2, 4, 8, 5, 6, 7}, 95) == doctest::Approx(9.1).epsilon(1e-15));
    CHECK(fm::percentile_linear({4, 1}, 50) == 2.5);
    CHECK(fm::percentile_linear({7}, 95) == 7);
    CHECK(fm::percentile_linear({1, 2, 3}, 100) == 3);
    CHECK(fm::percentile_linear({1, 2, 3}, 0) == 1);
    CHECK(std::isnan(fm::percentile_linear({}, 95)));
    CHECK_ERROR(fm::percentile_linear({1}, 101), "percentile_linear", "[0, 100]");
}

TEST_CASE("metrics: the distance transform is exact with anisotropic spacing (brute force)") {
    // random sparse features in [5, 9, 7], spacing (3, 0.8, 0.5): every voxel's distance against
    // the minimum over all feature voxels
    Generator gen(7);
    const Shape shape{5, 9, 7};
    const Vec sp{3.0, 0.8, 0.5};
    std::vector<std::uint8_t> f(5 * 9 * 7, 0);
    std::uint64_t counter = 0;
    for (auto& v : f) v = gen.uniform<double>(counter++) < 0.04;
    f[17] = 1;
    const Tensor edt = fm::distance_transform_edt(u8(f, shape), sp);
    Vec brute;
    for (std::int64_t i = 0; i < 315; ++i) {
        double best = std::numeric_limits<double>::infinity();
        for (std::int64_t j = 0; j < 315; ++j) {
            if (!f[std::size_t(j)]) continue;
            const double dz = sp[0] * double(i / 63 - j / 63), dy = sp[1] * double(i / 7 % 9 - j / 7 % 9),
                         dx = sp[2] * double(i % 7 - j % 7);
            best = std::min(best, std::sqrt(dz * dz + dy * dy + dx * dx));
        }
        brute.push_back(best);
    }
    CHECK_ALLCLOSE(edt, brute, 1e-12, 1e-12);
    // no feature at all: +inf everywhere
    const Vec none = values(fm::distance_transform_edt(u8(std::vector<std::uint8_t>(12, 0), {3, 4})));
    CHECK(std::all_of(none.begin(), none.end(), [](double x) { return std::isinf(x); }));
}

// ---- parity with MONAI ---------------------------------------------------------------------------

TEST_CASE("metrics: Dice, HD95 and ASSD match MONAI on the fixture cases") {
    const auto& f = fixture();
    const auto names = nlohmann::json::parse(f.all_metadata().at("seg_cases"));
    REQUIRE(names.size() >= 10);
    std::int64_t compared = 0;
    for (std::size_t k = 0; k < names.size(); ++k) {
        const std::string key = "seg" + std::to_string(k);
        INFO("case ", key, " (", names[k].get<std::string>(), ")");
        const Tensor pred = f.get(key + ".pred"), ref = f.get(key + ".ref");
        const auto classes = ints(f.get(key + ".classes"));
        const Vec spacing = values(f.get(key + ".spacing"));
        // uint8 as stored, and the same label maps as int64
        for (const bool as_int64 : {false, true}) {
            INFO("dtype ", as_int64 ? "int64" : "uint8");
            const auto m =
                as_int64 ? fm::evaluate_case(pred.to(DType::Int64), ref.to(DType::Int64), classes, {.spacing = spacing})
                         : fm::evaluate_case(pred, ref, classes, {.spacing = spacing});
            Vec dice, hd95, assd;
            for (const auto& c : m.classes) {
                dice.push_back(c.dice.value);
                hd95.push_back(c.hd95_mm.value);
                assd.push_back(c.assd_mm.value);
                for (const auto* metric : {&c.dice, &c.hd95_mm, &c.assd_mm})
                    CHECK_MESSAGE(metric->defined() == metric->reason.empty(), "a NaN without a reason or the reverse");
            }
            CHECK_ALLCLOSE(dice, values(f.get(key + ".dice")), 1e-12, 0);
            CHECK_ALLCLOSE(hd95, values(f.get(key + ".hd95")), 1e-9, 0);
            CHECK_ALLCLOSE(assd, values(f.get(key + ".assd")), 1e-9, 0);
            // MONAI's own float32 values; where MONAI has NaN or inf (an empty mask) ours is NaN
            const Vec hd_monai = values(f.get(key + ".hd95_monai")), asd_monai = values(f.get(key + ".assd_monai"));
            for (std::size_t i = 0; i < classes.size(); ++i) {
                if (std::isfinite(hd_monai[i])) {
                    CHECK(std::abs(hd95[i] - hd_monai[i]) <= 1e-6 + 1e-6 * hd_monai[i]);
                } else {
                    CHECK(std::isnan(hd95[i]));
                }
                if (std::isfinite(asd_monai[i])) {
                    CHECK(std::abs(assd[i] - asd_monai[i]) <= 1e-6 + 1e-6 * asd_monai[i]);
                } else {
                    CHECK(std::isnan(assd[i]));
                }
                ++compared;
            }
        }
    }
    CHECK(compared >= 2 * 16);
}

// ---- edge cases ------------------------------------------------------------------------------------

TEST_CASE("metrics: empty prediction, empty reference, both empty give NaN and the reason") {
    std::vector<std::uint8_t> blob(36, 0);
    blob[7] = blob[8] = blob[13] = blob[14] = 1;
    const Tensor some = u8(blob, {6, 6}), none = u8(std::vector<std::uint8_t>(36, 0), {6, 6});

    // empty prediction: Dice 0 (MONAI), precision NaN (0/0), HD95 and ASSD NaN
    auto m = fm::evaluate_case(none, some, {1}).of(1);
    CHECK(m.dice.value == 0.0);
    CHECK(m.iou.value == 0.0);
    CHECK(m.recall.value == 0.0);
    CHECK(m.volume_similarity.value == 0.0);
    CHECK(std::isnan(m.precision.value));
    CHECK(test::contains(m.precision.reason, "empty prediction"));
    CHECK(std::isnan(m.hd95_mm.value));
    CHECK(std::isnan(m.assd_mm.value));
    CHECK(test::contains(m.hd95_mm.reason, "empty prediction"));
    CHECK(m.reasons().size() == 3);

    // empty reference: not scored (MONAI ignore_empty=True): every metric NaN
    m = fm::evaluate_case(some, none, {1}).of(1);
    for (const auto& named : m.named()) {
        const std::string name = named.first;
        INFO(name);
        CHECK(std::isnan(named.second->value));
        CHECK(test::contains(named.second->reason, "empty reference"));
    }
    CHECK(test::contains(m.dice.reason, "prediction has 4 voxels"));

    // both empty
    m = fm::evaluate_case(none, none, {1}).of(1);
    CHECK(std::isnan(m.dice.value));
    CHECK(test::contains(m.dice.reason, "empty reference and empty prediction"));
    CHECK(test::contains(m.hd95_mm.reason, "empty prediction and empty reference"));

    // ignore_empty = false: MONAI's other rule (1 when both are empty, 0 when only the reference is)
    const fm::OverlapOptions keep{false};
    CHECK(fm::dice(fm::overlap_counts(none, none), keep).value == 1.0);
    CHECK(fm::iou(fm::overlap_counts(none, none), keep).value == 1.0);
    CHECK(fm::volume_similarity(fm::overlap_counts(none, none), keep).value == 1.0);
    CHECK(fm::dice(fm::overlap_counts(some, none), keep).value == 0.0);
    CHECK(fm::precision(fm::overlap_counts(some, none), keep).value == 0.0);
    CHECK(std::isnan(fm::recall(fm::overlap_counts(some, none), keep).value));
    CHECK(std::isnan(fm::precision(fm::overlap_counts(none, none), keep).value));
}

TEST_CASE("metrics: aggregate averages the defined values and counts the NaNs with their reasons") {
    std::vector<std::uint8_t> a(36, 0), b(36, 0);
    for (int i : {7, 8, 13, 14}) a[std::size_t(i)] = 1;
    for (int i : {8, 14, 20}) b[std::size_t(i)] = 1;
    const Tensor A = u8(a, {6, 6}), B = u8(b, {6, 6}), none = u8(std::vector<std::uint8_t>(36, 0), {6, 6});
    std::vector<fm::CaseMetrics> cases = {fm::evaluate_case(A, A, {1}), fm::evaluate_case(A, B, {1}),
                                          fm::evaluate_case(A, none, {1}), fm::evaluate_case(none, none, {1})};
    const auto s = fm::aggregate(cases);
    REQUIRE(s.classes.size() == 1);
    const auto& dice = s.classes[0].dice;
    // Dice A,A = 1; A,B: TP 2, FP 2, FN 1 -> 4/7; the two empty references are NaN
    CHECK(dice.count == 2);
    CHECK(dice.nan_count == 2);
    CHECK(dice.mean == doctest::Approx((1.0 + 4.0 / 7) / 2).epsilon(1e-15));
    CHECK(dice.reasons.size() == 2);
    CHECK(test::contains(dice.describe(), "2 NaN"));
    CHECK(s.mean_dice == dice.mean);
    CHECK(s.classes[0].hd95_mm.nan_count == 2);
    CHECK(s.cases == 4);
    // all NaN: the mean is NaN, never 0
    const auto empty = fm::aggregate({fm::evaluate_case(A, none, {1})});
    CHECK(std::isnan(empty.classes[0].dice.mean));
    CHECK(std::isnan(empty.mean_dice));
    CHECK(empty.classes[0].dice.nan_count == 1);
}

TEST_CASE("metrics: 3D surface distances use each axis's spacing") {
    // one voxel each, at (1, 2, 3) and (3, 0, 4) of [4, 4, 5]; spacing (2.5, 0.8, 0.3):
    // distance sqrt((2 * 2.5)^2 + (2 * 0.8)^2 + (1 * 0.3)^2) both ways
    std::vector<std::uint8_t> p(80, 0), r(80, 0);
    p[std::size_t(1 * 20 + 2 * 5 + 3)] = 1;
    r[std::size_t(3 * 20 + 0 * 5 + 4)] = 1;
    const double expected = std::sqrt(5.0 * 5.0 + 1.6 * 1.6 + 0.3 * 0.3);
    const auto m = fm::evaluate_case(u8(p, {4, 4, 5}), u8(r, {4, 4, 5}), {1}, {.spacing = {2.5, 0.8, 0.3}}).of(1);
    CHECK(m.hd95_mm.value == doctest::Approx(expected).epsilon(1e-15));
    CHECK(m.assd_mm.value == doctest::Approx(expected).epsilon(1e-15));
    // a single spacing value is isotropic
    const auto iso = fm::evaluate_case(u8(p, {4, 4, 5}), u8(r, {4, 4, 5}), {1}, {.spacing = {2.0}}).of(1);
    CHECK(iso.hd95_mm.value == doctest::Approx(2.0 * std::sqrt(4.0 + 4.0 + 1.0)).epsilon(1e-15));
}

// ---- connected components -------------------------------------------------------------------------

TEST_CASE("metrics: connected components on a known pattern") {
    // 2D [4, 5]:     4-connectivity: (0,0) | (0,4) | (1,1) | (2,3)-(2,4) | (3,0): 5 components
    //  1 0 0 0 1     8-connectivity: (0,0)-(1,1) join across the corner; (0,4) is two rows
    //  0 1 0 0 0     above (2,3)-(2,4) and (3,0) is two rows below (1,1): 4 components
    //  0 0 0 1 1
    //  1 0 0 0 0
    const std::vector<std::uint8_t> p = {1, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0};
    const auto c4 = fm::connected_components(u8(p, {4, 5}), 4);
    CHECK(c4.count == 5);
    CHECK(values(c4.labels) == Vec{1, 0, 0, 0, 2, 0, 3, 0, 0, 0, 0, 0, 0, 4, 4, 5, 0, 0, 0, 0});
    CHECK(c4.sizes == std::vector<std::int64_t>{1, 1, 1, 2, 1});
    const auto c8 = fm::connected_components(u8(p, {4, 5}), 8);
    CHECK(c8.count == 4);  // (0,0)-(1,1) join diagonally; (0,4) and (2,3) are two rows apart
    CHECK(values(c8.labels) == Vec{1, 0, 0, 0, 2, 0, 1, 0, 0, 0, 0, 0, 0, 3, 3, 4, 0, 0, 0, 0});
    CHECK(c8.sizes == std::vector<std::int64_t>{2, 1, 2, 1});
    CHECK(fm::connected_components(u8(p, {4, 5})).count == 4);  // default: 8 in 2D
    // largest: the first of the size-2 components in raster order
    CHECK(values(fm::largest_component(u8(p, {4, 5}))) ==
          Vec{1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0});
    CHECK(values(fm::largest_component(u8(p, {4, 5}), 4)) ==
          Vec{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0});

    // 3D [2, 2, 2]: (0,0,0), (1,1,0) and (0,1,1) touch pairwise along edges only: 3 components
    // with 6 (faces), 1 with 18 (faces and edges)
    std::vector<std::uint8_t> v(8, 0);
    v[0] = 1;                  // (0,0,0)
    v[1 * 4 + 1 * 2 + 0] = 1;  // (1,1,0): an edge neighbour of (0,0,0)
    v[0 * 4 + 1 * 2 + 1] = 1;  // (0,1,1): an edge neighbour of (0,0,0) and of (1,1,0)
    CHECK(fm::connected_components(u8(v, {2, 2, 2}), 6).count == 3);
    CHECK(fm::connected_components(u8(v, {2, 2, 2}), 18).count == 1);
    std::vector<std::uint8_t> corner(8, 0);
    corner[0] = corner[7] = 1;  // (0,0,0) and (1,1,1): corners only
    CHECK(fm::connected_components(u8(corner, {2, 2, 2}), 18).count == 2);
    CHECK(fm::connected_components(u8(corner, {2, 2, 2}), 26).count == 1);
    CHECK(fm::connected_components(u8(corner, {2, 2, 2})).count == 1);  // default: 26 in 3D
    // empty in, empty out
    CHECK(fm::connected_components(u8(std::vector<std::uint8_t>(6, 0), {2, 3})).count == 0);
    CHECK(values(fm::largest_component(u8(std::vector<std::uint8_t>(6, 0), {2, 3}))) == Vec(6, 0.0));
}

// ---- ellipse fit and head circumference -------------------------------------------------------------

TEST_CASE("metrics: Ramanujan's perimeter") {
    CHECK(fm::ramanujan_perimeter(3, 3) == doctest::Approx(6 * std::numbers::pi).epsilon(1e-15));
    // against the exact perimeter 4 a E(1 - b^2/a^2) (scipy.special.ellipe): 9.688448220547675 for
    // (2, 1) (Ramanujan II: 9.688448216130086, 4.6e-10 relative), 1643.3090036704007 for (300, 220)
    CHECK(fm::ramanujan_perimeter(2, 1) == doctest::Approx(9.688448216130086).epsilon(1e-14));
    CHECK(std::abs(fm::ramanujan_perimeter(300, 220) - 1643.3090036704007) < 1e-9);
    CHECK(fm::ramanujan_perimeter(0, 0) == 0);
}

TEST_CASE("metrics: ellipse fit of noisy points matches cv2.fitEllipseDirect") {
    const auto& f = fixture();
    for (int k = 0; f.contains("pts" + std::to_string(k) + ".points"); ++k) {
        const std::string key = "pts" + std::to_string(k);
        INFO(key);
        const Vec xy = values(f.get(key + ".points"));
        std::vector<fm::Point2> pts;
        for (std::size_t i = 0; i < xy.size(); i += 2) pts.push_back({xy[i], xy[i + 1]});
        const auto e = fm::fit_ellipse(pts);
        REQUIRE(e.defined());
        const Vec cv = values(f.get(key + ".cv_direct"));
        // OpenCV returns float32: 1e-5 relative of the coordinates' size
        const double scale = std::max({std::abs(cv[0]), std::abs(cv[1]), cv[2], 1.0});
        CHECK(std::abs(e.center_x - cv[0]) <= 1e-5 * scale);
        CHECK(std::abs(e.center_y - cv[1]) <= 1e-5 * scale);
        CHECK(std::abs(e.semi_axis_a - cv[2]) <= 1e-5 * scale);
        CHECK(std::abs(e.semi_axis_b - cv[3]) <= 1e-5 * scale);
        CHECK(angle_diff(e.angle_rad, cv[4]) <= 1e-4);
    }
    CHECK_FALSE(fm::fit_ellipse({{0, 0}, {1, 1}, {2, 2}, {3, 3}}).defined());
    CHECK(test::contains(fm::fit_ellipse({{0, 0}, {1, 1}, {2, 2}, {3, 3}, {4, 4}, {5, 5}}).reason, "collinear"));
}

TEST_CASE("metrics: head circumference of drawn HC18-sized ellipses matches OpenCV and the truth") {
    const auto& f = fixture();
    double worst_direct = 0, worst_fit = 0, worst_true_axes = 0, worst_hc = 0;
    for (int k = 0; f.contains("ell" + std::to_string(k) + ".runs"); ++k) {
        const std::string key = "ell" + std::to_string(k);
        INFO(key);
        const Tensor img = ellipse_image(key);
        // the contour: the pixels cv2.findContours traces, as a set
        const auto ours = fm::outer_contour(img);
        const auto cv = ints(f.get(key + ".contour"));
        std::set<std::pair<std::int64_t, std::int64_t>> a, b;
        for (const auto& p : ours) a.insert({std::int64_t(p.x), std::int64_t(p.y)});
        for (std::size_t i = 0; i < cv.size(); i += 2) b.insert({cv[i], cv[i + 1]});
        CHECK(a == b);
        CHECK(a.size() == ours.size());  // each pixel once

        const double px = values(f.get(key + ".pixel_size"))[0];
        const auto hc = fm::head_circumference(img, px);
        REQUIRE(hc.defined());
        const auto& e = hc.ellipse;
        const Vec direct = values(f.get(key + ".cv_direct")), fit = values(f.get(key + ".cv_fit")),
                  truth = values(f.get(key + ".true"));
        const Vec mine = {e.center_x, e.center_y, e.semi_axis_a, e.semi_axis_b};
        for (std::size_t i = 0; i < 4; ++i) {
            worst_direct = std::max(worst_direct, std::abs(mine[i] - direct[i]));
            worst_fit = std::max(worst_fit, std::abs(mine[i] - fit[i]));
        }
        CHECK_ALLCLOSE(mine, Vec(direct.begin(), direct.begin() + 4), 1e-3, 0);
        CHECK_ALLCLOSE(mine, Vec(fit.begin(), fit.begin() + 4), 0.02, 0);
        CHECK(angle_diff(e.angle_rad, direct[4]) <= 1e-4);
        CHECK(angle_diff(e.angle_rad, truth[4] * std::numbers::pi / 180) <= 1e-2);  // cv2.ellipse draws a polygon
        CHECK(std::abs(e.center_x - truth[0]) <= 0.05);
        CHECK(std::abs(e.center_y - truth[1]) <= 0.05);
        CHECK(std::abs(e.semi_axis_a - truth[2]) <= 0.25);
        CHECK(std::abs(e.semi_axis_b - truth[3]) <= 0.25);
        worst_true_axes =
            std::max({worst_true_axes, std::abs(e.semi_axis_a - truth[2]), std::abs(e.semi_axis_b - truth[3])});
        // HC18's columns are the pixel fit times the pixel size; HC is Ramanujan's perimeter in mm
        CHECK(hc.center_x_mm == e.center_x * px);
        CHECK(hc.semi_axes_a_mm == e.semi_axis_a * px);
        CHECK(hc.angle_deg == doctest::Approx(hc.angle_rad * 180 / std::numbers::pi));
        CHECK(hc.hc_mm == doctest::Approx(fm::ramanujan_perimeter(e.semi_axis_a, e.semi_axis_b) * px).epsilon(1e-14));
        const double hc_cv = values(f.get(key + ".hc_cv"))[0], hc_true = values(f.get(key + ".hc_true"))[0];
        CHECK(std::abs(hc.hc_mm - hc_cv) <= 5e-4 * hc_cv);
        CHECK(std::abs(hc.hc_mm - fm::ramanujan_perimeter(direct[2] * px, direct[3] * px)) <= 1e-4);
        CHECK(std::abs(hc.hc_mm - hc_true) <= 0.2);
        worst_hc = std::max(worst_hc, std::abs(hc.hc_mm - hc_true) / hc_true);
    }
    MESSAGE("worst |fit - cv2.fitEllipseDirect| ", worst_direct, " px, |fit - cv2.fitEllipse| ", worst_fit,
            " px, |semi-axis - drawn| ", worst_true_axes, " px, |HC - drawn HC| / HC ", worst_hc);
}

TEST_CASE("metrics: head circumference edge cases") {
    auto hc = fm::head_circumference(u8(std::vector<std::uint8_t>(20, 0), {4, 5}), 0.1);
    CHECK_FALSE(hc.defined());
    CHECK(std::isnan(hc.hc_mm));
    CHECK(test::contains(hc.reason, "empty mask"));
    std::vector<std::uint8_t> two(20, 0);
    two[6] = two[7] = 1;  // 2 contour pixels
    hc = fm::head_circumference(u8(two, {4, 5}), 0.1);
    CHECK(test::contains(hc.reason, "at least 5"));
    CHECK_ERROR(fm::head_circumference(u8(std::vector<std::uint8_t>(8, 1), {2, 2, 2}), 0.1), "head_circumference", "2D",
                "[2, 2, 2]");
    CHECK_ERROR(fm::head_circumference(u8(std::vector<std::uint8_t>(4, 1), {2, 2}), 0.0), "head_circumference",
                "pixel_size_mm");
}

// ---- bad input ------------------------------------------------------------------------------------------

TEST_CASE("metrics: bad input is an fbseg::Error naming the op and the shapes") {
    const Tensor a = u8(std::vector<std::uint8_t>(12, 1), {3, 4}), b = u8(std::vector<std::uint8_t>(12, 1), {4, 3});
    CHECK_ERROR(fm::evaluate_case(a, b, {1}), "evaluate_case", "uint8 [3, 4]", "uint8 [4, 3]", "same shape");
    CHECK_ERROR(fm::overlap_counts(a, b), "overlap_counts", "[3, 4]", "[4, 3]");
    CHECK_ERROR(fm::surface_distances(a, b), "surface_distances", "[3, 4]", "[4, 3]");

    std::vector<std::uint8_t> labels(12, 0);
    labels[6] = 7;
    CHECK_ERROR(fm::evaluate_case(u8(labels, {3, 4}), a, {1, 2}), "evaluate_case", "prediction has label 7", "[1, 2]",
                "{1, 2}", "uint8 [3, 4]");
    CHECK_ERROR(fm::evaluate_case(a, u8(labels, {3, 4}), {1, 2}), "evaluate_case", "reference has label 7");
    CHECK_ERROR(fm::evaluate_case(a, a, {}), "evaluate_case", "class list is empty");
    CHECK_ERROR(fm::evaluate_case(a, a, {1, 1}), "evaluate_case", "appears twice");
    CHECK_ERROR(fm::evaluate_case(a.to(DType::Float32), a.to(DType::Float32), {1}), "evaluate_case", "float32 [3, 4]",
                "uint8, bool or int64");
    CHECK_ERROR(fm::evaluate_case(u8({1, 0, 1}, {3}), u8({1, 0, 1}, {3}), {1}), "evaluate_case", "2D [H, W] or 3D",
                "[3]");
    CHECK_ERROR(fm::evaluate_case(a, a, {1}, {.spacing = {1.0, 2.0, 3.0}}), "evaluate_case", "spacing has 3 values",
                "2 axes");
    CHECK_ERROR(fm::evaluate_case(a, a, {1}, {.spacing = {1.0, -2.0}}), "evaluate_case",
                "spacing must be finite and > 0");
    CHECK_ERROR(fm::connected_components(a, 6), "connected_components", "connectivity 6", "4 or 8");
    CHECK_ERROR(fm::largest_component(u8(std::vector<std::uint8_t>(8, 1), {2, 2, 2}), 8), "largest_component",
                "6, 18 or 26");
    CHECK_ERROR(fm::distance_transform_edt(a, {1.0, 0.0}), "distance_transform_edt", "spacing");
}

TEST_CASE("metrics: an HC18-sized evaluation stays fast") {
    // 540 x 800, two classes: well under a second (the whole suite's budget is ~2 s)
    const Tensor img = ellipse_image("ell0");
    const auto t0 = std::chrono::steady_clock::now();
    const auto m = fm::evaluate_case(img, ellipse_image("ell1"), {1}, {.spacing = {0.1}});
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    CHECK(m.of(1).dice.defined());
    CHECK(s < 1.0);
}

}  // namespace metrics_tests
