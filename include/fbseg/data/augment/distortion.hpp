// fbseg/data/augment/distortion.hpp - the non-rigid deformations, after Albumentations 2.0.8:
// elastic deformation (ElasticTransform with noise_distribution="uniform") and grid distortion
// (GridDistortion, normalized=True). Each builds a sampling map (warp.hpp) from its random draws;
// the deterministic builders take the draws as arguments so tests can give them.
//
// Elastic (albumentations.augmentations.geometric.functional.generate_displacement_fields):
//   dx, dy = alpha * G_sigma * U(-1, 1)   (one uniform draw per pixel and axis, smoothed by the
//            Gaussian of sigma (OpenCV's kernel, filter.hpp) with BORDER_REPLICATE)
//   map:   x_src = x + dx(y, x),  y_src = y + dy(y, x)
// (Albumentations blurs the two fields stacked as one (2H, W) plane, so near the seam row H the
// vertical blur of dx reads dy; fbseg blurs each field on its own.)
//
// Grid distortion (generate_grid, normalize_grid_distortion_steps): the image is cut into
// num_steps cells per axis of size step = W // num_steps; draw s_k = 1 + U(-limit, limit) for
// k = 0..num_steps; the last is weighted by (its true width) / step; then all are rescaled so that
// sum_k s_k = W / floor(W / num_steps) (the grid covers the image). Cell k's columns
// [k step, min((k+1) step, W)) read the source linearly from prev to prev + step * s_k
// (numpy.linspace, both ends included), prev the end of the previous cell; rows alike.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string_view>
#include <vector>

#include "fbseg/core/error.hpp"
#include "fbseg/data/augment/draws.hpp"
#include "fbseg/data/augment/filter.hpp"
#include "fbseg/data/augment/warp.hpp"
#include "fbseg/data/random.hpp"

namespace fbseg::data::augment {

/// The elastic sampling map from two raw noise fields (h x w each, row-major, values in [-1, 1]):
/// each is blurred (sigma, BORDER_REPLICATE) and scaled by alpha, then added to the identity.
inline SamplingMap elastic_map(std::int64_t h, std::int64_t w, std::vector<float> noise_x, std::vector<float> noise_y,
                               double alpha, double sigma) {
    SamplingMap map = SamplingMap::sized(h, w, "elastic");
    FBSEG_CHECK(noise_x.size() == map.x.size() && noise_y.size() == map.x.size(), "elastic: the noise fields hold ",
                noise_x.size(), " and ", noise_y.size(), " values for a ", h, " x ", w, " image");
    FBSEG_CHECK(std::isfinite(alpha), "elastic: alpha must be finite but is ", alpha);
    const std::vector<float> k = gaussian_kernel(sigma, "elastic");
    std::vector<float> tmp;
    blur_plane(noise_x.data(), h, w, k, Border::Replicate, tmp);
    blur_plane(noise_y.data(), h, w, k, Border::Replicate, tmp);
    for (std::int64_t r = 0; r < h; ++r)
        for (std::int64_t c = 0; c < w; ++c) {
            const auto i = std::size_t(r * w + c);
            map.x[i] = float(double(c) + alpha * double(noise_x[i]));
            map.y[i] = float(double(r) + alpha * double(noise_y[i]));
        }
    return map;
}

/// h x w uniform(-1, 1) draws from `rng`, row-major.
inline std::vector<float> uniform_field(std::int64_t h, std::int64_t w, Rng& rng) {
    std::vector<float> f(std::size_t(checked_mul(h, w, "uniform_field")));
    fill_uniform(f.data(), std::int64_t(f.size()), -1.0, 1.0, rng);
    return f;
}

/// Albumentations' normalize_grid_distortion_steps for one axis of `size` pixels (in place).
inline void normalize_grid_steps(std::vector<double>& steps, std::int64_t size, std::int64_t num_steps) {
    const std::int64_t step = size / num_steps;
    const std::int64_t last = std::min(size, (num_steps + 1) * step) - num_steps * step;
    steps.back() *= double(last) / double(step);
    const double total = double(size) / std::floor(double(size) / double(num_steps));
    double sum = 0;
    for (double s : steps) sum += s;
    for (double& s : steps) s *= total / sum;
}

/// Albumentations' generate_grid for one axis: the source coordinate of each of `size` pixels.
inline std::vector<float> grid_axis(const std::vector<double>& steps, std::int64_t size, std::int64_t num_steps) {
    const std::int64_t step = size / num_steps;
    std::vector<float> out(std::size_t(size), 0.0f);
    double prev = 0;
    for (std::size_t k = 0; k < steps.size(); ++k) {
        const std::int64_t start = std::int64_t(k) * step, end = std::min(start + step, size);
        const double cur = prev + double(step) * steps[k];
        const std::int64_t n = end - start;
        for (std::int64_t i = 0; i < n; ++i)  // numpy.linspace(prev, cur, n): the last value is cur exactly
            out[std::size_t(start + i)] =
                float(i == n - 1 && n > 1 ? cur : prev + double(i) * (n > 1 ? (cur - prev) / double(n - 1) : 0.0));
        prev = cur;
    }
    return out;
}

/// The grid-distortion sampling map from the drawn step factors (num_steps + 1 per axis, before
/// normalisation: 1 + U(-limit, limit)).
inline SamplingMap grid_distortion_map(std::int64_t h, std::int64_t w, std::int64_t num_steps,
                                       std::vector<double> steps_x, std::vector<double> steps_y, bool normalized = true) {
    FBSEG_CHECK(num_steps >= 1 && num_steps <= std::min(h, w), "grid_distortion: num_steps must be in 1..min(H, W) = ",
                std::min(h, w), " but is ", num_steps);
    FBSEG_CHECK(std::int64_t(steps_x.size()) == num_steps + 1 && std::int64_t(steps_y.size()) == num_steps + 1,
                "grid_distortion: expected ", num_steps + 1, " steps per axis but got ", steps_x.size(), " and ",
                steps_y.size());
    if (normalized) {
        normalize_grid_steps(steps_x, w, num_steps);
        normalize_grid_steps(steps_y, h, num_steps);
    }
    const std::vector<float> xx = grid_axis(steps_x, w, num_steps), yy = grid_axis(steps_y, h, num_steps);
    SamplingMap map = SamplingMap::sized(h, w, "grid_distortion");
    for (std::int64_t r = 0; r < h; ++r)
        for (std::int64_t c = 0; c < w; ++c) {
            map.x[std::size_t(r * w + c)] = xx[std::size_t(c)];
            map.y[std::size_t(r * w + c)] = yy[std::size_t(r)];
        }
    return map;
}

}  // namespace fbseg::data::augment
