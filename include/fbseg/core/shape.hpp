// fbseg/core/shape.hpp - shapes, strides and the index arithmetic every op shares.
//
// A tensor of shape (d0, d1, ..., dn-1) stores element (i0, ..., in-1) at
//     offset + i0*s0 + i1*s1 + ... + in-1*sn-1
// where (s0, ..., sn-1) are its strides, in elements. A contiguous (row-major) tensor has
// s_{n-1} = 1 and s_k = s_{k+1} * d_{k+1}. Views change shape, strides and offset, never data.
#pragma once

#include <cstdint>
#include <sstream>
#include <string>
#include <string_view>
#include <algorithm>
#include <vector>

#include "fbseg/core/error.hpp"

namespace fbseg {

using Shape = std::vector<std::int64_t>;

/// a * b, or an error naming `what` when the product does not fit in int64. Every size formed
/// from a shape goes through here: a wrapped product (2^32 * 2^32 = 0 in 64 bits) would become a
/// tiny allocation and then a heap overflow.
inline std::int64_t checked_mul(std::int64_t a, std::int64_t b, std::string_view what) {
    std::int64_t r = 0;
    if (__builtin_mul_overflow(a, b, &r)) [[unlikely]]
        FBSEG_FAIL(what, ": size overflow: ", a, " * ", b, " does not fit in 64 bits");
    return r;
}

/// Number of elements of a shape (1 for a 0-dim shape). Throws when the product overflows int64.
inline std::int64_t numel_of(const Shape& shape) {
    std::int64_t n = 1;
    for (auto d : shape) {
        if (__builtin_mul_overflow(n, d, &n)) [[unlikely]] {
            std::ostringstream out;
            out << "[";
            for (std::size_t k = 0; k < shape.size(); ++k) out << (k ? ", " : "") << shape[k];
            out << "]";
            FBSEG_FAIL("shape ", out.str(), ": the number of elements overflows int64 (size overflow)");
        }
    }
    return n;
}

/// Row-major strides of a contiguous tensor of this shape.
inline Shape contiguous_strides(const Shape& shape) {
    Shape strides(shape.size());
    std::int64_t s = 1;
    for (std::size_t k = shape.size(); k-- > 0;) {
        strides[k] = s;
        s *= shape[k] > 0 ? shape[k] : 1;
    }
    return strides;
}

/// "[2, 3, 4]", the way every error message prints a shape.
inline std::string shape_str(const Shape& shape) {
    std::ostringstream out;
    out << "[";
    for (std::size_t k = 0; k < shape.size(); ++k) out << (k ? ", " : "") << shape[k];
    out << "]";
    return out.str();
}

/// Maps a possibly negative dim (-1 is the last) into [0, ndim), or throws naming the op.
inline std::int64_t normalize_dim(std::int64_t dim, std::int64_t ndim, std::string_view op) {
    const std::int64_t lo = -std::max<std::int64_t>(ndim, 1), hi = std::max<std::int64_t>(ndim, 1) - 1;
    FBSEG_CHECK(dim >= lo && dim <= hi, op, ": dim ", dim, " is out of range for a tensor of rank ", ndim,
                " (expected a dim in [", lo, ", ", hi, "])");
    return dim < 0 ? dim + std::max<std::int64_t>(ndim, 1) : dim;
}

/// NumPy broadcasting: align shapes on the right; sizes must be equal or one of them 1.
inline Shape broadcast_shapes(const Shape& a, const Shape& b, std::string_view op) {
    const std::size_t n = std::max(a.size(), b.size());
    Shape out(n);
    for (std::size_t k = 0; k < n; ++k) {
        const std::int64_t da = k < n - a.size() ? 1 : a[k - (n - a.size())];
        const std::int64_t db = k < n - b.size() ? 1 : b[k - (n - b.size())];
        FBSEG_CHECK(da == db || da == 1 || db == 1, op, ": shapes ", shape_str(a), " and ", shape_str(b),
                    " cannot be broadcast together (dim ", k, " of the result: ", da, " vs ", db, ")");
        out[k] = da == 1 ? db : da;
    }
    return out;
}

/// Strides that read a tensor of shape `shape` (strides `strides`) as if it had the broadcast
/// shape `target`: new leading dims and size-1 dims get stride 0.
inline Shape broadcast_strides(const Shape& shape, const Shape& strides, const Shape& target) {
    Shape out(target.size(), 0);
    const std::size_t lead = target.size() - shape.size();
    for (std::size_t k = 0; k < shape.size(); ++k) out[lead + k] = shape[k] == 1 ? 0 : strides[k];
    return out;
}

}  // namespace fbseg
