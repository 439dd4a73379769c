// fbseg/ops/cpu/batch_norm.hpp - CPU kernels of batch normalisation (formulas in
// ops/batch_norm.hpp). Two passes over the data per channel (statistics, then the affine map);
// the channels run in parallel, and each channel's sums are formed by one task, in order, in
// double, so results do not depend on the number of threads.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "fbseg/core/parallel.hpp"

namespace fbseg::cpu {

// batch_norm_forward: y = (x - mean[k]) gamma[k] invstd[k] + beta[k] for channel k
//   x, y: (n, c, s) contiguous (s = values per image and channel)
//   gamma, beta: (c,) doubles (1 and 0 when the layer has none)
//   batch_stats: mean[k], invstd[k] = 1 / sqrt(var + eps) and var_unbiased[k] are computed from
//                x (biased var for the normalisation, var * M / (M - 1) for the running estimate,
//                M = n s); otherwise mean and invstd are inputs and var_unbiased is not touched
template <typename T>
void batch_norm_forward(const T* x, T* y, std::int64_t n, std::int64_t c, std::int64_t s, const double* gamma,
                        const double* beta, bool batch_stats, double eps, double* mean, double* invstd,
                        double* var_unbiased) {
    const std::int64_t m = n * s;
    parallel_for(0, c, 1, [&](std::int64_t c0, std::int64_t c1) {
        for (std::int64_t k = c0; k < c1; ++k) {
            if (batch_stats) {
                // Pass 1: sums of (x - shift) and its square, shift = the channel's first value
                // (keeps the variance accurate when |mean| >> std).
                const double shift = double(x[k * s]);
                double s1 = 0, s2 = 0;
                for (std::int64_t i = 0; i < n; ++i) {
                    const T* q = x + (i * c + k) * s;
                    for (std::int64_t j = 0; j < s; ++j) {
                        const double d = double(q[j]) - shift;
                        s1 += d;
                        s2 += d * d;
                    }
                }
                const double md = s1 / double(m);
                const double var = std::max(0.0, s2 / double(m) - md * md);  // biased
                mean[k] = shift + md;
                invstd[k] = 1.0 / std::sqrt(var + eps);
                var_unbiased[k] = var * double(m) / double(m - 1);
            }
            // Pass 2: y = (x - mean) a + beta with a = gamma invstd.
            const T a = T(gamma[k] * invstd[k]), mu = T(mean[k]), b = T(beta[k]);
            for (std::int64_t i = 0; i < n; ++i) {
                const T* q = x + (i * c + k) * s;
                T* o = y + (i * c + k) * s;
                for (std::int64_t j = 0; j < s; ++j) o[j] = (q[j] - mu) * a + b;
            }
        }
    });
}

// batch_norm_update_running_stats: for each channel k
//   running_mean[k sm] = (1 - momentum) running_mean[k sm] + momentum mean[k]
//   running_var[k sv]  = (1 - momentum) running_var[k sv]  + momentum var_unbiased[k]
//   running_mean, running_var: (c,) with strides sm, sv;  mean, var_unbiased: (c,) doubles
template <typename T>
void batch_norm_update_running_stats(T* running_mean, std::int64_t sm, T* running_var, std::int64_t sv, std::int64_t c,
                                     const double* mean, const double* var_unbiased, double momentum) {
    for (std::int64_t k = 0; k < c; ++k) {
        running_mean[k * sm] = T((1.0 - momentum) * double(running_mean[k * sm]) + momentum * mean[k]);
        running_var[k * sv] = T((1.0 - momentum) * double(running_var[k * sv]) + momentum * var_unbiased[k]);
    }
}

// batch_norm_backward, with xhat = (x - mean) invstd and M = n s:
//   gw[k] = sum dy xhat,  gb[k] = sum dy
//   batch_stats: gx = gamma invstd (dy - sum dy / M - xhat sum(dy xhat) / M)
//   otherwise:   gx = gamma invstd dy
//   x, gy, gx: (n, c, s) contiguous;  gw, gb: (c,);  gamma, mean, invstd: (c,) doubles
//   gx, gw, gb may be null (that gradient is not needed)
template <typename T>
void batch_norm_backward(const T* x, const T* gy, T* gx, T* gw, T* gb, std::int64_t n, std::int64_t c, std::int64_t s,
                         const double* gamma, const double* mean, const double* invstd, bool batch_stats) {
    const std::int64_t m = n * s;
    parallel_for(0, c, 1, [&](std::int64_t c0, std::int64_t c1) {
        for (std::int64_t k = c0; k < c1; ++k) {
            const double mu = mean[k], is = invstd[k];
            // Pass 1: sum dy and sum dy * xhat.
            double sum_dy = 0, sum_dy_xhat = 0;
            for (std::int64_t i = 0; i < n; ++i) {
                const T* q = x + (i * c + k) * s;
                const T* d = gy + (i * c + k) * s;
                for (std::int64_t j = 0; j < s; ++j) {
                    sum_dy += double(d[j]);
                    sum_dy_xhat += double(d[j]) * (double(q[j]) - mu);
                }
            }
            sum_dy_xhat *= is;
            if (gw != nullptr) gw[k] = T(sum_dy_xhat);
            if (gb != nullptr) gb[k] = T(sum_dy);
            if (gx == nullptr) continue;
            // Pass 2:
            //   training: dx = a (dy - sum_dy / M) - a invstd^2 (sum_dy_xhat / (M invstd)) (x - mean)
            //             = gamma invstd (dy - sum_dy / M - xhat sum_dy_xhat / M)
            //   eval:     dx = a dy,  with a = gamma invstd
            const double a = gamma[k] * is;
            const double mean_dy = batch_stats ? sum_dy / double(m) : 0.0;
            const double kx = batch_stats ? a * is * sum_dy_xhat / double(m) : 0.0;
            const T ta = T(a), tmd = T(mean_dy), tk = T(kx), tmu = T(mu);
            for (std::int64_t i = 0; i < n; ++i) {
                const T* q = x + (i * c + k) * s;
                const T* d = gy + (i * c + k) * s;
                T* o = gx + (i * c + k) * s;
                for (std::int64_t j = 0; j < s; ++j) o[j] = ta * (d[j] - tmd) - tk * (q[j] - tmu);
            }
        }
    });
}

}  // namespace fbseg::cpu
