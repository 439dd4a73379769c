// fbseg/ops/view.hpp - ops that return a view: the same storage seen through another shape,
// strides and offset. No data moves; each one's backward maps the gradient back to the input's
// shape. See docs/tensor.md for the stride arithmetic.
#pragma once

#include <algorithm>
#include <numeric>

#include "fbseg/autograd/function.hpp"
#include "fbseg/ops/op_declarations.hpp"
#include "fbseg/ops/op_library.hpp"

namespace fbseg {

namespace detail {

/// Resolves one -1 in a requested shape from the number of elements.
inline Shape infer_shape(const Shape& requested, std::int64_t numel, std::string_view op) {
    Shape shape = requested;
    std::int64_t known = 1, infer_at = -1;
    for (std::size_t k = 0; k < shape.size(); ++k) {
        if (shape[k] == -1) {
            FBSEG_CHECK(infer_at < 0, op, ": only one dimension can be -1 in ", shape_str(requested));
            infer_at = std::int64_t(k);
        } else {
            FBSEG_CHECK(shape[k] >= 0, op, ": invalid size ", shape[k], " in ", shape_str(requested));
            known = checked_mul(known, shape[k], detail::str(op, ": shape ", shape_str(requested)));
        }
    }
    if (infer_at >= 0) {
        FBSEG_CHECK(known != 0 && numel % known == 0, op, ": shape ", shape_str(requested), " is invalid for ",
                    numel, " elements");
        shape[infer_at] = numel / known;
    }
    FBSEG_CHECK(numel_of(shape) == numel, op, ": shape ", shape_str(requested), " is invalid for an input of ",
                numel, " elements");
    return shape;
}

/// Records a view's backward when the input requires grad and returns the view.
template <typename Backward>
Tensor record_view(const Tensor& input, Tensor out, const char* name, Backward backward) {
    if (autograd::needs_grad({&input})) autograd::record(name, {&input}, {&out}, std::move(backward));
    return out;
}

}  // namespace detail

// The Tensor members below are compiled into libfbseg when it is linked (ops/op_library.hpp).
#if FBSEG_OP_DEFINITIONS
FBSEG_OP Tensor Tensor::view(const Shape& requested) const {
    const Shape shape = detail::infer_shape(requested, numel(), "view");
    FBSEG_CHECK(is_contiguous(), "view: ", describe(),
                " is not contiguous, so it cannot be viewed as ", shape_str(shape), "; use reshape() (which copies)");
    Tensor out = detail::make_view(*this, shape, contiguous_strides(shape), offset());
    return detail::record_view(*this, out, "ViewBackward", [in_shape = this->shape()](const std::vector<Tensor>& g) {
        return std::vector<Tensor>{g[0].reshape(in_shape)};
    });
}

FBSEG_OP Tensor Tensor::reshape(const Shape& requested) const {
    if (is_contiguous()) return view(requested);
    return contiguous().view(requested);
}

FBSEG_OP Tensor Tensor::permute(const Shape& dims) const {
    FBSEG_CHECK(std::int64_t(dims.size()) == dim(), "permute: expected ", dim(), " dims for a tensor of shape ",
                shape_str(shape()), " but got ", shape_str(dims));
    Shape sizes(dims.size()), strides_out(dims.size()), inverse(dims.size(), -1);
    for (std::size_t k = 0; k < dims.size(); ++k) {
        const std::int64_t d = normalize_dim(dims[k], dim(), "permute");
        FBSEG_CHECK(inverse[d] < 0, "permute: dim ", d, " appears twice in ", shape_str(dims));
        inverse[d] = std::int64_t(k);
        sizes[k] = shape()[d];
        strides_out[k] = strides()[d];
    }
    Tensor out = detail::make_view(*this, sizes, strides_out, offset());
    return detail::record_view(*this, out, "PermuteBackward", [inverse](const std::vector<Tensor>& g) {
        return std::vector<Tensor>{g[0].permute(inverse)};
    });
}

FBSEG_OP Tensor Tensor::transpose(std::int64_t dim0, std::int64_t dim1) const {
    FBSEG_CHECK(dim() > 0, "transpose: a 0-dim tensor has no dims to swap (dims ", dim0, " and ", dim1, ")");
    Shape dims(static_cast<std::size_t>(dim()));
    std::iota(dims.begin(), dims.end(), 0);
    std::swap(dims[normalize_dim(dim0, dim(), "transpose")], dims[normalize_dim(dim1, dim(), "transpose")]);
    return permute(dims);
}

FBSEG_OP Tensor Tensor::t() const {
    FBSEG_CHECK(dim() <= 2, "t: expects a tensor of at most 2 dims but got shape ", shape_str(shape()),
                "; use transpose(dim0, dim1)");
    if (dim() < 2) return *this;  // as PyTorch: a vector or a scalar is its own transpose
    return transpose(0, 1);
}

FBSEG_OP Tensor Tensor::slice(std::int64_t d, std::int64_t start, std::int64_t end, std::int64_t step) const {
    FBSEG_CHECK(dim() > 0, "slice: cannot slice a 0-dim tensor (dim ", d, ")");
    d = normalize_dim(d, dim(), "slice");
    FBSEG_CHECK(step > 0, "slice: step must be positive but got ", step);
    const std::int64_t n = shape()[d];
    // Python-style clamping: negative indices count from the end, out-of-range ends are clipped.
    if (start < 0) start += n;
    if (end < 0) end += n;
    start = std::clamp<std::int64_t>(start, 0, n);
    end = std::clamp<std::int64_t>(end, start, n);
    Shape sizes = shape(), strides_out = strides();
    // ceil((end - start) / step), written so that a huge step cannot overflow.
    sizes[d] = end == start ? 0 : 1 + (end - start - 1) / step;
    strides_out[d] *= step;
    Tensor out = detail::make_view(*this, sizes, strides_out, offset() + start * strides()[d]);
    return detail::record_view(*this, out, "SliceBackward",
                               [in = autograd::TensorMeta::of(*this), d, start, end, step](const std::vector<Tensor>& g) {
                                   Tensor grad = zeros(in.shape, TensorOptions(in.dtype).device(in.device));
                                   grad.slice(d, start, end, step).copy_(g[0]);
                                   return std::vector<Tensor>{grad};
                               });
}

FBSEG_OP Tensor Tensor::narrow(std::int64_t d, std::int64_t start, std::int64_t length) const {
    FBSEG_CHECK(dim() > 0, "narrow: cannot narrow a 0-dim tensor (dim ", d, ")");
    d = normalize_dim(d, dim(), "narrow");
    // length <= size - start rather than start + length <= size: the sum could overflow.
    FBSEG_CHECK(start >= 0 && length >= 0 && start <= shape()[d] && length <= shape()[d] - start, "narrow: start ",
                start, " and length ", length, " are out of bounds for dim ", d, " of size ", shape()[d]);
    return slice(d, start, start + length);
}

FBSEG_OP Tensor Tensor::select(std::int64_t d, std::int64_t index) const {
    FBSEG_CHECK(dim() > 0, "select: cannot select (dim ", d, ", index ", index, ") from a 0-dim tensor");
    d = normalize_dim(d, dim(), "select");
    const std::int64_t n = shape()[d];
    FBSEG_CHECK(index >= -n && index < n, "select: index ", index, " is out of range for dim ", d, " of size ", n);
    if (index < 0) index += n;
    return slice(d, index, index + 1).squeeze(d);
}

FBSEG_OP Tensor Tensor::expand(const Shape& requested) const {
    FBSEG_CHECK(requested.size() >= shape().size(), "expand: cannot expand shape ", shape_str(shape()), " to ",
                shape_str(requested), " (fewer dims)");
    const std::size_t lead = requested.size() - shape().size();
    Shape sizes(requested.size()), strides_out(requested.size(), 0);
    for (std::size_t k = 0; k < requested.size(); ++k) {
        if (k < lead) {
            FBSEG_CHECK(requested[k] >= 0, "expand: -1 is not allowed for a new leading dim in ", shape_str(requested));
            sizes[k] = requested[k];
            continue;
        }
        const std::int64_t have = shape()[k - lead];
        FBSEG_CHECK(requested[k] >= -1, "expand: invalid size ", requested[k], " in ", shape_str(requested),
                    " (sizes must be >= 0, or -1 to keep a dim)");
        const std::int64_t want = requested[k] == -1 ? have : requested[k];
        FBSEG_CHECK(have == want || have == 1, "expand: the size of dim ", k - lead, " (", have,
                    ") must match the requested size ", want, " or be 1; shapes ", shape_str(shape()), " -> ",
                    shape_str(requested));
        sizes[k] = want;
        strides_out[k] = have == want ? strides()[k - lead] : 0;
    }
    (void)numel_of(sizes);  // an expansion to more than 2^63 elements is an error here, not later
    Tensor out = detail::make_view(*this, sizes, strides_out, offset());
    return detail::record_view(*this, out, "ExpandBackward", [in_shape = shape()](const std::vector<Tensor>& g) {
        return std::vector<Tensor>{sum_to(g[0], in_shape)};
    });
}

FBSEG_OP Tensor Tensor::squeeze() const {
    Shape sizes, strides_out;
    for (std::int64_t k = 0; k < dim(); ++k) {
        if (shape()[k] == 1) continue;
        sizes.push_back(shape()[k]);
        strides_out.push_back(strides()[k]);
    }
    Tensor out = detail::make_view(*this, sizes, strides_out, offset());
    return detail::record_view(*this, out, "SqueezeBackward", [in_shape = shape()](const std::vector<Tensor>& g) {
        return std::vector<Tensor>{g[0].reshape(in_shape)};
    });
}

FBSEG_OP Tensor Tensor::squeeze(std::int64_t d) const {
    d = normalize_dim(d, dim(), "squeeze");
    if (dim() == 0) return *this;  // as PyTorch: dim 0 or -1 of a 0-dim tensor is accepted, a no-op
    if (shape()[d] != 1) return *this;  // as in PyTorch: squeezing a dim of size > 1 is a no-op
    Shape sizes = shape(), strides_out = strides();
    sizes.erase(sizes.begin() + d);
    strides_out.erase(strides_out.begin() + d);
    Tensor out = detail::make_view(*this, sizes, strides_out, offset());
    return detail::record_view(*this, out, "SqueezeBackward", [in_shape = shape()](const std::vector<Tensor>& g) {
        return std::vector<Tensor>{g[0].reshape(in_shape)};
    });
}

FBSEG_OP Tensor Tensor::unsqueeze(std::int64_t d) const {
    d = normalize_dim(d, dim() + 1, "unsqueeze");
    Shape sizes = shape(), strides_out = strides();
    const std::int64_t stride = d < dim() ? strides()[d] * shape()[d] : 1;
    sizes.insert(sizes.begin() + d, 1);
    strides_out.insert(strides_out.begin() + d, stride);
    Tensor out = detail::make_view(*this, sizes, strides_out, offset());
    return detail::record_view(*this, out, "UnsqueezeBackward", [in_shape = shape()](const std::vector<Tensor>& g) {
        return std::vector<Tensor>{g[0].reshape(in_shape)};
    });
}

FBSEG_OP Tensor Tensor::flatten(std::int64_t start_dim, std::int64_t end_dim) const {
    if (dim() == 0) return reshape({1});
    start_dim = normalize_dim(start_dim, dim(), "flatten");
    end_dim = normalize_dim(end_dim, dim(), "flatten");
    FBSEG_CHECK(start_dim <= end_dim, "flatten: start_dim ", start_dim, " is after end_dim ", end_dim);
    Shape sizes(shape().begin(), shape().begin() + start_dim);
    std::int64_t merged = 1;
    for (std::int64_t k = start_dim; k <= end_dim; ++k) merged *= shape()[k];
    sizes.push_back(merged);
    sizes.insert(sizes.end(), shape().begin() + end_dim + 1, shape().end());
    return reshape(sizes);
}
#endif  // FBSEG_OP_DEFINITIONS

}  // namespace fbseg
