// tests/harness/cases/linalg.hpp - matrix products: matmul (2-D, vectors, broadcast batches,
// transposed operands) and bmm. FLOP counts feed the perf mode's GFLOP/s.
#pragma once

#include "harness/op_case.hpp"

namespace fbseg::harness {

inline void add_linalg_cases(Registry& r) {
    using namespace in;
    auto matmul_run = [](const Inputs& x, const Attrs&) { return out(matmul(x[0], x[1])); };
    // 2 m n k for C[m, n] = A[m, k] B[k, n] (times the batch)
    auto gemm_flops = [](const Inputs& x) {
        const Tensor c = matmul(x[0].detach(), x[1].detach());
        return 2.0 * double(c.numel()) * double(x[0].size(-1));
    };
    add(r, "matmul", "2d").in(randn({3, 5})).in(randn({5, 4})).run(matmul_run).flop_count(gemm_flops);
    add(r, "matmul", "transposed").in(randn({3, 5}).t()).in(randn({5, 4}).t()).run(matmul_run).flop_count(gemm_flops);
    add(r, "matmul", "vector_matrix").in(randn({5})).in(randn({5, 3})).run(matmul_run);
    add(r, "matmul", "matrix_vector").in(randn({3, 5})).in(randn({5})).run(matmul_run);
    add(r, "matmul", "batch_broadcast")
        .in(randn({2, 1, 3, 4}))
        .in(randn({3, 4, 2}))
        .run(matmul_run)
        .flop_count(gemm_flops);
    add(r, "bmm", "odd")
        .in(randn({2, 3, 5}))
        .in(randn({2, 5, 4}))
        .run([](const Inputs& x, const Attrs&) { return out(bmm(x[0], x[1])); })
        .flop_count(gemm_flops);
    add(r, "bmm", "strided")
        .in(randn({2, 3, 5}).t())
        .in(randn({2, 5, 2}).step())
        .run([](const Inputs& x, const Attrs&) { return out(bmm(x[0], x[1])); })
        .flop_count(gemm_flops);
}

}  // namespace fbseg::harness
