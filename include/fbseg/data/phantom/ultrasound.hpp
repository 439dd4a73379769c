// fbseg/data/phantom/ultrasound.hpp - a fetal-head ultrasound phantom in the style of HC18's
// frames (transthalamic plane, 800 x 540 grey by default): a sector (fan) field of view, black
// outside; speckle; a bright skull ellipse whose echo fades where the beam runs along the bone;
// acoustic shadow behind bone; depth attenuation with time-gain compensation; a midline echo;
// fluid around the head. The label is the filled head (every pixel whose centre lies inside the
// skull's outer ellipse) and the sample knows its true head circumference: the exact perimeter of
// that ellipse (shapes.hpp) times the pixel size.
//
// The echo is computed on the polar grid of the scan (one row per depth sample, one column per
// beam) and scan-converted (bilinear in depth and angle) to the image, as a scanner does:
//   speckle      s = |h * (n1 + i n2)| / E|.|: complex Gaussian noise smoothed by a short axial and
//                a longer lateral Gaussian (the pulse and the beam width), its magnitude Rayleigh
//                distributed with mean 1, so the speckle is correlated and elongated across beams
//   bone echo    e = e_bone |d . n|^1.5 where d is the beam direction and n the skull's normal:
//                strong where the beam meets the bone head-on, fading to gaps where it runs along
//   shadow       T(r) = exp(-sum_{r' < r} mu(r') dr'): bone (mu_bone ~ 1 / 3 mm) and soft tissue
//                attenuate what lies behind them along the beam
//   gain         g(r) = exp(-alpha r) (1 + tgc r): attenuation with depth, partly compensated
//   display      I = log(1 + K e s T g) / log(1 + K), clipped to [0, 1] (log compression)
// The head circumference is drawn uniformly in [hc_min, hc_max] mm and the ratio of the semi-axes
// b / a in [0.72, 0.9]; a = HC / P(1, b/a) with P the exact perimeter. The pixel size makes the
// head's long axis span a fraction (head_fill) of the image width: pixel = 2 a / (fill W); the
// pixel is clamped to HC18's range 0.052-0.326 mm at 800 pixels wide (scaled by 800 / W).
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <numbers>
#include <vector>

#include "fbseg/core/error.hpp"
#include "fbseg/core/tensor.hpp"
#include "fbseg/data/phantom/filters.hpp"
#include "fbseg/data/phantom/shapes.hpp"
#include "fbseg/data/random.hpp"
#include "fbseg/data/sample.hpp"

namespace fbseg::data::phantom {

struct UsPhantomOptions {
    std::int64_t height = 540;
    std::int64_t width = 800;
    /// The true head circumference in mm, drawn uniformly (HC18 spans about 100-350 mm).
    double hc_min_mm = 100;
    double hc_max_mm = 350;
    /// The head's long axis as a fraction of the image width, drawn uniformly.
    std::array<double, 2> head_fill = {0.4, 0.7};
    /// Speckle on/off and its correlation (in polar samples: along the beam, across beams).
    bool speckle = true;
    double speckle_axial = 0.8;
    double speckle_lateral = 1.6;
    /// Acoustic shadow behind bone on/off.
    bool shadowing = true;
    /// Depth attenuation / time-gain look on/off.
    bool depth_gain = true;
    /// Electronic noise (added after log compression, before clipping; std).
    double noise_sigma = 0.015;
};

/// The sector: pixels whose distance r from the apex is in [r_min, r_max] and whose angle from
/// straight down is within half_angle.
struct UsFan {
    double apex_x = 0, apex_y = 0;  // pixels (apex_y < 0: above the image)
    double r_min = 0, r_max = 0;    // pixels
    double half_angle = 0;          // radians from straight down
    bool contains(double x, double y) const {
        const double dx = x - apex_x, dy = y - apex_y;
        const double r = std::sqrt(dx * dx + dy * dy);
        return r >= r_min && r <= r_max && std::abs(std::atan2(dx, dy)) <= half_angle;
    }
};

/// Where the head is in one ultrasound image (pixels; angle of the a-axis from +x towards +y).
struct UsHead {
    double center_x = 0, center_y = 0, semi_a = 0, semi_b = 0, angle_rad = 0;
    double pixel_mm = 0, hc_mm = 0;
    UsFan fan;
};

namespace us_detail {

inline void check_options(const UsPhantomOptions& o) {
    FBSEG_CHECK(o.height >= 16 && o.width >= 16 && o.height <= 8192 && o.width <= 8192,
                "phantom::make_us_image: the image size must be in [16, 8192] per side but is ", o.height, " x ",
                o.width);
    FBSEG_CHECK(o.hc_min_mm > 0 && o.hc_max_mm >= o.hc_min_mm,
                "phantom::make_us_image: the head circumference range must satisfy 0 < min <= max but is [",
                o.hc_min_mm, ", ", o.hc_max_mm, "] mm");
    FBSEG_CHECK(o.head_fill[0] > 0.05 && o.head_fill[1] >= o.head_fill[0] && o.head_fill[1] <= 0.9,
                "phantom::make_us_image: head_fill must be a range with 0.05 < lo <= hi <= 0.9 but is [",
                o.head_fill[0], ", ", o.head_fill[1], "]");
    FBSEG_CHECK(o.speckle_axial >= 0 && o.speckle_lateral >= 0 && o.noise_sigma >= 0,
                "phantom::make_us_image: speckle_axial, speckle_lateral and noise_sigma must be >= 0 but are ",
                o.speckle_axial, ", ", o.speckle_lateral, ", ", o.noise_sigma);
}

}  // namespace us_detail

/// One HC18-like frame: image float32 [1, H, W] in [0, 1] (0 outside the fan), label int64
/// [H, W] (1 = the filled head), spacing_mm {p, p}, head_circumference_mm (exact), original_size.
/// `head_out`, when given, receives the ellipse and the fan.
inline Sample make_us_image(const UsPhantomOptions& o, Rng& rng, UsHead* head_out = nullptr) {
    us_detail::check_options(o);
    const std::int64_t h = o.height, w = o.width;
    const double H = double(h), W = double(w);
    // the fan: apex above the top centre, bottom arc near the bottom edge
    UsFan fan;
    fan.apex_x = W / 2 + rng.uniform(-0.03, 0.03) * W;
    fan.apex_y = -rng.uniform(0.05, 0.25) * H;
    fan.r_min = -fan.apex_y + rng.uniform(0.0, 0.04) * H;
    fan.r_max = (H - fan.apex_y) * rng.uniform(0.97, 1.08);
    fan.half_angle = rng.uniform(32.0, 42.0) * std::numbers::pi / 180;
    // the head: HC, shape, size in pixels, pose; placed inside the fan (shrunk if it must be)
    UsHead head;
    head.hc_mm = rng.uniform(o.hc_min_mm, o.hc_max_mm);
    const double ratio = rng.uniform(0.72, 0.9);
    const double a_mm = head.hc_mm / ellipse_perimeter(1.0, ratio);
    double fill = rng.uniform(o.head_fill[0], o.head_fill[1]);
    head.angle_rad = rng.uniform(0, std::numbers::pi);
    const double u_x = rng.uniform(-1, 1), u_y = rng.uniform(-1, 1);
    // HC18's pixel sizes (0.052-0.326 mm at 800 pixels wide): the fill that keeps the pixel in range
    const double px_lo = 0.052 * 800 / W, px_hi = 0.326 * 800 / W;
    fill = std::clamp(fill, 2 * a_mm / (px_hi * W), std::max(2 * a_mm / (px_hi * W), 2 * a_mm / (px_lo * W)));
    for (int attempt = 0;; ++attempt) {
        head.semi_a = fill * W / 2;
        head.semi_b = head.semi_a * ratio;
        head.pixel_mm = a_mm / head.semi_a;
        const double ca = std::cos(head.angle_rad), sa = std::sin(head.angle_rad);
        // the ellipse's half-extents along x and y
        const double ex = std::sqrt(std::pow(head.semi_a * ca, 2) + std::pow(head.semi_b * sa, 2)) * 1.08 + 2;
        const double ey = std::sqrt(std::pow(head.semi_a * sa, 2) + std::pow(head.semi_b * ca, 2)) * 1.08 + 2;
        const double pull = std::max(0.0, 1 - attempt / 20.0);  // later attempts: nearer the fan's axis
        head.center_x = fan.apex_x + u_x * pull * std::max(0.0, W / 2 - ex) * 0.5;
        head.center_y = std::clamp(H * 0.55 + u_y * pull * H * 0.15, std::min(ey + 0.15 * H, H / 2), std::max(H - ey, H / 2));
        bool inside = head.center_x - ex >= 0 && head.center_x + ex <= W - 1 && head.center_y - ey >= 0 &&
                      head.center_y + ey <= H - 1;
        for (int k = 0; k < 72 && inside; ++k) {  // every point of the (slightly grown) ellipse in the fan
            const double t = 2 * std::numbers::pi * k / 72;
            const double px = 1.08 * (head.semi_a * std::cos(t) * ca - head.semi_b * std::sin(t) * sa);
            const double py = 1.08 * (head.semi_a * std::cos(t) * sa + head.semi_b * std::sin(t) * ca);
            inside = fan.contains(head.center_x + px, head.center_y + py);
        }
        if (inside || attempt >= 40) break;
        fill = attempt < 20 ? fill : std::max(fill * 0.95, 2 * a_mm / (px_hi * W));
    }
    // anatomy and artefact parameters (all drawn, whatever is switched off)
    const double skull_rel = rng.uniform(0.05, 0.085);  // skull thickness / b
    const double th_phase1 = rng.uniform(0, 2 * std::numbers::pi), th_phase2 = rng.uniform(0, 2 * std::numbers::pi);
    const double bone_echo = rng.uniform(1.2, 2.0);
    const double brain_echo = rng.uniform(0.08, 0.16), fluid_echo = rng.uniform(0.01, 0.04);
    const double tissue_echo = rng.uniform(0.25, 0.45);
    const double fluid_scale = rng.uniform(1.15, 1.6);
    const WaveField fluid_shape(rng, 2, 6, 0.6 * W, 1.5 * W), tissue_mix(rng, 2, 8, 0.05 * W, 0.25 * W);
    const double wall = rng.uniform(0.06, 0.16) * H;  // maternal abdominal wall depth below r_min
    const double alpha = rng.uniform(0.8, 1.6) / H, tgc = rng.uniform(0.4, 1.0) / H;
    const double gain = rng.uniform(25, 60);
    const double mid_len = rng.uniform(0.75, 0.9), csp_pos = rng.uniform(0.25, 0.4) * (rng.bernoulli(0.5) ? 1 : -1);
    const double thal_off = rng.uniform(0.12, 0.2);
    // the polar grid: nr depth samples x nt beams
    const std::int64_t nr = std::max<std::int64_t>(32, h), nt = std::max<std::int64_t>(32, (w * 3) / 4);
    const double dr = (fan.r_max - fan.r_min) / double(nr - 1), dt = 2 * fan.half_angle / double(nt - 1);
    const double ca = std::cos(head.angle_rad), sa = std::sin(head.angle_rad);
    const double A = head.semi_a, B = head.semi_b;
    auto polar_x = [&](double i, double j) { return fan.apex_x + (fan.r_min + i * dr) * std::sin(-fan.half_angle + j * dt); };
    auto polar_y = [&](double i, double j) { return fan.apex_y + (fan.r_min + i * dr) * std::cos(-fan.half_angle + j * dt); };
    const auto fluid_field = smooth_on_grid(nr, nt, 4, [&](double i, double j) { return fluid_shape(polar_x(i, j), polar_y(i, j)); });
    const auto mix_field = smooth_on_grid(nr, nt, 4, [&](double i, double j) { return tissue_mix(polar_x(i, j), polar_y(i, j)); });
    std::vector<float> echo(std::size_t(nr * nt));
    std::vector<float> mu(std::size_t(nr * nt));
    for (std::int64_t j = 0; j < nt; ++j) {
        const double th = -fan.half_angle + double(j) * dt;
        const double dx = std::sin(th), dy = std::cos(th);  // the beam direction
        for (std::int64_t i = 0; i < nr; ++i) {
            const double r = fan.r_min + double(i) * dr;
            const double x = fan.apex_x + r * dx, y = fan.apex_y + r * dy;
            const double u = (x - head.center_x) * ca + (y - head.center_y) * sa;    // along a
            const double v = -(x - head.center_x) * sa + (y - head.center_y) * ca;   // along b
            const double rho = std::sqrt(u * u / (A * A) + v * v / (B * B));
            const double phi = std::atan2(v / B, u / A);
            const double thick = skull_rel * B * (1 + 0.35 * std::cos(2 * phi + th_phase1) + 0.2 * std::cos(3 * phi + th_phase2));
            const double rho_in = 1 - thick / B;
            double e = 0, m = 0.002;  // echo and attenuation per pixel
            if (rho <= 1 && rho >= rho_in) {  // bone: echo by incidence
                double nx = u / (A * A), ny = v / (B * B);
                const double nn = std::sqrt(nx * nx + ny * ny) + 1e-12;
                nx /= nn;
                ny /= nn;
                const double wx = nx * ca - ny * sa, wy = nx * sa + ny * ca;  // normal in image axes
                const double inc = std::abs(wx * dx + wy * dy);
                e = bone_echo * inc * std::sqrt(inc);
                m = 0.05 * std::sqrt(inc) + 0.01;
            } else if (rho < rho_in) {  // the brain
                e = brain_echo;
                const double un = u / A, vn = v / B;
                if (std::abs(vn) < 0.012 + 0.004 * (1 - std::abs(un)) && std::abs(un) < mid_len * rho_in)
                    e = 0.55;  // the midline echo (falx)
                if (std::abs(un - csp_pos) < 0.07 && std::abs(vn) < 0.09) e = fluid_echo;  // cavum septi pellucidi
                for (double side : {-1.0, 1.0}) {  // thalami: hypoechoic, their rim brighter
                    const double tu = (un + 0.5 * csp_pos - 0.0) / 0.16, tv = (vn - side * thal_off) / 0.13;
                    const double t2 = tu * tu + tv * tv;
                    if (t2 < 1) e = t2 > 0.8 ? 0.25 : 0.06;
                }
                const double ring = std::abs(rho - 0.93 * rho_in);  // the brain's outer edge (a faint echo)
                if (ring < 0.01) e = std::max(e, 0.3);
            } else if (rho < 1.04) {
                e = tissue_echo * 0.8;  // scalp
            } else {
                const double d = rho / fluid_scale + 0.2 * fluid_field[std::size_t(i * nt + j)];
                if (d < 1) {
                    e = fluid_echo;
                    m = 0.0005;
                } else {
                    e = tissue_echo * (0.6 + 0.4 * std::tanh(mix_field[std::size_t(i * nt + j)]));
                }
            }
            if (r - fan.r_min < wall) {  // the abdominal wall: bright layers
                const double q = (r - fan.r_min) / wall;
                e = tissue_echo * (0.9 + 0.6 * std::cos(q * 9.0 + 1.0) * std::cos(q * 4.0));
            }
            echo[std::size_t(i * nt + j)] = float(e);
            mu[std::size_t(i * nt + j)] = float(m);
        }
    }
    // speckle: complex Gaussian noise, smoothed, magnitude normalised to mean 1 (the noise is drawn
    // even when speckle is off, so that switching it off changes nothing else)
    auto re = normals(rng, echo.size()), im = normals(rng, echo.size());
    if (o.speckle) {
        gaussian_blur(re, nr, nt, o.speckle_axial, o.speckle_lateral);
        gaussian_blur(im, nr, nt, o.speckle_axial, o.speckle_lateral);
        double mean = 0;
        for (std::size_t k = 0; k < re.size(); ++k) mean += std::sqrt(double(re[k]) * re[k] + double(im[k]) * im[k]);
        mean /= double(re.size());
        for (std::size_t k = 0; k < re.size(); ++k)
            echo[k] *= float(std::sqrt(double(re[k]) * re[k] + double(im[k]) * im[k]) / std::max(mean, 1e-12));
    }
    // shadow and gain along each beam, then log compression
    for (std::int64_t j = 0; j < nt; ++j) {
        double att = 0;
        for (std::int64_t i = 0; i < nr; ++i) {
            const std::size_t k = std::size_t(i * nt + j);
            const double depth = double(i) * dr;
            double value = echo[k];
            if (o.shadowing) value *= std::exp(-att);
            if (o.depth_gain) value *= std::exp(-alpha * depth) * (1 + tgc * depth);
            att += double(mu[k]) * dr;
            echo[k] = float(std::log1p(gain * value) / std::log1p(gain));
        }
    }
    // scan conversion, and the label
    Sample s;
    s.image = make_image(1, h, w);
    s.label = make_label(h, w);
    float* img = s.image.data_ptr<float>();
    std::int64_t* lab = s.label.data_ptr<std::int64_t>();
    const auto noise = normals(rng, std::size_t(h * w));
    for (std::int64_t y = 0; y < h; ++y)
        for (std::int64_t x = 0; x < w; ++x) {
            const std::size_t k = std::size_t(y * w + x);
            const double px = double(x), py = double(y);
            const double u = (px - head.center_x) * ca + (py - head.center_y) * sa;
            const double v = -(px - head.center_x) * sa + (py - head.center_y) * ca;
            lab[k] = u * u / (A * A) + v * v / (B * B) <= 1 ? 1 : 0;
            const double ddx = px - fan.apex_x, ddy = py - fan.apex_y;
            const double r = std::sqrt(ddx * ddx + ddy * ddy), th = std::atan2(ddx, ddy);
            if (r < fan.r_min || r > fan.r_max || std::abs(th) > fan.half_angle) continue;  // outside: 0
            const double fi = std::min((r - fan.r_min) / dr, double(nr - 1) - 1e-9);
            const double fj = std::clamp((th + fan.half_angle) / dt, 0.0, double(nt - 1) - 1e-9);
            const auto i0 = std::int64_t(fi), j0 = std::int64_t(fj);
            const double wi = fi - double(i0), wj = fj - double(j0);
            const std::int64_t i1 = std::min(i0 + 1, nr - 1), j1 = std::min(j0 + 1, nt - 1);
            const double top = echo[std::size_t(i0 * nt + j0)] * (1 - wj) + echo[std::size_t(i0 * nt + j1)] * wj;
            const double bottom = echo[std::size_t(i1 * nt + j0)] * (1 - wj) + echo[std::size_t(i1 * nt + j1)] * wj;
            double value = top * (1 - wi) + bottom * wi;
            if (o.noise_sigma > 0) value += o.noise_sigma * noise[k];
            img[k] = float(std::clamp(value, 0.0, 1.0));
        }
    s.spacing_mm = std::array<double, 2>{head.pixel_mm, head.pixel_mm};
    s.head_circumference_mm = head.hc_mm;
    s.original_size = {h, w};
    head.fan = fan;
    if (head_out) *head_out = head;
    return s;
}

}  // namespace fbseg::data::phantom
