// fbseg/ops/cpu/gemm_kernels.hpp - fills a KernelTable's parts (ops/cpu/kernel_table.hpp) with
// the kernels of ops/cpu/conv_kernels.hpp, ops/cpu/linalg.hpp, ops/cpu/activation.hpp,
// ops/cpu/batch_norm.hpp and ops/cpu/max_pool_kernels.hpp,
// compiled in the including translation unit: with the program's flags (header-only), or once
// per instruction set in libfbseg (src/cpu/gemm_kernels.cpp).
#pragma once

#include "fbseg/ops/cpu/activation.hpp"
#include "fbseg/ops/cpu/batch_norm.hpp"
#include "fbseg/ops/cpu/conv_kernels.hpp"
#include "fbseg/ops/cpu/kernel_table.hpp"
#include "fbseg/ops/cpu/linalg.hpp"
#include "fbseg/ops/cpu/max_pool_kernels.hpp"

namespace fbseg::cpu {

template <typename T>
GemmKernels<T> make_gemm_kernels() {
    return {&conv::forward<T>,
            &conv::backward_data<T>,
            &conv::backward_weight<T>,
            &conv::bias_grad<T>,
            &conv::add_channel_bias<T>,
            &bmm_forward<T>,
            &conv::packed_weights_size<T>,
            &conv::pack_forward_weights<T>,
            &conv::forward_packed<T>};
}

inline ActivationKernels make_activation_kernels() {
    return {&activation::sigmoid_forward, &activation::silu_forward, &activation::silu_backward};
}

inline NormKernels make_norm_kernels() { return {&batch_norm_forward<float>, &batch_norm_backward<float>}; }
inline PoolKernels make_pool_kernels() { return {&max_pool2d_forward_f32}; }

}  // namespace fbseg::cpu
