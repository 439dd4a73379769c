// fbseg/ops/kernel/index.hpp - the device seam of the indexing kernels (gather and its
// scatter-add, masked_fill, flip, repeat, cumsum, topk). gather, scatter_add and cumsum have CUDA
// twins (kernels/index.cu), masked_fill and flip go through the maps (kernels/map.cu: where and
// the converting copy); repeat and topk are CPU only so far. Each function is the one
// place its kernel's device is chosen; see ops/kernel/elementwise.hpp for the pattern and
// docs/architecture.md, "The device seam".
#pragma once

#include <cstdint>

#include "fbseg/core/tensor.hpp"
#include "fbseg/ops/cpu/elementwise.hpp"
#include "fbseg/ops/cpu/index.hpp"
#include "fbseg/ops/device_check.hpp"
#include "fbseg/ops/factory.hpp"
#include "fbseg/ops/kernel/elementwise.hpp"
#include "fbseg/ops/kernel/seam.hpp"

namespace fbseg::kernel {

// The kernels of this file. Against libfbseg only these declarations are seen; the definitions
// below are compiled once, in the library (ops/kernel/seam.hpp).
FBSEG_SEAM void gather(const Tensor& x, const Tensor& index, const Tensor& out, std::int64_t dim);
FBSEG_SEAM void scatter_add(const Tensor& grad, const Tensor& g, const Tensor& index, std::int64_t dim);
FBSEG_SEAM void masked_fill(const Tensor& out, const Tensor& x, const Tensor& mask, double value);
FBSEG_SEAM void flip(const Tensor& x, const Tensor& out, const bool* flipped);
FBSEG_SEAM void repeat(const Tensor& x, const Shape& in_shape, const Shape& in_strides, const Shape& repeats,
                       const Tensor& out);
FBSEG_SEAM void cumsum(const Tensor& x, const Tensor& out, std::int64_t outer, std::int64_t n, std::int64_t inner,
                       bool reverse);
FBSEG_SEAM void topk(const Tensor& x, const Tensor& values, const Tensor& indices, std::int64_t outer, std::int64_t n,
                     std::int64_t inner, std::int64_t k, bool largest, bool sorted);

/// out = x gathered along dim at `index` (contiguous int64, out's shape): see cpu::gather.
/// Every index must lie in [0, x.size(dim)); the CPU path checks them as it reads them, the CUDA
/// kernel (cuda::gather: x strided, rank <= cuda::kMaxDims; index and out contiguous) on the
/// device, and both throw naming the bad index.
#if FBSEG_SEAM_DEFINITIONS
FBSEG_SEAM void gather(const Tensor& x, const Tensor& index, const Tensor& out, std::int64_t dim) {
    if (x.device().is_cuda() || index.device().is_cuda() || out.device().is_cuda()) {
        const auto cuda_gather = cuda_twin(cuda::backend("gather").gather, "gather");
        FBSEG_CHECK(x.device() == index.device() && x.device() == out.device() && index.is_contiguous() &&
                        out.is_contiguous() && x.dim() <= cuda::kMaxDims,
                    "gather: CUDA operands must be on one device, index and out contiguous, rank <= ", cuda::kMaxDims,
                    " (", x.describe(), ", ", index.describe(), ", ", out.describe(), ")");
        cuda_gather(x.dtype(), x.raw_data(), x.shape().data(), x.strides().data(),
                    index.device_data_ptr<std::int64_t>(), index.shape().data(), int(index.dim()), dim, out.raw_data(),
                    x.device().index);
        return;
    }
    const std::int64_t n = x.dim() == 0 ? 1 : x.shape()[std::size_t(dim)];
    const std::int64_t* pi = index.data_ptr<std::int64_t>();
    for (std::int64_t i = 0; i < index.numel(); ++i)
        FBSEG_CHECK(pi[i] >= 0 && pi[i] < n, "gather: index ", pi[i], " is out of range for dim ", dim, " of size ", n,
                    " (input ", shape_str(x.shape()), ", index ", shape_str(index.shape()), ")");
    dispatch_numeric(x.dtype(), "gather", [&]<typename T>() {
        cpu::gather<T>(x.data_ptr<T>(), x.strides().data(), pi, index.shape().data(), index.dim(), dim,
                       out.data_ptr<T>());
    });
}
#endif

/// grad (contiguous, zero-filled by the caller) += g scattered along dim at `index`; g and index
/// contiguous, of one shape: see cpu::scatter_add (the gradient of gather and topk).
/// CUDA: cuda::scatter_add (float32, float64; rank <= cuda::kMaxDims), every operand contiguous.
#if FBSEG_SEAM_DEFINITIONS
FBSEG_SEAM void scatter_add(const Tensor& grad, const Tensor& g, const Tensor& index, std::int64_t dim) {
    if (grad.device().is_cuda() || g.device().is_cuda() || index.device().is_cuda()) {
        const auto cuda_scatter = cuda_twin(cuda::backend("scatter_add").scatter_add, "scatter_add");
        FBSEG_CHECK(grad.device() == g.device() && grad.device() == index.device() && grad.is_contiguous() &&
                        g.is_contiguous() && index.is_contiguous() && grad.dim() <= cuda::kMaxDims,
                    "scatter_add: CUDA operands must be contiguous, on one device, rank <= ", cuda::kMaxDims, " (",
                    grad.describe(), ", ", g.describe(), ", ", index.describe(), ")");
        cuda_scatter(grad.dtype(), g.raw_data(), index.device_data_ptr<std::int64_t>(), index.shape().data(),
                     int(index.dim()), dim, grad.raw_data(), grad.shape().data(), grad.device().index);
        return;
    }
    dispatch_floating(grad.dtype(), "scatter_add", [&]<typename T>() {
        cpu::scatter_add<T>(g.data_ptr<T>(), index.data_ptr<std::int64_t>(), index.shape().data(), index.dim(), dim,
                            grad.data_ptr<T>(), grad.shape().data());
    });
}
#endif

/// out = mask ? value : x, mask (bool) broadcast to x's shape; out may be x: see cpu::masked_fill.
#if FBSEG_SEAM_DEFINITIONS
FBSEG_SEAM void masked_fill(const Tensor& out, const Tensor& x, const Tensor& mask, double value) {
    if (out.device().is_cuda()) {  // CUDA: where(mask, value, x) (kernels/map.cu)
        FBSEG_CHECK(mask.device() == x.device(), "masked_fill: mask ", mask.describe(), " and input ", x.describe(),
                    " are on different devices");
        kernel::where(out, mask, full({}, value, options_of(x)), x);
        return;
    }
    detail::require_cpu_kernel("masked_fill", {&out, &x, &mask});
    dispatch_all(x.dtype(), "masked_fill", [&]<typename T>() {
        cpu::masked_fill<T>(x.shape(), out.data_ptr<T>(), out.strides(), x.data_ptr<T>(), x.strides(),
                            mask.data_ptr<bool>(), broadcast_strides(mask.shape(), mask.strides(), x.shape()),
                            cpu::convert<T>(value));
    });
}
#endif

/// out (contiguous) = x reversed along every dim d with flipped[d]: see cpu::flip.
#if FBSEG_SEAM_DEFINITIONS
FBSEG_SEAM void flip(const Tensor& x, const Tensor& out, const bool* flipped) {
    if (out.device().is_cuda()) {
        // CUDA: a copy from x read backwards along the flipped dims (its last element first, the
        // stride negated), through cuda::copy_strided (kernels/map.cu).
        check_cuda_rank(out, "flip");
        cuda::StridedOperand src{nullptr, {}};
        std::int64_t first = 0;  // element offset of x's element that lands at out's index 0
        for (std::int64_t d = 0; d < x.dim(); ++d) {
            const std::int64_t stride = x.strides()[std::size_t(d)], size = x.shape()[std::size_t(d)];
            if (flipped[d] && size > 0) first += (size - 1) * stride;
            src.strides[d] = flipped[d] ? -stride : stride;
        }
        src.data = static_cast<const char*>(x.raw_data()) + first * std::int64_t(element_size(x.dtype()));
        cuda_twin(cuda::backend("flip").copy_strided, "copy_strided")(out.dtype(), int(out.dim()), out.shape().data(),
                                                                      out.raw_data(), out.strides().data(), x.dtype(),
                                                                      src, out.device().index);
        return;
    }
    detail::require_cpu_kernel("flip", {&x, &out});
    dispatch_all(x.dtype(), "flip", [&]<typename T>() {
        cpu::flip<T>(x.data_ptr<T>(), x.shape().data(), x.strides().data(), x.dim(), flipped, out.data_ptr<T>());
    });
}
#endif

/// out (contiguous, shape repeats[d] * in_shape[d]) = x tiled; x read through (in_shape,
/// in_strides), which have one entry per repeat: see cpu::repeat.
#if FBSEG_SEAM_DEFINITIONS
FBSEG_SEAM void repeat(const Tensor& x, const Shape& in_shape, const Shape& in_strides, const Shape& repeats,
                       const Tensor& out) {
    detail::require_cpu_kernel("repeat", {&x, &out});
    dispatch_all(x.dtype(), "repeat", [&]<typename T>() {
        cpu::repeat<T>(x.data_ptr<T>(), in_shape.data(), in_strides.data(), std::int64_t(repeats.size()),
                       repeats.data(), out.data_ptr<T>());
    });
}
#endif

/// out = running sum of contiguous x viewed as (outer, n, inner) along n, from the end when
/// `reverse`: see cpu::cumsum.
#if FBSEG_SEAM_DEFINITIONS
FBSEG_SEAM void cumsum(const Tensor& x, const Tensor& out, std::int64_t outer, std::int64_t n, std::int64_t inner,
                       bool reverse) {
    if (x.device().is_cuda() || out.device().is_cuda()) {
        // CUDA: cuda::cumsum (float32, float64, int64), x and out contiguous.
        const char* op = reverse ? "cumsum_backward" : "cumsum";
        const auto cuda_cumsum = cuda_twin(cuda::backend(op).cumsum, "cumsum");
        FBSEG_CHECK(x.device() == out.device() && x.is_contiguous() && out.is_contiguous(), op,
                    ": CUDA operands must be contiguous and on one device (", x.describe(), ", ", out.describe(), ")");
        cuda_cumsum(x.dtype(), x.raw_data(), out.raw_data(), outer, n, inner, reverse, x.device().index);
        return;
    }
    dispatch_numeric(x.dtype(), reverse ? "cumsum_backward" : "cumsum", [&]<typename T>() {
        cpu::cumsum<T>(x.data_ptr<T>(), out.data_ptr<T>(), outer, n, inner, reverse);
    });
}
#endif

/// values, indices (outer, k, inner) = the k best of contiguous x (outer, n, inner) along n: see
/// cpu::topk.
#if FBSEG_SEAM_DEFINITIONS
FBSEG_SEAM void topk(const Tensor& x, const Tensor& values, const Tensor& indices, std::int64_t outer, std::int64_t n,
                     std::int64_t inner, std::int64_t k, bool largest, bool sorted) {
    detail::require_cpu_kernel("topk", {&x, &values, &indices});
    dispatch_numeric(x.dtype(), "topk", [&]<typename T>() {
        cpu::topk<T>(x.data_ptr<T>(), outer, n, inner, k, largest, sorted, values.data_ptr<T>(),
                     indices.data_ptr<std::int64_t>());
    });
}
#endif

}  // namespace fbseg::kernel
