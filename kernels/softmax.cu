// kernels/softmax.cu - (placeholder: no kernels yet; the dispatcher reports "no CUDA kernel yet").
#include "install.cuh"

namespace fbseg::cuda {

void install_softmax_kernels(Backend&) {}

}  // namespace fbseg::cuda
