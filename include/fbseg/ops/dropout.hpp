// fbseg/ops/dropout.hpp - dropout (each element zeroed with probability p) and dropout2d (whole
// channels zeroed), with the kept values scaled by 1 / (1 - p) so that the expected output equals
// the input ("inverted dropout", as PyTorch).
//
//   y = x * mask,  mask_i = (u_i < 1 - p) / (1 - p),  u_i uniform in [0, 1)
//   dx = dy * mask
// The u_i come from the Generator's counters (core/generator.hpp): one counter per mask element,
// reserved in one block per call, so a run is reproduced exactly from the seed whatever the
// number of threads. When not training, or when p == 0, the op is the identity (it returns x).
#pragma once

#include <cstdint>
#include <string>

#include "fbseg/autograd/function.hpp"
#include "fbseg/core/generator.hpp"
#include "fbseg/ops/cpu/elementwise.hpp"
#include "fbseg/ops/device_check.hpp"
#include "fbseg/ops/factory.hpp"
#include "fbseg/ops/kernel/dropout.hpp"
#include "fbseg/ops/op_library.hpp"

namespace fbseg {

// ---- the ops (defined below, or in libfbseg: ops/op_library.hpp) ----
/// Zeroes each element independently with probability p and scales the rest by 1 / (1 - p).
FBSEG_OP Tensor dropout(const Tensor& x, double p, bool training, Generator& gen = default_generator());
/// Zeroes whole channels: input [N, C, H, W]; each (n, c) plane is kept (scaled by 1 / (1 - p))
/// or zeroed, with probability 1 - p and p.
FBSEG_OP Tensor dropout2d(const Tensor& x, double p, bool training, Generator& gen = default_generator());

#if FBSEG_OP_DEFINITIONS
namespace dropout_detail {

/// y = x * mask, mask of `mask_shape` (broadcast to x's shape), recording dx = dy * mask.
inline Tensor apply(const Tensor& x, double p, const Shape& mask_shape, Generator& gen, const char* op) {
    Tensor mask = empty(mask_shape, options_of(x));
    const std::uint64_t first = gen.reserve(std::uint64_t(mask.numel()));
    kernel::dropout_mask(mask, p, gen, first);
    Tensor out = empty(x.shape(), options_of(x));
    kernel::apply_mask(out, x, mask);
    if (autograd::needs_grad({&x})) {
        autograd::record(std::string(op) == "dropout" ? "DropoutBackward" : "Dropout2dBackward", {&x}, {&out},
                         [mask](const std::vector<Tensor>& grads) {
                             const Tensor& g = grads[0];
                             Tensor gx = empty(g.shape(), options_of(g));
                             kernel::apply_mask(gx, g, mask);
                             return std::vector<Tensor>{gx};
                         });
    }
    return out;
}

inline void check(const char* op, const Tensor& x, double p) {
    FBSEG_CHECK(x.defined(), op, ": input is an undefined tensor");
    FBSEG_CHECK(is_floating(x.dtype()), op, ": expected a floating input but got ", x.describe());
    FBSEG_CHECK(p >= 0.0 && p <= 1.0, op, ": dropout probability has to be between 0 and 1, but got ", p);
}

}  // namespace dropout_detail

FBSEG_OP Tensor dropout(const Tensor& x, double p, bool training, Generator& gen) {
    dropout_detail::check("dropout", x, p);
    if (!training || p == 0.0) return x;
    return dropout_detail::apply(x, p, x.shape(), gen, "dropout");
}

FBSEG_OP Tensor dropout2d(const Tensor& x, double p, bool training, Generator& gen) {
    dropout_detail::check("dropout2d", x, p);
    FBSEG_CHECK(x.dim() == 4, "dropout2d: expected a 4-D input [N, C, H, W] but got ", x.describe());
    if (!training || p == 0.0) return x;
    return dropout_detail::apply(x, p, {x.size(0), x.size(1), 1, 1}, gen, "dropout2d");
}
#endif  // FBSEG_OP_DEFINITIONS

}  // namespace fbseg
