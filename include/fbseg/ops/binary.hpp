// fbseg/ops/binary.hpp - elementwise ops of two tensors with NumPy/PyTorch broadcasting.
//
// Broadcasting: shapes are aligned on the right and a size-1 (or missing) dim is repeated to
// match the other operand, so a [N, C, H, W] tensor plus a [C, 1, 1] tensor adds one value per
// channel. In backward, a broadcast operand receives the *sum* of the gradients of all the output
// elements it took part in: sum_to(grad, operand.shape()) (ops/reduce.hpp).
#pragma once

#include <cmath>

#include "fbseg/autograd/function.hpp"
#include "fbseg/ops/cpu/elementwise.hpp"
#include "fbseg/ops/device_check.hpp"
#include "fbseg/ops/factory.hpp"
#include "fbseg/ops/op_declarations.hpp"
#include "fbseg/ops/kernel/elementwise.hpp"
#include "fbseg/ops/overlap.hpp"
#include "fbseg/ops/unary.hpp"
#include "fbseg/ops/op_library.hpp"

namespace fbseg {

namespace binary {

/// Broadcast shape, checks, and the output tensor.
inline Tensor make_output(const Tensor& a, const Tensor& b, const char* op, DType out_dtype) {
    detail::check_same_device_dtype(op, {&a, &b});
    return empty(broadcast_shapes(a.shape(), b.shape(), op), TensorOptions(out_dtype).device(a.device()));
}

/// out = a + alpha * b through the add kernel's dispatcher (CPU loop or CUDA twin).
inline Tensor compute_add(const Tensor& a, const Tensor& b, double alpha, const char* op) {
    Tensor out = make_output(a, b, op, a.dtype());
    kernel::add(out, a, b, alpha, op);
    return out;
}

/// out = f(a, b) over float32, float64 and int64 through the binary map's dispatcher: `f` on the
/// CPU, the CUDA kernel of `code` (the same formula, kernels/map.cu) on a GPU.
template <typename F>
Tensor compute(const Tensor& a, const Tensor& b, cuda::BinaryOp code, const char* op, F f) {
    Tensor out = make_output(a, b, op, a.dtype());
    kernel::binary_map(out, a, b, code, op, f);
    return out;
}

/// Records the node of a binary op. grad_a / grad_b map (g, a, b) to the *unreduced* gradient
/// (shape of the output); the node sums it down to each operand's shape.
template <typename GradA, typename GradB>
void record(const char* name, const Tensor& a, const Tensor& b, Tensor& out, bool save_a, bool save_b, GradA grad_a,
            GradB grad_b) {
    if (!autograd::needs_grad({&a, &b})) return;
    const bool need_a = a.requires_grad(), need_b = b.requires_grad();
    autograd::SavedTensor sa = save_a ? autograd::SavedTensor(a) : autograd::SavedTensor();
    autograd::SavedTensor sb = save_b ? autograd::SavedTensor(b) : autograd::SavedTensor();
    const std::string node = std::string(name) + "Backward";
    autograd::record(node, {&a, &b}, {&out},
                     [=, shape_a = a.shape(), shape_b = b.shape()](const std::vector<Tensor>& g) {
                         const Tensor va = sa.defined() ? sa.unpack(node) : Tensor();
                         const Tensor vb = sb.defined() ? sb.unpack(node) : Tensor();
                         return std::vector<Tensor>{need_a ? sum_to(grad_a(g[0], va, vb), shape_a) : Tensor(),
                                                    need_b ? sum_to(grad_b(g[0], va, vb), shape_b) : Tensor()};
                     });
}

/// The gradient of maximum/minimum: g where `a` wins, 0 where it loses, g/2 on ties.
inline Tensor select_grad(const Tensor& g, const Tensor& a, const Tensor& b, bool a_is_max) {
    Tensor out = empty(g.shape(), options_of(g));
    kernel::select_grad(out, g, a, b, a_is_max);
    return out;
}

}  // namespace binary

// ---- the ops (defined below, or in libfbseg: ops/op_library.hpp) ----
FBSEG_OP Tensor add(const Tensor& a, const Tensor& b);
FBSEG_OP Tensor sub(const Tensor& a, const Tensor& b);
FBSEG_OP Tensor mul(const Tensor& a, const Tensor& b);
FBSEG_OP Tensor div(const Tensor& a, const Tensor& b);
FBSEG_OP Tensor maximum(const Tensor& a, const Tensor& b);
FBSEG_OP Tensor minimum(const Tensor& a, const Tensor& b);
FBSEG_OP Tensor scalar_like(double value, const Tensor& like);
FBSEG_OP Tensor add(const Tensor& a, double b);
FBSEG_OP Tensor sub(const Tensor& a, double b);
FBSEG_OP Tensor mul(const Tensor& a, double b);
FBSEG_OP Tensor div(const Tensor& a, double b);
FBSEG_OP Tensor operator+(const Tensor& a, const Tensor& b);
FBSEG_OP Tensor operator-(const Tensor& a, const Tensor& b);
FBSEG_OP Tensor operator*(const Tensor& a, const Tensor& b);
FBSEG_OP Tensor operator/(const Tensor& a, const Tensor& b);
FBSEG_OP Tensor operator-(const Tensor& a);
FBSEG_OP Tensor operator+(const Tensor& a, double b);
FBSEG_OP Tensor operator-(const Tensor& a, double b);
FBSEG_OP Tensor operator*(const Tensor& a, double b);
FBSEG_OP Tensor operator/(const Tensor& a, double b);
FBSEG_OP Tensor operator+(double a, const Tensor& b);
FBSEG_OP Tensor operator-(double a, const Tensor& b);
FBSEG_OP Tensor operator*(double a, const Tensor& b);
FBSEG_OP Tensor operator/(double a, const Tensor& b);
FBSEG_OP Tensor& add_(Tensor& self, const Tensor& other);
FBSEG_OP Tensor& sub_(Tensor& self, const Tensor& other);
FBSEG_OP Tensor& mul_(Tensor& self, const Tensor& other);
FBSEG_OP Tensor& div_(Tensor& self, const Tensor& other);
FBSEG_OP Tensor& add_(Tensor& self, double other);
FBSEG_OP Tensor& sub_(Tensor& self, double other);
FBSEG_OP Tensor& mul_(Tensor& self, double other);
FBSEG_OP Tensor& div_(Tensor& self, double other);
FBSEG_OP Tensor& operator+=(Tensor& a, const Tensor& b);
FBSEG_OP Tensor& operator-=(Tensor& a, const Tensor& b);
FBSEG_OP Tensor& operator*=(Tensor& a, const Tensor& b);
FBSEG_OP Tensor& operator/=(Tensor& a, const Tensor& b);
FBSEG_OP Tensor& operator+=(Tensor& a, double b);
FBSEG_OP Tensor& operator-=(Tensor& a, double b);
FBSEG_OP Tensor& operator*=(Tensor& a, double b);
FBSEG_OP Tensor& operator/=(Tensor& a, double b);
FBSEG_OP Tensor gt(const Tensor& a, const Tensor& b);
FBSEG_OP Tensor lt(const Tensor& a, const Tensor& b);
FBSEG_OP Tensor ge(const Tensor& a, const Tensor& b);
FBSEG_OP Tensor le(const Tensor& a, const Tensor& b);
FBSEG_OP Tensor eq(const Tensor& a, const Tensor& b);
FBSEG_OP Tensor ne(const Tensor& a, const Tensor& b);
FBSEG_OP Tensor gt(const Tensor& a, double b);
FBSEG_OP Tensor lt(const Tensor& a, double b);
FBSEG_OP Tensor ge(const Tensor& a, double b);
FBSEG_OP Tensor le(const Tensor& a, double b);
FBSEG_OP Tensor eq(const Tensor& a, double b);
FBSEG_OP Tensor ne(const Tensor& a, double b);
FBSEG_OP Tensor operator>(const Tensor& a, const Tensor& b);
FBSEG_OP Tensor operator<(const Tensor& a, const Tensor& b);
FBSEG_OP Tensor operator>=(const Tensor& a, const Tensor& b);
FBSEG_OP Tensor operator<=(const Tensor& a, const Tensor& b);
FBSEG_OP Tensor operator>(const Tensor& a, double b);
FBSEG_OP Tensor operator<(const Tensor& a, double b);
FBSEG_OP Tensor operator>=(const Tensor& a, double b);
FBSEG_OP Tensor operator<=(const Tensor& a, double b);

#if FBSEG_OP_DEFINITIONS
FBSEG_OP Tensor add(const Tensor& a, const Tensor& b) {
    Tensor out = binary::compute_add(a, b, 1.0, "add");
    binary::record("Add", a, b, out, false, false, [](const Tensor& g, auto&, auto&) { return g; },
                   [](const Tensor& g, auto&, auto&) { return g; });
    return out;
}

FBSEG_OP Tensor sub(const Tensor& a, const Tensor& b) {
    Tensor out = binary::compute_add(a, b, -1.0, "sub");
    binary::record("Sub", a, b, out, false, false, [](const Tensor& g, auto&, auto&) { return g; },
                   [](const Tensor& g, auto&, auto&) { return neg(g); });
    return out;
}

FBSEG_OP Tensor mul(const Tensor& a, const Tensor& b) {
    Tensor out = binary::compute(a, b, cuda::BinaryOp::Mul, "mul", [](auto x, auto y) { return x * y; });
    // d(ab)/da = b, d(ab)/db = a
    binary::record("Mul", a, b, out, b.requires_grad(), a.requires_grad(),
                   [](const Tensor& g, const Tensor&, const Tensor& vb) { return mul(g, vb); },
                   [](const Tensor& g, const Tensor& va, const Tensor&) { return mul(g, va); });
    return out;
}

FBSEG_OP Tensor div(const Tensor& a, const Tensor& b) {
    FBSEG_CHECK(is_floating(a.dtype()), "div: expected floating operands but got ", a.describe());
    Tensor out = binary::compute(a, b, cuda::BinaryOp::Div, "div", [](auto x, auto y) { return x / y; });
    // d(a/b)/da = 1/b, d(a/b)/db = -a/b^2
    binary::record("Div", a, b, out, b.requires_grad(), true,
                   [](const Tensor& g, const Tensor&, const Tensor& vb) { return div(g, vb); },
                   [](const Tensor& g, const Tensor& va, const Tensor& vb) { return neg(div(mul(g, va), mul(vb, vb))); });
    return out;
}

// maximum and minimum propagate NaN (x != x only for NaN), as PyTorch does: a NaN must not be
// swallowed by a comparison that is false for it.
FBSEG_OP Tensor maximum(const Tensor& a, const Tensor& b) {
    Tensor out = binary::compute(a, b, cuda::BinaryOp::Maximum, "maximum", [](auto x, auto y) { return (x != x || x > y) ? x : y; });
    binary::record("Maximum", a, b, out, true, true,
                   [](const Tensor& g, const Tensor& va, const Tensor& vb) { return binary::select_grad(g, va, vb, true); },
                   [](const Tensor& g, const Tensor& va, const Tensor& vb) { return binary::select_grad(g, vb, va, true); });
    return out;
}

FBSEG_OP Tensor minimum(const Tensor& a, const Tensor& b) {
    Tensor out = binary::compute(a, b, cuda::BinaryOp::Minimum, "minimum", [](auto x, auto y) { return (x != x || x < y) ? x : y; });
    binary::record("Minimum", a, b, out, true, true,
                   [](const Tensor& g, const Tensor& va, const Tensor& vb) { return binary::select_grad(g, va, vb, false); },
                   [](const Tensor& g, const Tensor& va, const Tensor& vb) { return binary::select_grad(g, vb, va, false); });
    return out;
}

// ---- with a scalar: the scalar becomes a 0-dim tensor of the other operand's dtype -----------
// An integer tensor meeting a fractional scalar is first converted to float32, as PyTorch
// promotes `torch.arange(5) * 0.5` to float32: the scalar must never be truncated to an integer
// (0.5 would become 0). A whole-number scalar keeps the integer dtype (exact either way).
FBSEG_OP Tensor scalar_like(double value, const Tensor& like) { return scalar_tensor(value, options_of(like)); }
namespace binary {
inline bool needs_float(const Tensor& t, double scalar) {
    return !is_floating(t.dtype()) && scalar != std::trunc(scalar);
}
inline Tensor promoted(const Tensor& t, double scalar) { return needs_float(t, scalar) ? t.to(DType::Float32) : t; }
}  // namespace binary
FBSEG_OP Tensor add(const Tensor& a,
                    double b) { const Tensor p = binary::promoted(a, b); return add(p, scalar_like(b, p)); }
FBSEG_OP Tensor sub(const Tensor& a,
                    double b) { const Tensor p = binary::promoted(a, b); return sub(p, scalar_like(b, p)); }
FBSEG_OP Tensor mul(const Tensor& a,
                    double b) { const Tensor p = binary::promoted(a, b); return mul(p, scalar_like(b, p)); }
FBSEG_OP Tensor div(const Tensor& a, double b) { return div(a, scalar_like(b, a)); }

FBSEG_OP Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
FBSEG_OP Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
FBSEG_OP Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
FBSEG_OP Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
FBSEG_OP Tensor operator-(const Tensor& a) { return neg(a); }
FBSEG_OP Tensor operator+(const Tensor& a, double b) { return add(a, b); }
FBSEG_OP Tensor operator-(const Tensor& a, double b) { return sub(a, b); }
FBSEG_OP Tensor operator*(const Tensor& a, double b) { return mul(a, b); }
FBSEG_OP Tensor operator/(const Tensor& a, double b) { return div(a, b); }
FBSEG_OP Tensor operator+(double a,
                          const Tensor& b) { const Tensor p = binary::promoted(b, a); return add(scalar_like(a, p), p); }
FBSEG_OP Tensor operator-(double a,
                          const Tensor& b) { const Tensor p = binary::promoted(b, a); return sub(scalar_like(a, p), p); }
FBSEG_OP Tensor operator*(double a,
                          const Tensor& b) { const Tensor p = binary::promoted(b, a); return mul(scalar_like(a, p), p); }
FBSEG_OP Tensor operator/(double a, const Tensor& b) { return div(scalar_like(a, b), b); }

// ---- in place: self = self op other (other broadcast to self's shape) ---------------------------
namespace binary {
/// self = compute(self, other): `compute(out, a, b)` is the op's kernel dispatcher (or CPU loop
/// behind its dispatch point). Refuses a self with internal overlap, and reads a copy of `other`
/// when it partially overlaps self (ops/overlap.hpp).
template <typename Compute, typename MakeGrads>
Tensor& apply_(Tensor& self, const Tensor& other, const char* op, Compute compute, MakeGrads make_grads) {
    detail::check_same_device_dtype(op, {&self, &other});
    FBSEG_CHECK(broadcast_shapes(self.shape(), other.shape(), op) == self.shape(), op, ": ", other.describe(),
                " cannot be broadcast to the in-place result ", self.describe());
    overlap::assert_no_internal_overlap(self, op);
    const bool records = autograd::check_inplace(self, op, other.requires_grad());
    Tensor before;  // mul_/div_ need the old self for other's gradient
    if (records && make_grads.needs_old_self) before = self.clone().detach();
    // When other aliases self (x *= x), backward needs other's value from before the write too.
    const bool other_aliases = records && make_grads.needs_other && other.storage() == self.storage();
    const Tensor other_saved = other_aliases ? other.clone().detach() : other;
    compute(self, self, overlap::unaliased_source(self, other));
    self.storage()->bump_version();
    if (records) {
        const bool need_self = self.requires_grad(), need_other = other.requires_grad();
        autograd::SavedTensor so = make_grads.needs_other ? autograd::SavedTensor(other_saved) : autograd::SavedTensor();
        autograd::SavedTensor sb = make_grads.needs_old_self ? autograd::SavedTensor(before) : autograd::SavedTensor();
        const std::string node = std::string(op) + "Backward";
        autograd::record(node, {&self, &other}, {&self},
                         [=, shape_other = other.shape()](const std::vector<Tensor>& g) {
                             const Tensor vo = so.defined() ? so.unpack(node) : Tensor();
                             const Tensor vb = sb.defined() ? sb.unpack(node) : Tensor();
                             return std::vector<Tensor>{
                                 need_self ? make_grads.self(g[0], vb, vo) : Tensor(),
                                 need_other ? sum_to(make_grads.other(g[0], vb, vo), shape_other) : Tensor()};
                         });
    }
    return self;
}

/// Gradient recipes of the in-place ops: (g, old self, other) -> unreduced gradient.
struct AddGrads {
    bool needs_old_self = false, needs_other = false;
    Tensor self(const Tensor& g, const Tensor&, const Tensor&) const { return g; }
    Tensor other(const Tensor& g, const Tensor&, const Tensor&) const { return g; }
};
struct SubGrads {
    bool needs_old_self = false, needs_other = false;
    Tensor self(const Tensor& g, const Tensor&, const Tensor&) const { return g; }
    Tensor other(const Tensor& g, const Tensor&, const Tensor&) const { return neg(g); }
};
struct MulGrads {
    bool needs_old_self = true, needs_other = true;
    Tensor self(const Tensor& g, const Tensor&, const Tensor& o) const { return mul(g, o); }
    Tensor other(const Tensor& g, const Tensor& s, const Tensor&) const { return mul(g, s); }
};
struct DivGrads {
    bool needs_old_self = true, needs_other = true;
    Tensor self(const Tensor& g, const Tensor&, const Tensor& o) const { return div(g, o); }
    Tensor other(const Tensor& g, const Tensor& s, const Tensor& o) const { return neg(div(mul(g, s), mul(o, o))); }
};
}  // namespace binary

namespace binary {
/// The in-place kernels out = f(a, b) through the binary map's dispatcher (CPU loop or CUDA).
template <typename F>
auto inplace_map(cuda::BinaryOp code, const char* op, F f) {
    return [code, op, f](const Tensor& out, const Tensor& a, const Tensor& b) { kernel::binary_map(out, a, b, code, op, f); };
}
}  // namespace binary

FBSEG_OP Tensor& add_(Tensor& self, const Tensor& other) {
    return binary::apply_(
        self, other, "add_", [](const Tensor& o, const Tensor& a, const Tensor& b) { kernel::add(o, a, b, 1.0, "add_"); },
        binary::AddGrads{});
}
FBSEG_OP Tensor& sub_(Tensor& self, const Tensor& other) {
    return binary::apply_(
        self, other, "sub_", [](const Tensor& o, const Tensor& a, const Tensor& b) { kernel::add(o, a, b, -1.0, "sub_"); },
        binary::SubGrads{});
}
FBSEG_OP Tensor& mul_(Tensor& self, const Tensor& other) {
    return binary::apply_(self, other, "mul_", binary::inplace_map(cuda::BinaryOp::Mul, "mul_", [](auto x, auto y) { return x * y; }),
                          binary::MulGrads{});
}
FBSEG_OP Tensor& div_(Tensor& self, const Tensor& other) {
    return binary::apply_(self, other, "div_", binary::inplace_map(cuda::BinaryOp::Div, "div_", [](auto x, auto y) { return x / y; }),
                          binary::DivGrads{});
}
namespace binary {
/// In place, the result keeps self's dtype, so a fractional scalar cannot apply to an integer
/// tensor: refused, as PyTorch does ("result type Float can't be cast to ... Long").
inline void check_inplace_scalar(const Tensor& self, double scalar, const char* op) {
    FBSEG_CHECK(!needs_float(self, scalar), op, ": the result of ", self.describe(), " and the fractional scalar ", scalar,
                " is float32, which cannot be written into a ", dtype_name(self.dtype()),
                " tensor in place; convert it first with .to(DType::Float32)");
}
}  // namespace binary
FBSEG_OP Tensor& add_(Tensor& self,
                      double other) { binary::check_inplace_scalar(self, other, "add_"); return add_(self, scalar_like(other, self)); }
FBSEG_OP Tensor& sub_(Tensor& self,
                      double other) { binary::check_inplace_scalar(self, other, "sub_"); return sub_(self, scalar_like(other, self)); }
FBSEG_OP Tensor& mul_(Tensor& self,
                      double other) { binary::check_inplace_scalar(self, other, "mul_"); return mul_(self, scalar_like(other, self)); }
FBSEG_OP Tensor& div_(Tensor& self, double other) { return div_(self, scalar_like(other, self)); }
FBSEG_OP Tensor& operator+=(Tensor& a, const Tensor& b) { return add_(a, b); }
FBSEG_OP Tensor& operator-=(Tensor& a, const Tensor& b) { return sub_(a, b); }
FBSEG_OP Tensor& operator*=(Tensor& a, const Tensor& b) { return mul_(a, b); }
FBSEG_OP Tensor& operator/=(Tensor& a, const Tensor& b) { return div_(a, b); }
FBSEG_OP Tensor& operator+=(Tensor& a, double b) { return add_(a, b); }
FBSEG_OP Tensor& operator-=(Tensor& a, double b) { return sub_(a, b); }
FBSEG_OP Tensor& operator*=(Tensor& a, double b) { return mul_(a, b); }
FBSEG_OP Tensor& operator/=(Tensor& a, double b) { return div_(a, b); }

// ---- comparisons: bool results, no gradient -----------------------------------------------------
namespace binary {
template <typename F>
Tensor compare(const Tensor& a, const Tensor& b, cuda::BinaryOp code, const char* op, F f) {
    Tensor out = make_output(a, b, op, DType::Bool);
    kernel::binary_map(out, a, b, code, op, f);
    return out;
}
}  // namespace binary

FBSEG_OP Tensor gt(const Tensor& a,
                   const Tensor& b) { return binary::compare(a, b, cuda::BinaryOp::Gt, "gt", [](auto x, auto y) { return x > y; }); }
FBSEG_OP Tensor lt(const Tensor& a,
                   const Tensor& b) { return binary::compare(a, b, cuda::BinaryOp::Lt, "lt", [](auto x, auto y) { return x < y; }); }
FBSEG_OP Tensor ge(const Tensor& a,
                   const Tensor& b) { return binary::compare(a, b, cuda::BinaryOp::Ge, "ge", [](auto x, auto y) { return x >= y; }); }
FBSEG_OP Tensor le(const Tensor& a,
                   const Tensor& b) { return binary::compare(a, b, cuda::BinaryOp::Le, "le", [](auto x, auto y) { return x <= y; }); }
FBSEG_OP Tensor eq(const Tensor& a,
                   const Tensor& b) { return binary::compare(a, b, cuda::BinaryOp::Eq, "eq", [](auto x, auto y) { return x == y; }); }
FBSEG_OP Tensor ne(const Tensor& a,
                   const Tensor& b) { return binary::compare(a, b, cuda::BinaryOp::Ne, "ne", [](auto x, auto y) { return x != y; }); }
FBSEG_OP Tensor gt(const Tensor& a,
                   double b) { const Tensor p = binary::promoted(a, b); return gt(p, scalar_like(b, p)); }
FBSEG_OP Tensor lt(const Tensor& a,
                   double b) { const Tensor p = binary::promoted(a, b); return lt(p, scalar_like(b, p)); }
FBSEG_OP Tensor ge(const Tensor& a,
                   double b) { const Tensor p = binary::promoted(a, b); return ge(p, scalar_like(b, p)); }
FBSEG_OP Tensor le(const Tensor& a,
                   double b) { const Tensor p = binary::promoted(a, b); return le(p, scalar_like(b, p)); }
FBSEG_OP Tensor eq(const Tensor& a,
                   double b) { const Tensor p = binary::promoted(a, b); return eq(p, scalar_like(b, p)); }
FBSEG_OP Tensor ne(const Tensor& a,
                   double b) { const Tensor p = binary::promoted(a, b); return ne(p, scalar_like(b, p)); }
FBSEG_OP Tensor operator>(const Tensor& a, const Tensor& b) { return gt(a, b); }
FBSEG_OP Tensor operator<(const Tensor& a, const Tensor& b) { return lt(a, b); }
FBSEG_OP Tensor operator>=(const Tensor& a, const Tensor& b) { return ge(a, b); }
FBSEG_OP Tensor operator<=(const Tensor& a, const Tensor& b) { return le(a, b); }
FBSEG_OP Tensor operator>(const Tensor& a, double b) { return gt(a, b); }
FBSEG_OP Tensor operator<(const Tensor& a, double b) { return lt(a, b); }
FBSEG_OP Tensor operator>=(const Tensor& a, double b) { return ge(a, b); }
FBSEG_OP Tensor operator<=(const Tensor& a, double b) { return le(a, b); }
#endif  // FBSEG_OP_DEFINITIONS

}  // namespace fbseg
