// fbseg/data/phantom/shapes.hpp - the geometric building blocks of the phantoms: smooth random
// fields (sums of random plane waves), evaluated per point or on a coarse grid and interpolated,
// smooth steps, and the exact perimeter of an ellipse.
//
// A WaveField is f(p) = sum_j A cos(k_j . p + phi_j) over J random plane waves with random
// directions k_j / |k_j| (uniform on the circle or the sphere), wavelengths 2 pi / |k_j| drawn
// uniformly in [lambda_min, lambda_max] (mm) and phases uniform in [0, 2 pi); A = sqrt(2 / J) so
// that f has mean 0 and variance 1 over random phases. It is smooth, defined everywhere in 2D or
// 3D (one 3D field gives consistent slices of a volume), and cheap for a few waves.
//
// The exact ellipse perimeter (semi-axes a >= b): P = 4 a E(e), e^2 = 1 - b^2 / a^2, with E the
// complete elliptic integral of the second kind, computed by the arithmetic-geometric mean:
//   a_0 = a, b_0 = b, c_0^2 = a^2 - b^2;  a_{n+1} = (a_n + b_n) / 2,  b_{n+1} = sqrt(a_n b_n),
//   c_{n+1} = (a_n - b_n) / 2;  P = 2 pi / M(a, b) * (a^2 - sum_{n>=0} 2^{n-1} c_n^2),
// where M(a, b) = lim a_n (Abramowitz & Stegun 17.6; quadratic convergence, 5-6 steps reach
// double precision). A circle (a = b) gives 2 pi a.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numbers>
#include <vector>

#include "fbseg/core/error.hpp"
#include "fbseg/data/random.hpp"

namespace fbseg::data::phantom {

/// The exact perimeter of the ellipse with semi-axes a and b (any order, both >= 0).
inline double ellipse_perimeter(double a, double b) {
    FBSEG_CHECK(std::isfinite(a) && std::isfinite(b) && a >= 0 && b >= 0,
                "phantom::ellipse_perimeter: semi-axes must be finite and >= 0 but are a = ", a, ", b = ", b);
    if (a < b) std::swap(a, b);
    if (a == 0) return 0;
    if (b == 0) return 4 * a;  // the degenerate ellipse: a segment walked twice
    double an = a, bn = b;
    double sum = 0.5 * (a * a - b * b);  // 2^{-1} c_0^2
    double power = 0.5;
    for (int n = 0; n < 64; ++n) {
        const double c = 0.5 * (an - bn);
        // converged: c_n has reached rounding level (it then stalls at +-1 ulp instead of
        // vanishing, and 2^n c_n^2 would grow again)
        if (std::abs(c) <= 1e-15 * an) break;
        const double a_next = 0.5 * (an + bn);
        bn = std::sqrt(an * bn);
        an = a_next;
        power *= 2;
        sum += power * c * c;
    }
    return 2 * std::numbers::pi / an * (a * a - sum);
}

/// 0 below e0, 1 above e1, the C1 Hermite step 3t^2 - 2t^3 in between.
inline double smoothstep(double e0, double e1, double x) {
    const double t = std::clamp((x - e0) / (e1 - e0), 0.0, 1.0);
    return t * t * (3 - 2 * t);
}

/// A smooth random field: a sum of random plane waves (see the file comment).
class WaveField {
public:
    WaveField() = default;
    /// `waves` plane waves in `dims` (2 or 3) dimensions with wavelengths in
    /// [lambda_min, lambda_max] (same unit as the points it is evaluated at).
    WaveField(Rng& rng, int dims, int waves, double lambda_min, double lambda_max) {
        FBSEG_CHECK(dims == 2 || dims == 3, "phantom::WaveField: dims must be 2 or 3 but is ", dims);
        FBSEG_CHECK(waves > 0 && lambda_min > 0 && lambda_max >= lambda_min,
                    "phantom::WaveField: needs waves > 0 and 0 < lambda_min <= lambda_max but got waves = ", waves,
                    ", lambda in [", lambda_min, ", ", lambda_max, "]");
        amplitude_ = std::sqrt(2.0 / waves);
        waves_.reserve(std::size_t(waves));
        for (int j = 0; j < waves; ++j) {
            double d[3] = {0, 0, 0};
            if (dims == 2) {
                const double t = rng.uniform(0, 2 * std::numbers::pi);
                d[0] = std::cos(t);
                d[1] = std::sin(t);
            } else {  // uniform on the sphere: z uniform in [-1, 1], azimuth uniform
                const double z = rng.uniform(-1, 1), t = rng.uniform(0, 2 * std::numbers::pi);
                const double r = std::sqrt(std::max(0.0, 1 - z * z));
                d[0] = r * std::cos(t);
                d[1] = r * std::sin(t);
                d[2] = z;
            }
            const double k = 2 * std::numbers::pi / rng.uniform(lambda_min, lambda_max);
            waves_.push_back({k * d[0], k * d[1], k * d[2], rng.uniform(0, 2 * std::numbers::pi)});
        }
    }
    /// f(x, y, z): mean 0, variance 1 (z is ignored by a 2D field).
    double operator()(double x, double y, double z = 0) const {
        double s = 0;
        for (const auto& w : waves_) s += std::cos(w.kx * x + w.ky * y + w.kz * z + w.phase);
        return amplitude_ * s;
    }
    bool empty() const { return waves_.empty(); }

private:
    struct Wave {
        double kx, ky, kz, phase;
    };
    std::vector<Wave> waves_;
    double amplitude_ = 0;
};

/// f(r, c) evaluated at every `step`-th row and column of an [H, W] grid (and the last row and
/// column) and bilinearly interpolated in between: for smooth fields, step^2 times fewer calls.
template <typename F>
std::vector<float> smooth_on_grid(std::int64_t height, std::int64_t width, std::int64_t step, F&& f) {
    FBSEG_CHECK(height > 0 && width > 0 && step > 0, "phantom::smooth_on_grid: needs H, W, step > 0 but got ", height,
                ", ", width, ", ", step);
    auto knots = [&](std::int64_t n) {
        std::vector<std::int64_t> k;
        for (std::int64_t i = 0; i < n - 1; i += step) k.push_back(i);
        k.push_back(n - 1);
        return k;
    };
    const auto kr = knots(height), kc = knots(width);
    std::vector<double> g(kr.size() * kc.size());
    for (std::size_t i = 0; i < kr.size(); ++i)
        for (std::size_t j = 0; j < kc.size(); ++j) g[i * kc.size() + j] = f(double(kr[i]), double(kc[j]));
    // for each column: the knot interval and the weight of its right knot
    std::vector<std::size_t> cj(static_cast<std::size_t>(width));
    std::vector<double> cw(static_cast<std::size_t>(width));
    for (std::size_t j = 0, c = 0; c < std::size_t(width); ++c) {
        while (j + 2 < kc.size() && std::int64_t(c) > kc[j + 1]) ++j;
        cj[c] = j;
        const double span = kc.size() > 1 ? double(kc[j + 1] - kc[j]) : 1.0;
        cw[c] = kc.size() > 1 ? (double(c) - double(kc[j])) / span : 0.0;
    }
    std::vector<float> out(std::size_t(height * width));
    for (std::size_t i = 0, r = 0; r < std::size_t(height); ++r) {
        while (i + 2 < kr.size() && std::int64_t(r) > kr[i + 1]) ++i;
        const bool single_r = kr.size() == 1;
        const double wr = single_r ? 0.0 : (double(r) - double(kr[i])) / double(kr[i + 1] - kr[i]);
        const double* g0 = &g[i * kc.size()];
        const double* g1 = single_r ? g0 : &g[(i + 1) * kc.size()];
        for (std::size_t c = 0; c < std::size_t(width); ++c) {
            const std::size_t j = cj[c];
            const std::size_t j1 = kc.size() > 1 ? j + 1 : j;
            const double top = g0[j] + cw[c] * (g0[j1] - g0[j]);
            const double bottom = g1[j] + cw[c] * (g1[j1] - g1[j]);
            out[r * std::size_t(width) + c] = float(top + wr * (bottom - top));
        }
    }
    return out;
}

}  // namespace fbseg::data::phantom
