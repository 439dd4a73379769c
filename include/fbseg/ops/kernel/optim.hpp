// fbseg/ops/kernel/optim.hpp - the device seam of the fused optimizer updates: CPU tensors go to
// ops/cpu/optim.hpp. There is no CUDA twin yet: optim/adam.hpp asks fused_adam_supported() and
// runs its tensor operations on other tensors. See ops/kernel/elementwise.hpp for the pattern.
#pragma once

#include "fbseg/core/tensor.hpp"
#include "fbseg/ops/cpu/optim.hpp"
#include "fbseg/ops/device_check.hpp"
#include "fbseg/ops/kernel/seam.hpp"

namespace fbseg::kernel {

// The kernels of this file. Against libfbseg only these declarations are seen; the definitions
// below are compiled once, in the library (ops/kernel/seam.hpp).
FBSEG_SEAM bool fused_adam_supported(const Tensor& p, const Tensor& g, const Tensor& m, const Tensor& v,
                                     const Tensor& vmax);
FBSEG_SEAM void adam_step(const Tensor& p, const Tensor& g, const Tensor& m, const Tensor& v, const Tensor& vmax,
                          const cpu::AdamStepScalars& s);

/// Whether adam_step can update p: every operand (vmax may be undefined) a contiguous CPU tensor
/// of p's floating dtype and p's number of elements.
#if FBSEG_SEAM_DEFINITIONS
FBSEG_SEAM bool fused_adam_supported(const Tensor& p, const Tensor& g, const Tensor& m, const Tensor& v,
                                     const Tensor& vmax) {
    if (!p.device().is_cpu() || !(p.dtype() == DType::Float32 || p.dtype() == DType::Float64)) return false;
    for (const Tensor* t : {&p, &g, &m, &v, &vmax}) {
        if (t == &vmax && !t->defined()) continue;
        if (!t->defined() || !t->device().is_cpu() || t->dtype() != p.dtype() || !t->is_contiguous() ||
            t->numel() != p.numel())
            return false;
    }
    return true;
}
#endif

/// One Adam step of p in place (cpu::adam_step); the operands as fused_adam_supported requires.
#if FBSEG_SEAM_DEFINITIONS
FBSEG_SEAM void adam_step(const Tensor& p, const Tensor& g, const Tensor& m, const Tensor& v, const Tensor& vmax,
                          const cpu::AdamStepScalars& s) {
    FBSEG_CHECK(fused_adam_supported(p, g, m, v, vmax), "adam_step: the parameter ", p.describe(), ", its gradient ",
                g.describe(), " and its state must be contiguous CPU tensors of one floating dtype and size");
    FBSEG_CHECK(!s.amsgrad || vmax.defined(), "adam_step: amsgrad needs max_exp_avg_sq");
    dispatch_floating(p.dtype(), "adam_step", [&]<typename T>() {
        cpu::adam_step<T>(p.data_ptr<T>(), g.data_ptr<T>(), m.data_ptr<T>(), v.data_ptr<T>(),
                          s.amsgrad ? vmax.data_ptr<T>() : nullptr, p.numel(), s);
    });
    for (const Tensor* t : {&p, &m, &v, &vmax})
        if (t->defined()) t->storage()->bump_version();
}
#endif

}  // namespace fbseg::kernel
