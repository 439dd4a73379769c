// fbseg/ops/kernel/logical.hpp - the device seam of any/all: cpu::any_all for CPU tensors,
// cuda::all_any_rows (kernels/reduce.cu) for CUDA ones; see ops/kernel/elementwise.hpp for the
// pattern.
#pragma once

#include <cstdint>

#include "fbseg/core/tensor.hpp"
#include "fbseg/ops/cpu/logical.hpp"
#include "fbseg/ops/device_check.hpp"
#include "fbseg/ops/kernel/elementwise.hpp"
#include "fbseg/ops/kernel/seam.hpp"

namespace fbseg::kernel {

// The kernels of this file. Against libfbseg only these declarations are seen; the definitions
// below are compiled once, in the library (ops/kernel/seam.hpp).
FBSEG_SEAM void any_all(const Tensor& rows, const Tensor& out, std::int64_t r, bool is_all);

/// out[i] = all (is_all) or any of row i of the contiguous bool rows (m, r): see cpu::any_all.
///   CUDA: cuda::all_any_rows, rows and out contiguous bool.
#if FBSEG_SEAM_DEFINITIONS
FBSEG_SEAM void any_all(const Tensor& rows, const Tensor& out, std::int64_t r, bool is_all) {
    if (rows.device().is_cuda() || out.device().is_cuda()) {
        const char* op = is_all ? "all" : "any";
        const auto cuda_all_any = cuda_twin(cuda::backend(op).all_any_rows, "all_any_rows");
        FBSEG_CHECK(rows.device() == out.device() && rows.is_contiguous() && out.is_contiguous(), op,
                    ": CUDA operands must be contiguous and on one device (", rows.describe(), ", ", out.describe(),
                    ")");
        cuda_all_any(rows.raw_data(), out.device_data_ptr<bool>(), out.numel(), r, is_all, out.device().index);
        return;
    }
    cpu::any_all(rows.data_ptr<bool>(), out.numel(), r, is_all, out.data_ptr<bool>());
}
#endif

}  // namespace fbseg::kernel
