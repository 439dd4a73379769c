// fbseg/ops/geometry/pool.hpp - the sizes of one 2-D pooling, as plain structs.
//
// Plain C++ with no dependency: a .cu file can include it and hand the same struct to a CUDA
// kernel that cpu/pool.hpp hands to the CPU kernels.
#pragma once

#include <cstdint>

namespace fbseg {

/// Max pooling of `planes` = N * C independent planes [h, w] -> [ho, wo].
/// Window (oh, ow) reads rows oh * sh - ph + ki * dh (0 <= ki < kh) and columns likewise; rows
/// and columns outside the plane are skipped (padding counts as -inf).
struct MaxPool2dGeometry {
    std::int64_t planes = 0, h = 0, w = 0, ho = 0, wo = 0;
    std::int64_t kh = 1, kw = 1, sh = 1, sw = 1, ph = 0, pw = 0, dh = 1, dw = 1;
};

/// Adaptive average pooling of `planes` planes [h, w] -> [oh, ow]. Output cell (i, j) averages
/// rows [row_begin(i), row_end(i)) and columns [col_begin(j), col_end(j)):
///   begin(i) = floor(i h / oh),  end(i) = ceil((i + 1) h / oh)
struct AdaptivePool2dGeometry {
    std::int64_t planes = 0, h = 0, w = 0, oh = 0, ow = 0;

    constexpr std::int64_t row_begin(std::int64_t i) const { return i * h / oh; }
    constexpr std::int64_t row_end(std::int64_t i) const { return ((i + 1) * h + oh - 1) / oh; }
    constexpr std::int64_t col_begin(std::int64_t j) const { return j * w / ow; }
    constexpr std::int64_t col_end(std::int64_t j) const { return ((j + 1) * w + ow - 1) / ow; }
};

}  // namespace fbseg
