// fbseg/ops/reduce.hpp - reductions: sum, mean, max, min, argmax, var, and sum_to.
//
// A reduction over a set of dims is computed by viewing the input as an [M, R] matrix: the kept
// dims (M output elements) in front, the reduced dims (R elements each) behind, via a permute and
// a contiguous copy. Each output element is then a loop over one row. Sums accumulate in double
// (int64 for integers) and are combined in a fixed order, so results do not depend on the
// number of threads.
#pragma once

#include <algorithm>
#include <limits>
#include <numeric>
#include <utility>

#include "fbseg/ops/binary.hpp"
#include "fbseg/ops/kernel/reduce.hpp"
#include "fbseg/ops/view.hpp"
#include "fbseg/ops/op_library.hpp"

namespace fbseg {

/// Values and positions of a max or min along one dim.
struct ValuesIndices {
    Tensor values;
    Tensor indices;  // int64
};

namespace reduce {

/// Sorted, unique, normalised dims; an empty list means all dims. A 0-dim tensor accepts dim 0
/// and -1 (as PyTorch) and has no dims to reduce: its reduction is the value itself.
inline Shape normalize_dims(const Shape& dims, std::int64_t ndim, std::string_view op) {
    Shape out;
    if (ndim == 0) {
        for (auto d : dims) (void)normalize_dim(d, 0, op);  // throws for anything but 0 and -1
        return out;
    }
    if (dims.empty()) {
        out.resize(std::size_t(ndim));
        std::iota(out.begin(), out.end(), 0);
        return out;
    }
    for (auto d : dims) out.push_back(normalize_dim(d, ndim, op));
    std::sort(out.begin(), out.end());
    FBSEG_CHECK(std::adjacent_find(out.begin(), out.end()) == out.end(), op, ": dims ", shape_str(dims),
                " name a dim twice");
    return out;
}

/// Shape of the result: reduced dims become 1 (keepdim) or disappear.
inline Shape reduced_shape(const Shape& shape, const Shape& dims, bool keepdim) {
    Shape out;
    for (std::int64_t k = 0; k < std::int64_t(shape.size()); ++k) {
        const bool reduced = std::binary_search(dims.begin(), dims.end(), k);
        if (!reduced) out.push_back(shape[k]);
        else if (keepdim) out.push_back(1);
    }
    return out;
}

/// The input as a contiguous [M, R] matrix with the reduced dims last.
inline std::pair<Tensor, std::int64_t> as_rows(const Tensor& x, const Shape& dims) {
    Shape order;
    std::int64_t r = 1;
    for (std::int64_t k = 0; k < x.dim(); ++k)
        if (!std::binary_search(dims.begin(), dims.end(), k)) order.push_back(k);
    for (auto d : dims) {
        order.push_back(d);
        r *= x.shape()[d];
    }
    NoGradGuard no_grad;
    return {x.detach().permute(order).contiguous(), r};
}

/// The fold over rows now lives with the CPU kernels (cpu::fold_rows in ops/cpu/reduce.hpp);
/// this name is kept for code written against it.
template <typename... Args>
void rows(Args&&... args) {
    cpu::fold_rows(std::forward<Args>(args)...);
}

}  // namespace reduce

// ---- the ops (defined below, or in libfbseg: ops/op_library.hpp) ----
/// Sum over `dims` (all dims when empty).
FBSEG_OP Tensor sum(const Tensor& x, const Shape& dims_in, bool keepdim);
FBSEG_OP Tensor sum(const Tensor& x);
/// Mean over `dims` (all dims when empty).
FBSEG_OP Tensor mean(const Tensor& x, const Shape& dims_in = {}, bool keepdim = false);
/// Reduces x to `shape` by summing the dims that broadcasting expanded (the gradient of a
/// broadcast). shape must broadcast to x.shape().
FBSEG_OP Tensor sum_to(const Tensor& x, const Shape& shape);
FBSEG_OP Tensor max(const Tensor& x);
FBSEG_OP Tensor min(const Tensor& x);
FBSEG_OP ValuesIndices max(const Tensor& x, std::int64_t dim, bool keepdim = false);
FBSEG_OP ValuesIndices min(const Tensor& x, std::int64_t dim, bool keepdim = false);
/// Index of the (first) largest element along dim; int64, no gradient.
FBSEG_OP Tensor argmax(const Tensor& x, std::int64_t dim, bool keepdim = false);
/// Index of the largest element of the flattened tensor.
FBSEG_OP Tensor argmax(const Tensor& x);
/// Index of the (first) smallest element along dim; int64, no gradient.
FBSEG_OP Tensor argmin(const Tensor& x, std::int64_t dim, bool keepdim = false);
/// Index of the smallest element of the flattened tensor.
FBSEG_OP Tensor argmin(const Tensor& x);
/// Variance over `dims` (all when empty) with Bessel's correction by default:
///   var = sum((x - mean)^2) / (N - correction).
/// Written with differentiable ops, so its gradient, 2 (x - mean) / (N - correction), comes from
/// the chain rule.
FBSEG_OP Tensor var(const Tensor& x, const Shape& dims_in = {}, std::int64_t correction = 1, bool keepdim = false);

#if FBSEG_OP_DEFINITIONS
FBSEG_OP Tensor sum(const Tensor& x, const Shape& dims_in, bool keepdim) {
    const Shape dims = reduce::normalize_dims(dims_in, x.dim(), "sum");
    Tensor out = empty(reduce::reduced_shape(x.shape(), dims, keepdim), options_of(x));
    // A reduced dim of stride 0 (from expand) repeats one value `size` times: it is summed once and
    // the sum scaled by `size`, so sum(x.expand({1 << 20, 4})) never materialises the expansion.
    Shape sizes = x.shape();
    std::int64_t repeats = 1;
    for (auto d : dims)
        if (x.strides()[d] == 0 && sizes[d] > 1) repeats *= std::exchange(sizes[d], 1);
    const Tensor src = repeats == 1 ? x : detail::make_view(x, sizes, x.strides(), x.offset());
    auto [rows, r] = reduce::as_rows(src, dims);
    kernel::sum_rows(rows, out, r, repeats);
    if (autograd::needs_grad({&x})) {
        autograd::record("SumBackward", {&x}, {&out},
                         [in_shape = x.shape(), keep_shape = reduce::reduced_shape(x.shape(), dims, true)](
                             const std::vector<Tensor>& g) {
                             return std::vector<Tensor>{g[0].reshape(keep_shape).expand(in_shape)};
                         });
    }
    return out;
}

FBSEG_OP Tensor sum(const Tensor& x) { return sum(x, Shape{}, false); }

FBSEG_OP Tensor mean(const Tensor& x, const Shape& dims_in, bool keepdim) {
    FBSEG_CHECK(is_floating(x.dtype()), "mean: expected a floating tensor but got ", x.describe());
    const Shape dims = reduce::normalize_dims(dims_in, x.dim(), "mean");
    std::int64_t n = 1;
    for (auto d : dims) n *= x.shape()[d];
    // n == 0 (an empty dim) gives 0 / 0 = NaN, as in PyTorch: a mean of nothing is undefined.
    return div(sum(x, dims, keepdim), double(n));
}

FBSEG_OP Tensor sum_to(const Tensor& x, const Shape& shape) {
    if (x.shape() == shape) return x;
    const std::size_t lead = std::size_t(x.dim()) - shape.size();
    FBSEG_CHECK(x.dim() >= std::int64_t(shape.size()), "sum_to: cannot reduce ", x.describe(), " to ", shape_str(shape));
    Shape dims;
    for (std::size_t k = 0; k < std::size_t(x.dim()); ++k) {
        if (k < lead) dims.push_back(std::int64_t(k));
        else if (shape[k - lead] == 1 && x.shape()[k] != 1) dims.push_back(std::int64_t(k));
        else FBSEG_CHECK(shape[k - lead] == x.shape()[k], "sum_to: cannot reduce ", x.describe(), " to ", shape_str(shape));
    }
    Tensor s = dims.empty() ? x : sum(x, dims, true);
    return s.reshape(shape);
}


namespace reduce {

/// max (is_max) or min along `dim`: values, and the index of the first extreme in each row.
inline ValuesIndices extreme(const Tensor& x, std::int64_t dim, bool keepdim, bool is_max, const char* op) {
    FBSEG_CHECK(x.defined(), op, ": input is an undefined tensor");
    FBSEG_CHECK(x.numel() > 0, op, ": cannot reduce an empty tensor ", x.describe());
    const Shape dims{normalize_dim(dim, std::max<std::int64_t>(x.dim(), 1), op)};
    const Shape dims_eff = x.dim() == 0 ? Shape{} : dims;
    const Shape out_shape = reduced_shape(x.shape(), dims_eff, keepdim);
    Tensor values = empty(out_shape, options_of(x));
    Tensor indices = empty(out_shape, TensorOptions(DType::Int64).device(x.device()));
    auto [rows_t, r] = as_rows(x, dims_eff);
    kernel::extreme_rows(rows_t, values, indices, r, is_max, op);
    if (autograd::needs_grad({&x})) {
        // The gradient goes to the chosen element of each row: scatter g at `indices`.
        autograd::record(std::string(op) + "Backward", {&x}, {&values},
                         [in = autograd::TensorMeta::of(x), d = dims_eff, keepdim, saved_idx = autograd::SavedTensor(indices),
                          name = std::string(op) + "Backward"](const std::vector<Tensor>& g) {
                             // The indices are also returned to the caller: an in-place change to
                             // them before backward is caught by the saved version.
                             const Tensor idx = saved_idx.unpack(name);
                             Tensor grad = zeros(in.shape, TensorOptions(in.dtype).device(in.device));
                             const std::int64_t dd = d.empty() ? 0 : d[0];
                             const std::int64_t n = in.shape.empty() ? 1 : in.shape[std::size_t(dd)];
                             std::int64_t inner = 1;
                             for (std::size_t k = std::size_t(dd) + 1; k < in.shape.size(); ++k) inner *= in.shape[k];
                             const Tensor gc = g[0].reshape(reduced_shape(in.shape, d, true)).contiguous();
                             kernel::scatter_add_along_dim(grad, gc, idx, gc.numel() / inner, n, inner);
                             (void)keepdim;
                             return std::vector<Tensor>{grad};
                         });
    }
    return {values, indices};
}

/// max or min over all elements; the gradient is shared evenly among ties (as PyTorch does).
inline Tensor extreme_all(const Tensor& x, bool is_max, const char* op) {
    Tensor flat = x.detach().reshape({-1});
    Tensor value = extreme(flat, 0, false, is_max, op).values;
    if (autograd::needs_grad({&x})) {
        autograd::record(std::string(op) + "Backward", {&x}, {&value},
                         [sx = autograd::SavedTensor(x), sv = autograd::SavedTensor(value), name = std::string(op)](
                             const std::vector<Tensor>& g) {
                             const Tensor xv = sx.unpack(name);
                             const Tensor mask = eq(xv, sv.unpack(name).expand(xv.shape())).to(xv.dtype());
                             return std::vector<Tensor>{mul(mask, div(g[0], sum(mask)))};
                         });
    }
    return value;
}

}  // namespace reduce

FBSEG_OP Tensor max(const Tensor& x) { return reduce::extreme_all(x, true, "max"); }
FBSEG_OP Tensor min(const Tensor& x) { return reduce::extreme_all(x, false, "min"); }
FBSEG_OP ValuesIndices max(const Tensor& x, std::int64_t dim, bool keepdim) {
    return reduce::extreme(x, dim, keepdim, true, "max");
}
FBSEG_OP ValuesIndices min(const Tensor& x, std::int64_t dim, bool keepdim) {
    return reduce::extreme(x, dim, keepdim, false, "min");
}
FBSEG_OP Tensor argmax(const Tensor& x, std::int64_t dim, bool keepdim) {
    NoGradGuard no_grad;
    return reduce::extreme(x, dim, keepdim, true, "argmax").indices;
}
FBSEG_OP Tensor argmax(const Tensor& x) { return argmax(x.detach().reshape({-1}), 0); }
FBSEG_OP Tensor argmin(const Tensor& x, std::int64_t dim, bool keepdim) {
    NoGradGuard no_grad;
    return reduce::extreme(x, dim, keepdim, false, "argmin").indices;
}
FBSEG_OP Tensor argmin(const Tensor& x) { return argmin(x.detach().reshape({-1}), 0); }

FBSEG_OP Tensor var(const Tensor& x, const Shape& dims_in, std::int64_t correction, bool keepdim) {
    FBSEG_CHECK(is_floating(x.dtype()), "var: expected a floating tensor but got ", x.describe());
    const Shape dims = reduce::normalize_dims(dims_in, x.dim(), "var");
    std::int64_t n = 1;
    for (auto d : dims) n *= x.shape()[d];
    const Tensor centered = sub(x, mean(x, dims, true));
    return div(sum(mul(centered, centered), dims, keepdim), double(std::max<std::int64_t>(n - correction, 0)));
}
#endif  // FBSEG_OP_DEFINITIONS

}  // namespace fbseg
