// fbseg/ops/linalg.hpp - matrix products: bmm (batched, the primitive) and matmul (PyTorch's
// broadcasting rules on top of it). The inner products run on Eigen's GEMM.
#pragma once

#include "fbseg/ops/kernel/linalg.hpp"
#include "fbseg/ops/reduce.hpp"
#include "fbseg/ops/op_library.hpp"

namespace fbseg {

// ---- the ops (defined below, or in libfbseg: ops/op_library.hpp) ----
/// Batched matrix product: [B, n, k] @ [B, k, m] -> [B, n, m].
///   dA = dC @ B^T,  dB = A^T @ dC
FBSEG_OP Tensor bmm(const Tensor& a, const Tensor& b);
/// Matrix product with PyTorch's rules: 1-D operands are promoted to a row (left) or a column
/// (right) vector and the added dim removed from the result; leading (batch) dims broadcast.
FBSEG_OP Tensor matmul(const Tensor& a, const Tensor& b);

#if FBSEG_OP_DEFINITIONS
FBSEG_OP Tensor bmm(const Tensor& a, const Tensor& b) {
    detail::check_same_device_dtype("bmm", {&a, &b});
    FBSEG_CHECK(a.dim() == 3 && b.dim() == 3 && a.shape()[0] == b.shape()[0] && a.shape()[2] == b.shape()[1],
                "bmm: expected [B, n, k] and [B, k, m] but got ", shape_str(a.shape()), " and ", shape_str(b.shape()));
    Tensor c = empty({a.shape()[0], a.shape()[1], b.shape()[2]}, options_of(a));
    kernel::bmm_forward(a, b, c);
    if (autograd::needs_grad({&a, &b})) {
        const bool need_a = a.requires_grad(), need_b = b.requires_grad();
        autograd::SavedTensor sa = need_b ? autograd::SavedTensor(a) : autograd::SavedTensor();
        autograd::SavedTensor sb = need_a ? autograd::SavedTensor(b) : autograd::SavedTensor();
        autograd::record("BmmBackward", {&a, &b}, {&c}, [=](const std::vector<Tensor>& g) {
            return std::vector<Tensor>{need_a ? bmm(g[0], sb.unpack("BmmBackward").transpose(1, 2)) : Tensor(),
                                       need_b ? bmm(sa.unpack("BmmBackward").transpose(1, 2), g[0]) : Tensor()};
        });
    }
    return c;
}

FBSEG_OP Tensor matmul(const Tensor& a, const Tensor& b) {
    detail::check_same_device_dtype("matmul", {&a, &b});
    FBSEG_CHECK(a.dim() >= 1 && b.dim() >= 1, "matmul: both operands need at least 1 dim, got ", shape_str(a.shape()),
                " and ", shape_str(b.shape()));
    const Tensor a2 = a.dim() == 1 ? a.unsqueeze(0) : a;
    const Tensor b2 = b.dim() == 1 ? b.unsqueeze(1) : b;
    const std::int64_t n = a2.size(-2), k = a2.size(-1), m = b2.size(-1);
    FBSEG_CHECK(b2.size(-2) == k, "matmul: inner dimensions differ: ", shape_str(a.shape()), " @ ", shape_str(b.shape()),
                " (", k, " vs ", b2.size(-2), ")");
    const Shape batch_a(a2.shape().begin(), a2.shape().end() - 2), batch_b(b2.shape().begin(), b2.shape().end() - 2);
    const Shape batch = broadcast_shapes(batch_a, batch_b, "matmul");
    const std::int64_t nb = numel_of(batch);
    Shape shape_a = batch, shape_b = batch;
    shape_a.insert(shape_a.end(), {n, k});
    shape_b.insert(shape_b.end(), {k, m});
    // expand + reshape are differentiable, so broadcast batch dims get summed gradients.
    const Tensor a3 = a2.expand(shape_a).reshape({nb, n, k});
    const Tensor b3 = b2.expand(shape_b).reshape({nb, k, m});
    Shape out_shape = batch;
    if (a.dim() > 1) out_shape.push_back(n);
    if (b.dim() > 1) out_shape.push_back(m);
    return bmm(a3, b3).reshape(out_shape);
}
#endif  // FBSEG_OP_DEFINITIONS

}  // namespace fbseg
