// fbseg/ops/kernel/dropout.hpp - the device seam of the dropout kernels: dropout_mask has a CUDA
// twin (kernels/dropout.cu, the same Philox numbers as the CPU); apply_mask is CPU only so far.
// See ops/kernel/elementwise.hpp for the pattern and docs/architecture.md, "The device seam".
#pragma once

#include "fbseg/core/generator.hpp"
#include "fbseg/core/tensor.hpp"
#include "fbseg/ops/cpu/dropout.hpp"
#include "fbseg/ops/cpu/elementwise.hpp"
#include "fbseg/ops/device_check.hpp"
#include "fbseg/ops/kernel/elementwise.hpp"
#include "fbseg/ops/kernel/seam.hpp"

namespace fbseg::kernel {

// The kernels of this file. Against libfbseg only these declarations are seen; the definitions
// below are compiled once, in the library (ops/kernel/seam.hpp).
FBSEG_SEAM void dropout_mask(const Tensor& mask, double p, Generator& gen, std::uint64_t first);
FBSEG_SEAM void apply_mask(const Tensor& out, const Tensor& x, const Tensor& mask);

/// mask (contiguous) = 1 / (1 - p) with probability 1 - p, else 0, drawn from gen's counters
/// first, first + 1, ...: cpu::dropout_mask.
#if FBSEG_SEAM_DEFINITIONS
FBSEG_SEAM void dropout_mask(const Tensor& mask, double p, Generator& gen, std::uint64_t first) {
    if (!mask.device().is_cpu()) {
        FBSEG_CHECK(mask.is_contiguous(), "dropout: a CUDA mask must be contiguous (", mask.describe(), ")");
        cuda_twin(cuda::backend("dropout").dropout_mask, "dropout_mask")(
            mask.dtype(), mask.raw_data(), mask.numel(), 1.0 - p, gen.seed(), first, mask.device().index);
        return;
    }
    detail::require_cpu_kernel("dropout_mask", {&mask});
    dispatch_floating(mask.dtype(), "dropout", [&]<typename T>() {
        cpu::dropout_mask<T>(mask.data_ptr<T>(), mask.numel(), 1.0 - p, first,
                             [&gen](std::uint64_t counter) { return gen.uniform<double>(counter); });
    });
}
#endif

/// out = x * mask, mask broadcast to x's shape (the forward and the backward of dropout).
#if FBSEG_SEAM_DEFINITIONS
FBSEG_SEAM void apply_mask(const Tensor& out, const Tensor& x, const Tensor& mask) {
    binary_map(out, x, mask, cuda::BinaryOp::Mul, "dropout", [](auto a, auto m) { return a * m; });
}
#endif

}  // namespace fbseg::kernel
