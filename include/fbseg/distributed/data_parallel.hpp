// fbseg/distributed/data_parallel.hpp - the three things a data-parallel training step needs
// beyond a single process (docs/scaling.md):
//
//   1. the same starting point:  broadcast_module(model, group)        (rank 0's weights to all)
//   2. the global batch's statistics in BatchNorm:  convert_sync_batchnorm(model, &group)
//   3. the global batch's gradient:  each rank backpropagates its loss scaled by
//      n_local / n_global (local_loss_scale), so that the ranks' losses add up to the loss of the
//      whole batch; then all_reduce_gradients(params, group) sums the gradients over the ranks.
//
// With a mean loss over images (BCE, per-image Dice, CE: every loss of nn/loss.hpp with
// Reduction::Mean and DiceMode::PerImage), the global batch's loss is
//     L = (1/B) sum over images l_i = sum over ranks (n_r / B) L_r,   L_r = (1/n_r) sum over r's images l_i,
// so the sum over ranks of the scaled local gradients is exactly the gradient of L, for any split
// of the batch (ranks may hold different numbers of images). A group of one scales by 1 and
// exchanges nothing, so a single process computes what it computed before.
#pragma once

#include <algorithm>
#include <cstddef>
#include <vector>

#include "fbseg/autograd/function.hpp"
#include "fbseg/autograd/grad_mode.hpp"
#include "fbseg/core/error.hpp"
#include "fbseg/distributed/all_reduce.hpp"
#include "fbseg/distributed/communicator.hpp"
#include "fbseg/nn/module.hpp"
#include "fbseg/nn/norm.hpp"
#include "fbseg/ops/factory.hpp"
#include "fbseg/ops/join.hpp"

namespace fbseg::distributed {

/// Every BatchNorm2d under `model` normalises with the statistics of all ranks of `group` in
/// training mode (nullptr: its own batch again). Returns how many layers it changed. `group`
/// must outlive the model's use.
inline int convert_sync_batchnorm(nn::Module& model, Communicator* group) {
    int changed = 0;
    for (auto& [name, module] : model.named_modules())
        if (auto* bn = dynamic_cast<nn::BatchNorm2d*>(module)) {
            bn->sync_group = group;
            ++changed;
        }
    return changed;
}

/// Copies every parameter and buffer of `model` on rank `root` to the same tensor on every
/// rank (CPU tensors; each tensor is sent as its contiguous bytes).
inline void broadcast_module(nn::Module& model, Communicator& group, int root = 0) {
    if (group.size() == 1) return;
    NoGradGuard no_grad;
    for (auto& [name, t] : model.state_dict()) {
        if (!t.defined() || t.numel() == 0) continue;
        Tensor c = t.device().is_cpu() ? t.contiguous() : t.cpu().contiguous();  // sent from host memory
        group.broadcast(c.raw_data(), std::size_t(c.numel()) * element_size(c.dtype()), root);
        if (!c.is_same(t)) t.copy_(c);
    }
}

/// The factor a rank's mean loss is multiplied by before backward: n_local / n_global, with
/// n_global the sum of n_local over the ranks (one all-reduce).
inline double local_loss_scale(std::int64_t n_local, Communicator& group) {
    if (group.size() == 1) return 1.0;
    double n = double(n_local);
    group.all_reduce_sum(&n, 1);
    FBSEG_CHECK(n > 0, "local_loss_scale: the global batch is empty");
    return double(n_local) / n;
}

/// Sums the gradients of `params` (those that require grad) over the ranks of `group`, in place.
/// The gradients are packed into float32 buckets of at most `bucket_floats` values on their
/// device, one all-reduce per bucket. A parameter without a gradient on this rank contributes zeros (every
/// rank must take part in every bucket) and has the summed gradient afterwards.
inline void all_reduce_gradients(const std::vector<Tensor>& params, Communicator& group,
                                 std::size_t bucket_floats = std::size_t(1) << 22) {
    if (group.size() == 1) return;
    NoGradGuard no_grad;
    std::vector<Tensor> todo;
    for (const Tensor& p : params)
        if (p.requires_grad()) {
            FBSEG_CHECK(p.dtype() == DType::Float32, "all_reduce_gradients: ", p.describe(),
                        ": data parallelism sums float32 gradients");
            todo.push_back(p);
        }
    // one bucket at a time: the gradients of parameters [i, j) flattened and joined on their
    // device (a parameter larger than a bucket goes alone), summed over the ranks by
    // all_reduce_sum (on the GPU with NCCL, else through the host), and copied back
    std::size_t i = 0;
    while (i < todo.size()) {
        std::size_t j = i, floats = 0;
        while (j < todo.size() && (j == i || floats + std::size_t(todo[j].numel()) <= bucket_floats))
            floats += std::size_t(todo[j++].numel());
        std::vector<Tensor> parts;
        for (std::size_t k = i; k < j; ++k) {
            const Tensor g = todo[k].grad();
            parts.push_back(g.defined() ? g.reshape({-1}) : zeros({todo[k].numel()}, options_of(todo[k])));
        }
        Tensor bucket = cat(parts, 0).contiguous();
        all_reduce_sum(bucket, group);
        std::int64_t at = 0;
        for (std::size_t k = i; k < j; ++k) {
            const Tensor sum = bucket.narrow(0, at, todo[k].numel()).reshape(todo[k].shape());
            if (Tensor g = todo[k].grad(); g.defined()) g.copy_(sum);
            else todo[k].set_grad(sum.contiguous());
            at += todo[k].numel();
        }
        i = j;
    }
}

}  // namespace fbseg::distributed
