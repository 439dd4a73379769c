// fbseg/ops/kernel/reduce.hpp - the device seam of the reduction kernels: CPU tensors go to the
// CPU kernels (ops/cpu/reduce.hpp), CUDA tensors to their twins (kernels/reduce.cu, through the
// backend table). See ops/kernel/elementwise.hpp for the pattern and docs/architecture.md, "The
// device seam".
#pragma once

#include <utility>

#include "fbseg/core/tensor.hpp"
#include "fbseg/ops/cpu/reduce.hpp"
#include "fbseg/ops/device_check.hpp"
#include "fbseg/ops/kernel/elementwise.hpp"
#include "fbseg/ops/kernel/seam.hpp"

namespace fbseg::kernel {

// The kernels of this file. Against libfbseg only these declarations are seen; the definitions
// below are compiled once, in the library (ops/kernel/seam.hpp).
FBSEG_SEAM void sum_rows(const Tensor& rows, const Tensor& out, std::int64_t r, std::int64_t scale = 1);
FBSEG_SEAM void extreme_rows(const Tensor& rows, const Tensor& values, const Tensor& indices, std::int64_t r,
                             bool is_max, const char* op);
FBSEG_SEAM void scatter_add_along_dim(const Tensor& grad, const Tensor& src, const Tensor& index, std::int64_t outer,
                                      std::int64_t n, std::int64_t inner);

/// out[i] = scale * (sum of row i of rows (m, r)), contiguous; out has m elements. Sums
/// accumulate in double (int64 for integers): cpu::fold_rows. `scale` is how many times each row
/// repeats in the tensor being summed (reduced dims of stride 0, see sum() in ops/reduce.hpp).
///   CUDA: cuda::sum_rows (float32, float64, int64), rows and out contiguous.
#if FBSEG_SEAM_DEFINITIONS
FBSEG_SEAM void sum_rows(const Tensor& rows, const Tensor& out, std::int64_t r, std::int64_t scale) {
    if (rows.device().is_cuda() || out.device().is_cuda()) {
        const auto cuda_sum = cuda_twin(cuda::backend("sum").sum_rows, "sum_rows");
        FBSEG_CHECK(rows.device() == out.device() && rows.is_contiguous() && out.is_contiguous(),
                    "sum_rows: CUDA operands must be contiguous and on one device (", rows.describe(), ", ",
                    out.describe(), ")");
        cuda_sum(rows.dtype(), rows.raw_data(), out.raw_data(), out.numel(), r, scale, out.device().index);
        return;
    }
    dispatch_numeric(rows.dtype(), "sum", [&]<typename T>() {
        using Acc = cpu::acc_t<T>;
        T* po = out.data_ptr<T>();
        const Acc factor = Acc(scale);
        cpu::fold_rows(
            rows.data_ptr<T>(), out.numel(), r, Acc(0), [](Acc a, T v, std::int64_t) { return a + Acc(v); },
            [](Acc a, Acc b) { return a + b; }, [po, factor](std::int64_t i, Acc a) { po[i] = T(a * factor); });
    });
}
#endif

/// values[i], indices[i] = the largest (is_max) or smallest element of row i of rows (m, r) and
/// the position of its first occurrence; a NaN wins, as in PyTorch: cpu::fold_rows.
///   rows: (m, r) contiguous; values: m elements of rows' dtype; indices: m int64
#if FBSEG_SEAM_DEFINITIONS
FBSEG_SEAM void extreme_rows(const Tensor& rows, const Tensor& values, const Tensor& indices, std::int64_t r,
                             bool is_max, const char* op) {
    if (rows.device().is_cuda() || values.device().is_cuda() || indices.device().is_cuda()) {
        // CUDA: cuda::extreme_rows (float32, float64, int64), every operand contiguous.
        const auto cuda_extreme = cuda_twin(cuda::backend(op).extreme_rows, "extreme_rows");
        FBSEG_CHECK(rows.device() == values.device() && rows.device() == indices.device() && rows.is_contiguous() &&
                        values.is_contiguous() && indices.is_contiguous(),
                    op, ": CUDA operands must be contiguous and on one device (", rows.describe(), ", ",
                    values.describe(), ", ", indices.describe(), ")");
        cuda_extreme(rows.dtype(), rows.raw_data(), values.raw_data(), indices.device_data_ptr<std::int64_t>(),
                     values.numel(), r, is_max, rows.device().index);
        return;
    }
    dispatch_numeric(rows.dtype(), op, [&]<typename T>() {
        T* pv = values.data_ptr<T>();
        std::int64_t* pi = indices.data_ptr<std::int64_t>();
        using Acc = std::pair<T, std::int64_t>;
        // NaN wins: once a NaN is seen it is kept.
        auto better = [is_max](T v, T best) { return v != v ? best == best : (is_max ? v > best : v < best); };
        cpu::fold_rows(
            rows.data_ptr<T>(), values.numel(), r, Acc(T(0), -1),
            [&](Acc a, T v, std::int64_t i) { return (a.second < 0 || better(v, a.first)) ? Acc(v, i) : a; },
            [&](Acc a, Acc b) { return better(b.first, a.first) ? b : a; },
            [&](std::int64_t i, Acc a) {
                pv[i] = a.first;
                pi[i] = a.second;
            });
    });
}
#endif

/// grad[o, index[o, j], j] += src[o, j]: see cpu::scatter_add_along_dim. grad (outer, n, inner),
/// src and index (outer, inner), all contiguous.
#if FBSEG_SEAM_DEFINITIONS
FBSEG_SEAM void scatter_add_along_dim(const Tensor& grad, const Tensor& src, const Tensor& index, std::int64_t outer,
                                      std::int64_t n, std::int64_t inner) {
    if (grad.device().is_cuda() || src.device().is_cuda() || index.device().is_cuda()) {
        // CUDA: cuda::scatter_add_along_dim (float32, float64), one thread per (o, j), no collisions.
        const auto cuda_scatter =
            cuda_twin(cuda::backend("scatter_add_along_dim").scatter_add_along_dim, "scatter_add_along_dim");
        FBSEG_CHECK(grad.device() == src.device() && grad.device() == index.device() && grad.is_contiguous() &&
                        src.is_contiguous() && index.is_contiguous(),
                    "scatter_add_along_dim: CUDA operands must be contiguous and on one device (", grad.describe(),
                    ", ", src.describe(), ", ", index.describe(), ")");
        cuda_scatter(grad.dtype(), grad.raw_data(), src.raw_data(), index.device_data_ptr<std::int64_t>(), outer, n,
                     inner, grad.device().index);
        return;
    }
    dispatch_floating(grad.dtype(), "scatter_add_along_dim", [&]<typename T>() {
        cpu::scatter_add_along_dim<T>(grad.data_ptr<T>(), src.data_ptr<T>(), index.data_ptr<std::int64_t>(), outer, n,
                                      inner);
    });
}
#endif

}  // namespace fbseg::kernel
