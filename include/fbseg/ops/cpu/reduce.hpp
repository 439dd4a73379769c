// fbseg/ops/cpu/reduce.hpp - CPU kernels of the reduction family that are not a fold over rows
// (the folds are reduce::rows in ops/reduce.hpp).
#pragma once

#include <cstdint>

namespace fbseg::cpu {

// scatter_add_along_dim: the gradient of max/min along one dim
//   grad[o, index[o, j], j] += src[o, j]
//   grad:  (outer, n, inner) contiguous, accumulated into
//   src:   (outer, inner) contiguous
//   index: (outer, inner) contiguous int64, 0 <= index < n
// Sequential: two (o, j) never hit the same element, but the loop is cheap next to the forward.
template <typename T>
void scatter_add_along_dim(T* grad, const T* src, const std::int64_t* index, std::int64_t outer, std::int64_t n,
                           std::int64_t inner) {
    for (std::int64_t e = 0; e < outer * inner; ++e) {
        const std::int64_t o = e / inner, j = e % inner;
        grad[(o * n + index[e]) * inner + j] += src[e];
    }
}

}  // namespace fbseg::cpu
