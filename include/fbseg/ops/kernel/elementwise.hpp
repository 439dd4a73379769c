// fbseg/ops/kernel/elementwise.hpp - the device seam of the elementwise kernels that have a CUDA
// twin: fill, copy and add.
//
// One function per kernel, as dlib's tt:: functions: it looks at the device of its operands and
// calls either the CPU kernel (ops/cpu/elementwise.hpp) or the CUDA twin of the same name
// (declared in cuda/api.hpp, defined in kernels/elementwise.cu and kernels/runtime.cu, reached
// through the backend table of cuda/backend.hpp). Public ops and backward closures call these,
// never a CPU loop or a CUDA entry point directly. See docs/architecture.md, "The device seam".
#pragma once

#include <algorithm>
#include <string_view>

#include "fbseg/core/tensor.hpp"
#include "fbseg/cuda/backend.hpp"
#include "fbseg/ops/cpu/elementwise.hpp"
#include "fbseg/ops/device_check.hpp"

namespace fbseg::kernel {

/// A CUDA backend's slot for `kernel`, or the clear error when the backend has no such kernel.
template <typename Fn>
Fn cuda_twin(Fn fn, std::string_view kernel) {
    FBSEG_CHECK(fn != nullptr, kernel, ": no CUDA kernel for ", kernel, " yet (the registered CUDA backend has none)");
    return fn;
}

// fill: out[i] = value (converted to out's dtype; bool(x) is x != 0)
//   out: any shape, any dtype
//   CPU:  cpu::fill<T>  (ops/cpu/elementwise.hpp), any strides
//   CUDA: cuda::fill    (kernels/elementwise.cu), contiguous out
inline void fill(const Tensor& out, double value) {
    if (out.device().is_cpu()) {
        dispatch_all(out.dtype(), "fill_", [&]<typename T>() { cpu::fill<T>(out, cpu::convert<T>(value)); });
        return;
    }
    const auto cuda_fill = cuda_twin(cuda::backend("fill_").fill, "fill");
    FBSEG_CHECK(out.is_contiguous(), "fill_: no CUDA kernel for a non-contiguous fill yet (", out.describe(), ")");
    cuda_fill(out.raw_data(), out.dtype(), out.numel(), value, out.device().index);
}

// copy: dst[i] = src[i] (src broadcast to dst's shape, converted to dst's dtype)
//   CPU -> CPU:  cpu::copy (any strides, any dtypes, broadcasting)
//   otherwise:   src is brought to dst's dtype and shape contiguously on its own device (on the
//                CPU when it is there), then one cuda::copy_{host_to_device, device_to_host,
//                device_to_device} of numel * element_size bytes; dst must be contiguous.
inline void copy(const Tensor& dst, const Tensor& src) {
    if (dst.device().is_cpu() && src.device().is_cpu()) {
        cpu::copy(dst, src);
        return;
    }
    const cuda::Backend& backend = cuda::backend("copy_");
    FBSEG_CHECK(dst.is_contiguous(), "copy_: no CUDA kernel for a non-contiguous CUDA copy destination yet (",
                dst.describe(), ")");
    Tensor staged = src;
    if (src.device().is_cpu()) {
        staged = Tensor::empty(dst.shape(), TensorOptions(dst.dtype()));
        cpu::copy(staged, src);
    } else {
        FBSEG_CHECK(src.dtype() == dst.dtype() && src.shape() == dst.shape() && src.is_contiguous(), "copy_: from ",
                    src.describe(), " to ", dst.describe(),
                    ": CUDA sources must be contiguous and of the destination's dtype and shape for now");
    }
    const std::size_t bytes = std::size_t(dst.numel()) * element_size(dst.dtype());
    if (dst.device().is_cuda() && staged.device().is_cpu()) {
        cuda_twin(backend.copy_host_to_device, "copy_host_to_device")(dst.raw_data(), staged.raw_data(), bytes,
                                                                      dst.device().index);
    } else if (dst.device().is_cpu()) {
        cuda_twin(backend.copy_device_to_host, "copy_device_to_host")(dst.raw_data(), staged.raw_data(), bytes,
                                                                      staged.device().index);
    } else {
        cuda_twin(backend.copy_device_to_device, "copy_device_to_device")(dst.raw_data(), staged.raw_data(), bytes,
                                                                          dst.device().index);
    }
}

// add: out = a + alpha * b, a and b broadcast to out's shape (alpha = -1 is sub)
//   out, a, b: one dtype (float32, float64, int64 on CUDA; any numeric dtype on the CPU), one device
//   CPU:  cpu::map2<T, T, T> (ops/cpu/elementwise.hpp)
//   CUDA: cuda::add (kernels/elementwise.cu), rank <= cuda::kMaxDims, any strides
inline void add(const Tensor& out, const Tensor& a, const Tensor& b, double alpha, const char* op) {
    if (out.device().is_cpu()) {
        dispatch_numeric(out.dtype(), op, [&]<typename T>() {
            if (alpha == 1.0) {
                cpu::map2<T, T, T>(out, a, b, [](T x, T y) { return T(x + y); });
            } else if (alpha == -1.0) {
                cpu::map2<T, T, T>(out, a, b, [](T x, T y) { return T(x - y); });
            } else {
                const T s = T(alpha);
                cpu::map2<T, T, T>(out, a, b, [s](T x, T y) { return T(x + s * y); });
            }
        });
        return;
    }
    const auto cuda_add = cuda_twin(cuda::backend(op).add, "add");
    FBSEG_CHECK(out.dim() <= cuda::kMaxDims, op, ": CUDA tensors of rank > ", cuda::kMaxDims, " are not supported (",
                out.describe(), ")");
    cuda::StridedOperand oa{a.raw_data(), {}}, ob{b.raw_data(), {}};
    const Shape sa = broadcast_strides(a.shape(), a.strides(), out.shape());
    const Shape sb = broadcast_strides(b.shape(), b.strides(), out.shape());
    std::copy(sa.begin(), sa.end(), oa.strides);
    std::copy(sb.begin(), sb.end(), ob.strides);
    cuda_add(out.dtype(), int(out.dim()), out.shape().data(), out.raw_data(), out.strides().data(), oa, ob, alpha,
             out.device().index);
}

}  // namespace fbseg::kernel
