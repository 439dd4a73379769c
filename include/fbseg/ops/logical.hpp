// fbseg/ops/logical.hpp - any and all: is some / every element non-zero (true for bool)?
// Bool results, no gradient. Any dtype is accepted; a number counts as true when it is not 0
// (NaN counts as true, as in PyTorch).
//   any(x) = x_0 || x_1 || ...   (false for an empty tensor)
//   all(x) = x_0 && x_1 && ...   (true for an empty tensor)
#pragma once

#include "fbseg/ops/kernel/logical.hpp"
#include "fbseg/ops/reduce.hpp"
#include "fbseg/ops/op_library.hpp"

namespace fbseg {

// ---- the ops (defined below, or in libfbseg: ops/op_library.hpp) ----
/// True when some element is non-zero: a 0-dim bool tensor.
FBSEG_OP Tensor any(const Tensor& x);
/// any along one dim.
FBSEG_OP Tensor any(const Tensor& x, std::int64_t dim, bool keepdim = false);
/// True when every element is non-zero: a 0-dim bool tensor.
FBSEG_OP Tensor all(const Tensor& x);
/// all along one dim.
FBSEG_OP Tensor all(const Tensor& x, std::int64_t dim, bool keepdim = false);

#if FBSEG_OP_DEFINITIONS
namespace detail {
/// {dim} normalised; a 0-dim tensor accepts dim 0 or -1 and has nothing to reduce over.
inline Shape one_dim(const Tensor& x, std::int64_t dim, const char* op) {
    FBSEG_CHECK(x.defined(), op, ": input is an undefined tensor");
    const std::int64_t d = normalize_dim(dim, std::max<std::int64_t>(x.dim(), 1), op);
    return x.dim() == 0 ? Shape{} : Shape{d};
}

inline Tensor any_all(const Tensor& x, const Shape& dims_in, bool keepdim, bool is_all) {
    const char* op = is_all ? "all" : "any";
    FBSEG_CHECK(x.defined(), op, ": input is an undefined tensor");
    const Shape dims = reduce::normalize_dims(dims_in, x.dim(), op);
    const Tensor b = x.dtype() == DType::Bool ? x.detach() : x.detach().to(DType::Bool);
    Tensor out = empty(reduce::reduced_shape(x.shape(), dims, keepdim), TensorOptions(DType::Bool).device(x.device()));
    auto [rows, r] = reduce::as_rows(b, dims);
    kernel::any_all(rows, out, r, is_all);
    return out;
}
}  // namespace detail

FBSEG_OP Tensor any(const Tensor& x) { return detail::any_all(x, {}, false, false); }
FBSEG_OP Tensor any(const Tensor& x, std::int64_t dim, bool keepdim) {
    return detail::any_all(x, detail::one_dim(x, dim, "any"), keepdim, false);
}
FBSEG_OP Tensor all(const Tensor& x) { return detail::any_all(x, {}, false, true); }
FBSEG_OP Tensor all(const Tensor& x, std::int64_t dim, bool keepdim) {
    return detail::any_all(x, detail::one_dim(x, dim, "all"), keepdim, true);
}
#endif  // FBSEG_OP_DEFINITIONS

}  // namespace fbseg
