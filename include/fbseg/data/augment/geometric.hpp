// fbseg/data/augment/geometric.hpp - the deterministic geometric transforms of a Sample: flips,
// 90-degree rotations, affine warps (rotation, scale, translation, shear about the centre), crop
// and pad, resize (stretch) and letterbox (keep the aspect ratio and pad, recording how to map a
// prediction back). Image and label move together: the image bilinear, the label nearest.
//
// Conventions: x is the column, y the row, pixel centres at integers (OpenCV's). The image centre
// is ((W-1)/2, (H-1)/2). A positive angle turns the picture counter-clockwise as displayed (y
// down), as cv2.getRotationMatrix2D.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <numbers>
#include <string_view>

#include "fbseg/core/error.hpp"
#include "fbseg/core/tensor.hpp"
#include "fbseg/data/augment/warp.hpp"
#include "fbseg/data/sample.hpp"

namespace fbseg::data::augment {

/// A 2x3 affine matrix [a b c; d e f]: (x, y) -> (a x + b y + c, d x + e y + f).
using Affine = std::array<double, 6>;

namespace detail {

/// Applies `index(r, c) -> source offset` to every [H', W'] plane of a tensor (image or label).
template <typename T, typename F>
Tensor permute_pixels(const Tensor& t, std::int64_t out_h, std::int64_t out_w, F&& index) {
    const bool is_image = t.dim() == 3;
    const std::int64_t c = is_image ? t.shape()[0] : 1;
    const std::int64_t plane = is_image ? t.shape()[1] * t.shape()[2] : t.shape()[0] * t.shape()[1];
    Tensor out = is_image ? Tensor::empty({c, out_h, out_w}, t.dtype()) : Tensor::empty({out_h, out_w}, t.dtype());
    const T* src = t.data_ptr<T>();
    T* dst = out.data_ptr<T>();
    for (std::int64_t k = 0; k < c; ++k)
        for (std::int64_t r = 0; r < out_h; ++r)
            for (std::int64_t col = 0; col < out_w; ++col) dst[(k * out_h + r) * out_w + col] = src[k * plane + index(r, col)];
    return out;
}

}  // namespace detail

/// Mirrors left-right: out[r, c] = in[r, W-1-c] (cv2.flip(img, 1)).
inline void hflip(Sample& s) {
    check_sample(s, "hflip");
    const std::int64_t h = s.height(), w = s.width();
    auto idx = [&](std::int64_t r, std::int64_t c) { return r * w + (w - 1 - c); };
    s.image = detail::permute_pixels<float>(s.image, h, w, idx);
    if (s.has_label()) s.label = detail::permute_pixels<std::int64_t>(s.label, h, w, idx);
}

/// Mirrors top-bottom: out[r, c] = in[H-1-r, c] (cv2.flip(img, 0)).
inline void vflip(Sample& s) {
    check_sample(s, "vflip");
    const std::int64_t h = s.height(), w = s.width();
    auto idx = [&](std::int64_t r, std::int64_t c) { return (h - 1 - r) * w + c; };
    s.image = detail::permute_pixels<float>(s.image, h, w, idx);
    if (s.has_label()) s.label = detail::permute_pixels<std::int64_t>(s.label, h, w, idx);
}

/// Rotates by k * 90 degrees counter-clockwise as displayed (numpy.rot90(img, k)); H and W swap
/// for odd k. One quarter turn: out[r, c] = in[c, W-1-r], out is W x H.
inline void rot90(Sample& s, int k) {
    check_sample(s, "rot90");
    k = ((k % 4) + 4) % 4;
    const std::int64_t h = s.height(), w = s.width();
    auto apply = [&](auto idx, std::int64_t oh, std::int64_t ow) {
        s.image = detail::permute_pixels<float>(s.image, oh, ow, idx);
        if (s.has_label()) s.label = detail::permute_pixels<std::int64_t>(s.label, oh, ow, idx);
    };
    if (k == 1) apply([&](std::int64_t r, std::int64_t c) { return c * w + (w - 1 - r); }, w, h);
    if (k == 2) apply([&](std::int64_t r, std::int64_t c) { return (h - 1 - r) * w + (w - 1 - c); }, h, w);
    if (k == 3) apply([&](std::int64_t r, std::int64_t c) { return (h - 1 - c) * w + r; }, w, h);
}

/// The parameters of an affine augmentation about a centre.
struct AffineParams {
    double rotate_deg = 0;                  // counter-clockwise as displayed
    double scale = 1;                       // > 1 enlarges
    double translate_x = 0, translate_y = 0;  // pixels, after the rotation
    double shear_x_deg = 0, shear_y_deg = 0;  // x' = x + tan(shear_x) y, y' = y + tan(shear_y) x
};

/// The forward matrix (source -> destination) of `p` about the centre (cx, cy):
///   A = R(theta) * Shear * s,  R = [cos sin; -sin cos],  Shear = [1 tan(sx); tan(sy) 1]
///   dst = A (src - c) + c + t
/// With no shear this is cv2.getRotationMatrix2D((cx, cy), rotate_deg, scale) plus the translation.
inline Affine affine_matrix(const AffineParams& p, double cx, double cy) {
    const double th = p.rotate_deg * std::numbers::pi / 180.0;
    const double cs = std::cos(th), sn = std::sin(th);
    const double kx = std::tan(p.shear_x_deg * std::numbers::pi / 180.0);
    const double ky = std::tan(p.shear_y_deg * std::numbers::pi / 180.0);
    // R * Shear, then times s.
    const double a = p.scale * (cs + sn * ky), b = p.scale * (cs * kx + sn);
    const double d = p.scale * (-sn + cs * ky), e = p.scale * (-sn * kx + cs);
    return {a, b, cx + p.translate_x - (a * cx + b * cy), d, e, cy + p.translate_y - (d * cx + e * cy)};
}

/// The inverse of an affine map; an error (naming `op`) when it is singular or not finite.
inline Affine invert_affine(const Affine& m, std::string_view op = "invert_affine") {
    const double det = m[0] * m[4] - m[1] * m[3];
    FBSEG_CHECK(std::isfinite(det) && std::abs(det) > 1e-12, op, ": the affine matrix [", m[0], " ", m[1], " ", m[2],
                "; ", m[3], " ", m[4], " ", m[5], "] is singular or not finite (determinant ", det, ")");
    const double ia = m[4] / det, ib = -m[1] / det, id = -m[3] / det, ie = m[0] / det;
    return {ia, ib, -(ia * m[2] + ib * m[5]), id, ie, -(id * m[2] + ie * m[5])};
}

/// The sampling map of cv2.warpAffine(src, m, (out_w, out_h)): output (x, y) reads m^-1 (x, y).
inline SamplingMap affine_map(const Affine& m, std::int64_t out_h, std::int64_t out_w, std::string_view op = "affine_map") {
    const Affine inv = invert_affine(m, op);
    SamplingMap map = SamplingMap::sized(out_h, out_w, op);
    for (std::int64_t r = 0; r < out_h; ++r)
        for (std::int64_t c = 0; c < out_w; ++c) {
            const auto i = std::size_t(r * out_w + c);
            map.x[i] = float(inv[0] * double(c) + inv[1] * double(r) + inv[2]);
            map.y[i] = float(inv[3] * double(c) + inv[4] * double(r) + inv[5]);
        }
    return map;
}

/// Warps the sample by the forward matrix `m` (as cv2.warpAffine without WARP_INVERSE_MAP) into an
/// out_h x out_w result (the input size when 0): image INTER_LINEAR, label INTER_NEAREST.
inline void affine_warp(Sample& s, const Affine& m, const BorderOptions& border = {}, std::int64_t out_h = 0,
                        std::int64_t out_w = 0) {
    check_sample(s, "affine_warp");
    if (out_h == 0) out_h = s.height();
    if (out_w == 0) out_w = s.width();
    const Affine inv = invert_affine(m, "affine_warp");
    // The same float(double) source points as affine_map, computed on the fly.
    remap_sample_with(
        s, out_h, out_w,
        [&inv](std::int64_t r, std::int64_t c, float& x, float& y) {
            x = float(inv[0] * double(c) + inv[1] * double(r) + inv[2]);
            y = float(inv[3] * double(c) + inv[4] * double(r) + inv[5]);
        },
        border, "affine_warp");
}

/// Cuts the window [top, top + out_h) x [left, left + out_w) out of the sample; parts of the
/// window outside the sample (negative top/left, or past the end) are padding: the image reads
/// `border` (Constant: image_fill, label_fill), so crop and pad are one operation.
inline void crop_or_pad(Sample& s, std::int64_t top, std::int64_t left, std::int64_t out_h, std::int64_t out_w,
                        const BorderOptions& border = {}) {
    check_sample(s, "crop_or_pad");
    FBSEG_CHECK(out_h > 0 && out_w > 0 && out_h <= (1 << 20) && out_w <= (1 << 20),
                "crop_or_pad: the output size must be in 1..2^20 but is ", out_h, " x ", out_w);
    constexpr std::int64_t kFar = std::int64_t(1) << 40;  // keeps r + top far from overflow
    FBSEG_CHECK(top > -kFar && top < kFar && left > -kFar && left < kFar,
                "crop_or_pad: the window's corner (top ", top, ", left ", left, ") must lie within +-2^40");
    const std::int64_t h = s.height(), w = s.width(), c = s.channels();
    Tensor img = Tensor::empty({c, out_h, out_w}, DType::Float32);
    const float* src = s.image.data_ptr<float>();
    float* dst = img.data_ptr<float>();
    for (std::int64_t k = 0; k < c; ++k)
        for (std::int64_t r = 0; r < out_h; ++r) {
            const std::int64_t sr = border_index(r + top, h, border.border);
            for (std::int64_t col = 0; col < out_w; ++col) {
                const std::int64_t sc = border_index(col + left, w, border.border);
                dst[(k * out_h + r) * out_w + col] = (sr < 0 || sc < 0) ? border.image_fill : src[(k * h + sr) * w + sc];
            }
        }
    if (s.has_label()) {
        Tensor lab = Tensor::empty({out_h, out_w}, DType::Int64);
        const std::int64_t* ls = s.label.data_ptr<std::int64_t>();
        std::int64_t* ld = lab.data_ptr<std::int64_t>();
        for (std::int64_t r = 0; r < out_h; ++r) {
            const std::int64_t sr = border_index(r + top, h, border.border);
            for (std::int64_t col = 0; col < out_w; ++col) {
                const std::int64_t sc = border_index(col + left, w, border.border);
                ld[r * out_w + col] = (sr < 0 || sc < 0) ? border.label_fill : ls[sr * w + sc];
            }
        }
        s.label = lab;
    }
    s.image = img;
}

/// The sampling map of cv2.resize(src, (out_w, out_h)) with INTER_LINEAR (half-pixel centres):
///   x_src = (x_dst + 0.5) * (W_in / W_out) - 0.5, clamped to the edge (OpenCV clamps the taps,
///   which is the Replicate border).
inline SamplingMap resize_map(std::int64_t in_h, std::int64_t in_w, std::int64_t out_h, std::int64_t out_w) {
    SamplingMap map = SamplingMap::sized(out_h, out_w, "resize");
    const double sx = double(in_w) / double(out_w), sy = double(in_h) / double(out_h);
    for (std::int64_t r = 0; r < out_h; ++r) {
        const float y = float((double(r) + 0.5) * sy - 0.5);
        for (std::int64_t c = 0; c < out_w; ++c) {
            const auto i = std::size_t(r * out_w + c);
            map.x[i] = float((double(c) + 0.5) * sx - 0.5);
            map.y[i] = y;
        }
    }
    return map;
}

/// Resizes a label map by nearest neighbour with half-pixel centres, in exact integer arithmetic:
/// source row floor((r + 0.5) * H_in / H_out) = ((2r + 1) H_in) div (2 H_out), likewise columns
/// (cv2.INTER_NEAREST_EXACT; through the float map of resize_map, ties such as 22.5 * 32/45 = 16
/// could round the other way).
inline Tensor resize_label(const Tensor& label, std::int64_t out_h, std::int64_t out_w) {
    FBSEG_CHECK(label.defined() && label.dim() == 2, "resize_label: expected an int64 [H, W] label map");
    detail::check_label(label, label.shape()[0], label.shape()[1], "resize_label");
    FBSEG_CHECK(out_h > 0 && out_w > 0 && out_h <= (1 << 20) && out_w <= (1 << 20),
                "resize_label: the target size must be in 1..2^20 but is ", out_h, " x ", out_w);
    const std::int64_t in_h = label.shape()[0], in_w = label.shape()[1];
    FBSEG_CHECK(in_h <= (1 << 20) && in_w <= (1 << 20), "resize_label: the label map ", shape_str(label.shape()),
                " is larger than 2^20 per side");
    return detail::permute_pixels<std::int64_t>(label, out_h, out_w, [&](std::int64_t r, std::int64_t c) {
        return ((2 * r + 1) * in_h / (2 * out_h)) * in_w + (2 * c + 1) * in_w / (2 * out_w);
    });
}

/// Resizes (stretches) the sample to out_h x out_w: image cv2.INTER_LINEAR, label
/// cv2.INTER_NEAREST_EXACT. No antialiasing: for strong downscaling blur first.
inline void resize(Sample& s, std::int64_t out_h, std::int64_t out_w) {
    check_sample(s, "resize");
    FBSEG_CHECK(out_h > 0 && out_w > 0 && out_h <= (1 << 20) && out_w <= (1 << 20),
                "resize: the target size must be in 1..2^20 but is ", out_h, " x ", out_w);
    const std::int64_t in_h = s.height(), in_w = s.width();
    s.image = remap_image(s.image, resize_map(in_h, in_w, out_h, out_w), {Border::Replicate, 0.0f, 0}, "resize");
    if (s.has_label()) s.label = resize_label(s.label, out_h, out_w);
}

/// What a letterbox did, to map a prediction back: the input (orig_h x orig_w) was resized to
/// scaled_h x scaled_w and placed at (pad_top, pad_left) in an out_h x out_w frame.
struct Letterbox {
    std::int64_t orig_h = 0, orig_w = 0;
    std::int64_t scaled_h = 0, scaled_w = 0;
    std::int64_t pad_top = 0, pad_left = 0;
    std::int64_t out_h = 0, out_w = 0;
    double scale = 1;  // scaled / orig
};

/// The letterbox of an h x w image into out_h x out_w: scale = min(out_h / h, out_w / w),
/// scaled size = round(h * scale) x round(w * scale) (at least 1, at most the frame), centred:
/// pad_top = (out_h - scaled_h) / 2 (integer division), likewise pad_left.
inline Letterbox letterbox_geometry(std::int64_t h, std::int64_t w, std::int64_t out_h, std::int64_t out_w) {
    FBSEG_CHECK(h > 0 && w > 0 && out_h > 0 && out_w > 0 && out_h <= (1 << 20) && out_w <= (1 << 20),
                "letterbox: sizes must be positive (frame at most 2^20) but the image is ", h, " x ", w,
                " and the frame ", out_h, " x ", out_w);
    Letterbox lb;
    lb.orig_h = h;
    lb.orig_w = w;
    lb.out_h = out_h;
    lb.out_w = out_w;
    lb.scale = std::min(double(out_h) / double(h), double(out_w) / double(w));
    lb.scaled_h = std::clamp<std::int64_t>(std::llround(double(h) * lb.scale), 1, out_h);
    lb.scaled_w = std::clamp<std::int64_t>(std::llround(double(w) * lb.scale), 1, out_w);
    lb.pad_top = (out_h - lb.scaled_h) / 2;
    lb.pad_left = (out_w - lb.scaled_w) / 2;
    return lb;
}

/// Resizes keeping the aspect ratio and pads to out_h x out_w (image `fill`, label 0); returns the
/// record that undo_letterbox_* use to map a prediction back to the input size.
inline Letterbox letterbox(Sample& s, std::int64_t out_h, std::int64_t out_w, float fill = 0.0f) {
    check_sample(s, "letterbox");
    const Letterbox lb = letterbox_geometry(s.height(), s.width(), out_h, out_w);
    resize(s, lb.scaled_h, lb.scaled_w);
    crop_or_pad(s, -lb.pad_top, -lb.pad_left, out_h, out_w, {Border::Constant, fill, 0});
    return lb;
}

/// Maps a label map predicted on the letterboxed frame [out_h, out_w] back to [orig_h, orig_w]:
/// the padding is cut off, then the rest is resized by nearest neighbour.
inline Tensor undo_letterbox_label(const Tensor& label, const Letterbox& lb) {
    FBSEG_CHECK(label.defined() && label.dim() == 2 && label.shape()[0] == lb.out_h && label.shape()[1] == lb.out_w,
                "undo_letterbox_label: expected an int64 [", lb.out_h, ", ", lb.out_w, "] label map but got ",
                label.defined() ? shape_str(label.shape()) : std::string("an undefined tensor"));
    Sample s;
    s.image = make_image(1, lb.out_h, lb.out_w);
    s.label = label;
    crop_or_pad(s, lb.pad_top, lb.pad_left, lb.scaled_h, lb.scaled_w);
    return resize_label(s.label, lb.orig_h, lb.orig_w);
}

/// Maps an image-like prediction [C, out_h, out_w] (probabilities, logits) back to [C, orig_h,
/// orig_w]: crop the padding, resize bilinear.
inline Tensor undo_letterbox_image(const Tensor& image, const Letterbox& lb) {
    detail::check_image(image, "undo_letterbox_image");
    FBSEG_CHECK(image.shape()[1] == lb.out_h && image.shape()[2] == lb.out_w, "undo_letterbox_image: expected [C, ",
                lb.out_h, ", ", lb.out_w, "] but got ", shape_str(image.shape()));
    Sample s;
    s.image = image;
    crop_or_pad(s, lb.pad_top, lb.pad_left, lb.scaled_h, lb.scaled_w);
    return remap_image(s.image, resize_map(lb.scaled_h, lb.scaled_w, lb.orig_h, lb.orig_w), {Border::Replicate, 0.0f, 0},
                       "undo_letterbox_image");
}

}  // namespace fbseg::data::augment
