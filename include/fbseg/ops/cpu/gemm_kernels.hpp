// fbseg/ops/cpu/gemm_kernels.hpp - fills a GemmKernels table (ops/cpu/kernel_table.hpp) with the
// templates of ops/cpu/conv_kernels.hpp and ops/cpu/linalg.hpp, instantiated in the including
// translation unit: with the program's flags (header-only), or once per instruction set in
// libfbseg (src/cpu/gemm_kernels.cpp).
#pragma once

#include "fbseg/ops/cpu/conv_kernels.hpp"
#include "fbseg/ops/cpu/kernel_table.hpp"
#include "fbseg/ops/cpu/linalg.hpp"

namespace fbseg::cpu {

template <typename T>
GemmKernels<T> make_gemm_kernels() {
    return {&conv::forward<T>,   &conv::backward_data<T>,    &conv::backward_weight<T>,
            &conv::bias_grad<T>, &conv::add_channel_bias<T>, &bmm_forward<T>};
}

}  // namespace fbseg::cpu
