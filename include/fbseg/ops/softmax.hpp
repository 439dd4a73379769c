// fbseg/ops/softmax.hpp - softmax and log_softmax along one dim.
//
//   softmax(x)_i     = exp(x_i - max x) / sum_j exp(x_j - max x)   (subtracting the max avoids overflow)
//   log_softmax(x)_i = (x_i - max x) - log sum_j exp(x_j - max x)
// Gradients (y the output, g its gradient):
//   softmax:     dx = y * (g - sum(g * y))
//   log_softmax: dx = g - exp(y) * sum(g)
#pragma once

#include <cmath>

#include "fbseg/ops/reduce.hpp"

namespace fbseg {

namespace cpu {

/// y = (log_)softmax of a contiguous x viewed as [outer, n, inner], along n.
template <typename T>
void softmax(const T* x, T* y, std::int64_t outer, std::int64_t n, std::int64_t inner, bool log) {
    parallel_for(0, outer * inner, std::max<std::int64_t>(1, kGrainSize / std::max<std::int64_t>(n, 1)),
                 [&](std::int64_t b, std::int64_t e) {
                     for (std::int64_t t = b; t < e; ++t) {
                         const std::int64_t o = t / inner, i = t % inner;
                         const T* px = x + o * n * inner + i;
                         T* py = y + o * n * inner + i;
                         T mx = -std::numeric_limits<T>::infinity();
                         for (std::int64_t j = 0; j < n; ++j) mx = std::max(mx, px[j * inner]);
                         double total = 0;
                         for (std::int64_t j = 0; j < n; ++j) total += std::exp(double(px[j * inner] - mx));
                         if (log) {
                             const T log_total = T(std::log(total));
                             for (std::int64_t j = 0; j < n; ++j) py[j * inner] = px[j * inner] - mx - log_total;
                         } else {
                             for (std::int64_t j = 0; j < n; ++j) py[j * inner] = T(std::exp(double(px[j * inner] - mx)) / total);
                         }
                     }
                 });
}

}  // namespace cpu

namespace detail {
inline Tensor softmax_impl(const Tensor& x, std::int64_t dim, bool log) {
    const char* op = log ? "log_softmax" : "softmax";
    detail::check_cpu(op, {&x});
    const Tensor xc = x.dim() == 0 ? x.reshape({1}) : x;
    dim = normalize_dim(dim, xc.dim(), op);
    const Tensor in = xc.detach().contiguous();
    std::int64_t outer = 1, inner = 1;
    for (std::int64_t k = 0; k < dim; ++k) outer *= xc.shape()[k];
    for (std::int64_t k = dim + 1; k < xc.dim(); ++k) inner *= xc.shape()[k];
    Tensor y = empty(x.shape(), options_of(x));
    dispatch_floating(x.dtype(), op, [&]<typename T>() {
        cpu::softmax<T>(in.data_ptr<T>(), y.data_ptr<T>(), outer, xc.shape()[dim], inner, log);
    });
    if (autograd::needs_grad({&x})) {
        const std::string node = log ? "LogSoftmaxBackward" : "SoftmaxBackward";
        autograd::record(node, {&x}, {&y}, [sy = autograd::SavedTensor(y), dim, log, node, scalar = x.dim() == 0](const std::vector<Tensor>& g) {
            Tensor yv = sy.unpack(node), gv = g[0];
            if (scalar) { yv = yv.reshape({1}); gv = gv.reshape({1}); }
            Tensor gx = log ? sub(gv, mul(exp(yv), sum(gv, {dim}, true)))
                            : mul(yv, sub(gv, sum(mul(gv, yv), {dim}, true)));
            return std::vector<Tensor>{scalar ? gx.reshape({}) : gx};
        });
    }
    return y;
}
}  // namespace detail

inline Tensor softmax(const Tensor& x, std::int64_t dim) { return detail::softmax_impl(x, dim, false); }
inline Tensor log_softmax(const Tensor& x, std::int64_t dim) { return detail::softmax_impl(x, dim, true); }

}  // namespace fbseg
