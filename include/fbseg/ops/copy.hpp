// fbseg/ops/copy.hpp - filling, copying between dtypes and devices, contiguous() and clone().
//
// The device is chosen in one place per kernel: kernel::fill and kernel::copy
// (ops/kernel/elementwise.hpp) call the CPU loop or its CUDA twin.
#pragma once

#include <cstring>

#include "fbseg/autograd/function.hpp"
#include "fbseg/ops/device_check.hpp"
#include "fbseg/ops/op_declarations.hpp"
#include "fbseg/ops/kernel/elementwise.hpp"
#include "fbseg/ops/overlap.hpp"
#include "fbseg/ops/op_library.hpp"

namespace fbseg {

namespace detail {
/// Converts between element types (cpu::convert: bool(x) is x != 0; float to integer maps NaN to
/// 0 and saturates out-of-range values).
template <typename To, typename From>
inline To convert(From v) {
    return cpu::convert<To>(v);
}
}  // namespace detail

// The Tensor members below are compiled into libfbseg when it is linked (ops/op_library.hpp).
#if FBSEG_OP_DEFINITIONS
FBSEG_OP Tensor& Tensor::fill_(double value) {
    autograd::check_inplace(*this, "fill_", false);
    kernel::fill(*this, value);
    storage()->bump_version();
    if (requires_grad() && is_grad_enabled()) {  // the old history no longer describes the data
        storage()->bump_history_version();
        impl()->grad_fn.reset();
        impl()->requires_grad = false;
    }
    return *this;
}

FBSEG_OP Tensor& Tensor::copy_(const Tensor& src) {
    FBSEG_CHECK(src.defined(), "copy_: source is an undefined tensor");
    FBSEG_CHECK(broadcast_shapes(shape(), src.shape(), "copy_") == shape(), "copy_: source ", src.describe(),
                " cannot be broadcast to destination ", describe());
    overlap::assert_no_internal_overlap(*this, "copy_");
    const bool records = autograd::check_inplace(*this, "copy_", src.requires_grad());
    // x.copy_(x.t()) would read elements it has already written: copy the source first.
    kernel::copy(*this, overlap::unaliased_source(*this, src));
    storage()->bump_version();
    if (records) {
        // d(self)/d(src) is the identity summed over broadcast dims; the old value of self is
        // overwritten, so its gradient is zero.
        Tensor self = *this;
        autograd::record("CopyBackwards", {&self, &src}, {&self},
                         [src_meta = autograd::TensorMeta::of(src)](const std::vector<Tensor>& g) {
                             return std::vector<Tensor>{Tensor(), sum_to(g[0], src_meta.shape)
                                                                      .to(src_meta.dtype)
                                                                      .to(src_meta.device)};
                         });
    } else if (requires_grad() && is_grad_enabled()) {
        storage()->bump_history_version();
        impl()->grad_fn.reset();
        impl()->requires_grad = false;
    }
    return *this;
}

FBSEG_OP Tensor Tensor::contiguous() const {
    if (is_contiguous()) return *this;
    return clone();
}

FBSEG_OP Tensor Tensor::clone() const {
    Tensor out;
    {
        NoGradGuard no_grad;
        out = Tensor::empty(shape(), TensorOptions(dtype()).device(device()));
        out.copy_(*this);
    }
    if (autograd::needs_grad({this})) {
        autograd::record("CloneBackward", {this}, {&out},
                         [](const std::vector<Tensor>& g) { return std::vector<Tensor>{g[0]}; });
    }
    return out;
}

FBSEG_OP Tensor Tensor::to(DType target) const {
    if (target == dtype()) return *this;
    FBSEG_CHECK(!requires_grad() || is_floating(target), "to: cannot convert ", describe(), " that requires grad to ",
                dtype_name(target), " (gradients need a floating dtype)");
    Tensor out;
    {
        NoGradGuard no_grad;
        out = Tensor::empty(shape(), TensorOptions(target).device(device()));
        kernel::copy(out, *this);
    }
    if (autograd::needs_grad({this})) {
        autograd::record("ToDTypeBackward", {this}, {&out}, [from = dtype()](const std::vector<Tensor>& g) {
            return std::vector<Tensor>{g[0].to(from)};
        });
    }
    return out;
}

FBSEG_OP Tensor Tensor::to(Device target) const {
    if (target == device()) return *this;
    Tensor out;
    {
        NoGradGuard no_grad;
        out = Tensor::empty(shape(), TensorOptions(dtype()).device(target));
        out.copy_(contiguous());
    }
    if (autograd::needs_grad({this})) {
        autograd::record("ToDeviceBackward", {this}, {&out}, [from = device()](const std::vector<Tensor>& g) {
            return std::vector<Tensor>{g[0].to(from)};
        });
    }
    return out;
}
#endif  // FBSEG_OP_DEFINITIONS

}  // namespace fbseg
