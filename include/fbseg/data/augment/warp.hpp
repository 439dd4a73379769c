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

/// floor() of a float known to lie within +-2^24, as an int64 (std::floor on float is a libm call
/// on baseline x86-64; this is two instructions).
inline std::int64_t floor_index(float v) {
    const auto i = std::int64_t(v);
    return i - std::int64_t(float(i) > v);
}

/// A source coordinate made safe to floor: NaN and values beyond +-2^22 become -2^22 or 2^22
/// (far outside every image this library allows; they read the border either way).
inline float safe_coord(float v) {
    constexpr float kFar = 4194304.0f;  // 2^22
    if (v > -kFar && v < kFar) return v;
    return v >= kFar ? kFar : -kFar;  // NaN compares false: -kFar
}

inline void check_image(const Tensor& image, std::string_view op) {
    FBSEG_CHECK(image.defined(), op, ": the sample's image is an undefined tensor");
    FBSEG_CHECK(image.dtype() == DType::Float32 && image.dim() == 3 && !image.is_cuda() && image.is_contiguous(), op,
                ": the image must be a contiguous float32 [C, H, W] CPU tensor but is ", dtype_name(image.dtype()), " ",
                shape_str(image.shape()));
    FBSEG_CHECK(image.numel() > 0, op, ": the image is empty (", shape_str(image.shape()), ")");
    FBSEG_CHECK(image.shape()[1] <= (1 << 20) && image.shape()[2] <= (1 << 20), op, ": the image ",
                shape_str(image.shape()), " is larger than 2^20 pixels per side");
}

inline void check_label(const Tensor& label, std::int64_t h, std::int64_t w, std::string_view op) {
    FBSEG_CHECK(label.dtype() == DType::Int64 && label.dim() == 2 && !label.is_cuda() && label.is_contiguous(), op,
                ": the label must be a contiguous int64 [H, W] CPU tensor but is ", dtype_name(label.dtype()), " ",
                shape_str(label.shape()));
    FBSEG_CHECK(label.shape()[0] == h && label.shape()[1] == w, op, ": the label's shape ", shape_str(label.shape()),
                " does not match the image's height and width ", h, " x ", w);
}

inline void check_map(const SamplingMap& map, std::string_view op) {
    const std::int64_t n = map.out_h * map.out_w;
    FBSEG_CHECK(map.out_h > 0 && map.out_w > 0 && std::int64_t(map.x.size()) == n && std::int64_t(map.y.size()) == n,
                op, ": the sampling map holds ", map.x.size(), " x and ", map.y.size(), " y positions for ", map.out_h,
                " x ", map.out_w, " output pixels");
}

/// Reads source points from a SamplingMap.
struct MapCoord {
    const SamplingMap& map;
    void operator()(std::int64_t r, std::int64_t c, float& x, float& y) const {
        const auto i = std::size_t(r * map.out_w + c);
        x = map.x[i];
        y = map.y[i];
    }
};

/// The one sampling loop: for each output pixel, the four bilinear taps of the image (when `src`)
/// and the nearest of them for the label (when `lsrc`: floor(x + 0.5) = x0 + (fx >= 0.5)).
/// Channels of the image are planes of h * w floats; the output planes hold n = out_h * out_w.
/// `coord(r, c, x, y)` gives the source point of output pixel (r, c): read from a SamplingMap, or
/// computed on the fly (affine_warp), which saves writing and reading the map.
template <typename Coord>
void remap_core(const float* src, float* dst, std::int64_t channels, const std::int64_t* lsrc, std::int64_t* ldst,
                std::int64_t h, std::int64_t w, std::int64_t out_h, std::int64_t out_w, Coord&& coord,
                const BorderOptions& opt) {
    const std::int64_t n = out_h * out_w, plane = h * w;
    for (std::int64_t r = 0, p = 0; r < out_h; ++r)
    for (std::int64_t c = 0; c < out_w; ++c, ++p) {
        float x_raw = 0, y_raw = 0;
        coord(r, c, x_raw, y_raw);
        const float x = safe_coord(x_raw), y = safe_coord(y_raw);
        const std::int64_t x0 = floor_index(x), y0 = floor_index(y);
        const float fx = x - float(x0), fy = y - float(y0);
        const std::int64_t lx = x0 + std::int64_t(fx >= 0.5f), ly = y0 + std::int64_t(fy >= 0.5f);
        if (x0 >= 0 && y0 >= 0 && x0 + 1 < w && y0 + 1 < h) {  // all four taps inside: the hot path
            const std::int64_t o = y0 * w + x0;
            if (src) {
                const float w00 = (1 - fx) * (1 - fy), w01 = fx * (1 - fy), w10 = (1 - fx) * fy, w11 = fx * fy;
                for (std::int64_t k = 0; k < channels; ++k) {
                    const float* s = src + k * plane + o;
                    dst[k * n + p] = w00 * s[0] + w01 * s[1] + w10 * s[w] + w11 * s[w + 1];
                }
            }
            if (lsrc) ldst[p] = lsrc[ly * w + lx];
            continue;
        }
        if (src) {
            const float w00 = (1 - fx) * (1 - fy), w01 = fx * (1 - fy), w10 = (1 - fx) * fy, w11 = fx * fy;
            const std::int64_t xa = border_index(x0, w, opt.border), xb = border_index(x0 + 1, w, opt.border);
            const std::int64_t ya = border_index(y0, h, opt.border), yb = border_index(y0 + 1, h, opt.border);
            for (std::int64_t k = 0; k < channels; ++k) {
                const float* s = src + k * plane;
                auto at = [&](std::int64_t yy, std::int64_t xx) { return (yy < 0 || xx < 0) ? opt.image_fill : s[yy * w + xx]; };
                dst[k * n + p] = w00 * at(ya, xa) + w01 * at(ya, xb) + w10 * at(yb, xa) + w11 * at(yb, xb);
            }
        }
        if (lsrc) {
            const std::int64_t xx = border_index(lx, w, opt.border), yy = border_index(ly, h, opt.border);
            ldst[p] = (xx < 0 || yy < 0) ? opt.label_fill : lsrc[yy * w + xx];
        }
    }
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
    detail::check_map(map, op);
    const std::int64_t c = image.shape()[0];
    Tensor out = Tensor::empty({c, map.out_h, map.out_w}, DType::Float32);
    detail::remap_core(image.data_ptr<float>(), out.data_ptr<float>(), c, nullptr, nullptr, image.shape()[1],
                       image.shape()[2], map.out_h, map.out_w, detail::MapCoord{map}, opt);
    return out;
}

/// The label [H, W] read through `map` by nearest neighbour (round half up): [map.out_h, map.out_w].
inline Tensor remap_label(const Tensor& label, const SamplingMap& map, const BorderOptions& opt,
                          std::string_view op = "remap_label") {
    FBSEG_CHECK(label.defined() && label.dim() == 2, op, ": the label must be an int64 [H, W] tensor");
    detail::check_label(label, label.shape()[0], label.shape()[1], op);
    FBSEG_CHECK(label.shape()[0] <= (1 << 20) && label.shape()[1] <= (1 << 20), op, ": the label ",
                shape_str(label.shape()), " is larger than 2^20 pixels per side");
    detail::check_map(map, op);
    Tensor out = Tensor::empty({map.out_h, map.out_w}, DType::Int64);
    detail::remap_core(nullptr, nullptr, 0, label.data_ptr<std::int64_t>(), out.data_ptr<std::int64_t>(),
                       label.shape()[0], label.shape()[1], map.out_h, map.out_w, detail::MapCoord{map}, opt);
    return out;
}

/// Warps a sample's image (bilinear) and label (nearest, when it has one) into out_h x out_w, the
/// source point of output pixel (r, c) given by coord(r, c, x, y), in one pass.
template <typename Coord>
void remap_sample_with(Sample& s, std::int64_t out_h, std::int64_t out_w, Coord&& coord, const BorderOptions& opt,
                       std::string_view op) {
    check_sample(s, op);
    FBSEG_CHECK(out_h > 0 && out_w > 0 && out_h <= (1 << 20) && out_w <= (1 << 20), op,
                ": the output size must be in 1..2^20 but is ", out_h, " x ", out_w);
    const std::int64_t c = s.channels(), h = s.height(), w = s.width();
    Tensor img = Tensor::empty({c, out_h, out_w}, DType::Float32);
    Tensor lab;
    if (s.has_label()) lab = Tensor::empty({out_h, out_w}, DType::Int64);
    detail::remap_core(s.image.data_ptr<float>(), img.data_ptr<float>(), c,
                       s.has_label() ? s.label.data_ptr<std::int64_t>() : nullptr,
                       s.has_label() ? lab.data_ptr<std::int64_t>() : nullptr, h, w, out_h, out_w, coord, opt);
    s.image = img;
    if (s.has_label()) s.label = lab;
}

/// Warps a sample's image (bilinear) and label (nearest, when it has one) through the same map, in
/// one pass.
inline void remap_sample(Sample& s, const SamplingMap& map, const BorderOptions& opt, std::string_view op) {
    detail::check_map(map, op);
    remap_sample_with(s, map.out_h, map.out_w, detail::MapCoord{map}, opt, op);
}

}  // namespace fbseg::data::augment
