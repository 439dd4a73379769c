// fbseg/ops/cpu/batch_norm.hpp - CPU kernels of batch normalisation (formulas in
// ops/batch_norm.hpp). Two passes over the data per channel (statistics, then the affine map);
// the channels run in parallel, and each channel's sums are formed by one task, in a fixed
// order, in double, so results do not depend on the number of threads.
//
// The sums run in vector registers of double (ops/cpu/simd.hpp), two registers per sum: a sum
// added one value at a time waits 4 cycles for the previous addition, a quarter of a value per
// cycle, 10-20x slower than the memory delivers the values. The float32 kernels are compiled
// once per instruction set (the KernelTable's `norm`); their partial sums are grouped by the
// register width, so results differ across instruction sets in the last bits of double.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "fbseg/core/parallel.hpp"
#include "fbseg/ops/cpu/simd.hpp"

namespace fbseg::cpu {

namespace batch_norm_detail {

/// The sums of d = x - shift and of d^2 over x[0, len), added into s1 and s2 lane by lane
/// (the last len % (2 lanes) values into tail1, tail2).
template <typename T>
void add_centered_sums(const T* x, std::int64_t len, double shift, simd::Vec<double>* s1, simd::Vec<double>* s2,
                       double& tail1, double& tail2) {
    constexpr std::int64_t L = simd::kLanes<double>;
    std::int64_t j = 0;
    for (; j + 2 * L <= len; j += 2 * L) {
        for (int u = 0; u < 2; ++u) {
            const simd::Vec<double> d = simd::load_as_double(x + j + u * L) - shift;
            s1[u] += d;
            s2[u] += d * d;
        }
    }
    for (; j < len; ++j) {
        const double d = double(x[j]) - shift;
        tail1 += d;
        tail2 += d * d;
    }
}

/// The sums of dy and of dy (x - mu) over [0, len), as add_centered_sums.
template <typename T>
void add_gradient_sums(const T* x, const T* dy, std::int64_t len, double mu, simd::Vec<double>* s1,
                       simd::Vec<double>* s2, double& tail1, double& tail2) {
    constexpr std::int64_t L = simd::kLanes<double>;
    std::int64_t j = 0;
    for (; j + 2 * L <= len; j += 2 * L) {
        for (int u = 0; u < 2; ++u) {
            const simd::Vec<double> d = simd::load_as_double(dy + j + u * L);
            s1[u] += d;
            s2[u] += d * (simd::load_as_double(x + j + u * L) - mu);
        }
    }
    for (; j < len; ++j) {
        tail1 += double(dy[j]);
        tail2 += double(dy[j]) * (double(x[j]) - mu);
    }
}

/// s[0] + s[1], lane by lane in order, then the tail.
inline double total(const simd::Vec<double>* s, double tail) {
    double t = 0;
    for (std::int64_t l = 0; l < simd::kLanes<double>; ++l) t += s[0][l] + s[1][l];
    return t + tail;
}

}  // namespace batch_norm_detail

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
                simd::Vec<double> v1[2] = {}, v2[2] = {};
                double t1 = 0, t2 = 0;
                for (std::int64_t i = 0; i < n; ++i)
                    batch_norm_detail::add_centered_sums(x + (i * c + k) * s, s, shift, v1, v2, t1, t2);
                const double md = batch_norm_detail::total(v1, t1) / double(m);
                const double var = std::max(0.0, batch_norm_detail::total(v2, t2) / double(m) - md * md);  // biased
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
            simd::Vec<double> v1[2] = {}, v2[2] = {};
            double t1 = 0, t2 = 0;
            for (std::int64_t i = 0; i < n; ++i)
                batch_norm_detail::add_gradient_sums(x + (i * c + k) * s, gy + (i * c + k) * s, s, mu, v1, v2, t1, t2);
            const double sum_dy = batch_norm_detail::total(v1, t1);
            const double sum_dy_xhat = batch_norm_detail::total(v2, t2) * is;
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
