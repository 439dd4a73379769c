// examples/transfer/synthetic_tasks.hpp - the two synthetic segmentation tasks of the transfer
// demo, drawn deterministically from a seed.
//
//   Task A, "fetal MRI-like" (pretraining, as much data as wanted): a T2-weighted-looking slice.
//     Maternal tissue (mid grey, textured), bright amniotic fluid around the head, a thin scalp,
//     a dark skull ring, a thin bright CSF rim, brain tissue with two or three bright ventricles,
//     a smooth multiplicative bias field and Gaussian noise. Label: the brain, i.e. everything
//     inside the skull's inner edge.
//   Task B, "ultrasound-like" (the shifted task, few labels): a fan-shaped field of view from a
//     probe at the top, multiplicative speckle, depth attenuation, a bright skull outline whose
//     brightness depends on the angle between beam and skull (weak where the beam grazes it) and
//     has random gaps, a dark inside with a midline echo, and an acoustic shadow below the head.
//     Label: the filled head ellipse (skull included), as HC18's annotations.
//
// Both are "find the elliptical head" tasks, so shapes and layout carry over; contrast, texture
// and the exact boundary do not (the skull is dark in A and bright in B; A's label stops inside
// the skull, B's includes it).
//
// Every image is a function of one Generator: make_task_a(Generator::for_sample(seed, epoch, i))
// gives the same image on every machine and thread count. Images are 64 x 64, row-major floats;
// normalise() z-scores an image (zero mean, unit variance), as one would for MRI or ultrasound.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numbers>
#include <utility>
#include <vector>

#include "fbseg/core/generator.hpp"

namespace transfer_demo {

inline constexpr int kSize = 64;  // images are kSize x kSize
inline constexpr int kPixels = kSize * kSize;

struct Sample {
    std::vector<float> image;  // kPixels values
    std::vector<float> label;  // kPixels values, 0 or 1
};

/// Draws numbers from a Generator's stream, one counter per draw.
class Draws {
public:
    explicit Draws(fbseg::Generator gen) : gen_(std::move(gen)) {}
    double uniform(double lo = 0.0, double hi = 1.0) { return lo + (hi - lo) * gen_.uniform<double>(gen_.reserve(1)); }
    double normal() { return gen_.normal<double>(gen_.reserve(1)); }
    bool coin(double p = 0.5) { return uniform() < p; }

private:
    fbseg::Generator gen_;
};

/// A field of kSize x kSize values.
using Field = std::vector<double>;

/// Smooth random texture: standard-normal values on a (cells + 1)^2 grid spanning the image,
/// interpolated with smoothstep weights (value noise). Roughly in [-2, 2], correlated over
/// kSize / cells pixels.
inline Field smooth_noise(Draws& draws, int cells) {
    std::vector<double> grid(std::size_t((cells + 1) * (cells + 1)));
    for (auto& g : grid) g = draws.normal();
    Field f(kPixels);
    const double step = double(kSize) / cells;
    for (int y = 0; y < kSize; ++y)
        for (int x = 0; x < kSize; ++x) {
            const double gx = x / step, gy = y / step;
            const int ix = std::min(int(gx), cells - 1), iy = std::min(int(gy), cells - 1);
            double tx = gx - ix, ty = gy - iy;
            tx = tx * tx * (3 - 2 * tx);
            ty = ty * ty * (3 - 2 * ty);
            const auto at = [&](int i, int j) { return grid[std::size_t(j * (cells + 1) + i)]; };
            f[std::size_t(y * kSize + x)] = (1 - ty) * ((1 - tx) * at(ix, iy) + tx * at(ix + 1, iy)) +
                                            ty * ((1 - tx) * at(ix, iy + 1) + tx * at(ix + 1, iy + 1));
        }
    return f;
}

/// A rotated ellipse: centre (cx, cy), semi-axes a (along angle theta) and b.
struct Ellipse {
    double cx, cy, a, b, theta;

    /// Coordinates in the ellipse's frame (u along a, v along b).
    void frame(double x, double y, double& u, double& v) const {
        const double dx = x - cx, dy = y - cy, c = std::cos(theta), s = std::sin(theta);
        u = c * dx + s * dy;
        v = -s * dx + c * dy;
    }
    /// sqrt((u/a)^2 + (v/b)^2): < 1 inside, 1 on the boundary.
    double rho(double x, double y) const {
        double u, v;
        frame(x, y, u, v);
        return std::sqrt((u / a) * (u / a) + (v / b) * (v / b));
    }
    /// Approximate signed distance to the boundary in pixels (negative inside): the distance along
    /// the ray from the centre, exact on a circle.
    double distance(double x, double y) const {
        const double r = rho(x, y), d = std::hypot(x - cx, y - cy);
        return r > 1e-9 ? d * (1 - 1 / r) : -std::min(a, b);
    }
    /// The same ellipse grown by `t` pixels on each semi-axis.
    Ellipse grown(double t) const { return {cx, cy, a + t, b + t, theta}; }
};

/// 0 well inside (d < -w/2), 1 well outside (d > w/2), linear in between: an anti-aliased edge.
inline double edge(double d, double w = 1.0) { return std::clamp(0.5 + d / w, 0.0, 1.0); }

/// Blends `value` into `base` with weight `alpha` in [0, 1].
inline double over(double base, double value, double alpha) { return base + alpha * (value - base); }

/// Ultrasound speckle: the magnitude of a complex Gaussian field smoothed with a [1 2 1] x [1 2 1]
/// kernel (grain of about 2 pixels), Rayleigh-distributed, normalised to mean 1. An image is
/// multiplied by it.
inline Field speckle_field(Draws& r) {
    Field re(kPixels), im(kPixels);
    for (int i = 0; i < kPixels; ++i) re[std::size_t(i)] = r.normal(), im[std::size_t(i)] = r.normal();
    const auto blur = [](const Field& f) {
        Field g(kPixels);
        for (int y = 0; y < kSize; ++y)
            for (int x = 0; x < kSize; ++x) {
                double sum = 0;
                for (int dy = -1; dy <= 1; ++dy)
                    for (int dx = -1; dx <= 1; ++dx) {
                        const int xx = std::clamp(x + dx, 0, kSize - 1), yy = std::clamp(y + dy, 0, kSize - 1);
                        sum += double((2 - std::abs(dx)) * (2 - std::abs(dy))) * f[std::size_t(yy * kSize + xx)];
                    }
                g[std::size_t(y * kSize + x)] = sum / 6.0;  // unit variance again (sum of squared weights 36)
            }
        return g;
    };
    re = blur(re), im = blur(im);
    Field s(kPixels);
    for (std::size_t i = 0; i < s.size(); ++i) s[i] = std::hypot(re[i], im[i]) / 1.2533;  // Rayleigh mean sqrt(pi/2)
    return s;
}

/// Task A: a "fetal MRI-like" slice and its brain mask.
inline Sample make_task_a(fbseg::Generator gen) {
    Draws r(std::move(gen));
    // The brain (inside of the skull): random pose and size, fully inside the image.
    const double a = r.uniform(12, 19), b = a * r.uniform(0.72, 0.9);
    const Ellipse brain{r.uniform(24, 40), r.uniform(24, 40), a, b, r.uniform(0, std::numbers::pi)};
    const double skull_t = r.uniform(1.5, 3.0), scalp_t = r.uniform(1.0, 2.0);
    const Ellipse skull = brain.grown(skull_t), scalp = skull.grown(scalp_t);
    const Ellipse fluid = scalp.grown(r.uniform(4, 10));  // amniotic fluid around the head
    // Ventricles: two elongated blobs either side of the midline (and sometimes a third), in
    // the brain's frame.
    const double vent_off = b * r.uniform(0.18, 0.32), vent_len = a * r.uniform(0.25, 0.45);
    const double vent_w = b * r.uniform(0.08, 0.14), vent_gain = r.uniform(0.2, 0.35);
    const bool third = r.coin(0.5);
    const double third_u = a * r.uniform(-0.5, 0.5);
    // Intensities (T2-like: fluid bright, skull dark), varied per image.
    const double tissue = r.uniform(0.3, 0.45), fluid_i = r.uniform(0.75, 0.95), scalp_i = r.uniform(0.45, 0.6);
    const double skull_i = r.uniform(0.05, 0.15), brain_i = r.uniform(0.5, 0.62), csf_i = r.uniform(0.7, 0.85);
    const Field tex_tissue = smooth_noise(r, 8), tex_fluid = smooth_noise(r, 4), tex_brain = smooth_noise(r, 16);
    const Field bias_low = smooth_noise(r, 2);
    const double gx = r.uniform(-0.3, 0.3), gy = r.uniform(-0.3, 0.3);  // linear bias gradient
    const double sigma = r.uniform(0.02, 0.06);

    Sample s{std::vector<float>(kPixels), std::vector<float>(kPixels)};
    for (int y = 0; y < kSize; ++y)
        for (int x = 0; x < kSize; ++x) {
            const auto i = std::size_t(y * kSize + x);
            const double px = x + 0.5, py = y + 0.5;
            double v = tissue + 0.06 * tex_tissue[i];
            // Fluid region: the ellipse's edge is wobbled by a coarse texture.
            v = over(v, fluid_i + 0.03 * tex_fluid[i], 1 - edge(fluid.distance(px, py) + 2.5 * tex_fluid[i], 2.0));
            v = over(v, scalp_i, 1 - edge(scalp.distance(px, py)));
            v = over(v, skull_i, 1 - edge(skull.distance(px, py)));
            const double db = brain.distance(px, py);
            v = over(v, csf_i, 1 - edge(db));  // CSF rim just inside
            double inner = brain_i + 0.04 * tex_brain[i];
            double u, w;
            brain.frame(px, py, u, w);
            for (double side : {-1.0, 1.0}) {
                const double du = u / vent_len, dv = (w - side * vent_off) / vent_w;
                inner += vent_gain * std::exp(-0.5 * (du * du + dv * dv));
            }
            if (third) {
                const double du = (u - third_u) / (0.4 * vent_len), dv = w / (0.6 * vent_w);
                inner += vent_gain * std::exp(-0.5 * (du * du + dv * dv));
            }
            v = over(v, inner, 1 - edge(db + 1.2));  // brain tissue
            // Smooth bias field and noise.
            const double bias = 1 + gx * (px / kSize - 0.5) + gy * (py / kSize - 0.5) + 0.08 * bias_low[i];
            v = v * bias + sigma * r.normal();
            s.image[i] = float(v);
            s.label[i] = brain.rho(px, py) < 1.0 ? 1.0f : 0.0f;
        }
    return s;
}

/// Task B: an "ultrasound-like" image and its filled head ellipse.
inline Sample make_task_b(fbseg::Generator gen) {
    Draws r(std::move(gen));
    // The probe: an apex above the image, a fan of half-angle `half` between radii r0 and r1.
    const double apex_x = kSize / 2.0 + r.uniform(-3, 3), apex_y = -r.uniform(4, 10);
    const double half = r.uniform(0.6, 0.8), r0 = r.uniform(6, 12) - apex_y, r1 = r.uniform(66, 76) - apex_y;
    // The head: the ellipse through the middle of the skull; the label is its outer edge.
    const double a = r.uniform(11, 18), b = a * r.uniform(0.72, 0.88);
    const Ellipse head{kSize / 2.0 + r.uniform(-8, 8), r.uniform(27, 40), a, b, r.uniform(0, std::numbers::pi)};
    const double skull_t = r.uniform(1.6, 2.6);
    const Ellipse outer = head.grown(skull_t / 2);
    // Gaps in the skull outline: one to three angular sectors (angle in the head's frame).
    const int gaps = 1 + int(r.uniform(0, 3));
    double gap_at[3], gap_w[3];
    for (int g = 0; g < 3; ++g)
        gap_at[g] = r.uniform(-std::numbers::pi, std::numbers::pi), gap_w[g] = r.uniform(0.15, 0.4);
    const double tissue = r.uniform(0.35, 0.5), inside_i = r.uniform(0.1, 0.2), skull_i = r.uniform(1.1, 1.5);
    const double midline_i = r.uniform(0.3, 0.5), shadow = r.uniform(0.15, 0.35), atten = r.uniform(0.004, 0.012);
    const Field tex_tissue = smooth_noise(r, 6), tex_inside = smooth_noise(r, 8), tex_fluid = smooth_noise(r, 4);
    // Amniotic fluid is anechoic (black) in ultrasound: a pocket beside the head on one side, as
    // dark as the inside of the head, so only the skull separates them (and it has gaps).
    const Ellipse fluid = head.grown(r.uniform(4, 10));
    const double fluid_dir = r.uniform(-std::numbers::pi, std::numbers::pi), fluid_off = a * r.uniform(-0.4, 0.6);
    const double fluid_i = r.uniform(0.03, 0.08);
    const Field speckle = speckle_field(r);
    const double sigma = r.uniform(0.01, 0.03);

    Sample s{std::vector<float>(kPixels), std::vector<float>(kPixels)};
    for (int y = 0; y < kSize; ++y)
        for (int x = 0; x < kSize; ++x) {
            const auto i = std::size_t(y * kSize + x);
            const double px = x + 0.5, py = y + 0.5;
            const double dx = px - apex_x, dy = py - apex_y, dist = std::hypot(dx, dy);
            const double phi = std::atan2(dx, dy);  // angle from the beam axis (straight down)
            // Inside the fan: 1, with a one-pixel soft edge.
            const double fan =
                (1 - edge(std::abs(phi) * dist - half * dist)) * (1 - edge(r0 - dist)) * (1 - edge(dist - r1));
            double v = tissue * (1 + 0.15 * tex_tissue[i]);
            const double side = (px - head.cx) * std::cos(fluid_dir) + (py - head.cy) * std::sin(fluid_dir) - fluid_off;
            v = over(v, fluid_i, (1 - edge(fluid.distance(px, py) + 2.5 * tex_fluid[i], 2.0)) * (1 - edge(-side, 3.0)));
            const double dh = head.distance(px, py);
            double u, w;
            head.frame(px, py, u, w);
            // Inside the head: dark, with a midline echo along the major axis.
            double inner = inside_i * (1 + 0.3 * tex_inside[i]);
            const double rho = head.rho(px, py);
            if (rho < 0.85) inner = over(inner, midline_i, std::exp(-0.5 * (w / 0.7) * (w / 0.7)) * (1 - rho / 0.85));
            v = over(v, inner, 1 - edge(dh + skull_t / 2));
            // The skull: bright where the beam hits it head-on (|cos| of the angle between the beam
            // and the ellipse's normal), weak where it grazes, missing in the gaps.
            const double nu = u / (head.a * head.a), nv = w / (head.b * head.b);
            const double c = std::cos(head.theta), sn = std::sin(head.theta);
            const double nx = c * nu - sn * nv, ny = sn * nu + c * nv;  // the normal in image axes
            const double incidence = std::abs(nx * dx + ny * dy) / (std::hypot(nx, ny) * dist + 1e-12);
            double bright = skull_i * (0.3 + 0.7 * incidence);
            const double ang = std::atan2(w / head.b, u / head.a);
            for (int g = 0; g < gaps; ++g) {
                const double d = std::remainder(ang - gap_at[g], 2 * std::numbers::pi);
                if (std::abs(d) < gap_w[g]) bright = over(bright, inner, 0.85);
            }
            const double ring = 1 - edge(std::abs(dh) - skull_t / 2);
            v = over(v, bright, ring);
            // Acoustic shadow: behind the far side of the skull along the beam from the apex,
            // i.e. where the ray from the apex has already entered and left the head.
            {
                double au, av, pu, pv;
                head.frame(apex_x, apex_y, au, av);
                pu = u, pv = w;
                // Points apex + t (p - apex), t in [0, 1], on the ellipse: a t^2 + b t + c = 0.
                const double ddu = (pu - au) / head.a, ddv = (pv - av) / head.b, su = au / head.a, sv = av / head.b;
                const double qa = ddu * ddu + ddv * ddv, qb = 2 * (su * ddu + sv * ddv), qc = su * su + sv * sv - 1;
                const double disc = qb * qb - 4 * qa * qc;
                if (disc > 0) {
                    const double t_far = (-qb + std::sqrt(disc)) / (2 * qa);
                    const double beyond = (1 - t_far) * dist;  // pixels past the far crossing
                    if (beyond > 0) v *= over(1.0, shadow, std::min(1.0, beyond / 3.0));
                }
            }
            // The skull is a specular reflector: less speckle on it than in tissue.
            const double grain = over(speckle[i], 1.0, 0.5 * ring);
            v = v * grain * std::exp(-atten * dist) * fan + sigma * r.normal();
            s.image[i] = float(v);
            s.label[i] = outer.rho(px, py) < 1.0 ? 1.0f : 0.0f;
        }
    return s;
}

/// z-scores an image in place: zero mean, unit standard deviation.
inline void normalise(std::vector<float>& image) {
    double sum = 0, sq = 0;
    for (float v : image) sum += v, sq += double(v) * v;
    const double n = double(image.size()), mean = sum / n, sd = std::sqrt(std::max(sq / n - mean * mean, 1e-12));
    for (float& v : image) v = float((v - mean) / sd);
}

/// Mirrors a sample left-right (an augmentation that keeps both tasks' physics: the probe and
/// its shadow stay at the top and bottom).
inline void flip_horizontal(Sample& s) {
    for (auto* f : {&s.image, &s.label})
        for (int y = 0; y < kSize; ++y) std::reverse(f->begin() + y * kSize, f->begin() + (y + 1) * kSize);
}

}  // namespace transfer_demo
