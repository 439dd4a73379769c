// fbseg/ops/batch_norm.hpp - batch normalisation over the channel dim of [N, C, ...] tensors,
// with PyTorch's semantics (F.batch_norm / nn.BatchNorm2d).
//
// Per channel c, over the M = N * (H * W * ...) values x_i of that channel:
//   training:  mean = (1/M) sum x_i,  var = (1/M) sum (x_i - mean)^2   (biased)
//              running_mean <- (1 - momentum) running_mean + momentum mean
//              running_var  <- (1 - momentum) running_var  + momentum var * M / (M - 1)   (unbiased)
//   eval:      mean, var = running_mean, running_var
//   y_i = gamma (x_i - mean) / sqrt(var + eps) + beta
// Backward (training: mean and var depend on x), with xhat_i = (x_i - mean) invstd, dyh = dy gamma:
//   dx_i = invstd / M * (M dyh_i - sum_j dyh_j - xhat_i sum_j dyh_j xhat_j)
//   dgamma = sum_i dy_i xhat_i,  dbeta = sum_i dy_i
// In eval mode mean and var are constants: dx_i = dy_i gamma invstd.
//
// The kernel makes two passes over the data per channel (statistics, then the affine map), and
// the channels run in parallel: each channel's sums are formed by one task, in order, in double.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include "fbseg/autograd/function.hpp"
#include "fbseg/ops/device_check.hpp"
#include "fbseg/ops/factory.hpp"
#include "fbseg/ops/kernel/batch_norm.hpp"
#include "fbseg/ops/op_library.hpp"

namespace fbseg {

namespace bn_detail {

/// A per-channel parameter ([C]) must match the input's channels, dtype and device.
inline void check_param(const char* what, const Tensor& t, const Tensor& input) {
    if (!t.defined()) return;
    FBSEG_CHECK(t.dim() == 1 && t.size(0) == input.size(1), "batch_norm: ", what, " ", shape_str(t.shape()),
                " does not match input ", shape_str(input.shape()), " (expected [", input.size(1), "], one value per channel)");
    FBSEG_CHECK(t.dtype() == input.dtype(), "batch_norm: ", what, " is ", t.describe(), " but input is ", input.describe());
    FBSEG_CHECK(t.device() == input.device(), "batch_norm: ", what, " is ", t.describe(), " but input is ",
                input.describe());
}

/// Values of a per-channel [C] tensor (any stride, any device) as doubles; `fallback` when undefined.
inline std::vector<double> read_channels(const Tensor& t, std::int64_t c, double fallback) {
    if (!t.defined()) return std::vector<double>(std::size_t(c), fallback);
    return t.detach().to_vector<double>();
}

}  // namespace bn_detail

// ---- the ops (defined below, or in libfbseg: ops/op_library.hpp) ----
/// Batch normalisation of input [N, C, ...] (see the header comment). running_mean and
/// running_var ([C], both or neither) are updated in place in training mode; weight (gamma) and
/// bias (beta) are [C] or undefined (1 and 0). In eval mode without running statistics the batch
/// statistics are used, as nn.BatchNorm2d(track_running_stats=False) does.
FBSEG_OP Tensor batch_norm(const Tensor& input, Tensor running_mean, Tensor running_var, const Tensor& weight,
                           const Tensor& bias, bool training, double momentum = 0.1, double eps = 1e-5);

#if FBSEG_OP_DEFINITIONS
FBSEG_OP Tensor batch_norm(const Tensor& input, Tensor running_mean, Tensor running_var, const Tensor& weight,
                         const Tensor& bias, bool training, double momentum, double eps) {
    FBSEG_CHECK(input.defined(), "batch_norm: input is an undefined tensor");
    FBSEG_CHECK(is_floating(input.dtype()), "batch_norm: expected a floating input but got ", input.describe());
    FBSEG_CHECK(input.dim() >= 2, "batch_norm: expected an input [N, C, ...] of rank >= 2 but got ", input.describe());
    bn_detail::check_param("weight", weight, input);
    bn_detail::check_param("bias", bias, input);
    bn_detail::check_param("running_mean", running_mean, input);
    bn_detail::check_param("running_var", running_var, input);
    FBSEG_CHECK(running_mean.defined() == running_var.defined(),
                "batch_norm: running_mean and running_var must be given together (got ", running_mean.describe(),
                " and ", running_var.describe(), ")");
    FBSEG_CHECK(!(running_mean.defined() && (running_mean.requires_grad() || running_var.requires_grad())),
                "batch_norm: running_mean and running_var are statistics, not parameters: they must not require grad");
    FBSEG_CHECK(eps >= 0, "batch_norm: eps must be >= 0 but got ", eps);

    const std::int64_t n = input.size(0), c = input.size(1);
    const std::int64_t s = c == 0 || n == 0 ? 0 : input.numel() / (n * c);  // values per (image, channel)
    const std::int64_t m = n * s;                                          // values per channel
    const bool use_batch_stats = training || !running_mean.defined();
    FBSEG_CHECK(!use_batch_stats || m > 1, "batch_norm: expected more than 1 value per channel when training, got input ",
                shape_str(input.shape()));

    const Tensor x = input.detach().contiguous();
    Tensor out = empty(input.shape(), options_of(input));
    std::vector<double> mean(static_cast<std::size_t>(c)), invstd(static_cast<std::size_t>(c));

    const std::vector<double> gamma = bn_detail::read_channels(weight, c, 1.0);
    const std::vector<double> beta = bn_detail::read_channels(bias, c, 0.0);
    std::vector<double> var_unbiased(static_cast<std::size_t>(c));
    if (!use_batch_stats) {
        const std::vector<double> rm = bn_detail::read_channels(running_mean, c, 0.0);
        const std::vector<double> rv = bn_detail::read_channels(running_var, c, 1.0);
        for (std::int64_t k = 0; k < c; ++k) {
            mean[std::size_t(k)] = rm[std::size_t(k)];
            invstd[std::size_t(k)] = 1.0 / std::sqrt(rv[std::size_t(k)] + eps);
        }
    }
    kernel::batch_norm_forward(x, out, n, c, s, gamma.data(), beta.data(), use_batch_stats, eps, mean.data(),
                               invstd.data(), var_unbiased.data());
    if (training && running_mean.defined()) {  // in place, outside autograd
        kernel::batch_norm_update_running_stats(running_mean, running_var, mean.data(), var_unbiased.data(), momentum);
        running_mean.storage()->bump_version();
        running_var.storage()->bump_version();
    }

    if (autograd::needs_grad({&input, &weight, &bias})) {
        const bool need_x = input.requires_grad();
        const bool has_w = weight.defined(), has_b = bias.defined();
        const bool need_w = has_w && weight.requires_grad(), need_b = has_b && bias.requires_grad();
        std::vector<const Tensor*> inputs{&input};
        if (has_w) inputs.push_back(&weight);
        if (has_b) inputs.push_back(&bias);
        autograd::SavedTensor sx(x);
        autograd::SavedTensor sw = has_w ? autograd::SavedTensor(weight) : autograd::SavedTensor();
        autograd::record(
            "BatchNormBackward", inputs, {&out},
            [=, x_shape = input.shape(), dtype = input.dtype()](const std::vector<Tensor>& grads) {
                const Tensor gy = grads[0].contiguous();
                const Tensor xv = sx.unpack("BatchNormBackward");
                Tensor gx = need_x ? empty(x_shape, TensorOptions(dtype).device(grads[0].device())) : Tensor();
                Tensor gw = need_w ? empty({c}, TensorOptions(dtype).device(grads[0].device())) : Tensor();
                Tensor gb = need_b ? empty({c}, TensorOptions(dtype).device(grads[0].device())) : Tensor();
                const std::vector<double> gamma =
                    bn_detail::read_channels(has_w ? sw.unpack("BatchNormBackward") : Tensor(), c, 1.0);
                kernel::batch_norm_backward(xv, gy, gx, gw, gb, n, c, s, gamma.data(), mean.data(), invstd.data(),
                                            use_batch_stats);
                std::vector<Tensor> result{gx};
                if (has_w) result.push_back(gw);
                if (has_b) result.push_back(gb);
                return result;
            });
    }
    return out;
}
#endif  // FBSEG_OP_DEFINITIONS

}  // namespace fbseg
