// fbseg/ops/cpu/linalg.hpp - CPU kernel of the batched matrix product, on Eigen's GEMM.
#pragma once

#include <algorithm>
#include <cstdint>

#include <Eigen/Core>

#include "fbseg/core/parallel.hpp"

namespace fbseg::cpu {

/// Rows of the output computed per task: fixed, so the sequence of Eigen calls (and therefore
/// every rounding) is the same whatever the number of threads.
inline constexpr std::int64_t kGemmRowBlock = 64;

// bmm_forward: C[b] = A[b] @ B[b]
//   a: (batch, n, k) with strides sa[3] (in elements, any layout)
//   b: (batch, k, m) with strides sb[3]
//   c: (batch, n, m) contiguous, written
template <typename T>
void bmm_forward(const T* a, const std::int64_t* sa, const T* b, const std::int64_t* sb, T* c, std::int64_t batch,
                 std::int64_t n, std::int64_t k, std::int64_t m) {
    using Matrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    using Strides = Eigen::Stride<Eigen::Dynamic, Eigen::Dynamic>;  // (outer = row, inner = column)
    using ConstMap = Eigen::Map<const Matrix, Eigen::Unaligned, Strides>;
    const std::int64_t row_blocks = (n + kGemmRowBlock - 1) / kGemmRowBlock;
    parallel_for(0, batch * row_blocks, 1, [&](std::int64_t t0, std::int64_t t1) {
        for (std::int64_t task = t0; task < t1; ++task) {
            const std::int64_t bi = task / row_blocks, r0 = (task % row_blocks) * kGemmRowBlock;
            const std::int64_t rows = std::min(kGemmRowBlock, n - r0);
            ConstMap A(a + bi * sa[0] + r0 * sa[1], rows, k, Strides(sa[1], sa[2]));
            ConstMap B(b + bi * sb[0], k, m, Strides(sb[1], sb[2]));
            Eigen::Map<Matrix> C(c + (bi * n + r0) * m, rows, m);
            if (k == 0)
                C.setZero();
            else
                C.noalias() = A * B;
        }
    });
}

}  // namespace fbseg::cpu
