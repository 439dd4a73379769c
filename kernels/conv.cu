// kernels/conv.cu - (placeholder: no kernels yet; the dispatcher reports "no CUDA kernel yet").
#include "install.cuh"

namespace fbseg::cuda {

void install_conv_kernels(Backend&) {}

}  // namespace fbseg::cuda
