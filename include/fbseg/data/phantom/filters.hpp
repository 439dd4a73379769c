// fbseg/data/phantom/filters.hpp - the image operations the phantoms share, on row-major float
// planes [H, W]: a separable Gaussian blur, a block of standard normals, Rician noise and a
// circular shift (for motion ghosts).
//
//   blur        out(r, c) = sum_{i,j} g_i g_j in(r + i, c + j), g_i ~ exp(-i^2 / (2 sigma^2))
//               normalised to sum 1, radius ceil(3 sigma), borders replicated.
//   normals     Box-Muller on Philox words: one counter gives two normals
//               sqrt(-2 ln u1) cos(2 pi u2) and sqrt(-2 ln u1) sin(2 pi u2), so n normals use
//               ceil(n / 2) counters of the sample's generator (deterministic, thread-free).
//   Rician      m = sqrt((s + sigma n1)^2 + (sigma n2)^2): the magnitude of the signal plus complex
//               Gaussian noise, as a magnitude MR image is (Gudbjartsson & Patz 1995).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numbers>
#include <vector>

#include "fbseg/core/error.hpp"
#include "fbseg/data/random.hpp"

namespace fbseg::data::phantom {

/// Gaussian blur of an [H, W] plane with standard deviations (in pixels) along rows (sigma_y) and
/// columns (sigma_x); a sigma <= 0 leaves that axis alone.
inline void gaussian_blur(std::vector<float>& img, std::int64_t height, std::int64_t width, double sigma_y,
                          double sigma_x) {
    FBSEG_CHECK(std::int64_t(img.size()) == height * width, "phantom::gaussian_blur: the plane has ", img.size(),
                " values but H * W = ", height * width);
    auto taps = [](double sigma) {
        const int radius = int(std::ceil(3 * sigma));
        std::vector<float> g(std::size_t(2 * radius + 1));
        double sum = 0;
        for (int i = -radius; i <= radius; ++i) sum += g[std::size_t(i + radius)] = float(std::exp(-0.5 * i * i / (sigma * sigma)));
        for (auto& v : g) v = float(v / sum);
        return g;
    };
    std::vector<float> tmp(img.size());
    if (sigma_x > 0) {
        const auto g = taps(sigma_x);
        const std::int64_t rad = std::int64_t(g.size() / 2);
        for (std::int64_t r = 0; r < height; ++r) {
            const float* in = &img[std::size_t(r * width)];
            float* out = &tmp[std::size_t(r * width)];
            for (std::int64_t c = 0; c < width; ++c) {
                float s = 0;
                for (std::int64_t i = -rad; i <= rad; ++i)
                    s += g[std::size_t(i + rad)] * in[std::clamp<std::int64_t>(c + i, 0, width - 1)];
                out[c] = s;
            }
        }
        img.swap(tmp);
    }
    if (sigma_y > 0) {
        const auto g = taps(sigma_y);
        const std::int64_t rad = std::int64_t(g.size() / 2);
        std::fill(tmp.begin(), tmp.end(), 0.0f);
        for (std::int64_t r = 0; r < height; ++r) {
            float* out = &tmp[std::size_t(r * width)];
            for (std::int64_t i = -rad; i <= rad; ++i) {
                const float* in = &img[std::size_t(std::clamp<std::int64_t>(r + i, 0, height - 1) * width)];
                const float gi = g[std::size_t(i + rad)];
                for (std::int64_t c = 0; c < width; ++c) out[c] += gi * in[c];
            }
        }
        img.swap(tmp);
    }
}

/// n standard normals from the Rng's generator (see the file comment).
inline std::vector<float> normals(Rng& rng, std::size_t n) {
    std::vector<float> out(n);
    Generator& g = rng.generator();
    const std::uint64_t pairs = (n + 1) / 2;
    const std::uint64_t first = g.reserve(pairs);
    for (std::uint64_t k = 0; k < pairs; ++k) {
        const auto w = g.bits(first + k);
        const double u1 = (double(w[0]) + 1.0) / 4294967297.0;  // (0, 1): the log is finite
        const double u2 = double(w[1]) / 4294967296.0;
        const double radius = std::sqrt(-2.0 * std::log(u1));
        const double angle = 2 * std::numbers::pi * u2;
        out[2 * k] = float(radius * std::cos(angle));
        if (2 * k + 1 < n) out[2 * k + 1] = float(radius * std::sin(angle));
    }
    return out;
}

/// Rician noise of level sigma on a magnitude image (see the file comment).
inline void add_rician_noise(std::vector<float>& img, double sigma, Rng& rng) {
    if (sigma <= 0) return;
    const auto n = normals(rng, 2 * img.size());
    for (std::size_t i = 0; i < img.size(); ++i) {
        const double re = double(img[i]) + sigma * n[2 * i], im = sigma * n[2 * i + 1];
        img[i] = float(std::sqrt(re * re + im * im));
    }
}

/// out(r, c) = in((r - dr) mod H, (c - dc) mod W): the image moved by (dr, dc), wrapping around.
inline std::vector<float> circular_shift(const std::vector<float>& img, std::int64_t height, std::int64_t width,
                                         std::int64_t dr, std::int64_t dc) {
    std::vector<float> out(img.size());
    const std::int64_t sr = ((dr % height) + height) % height, sc = ((dc % width) + width) % width;
    for (std::int64_t r = 0; r < height; ++r) {
        const std::int64_t rr = (r - sr + height) % height;
        for (std::int64_t c = 0; c < width; ++c)
            out[std::size_t(r * width + c)] = img[std::size_t(rr * width + (c - sc + width) % width)];
    }
    return out;
}

}  // namespace fbseg::data::phantom
