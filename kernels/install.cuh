// kernels/install.cuh - each kernel family's installer: kernels/<family>.cu defines
// install_<family>_kernels, which puts that file's entry points in the backend table
// (cuda/backend.hpp). kernels/backend.cu calls them all when the program starts. A family whose
// slot stays null is reported by the dispatcher as "no CUDA kernel for <kernel> yet".
#pragma once

#include "fbseg/cuda/backend.hpp"

namespace fbseg::cuda {

void install_conv_kernels(Backend& b);        // kernels/conv.cu
void install_matmul_kernels(Backend& b);      // kernels/matmul.cu
void install_batch_norm_kernels(Backend& b);  // kernels/batch_norm.cu
void install_pool_kernels(Backend& b);        // kernels/pool.cu
void install_resize_kernels(Backend& b);      // kernels/resize.cu
void install_dropout_kernels(Backend& b);     // kernels/dropout.cu
void install_reduce_kernels(Backend& b);      // kernels/reduce.cu
void install_softmax_kernels(Backend& b);     // kernels/softmax.cu
void install_index_kernels(Backend& b);       // kernels/index.cu

}  // namespace fbseg::cuda
