// fbseg/ops/copy.hpp - filling, copying between dtypes and devices, contiguous() and clone().
#pragma once

#include <cstring>
#include <limits>
#include <type_traits>

#include "fbseg/autograd/function.hpp"
#include "fbseg/ops/cpu/elementwise.hpp"
#include "fbseg/ops/device_check.hpp"
#include "fbseg/ops/forward.hpp"

namespace fbseg {

namespace detail {

/// Converts between element types the way a C++ cast does, except where a cast is undefined:
/// bool(x) is x != 0, and a floating value going to an integer type follows Rust's `as` rules:
/// NaN becomes 0 and values beyond the type's range saturate at its limits (a plain cast of NaN,
/// inf or 1e30 to int64 is undefined behaviour in C++). In range, it truncates toward zero.
template <typename To, typename From>
inline To convert(From v) {
    if constexpr (std::is_same_v<To, bool>) {
        return v != From(0);
    } else if constexpr (std::is_floating_point_v<From> && std::is_integral_v<To>) {
        if (v != v) return To(0);
        // The limits as From: 2^63 is exact in float and double, so `v >= hi` catches every
        // value whose truncation would not fit (INT64_MAX itself is not representable).
        constexpr From lo = From(std::numeric_limits<To>::min());
        constexpr From hi = From(std::numeric_limits<To>::max()) + From(1);
        if (v <= lo) return std::numeric_limits<To>::min();
        if (v >= hi) return std::numeric_limits<To>::max();
        return static_cast<To>(v);
    } else {
        return static_cast<To>(v);
    }
}

/// Copies src (broadcast to dst's shape, any dtype) into dst on the CPU.
inline void cpu_copy(const Tensor& dst, const Tensor& src) {
    dispatch_all(dst.dtype(), "copy_", [&]<typename To>() {
        dispatch_all(src.dtype(), "copy_", [&]<typename From>() {
            cpu::map1<To, From>(dst, src, [](From v) { return convert<To>(v); });
        });
    });
}

}  // namespace detail

inline Tensor& Tensor::fill_(double value) {
    autograd::check_inplace(*this, "fill_", false);
    if (device().is_cpu()) {
        dispatch_all(dtype(), "fill_", [&]<typename T>() {
            cpu::fill<T>(*this, detail::convert<T>(value));
        });
    } else {
#if FBSEG_WITH_CUDA
        FBSEG_CHECK(is_contiguous(), "fill_: non-contiguous CUDA tensors are not supported yet (", describe(), ")");
        cuda::fill(raw_data(), dtype(), numel(), value, device().index);
#else
        FBSEG_FAIL("fill_: ", describe(), " is a CUDA tensor but this build has no CUDA support");
#endif
    }
    storage()->bump_version();
    if (requires_grad() && is_grad_enabled()) {  // the old history no longer describes the data
        storage()->bump_history_version();
        impl()->grad_fn.reset();
        impl()->requires_grad = false;
    }
    return *this;
}

inline Tensor& Tensor::copy_(const Tensor& src) {
    FBSEG_CHECK(src.defined(), "copy_: source is an undefined tensor");
    FBSEG_CHECK(broadcast_shapes(shape(), src.shape(), "copy_") == shape(), "copy_: source ", src.describe(),
                " cannot be broadcast to destination ", describe());
    const bool records = autograd::check_inplace(*this, "copy_", src.requires_grad());
    if (device().is_cpu() && src.device().is_cpu()) {
        detail::cpu_copy(*this, src);
    } else {
#if FBSEG_WITH_CUDA
        // Between devices: bring src to self's dtype and shape contiguously on its own device,
        // then one memcpy. The CUDA path needs self contiguous.
        FBSEG_CHECK(is_contiguous(), "copy_: a non-contiguous CUDA destination is not supported yet (", describe(), ")");
        Tensor staged = src;
        if (src.device().is_cpu()) {
            staged = Tensor::empty(shape(), TensorOptions(dtype()));
            detail::cpu_copy(staged, src);
        } else {
            FBSEG_CHECK(src.dtype() == dtype() && src.shape() == shape() && src.is_contiguous(), "copy_: from ",
                        src.describe(), " to ", describe(),
                        ": CUDA sources must be contiguous and of the destination's dtype and shape for now");
        }
        const std::size_t bytes = std::size_t(numel()) * element_size(dtype());
        if (device().is_cuda() && staged.device().is_cpu())
            cuda::copy_host_to_device(raw_data(), staged.raw_data(), bytes, device().index);
        else if (device().is_cpu())
            cuda::copy_device_to_host(raw_data(), staged.raw_data(), bytes, staged.device().index);
        else
            cuda::copy_device_to_device(raw_data(), staged.raw_data(), bytes, device().index);
#else
        FBSEG_FAIL("copy_: from ", src.describe(), " to ", describe(), ": this build has no CUDA support");
#endif
    }
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

inline Tensor Tensor::contiguous() const {
    if (is_contiguous()) return *this;
    return clone();
}

inline Tensor Tensor::clone() const {
    Tensor out;
    {
        NoGradGuard no_grad;
        out = Tensor::empty(shape(), TensorOptions(dtype()).device(device()));
        if (device().is_cuda() && !is_contiguous()) {
            FBSEG_FAIL("clone: non-contiguous CUDA tensors are not supported yet (", describe(), ")");
        }
        out.copy_(*this);
    }
    if (autograd::needs_grad({this})) {
        autograd::record("CloneBackward", {this}, {&out},
                         [](const std::vector<Tensor>& g) { return std::vector<Tensor>{g[0]}; });
    }
    return out;
}

inline Tensor Tensor::to(DType target) const {
    if (target == dtype()) return *this;
    FBSEG_CHECK(!requires_grad() || is_floating(target), "to: cannot convert ", describe(), " that requires grad to ",
                dtype_name(target), " (gradients need a floating dtype)");
    Tensor out;
    {
        NoGradGuard no_grad;
        out = Tensor::empty(shape(), TensorOptions(target).device(device()));
        FBSEG_CHECK(device().is_cpu(), "to(", dtype_name(target), "): dtype conversion of CUDA tensors is not supported yet");
        detail::cpu_copy(out, *this);
    }
    if (autograd::needs_grad({this})) {
        autograd::record("ToDTypeBackward", {this}, {&out}, [from = dtype()](const std::vector<Tensor>& g) {
            return std::vector<Tensor>{g[0].to(from)};
        });
    }
    return out;
}

inline Tensor Tensor::to(Device target) const {
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

}  // namespace fbseg
