// fbseg/optim/clip.hpp - gradient clipping by the global norm, as torch.nn.utils.clip_grad_norm_.
//
// The norm is taken over all gradients together, as if they were one long vector:
//     total = (sum_i ||g_i||_p^p)^(1/p)          (p = inf: the largest |g|)
//     coef  = min(1, max_norm / (total + 1e-6)),  every g_i <- coef g_i.
// The gradients keep their direction; only a too-long step is shortened.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "fbseg/autograd/grad_mode.hpp"
#include "fbseg/ops/binary.hpp"
#include "fbseg/ops/reduce.hpp"
#include "fbseg/ops/tensor_methods.hpp"
#include "fbseg/ops/unary.hpp"

namespace fbseg::optim {

/// Scales the gradients of `params` in place so that their global p-norm is at most max_norm,
/// and returns the norm they had before (computed in float64). Parameters without a gradient
/// are skipped; with none at all the norm is 0. With error_if_nonfinite, a NaN or infinite norm
/// throws instead of scaling the gradients by NaN.
inline double clip_grad_norm_(const std::vector<Tensor>& params, double max_norm, double norm_type = 2.0,
                              bool error_if_nonfinite = false) {
    FBSEG_CHECK(norm_type > 0, "clip_grad_norm_: norm_type must be > 0 (or infinity), got ", norm_type);
    NoGradGuard no_grad;
    std::vector<Tensor> grads;
    for (const Tensor& p : params)
        if (p.defined() && p.grad().defined()) grads.push_back(p.grad());
    if (grads.empty()) return 0.0;
    const bool inf_norm = std::isinf(norm_type);
    double total = 0.0;
    for (const Tensor& g : grads) {
        if (g.numel() == 0) continue;
        const Tensor a = abs(g.to(DType::Float64));
        if (inf_norm) total = std::max(total, max(a).item<double>());
        else if (norm_type == 2.0) total += sum(a * a).item<double>();
        else if (norm_type == 1.0) total += sum(a).item<double>();
        else total += sum(pow(a, norm_type)).item<double>();
    }
    if (!inf_norm) total = norm_type == 2.0 ? std::sqrt(total) : std::pow(total, 1.0 / norm_type);
    FBSEG_CHECK(!error_if_nonfinite || std::isfinite(total), "clip_grad_norm_: the total norm of order ", norm_type,
                " of the gradients is ", total, "; set error_if_nonfinite=false to scale them anyway");
    const double coef = max_norm / (total + 1e-6);
    if (coef < 1.0 || std::isnan(coef))
        for (Tensor& g : grads) mul_(g, coef);
    return total;
}

}  // namespace fbseg::optim
