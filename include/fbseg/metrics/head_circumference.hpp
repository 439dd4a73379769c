// fbseg/metrics/head_circumference.hpp - fetal head circumference (HC) from a 2D ultrasound head
// mask, as the HC18 challenge measures it: the largest connected component's outer contour, a
// direct least-squares ellipse fit (ellipse.hpp), and Ramanujan's perimeter of that ellipse, in mm.
//
// Fit at the original image size. The ellipse is fitted to pixel positions and scaled by the pixel
// size, so the mask must be at the resolution whose pixel size you pass (HC18's 800 x 540 images
// and their `pixel size(mm)` column). A mask predicted at a resized resolution must be resized back
// (nearest neighbour) to the original size before calling this, not fitted small and scaled: the
// pixel grid's quantisation of the contour is then the original one, which HC18's reference used.
//
// The contour: the largest 8-connected component of the nonzero pixels, its holes filled (the
// background pixels not 4-connected to the image border), then every pixel of it with a
// 4-neighbour outside it (or on the image border): the pixels OpenCV's
// findContours(RETR_EXTERNAL, CHAIN_APPROX_NONE) traces, each once, in raster order.
#pragma once

#include <cstdint>
#include <numbers>
#include <string>
#include <vector>

#include "fbseg/metrics/common.hpp"
#include "fbseg/metrics/components.hpp"
#include "fbseg/metrics/ellipse.hpp"

namespace fbseg::metrics {

/// HC18's submission columns (filename aside) and the head circumference, in mm, with the fit in
/// pixels. When no ellipse can be fitted (empty mask, fewer than 5 contour pixels, a line), the
/// mm values are NaN and `reason` says why.
struct HeadCircumference {
    double center_x_mm = kNaN;     // HC18 column center_x_mm (x = column direction)
    double center_y_mm = kNaN;     // center_y_mm (y = row direction, downwards)
    double semi_axes_a_mm = kNaN;  // semi_axes_a_mm (the major semi-axis: a >= b)
    double semi_axes_b_mm = kNaN;  // semi_axes_b_mm
    double angle_rad = kNaN;       // angle_rad: the a-axis from +x towards +y, in [0, pi)
    double angle_deg = kNaN;       // the same in degrees, [0, 180)
    double hc_mm = kNaN;           // Ramanujan's perimeter of the ellipse in mm
    Ellipse ellipse;               // the fit in pixels
    std::int64_t contour_points = 0;
    std::string reason;  // "" when defined
    bool defined() const { return reason.empty(); }
};

namespace detail {

/// The pixels of the largest component (8-connected), holes filled, that have a 4-neighbour
/// outside it or lie on the image border.
inline std::vector<Point2> outer_contour(const Mask& mask) {
    const Mask blob = largest_of(mask, 8, "outer_contour");
    const std::int64_t h = mask.shape[0], w = mask.shape[1];
    // outside = background 4-connected to the border (flood fill from every border background pixel)
    std::vector<std::uint8_t> outside(blob.on.size(), 0);
    std::vector<std::int64_t> queue;
    auto push = [&](std::int64_t r, std::int64_t c) {
        const std::int64_t i = r * w + c;
        if (blob.on[std::size_t(i)] || outside[std::size_t(i)]) return;
        outside[std::size_t(i)] = 1;
        queue.push_back(i);
    };
    for (std::int64_t c = 0; c < w; ++c) {
        push(0, c);
        push(h - 1, c);
    }
    for (std::int64_t r = 0; r < h; ++r) {
        push(r, 0);
        push(r, w - 1);
    }
    for (std::size_t head = 0; head < queue.size(); ++head) {
        const std::int64_t r = queue[head] / w, c = queue[head] % w;
        if (r > 0) push(r - 1, c);
        if (r + 1 < h) push(r + 1, c);
        if (c > 0) push(r, c - 1);
        if (c + 1 < w) push(r, c + 1);
    }
    std::vector<Point2> points;
    for (std::int64_t r = 0; r < h; ++r)
        for (std::int64_t c = 0; c < w; ++c) {
            const std::int64_t i = r * w + c;
            if (outside[std::size_t(i)]) continue;  // not in the filled blob
            const bool edge = r == 0 || c == 0 || r == h - 1 || c == w - 1 || outside[std::size_t(i - w)] ||
                              outside[std::size_t(i + w)] || outside[std::size_t(i - 1)] || outside[std::size_t(i + 1)];
            if (edge) points.push_back({double(c), double(r)});
        }
    return points;
}

inline Mask read_2d_mask(const Tensor& mask, std::string_view op) {
    const auto img = read_labels(mask, op, "mask");
    FBSEG_CHECK(img.shape.size() == 2, op, ": the mask must be 2D [H, W] but has shape ", shape_str(img.shape));
    return mask_of(img, -1);
}

}  // namespace detail

/// The outer contour pixels (x = column, y = row) of the largest component of a 2D mask.
inline std::vector<Point2> outer_contour(const Tensor& mask) {
    return detail::outer_contour(detail::read_2d_mask(mask, "outer_contour"));
}

/// HC of a 2D head mask at its original size; `pixel_size_mm` is HC18's `pixel size(mm)`.
inline HeadCircumference head_circumference(const Tensor& mask, double pixel_size_mm) {
    FBSEG_CHECK(std::isfinite(pixel_size_mm) && pixel_size_mm > 0,
                "head_circumference: pixel_size_mm must be finite and > 0 but is ", pixel_size_mm);
    const auto m = detail::read_2d_mask(mask, "head_circumference");
    HeadCircumference hc;
    if (!m.any()) {
        hc.reason = "head_circumference: empty mask (no head to measure)";
        hc.ellipse.reason = hc.reason;
        return hc;
    }
    const auto points = detail::outer_contour(m);
    hc.contour_points = std::int64_t(points.size());
    hc.ellipse = fit_ellipse(points);
    if (!hc.ellipse.defined()) {
        hc.reason = "head_circumference: " + hc.ellipse.reason;
        return hc;
    }
    const Ellipse& e = hc.ellipse;
    hc.center_x_mm = e.center_x * pixel_size_mm;
    hc.center_y_mm = e.center_y * pixel_size_mm;
    hc.semi_axes_a_mm = e.semi_axis_a * pixel_size_mm;
    hc.semi_axes_b_mm = e.semi_axis_b * pixel_size_mm;
    hc.angle_rad = e.angle_rad;
    hc.angle_deg = e.angle_rad * 180.0 / std::numbers::pi;
    hc.hc_mm = ramanujan_perimeter(hc.semi_axes_a_mm, hc.semi_axes_b_mm);
    return hc;
}

}  // namespace fbseg::metrics
