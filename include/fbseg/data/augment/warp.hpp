// fbseg/data/augment/warp.hpp - the sampling core every geometric augmentation goes through: a
// sampling map (for each output pixel, the source position to read) applied to the image by
// bilinear interpolation and to the label by nearest neighbour, with a border rule.
//
// Coordinates follow OpenCV's remap/warpAffine: pixel (row r, column c) has its centre at
// (x, y) = (c, r); a map gives, for output pixel (r, c), the source point (x, y) to read.
//
//   image (bilinear):  x0 = floor(x), y0 = floor(y), fx = x - x0, fy = y - y0
//                      out = (1-fy) ((1-fx) I[y0,x0] + fx I[y0,x0+1]) + fy ((1-fx) I[y0+1,x0] + fx I[y0+1,x0+1])
//                      each tap that falls outside the image reads the border rule.
//   label (nearest):   out = L[floor(y + 0.5), floor(x + 0.5)]  (round half up, as warpAffine's
//                      INTER_NEAREST), so a warped label only holds values of the input (or the
//                      label fill, 0). Class indices are never interpolated.
//
// Border rules (OpenCV's names): Constant (BORDER_CONSTANT: the image reads `image_fill`, the label
// reads `label_fill`, 0 = background), Reflect101 (BORDER_REFLECT_101: ... 2 1 | 0 1 2 ... n-1 |
// n-2 ..., the edge pixel is not repeated) and Replicate (BORDER_REPLICATE: the edge pixel repeats).
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fbseg/core/error.hpp"
#include "fbseg/core/shape.hpp"
#include "fbseg/core/tensor.hpp"
#include "fbseg/data/sample.hpp"

namespace fbseg::data::augment {

enum class Border { Constant, Reflect101, Replicate };

inline const char* border_name(Border b) {
    switch (b) {
        case Border::Constant: return "constant";
        case Border::Reflect101: return "reflect101";
        case Border::Replicate: return "replicate";
    }
    return "?";
}

/// "constant", "reflect101" (also "reflect"), "replicate"; anything else is an error naming `op`.
inline Border parse_border(std::string_view name, std::string_view op) {
    if (name == "constant") return Border::Constant;
    if (name == "reflect101" || name == "reflect") return Border::Reflect101;
    if (name == "replicate") return Border::Replicate;
    FBSEG_FAIL(op, ": unknown border \"", name, "\" (expected \"constant\", \"reflect101\" or \"replicate\")");
}

struct BorderOptions {
    Border border = Border::Constant;
    float image_fill = 0.0f;      // Constant: what the image reads outside
    std::int64_t label_fill = 0;  // Constant: what the label reads outside (background)
};

/// The index that position i (any integer) reads in an axis of n pixels, or -1 for "outside"
/// (Constant only). Reflect101 is periodic with period 2n - 2, so any distance reflects correctly.
inline std::int64_t border_index(std::int64_t i, std::int64_t n, Border b) {
    if (i >= 0 && i < n) return i;
    switch (b) {
        case Border::Constant: return -1;
        case Border::Replicate: return i < 0 ? 0 : n - 1;
        case Border::Reflect101: {
            if (n == 1) return 0;
            const std::int64_t period = 2 * n - 2;
            std::int64_t m = i % period;
            if (m < 0) m += period;
            return m < n ? m : period - m;
        }
    }
    return -1;
}

/// For each output pixel (row-major, out_h x out_w) the source point (x = column, y = row).
struct SamplingMap {
    std::int64_t out_h = 0, out_w = 0;
    std::vector<float> x = {}, y = {};

    static SamplingMap sized(std::int64_t h, std::int64_t w, std::string_view op) {
        FBSEG_CHECK(h > 0 && w > 0, op, ": the output size must be positive but is ", h, " x ", w);
        SamplingMap m;
        m.out_h = h;
        m.out_w = w;
        const auto n = std::size_t(checked_mul(h, w, op));
        m.x.resize(n);
        m.y.resize(n);
        return m;
    }
};

namespace detail {

/// A source coordinate made safe to floor into an int64: non-finite -> a point far outside, huge
/// values clamped (they read the border either way).
inline double safe_coord(float v) {
    if (!std::isfinite(v)) return -1e9;
    const double d = double(v);
    return d < -1e9 ? -1e9 : (d > 1e9 ? 1e9 : d);
}

inline void check_image(const Tensor& image, std::string_view op) {
    FBSEG_CHECK(image.defined(), op, ": the sample's image is an undefined tensor");
    FBSEG_CHECK(image.dtype() == DType::Float32 && image.dim() == 3 && !image.is_cuda() && image.is_contiguous(), op,
                ": the image must be a contiguous float32 [C, H, W] CPU tensor but is ", dtype_name(image.dtype()), " ",
                shape_str(image.shape()));
    FBSEG_CHECK(image.numel() > 0, op, ": the image is empty (", shape_str(image.shape()), ")");
}

inline void check_label(const Tensor& label, std::int64_t h, std::int64_t w, std::string_view op) {
    FBSEG_CHECK(label.dtype() == DType::Int64 && label.dim() == 2 && !label.is_cuda() && label.is_contiguous(), op,
                ": the label must be a contiguous int64 [H, W] CPU tensor but is ", dtype_name(label.dtype()), " ",
                shape_str(label.shape()));
    FBSEG_CHECK(label.shape()[0] == h && label.shape()[1] == w, op, ": the label's shape ", shape_str(label.shape()),
                " does not match the image's height and width ", h, " x ", w);
}

}  // namespace detail

/// Checks a sample's image (contiguous float32 [C, H, W]) and label (undefined, or contiguous
/// int64 [H, W] of the same size).
inline void check_sample(const Sample& s, std::string_view op) {
    detail::check_image(s.image, op);
    if (s.has_label()) detail::check_label(s.label, s.image.shape()[1], s.image.shape()[2], op);
}

/// The image [C, H, W] read through `map` by bilinear interpolation: [C, map.out_h, map.out_w].
inline Tensor remap_image(const Tensor& image, const SamplingMap& map, const BorderOptions& opt,
                          std::string_view op = "remap_image") {
    detail::check_image(image, op);
    const std::int64_t c = image.shape()[0], h = image.shape()[1], w = image.shape()[2];
    const std::int64_t n = map.out_h * map.out_w;
    FBSEG_CHECK(std::int64_t(map.x.size()) == n && std::int64_t(map.y.size()) == n, op,
                ": the sampling map holds ", map.x.size(), " x and ", map.y.size(), " y positions for ", map.out_h,
                " x ", map.out_w, " output pixels");
    Tensor out = Tensor::empty({c, map.out_h, map.out_w}, DType::Float32);
    const float* src = image.data_ptr<float>();
    float* dst = out.data_ptr<float>();
    const std::int64_t plane = h * w;
    for (std::int64_t p = 0; p < n; ++p) {
        const double x = detail::safe_coord(map.x[std::size_t(p)]), y = detail::safe_coord(map.y[std::size_t(p)]);
        const double xf = std::floor(x), yf = std::floor(y);
        const auto x0 = std::int64_t(xf), y0 = std::int64_t(yf);
        const float fx = float(x - xf), fy = float(y - yf);
        const float w00 = (1 - fx) * (1 - fy), w01 = fx * (1 - fy), w10 = (1 - fx) * fy, w11 = fx * fy;
        if (x0 >= 0 && y0 >= 0 && x0 + 1 < w && y0 + 1 < h) {  // all four taps inside: the hot path
            const std::int64_t o = y0 * w + x0;
            for (std::int64_t k = 0; k < c; ++k) {
                const float* s = src + k * plane + o;
                dst[k * n + p] = w00 * s[0] + w01 * s[1] + w10 * s[w] + w11 * s[w + 1];
            }
            continue;
        }
        const std::int64_t xa = border_index(x0, w, opt.border), xb = border_index(x0 + 1, w, opt.border);
        const std::int64_t ya = border_index(y0, h, opt.border), yb = border_index(y0 + 1, h, opt.border);
        for (std::int64_t k = 0; k < c; ++k) {
            const float* s = src + k * plane;
            auto at = [&](std::int64_t yy, std::int64_t xx) { return (yy < 0 || xx < 0) ? opt.image_fill : s[yy * w + xx]; };
            dst[k * n + p] = w00 * at(ya, xa) + w01 * at(ya, xb) + w10 * at(yb, xa) + w11 * at(yb, xb);
        }
    }
    return out;
}

/// The label [H, W] read through `map` by nearest neighbour (round half up): [map.out_h, map.out_w].
inline Tensor remap_label(const Tensor& label, const SamplingMap& map, const BorderOptions& opt,
                          std::string_view op = "remap_label") {
    FBSEG_CHECK(label.defined() && label.dim() == 2, op, ": the label must be an int64 [H, W] tensor");
    detail::check_label(label, label.shape()[0], label.shape()[1], op);
    const std::int64_t h = label.shape()[0], w = label.shape()[1];
    const std::int64_t n = map.out_h * map.out_w;
    FBSEG_CHECK(std::int64_t(map.x.size()) == n && std::int64_t(map.y.size()) == n, op,
                ": the sampling map holds ", map.x.size(), " positions for ", n, " output pixels");
    Tensor out = Tensor::empty({map.out_h, map.out_w}, DType::Int64);
    const std::int64_t* src = label.data_ptr<std::int64_t>();
    std::int64_t* dst = out.data_ptr<std::int64_t>();
    for (std::int64_t p = 0; p < n; ++p) {
        const auto xi = std::int64_t(std::floor(detail::safe_coord(map.x[std::size_t(p)]) + 0.5));
        const auto yi = std::int64_t(std::floor(detail::safe_coord(map.y[std::size_t(p)]) + 0.5));
        const std::int64_t xx = border_index(xi, w, opt.border), yy = border_index(yi, h, opt.border);
        dst[p] = (xx < 0 || yy < 0) ? opt.label_fill : src[yy * w + xx];
    }
    return out;
}

/// Warps a sample's image (bilinear) and label (nearest, when it has one) through the same map.
inline void remap_sample(Sample& s, const SamplingMap& map, const BorderOptions& opt, std::string_view op) {
    check_sample(s, op);
    s.image = remap_image(s.image, map, opt, op);
    if (s.has_label()) s.label = remap_label(s.label, map, opt, op);
}

}  // namespace fbseg::data::augment
