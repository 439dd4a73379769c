// fbseg/ops/softmax.hpp - softmax and log_softmax along one dim.
//
//   softmax(x)_i     = exp(x_i - max x) / sum_j exp(x_j - max x)   (subtracting the max avoids overflow)
//   log_softmax(x)_i = (x_i - max x) - log sum_j exp(x_j - max x)
// Gradients (y the output, g its gradient):
//   softmax:     dx = y * (g - sum(g * y))
//   log_softmax: dx = g - exp(y) * sum(g)
#pragma once

#include <cmath>

#include "fbseg/ops/kernel/softmax.hpp"
#include "fbseg/ops/reduce.hpp"
#include "fbseg/ops/op_library.hpp"

namespace fbseg {

// ---- the ops (defined below, or in libfbseg: ops/op_library.hpp) ----
FBSEG_OP Tensor softmax(const Tensor& x, std::int64_t dim);
FBSEG_OP Tensor log_softmax(const Tensor& x, std::int64_t dim);

#if FBSEG_OP_DEFINITIONS
namespace detail {
inline Tensor softmax_impl(const Tensor& x, std::int64_t dim, bool log) {
    const char* op = log ? "log_softmax" : "softmax";
    FBSEG_CHECK(x.defined(), op, ": input is an undefined tensor");
    const Tensor xc = x.dim() == 0 ? x.reshape({1}) : x;
    dim = normalize_dim(dim, xc.dim(), op);
    const Tensor in = xc.detach().contiguous();
    std::int64_t outer = 1, inner = 1;
    for (std::int64_t k = 0; k < dim; ++k) outer *= xc.shape()[k];
    for (std::int64_t k = dim + 1; k < xc.dim(); ++k) inner *= xc.shape()[k];
    Tensor y = empty(x.shape(), options_of(x));
    kernel::softmax_forward(in, y, outer, xc.shape()[dim], inner, log);
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

FBSEG_OP Tensor softmax(const Tensor& x, std::int64_t dim) { return detail::softmax_impl(x, dim, false); }
FBSEG_OP Tensor log_softmax(const Tensor& x, std::int64_t dim) { return detail::softmax_impl(x, dim, true); }
#endif  // FBSEG_OP_DEFINITIONS

}  // namespace fbseg
