// fbseg/ops/geometry/interpolate.hpp - the sizes and source taps of one 2-D resize, as plain
// structs.
//
// Plain C++ with no dependency: a .cu file can include it. The taps (which input rows and
// columns an output row and column reads, and with which weights) are computed once per call on
// the host (ops/interpolate.hpp) and handed to the kernels as arrays.
#pragma once

#include <cstdint>

namespace fbseg {

/// A resize of `planes` = N * C independent planes [h, w] -> [oh, ow].
struct Resize2dGeometry {
    std::int64_t planes = 0, h = 0, w = 0, oh = 0, ow = 0;
};

/// Nearest: output row i reads input row rows[i], output column j reads input column cols[j].
///   rows: (oh,), cols: (ow,)
struct NearestTaps {
    const std::int64_t* rows = nullptr;
    const std::int64_t* cols = nullptr;
};

/// Linear along one axis: output position o reads i0[o] with weight l0[o] and i1[o] with weight
/// l1[o] (l0 + l1 = 1). All four arrays have one entry per output position.
template <typename T>
struct LinearTapsView {
    const std::int64_t* i0 = nullptr;
    const std::int64_t* i1 = nullptr;
    const T* l0 = nullptr;
    const T* l1 = nullptr;
};

}  // namespace fbseg
