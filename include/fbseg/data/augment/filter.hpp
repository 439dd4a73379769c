// fbseg/data/augment/filter.hpp - OpenCV's Gaussian kernel and a separable Gaussian blur of float
// planes, shared by the Gaussian blur augmentation and the elastic deformation's smoothing.
//
// Kernel (cv::getGaussianKernel with sigma > 0, cv::GaussianBlur with ksize = (0, 0)):
//   size n = cvRound(sigma * 4 * 2 + 1) | 1  for float images (OpenCV uses 3 instead of 4 for 8-bit),
//   k[i] = exp(-(i - (n-1)/2)^2 / (2 sigma^2)) / sum_j exp(-(j - (n-1)/2)^2 / (2 sigma^2)),
//   computed in double and rounded to float, as OpenCV does for a CV_32F kernel.
// Blur: rows first, then columns (separable), each tap outside the plane read through the border
// rule (cv::GaussianBlur's default is BORDER_REFLECT_101).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string_view>
#include <vector>

#include "fbseg/core/error.hpp"
#include "fbseg/data/augment/warp.hpp"

namespace fbseg::data::augment {

/// OpenCV's kernel size for a sigma when ksize = 0 (float images): cvRound(8 sigma + 1) | 1.
inline std::int64_t gaussian_kernel_size(double sigma, std::string_view op = "gaussian_kernel_size") {
    FBSEG_CHECK(std::isfinite(sigma) && sigma > 0 && sigma <= 1000, op, ": sigma must be in (0, 1000] but is ", sigma);
    return std::int64_t(std::lrint(sigma * 8.0 + 1.0)) | 1;
}

/// The normalised 1D Gaussian kernel of `sigma`, OpenCV's size and values.
inline std::vector<float> gaussian_kernel(double sigma, std::string_view op = "gaussian_kernel") {
    const std::int64_t n = gaussian_kernel_size(sigma, op);
    std::vector<double> k(static_cast<std::size_t>(n));
    const double scale = -0.5 / (sigma * sigma), mid = double(n - 1) * 0.5;
    double sum = 0;
    for (std::int64_t i = 0; i < n; ++i) {
        const double x = double(i) - mid;
        k[std::size_t(i)] = std::exp(scale * x * x);
        sum += k[std::size_t(i)];
    }
    std::vector<float> out(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i) out[std::size_t(i)] = float(k[std::size_t(i)] / sum);
    return out;
}

/// Blurs one h x w float plane in place with the separable kernel `k` (odd size) and a border
/// rule (Constant reads 0). `tmp` is scratch space (resized as needed).
inline void blur_plane(float* plane, std::int64_t h, std::int64_t w, const std::vector<float>& k, Border border,
                       std::vector<float>& tmp) {
    const auto n = std::int64_t(k.size()), r = n / 2;
    tmp.assign(std::size_t(h * w), 0.0f);
    std::vector<float> line(std::size_t(std::max(h, w) + 2 * r));
    // Rows: pad each row into `line` through the border rule, then convolve.
    for (std::int64_t y = 0; y < h; ++y) {
        const float* row = plane + y * w;
        for (std::int64_t i = -r; i < w + r; ++i) {
            const std::int64_t j = border_index(i, w, border);
            line[std::size_t(i + r)] = j < 0 ? 0.0f : row[j];
        }
        float* out = tmp.data() + y * w;  // tap by tap over the whole row (vectorises)
        for (std::int64_t t = 0; t < n; ++t) {
            const float kt = k[std::size_t(t)];
            const float* l = line.data() + t;
            for (std::int64_t x = 0; x < w; ++x) out[x] += kt * l[x];
        }
    }
    // Columns: accumulate whole rows (a row-wise axpy keeps memory access contiguous).
    std::vector<std::int64_t> src_row(std::size_t(h + 2 * r));
    for (std::int64_t i = -r; i < h + r; ++i) src_row[std::size_t(i + r)] = border_index(i, h, border);
    for (std::int64_t y = 0; y < h; ++y) {
        float* out = plane + y * w;
        for (std::int64_t x = 0; x < w; ++x) out[x] = 0.0f;
        for (std::int64_t t = 0; t < n; ++t) {
            const std::int64_t sy = src_row[std::size_t(y + t)];
            if (sy < 0) continue;
            const float kt = k[std::size_t(t)];
            const float* in = tmp.data() + sy * w;
            for (std::int64_t x = 0; x < w; ++x) out[x] += kt * in[x];
        }
    }
}

}  // namespace fbseg::data::augment
