// fbseg/distributed/sync_batch_norm.hpp - batch normalisation whose statistics are those of the
// whole global batch, spread over the ranks of a Communicator (PyTorch's SyncBatchNorm), so that
// N ranks with B/N images each normalise exactly as one process with B images would.
//
// Per channel, with M = the number of values of the channel on all ranks together:
//   forward:  mean = (1/M) all_reduce(sum x)                       (first all-reduce: sums, counts)
//             var  = (1/M) all_reduce(sum (x - mean)^2)            (second: the biased variance)
//             y = gamma (x - mean) / sqrt(var + eps) + beta,  running stats with var M / (M - 1)
//   backward: with xhat = (x - mean) invstd, dyh = dy gamma, and the global sums
//             S = all_reduce(sum dy),  T = all_reduce(sum dy xhat):
//             dx = gamma invstd / M (M dy - S - xhat T)            (as ops/batch_norm.hpp, with M, S, T global)
//             dgamma = sum dy xhat,  dbeta = sum dy                (LOCAL sums: the data-parallel
//                                                                   gradient all-reduce adds the ranks)
// The formula is the single-process one of ops/batch_norm.hpp; only the summation order differs,
// so the results agree with a single process up to float rounding. A group of one calls
// batch_norm itself (bit-identical). CPU tensors take a direct path with double sums; tensors on
// the GPU a composite of tensor ops and all_reduce (sync_batch_norm_composite), whose backward
// autograd derives.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include "fbseg/autograd/function.hpp"
#include "fbseg/core/parallel.hpp"
#include "fbseg/distributed/all_reduce.hpp"
#include "fbseg/distributed/communicator.hpp"
#include "fbseg/ops/batch_norm.hpp"
#include "fbseg/ops/binary.hpp"
#include "fbseg/ops/factory.hpp"
#include "fbseg/ops/reduce.hpp"
#include "fbseg/ops/unary.hpp"

namespace fbseg::distributed {

namespace sync_bn_detail {

/// Per channel k of x (n, c, s) contiguous: out[k] += sum over the channel's values of f(value, k).
template <typename T, typename F>
void channel_sums(const T* x, std::int64_t n, std::int64_t c, std::int64_t s, double* out, F f) {
    parallel_for(0, c, 1, [&](std::int64_t c0, std::int64_t c1) {
        for (std::int64_t k = c0; k < c1; ++k) {
            double acc = 0;
            for (std::int64_t i = 0; i < n; ++i) {
                const T* q = x + (i * c + k) * s;
                for (std::int64_t j = 0; j < s; ++j) acc += f(q[j], k, (i * c + k) * s + j);
            }
            out[k] = acc;
        }
    });
}

}  // namespace sync_bn_detail

/// The same function built from differentiable tensor ops and all_reduce (all_reduce.hpp), for
/// tensors on any device (the GPU path: the sums stay on the GPU, and an NCCL group sums them
/// there). Autograd derives its backward: all_reduce's backward all-reduces the gradients of the
/// global sums, which gives the formula in the header comment. Float32 sums on the device, so it
/// agrees with the CPU path (double sums) up to float32 rounding.
inline Tensor sync_batch_norm_composite(const Tensor& input, Tensor running_mean, Tensor running_var,
                                        const Tensor& weight, const Tensor& bias, double momentum, double eps,
                                        Communicator& group) {
    FBSEG_CHECK(input.defined() && input.dim() >= 2 && is_floating(input.dtype()),
                "sync_batch_norm: expected a floating input [N, C, ...], got ", input.describe());
    bn_detail::check_param("weight", weight, input);
    bn_detail::check_param("bias", bias, input);
    bn_detail::check_param("running_mean", running_mean, input);
    bn_detail::check_param("running_var", running_var, input);
    const std::int64_t c = input.size(1);
    Shape dims{0}, per_channel(std::size_t(input.dim()), 1);  // reduce over all dims but 1; [1, C, 1, ...]
    for (std::int64_t d = 2; d < input.dim(); ++d) dims.push_back(d);
    per_channel[1] = c;
    double m = c == 0 ? 0.0 : double(input.numel() / c);  // values per channel, on all ranks
    group.all_reduce_sum(&m, 1);
    FBSEG_CHECK(m > 1, "sync_batch_norm: expected more than 1 value per channel over all ranks, got ", m);
    const Tensor mean = all_reduce(sum(input, dims), group) / m;                 // [C]
    const Tensor centred = input - mean.view(per_channel);
    const Tensor var = all_reduce(sum(centred * centred, dims), group) / m;     // biased, [C]
    Tensor y = centred / sqrt(var + eps).view(per_channel);
    if (weight.defined()) y = y * weight.view(per_channel);
    if (bias.defined()) y = y + bias.view(per_channel);
    if (running_mean.defined()) {  // in place, outside autograd; the unbiased variance, M / (M - 1)
        NoGradGuard no_grad;
        running_mean.copy_(running_mean * (1.0 - momentum) + mean.detach() * momentum);
        running_var.copy_(running_var * (1.0 - momentum) + var.detach() * (momentum * m / (m - 1)));
    }
    return y;
}

/// Batch normalisation in training mode with statistics over every rank of `group` (see the
/// header comment). Arguments as fbseg::batch_norm; `group` must outlive the backward pass. CPU
/// tensors take the exact path below (double sums); others sync_batch_norm_composite.
inline Tensor sync_batch_norm(const Tensor& input, Tensor running_mean, Tensor running_var, const Tensor& weight,
                              const Tensor& bias, double momentum, double eps, Communicator& group) {
    if (group.size() == 1) return batch_norm(input, running_mean, running_var, weight, bias, true, momentum, eps);
    FBSEG_CHECK(input.defined() && input.dim() >= 2 && is_floating(input.dtype()),
                "sync_batch_norm: expected a floating input [N, C, ...], got ", input.describe());
    if (!input.device().is_cpu())
        return sync_batch_norm_composite(input, running_mean, running_var, weight, bias, momentum, eps, group);
    bn_detail::check_param("weight", weight, input);
    bn_detail::check_param("bias", bias, input);
    bn_detail::check_param("running_mean", running_mean, input);
    bn_detail::check_param("running_var", running_var, input);
    const std::int64_t n = input.size(0), c = input.size(1);
    const std::int64_t s = c == 0 || n == 0 ? 0 : input.numel() / (n * c);
    const Tensor x = input.detach().contiguous();

    // First all-reduce: per-channel sums and the value count M (the last entry).
    const auto channels = std::size_t(c);
    std::vector<double> sums(channels + 1, 0.0), mean(channels, 0.0), invstd(channels, 0.0), var_unbiased(channels, 0.0);
    dispatch_floating(x.dtype(), "sync_batch_norm", [&]<typename T>() {
        sync_bn_detail::channel_sums(x.data_ptr<T>(), n, c, s, sums.data(), [](T v, std::int64_t, std::int64_t) { return double(v); });
    });
    sums[std::size_t(c)] = double(n * s);
    group.all_reduce_sum(sums.data(), sums.size());
    const double m = sums[std::size_t(c)];
    FBSEG_CHECK(m > 1, "sync_batch_norm: expected more than 1 value per channel over all ranks, got ", m);
    for (std::int64_t k = 0; k < c; ++k) mean[std::size_t(k)] = sums[std::size_t(k)] / m;
    // Second all-reduce: sums of squared deviations from the global mean.
    std::vector<double> squares(channels, 0.0);
    dispatch_floating(x.dtype(), "sync_batch_norm", [&]<typename T>() {
        sync_bn_detail::channel_sums(x.data_ptr<T>(), n, c, s, squares.data(), [&](T v, std::int64_t k, std::int64_t) {
            const double d = double(v) - mean[std::size_t(k)];
            return d * d;
        });
    });
    group.all_reduce_sum(squares.data(), squares.size());
    for (std::int64_t k = 0; k < c; ++k) {
        const double var = squares[std::size_t(k)] / m;  // biased
        invstd[std::size_t(k)] = 1.0 / std::sqrt(var + eps);
        var_unbiased[std::size_t(k)] = var * m / (m - 1);
    }

    const std::vector<double> gamma = bn_detail::read_channels(weight, c, 1.0);
    const std::vector<double> beta = bn_detail::read_channels(bias, c, 0.0);
    Tensor out = empty(input.shape(), options_of(input));
    // y with the given (global) statistics: the kernel's batch_stats = false path
    kernel::batch_norm_forward(x, out, n, c, s, gamma.data(), beta.data(), false, eps, mean.data(), invstd.data(),
                               var_unbiased.data());
    if (running_mean.defined()) {
        kernel::batch_norm_update_running_stats(running_mean, running_var, mean.data(), var_unbiased.data(), momentum);
        running_mean.storage()->bump_version();
        running_var.storage()->bump_version();
    }

    if (autograd::needs_grad({&input, &weight, &bias})) {
        const bool has_w = weight.defined(), has_b = bias.defined();
        const bool need_x = input.requires_grad(), need_w = has_w && weight.requires_grad(),
                   need_b = has_b && bias.requires_grad();
        std::vector<const Tensor*> inputs{&input};
        if (has_w) inputs.push_back(&weight);
        if (has_b) inputs.push_back(&bias);
        autograd::SavedTensor sx(x);
        Communicator* g = &group;
        autograd::record(
            "SyncBatchNormBackward", inputs, {&out},
            [=](const std::vector<Tensor>& grads) {
                const Tensor gy = grads[0].contiguous();
                const Tensor xv = sx.unpack("SyncBatchNormBackward");
                // local sums of dy and dy xhat (the parameters' gradients), then their global sums
                std::vector<double> local(2 * std::size_t(c), 0.0);
                dispatch_floating(xv.dtype(), "sync_batch_norm backward", [&]<typename T>() {
                    const T* dy = gy.data_ptr<T>();
                    sync_bn_detail::channel_sums(xv.data_ptr<T>(), n, c, s, local.data(),
                                                 [&](T, std::int64_t, std::int64_t at) { return double(dy[at]); });
                    sync_bn_detail::channel_sums(xv.data_ptr<T>(), n, c, s, local.data() + c,
                                                 [&](T v, std::int64_t k, std::int64_t at) {
                                                     return double(dy[at]) * (double(v) - mean[std::size_t(k)]) *
                                                            invstd[std::size_t(k)];
                                                 });
                });
                std::vector<double> global = local;
                g->all_reduce_sum(global.data(), global.size());
                Tensor gx = need_x ? empty(xv.shape(), options_of(xv)) : Tensor();
                Tensor gw = need_w ? empty({c}, options_of(xv)) : Tensor();
                Tensor gb = need_b ? empty({c}, options_of(xv)) : Tensor();
                dispatch_floating(xv.dtype(), "sync_batch_norm backward", [&]<typename T>() {
                    for (std::int64_t k = 0; k < c; ++k) {
                        if (need_w) gw.data_ptr<T>()[k] = T(local[std::size_t(c + k)]);
                        if (need_b) gb.data_ptr<T>()[k] = T(local[std::size_t(k)]);
                    }
                    if (!need_x) return;
                    const T* q = xv.data_ptr<T>();
                    const T* dy = gy.data_ptr<T>();
                    T* o = gx.data_ptr<T>();
                    parallel_for(0, c, 1, [&](std::int64_t c0, std::int64_t c1) {
                        for (std::int64_t k = c0; k < c1; ++k) {
                            // dx = a (dy - S / M) - a invstd T / M (x - mean), a = gamma invstd
                            const double is = invstd[std::size_t(k)], a = gamma[std::size_t(k)] * is;
                            const double mean_dy = global[std::size_t(k)] / m;
                            const double kx = a * is * global[std::size_t(c + k)] / m;
                            const double mu = mean[std::size_t(k)];
                            for (std::int64_t i = 0; i < n; ++i)
                                for (std::int64_t j = 0; j < s; ++j) {
                                    const std::int64_t at = (i * c + k) * s + j;
                                    o[at] = T(a * (double(dy[at]) - mean_dy) - kx * (double(q[at]) - mu));
                                }
                        }
                    });
                });
                std::vector<Tensor> result{gx};
                if (has_w) result.push_back(gw);
                if (has_b) result.push_back(gb);
                return result;
            });
    }
    return out;
}

}  // namespace fbseg::distributed
