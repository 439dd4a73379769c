// fbseg/data/volume_slice.hpp - 2D slices of a 3D volume [Z, Y, X] (NIfTI's k, j, i; see
// fbseg/data/nifti.hpp), and the default slicing axis: the one with the coarsest spacing, since
// fetal MRI is acquired as stacks of thick 2D slices (e.g. 0.5 x 0.5 x 3 mm).
//
//   axis 0 (z, k): slice [Y, X], in-plane spacing {sy, sx}
//   axis 1 (y, j): slice [Z, X], in-plane spacing {sz, sx}
//   axis 2 (x, i): slice [Z, Y], in-plane spacing {sz, sy}
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <optional>

#include "fbseg/core/error.hpp"
#include "fbseg/core/shape.hpp"
#include "fbseg/core/tensor.hpp"

namespace fbseg::data {

/// The axis (0 = z, 1 = y, 2 = x) with the largest spacing {sz, sy, sx}; on a tie the lower axis
/// (z first); 0 when the spacing is unknown.
inline int coarsest_axis(const std::optional<std::array<double, 3>>& spacing_mm) {
    if (!spacing_mm) return 0;
    int best = 0;
    for (int a = 1; a < 3; ++a)
        if ((*spacing_mm)[std::size_t(a)] > (*spacing_mm)[std::size_t(best)]) best = a;
    return best;
}

/// The letter of an axis in sample ids ("sub-001 z=071").
inline char axis_letter(int axis) { return axis == 0 ? 'z' : axis == 1 ? 'y' : 'x'; }

/// The in-plane spacing {row, column} of a slice along `axis`, or empty when unknown.
inline std::optional<std::array<double, 2>> slice_spacing(const std::optional<std::array<double, 3>>& spacing_mm,
                                                          int axis) {
    if (!spacing_mm) return std::nullopt;
    const auto& s = *spacing_mm;
    if (axis == 0) return std::array<double, 2>{s[1], s[2]};
    if (axis == 1) return std::array<double, 2>{s[0], s[2]};
    return std::array<double, 2>{s[0], s[1]};
}

/// Slice `index` along `axis` of a contiguous CPU volume [Z, Y, X] (any dtype): a new contiguous
/// 2D tensor of the same dtype.
inline Tensor slice(const Tensor& volume, int axis, std::int64_t index) {
    FBSEG_CHECK(volume.defined() && volume.dim() == 3, "slice: expected a 3D volume [Z, Y, X] but got ",
                volume.defined() ? shape_str(volume.shape()) : std::string("an undefined tensor"));
    FBSEG_CHECK(!volume.is_cuda() && volume.is_contiguous(), "slice: expected a contiguous CPU volume");
    FBSEG_CHECK(axis >= 0 && axis <= 2, "slice: axis must be 0 (z), 1 (y) or 2 (x) but is ", axis);
    const auto& s = volume.shape();
    FBSEG_CHECK(index >= 0 && index < s[std::size_t(axis)], "slice: index ", index, " is out of range along axis ",
                axis, " (", axis_letter(axis), ") of a volume of shape ", shape_str(s), " (", s[std::size_t(axis)],
                " slices)");
    const std::int64_t nz = s[0], ny = s[1], nx = s[2];
    const std::int64_t rows = axis == 0 ? ny : nz, cols = axis == 2 ? ny : nx;
    Tensor out = Tensor::empty({rows, cols}, volume.dtype());
    const std::size_t es = element_size(volume.dtype());
    const auto* src = static_cast<const unsigned char*>(volume.raw_data());
    auto* dst = static_cast<unsigned char*>(out.raw_data());
    if (axis == 0) {  // one contiguous [Y, X] block
        std::memcpy(dst, src + std::size_t(index * ny * nx) * es, std::size_t(ny * nx) * es);
    } else if (axis == 1) {  // rows z, each the contiguous X row (z, index, :)
        for (std::int64_t z = 0; z < nz; ++z)
            std::memcpy(dst + std::size_t(z * nx) * es, src + std::size_t((z * ny + index) * nx) * es, std::size_t(nx) * es);
    } else {  // element (z, y) = volume (z, y, index)
        for (std::int64_t z = 0; z < nz; ++z)
            for (std::int64_t y = 0; y < ny; ++y)
                std::memcpy(dst + std::size_t(z * ny + y) * es, src + std::size_t((z * ny + y) * nx + index) * es, es);
    }
    return out;
}

}  // namespace fbseg::data
