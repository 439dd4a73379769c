// fbseg/metrics/common.hpp - what every metric shares: the result type (a value, or NaN with the
// reason), reading a label map out of a Tensor, and checking shapes and spacing.
//
// Label maps are CPU tensors of shape [H, W] (2D) or [D, H, W] (3D) with an integer dtype (uint8,
// bool or int64), any strides. Spacing is in mm per axis, in the tensor's axis order ([sy, sx] in
// 2D, [sz, sy, sx] in 3D); empty means 1 mm per axis, one value means isotropic.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "fbseg/core/dtype.hpp"
#include "fbseg/core/error.hpp"
#include "fbseg/core/shape.hpp"
#include "fbseg/core/tensor.hpp"

namespace fbseg::metrics {

inline constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

/// One metric of one class of one case: a value, or NaN and the reason why it is undefined
/// ("empty reference", ...). `reason` is empty exactly when `value` is a number.
struct Metric {
    double value = kNaN;
    std::string reason;

    bool defined() const { return !std::isnan(value); }
    static Metric of(double v) { return Metric{v, {}}; }
    static Metric undefined(std::string why) { return Metric{kNaN, std::move(why)}; }
};

namespace detail {

/// A label map read into a flat row-major vector (one int64 per voxel) with its shape.
struct LabelImage {
    Shape shape;
    std::vector<std::int64_t> labels;
    std::int64_t size() const { return std::int64_t(labels.size()); }
};

/// A binary mask (0/1 per voxel, row-major) with its shape.
struct Mask {
    Shape shape;
    std::vector<std::uint8_t> on;
    std::int64_t size() const { return std::int64_t(on.size()); }
    bool any() const {
        for (auto v : on)
            if (v) return true;
        return false;
    }
};

/// Row-major strides of `shape` (in elements).
inline std::vector<std::int64_t> strides_of(const Shape& shape) {
    std::vector<std::int64_t> s(shape.size(), 1);
    for (std::size_t d = shape.size(); d-- > 1;) s[d - 1] = s[d] * shape[d];
    return s;
}

inline std::string describe_tensor(const Tensor& t) {
    return ::fbseg::detail::str(dtype_name(t.dtype()), " ", shape_str(t.shape()));
}

/// Checks that `t` is a usable label map (CPU, 2D or 3D, uint8/bool/int64) and reads it.
/// `op` and `name` ("prediction", "reference", "mask") go into the error message.
inline LabelImage read_labels(const Tensor& t, std::string_view op, std::string_view name) {
    FBSEG_CHECK(t.defined(), op, ": the ", name, " is an undefined tensor");
    FBSEG_CHECK(!t.is_cuda(), op, ": the ", name, " (", describe_tensor(t), ") is on ", t.device().str(),
                "; metrics run on the CPU (call .cpu() first)");
    FBSEG_CHECK(t.dim() == 2 || t.dim() == 3, op, ": the ", name,
                " must be a 2D [H, W] or 3D [D, H, W] label map but has shape ", shape_str(t.shape()));
    FBSEG_CHECK(t.dtype() == DType::UInt8 || t.dtype() == DType::Bool || t.dtype() == DType::Int64, op, ": the ", name,
                " must be a label map of dtype uint8, bool or int64 but is ", describe_tensor(t),
                " (threshold or argmax a probability map first)");
    LabelImage out;
    out.shape = t.shape();
    const std::int64_t n = t.numel();
    out.labels.resize(std::size_t(n));
    const Shape& shape = t.shape();
    const Shape& strides = t.strides();
    dispatch_all(t.dtype(), op, [&]<typename T>() {
        const T* base = static_cast<const T*>(t.storage()->data()) + t.offset();
        std::vector<std::int64_t> index(shape.size(), 0);
        std::int64_t off = 0;
        for (std::int64_t i = 0; i < n; ++i) {
            out.labels[std::size_t(i)] = std::int64_t(base[off]);
            for (std::size_t d = shape.size(); d-- > 0;) {  // odometer over the strides
                off += strides[d];
                if (++index[d] < shape[d]) break;
                off -= strides[d] * shape[d];
                index[d] = 0;
            }
        }
    });
    return out;
}

/// The voxels equal to `label` (or, when `label` < 0, every nonzero voxel: a binary mask).
inline Mask mask_of(const LabelImage& img, std::int64_t label) {
    Mask m;
    m.shape = img.shape;
    m.on.resize(img.labels.size());
    for (std::size_t i = 0; i < img.labels.size(); ++i)
        m.on[i] = std::uint8_t(label < 0 ? img.labels[i] != 0 : img.labels[i] == label);
    return m;
}

inline void check_same_shape(const Tensor& pred, const Tensor& ref, std::string_view op) {
    FBSEG_CHECK(pred.shape() == ref.shape(), op, ": the prediction (", describe_tensor(pred), ") and the reference (",
                describe_tensor(ref), ") must have the same shape");
}

/// The spacing per axis for an image of `ndim` axes: {} -> all 1, {s} -> all s, else one value per
/// axis; every value finite and > 0.
inline std::vector<double> resolve_spacing(const std::vector<double>& spacing, std::size_t ndim, std::string_view op) {
    std::vector<double> out;
    if (spacing.empty()) {
        out.assign(ndim, 1.0);
    } else if (spacing.size() == 1) {
        out.assign(ndim, spacing[0]);
    } else {
        FBSEG_CHECK(spacing.size() == ndim, op, ": spacing has ", spacing.size(), " values but the image has ", ndim,
                    " axes (give one value per axis, in the tensor's axis order, or one for all)");
        out = spacing;
    }
    for (double s : out) FBSEG_CHECK(std::isfinite(s) && s > 0, op, ": spacing must be finite and > 0 but has ", s);
    return out;
}

}  // namespace detail
}  // namespace fbseg::metrics
