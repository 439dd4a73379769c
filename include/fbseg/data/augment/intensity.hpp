// fbseg/data/augment/intensity.hpp - the intensity transforms: they change a float32 [C, H, W]
// image in place and never touch the label. The deterministic forms take their parameters; the
// random ones (pipeline.hpp) draw them.
//
//   brightness_contrast  Albumentations 2.0.8 RandomBrightnessContrast.apply ->
//                        albucore.multiply_add (float path multiply_add_opencv, in float64) and
//                        @clipped (float32: clip to [0, 1], MAX_VALUES_BY_DTYPE[float32] = 1):
//                          x' = clip(alpha x + beta, 0, 1)
//                        with alpha = 1 + U(contrast_limit), beta = U(brightness_limit) * 1
//                        (brightness_by_max=True). `clip = false` skips the clip (images not in [0, 1]).
//   adjust_gamma         MONAI 1.6.1 AdjustContrast (RandAdjustContrast draws gamma):
//                          x' = ((x - min) / (max - min + 1e-7))^gamma * (max - min) + min
//                        min and max over the whole image (all channels), as MONAI.
//   gaussian_noise       x' = x + n, n ~ N(0, std^2) per element.
//   gaussian_blur        cv2.GaussianBlur(img, (0, 0), sigma) per channel: OpenCV's kernel for
//                        the sigma (filter.hpp), BORDER_REFLECT_101.
//   bias_field           MONAI 1.6.1 RandBiasField (2D): with coordinates u_i = linspace(-1, 1, H)[i]
//                        (rows), v_j = linspace(-1, 1, W)[j] (columns), Legendre polynomials P_n and
//                        the coefficient list c placed in the lower triangle of a (d+1) x (d+1)
//                        matrix in numpy.tril_indices order ((0,0), (1,0), (1,1), (2,0), ...):
//                          field(i, j) = sum_{a >= b} C[a, b] P_a(u_i) P_b(v_j)   (leggrid2d)
//                          x' = x * exp(field)             (every channel, the same field)
//                        MONAI draws (d+1)(d+2)/2 coefficients from U(coeff_range), default (0, 0.1).
//   rician_noise         MONAI 1.6.1 RandRicianNoise (channel_wise=False, relative=False):
//                          s ~ U(0, std) (sample_std=True) or s = std;  n1, n2 ~ N(mean, s^2)
//                          x' = sqrt((x + n1)^2 + n2^2)
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string_view>
#include <vector>

#include "fbseg/core/error.hpp"
#include "fbseg/core/tensor.hpp"
#include "fbseg/data/augment/draws.hpp"
#include "fbseg/data/augment/filter.hpp"
#include "fbseg/data/augment/warp.hpp"
#include "fbseg/data/random.hpp"

namespace fbseg::data::augment {

/// x' = alpha x + beta, clipped to [0, 1] when `clip` (Albumentations' float32 behaviour).
inline void brightness_contrast(Tensor& image, double alpha, double beta, bool clip = true) {
    detail::check_image(image, "brightness_contrast");
    FBSEG_CHECK(std::isfinite(alpha) && std::isfinite(beta), "brightness_contrast: alpha and beta must be finite but are ",
                alpha, " and ", beta);
    float* p = image.data_ptr<float>();
    for (std::int64_t i = 0, n = image.numel(); i < n; ++i) {
        double v = alpha * double(p[i]) + beta;
        if (clip) v = std::clamp(v, 0.0, 1.0);
        p[i] = float(v);
    }
}

/// MONAI's AdjustContrast: x' = ((x - min) / (range + 1e-7))^gamma * range + min.
inline void adjust_gamma(Tensor& image, double gamma) {
    detail::check_image(image, "adjust_gamma");
    FBSEG_CHECK(std::isfinite(gamma) && gamma > 0, "adjust_gamma: gamma must be finite and > 0 but is ", gamma);
    float* p = image.data_ptr<float>();
    const std::int64_t n = image.numel();
    float lo = p[0], hi = p[0];
    for (std::int64_t i = 1; i < n; ++i) {
        lo = std::min(lo, p[i]);
        hi = std::max(hi, p[i]);
    }
    // In float32, as MONAI computes on a float32 tensor (and std::pow(float) is several times
    // cheaper than the double one).
    const float range = hi - lo, denom = float(double(range) + 1e-7), g = float(gamma);
    for (std::int64_t i = 0; i < n; ++i) p[i] = std::pow((p[i] - lo) / denom, g) * range + lo;
}

/// x' = x + N(0, std^2), one draw per element in row-major order (draws.hpp).
inline void gaussian_noise(Tensor& image, double stddev, Rng& rng) {
    detail::check_image(image, "gaussian_noise");
    FBSEG_CHECK(std::isfinite(stddev) && stddev >= 0, "gaussian_noise: std must be finite and >= 0 but is ", stddev);
    const std::int64_t n = image.numel();
    std::vector<float> z(static_cast<std::size_t>(n));
    fill_normal(z.data(), n, 0.0, stddev, rng);
    float* p = image.data_ptr<float>();
    for (std::int64_t i = 0; i < n; ++i) p[i] += z[std::size_t(i)];
}

/// cv2.GaussianBlur(image, (0, 0), sigma), every channel, BORDER_REFLECT_101.
inline void gaussian_blur(Tensor& image, double sigma) {
    detail::check_image(image, "gaussian_blur");
    const std::vector<float> k = gaussian_kernel(sigma, "gaussian_blur");
    const std::int64_t c = image.shape()[0], h = image.shape()[1], w = image.shape()[2];
    std::vector<float> tmp;
    float* p = image.data_ptr<float>();
    for (std::int64_t ch = 0; ch < c; ++ch) blur_plane(p + ch * h * w, h, w, k, Border::Reflect101, tmp);
}

/// Legendre polynomials P_0..P_degree at x (Bonnet's recursion (n+1) P_{n+1} = (2n+1) x P_n - n P_{n-1}).
inline std::vector<double> legendre(double x, std::int64_t degree) {
    std::vector<double> p(std::size_t(degree + 1));
    p[0] = 1;
    if (degree >= 1) p[1] = x;
    for (std::int64_t n = 1; n < degree; ++n)
        p[std::size_t(n + 1)] = (double(2 * n + 1) * x * p[std::size_t(n)] - double(n) * p[std::size_t(n - 1)]) / double(n + 1);
    return p;
}

/// The number of coefficients of a 2D bias field of `degree`: (degree + 1)(degree + 2) / 2.
inline std::int64_t bias_field_coefficients(std::int64_t degree) { return (degree + 1) * (degree + 2) / 2; }

/// The H x W field sum_{a >= b} C[a, b] P_a(u_i) P_b(v_j) (row-major, double), MONAI's layout.
inline std::vector<double> bias_field_values(std::int64_t h, std::int64_t w, std::int64_t degree,
                                             const std::vector<double>& coeffs) {
    FBSEG_CHECK(degree >= 1 && degree <= 10, "bias_field: degree must be in 1..10 but is ", degree);
    FBSEG_CHECK(std::int64_t(coeffs.size()) == bias_field_coefficients(degree), "bias_field: degree ", degree, " needs ",
                bias_field_coefficients(degree), " coefficients but got ", coeffs.size());
    // numpy.linspace(-1, 1, n, dtype=float32): -1 + i * 2 / (n - 1) in double, the last exactly 1, then float32.
    auto coord = [](std::int64_t i, std::int64_t n) {
        if (n == 1) return double(float(-1.0));
        return double(float(i == n - 1 ? 1.0 : -1.0 + double(i) * (2.0 / double(n - 1))));
    };
    std::vector<std::vector<double>> pu(static_cast<std::size_t>(h)), pv(static_cast<std::size_t>(w));
    for (std::int64_t i = 0; i < h; ++i) pu[std::size_t(i)] = legendre(coord(i, h), degree);
    for (std::int64_t j = 0; j < w; ++j) pv[std::size_t(j)] = legendre(coord(j, w), degree);
    std::vector<double> field(std::size_t(h * w), 0.0);
    for (std::int64_t i = 0; i < h; ++i)
        for (std::int64_t j = 0; j < w; ++j) {
            double f = 0;
            std::size_t k = 0;
            for (std::int64_t a = 0; a <= degree; ++a)
                for (std::int64_t b = 0; b <= a; ++b) f += coeffs[k++] * pu[std::size_t(i)][std::size_t(a)] * pv[std::size_t(j)][std::size_t(b)];
            field[std::size_t(i * w + j)] = f;
        }
    return field;
}

/// x' = x * exp(field) with the field of `coeffs` (bias_field_values), every channel.
inline void bias_field(Tensor& image, std::int64_t degree, const std::vector<double>& coeffs) {
    detail::check_image(image, "bias_field");
    const std::int64_t c = image.shape()[0], h = image.shape()[1], w = image.shape()[2];
    const std::vector<double> field = bias_field_values(h, w, degree, coeffs);
    float* p = image.data_ptr<float>();
    for (std::int64_t ch = 0; ch < c; ++ch)
        for (std::int64_t i = 0; i < h * w; ++i) p[ch * h * w + i] = float(double(p[ch * h * w + i]) * std::exp(field[std::size_t(i)]));
}

/// x' = sqrt((x + n1)^2 + n2^2) with n1, n2 ~ N(mean, s^2): all n1 (row-major), then all n2.
inline void rician_noise(Tensor& image, double mean, double s, Rng& rng) {
    detail::check_image(image, "rician_noise");
    FBSEG_CHECK(std::isfinite(mean) && std::isfinite(s) && s >= 0, "rician_noise: mean must be finite and std >= 0 but are ",
                mean, " and ", s);
    const std::int64_t n = image.numel();
    std::vector<float> n1(static_cast<std::size_t>(n)), n2(static_cast<std::size_t>(n));
    fill_normal(n1.data(), n, mean, s, rng);
    fill_normal(n2.data(), n, mean, s, rng);
    float* p = image.data_ptr<float>();
    for (std::int64_t i = 0; i < n; ++i) {
        const float a = p[i] + n1[std::size_t(i)], b = n2[std::size_t(i)];
        p[i] = std::sqrt(a * a + b * b);
    }
}

}  // namespace fbseg::data::augment
