// fbseg/distributed/all_reduce.hpp - sums of tensors over the ranks of a Communicator: in place
// (all_reduce_sum), and as a differentiable op (all_reduce), whose backward is the same sum of
// the gradients. Synchronised BatchNorm on the GPU is built from it (sync_batch_norm.hpp).
#pragma once

#include <cstddef>
#include <vector>

#include "fbseg/autograd/function.hpp"
#include "fbseg/autograd/grad_mode.hpp"
#include "fbseg/core/error.hpp"
#include "fbseg/core/tensor.hpp"
#include "fbseg/distributed/communicator.hpp"
#include "fbseg/ops/copy.hpp"

namespace fbseg::distributed {

/// t <- the sum over the ranks of t, in place, on t's device: a contiguous float32 or float64
/// tensor. CPU tensors go straight to the group; GPU tensors to the GPU when the group sums GPU
/// memory (NCCL), else through a host copy.
inline void all_reduce_sum(Tensor& t, Communicator& group) {
    FBSEG_CHECK(t.defined() && t.is_contiguous() && (t.dtype() == DType::Float32 || t.dtype() == DType::Float64),
                "all_reduce_sum: expected a contiguous float32 or float64 tensor, got ", t.defined() ? t.describe() : "none");
    if (group.size() == 1) return;
    const auto n = std::size_t(t.numel());
    const bool is_double = t.dtype() == DType::Float64;
    if (t.device().is_cpu()) {
        if (is_double) group.all_reduce_sum(t.data_ptr<double>(), n);
        else group.all_reduce_sum(t.data_ptr<float>(), n);
        return;
    }
    if (group.all_reduce_sum_device(t.raw_data(), n, is_double)) return;
    NoGradGuard no_grad;
    Tensor host = t.cpu().contiguous();
    all_reduce_sum(host, group);
    t.copy_(host);
}

/// y = the sum over the ranks of x, on every rank; differentiable. The adjoint of "sum over the
/// ranks, to every rank" is the same all-reduce of the output gradients: with L = sum_r L_r,
///     dL/dx_r = sum_r' dL_r'/dy   (every rank's y is the same sum, so each rank's loss reaches x_r).
inline Tensor all_reduce(const Tensor& x, Communicator& group) {
    Tensor y = x.detach().contiguous().clone();
    all_reduce_sum(y, group);
    if (autograd::needs_grad({&x})) {
        Communicator* g = &group;  // must outlive the backward pass
        autograd::record("AllReduceBackward", {&x}, {&y}, [g](const std::vector<Tensor>& grads) {
            Tensor gx = grads[0].contiguous().clone();
            all_reduce_sum(gx, *g);
            return std::vector<Tensor>{gx};
        });
    }
    return y;
}

}  // namespace fbseg::distributed
