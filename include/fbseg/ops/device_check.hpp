// fbseg/ops/device_check.hpp - the checks every op makes on its operands before computing.
#pragma once

#include <initializer_list>
#include <string_view>

#include "fbseg/core/tensor.hpp"

namespace fbseg::detail {

/// All operands defined, on one device, of one dtype; names the op and every operand if not.
inline void check_same_device_dtype(std::string_view op, std::initializer_list<const Tensor*> operands) {
    const Tensor* first = nullptr;
    int k = 0;
    for (const Tensor* t : operands) {
        FBSEG_CHECK(t->defined(), op, ": operand ", k, " is an undefined tensor");
        if (!first) {
            first = t;
        } else {
            FBSEG_CHECK(t->device() == first->device(), op, ": operands are on different devices (",
                        first->describe(), " and ", t->describe(), "); move one with .to(device)");
            FBSEG_CHECK(t->dtype() == first->dtype(), op, ": dtype mismatch (", first->describe(), " and ",
                        t->describe(), "); convert one with .to(dtype)");
        }
        ++k;
    }
}

/// The dispatch point of a kernel that has only a CPU implementation so far: refuses CUDA
/// tensors with "<kernel>: no CUDA kernel for <kernel> yet". Every CPU-only kernel is reached
/// through this one check (or through a dispatcher in ops/kernel/), so that giving it a CUDA twin
/// means changing one place.
inline void require_cpu_kernel(std::string_view kernel, std::initializer_list<const Tensor*> operands) {
    for (const Tensor* t : operands)
        FBSEG_CHECK(!t->defined() || t->device().is_cpu(), kernel, ": no CUDA kernel for ", kernel, " yet (got ",
                    t->describe(), "); move the tensor to the CPU with .cpu()");
}

/// The op has only a CPU implementation so far (the same check under its older name).
inline void check_cpu(std::string_view op, std::initializer_list<const Tensor*> operands) {
    require_cpu_kernel(op, operands);
}

}  // namespace fbseg::detail
