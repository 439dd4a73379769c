// fbseg/ops/index.hpp - ops that pick, reorder or repeat elements: gather, masked_fill, flip,
// repeat, cumsum, topk. Each one checks its operands, computes through its kernel's one dispatch
// point (ops/kernel/index.hpp, CPU kernels in ops/cpu/index.hpp) and records one backward node;
// the formulas are next to each op.
#pragma once

#include <algorithm>
#include <memory>
#include <vector>

#include "fbseg/ops/kernel/index.hpp"
#include "fbseg/ops/reduce.hpp"
#include "fbseg/ops/op_library.hpp"

namespace fbseg {

// ---- the ops (defined below, or in libfbseg: ops/op_library.hpp) ----
/// Picks values along `dim` at the positions given by an int64 `index` (torch.gather):
///   out[i][j][k] = x[index[i][j][k]][j][k]   (dim 0),   x[i][index[i][j][k]][k]   (dim 1), ...
/// out has index's shape; index has x's rank and is no larger than x off `dim`.
/// Gradient: dx = zeros_like(x) with g added at the same positions (a scatter-add: a position
/// picked twice receives both gradients).
FBSEG_OP Tensor gather(const Tensor& x, std::int64_t dim, const Tensor& index);
/// Replaces the elements where a bool `mask` (broadcast to x's shape) is true:
///   out = mask ? value : x.
/// Gradient: dx = mask ? 0 : g (a filled element no longer depends on x).
FBSEG_OP Tensor masked_fill(const Tensor& x, const Tensor& mask, double value);
/// In place: x = mask ? value : x. Same gradient as masked_fill.
FBSEG_OP Tensor& masked_fill_(Tensor& x, const Tensor& mask, double value);
/// Reverses the order of the elements along each of `dims` (torch.flip); a copy, as in PyTorch.
///   out[.., i_d, ..] = x[.., n_d - 1 - i_d, ..]
/// Used for flip test-time augmentation: predict(flip(x, {3})) flipped back with flip(.., {3}).
/// Gradient: dx = flip(g, dims).
FBSEG_OP Tensor flip(const Tensor& x, const Shape& dims);
/// Tiles x (torch.Tensor.repeat): repeats[d] copies along each dim; when repeats has more entries
/// than x has dims, x is first viewed with leading 1s. out shape: repeats[d] * size[d].
///   out[(a_d * s_d + b_d)_d] = x[(b_d)_d]
/// Gradient: dx = g viewed as [r_0, s_0, r_1, s_1, ...], summed over every r_d.
FBSEG_OP Tensor repeat(const Tensor& x, const Shape& repeats);
/// Running sum along dim (torch.cumsum): out[.., j, ..] = sum_{j' <= j} x[.., j', ..].
/// float32, float64 and int64; the sum is accumulated in double (int64 for int64).
/// Gradient: the reverse running sum, dx[.., j, ..] = sum_{j' >= j} g[.., j', ..].
FBSEG_OP Tensor cumsum(const Tensor& x, std::int64_t dim);
/// The k largest (largest = true) or smallest elements along dim, with their int64 positions
/// (torch.topk). sorted: best first; otherwise in the order of their positions. Ties go to the
/// lower position; NaN counts as larger than every number.
/// Gradient: g scattered to the chosen positions, zero elsewhere.
FBSEG_OP ValuesIndices topk(const Tensor& x, std::int64_t k, std::int64_t dim = -1, bool largest = true,
                            bool sorted = true);

#if FBSEG_OP_DEFINITIONS
namespace detail {

/// The index tensor of gather / the positions of topk: int64, same rank as the input.
inline void check_index(const char* op, const Tensor& x, std::int64_t dim, const Tensor& index) {
    FBSEG_CHECK(index.defined(), op, ": index is an undefined tensor");
    FBSEG_CHECK(index.dtype() == DType::Int64, op, ": index must be int64 but got ", index.describe());
    FBSEG_CHECK(index.device() == x.device(), op, ": input ", x.describe(), " and index ", index.describe(),
                " are on different devices");
    FBSEG_CHECK(index.dim() == x.dim(), op, ": index ", shape_str(index.shape()),
                " must have as many dims as the input ", shape_str(x.shape()));
    for (std::int64_t d = 0; d < x.dim(); ++d)
        FBSEG_CHECK(d == dim || index.shape()[d] <= x.shape()[d], op, ": index ", shape_str(index.shape()),
                    " is larger than the input ", shape_str(x.shape()), " in dim ", d, " (only dim ", dim,
                    " may be larger)");
}

/// zeros(shape) with g scattered-added at `index` along dim: the gradient of gather and topk.
/// g and index have one shape.
inline Tensor scatter_add_into(const autograd::TensorMeta& in, std::int64_t dim, const Tensor& index, const Tensor& g) {
    Tensor grad = zeros(in.shape, TensorOptions(in.dtype).device(in.device));
    kernel::scatter_add(grad, g.contiguous(), index.contiguous(), dim);
    return grad;
}

}  // namespace detail

FBSEG_OP Tensor gather(const Tensor& x, std::int64_t dim, const Tensor& index) {
    FBSEG_CHECK(x.defined(), "gather: input is an undefined tensor");
    dim = normalize_dim(dim, std::max<std::int64_t>(x.dim(), 1), "gather");
    detail::check_index("gather", x, dim, index);
    const Tensor ic = index.contiguous();
    Tensor out = empty(index.shape(), options_of(x));
    kernel::gather(x, ic, out, dim);
    if (autograd::needs_grad({&x})) {
        autograd::record(
            "GatherBackward", {&x}, {&out},
            [in = autograd::TensorMeta::of(x), dim, si = autograd::SavedTensor(ic)](const std::vector<Tensor>& g) {
                return std::vector<Tensor>{detail::scatter_add_into(in, dim, si.unpack("GatherBackward"), g[0])};
            });
    }
    return out;
}

namespace detail {
inline void check_mask(const char* op, const Tensor& x, const Tensor& mask) {
    FBSEG_CHECK(x.defined() && mask.defined(), op, ": input and mask must be defined");
    FBSEG_CHECK(mask.dtype() == DType::Bool, op, ": mask must be bool but got ", mask.describe());
    FBSEG_CHECK(mask.device() == x.device(), op, ": input ", x.describe(), " and mask ", mask.describe(),
                " are on different devices");
    FBSEG_CHECK(broadcast_shapes(x.shape(), mask.shape(), op) == x.shape(), op, ": mask ", shape_str(mask.shape()),
                " does not broadcast to the input's shape ", shape_str(x.shape()));
}
}  // namespace detail

FBSEG_OP Tensor masked_fill(const Tensor& x, const Tensor& mask, double value) {
    detail::check_mask("masked_fill", x, mask);
    Tensor out = empty(x.shape(), options_of(x));
    kernel::masked_fill(out, x, mask, value);
    if (autograd::needs_grad({&x})) {
        autograd::record("MaskedFillBackward", {&x}, {&out},
                         [sm = autograd::SavedTensor(mask)](const std::vector<Tensor>& g) {
                             return std::vector<Tensor>{masked_fill(g[0], sm.unpack("MaskedFillBackward"), 0.0)};
                         });
    }
    return out;
}

FBSEG_OP Tensor& masked_fill_(Tensor& x, const Tensor& mask, double value) {
    detail::check_mask("masked_fill_", x, mask);
    const bool records = autograd::check_inplace(x, "masked_fill_", false);
    kernel::masked_fill(x, x, mask, value);
    x.storage()->bump_version();
    if (records) {
        autograd::record("MaskedFill_Backward", {&x}, {&x},
                         [sm = autograd::SavedTensor(mask)](const std::vector<Tensor>& g) {
                             return std::vector<Tensor>{masked_fill(g[0], sm.unpack("MaskedFill_Backward"), 0.0)};
                         });
    }
    return x;
}

FBSEG_OP Tensor flip(const Tensor& x, const Shape& dims) {
    FBSEG_CHECK(x.defined(), "flip: input is an undefined tensor");
    const std::size_t nd = std::size_t(std::max<std::int64_t>(x.dim(), 1));
    std::unique_ptr<bool[]> flipped(new bool[nd]());  // per dim: is it reversed?
    for (auto d : dims) {
        const std::int64_t k = normalize_dim(d, std::int64_t(nd), "flip");
        FBSEG_CHECK(!flipped[std::size_t(k)], "flip: dim ", k, " appears twice in ", shape_str(dims));
        flipped[std::size_t(k)] = true;
    }
    Tensor out = empty(x.shape(), options_of(x));
    kernel::flip(x, out, flipped.get());
    if (autograd::needs_grad({&x})) {
        autograd::record("FlipBackward", {&x}, {&out},
                         [dims](const std::vector<Tensor>& g) { return std::vector<Tensor>{flip(g[0], dims)}; });
    }
    return out;
}

FBSEG_OP Tensor repeat(const Tensor& x, const Shape& repeats) {
    FBSEG_CHECK(x.defined(), "repeat: input is an undefined tensor");
    FBSEG_CHECK(std::int64_t(repeats.size()) >= x.dim(), "repeat: ", repeats.size(), " repeats ", shape_str(repeats),
                " for a tensor of ", x.dim(), " dims ", shape_str(x.shape()),
                "; give at least one per dim (as PyTorch's Tensor.repeat)");
    for (auto r : repeats) FBSEG_CHECK(r >= 0, "repeat: repeats ", shape_str(repeats), " must be >= 0");
    const std::size_t nd = repeats.size();
    Shape in_shape(nd - std::size_t(x.dim()), 1), in_strides(nd - std::size_t(x.dim()), 0);
    in_shape.insert(in_shape.end(), x.shape().begin(), x.shape().end());
    in_strides.insert(in_strides.end(), x.strides().begin(), x.strides().end());
    Shape out_shape(nd);
    for (std::size_t d = 0; d < nd; ++d) out_shape[d] = repeats[d] * in_shape[d];
    Tensor out = empty(out_shape, options_of(x));
    kernel::repeat(x, in_shape, in_strides, repeats, out);
    if (autograd::needs_grad({&x})) {
        autograd::record("RepeatBackward", {&x}, {&out},
                         [x_shape = x.shape(), in_shape, repeats](const std::vector<Tensor>& g) {
                             Shape split, summed;
                             for (std::size_t d = 0; d < repeats.size(); ++d) {
                                 split.insert(split.end(), {repeats[d], in_shape[d]});
                                 summed.push_back(std::int64_t(2 * d));
                             }
                             return std::vector<Tensor>{sum(g[0].reshape(split), summed, false).reshape(x_shape)};
                         });
    }
    return out;
}

namespace detail {
/// cumsum along dim, forward (reverse = false) or from the end (reverse = true, its adjoint).
inline Tensor cumsum_impl(const Tensor& x, std::int64_t dim, bool reverse) {
    const char* op = reverse ? "cumsum_backward" : "cumsum";
    FBSEG_CHECK(x.defined(), op, ": input is an undefined tensor");
    dim = normalize_dim(dim, std::max<std::int64_t>(x.dim(), 1), op);
    const Tensor xc = x.detach().contiguous();
    std::int64_t outer = 1, inner = 1;
    const std::int64_t n = x.dim() == 0 ? 1 : x.shape()[dim];
    for (std::int64_t k = 0; k < dim; ++k) outer *= x.shape()[k];
    for (std::int64_t k = dim + 1; k < x.dim(); ++k) inner *= x.shape()[k];
    Tensor out = empty(x.shape(), options_of(x));
    kernel::cumsum(xc, out, outer, n, inner, reverse);
    if (autograd::needs_grad({&x})) {
        autograd::record(reverse ? "CumsumReverseBackward" : "CumsumBackward", {&x}, {&out},
                         [dim, reverse](const std::vector<Tensor>& g) {
                             return std::vector<Tensor>{cumsum_impl(g[0], dim, !reverse)};
                         });
    }
    return out;
}
}  // namespace detail

FBSEG_OP Tensor cumsum(const Tensor& x, std::int64_t dim) { return detail::cumsum_impl(x, dim, false); }

FBSEG_OP ValuesIndices topk(const Tensor& x, std::int64_t k, std::int64_t dim, bool largest,
                          bool sorted) {
    FBSEG_CHECK(x.defined(), "topk: input is an undefined tensor");
    dim = normalize_dim(dim, std::max<std::int64_t>(x.dim(), 1), "topk");
    const std::int64_t n = x.dim() == 0 ? 1 : x.shape()[dim];
    FBSEG_CHECK(k >= 0 && k <= n && (x.dim() > 0 || k == 1), "topk: k = ", k, " is out of range for dim ", dim,
                " of size ", n, " (input ", shape_str(x.shape()), ")");
    Shape out_shape = x.shape();
    if (x.dim() > 0) out_shape[dim] = k;
    std::int64_t outer = 1, inner = 1;
    for (std::int64_t d = 0; d < dim; ++d) outer *= x.shape()[d];
    for (std::int64_t d = dim + 1; d < x.dim(); ++d) inner *= x.shape()[d];
    const Tensor xc = x.detach().contiguous();
    Tensor values = empty(out_shape, options_of(x));
    Tensor indices = empty(out_shape, TensorOptions(DType::Int64).device(x.device()));
    kernel::topk(xc, values, indices, outer, n, inner, k, largest, sorted);
    if (autograd::needs_grad({&x})) {
        autograd::record(
            "TopkBackward", {&x}, {&values},
            [in = autograd::TensorMeta::of(x), dim, si = autograd::SavedTensor(indices)](const std::vector<Tensor>& g) {
                return std::vector<Tensor>{detail::scatter_add_into(in, dim, si.unpack("TopkBackward"), g[0])};
            });
    }
    return {values, indices};
}
#endif  // FBSEG_OP_DEFINITIONS

}  // namespace fbseg
