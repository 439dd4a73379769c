// fbseg/ops/join.hpp - ops that assemble tensors: concat, stack, pad, where.
#pragma once

#include <vector>

#include "fbseg/ops/reduce.hpp"
#include "fbseg/ops/op_library.hpp"

namespace fbseg {

// ---- the ops (defined below, or in libfbseg: ops/op_library.hpp) ----
/// Joins tensors along an existing dim; all other dims must match. The gradient of each input
/// is its slice of the output's gradient.
FBSEG_OP Tensor concat(const std::vector<Tensor>& tensors, std::int64_t dim);
/// PyTorch's name for concat (torch.cat), dim 0 by default.
FBSEG_OP Tensor cat(const std::vector<Tensor>& tensors, std::int64_t dim = 0);
/// Joins tensors of one shape along a new dim.
FBSEG_OP Tensor stack(const std::vector<Tensor>& tensors, std::int64_t dim);
/// Constant padding, PyTorch's F.pad convention: `pads` lists (before, after) pairs starting
/// from the LAST dim: {left, right} pads W, {left, right, top, bottom} pads W and H. Negative
/// amounts crop.
FBSEG_OP Tensor pad(const Tensor& x, const std::vector<std::int64_t>& pads, double value = 0.0);
/// Elementwise choice: condition ? a : b, all three broadcast together. condition is bool.
FBSEG_OP Tensor where(const Tensor& condition, const Tensor& a, const Tensor& b);

#if FBSEG_OP_DEFINITIONS
FBSEG_OP Tensor concat(const std::vector<Tensor>& tensors, std::int64_t dim) {
    FBSEG_CHECK(!tensors.empty(), "concat: expected at least one tensor");
    const Tensor& first = tensors[0];
    FBSEG_CHECK(first.dim() > 0, "concat: zero-dimensional tensors cannot be concatenated (", first.describe(),
                "); use stack()");
    dim = normalize_dim(dim, first.dim(), "concat");
    Shape out_shape = first.shape();
    out_shape[dim] = 0;
    for (std::size_t i = 0; i < tensors.size(); ++i) {
        const Tensor& t = tensors[i];
        detail::check_same_device_dtype("concat", {&first, &t});
        bool same = t.dim() == first.dim();
        for (std::int64_t k = 0; same && k < t.dim(); ++k) same = k == dim || t.shape()[k] == first.shape()[k];
        FBSEG_CHECK(same, "concat: tensor ", i, " has shape ", shape_str(t.shape()), " but tensor 0 has shape ",
                    shape_str(first.shape()), "; all dims but dim ", dim, " must match");
        out_shape[dim] += t.shape()[dim];
    }
    Tensor out = empty(out_shape, options_of(first));
    std::vector<std::int64_t> offsets;
    {
        NoGradGuard no_grad;
        std::int64_t offset = 0;
        for (const Tensor& t : tensors) {
            offsets.push_back(offset);
            out.narrow(dim, offset, t.shape()[dim]).copy_(t);
            offset += t.shape()[dim];
        }
    }
    if (autograd::needs_grad(tensors)) {
        std::vector<const Tensor*> inputs;
        std::vector<std::int64_t> lengths;
        for (const Tensor& t : tensors) {
            inputs.push_back(&t);
            lengths.push_back(t.shape()[dim]);
        }
        autograd::record("ConcatBackward", inputs, {&out}, [dim, offsets, lengths](const std::vector<Tensor>& g) {
            std::vector<Tensor> grads;
            for (std::size_t i = 0; i < offsets.size(); ++i) grads.push_back(g[0].narrow(dim, offsets[i], lengths[i]));
            return grads;
        });
    }
    return out;
}

FBSEG_OP Tensor cat(const std::vector<Tensor>& tensors, std::int64_t dim) { return concat(tensors, dim); }

FBSEG_OP Tensor stack(const std::vector<Tensor>& tensors, std::int64_t dim) {
    FBSEG_CHECK(!tensors.empty(), "stack: expected at least one tensor");
    dim = normalize_dim(dim, tensors[0].dim() + 1, "stack");
    std::vector<Tensor> expanded;
    for (std::size_t i = 0; i < tensors.size(); ++i) {
        FBSEG_CHECK(tensors[i].shape() == tensors[0].shape(), "stack: tensor ", i, " has shape ",
                    shape_str(tensors[i].shape()), " but tensor 0 has shape ", shape_str(tensors[0].shape()));
        expanded.push_back(tensors[i].unsqueeze(dim));
    }
    return concat(expanded, dim);
}

FBSEG_OP Tensor pad(const Tensor& x, const std::vector<std::int64_t>& pads, double value) {
    FBSEG_CHECK(pads.size() % 2 == 0 && std::int64_t(pads.size()) <= 2 * x.dim(), "pad: expected an even number of pad "
                "amounts, at most 2 per dim, for a tensor of shape ", shape_str(x.shape()), " but got ", pads.size());
    Shape out_shape = x.shape();
    Tensor cropped = x;  // negative pads first crop the input
    std::vector<std::int64_t> before(std::size_t(x.dim()), 0);
    for (std::size_t p = 0; p < pads.size() / 2; ++p) {
        const std::int64_t d = x.dim() - 1 - std::int64_t(p);
        const std::int64_t lo = pads[2 * p], hi = pads[2 * p + 1];
        out_shape[d] += lo + hi;
        FBSEG_CHECK(out_shape[d] >= 0, "pad: padding ", shape_str(Shape(pads.begin(), pads.end())), " makes dim ", d,
                    " of ", shape_str(x.shape()), " negative");
        cropped = cropped.slice(d, std::max<std::int64_t>(0, -lo), cropped.shape()[d] - std::max<std::int64_t>(0, -hi));
        before[d] = std::max<std::int64_t>(0, lo);
    }
    Tensor out = full(out_shape, value, options_of(x));
    {
        NoGradGuard no_grad;
        Tensor region = out;
        for (std::int64_t d = 0; d < x.dim(); ++d) region = region.narrow(d, before[d], cropped.shape()[d]);
        region.copy_(cropped);
    }
    if (autograd::needs_grad({&x})) {
        // The gradient is the centre region of g, placed back into the (uncropped) input shape.
        autograd::record("PadBackward", {&cropped}, {&out}, [before, shape = cropped.shape()](const std::vector<Tensor>& g) {
            Tensor region = g[0];
            for (std::size_t d = 0; d < shape.size(); ++d) region = region.narrow(std::int64_t(d), before[d], shape[d]);
            return std::vector<Tensor>{region};
        });
    }
    return out;
}

FBSEG_OP Tensor where(const Tensor& condition, const Tensor& a, const Tensor& b) {
    FBSEG_CHECK(condition.dtype() == DType::Bool, "where: condition must be bool but got ", condition.describe());
    detail::check_same_device_dtype("where", {&a, &b});
    FBSEG_CHECK(condition.device() == a.device(), "where: condition ", condition.describe(), " and values ",
                a.describe(), " are on different devices; move one with .to(device)");
    const Shape shape = broadcast_shapes(broadcast_shapes(condition.shape(), a.shape(), "where"), b.shape(), "where");
    Tensor out = empty(shape, options_of(a));
    kernel::where(out, condition, a, b);
    if (autograd::needs_grad({&a, &b})) {
        const bool need_a = a.requires_grad(), need_b = b.requires_grad();
        autograd::record("WhereBackward", {&a, &b}, {&out},
                         [=, saved_cond = autograd::SavedTensor(condition), sa = a.shape(),
                          sb = b.shape()](const std::vector<Tensor>& g) {
                             const Tensor cond = saved_cond.unpack("WhereBackward");
                             const Tensor zero = zeros({}, options_of(g[0]));
                             return std::vector<Tensor>{need_a ? sum_to(where(cond, g[0], zero), sa) : Tensor(),
                                                        need_b ? sum_to(where(cond, zero, g[0]), sb) : Tensor()};
                         });
    }
    return out;
}
#endif  // FBSEG_OP_DEFINITIONS

}  // namespace fbseg
