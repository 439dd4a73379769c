// fbseg/metrics/ellipse.hpp - the direct least-squares ellipse fit (Fitzgibbon, Pilu & Fisher 1999,
// in the numerically stable form of Halir & Flusser 1998) and Ramanujan's perimeter.
//
// The fit: the conic A x^2 + B xy + C y^2 + D x + E y + F = 0 that minimises the algebraic error
// sum_i (a . [x_i^2, x_i y_i, y_i^2, x_i, y_i, 1])^2 under the ellipse constraint 4AC - B^2 = 1.
// Halir-Flusser split the design matrix into its quadratic part D1 = [x^2, xy, y^2] and linear part
// D2 = [x, y, 1]; with S1 = D1'D1, S2 = D1'D2, S3 = D2'D2 the linear coefficients are
// a2 = T a1, T = -S3^-1 S2', and a1 = (A, B, C) is the eigenvector of
// M = C1^-1 (S1 + S2 T), C1 = [[0, 0, 2], [0, -1, 0], [2, 0, 0]], with 4AC - B^2 > 0.
// The points are first centred on their mean and scaled to unit RMS radius (the fit is invariant
// to that similarity; it keeps S1..S3 well conditioned for 800-pixel images).
//
// From the conic to the geometry: centre (x0, y0) = ((2CD - BE), (2AE - BD)) / (B^2 - 4AC);
// with F0 = the conic's value at the centre and l1 <= l2 the eigenvalues of [[A, B/2], [B/2, C]]
// (sign normalised so that they are positive), semi-axes a = sqrt(-F0 / l1) >= b = sqrt(-F0 / l2);
// the angle of the a-axis is that of l1's eigenvector: 0.5 atan2(B, A - C) + pi/2.
//
// Coordinates are image coordinates of pixel centres: x = column, y = row (downwards), pixel
// (0, 0) at (0, 0), as OpenCV. The angle is measured from +x towards +y (clockwise on screen),
// in [0, pi). OpenCV's fitEllipse/RotatedRect report the full axes (width, height) and the angle
// (degrees) of the width axis; there a = max(w, h)/2 and our angle = its angle, or its angle - 90
// degrees when height > width, taken modulo 180.
//
// Ramanujan's second approximation of the perimeter, with h = ((a - b)/(a + b))^2:
//   P = pi (a + b) (1 + 3h / (10 + sqrt(4 - 3h)))   (relative error below 1e-9 for b/a > 0.5)
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <numbers>
#include <string>
#include <vector>

#include "fbseg/metrics/common.hpp"

namespace fbseg::metrics {

struct Point2 {
    double x = 0, y = 0;  // x = column, y = row (pixel centres)
};

/// An ellipse in pixel units: centre, semi-axes a >= b, angle of the a-axis (radians, from +x
/// towards +y, in [0, pi)). `reason` says why the fit failed (then the numbers are NaN).
struct Ellipse {
    double center_x = kNaN, center_y = kNaN, semi_axis_a = kNaN, semi_axis_b = kNaN, angle_rad = kNaN;
    std::string reason;
    bool defined() const { return reason.empty(); }
};

/// P = pi (a + b) (1 + 3h / (10 + sqrt(4 - 3h))), h = ((a - b) / (a + b))^2.
inline double ramanujan_perimeter(double a, double b) {
    if (a + b == 0) return 0;
    const double h = ((a - b) / (a + b)) * ((a - b) / (a + b));
    return std::numbers::pi * (a + b) * (1 + 3 * h / (10 + std::sqrt(4 - 3 * h)));
}

namespace detail {

using Mat3 = std::array<std::array<double, 3>, 3>;
using Vec3 = std::array<double, 3>;

inline double det3(const Mat3& m) {
    return m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0]) +
           m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
}

inline bool inverse3(const Mat3& m, Mat3& inv) {
    const double det = det3(m);
    if (!(std::abs(det) > 0) || !std::isfinite(det)) return false;
    for (int i = 0; i < 3; ++i)
        for (int j = 0; j < 3; ++j) {
            // cofactor of (j, i), divided by the determinant
            const int r0 = (j + 1) % 3, r1 = (j + 2) % 3, c0 = (i + 1) % 3, c1 = (i + 2) % 3;
            inv[std::size_t(i)][std::size_t(j)] =
                (m[std::size_t(r0)][std::size_t(c0)] * m[std::size_t(r1)][std::size_t(c1)] -
                 m[std::size_t(r0)][std::size_t(c1)] * m[std::size_t(r1)][std::size_t(c0)]) /
                det;
        }
    return true;
}

inline Vec3 cross(const Vec3& a, const Vec3& b) {
    return {a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]};
}

/// The real roots of the characteristic polynomial det(M - l I) = -(l^3 + c2 l^2 + c1 l + c0),
/// each polished with Newton steps.
inline std::vector<double> real_eigenvalues(const Mat3& m) {
    const double tr = m[0][0] + m[1][1] + m[2][2];
    const double minors = m[0][0] * m[1][1] - m[0][1] * m[1][0] + m[0][0] * m[2][2] - m[0][2] * m[2][0] +
                          m[1][1] * m[2][2] - m[1][2] * m[2][1];
    const double c2 = -tr, c1 = minors, c0 = -det3(m);
    // depressed cubic t^3 + p t + q with l = t - c2/3
    const double p = c1 - c2 * c2 / 3, q = 2 * c2 * c2 * c2 / 27 - c2 * c1 / 3 + c0;
    std::vector<double> roots;
    const double disc = q * q / 4 + p * p * p / 27;
    if (disc > 0) {  // one real root (Cardano)
        const double s = std::sqrt(disc);
        roots.push_back(std::cbrt(-q / 2 + s) + std::cbrt(-q / 2 - s));
    } else if (p == 0) {
        roots.push_back(0);
    } else {  // three real roots (trigonometric form)
        const double r = 2 * std::sqrt(-p / 3);
        const double phi = std::acos(std::clamp(3 * q / (p * r), -1.0, 1.0));
        for (int k = 0; k < 3; ++k) roots.push_back(r * std::cos((phi - 2 * std::numbers::pi * k) / 3));
    }
    for (double& t : roots) {
        double l = t - c2 / 3;
        for (int it = 0; it < 3; ++it) {
            const double f = ((l + c2) * l + c1) * l + c0, df = (3 * l + 2 * c2) * l + c1;
            if (df == 0) break;
            l -= f / df;
        }
        t = l;
    }
    return roots;
}

/// A unit eigenvector of m for eigenvalue l: the largest cross product of two rows of m - l I.
inline Vec3 eigenvector(const Mat3& m, double l) {
    Mat3 a = m;
    for (int i = 0; i < 3; ++i) a[std::size_t(i)][std::size_t(i)] -= l;
    const Vec3 c[3] = {cross(a[0], a[1]), cross(a[0], a[2]), cross(a[1], a[2])};
    Vec3 best{};
    double best_norm = -1;
    for (const auto& v : c) {
        const double n = std::sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]);
        if (n > best_norm) {
            best_norm = n;
            best = v;
        }
    }
    if (best_norm > 0)
        for (double& x : best) x /= best_norm;
    return best;
}

}  // namespace detail

/// The direct least-squares ellipse through `points` (at least 5, not all on a line or conic
/// other than an ellipse). See the header comment for the method and the conventions.
inline Ellipse fit_ellipse(const std::vector<Point2>& points) {
    using detail::Mat3;
    Ellipse e;
    if (points.size() < 5) {
        e.reason = "fit_ellipse: " + std::to_string(points.size()) + " points, an ellipse needs at least 5";
        return e;
    }
    // centre on the mean and scale to unit RMS distance from it
    double mx = 0, my = 0;
    for (const auto& p : points) {
        mx += p.x;
        my += p.y;
    }
    mx /= double(points.size());
    my /= double(points.size());
    double ss = 0;
    for (const auto& p : points) ss += (p.x - mx) * (p.x - mx) + (p.y - my) * (p.y - my);
    const double scale = std::sqrt(ss / double(points.size()));
    if (!(scale > 0)) {
        e.reason = "fit_ellipse: all points coincide";
        return e;
    }
    Mat3 s1{}, s2{}, s3{};
    for (const auto& p : points) {
        const double u = (p.x - mx) / scale, v = (p.y - my) / scale;
        const double d1[3] = {u * u, u * v, v * v}, d2[3] = {u, v, 1.0};
        for (std::size_t i = 0; i < 3; ++i)
            for (std::size_t j = 0; j < 3; ++j) {
                s1[i][j] += d1[i] * d1[j];
                s2[i][j] += d1[i] * d2[j];
                s3[i][j] += d2[i] * d2[j];
            }
    }
    Mat3 s3_inv;
    if (!detail::inverse3(s3, s3_inv)) {
        e.reason = "fit_ellipse: the points are collinear";
        return e;
    }
    Mat3 t{};  // T = -S3^-1 S2'
    for (std::size_t i = 0; i < 3; ++i)
        for (std::size_t j = 0; j < 3; ++j)
            for (std::size_t k = 0; k < 3; ++k) t[i][j] -= s3_inv[i][k] * s2[j][k];
    Mat3 m = s1;  // M = S1 + S2 T
    for (std::size_t i = 0; i < 3; ++i)
        for (std::size_t j = 0; j < 3; ++j)
            for (std::size_t k = 0; k < 3; ++k) m[i][j] += s2[i][k] * t[k][j];
    // C1^-1 M: rows (M2 / 2, -M1, M0 / 2)
    Mat3 mc;
    for (std::size_t j = 0; j < 3; ++j) {
        mc[0][j] = m[2][j] / 2;
        mc[1][j] = -m[1][j];
        mc[2][j] = m[0][j] / 2;
    }
    detail::Vec3 a1{};
    double best = 0;
    for (double l : detail::real_eigenvalues(mc)) {
        const auto v = detail::eigenvector(mc, l);
        const double cond = 4 * v[0] * v[2] - v[1] * v[1];
        if (cond > best) {
            best = cond;
            a1 = v;
        }
    }
    if (!(best > 0)) {
        e.reason = "fit_ellipse: no ellipse fits the points (no eigenvector with 4AC - B^2 > 0)";
        return e;
    }
    const double A = a1[0], B = a1[1], C = a1[2];
    const double D = t[0][0] * A + t[0][1] * B + t[0][2] * C;
    const double E = t[1][0] * A + t[1][1] * B + t[1][2] * C;
    const double F = t[2][0] * A + t[2][1] * B + t[2][2] * C;
    const double den = B * B - 4 * A * C;  // < 0 for an ellipse
    const double u0 = (2 * C * D - B * E) / den, v0 = (2 * A * E - B * D) / den;
    const double f0 = A * u0 * u0 + B * u0 * v0 + C * v0 * v0 + D * u0 + E * v0 + F;
    const double mean = (A + C) / 2, rad = std::hypot((A - C) / 2, B / 2);
    double l1 = mean - rad, l2 = mean + rad;                           // eigenvalues of [[A, B/2], [B/2, C]]
    double theta = 0.5 * std::atan2(B, A - C) + std::numbers::pi / 2;  // eigenvector of l1
    if (A + C < 0) {  // the conic's overall sign is free: make the quadratic form positive
        l1 = -(mean + rad);
        l2 = -(mean - rad);
        theta -= std::numbers::pi / 2;  // the smaller positive eigenvalue is now the other one
    }
    const double f = A + C < 0 ? -f0 : f0;
    if (!(l1 > 0) || !(f < 0)) {
        e.reason = "fit_ellipse: the fitted conic is not a real ellipse";
        return e;
    }
    theta = std::fmod(theta, std::numbers::pi);
    if (theta < 0) theta += std::numbers::pi;
    e.center_x = mx + scale * u0;
    e.center_y = my + scale * v0;
    e.semi_axis_a = scale * std::sqrt(-f / l1);
    e.semi_axis_b = scale * std::sqrt(-f / l2);
    e.angle_rad = theta;
    return e;
}

}  // namespace fbseg::metrics
