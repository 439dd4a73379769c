// fbseg/ops/kernel/elementwise.hpp - the device seam of the elementwise kernels: fill, copy, add,
// the unary and binary maps, the gradient of maximum/minimum, and where.
//
// One function per kernel, as dlib's tt:: functions: it looks at the device of its operands and
// calls either the CPU kernel (ops/cpu/elementwise.hpp) or the CUDA twin of the same name
// (declared in cuda/api.hpp, defined in kernels/elementwise.cu and kernels/runtime.cu, reached
// through the backend table of cuda/backend.hpp). Public ops and backward closures call these,
// never a CPU loop or a CUDA entry point directly. See docs/architecture.md, "The device seam".
#pragma once

#include <algorithm>
#include <initializer_list>
#include <string_view>
#include <type_traits>

#include "fbseg/core/tensor.hpp"
#include "fbseg/cuda/backend.hpp"
#include "fbseg/ops/cpu/elementwise.hpp"
#include "fbseg/ops/cpu/kernel_table.hpp"
#include "fbseg/ops/device_check.hpp"
#include "fbseg/ops/functors/unary.hpp"
#include "fbseg/ops/kernel/seam.hpp"

namespace fbseg::detail {
/// True when `out` and every operand are dense (contiguous) float32 tensors of one shape: the
/// case the flat-array kernels of cpu::kernel_table().act handle.
inline bool dense_float32(const Tensor& out, std::initializer_list<const Tensor*> operands) {
    if (out.dtype() != DType::Float32 || !out.is_contiguous()) return false;
    for (const Tensor* t : operands)
        if (t->dtype() != DType::Float32 || !t->is_contiguous() || t->shape() != out.shape()) return false;
    return true;
}
}  // namespace fbseg::detail

namespace fbseg::kernel {

// The kernels of this file. Against libfbseg only these declarations are seen; the definitions
// below are compiled once, in the library (ops/kernel/seam.hpp).
FBSEG_SEAM void fill(const Tensor& out, double value);
FBSEG_SEAM void copy(const Tensor& dst, const Tensor& src);
FBSEG_SEAM void select_grad(const Tensor& out, const Tensor& g, const Tensor& a, const Tensor& b, bool a_is_max);
FBSEG_SEAM void where(const Tensor& out, const Tensor& condition, const Tensor& a, const Tensor& b);
FBSEG_SEAM void add(const Tensor& out, const Tensor& a, const Tensor& b, double alpha, const char* op);

/// A CUDA backend's slot for `kernel`, or the clear error when the backend has no such kernel.
template <typename Fn>
Fn cuda_twin(Fn fn, std::string_view kernel) {
    FBSEG_CHECK(fn != nullptr, kernel, ": no CUDA kernel for ", kernel, " yet (the registered CUDA backend has none)");
    return fn;
}

/// The same, naming the CUDA tensor that asked for it in the error.
template <typename Fn>
Fn cuda_twin(Fn fn, std::string_view kernel, const Tensor& operand) {
    FBSEG_CHECK(fn != nullptr, kernel, ": no CUDA kernel for ", kernel, " yet (got ", operand.describe(),
                "); move the tensor to the CPU with .cpu()");
    return fn;
}

// fill: out[i] = value (converted to out's dtype; bool(x) is x != 0)
//   out: any shape, any dtype
//   CPU:  cpu::fill<T>  (ops/cpu/elementwise.hpp), any strides
//   CUDA: cuda::fill    (kernels/elementwise.cu) for a contiguous out; a strided one through
//         cuda::copy_strided from one filled element (kernels/map.cu)
#if FBSEG_SEAM_DEFINITIONS
FBSEG_SEAM void fill(const Tensor& out, double value) {
    if (out.device().is_cpu()) {
        dispatch_all(out.dtype(), "fill_", [&]<typename T>() { cpu::fill<T>(out, cpu::convert<T>(value)); });
        return;
    }
    const auto cuda_fill = cuda_twin(cuda::backend("fill_").fill, "fill");
    if (out.is_contiguous()) {
        cuda_fill(out.raw_data(), out.dtype(), out.numel(), value, out.device().index);
        return;
    }
    // A strided destination: one element filled on the device, broadcast into every position of
    // `out` by the converting copy (kernels/map.cu), stride 0 for the source.
    const Tensor one = Tensor::empty({}, TensorOptions(out.dtype()).device(out.device()));
    cuda_fill(one.raw_data(), one.dtype(), 1, value, one.device().index);
    FBSEG_CHECK(out.dim() <= cuda::kMaxDims, "fill_: CUDA tensors of rank > ", cuda::kMaxDims, " are not supported (",
                out.describe(), ")");
    cuda::StridedOperand src{one.raw_data(), {}};
    cuda_twin(cuda::backend("fill_").copy_strided, "copy_strided")(out.dtype(), int(out.dim()), out.shape().data(),
                                                                   out.raw_data(), out.strides().data(), out.dtype(),
                                                                   src, out.device().index);
}
#endif

/// The StridedOperand of `t` read as `shape` (t broadcast to it: stride 0 where it repeats).
inline cuda::StridedOperand strided_operand(const Tensor& t, const Shape& shape) {
    cuda::StridedOperand op{t.raw_data(), {}};
    const Shape s = broadcast_strides(t.shape(), t.strides(), shape);
    std::copy(s.begin(), s.end(), op.strides);
    return op;
}

/// The checks every CUDA map makes on its output: rank <= cuda::kMaxDims.
inline void check_cuda_rank(const Tensor& out, std::string_view op) {
    FBSEG_CHECK(out.dim() <= cuda::kMaxDims, op, ": CUDA tensors of rank > ", cuda::kMaxDims, " are not supported (",
                out.describe(), ")");
}

// copy: dst[i] = src[i] (src broadcast to dst's shape, converted to dst's dtype)
//   CPU -> CPU:   cpu::copy (any strides, any dtypes, broadcasting)
//   CUDA -> CUDA: cuda::copy_strided (any strides, any dtypes, broadcasting: kernels/map.cu)
//   between the host and a GPU: the bytes cross once, contiguous and in dst's dtype: src is
//   first brought to dst's dtype and shape on its own device when it is not already so, and a
//   non-contiguous dst receives through a contiguous staging tensor on its device.
#if FBSEG_SEAM_DEFINITIONS
FBSEG_SEAM void copy(const Tensor& dst, const Tensor& src) {
    if (dst.device().is_cpu() && src.device().is_cpu()) {
        cpu::copy(dst, src);
        return;
    }
    const cuda::Backend& backend = cuda::backend("copy_");
    if (dst.device().is_cuda() && src.device().is_cuda()) {
        FBSEG_CHECK(dst.device() == src.device(), "copy_: from ", src.describe(), " to ", dst.describe(),
                    ": copies between two GPUs go through the host for now (.cpu() first)");
        check_cuda_rank(dst, "copy_");
        if (src.dtype() == dst.dtype() && src.shape() == dst.shape() && src.is_contiguous() && dst.is_contiguous()) {
            cuda_twin(backend.copy_device_to_device, "copy_device_to_device")(
                dst.raw_data(), src.raw_data(), std::size_t(dst.numel()) * element_size(dst.dtype()),
                dst.device().index);
            return;
        }
        const cuda::StridedOperand s = strided_operand(src, dst.shape());
        cuda_twin(backend.copy_strided, "copy_strided")(dst.dtype(), int(dst.dim()), dst.shape().data(), dst.raw_data(),
                                                        dst.strides().data(), src.dtype(), s, dst.device().index);
        return;
    }
    const std::size_t bytes = std::size_t(dst.numel()) * element_size(dst.dtype());
    if (dst.device().is_cuda()) {  // host -> GPU
        Tensor staged = src;
        if (src.dtype() != dst.dtype() || src.shape() != dst.shape() || !src.is_contiguous()) {
            staged = Tensor::empty(dst.shape(), TensorOptions(dst.dtype()));
            cpu::copy(staged, src);
        }
        if (dst.is_contiguous()) {
            cuda_twin(backend.copy_host_to_device, "copy_host_to_device")(dst.raw_data(), staged.raw_data(), bytes,
                                                                          dst.device().index);
        } else {
            const Tensor landing = Tensor::empty(dst.shape(), TensorOptions(dst.dtype()).device(dst.device()));
            cuda_twin(backend.copy_host_to_device, "copy_host_to_device")(landing.raw_data(), staged.raw_data(), bytes,
                                                                          dst.device().index);
            copy(dst, landing);
        }
        return;
    }
    // GPU -> host
    Tensor staged = src;
    if (src.dtype() != dst.dtype() || src.shape() != dst.shape() || !src.is_contiguous()) {
        staged = Tensor::empty(dst.shape(), TensorOptions(dst.dtype()).device(src.device()));
        copy(staged, src);
    }
    if (dst.is_contiguous()) {
        cuda_twin(backend.copy_device_to_host, "copy_device_to_host")(dst.raw_data(), staged.raw_data(), bytes,
                                                                      staged.device().index);
    } else {
        const Tensor landing = Tensor::empty(dst.shape(), TensorOptions(dst.dtype()));
        cuda_twin(backend.copy_device_to_host, "copy_device_to_host")(landing.raw_data(), staged.raw_data(), bytes,
                                                                      staged.device().index);
        cpu::copy(dst, landing);
    }
}
#endif

// unary_map: out = op.forward(x), x broadcast to out's shape (the functions of ops/functors/unary.hpp)
//   CPU:  cpu::map1 calling op.forward;  CUDA: cuda::unary with op's code (kernels/map.cu)
//   (float32 sigmoid and SiLU on dense operands of one shape: cpu::kernel_table().act, vectorised)
template <typename Op>
void unary_map(const Tensor& out, const Tensor& x, const Op& op) {
    if (out.device().is_cpu()) {
        if constexpr (std::is_same_v<Op, unary::Sigmoid> || std::is_same_v<Op, unary::Silu>) {
            if (detail::dense_float32(out, {&x})) {
                const auto& act = cpu::kernel_table().act;
                const auto fn = std::is_same_v<Op, unary::Silu> ? act.silu_forward : act.sigmoid_forward;
                fn(x.data_ptr<float>(), out.data_ptr<float>(), out.numel());
                return;
            }
        }
        dispatch_floating(x.dtype(), Op::name, [&]<typename T>() {
            cpu::map1<T, T>(out, x, [&op](T v) { return op.template forward<T>(v); });
        });
        return;
    }
    check_cuda_rank(out, Op::name);
    const auto params = unary::parameters(op);
    cuda_twin(cuda::backend(Op::name).unary, Op::name, x)(
        Op::code, out.dtype(), int(out.dim()), out.shape().data(), out.raw_data(), out.strides().data(),
        strided_operand(x, out.shape()), params[0], params[1], out.device().index);
}

// unary_backward_map: gx = op.backward(g, x, y) with `saved` (x when Op::needs_x, else y)
//   CPU:  cpu::map2;  CUDA: cuda::unary_backward (kernels/map.cu)
//   (float32 SiLU on dense operands of one shape: cpu::kernel_table().act, vectorised)
template <typename Op>
void unary_backward_map(const Tensor& gx, const Tensor& g, const Tensor& saved, const Op& op) {
    if (gx.device().is_cpu()) {
        if constexpr (std::is_same_v<Op, unary::Silu>) {
            if (detail::dense_float32(gx, {&g, &saved})) {
                cpu::kernel_table().act.silu_backward(g.data_ptr<float>(), saved.data_ptr<float>(),
                                                      gx.data_ptr<float>(), gx.numel());
                return;
            }
        }
        dispatch_floating(g.dtype(), Op::name, [&]<typename T>() {
            if constexpr (Op::needs_x) {
                cpu::map2<T, T, T>(gx, g, saved, [&op](T gv, T xv) { return op.template backward<T>(gv, xv, T(0)); });
            } else {
                cpu::map2<T, T, T>(gx, g, saved, [&op](T gv, T yv) { return op.template backward<T>(gv, T(0), yv); });
            }
        });
        return;
    }
    check_cuda_rank(gx, Op::name);
    const auto params = unary::parameters(op);
    cuda_twin(cuda::backend(Op::name).unary_backward, Op::name, g)(
        Op::code, gx.dtype(), int(gx.dim()), gx.shape().data(), gx.raw_data(), gx.strides().data(),
        strided_operand(g, gx.shape()), strided_operand(saved, gx.shape()), params[0], params[1], gx.device().index);
}

// binary_map: out = f(a, b), a and b broadcast to out's shape; out is bool for the comparisons
//   CPU:  cpu::map2 calling `cpu_fn` (the op's lambda in ops/binary.hpp)
//   CUDA: cuda::binary with `code`, the same formula (kernels/map.cu)
template <typename F>
void binary_map(const Tensor& out, const Tensor& a, const Tensor& b, cuda::BinaryOp code, const char* op, F cpu_fn) {
    if (out.device().is_cpu()) {
        dispatch_numeric(a.dtype(), op, [&]<typename T>() {
            if (out.dtype() == DType::Bool) {
                cpu::map2<bool, T, T>(out, a, b, [&cpu_fn](T x, T y) { return bool(cpu_fn(x, y)); });
            } else {
                cpu::map2<T, T, T>(out, a, b, [&cpu_fn](T x, T y) { return T(cpu_fn(x, y)); });
            }
        });
        return;
    }
    check_cuda_rank(out, op);
    cuda_twin(cuda::backend(op).binary, op, a)(code, a.dtype(), int(out.dim()), out.shape().data(), out.raw_data(),
                                               out.strides().data(), strided_operand(a, out.shape()),
                                               strided_operand(b, out.shape()), out.device().index);
}

// select_grad: out = g where a wins (a > b for maximum), 0 where it loses, g / 2 on ties
//   CPU: cpu::map3;  CUDA: cuda::select_grad (kernels/map.cu)
#if FBSEG_SEAM_DEFINITIONS
FBSEG_SEAM void select_grad(const Tensor& out, const Tensor& g, const Tensor& a, const Tensor& b, bool a_is_max) {
    if (out.device().is_cpu()) {
        dispatch_floating(g.dtype(), "maximum", [&]<typename T>() {
            cpu::map3<T, T, T, T>(out, g, a, b, [a_is_max](T gv, T x, T y) {
                if (x == y) return gv / T(2);
                return ((x > y) == a_is_max) ? gv : T(0);
            });
        });
        return;
    }
    check_cuda_rank(out, "maximum_backward");
    cuda_twin(cuda::backend("maximum_backward").select_grad, "maximum_backward")(
        out.dtype(), int(out.dim()), out.shape().data(), out.raw_data(), out.strides().data(),
        strided_operand(g, out.shape()), strided_operand(a, out.shape()), strided_operand(b, out.shape()), a_is_max,
        out.device().index);
}
#endif

// where: out = condition ? a : b (condition bool; all broadcast to out's shape)
//   CPU: cpu::map3;  CUDA: cuda::where (kernels/map.cu)
#if FBSEG_SEAM_DEFINITIONS
FBSEG_SEAM void where(const Tensor& out, const Tensor& condition, const Tensor& a, const Tensor& b) {
    if (out.device().is_cpu()) {
        dispatch_all(a.dtype(), "where", [&]<typename T>() {
            cpu::map3<T, bool, T, T>(out, condition, a, b, [](bool c, T x, T y) { return c ? x : y; });
        });
        return;
    }
    check_cuda_rank(out, "where");
    cuda_twin(cuda::backend("where").where, "where")(out.dtype(), int(out.dim()), out.shape().data(), out.raw_data(),
                                                     out.strides().data(), strided_operand(condition, out.shape()),
                                                     strided_operand(a, out.shape()), strided_operand(b, out.shape()),
                                                     out.device().index);
}
#endif

// add: out = a + alpha * b, a and b broadcast to out's shape (alpha = -1 is sub)
//   out, a, b: one dtype (float32, float64, int64 on CUDA; any numeric dtype on the CPU), one device
//   CPU:  cpu::map2<T, T, T> (ops/cpu/elementwise.hpp)
//   CUDA: cuda::add (kernels/elementwise.cu), rank <= cuda::kMaxDims, any strides
#if FBSEG_SEAM_DEFINITIONS
FBSEG_SEAM void add(const Tensor& out, const Tensor& a, const Tensor& b, double alpha, const char* op) {
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
    check_cuda_rank(out, op);
    const cuda::StridedOperand oa = strided_operand(a, out.shape()), ob = strided_operand(b, out.shape());
    cuda_add(out.dtype(), int(out.dim()), out.shape().data(), out.raw_data(), out.strides().data(), oa, ob, alpha,
             out.device().index);
}
#endif

}  // namespace fbseg::kernel
