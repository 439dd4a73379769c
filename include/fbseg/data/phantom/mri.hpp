// fbseg/data/phantom/mri.hpp - a fetal T2-weighted MRI phantom: 2D slices (make_mri_slice) and
// stacks of thick slices (make_mri_volume) through one analytic 3D fetal head, with FeTA's tissue
// labels or a brain mask. docs/data.md describes the model and its figures.
//
// The head (MriFetus, drawn once per fetus) lives in a head frame in mm: x left-right, y posterior
// -> anterior, z inferior -> superior. The gestational age t (20-35 weeks, s = (t - 20) / 15) sets
// the brain's semi-axes (ax = 21 + 19 s mm, ay = 1.25 ax, az = 0.9 ax, +-7 % per fetus), the
// folding (primary sulci from ~22 weeks, depth up to 0.2 of the radius, wavelength 1.4 - 0.6 s rad;
// secondary sulci from ~27 weeks), the
// relative size of the ventricles (larger early), the thickness of the extra-axial CSF, skull and
// scalp, and the fading of the transient fetal layers (subplate, germinal matrix).
//
//   rho0 = |(x/ax, y/ay, z/az)|          the cerebrum's ellipsoid
//   rho1 = |((x, y, z) - c1) / s1|       the posterior fossa's (cerebellum, brainstem, 4th ventricle)
//   L = min(rho0, rho1)                  intracranial where L <= 1 + c; skull, then scalp outside
//   pial surface rho0 = 1 - Sylvian(u)   the outer surface, pushed in by the Sylvian fissure
//   sulci                                clefts of CSF (half-width 0.25-0.45 mm) lined by cortex
//                                        (walls and fundus of thickness g), down to a depth
//                                        D (0.6 + 0.4 tanh m(u)): where t = |f(u)| / |grad f| R,
//                                        about the distance to the zero set of a 3D WaveField f on
//                                        the direction u = q / |q|, is small; the zero set is a
//                                        network of sulci. Never within white matter round the
//                                        ventricles (their level < 1.6)
//   grey matter                          a ribbon of thickness g (1.2-2 mm) under the pial surface,
//                                        along the sulci, the interhemispheric fissure and the tentorium
//   ventricles, deep grey matter         unions of ellipsoids (lateral ventricles: body, atrium,
//                                        temporal horn; 3rd and 4th ventricles; thalami, basal
//                                        ganglia), their boundary perturbed by a smooth field
//
// T2 contrast (fetal brain, unmyelinated): CSF and amniotic fluid brightest (fluid 1.0, ventricles
// 0.95, external CSF 0.9), white matter bright (0.58, high water content; the subplate brighter
// before ~30 weeks), cortical grey matter dark (0.32), deep grey matter dark (0.36), cerebellum
// (0.42) and brainstem (0.40, early myelination) in between, skull dark (0.1). Each fetus scales
// each tissue by 1 + N(0, 0.03) (the ordering stays).
//
// Artefacts, each applied with its probability (drawn per image; all parameters are drawn whether
// or not the artefact is on, so switching one off changes nothing else):
//   bias field   I *= exp(b B(x)), B a 3D WaveField of wavelengths 150-400 mm (world frame, so
//                smooth across the slices of a volume), b uniform in bias_strength
//   stripes      I *= 1 - d exp(-(n . x - o)^2 / (2 w^2)): a dark band of depth d, width w
//                (2D slices); in volumes whole slices get gains 1 - d (slice-to-slice jumps)
//   ghosting     I += a I(shifted by N / k along the phase-encode axis, wrapping): a shifted,
//                attenuated copy (a in ghost_strength), as periodic motion makes
//   Rician noise I = |I + sigma (n1 + i n2)| (filters.hpp), sigma in noise_sigma (fluid ~ 1)
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <numbers>
#include <string>
#include <vector>

#include "fbseg/core/error.hpp"
#include "fbseg/core/shape.hpp"
#include "fbseg/core/tensor.hpp"
#include "fbseg/data/phantom/filters.hpp"
#include "fbseg/data/phantom/shapes.hpp"
#include "fbseg/data/random.hpp"
#include "fbseg/data/sample.hpp"

namespace fbseg::data::phantom {

/// What the label map holds: FeTA's tissues (LabelSet::feta(), 0-7) or the brain mask (0/1: the
/// union of tissues 1-7, i.e. everything inside the skull: external CSF included).
enum class MriLabels { tissues, brain_mask };

struct MriPhantomOptions {
    std::int64_t height = 256;
    std::int64_t width = 256;
    MriLabels labels = MriLabels::tissues;
    /// Gestational age in weeks, drawn uniformly (20 <= min <= max <= 35).
    double gestational_age_min = 20;
    double gestational_age_max = 35;
    /// In-plane pixel size in mm, drawn uniformly at a 256-pixel field of view and scaled by
    /// 256 / max(H, W) (so a smaller image shows the same anatomy, coarser).
    std::array<double, 2> pixel_spacing_mm = {0.5, 0.9};
    /// Where a 2D slice cuts the head: z / az of the brain, drawn uniformly (-1: the skull base,
    /// 1: the vertex). Below about -0.3 the slice shows cerebellum and brainstem.
    std::array<double, 2> slice_position = {-0.75, 0.8};
    /// Largest tilt of the slice plane out of the axial plane (degrees); the in-plane rotation is
    /// uniform in [0, 360).
    double max_tilt_deg = 12;
    /// Probability that the head is placed partly outside the field of view.
    double partial_probability = 0.15;
    /// The in-plane point spread (Gaussian sigma, pixels); 0 = none.
    double blur_sigma_px = 0.6;
    /// Relative amplitude of the tissue texture (smoothed noise): brain, then outside the brain.
    double texture_brain = 0.04;
    double texture_outside = 0.10;
    // Artefacts: probability, then the range of their strength.
    double bias_probability = 0.8;
    std::array<double, 2> bias_strength = {0.1, 0.35};
    double stripe_probability = 0.25;
    std::array<double, 2> stripe_depth = {0.25, 0.6};
    double ghost_probability = 0.3;
    std::array<double, 2> ghost_strength = {0.05, 0.2};
    double noise_probability = 1.0;
    std::array<double, 2> noise_sigma = {0.01, 0.05};
    // Volumes (make_mri_volume): number of slices, their spacing, per-slice fetal motion.
    std::int64_t volume_slices = 32;
    double slice_thickness_mm = 3.0;
    double motion_mm = 0.8;   // std of each slice's in-plane shift
    double motion_deg = 2.0;  // std of each slice's in-plane rotation

    /// No artefacts, no texture, no blur: the piecewise-constant tissue image (tests use it).
    MriPhantomOptions& clean() {
        bias_probability = stripe_probability = ghost_probability = noise_probability = 0;
        texture_brain = texture_outside = 0;
        blur_sigma_px = 0;
        return *this;
    }
};

namespace mri_detail {

// Tissue codes: 0-7 are FeTA's labels (0 unused inside the head), the rest are outside the brain.
enum Tissue : std::uint8_t {
    kExternalCsf = 1, kGreyMatter = 2, kWhiteMatter = 3, kVentricles = 4, kCerebellum = 5, kDeepGrey = 6,
    kBrainstem = 7, kSkull = 8, kScalp = 9, kSoftTissue = 10, kEye = 11, kFluid = 12, kMaternal = 13, kBody = 14,
    kTissueCount = 15
};

// Base T2 intensities (fluid = 1), indexed by Tissue; kMaternal is computed per point.
inline constexpr std::array<double, kTissueCount> kBaseIntensity = {
    0.0, 0.90, 0.32, 0.58, 0.95, 0.42, 0.36, 0.40, 0.10, 0.50, 0.42, 0.95, 1.00, 0.40, 0.38};

struct Ellipsoid {
    double cx = 0, cy = 0, cz = 0, sx = 1, sy = 1, sz = 1;
    double level2(double x, double y, double z) const {  // squared normalised radius
        const double u = (x - cx) / sx, v = (y - cy) / sy, w = (z - cz) / sz;
        return u * u + v * v + w * w;
    }
};

}  // namespace mri_detail

/// One fetus: the head's shape and tissue parameters, in the head frame (mm). Slices of one
/// fetus (a volume, or a PhantomDataset subject) share it.
struct MriFetus {
    double gestational_age_weeks = 0;
    double ax = 0, ay = 0, az = 0;  // the cerebrum's semi-axes, mm
    double csf_rel = 0, skull_rel = 0, scalp_rel = 0;  // shell thicknesses / mean radius
    double gm_rel = 0, gm_mm = 0;                      // cortical thickness
    double r_mean = 0;  // (ax + ay + az) / 3, mm
    double sulcal_depth = 0, secondary_depth = 0;
    double sulcal_gradient = 0;  // typical |grad f| of the primary sulcal field on the unit sphere
    double cleft_mm = 0;         // half-width of the CSF in a sulcus
    double sylvian_depth = 0, sylvian_width = 0;
    double fissure_mm = 0;
    double subplate = 0, germinal = 0;  // transient-layer contrast (fades with age)
    double folia = 0;                   // cerebellar folia contrast
    WaveField sulci, secondary, sulcal_mod, ventricle_shape, fluid_shape, maternal_mix;
    std::vector<mri_detail::Ellipsoid> ventricles, deep_grey;
    mri_detail::Ellipsoid posterior_fossa, cerebellum, fourth_ventricle, face, body;
    std::array<mri_detail::Ellipsoid, 2> eyes = {};
    double fluid_radius = 0;
    std::array<double, mri_detail::kTissueCount> intensity = mri_detail::kBaseIntensity;

    /// The half-extent of the head in mm (long semi-axis through the scalp).
    double radius_mm() const { return ay * (1 + csf_rel + skull_rel + scalp_rel); }
};

/// Draws a fetus (gestational age, size, folding, ventricles, surroundings).
inline MriFetus draw_mri_fetus(const MriPhantomOptions& o, Rng& rng) {
    using mri_detail::Ellipsoid;
    FBSEG_CHECK(o.gestational_age_min >= 20 && o.gestational_age_max <= 35 &&
                    o.gestational_age_min <= o.gestational_age_max,
                "phantom::draw_mri_fetus: the gestational age range must lie in [20, 35] weeks with min <= max but is [",
                o.gestational_age_min, ", ", o.gestational_age_max, "]");
    MriFetus f;
    f.gestational_age_weeks = rng.uniform(o.gestational_age_min, o.gestational_age_max);
    const double s = (f.gestational_age_weeks - 20) / 15;
    const double scale = 1 + 0.07 * std::clamp(rng.normal(), -2.0, 2.0);
    f.ax = (21 + 19 * s) * scale * rng.uniform(0.95, 1.05);
    f.ay = 1.25 * f.ax * rng.uniform(0.94, 1.06);
    f.az = 0.9 * f.ax * rng.uniform(0.94, 1.06);
    const double r_mean = (f.ax + f.ay + f.az) / 3;
    f.r_mean = r_mean;
    f.csf_rel = (2.6 - 1.0 * s) * rng.uniform(0.8, 1.3) / r_mean;
    f.skull_rel = (1.4 + 0.8 * s) / r_mean;
    f.scalp_rel = (2.0 + 2.0 * s) * rng.uniform(0.8, 1.2) / r_mean;
    f.gm_mm = rng.uniform(1.2, 1.6) + 0.4 * s;
    f.gm_rel = f.gm_mm / r_mean;
    f.sulcal_depth = 0.015 + 0.2 * smoothstep(0.1, 0.65, s);
    f.secondary_depth = 0.1 * smoothstep(0.45, 1.0, s);
    const double lambda = 1.4 - 0.6 * s;
    f.sulci = WaveField(rng, 3, 12, 0.8 * lambda, 1.25 * lambda);
    f.secondary = WaveField(rng, 3, 12, 0.4 * lambda, 0.6 * lambda);
    f.sulcal_mod = WaveField(rng, 3, 4, 1.5, 3.0);
    f.sulcal_gradient = 2 * std::numbers::pi / lambda * std::sqrt(2.0 / 3.0);  // E|grad_t f|^2 = (2/3) k^2
    f.cleft_mm = rng.uniform(0.25, 0.45);
    f.sylvian_depth = 0.06 + 0.09 * s;
    f.sylvian_width = 0.5 - 0.25 * s;
    f.fissure_mm = 0.6 + 0.4 * s;
    f.subplate = 0.10 * (1 - smoothstep(0.3, 0.75, s));
    f.germinal = 0.16 * (1 - smoothstep(0.2, 0.6, s));
    f.folia = 0.08 * smoothstep(0.3, 0.8, s);
    f.ventricle_shape = WaveField(rng, 3, 6, 8, 25);
    const double v = (1.25 - 0.35 * s) * rng.uniform(0.85, 1.2);
    const double ax = f.ax, ay = f.ay, az = f.az;
    for (double side : {-1.0, 1.0}) {
        f.ventricles.push_back({side * 0.16 * ax, 0.12 * ay, 0.22 * az, 0.09 * v * ax, 0.38 * ay, 0.09 * v * az});
        f.ventricles.push_back({side * 0.24 * ax, -0.32 * ay, 0.12 * az, 0.13 * v * ax, 0.2 * ay, 0.15 * v * az});
        f.ventricles.push_back({side * 0.4 * ax, 0.0, -0.12 * az, 0.05 * v * ax, 0.2 * ay, 0.05 * v * az});
        f.deep_grey.push_back({side * 0.11 * ax, -0.08 * ay, -0.02 * az, 0.10 * ax, 0.17 * ay, 0.14 * az});
        f.deep_grey.push_back({side * 0.26 * ax, 0.12 * ay, 0.03 * az, 0.085 * ax, 0.2 * ay, 0.15 * az});
    }
    f.ventricles.push_back({0, -0.02 * ay, 0.0, 0.025 * v * ax, 0.2 * ay, 0.16 * az});  // third ventricle
    f.posterior_fossa = {0, -0.55 * ay, -0.62 * az, 0.6 * ax, 0.38 * ay, 0.4 * az};
    f.cerebellum = {0, -0.6 * ay, -0.6 * az, 0.55 * ax, 0.27 * ay, 0.33 * az};
    f.fourth_ventricle = {0, -0.285 * ay, -0.55 * az, 0.07 * ax, 0.04 * ay, 0.1 * az};
    f.face = {0, 0.9 * ay, -0.78 * az, 0.75 * ax, 0.45 * ay, 0.45 * az};
    const double eye = rng.uniform(0.11, 0.14) * ax;
    f.eyes[0] = {-0.45 * ax, 1.2 * ay, -0.6 * az, eye, eye, eye};
    f.eyes[1] = {0.45 * ax, 1.2 * ay, -0.6 * az, eye, eye, eye};
    // the trunk, next to the head in a random direction, mostly in the fluid
    const double t = rng.uniform(0, 2 * std::numbers::pi), bz = rng.uniform(-1.0, 0.2);
    const double br = ay * rng.uniform(0.9, 1.3);
    f.body = {std::cos(t) * (ay + 0.9 * br) * 1.1, std::sin(t) * (ay + 0.9 * br) * 1.1, bz * az, br, br * 0.8, br * 1.5};
    f.fluid_radius = ay * rng.uniform(1.4, 2.3);
    f.fluid_shape = WaveField(rng, 3, 6, 80, 200);
    f.maternal_mix = WaveField(rng, 3, 10, 30, 120);
    for (int i = 1; i < mri_detail::kTissueCount; ++i) f.intensity[std::size_t(i)] *= 1 + 0.03 * std::clamp(rng.normal(), -2.0, 2.0);
    return f;
}

namespace mri_detail {

struct Voxel {
    std::uint8_t tissue = 0;
    float value = 0;  // the base T2 intensity (no texture)
};

/// The tissue and its T2 intensity at head-frame point (x, y, z) in mm.
/// `fluid` and `mix` are the exterior's smooth fields at the point (exterior_fields).
inline Voxel classify(const MriFetus& f, double x, double y, double z, double fluid, double mix) {
    const double X = x / f.ax, Y = y / f.ay, Z = z / f.az;
    const double rho0 = std::sqrt(X * X + Y * Y + Z * Z);
    const double rho1 = std::sqrt(f.posterior_fossa.level2(x, y, z));
    const double L = std::min(rho0, rho1);
    const double inner = 1 + f.csf_rel, skull = inner + f.skull_rel, scalp = skull + f.scalp_rel;
    auto out = [&](Tissue t) { return Voxel{t, float(f.intensity[t])}; };
    if (L > inner) {
        if (L <= skull) return out(kSkull);
        for (const auto& e : f.eyes)
            if (e.level2(x, y, z) < 1) return out(kEye);
        if (L <= scalp) return out(kScalp);
        if (f.face.level2(x, y, z) < 1) return out(kSoftTissue);
        if (Z < -0.8) {  // the neck
            const double nx = X / 0.6, ny = (Y + 0.3) / 0.5;
            if (nx * nx + ny * ny < 1) return out(kSoftTissue);
        }
        if (f.body.level2(x, y, z) < 1) return out(kBody);
        const double d = std::sqrt(x * x + y * y + z * z) / f.fluid_radius + 0.15 * fluid;
        if (d < 1) return out(kFluid);
        if (d < 1.08) return Voxel{kMaternal, float(f.intensity[kMaternal] * 0.75)};  // the uterine wall
        const double m = 0.5 + 0.5 * std::tanh(mix);
        return Voxel{kMaternal, float(f.intensity[kMaternal] * (0.7 + 0.7 * m))};
    }
    // brainstem: the pons and medulla in the posterior fossa, the midbrain up to the thalami
    if (Z > -1.05 && Z < -0.12) {
        const double yc = -0.1 + 0.1 * (Z + 0.12);
        const double bx = X / 0.16, by = (Y - yc) / 0.12;
        if (bx * bx + by * by < 1 && L < 1) {
            if (f.fourth_ventricle.level2(x, y, z) < 1) return out(kVentricles);
            return out(kBrainstem);
        }
    }
    if (rho1 <= 1) {  // the posterior fossa
        if (f.fourth_ventricle.level2(x, y, z) < 1) return out(kVentricles);
        const double cb = f.cerebellum.level2(x, y, z);
        const bool notch = std::abs(X) < 0.035 && Y < -0.78;
        if (cb < 1 && !notch) {
            // folia: arcs about the 4th ventricle, 1.6 mm apart
            const double dx = x - f.fourth_ventricle.cx, dy = y - f.fourth_ventricle.cy, dz = z - f.fourth_ventricle.cz;
            const double folia = f.folia * std::cos(2 * std::numbers::pi * std::sqrt(dx * dx + dy * dy + dz * dz) / 1.6);
            return Voxel{kCerebellum, float(f.intensity[kCerebellum] * (1 + folia))};
        }
        return out(kExternalCsf);
    }
    if (rho0 > 1) return out(kExternalCsf);
    // the cerebrum: ventricles and deep grey matter first
    double vent = 1e9;
    for (const auto& e : f.ventricles) vent = std::min(vent, e.level2(x, y, z));
    if (vent < 4) vent = std::sqrt(vent) * (1 + 0.08 * f.ventricle_shape(x, y, z));
    if (vent < 1) return out(kVentricles);
    for (const auto& e : f.deep_grey)
        if (e.level2(x, y, z) < 1) return out(kDeepGrey);
    // interhemispheric fissure, outside the central (callosal) region of the midsagittal plane
    const double cy = Y / 0.65, cz = (Z - 0.1) / 0.45;
    if (cy * cy + cz * cz > 1) {
        const double ax_mm = std::abs(x);
        if (ax_mm < f.fissure_mm) return out(kExternalCsf);
        if (ax_mm < f.fissure_mm + f.gm_mm) return out(kGreyMatter);
    }
    // the tentorium: CSF then cortex above the posterior fossa
    const double gap = 0.04;
    if (rho1 < 1 + gap) return out(kExternalCsf);
    if (rho1 < 1 + gap + f.gm_rel) return out(kGreyMatter);
    // the cortex: pial surface pushed in by the sulci and the Sylvian fissure
    const double reach = std::max(f.sulcal_depth, f.secondary_depth) + f.sylvian_depth + f.gm_rel + 0.02;
    double wm_depth = 1;  // distance below the grey/white boundary (for the subplate)
    if (rho0 > 1 - reach - 0.12) {
        const double ux = X / rho0, uy = Y / rho0, uz = Z / rho0;
        const double sx = std::abs(ux) - 0.93, sy = uy - 0.15, sz = uz + 0.1;  // the Sylvian fissure
        const double sd = (sx * sx + sy * sy + sz * sz) / (f.sylvian_width * f.sylvian_width);
        const double pial = 1 - f.sylvian_depth * std::exp(-sd);
        if (rho0 > pial) return out(kExternalCsf);
        // sulci: clefts of CSF (half-width cleft_mm) lined by cortex, down to their fundus
        const double R = rho0 * f.r_mean;  // mm per radian here
        auto cleft = [&](double depth, double field, double gradient) {
            if (depth <= 0 || rho0 < pial - depth - f.gm_rel || vent < 1.6) return 0;  // white matter round the ventricles
            const double t = std::abs(field) / gradient * R;  // ~ distance to the field's zero set, mm
            if (rho0 > pial - depth && t < f.cleft_mm) return 1;
            return t < f.cleft_mm + f.gm_mm ? 2 : 0;
        };
        const double depth1 = f.sulcal_depth * (0.6 + 0.4 * std::tanh(f.sulcal_mod(ux, uy, uz)));
        int c = cleft(depth1, f.sulci(ux, uy, uz), f.sulcal_gradient);
        if (c != 1 && f.secondary_depth > 0 && rho0 > pial - f.secondary_depth - f.gm_rel)
            c = std::max(c == 2 ? 2 : 0, cleft(f.secondary_depth, f.secondary(ux, uy, uz), 2 * f.sulcal_gradient));
        if (c == 1) return out(kExternalCsf);
        if (c == 2 || rho0 > pial - f.gm_rel) return out(kGreyMatter);
        wm_depth = (pial - f.gm_rel - rho0) / 0.12;
    }
    double value = f.intensity[kWhiteMatter];
    if (wm_depth < 1) value *= 1 + f.subplate * (1 - wm_depth);     // subplate: brighter under the cortex
    if (vent < 1.25) value *= 1 - f.germinal * (1.25 - vent) / 0.25;  // germinal matrix: dark rim
    return Voxel{kWhiteMatter, float(value)};
}

/// 3x3 rotation matrices, row-major.
using Mat3 = std::array<double, 9>;
inline Mat3 matmul(const Mat3& a, const Mat3& b) {
    Mat3 c{};
    for (int i = 0; i < 3; ++i)
        for (int j = 0; j < 3; ++j)
            for (int k = 0; k < 3; ++k) c[std::size_t(3 * i + j)] += a[std::size_t(3 * i + k)] * b[std::size_t(3 * k + j)];
    return c;
}
inline Mat3 rot_x(double t) { return {1, 0, 0, 0, std::cos(t), -std::sin(t), 0, std::sin(t), std::cos(t)}; }
inline Mat3 rot_y(double t) { return {std::cos(t), 0, std::sin(t), 0, 1, 0, -std::sin(t), 0, std::cos(t)}; }
inline Mat3 rot_z(double t) { return {std::cos(t), -std::sin(t), 0, std::sin(t), std::cos(t), 0, 0, 0, 1}; }

/// Where the head is in the world (scanner) frame: world = R head + centre.
struct Pose {
    Mat3 rotation = {1, 0, 0, 0, 1, 0, 0, 0, 1};
    std::array<double, 3> centre = {0, 0, 0};
};

/// The artefact parameters of one image (all drawn, whether on or not).
struct Artefacts {
    bool bias = false, stripe = false, ghost = false, noise = false;
    double bias_strength = 0, stripe_depth = 0, stripe_width = 0, stripe_angle = 0, stripe_offset = 0;
    double ghost_strength = 0, ghost_fraction = 0;
    bool ghost_rows = true;
    double noise_sigma = 0;
};

inline Artefacts draw_artefacts(const MriPhantomOptions& o, Rng& rng) {
    Artefacts a;
    a.bias = rng.bernoulli(o.bias_probability);
    a.bias_strength = rng.uniform(o.bias_strength[0], o.bias_strength[1]);
    a.stripe = rng.bernoulli(o.stripe_probability);
    a.stripe_depth = rng.uniform(o.stripe_depth[0], o.stripe_depth[1]);
    a.stripe_width = rng.uniform(0.01, 0.04);  // fraction of the field of view
    a.stripe_angle = rng.uniform(0, std::numbers::pi);
    a.stripe_offset = rng.uniform(-0.4, 0.4);
    a.ghost = rng.bernoulli(o.ghost_probability);
    a.ghost_strength = rng.uniform(o.ghost_strength[0], o.ghost_strength[1]);
    a.ghost_fraction = rng.uniform(0.15, 0.5);
    a.ghost_rows = rng.bernoulli(0.5);
    a.noise = rng.bernoulli(o.noise_probability);
    a.noise_sigma = rng.uniform(o.noise_sigma[0], o.noise_sigma[1]);
    return a;
}

/// Renders one slice: the world plane z = z_mm, pixel (r, c) at world
/// ((c - (W-1)/2) sx, (r - (H-1)/2) sy, z_mm). Fills `image` (clean, textured, blurred) and `tissue`.
inline void render_plane(const MriFetus& f, const Pose& pose, const MriPhantomOptions& o, double sy, double sx,
                         double z_mm, Rng& rng, std::vector<float>& image, std::vector<std::uint8_t>& tissue) {
    const std::int64_t h = o.height, w = o.width;
    const std::size_t n = std::size_t(h * w);
    image.assign(n, 0.0f);
    tissue.assign(n, 0);
    const Mat3& R = pose.rotation;  // head = R^T (world - centre)
    auto to_head = [&](double wx, double wy, double wz, double* p) {
        const double dx = wx - pose.centre[0], dy = wy - pose.centre[1], dz = wz - pose.centre[2];
        for (int i = 0; i < 3; ++i) p[i] = R[std::size_t(i)] * dx + R[std::size_t(3 + i)] * dy + R[std::size_t(6 + i)] * dz;
    };
    double p0[3], pr[3], pc[3];
    to_head(-(double(w) - 1) / 2 * sx, -(double(h) - 1) / 2 * sy, z_mm, p0);
    to_head(-(double(w) - 1) / 2 * sx, -(double(h) - 1) / 2 * sy + sy, z_mm, pr);
    to_head(-(double(w) - 1) / 2 * sx + sx, -(double(h) - 1) / 2 * sy, z_mm, pc);
    for (int i = 0; i < 3; ++i) {
        pr[i] -= p0[i];
        pc[i] -= p0[i];
    }
    auto at = [&](double r, double c, int i) { return p0[i] + r * pr[i] + c * pc[i]; };
    const auto fluid = smooth_on_grid(h, w, 4, [&](double r, double c) {
        return f.fluid_shape(at(r, c, 0), at(r, c, 1), at(r, c, 2));
    });
    const auto mix = smooth_on_grid(h, w, 4, [&](double r, double c) {
        return f.maternal_mix(at(r, c, 0), at(r, c, 1), at(r, c, 2));
    });
    for (std::int64_t r = 0; r < h; ++r)
        for (std::int64_t c = 0; c < w; ++c) {
            const double x = at(double(r), double(c), 0), y = at(double(r), double(c), 1), z = at(double(r), double(c), 2);
            const std::size_t i = std::size_t(r * w + c);
            const Voxel v = classify(f, x, y, z, fluid[i], mix[i]);
            image[std::size_t(r * w + c)] = v.value;
            tissue[std::size_t(r * w + c)] = v.tissue;
        }
    if (o.texture_brain > 0 || o.texture_outside > 0) {
        auto tex = normals(rng, n);
        gaussian_blur(tex, h, w, 1.0, 1.0);
        double ss = 0;
        for (float t : tex) ss += double(t) * t;
        const double norm = 1 / std::sqrt(std::max(ss / double(n), 1e-12));
        for (std::size_t i = 0; i < n; ++i) {
            const double amp = tissue[i] >= 1 && tissue[i] <= 7 ? o.texture_brain : o.texture_outside;
            image[i] = float(image[i] * std::max(0.0, 1 + amp * norm * tex[i]));
        }
    }
    if (o.blur_sigma_px > 0) gaussian_blur(image, h, w, o.blur_sigma_px, o.blur_sigma_px);
}

/// Applies the in-plane artefacts (bias, stripe, ghost, noise) to a rendered plane.
inline void apply_artefacts(std::vector<float>& image, const MriPhantomOptions& o, const Artefacts& a,
                            const WaveField& bias, double sy, double sx, double z_mm, Rng& rng) {
    const std::int64_t h = o.height, w = o.width;
    const double cx = (double(w) - 1) / 2, cy = (double(h) - 1) / 2;
    if (a.bias) {
        const auto field = smooth_on_grid(h, w, 8, [&](double r, double c) {
            return std::exp(a.bias_strength * bias((c - cx) * sx, (r - cy) * sy, z_mm));
        });
        for (std::size_t i = 0; i < image.size(); ++i) image[i] *= field[i];
    }
    if (a.stripe) {
        const double nx = std::cos(a.stripe_angle), ny = std::sin(a.stripe_angle);
        const double extent = std::max(h, w), width = a.stripe_width * extent, offset = a.stripe_offset * extent;
        for (std::int64_t r = 0; r < h; ++r)
            for (std::int64_t c = 0; c < w; ++c) {
                const double d = (double(c) - cx) * nx + (double(r) - cy) * ny - offset;
                image[std::size_t(r * w + c)] *= float(1 - a.stripe_depth * std::exp(-0.5 * d * d / (width * width)));
            }
    }
    if (a.ghost) {
        const std::int64_t n_axis = a.ghost_rows ? h : w;
        const std::int64_t shift = std::max<std::int64_t>(1, std::int64_t(a.ghost_fraction * double(n_axis)));
        const auto moved = circular_shift(image, h, w, a.ghost_rows ? shift : 0, a.ghost_rows ? 0 : shift);
        for (std::size_t i = 0; i < image.size(); ++i) image[i] += float(a.ghost_strength) * moved[i];
    }
    if (a.noise) add_rician_noise(image, a.noise_sigma, rng);
    for (auto& v : image) v = std::max(v, 0.0f);
}

inline void check_options(const MriPhantomOptions& o, const char* op) {
    FBSEG_CHECK(o.height >= 8 && o.width >= 8 && o.height <= 8192 && o.width <= 8192, op,
                ": the image size must be in [8, 8192] per side but is ", o.height, " x ", o.width);
    FBSEG_CHECK(o.pixel_spacing_mm[0] > 0 && o.pixel_spacing_mm[1] >= o.pixel_spacing_mm[0], op,
                ": pixel_spacing_mm must be a range 0 < lo <= hi but is [", o.pixel_spacing_mm[0], ", ",
                o.pixel_spacing_mm[1], "]");
    FBSEG_CHECK(o.slice_position[0] <= o.slice_position[1], op, ": slice_position must be a range lo <= hi but is [",
                o.slice_position[0], ", ", o.slice_position[1], "]");
    for (double p : {o.partial_probability, o.bias_probability, o.stripe_probability, o.ghost_probability,
                     o.noise_probability})
        FBSEG_CHECK(p >= 0 && p <= 1, op, ": probabilities must lie in [0, 1] but one is ", p);
    FBSEG_CHECK(o.blur_sigma_px >= 0 && o.blur_sigma_px <= 10, op, ": blur_sigma_px must be in [0, 10] but is ",
                o.blur_sigma_px);
}

inline Tensor to_label(const std::vector<std::uint8_t>& tissue, MriLabels mode, const Shape& shape) {
    Tensor t = Tensor::empty(shape, DType::Int64);
    std::int64_t* p = t.data_ptr<std::int64_t>();
    for (std::size_t i = 0; i < tissue.size(); ++i) {
        const bool brain = tissue[i] >= 1 && tissue[i] <= 7;
        p[i] = !brain ? 0 : mode == MriLabels::brain_mask ? 1 : std::int64_t(tissue[i]);
    }
    return t;
}

/// Pixel size for this image (see MriPhantomOptions::pixel_spacing_mm).
inline double draw_spacing(const MriPhantomOptions& o, Rng& rng) {
    return rng.uniform(o.pixel_spacing_mm[0], o.pixel_spacing_mm[1]) * 256.0 / double(std::max(o.height, o.width));
}

/// The head's pose for a slice through head height z_rel (the world plane z = 0 cuts it there).
inline Pose draw_pose(const MriFetus& f, const MriPhantomOptions& o, double spacing, double z_rel, Rng& rng) {
    const double deg = std::numbers::pi / 180;
    const double spin = rng.uniform(0, 2 * std::numbers::pi);
    const double tx = rng.uniform(-o.max_tilt_deg, o.max_tilt_deg) * deg;
    const double ty = rng.uniform(-o.max_tilt_deg, o.max_tilt_deg) * deg;
    Pose p;
    p.rotation = matmul(rot_z(spin), matmul(rot_x(tx), rot_y(ty)));
    const bool partial = rng.bernoulli(o.partial_probability);
    const double dir = rng.uniform(0, 2 * std::numbers::pi), u1 = rng.uniform(-1, 1), u2 = rng.uniform(-1, 1);
    const double cut = rng.uniform(0.15, 0.6);
    const double half_x = double(o.width) * spacing / 2, half_y = double(o.height) * spacing / 2;
    const double head = f.ay * (1 + f.csf_rel + f.skull_rel) * 1.02;
    if (partial) {
        // the centre within (1 - cut) of the brain's smallest radius in this slice from one border
        // (chosen by dir), so that the border cuts the brain whatever the rotation
        const double reach = f.ax * std::sqrt(std::max(0.05, 1 - z_rel * z_rel)) * (1 - cut);
        const bool along_x = std::abs(std::cos(dir)) >= std::abs(std::sin(dir));
        const double sign = (along_x ? std::cos(dir) : std::sin(dir)) >= 0 ? 1.0 : -1.0;
        if (along_x) {
            p.centre[0] = sign * std::max(0.0, half_x - reach);
            p.centre[1] = u2 * std::max(0.0, half_y - head);
        } else {
            p.centre[0] = u1 * std::max(0.0, half_x - head);
            p.centre[1] = sign * std::max(0.0, half_y - reach);
        }
    } else {
        p.centre[0] = u1 * std::max(0.0, half_x - head);
        p.centre[1] = u2 * std::max(0.0, half_y - head);
    }
    // the head point (0, 0, z_rel az) lies on the world plane z = 0
    p.centre[2] = -(p.rotation[8] * z_rel * f.az);
    return p;
}

}  // namespace mri_detail

/// One 2D slice through `fetus`: image float32 [1, H, W] (fluid ~ 1), label int64 [H, W] (FeTA's
/// tissues or the brain mask), spacing_mm {s, s}, original_size {H, W}. id/subject are left empty
/// (PhantomDataset names them).
inline Sample make_mri_slice(const MriFetus& fetus, const MriPhantomOptions& options, Rng& rng) {
    using namespace mri_detail;
    check_options(options, "phantom::make_mri_slice");
    const double spacing = draw_spacing(options, rng);
    const double z_rel = rng.uniform(options.slice_position[0], options.slice_position[1]);
    const Pose pose = draw_pose(fetus, options, spacing, z_rel, rng);
    const Artefacts art = draw_artefacts(options, rng);
    const WaveField bias(rng, 3, 5, 150, 400);
    std::vector<float> image;
    std::vector<std::uint8_t> tissue;
    render_plane(fetus, pose, options, spacing, spacing, 0.0, rng, image, tissue);
    apply_artefacts(image, options, art, bias, spacing, spacing, 0.0, rng);
    Sample s;
    const std::int64_t h = options.height, w = options.width;
    s.image = make_image(1, h, w);
    std::copy(image.begin(), image.end(), s.image.data_ptr<float>());
    s.label = to_label(tissue, options.labels, {h, w});
    s.spacing_mm = std::array<double, 2>{spacing, spacing};
    s.original_size = {h, w};
    return s;
}

/// One 2D slice through a new fetus.
inline Sample make_mri_slice(const MriPhantomOptions& options, Rng& rng) {
    const MriFetus fetus = draw_mri_fetus(options, rng);
    return make_mri_slice(fetus, options, rng);
}

/// A stack of thick slices through one head, for the NIfTI writer.
struct MriVolume {
    Tensor image;                            // float32 [D, H, W]
    Tensor labels;                           // int64 [D, H, W] (per MriPhantomOptions::labels)
    std::array<double, 3> spacing_mm = {};   // {sz, sy, sx}
    double gestational_age_weeks = 0;
};

/// `volume_slices` slices `slice_thickness_mm` apart through one fetus, each moved a little
/// (fetal motion between slices: motion_mm, motion_deg), with one 3D bias field, per-slice ghosts
/// and noise, and slice-to-slice intensity jumps (stripe_probability per slice, a gain 1 - d).
inline MriVolume make_mri_volume(const MriPhantomOptions& options, Rng& rng) {
    using namespace mri_detail;
    check_options(options, "phantom::make_mri_volume");
    FBSEG_CHECK(options.volume_slices >= 1 && options.volume_slices <= 1024 && options.slice_thickness_mm > 0,
                "phantom::make_mri_volume: volume_slices must be in [1, 1024] and slice_thickness_mm > 0 but are ",
                options.volume_slices, " and ", options.slice_thickness_mm);
    const std::int64_t d = options.volume_slices, h = options.height, w = options.width;
    checked_mul(checked_mul(d, h, "phantom::make_mri_volume"), w, "phantom::make_mri_volume");
    const MriFetus fetus = draw_mri_fetus(options, rng);
    const double spacing = draw_spacing(options, rng);
    MriPhantomOptions centred = options;
    centred.partial_probability = 0;
    Pose pose = draw_pose(fetus, centred, spacing, rng.uniform(-0.1, 0.1), rng);
    const WaveField bias(rng, 3, 5, 150, 400);
    const bool bias_on = rng.bernoulli(options.bias_probability);
    const double bias_strength = rng.uniform(options.bias_strength[0], options.bias_strength[1]);
    MriVolume v;
    v.image = Tensor::empty({d, h, w}, DType::Float32);
    v.labels = Tensor::empty({d, h, w}, DType::Int64);
    v.spacing_mm = {options.slice_thickness_mm, spacing, spacing};
    v.gestational_age_weeks = fetus.gestational_age_weeks;
    float* img = v.image.data_ptr<float>();
    std::int64_t* lab = v.labels.data_ptr<std::int64_t>();
    std::vector<float> plane;
    std::vector<std::uint8_t> tissue;
    for (std::int64_t k = 0; k < d; ++k) {
        const double z = (double(k) - (double(d) - 1) / 2) * options.slice_thickness_mm;
        Pose moved = pose;
        const double spin = rng.normal() * options.motion_deg * std::numbers::pi / 180;
        moved.rotation = matmul(rot_z(spin), pose.rotation);
        moved.centre[0] += rng.normal() * options.motion_mm;
        moved.centre[1] += rng.normal() * options.motion_mm;
        Artefacts art = draw_artefacts(options, rng);
        art.bias = bias_on;
        art.bias_strength = bias_strength;
        const bool dark = art.stripe;
        art.stripe = false;  // in a volume the stripe is a whole slice's gain
        render_plane(fetus, moved, options, spacing, spacing, z, rng, plane, tissue);
        apply_artefacts(plane, options, art, bias, spacing, spacing, z, rng);
        const float gain = float(dark ? 1 - art.stripe_depth : 1.0);
        for (std::size_t i = 0; i < plane.size(); ++i) img[std::size_t(k * h * w) + i] = plane[i] * gain;
        const Tensor l = to_label(tissue, options.labels, {h, w});
        std::copy(l.data_ptr<std::int64_t>(), l.data_ptr<std::int64_t>() + h * w, lab + k * h * w);
    }
    return v;
}

}  // namespace fbseg::data::phantom
