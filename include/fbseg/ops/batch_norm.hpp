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

namespace fbseg {

namespace bn_detail {

/// A per-channel parameter ([C]) must match the input's channels, dtype and device.
inline void check_param(const char* what, const Tensor& t, const Tensor& input) {
    if (!t.defined()) return;
    FBSEG_CHECK(t.dim() == 1 && t.size(0) == input.size(1), "batch_norm: ", what, " ", shape_str(t.shape()),
                " does not match input ", shape_str(input.shape()), " (expected [", input.size(1), "], one value per channel)");
    FBSEG_CHECK(t.dtype() == input.dtype(), "batch_norm: ", what, " is ", t.describe(), " but input is ", input.describe());
    detail::check_cpu("batch_norm", {&t});
}

/// Values of a per-channel [C] tensor (any stride) as doubles; `fallback` when undefined.
template <typename T>
std::vector<double> read_channels(const Tensor& t, std::int64_t c, double fallback) {
    std::vector<double> out(std::size_t(c), fallback);
    if (!t.defined()) return out;
    const T* p = t.data_ptr<T>();
    for (std::int64_t i = 0; i < c; ++i) out[std::size_t(i)] = double(p[i * t.stride(0)]);
    return out;
}

}  // namespace bn_detail

/// Batch normalisation of input [N, C, ...] (see the header comment). running_mean and
/// running_var ([C], both or neither) are updated in place in training mode; weight (gamma) and
/// bias (beta) are [C] or undefined (1 and 0). In eval mode without running statistics the batch
/// statistics are used, as nn.BatchNorm2d(track_running_stats=False) does.
inline Tensor batch_norm(const Tensor& input, Tensor running_mean, Tensor running_var, const Tensor& weight,
                         const Tensor& bias, bool training, double momentum = 0.1, double eps = 1e-5) {
    FBSEG_CHECK(input.defined(), "batch_norm: input is an undefined tensor");
    detail::check_cpu("batch_norm", {&input});
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

    dispatch_floating(input.dtype(), "batch_norm", [&]<typename T>() {
        const T* px = x.data_ptr<T>();
        T* py = out.data_ptr<T>();
        const std::vector<double> gamma = bn_detail::read_channels<T>(weight, c, 1.0);
        const std::vector<double> beta = bn_detail::read_channels<T>(bias, c, 0.0);
        std::vector<double> var_unbiased(static_cast<std::size_t>(c));
        if (!use_batch_stats) {
            const std::vector<double> rm = bn_detail::read_channels<T>(running_mean, c, 0.0);
            const std::vector<double> rv = bn_detail::read_channels<T>(running_var, c, 1.0);
            for (std::int64_t k = 0; k < c; ++k) {
                mean[std::size_t(k)] = rm[std::size_t(k)];
                invstd[std::size_t(k)] = 1.0 / std::sqrt(rv[std::size_t(k)] + eps);
            }
        }
        parallel_for(0, c, 1, [&](std::int64_t c0, std::int64_t c1) {
            for (std::int64_t k = c0; k < c1; ++k) {
                const auto ck = std::size_t(k);
                if (use_batch_stats) {
                    // Pass 1: sums of (x - shift) and its square, shift = the channel's first
                    // value (keeps the variance accurate when |mean| >> std).
                    const double shift = double(px[k * s]);
                    double s1 = 0, s2 = 0;
                    for (std::int64_t i = 0; i < n; ++i) {
                        const T* q = px + (i * c + k) * s;
                        for (std::int64_t j = 0; j < s; ++j) {
                            const double d = double(q[j]) - shift;
                            s1 += d;
                            s2 += d * d;
                        }
                    }
                    const double md = s1 / double(m);
                    const double var = std::max(0.0, s2 / double(m) - md * md);  // biased
                    mean[ck] = shift + md;
                    invstd[ck] = 1.0 / std::sqrt(var + eps);
                    var_unbiased[ck] = var * double(m) / double(m - 1);
                }
                // Pass 2: y = (x - mean) a + beta with a = gamma invstd.
                const T a = T(gamma[ck] * invstd[ck]), mu = T(mean[ck]), b = T(beta[ck]);
                for (std::int64_t i = 0; i < n; ++i) {
                    const T* q = px + (i * c + k) * s;
                    T* o = py + (i * c + k) * s;
                    for (std::int64_t j = 0; j < s; ++j) o[j] = (q[j] - mu) * a + b;
                }
            }
        });
        if (training && running_mean.defined()) {  // in place, outside autograd
            T* rm = running_mean.data_ptr<T>();
            T* rv = running_var.data_ptr<T>();
            const std::int64_t sm = running_mean.stride(0), sv = running_var.stride(0);
            for (std::int64_t k = 0; k < c; ++k) {
                rm[k * sm] = T((1.0 - momentum) * double(rm[k * sm]) + momentum * mean[std::size_t(k)]);
                rv[k * sv] = T((1.0 - momentum) * double(rv[k * sv]) + momentum * var_unbiased[std::size_t(k)]);
            }
            running_mean.storage()->bump_version();
            running_var.storage()->bump_version();
        }
    });

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
                dispatch_floating(dtype, "batch_norm_backward", [&]<typename T>() {
                    const std::vector<double> gamma =
                        bn_detail::read_channels<T>(has_w ? sw.unpack("BatchNormBackward") : Tensor(), c, 1.0);
                    const T* px = xv.data_ptr<T>();
                    const T* pg = gy.data_ptr<T>();
                    parallel_for(0, c, 1, [&](std::int64_t c0, std::int64_t c1) {
                        for (std::int64_t k = c0; k < c1; ++k) {
                            const auto ck = std::size_t(k);
                            const double mu = mean[ck], is = invstd[ck];
                            // Pass 1: sum dy and sum dy * xhat.
                            double sum_dy = 0, sum_dy_xhat = 0;
                            for (std::int64_t i = 0; i < n; ++i) {
                                const T* q = px + (i * c + k) * s;
                                const T* d = pg + (i * c + k) * s;
                                for (std::int64_t j = 0; j < s; ++j) {
                                    sum_dy += double(d[j]);
                                    sum_dy_xhat += double(d[j]) * (double(q[j]) - mu);
                                }
                            }
                            sum_dy_xhat *= is;
                            if (need_w) gw.data_ptr<T>()[k] = T(sum_dy_xhat);
                            if (need_b) gb.data_ptr<T>()[k] = T(sum_dy);
                            if (!need_x) continue;
                            // Pass 2:
                            //   training: dx = a (dy - sum_dy / M) - a invstd^2 (sum_dy_xhat / (M invstd)) (x - mean)
                            //             = gamma invstd (dy - sum_dy / M - xhat sum_dy_xhat / M)
                            //   eval:     dx = a dy,  with a = gamma invstd
                            const double a = gamma[ck] * is;
                            const double mean_dy = use_batch_stats ? sum_dy / double(m) : 0.0;
                            const double kx = use_batch_stats ? a * is * sum_dy_xhat / double(m) : 0.0;
                            const T ta = T(a), tmd = T(mean_dy), tk = T(kx), tmu = T(mu);
                            T* pdx = gx.data_ptr<T>();
                            for (std::int64_t i = 0; i < n; ++i) {
                                const T* q = px + (i * c + k) * s;
                                const T* d = pg + (i * c + k) * s;
                                T* o = pdx + (i * c + k) * s;
                                for (std::int64_t j = 0; j < s; ++j) o[j] = ta * (d[j] - tmd) - tk * (q[j] - tmu);
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

}  // namespace fbseg
