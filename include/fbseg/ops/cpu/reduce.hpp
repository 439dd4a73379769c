// fbseg/ops/cpu/reduce.hpp - CPU kernels of the reduction family: the fold over rows behind
// sum, max, min and argmax (ops/reduce.hpp views the input as a contiguous [M, R] matrix first),
// and the scatter of the max/min gradient.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "fbseg/core/parallel.hpp"
#include "fbseg/ops/cpu/loops.hpp"

namespace fbseg::cpu {

// fold_rows: out[row] = finish(row, fold(... fold(fold(init, in[row, 0], 0), in[row, 1], 1) ...))
//   in: (m, r) contiguous, one row per output element; fold(acc, value, index) -> acc,
//   merge(acc, acc) -> acc combines the partials of one long row, finish(row, acc) stores it.
// Rows run in parallel; a single long row (m == 1, r > kReduceBlock) is split into fixed blocks
// whose partials are merged in block order, so the result does not depend on the thread count.
template <typename T, typename Acc, typename Fold, typename Merge, typename Finish>
void fold_rows(const T* in, std::int64_t m, std::int64_t r, Acc init, Fold fold, Merge merge, Finish finish) {
    if (m == 1 && r > kReduceBlock) {
        const std::int64_t blocks = (r + kReduceBlock - 1) / kReduceBlock;
        std::vector<Acc> partial(std::size_t(blocks), init);
        parallel_for(0, blocks, 1, [&](std::int64_t b0, std::int64_t b1) {
            for (std::int64_t b = b0; b < b1; ++b) {
                Acc acc = init;
                const std::int64_t end = std::min(r, (b + 1) * kReduceBlock);
                for (std::int64_t i = b * kReduceBlock; i < end; ++i) acc = fold(acc, in[i], i);
                partial[std::size_t(b)] = acc;
            }
        });
        Acc acc = partial[0];
        for (std::size_t b = 1; b < partial.size(); ++b) acc = merge(acc, partial[b]);
        finish(0, acc);
        return;
    }
    parallel_for(0, m, items_per_task(r),
                 [&](std::int64_t m0, std::int64_t m1) {
                     for (std::int64_t row = m0; row < m1; ++row) {
                         Acc acc = init;
                         const T* p = in + row * r;
                         for (std::int64_t i = 0; i < r; ++i) acc = fold(acc, p[i], i);
                         finish(row, acc);
                     }
                 });
}

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
