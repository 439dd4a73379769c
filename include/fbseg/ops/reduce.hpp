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
#include "fbseg/ops/view.hpp"

namespace fbseg {

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

/// out[m] = finish(fold over row m), with fold(acc, value). Rows run in parallel; a single long
/// row is split into fixed blocks whose partials are merged in order.
template <typename T, typename Acc, typename Fold, typename Merge, typename Finish>
void rows(const T* in, std::int64_t m, std::int64_t r, Acc init, Fold fold, Merge merge, Finish finish) {
    if (m == 1 && r > cpu::kReduceBlock) {
        const std::int64_t blocks = (r + cpu::kReduceBlock - 1) / cpu::kReduceBlock;
        std::vector<Acc> partial(std::size_t(blocks), init);
        parallel_for(0, blocks, 1, [&](std::int64_t b0, std::int64_t b1) {
            for (std::int64_t b = b0; b < b1; ++b) {
                Acc acc = init;
                const std::int64_t end = std::min(r, (b + 1) * cpu::kReduceBlock);
                for (std::int64_t i = b * cpu::kReduceBlock; i < end; ++i) acc = fold(acc, in[i], i);
                partial[std::size_t(b)] = acc;
            }
        });
        Acc acc = partial[0];
        for (std::size_t b = 1; b < partial.size(); ++b) acc = merge(acc, partial[b]);
        finish(0, acc);
        return;
    }
    parallel_for(0, m, std::max<std::int64_t>(1, cpu::kGrainSize / std::max<std::int64_t>(r, 1)),
                 [&](std::int64_t m0, std::int64_t m1) {
                     for (std::int64_t row = m0; row < m1; ++row) {
                         Acc acc = init;
                         const T* p = in + row * r;
                         for (std::int64_t i = 0; i < r; ++i) acc = fold(acc, p[i], i);
                         finish(row, acc);
                     }
                 });
}

}  // namespace reduce

/// Sum over `dims` (all dims when empty).
inline Tensor sum(const Tensor& x, const Shape& dims_in, bool keepdim) {
    detail::check_cpu("sum", {&x});
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
    dispatch_numeric(x.dtype(), "sum", [&]<typename T>() {
        using Acc = cpu::acc_t<T>;
        T* po = out.data_ptr<T>();
        const Acc scale = Acc(repeats);
        reduce::rows(rows.template data_ptr<T>(), out.numel(), r, Acc(0),
                     [](Acc a, T v, std::int64_t) { return a + Acc(v); }, [](Acc a, Acc b) { return a + b; },
                     [po, scale](std::int64_t i, Acc a) { po[i] = T(a * scale); });
    });
    if (autograd::needs_grad({&x})) {
        autograd::record("SumBackward", {&x}, {&out},
                         [in_shape = x.shape(), keep_shape = reduce::reduced_shape(x.shape(), dims, true)](
                             const std::vector<Tensor>& g) {
                             return std::vector<Tensor>{g[0].reshape(keep_shape).expand(in_shape)};
                         });
    }
    return out;
}

inline Tensor sum(const Tensor& x) { return sum(x, Shape{}, false); }

/// Mean over `dims` (all dims when empty).
inline Tensor mean(const Tensor& x, const Shape& dims_in = {}, bool keepdim = false) {
    FBSEG_CHECK(is_floating(x.dtype()), "mean: expected a floating tensor but got ", x.describe());
    const Shape dims = reduce::normalize_dims(dims_in, x.dim(), "mean");
    std::int64_t n = 1;
    for (auto d : dims) n *= x.shape()[d];
    // n == 0 (an empty dim) gives 0 / 0 = NaN, as in PyTorch: a mean of nothing is undefined.
    return div(sum(x, dims, keepdim), double(n));
}

/// Reduces x to `shape` by summing the dims that broadcasting expanded (the gradient of a
/// broadcast). shape must broadcast to x.shape().
inline Tensor sum_to(const Tensor& x, const Shape& shape) {
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

/// Values and positions of a max or min along one dim.
struct ValuesIndices {
    Tensor values;
    Tensor indices;  // int64
};

namespace reduce {

/// max (is_max) or min along `dim`: values, and the index of the first extreme in each row.
inline ValuesIndices extreme(const Tensor& x, std::int64_t dim, bool keepdim, bool is_max, const char* op) {
    detail::check_cpu(op, {&x});
    FBSEG_CHECK(x.numel() > 0, op, ": cannot reduce an empty tensor ", x.describe());
    const Shape dims{normalize_dim(dim, std::max<std::int64_t>(x.dim(), 1), op)};
    const Shape dims_eff = x.dim() == 0 ? Shape{} : dims;
    const Shape out_shape = reduced_shape(x.shape(), dims_eff, keepdim);
    Tensor values = empty(out_shape, options_of(x));
    Tensor indices = empty(out_shape, TensorOptions(DType::Int64));
    auto [rows_t, r] = as_rows(x, dims_eff);
    dispatch_numeric(x.dtype(), op, [&]<typename T>() {
        T* pv = values.data_ptr<T>();
        std::int64_t* pi = indices.data_ptr<std::int64_t>();
        using Acc = std::pair<T, std::int64_t>;
        // NaN wins, as in PyTorch: once a NaN is seen it is kept.
        auto better = [is_max](T v, T best) { return v != v ? best == best : (is_max ? v > best : v < best); };
        reduce::rows(rows_t.template data_ptr<T>(), values.numel(), r, Acc(T(0), -1),
                     [&](Acc a, T v, std::int64_t i) { return (a.second < 0 || better(v, a.first)) ? Acc(v, i) : a; },
                     [&](Acc a, Acc b) { return better(b.first, a.first) ? b : a; },
                     [&](std::int64_t i, Acc a) {
                         pv[i] = a.first;
                         pi[i] = a.second;
                     });
    });
    if (autograd::needs_grad({&x})) {
        // The gradient goes to the chosen element of each row: scatter g at `indices`.
        autograd::record(std::string(op) + "Backward", {&x}, {&values},
                         [in = autograd::TensorMeta::of(x), d = dims_eff, keepdim, saved_idx = autograd::SavedTensor(indices),
                          name = std::string(op) + "Backward"](const std::vector<Tensor>& g) {
                             // The indices are also returned to the caller: an in-place change to
                             // them before backward is caught by the saved version.
                             const Tensor idx = saved_idx.unpack(name);
                             Tensor grad = zeros(in.shape, TensorOptions(in.dtype));
                             const Shape keep = reduced_shape(in.shape, d, true);
                             const std::int64_t dd = d.empty() ? 0 : d[0];
                             const std::int64_t n = in.shape.empty() ? 1 : in.shape[std::size_t(dd)];
                             std::int64_t inner = 1;
                             for (std::size_t k = std::size_t(dd) + 1; k < in.shape.size(); ++k) inner *= in.shape[k];
                             const Tensor gc = g[0].reshape(keep).contiguous();
                             const std::int64_t* pi = idx.data_ptr<std::int64_t>();
                             dispatch_floating(in.dtype, "max_backward", [&]<typename T>() {
                                 T* pg = grad.data_ptr<T>();
                                 const T* src = gc.data_ptr<T>();
                                 for (std::int64_t o = 0; o < gc.numel(); ++o) {
                                     const std::int64_t outer = o / inner, j = o % inner;
                                     pg[(outer * n + pi[o]) * inner + j] += src[o];
                                 }
                             });
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

inline Tensor max(const Tensor& x) { return reduce::extreme_all(x, true, "max"); }
inline Tensor min(const Tensor& x) { return reduce::extreme_all(x, false, "min"); }
inline ValuesIndices max(const Tensor& x, std::int64_t dim, bool keepdim = false) {
    return reduce::extreme(x, dim, keepdim, true, "max");
}
inline ValuesIndices min(const Tensor& x, std::int64_t dim, bool keepdim = false) {
    return reduce::extreme(x, dim, keepdim, false, "min");
}
/// Index of the (first) largest element along dim; int64, no gradient.
inline Tensor argmax(const Tensor& x, std::int64_t dim, bool keepdim = false) {
    NoGradGuard no_grad;
    return reduce::extreme(x, dim, keepdim, true, "argmax").indices;
}
/// Index of the largest element of the flattened tensor.
inline Tensor argmax(const Tensor& x) { return argmax(x.detach().reshape({-1}), 0); }
/// Index of the (first) smallest element along dim; int64, no gradient.
inline Tensor argmin(const Tensor& x, std::int64_t dim, bool keepdim = false) {
    NoGradGuard no_grad;
    return reduce::extreme(x, dim, keepdim, false, "argmin").indices;
}
/// Index of the smallest element of the flattened tensor.
inline Tensor argmin(const Tensor& x) { return argmin(x.detach().reshape({-1}), 0); }

/// Variance over `dims` (all when empty) with Bessel's correction by default:
///   var = sum((x - mean)^2) / (N - correction).
/// Written with differentiable ops, so its gradient, 2 (x - mean) / (N - correction), comes from
/// the chain rule.
inline Tensor var(const Tensor& x, const Shape& dims_in = {}, std::int64_t correction = 1, bool keepdim = false) {
    FBSEG_CHECK(is_floating(x.dtype()), "var: expected a floating tensor but got ", x.describe());
    const Shape dims = reduce::normalize_dims(dims_in, x.dim(), "var");
    std::int64_t n = 1;
    for (auto d : dims) n *= x.shape()[d];
    const Tensor centered = sub(x, mean(x, dims, true));
    return div(sum(mul(centered, centered), dims, keepdim), double(std::max<std::int64_t>(n - correction, 0)));
}

}  // namespace fbseg
