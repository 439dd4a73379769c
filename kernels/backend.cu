// kernels/backend.cu - registers this library's entry points as the core's CUDA backend.
//
// The header-only core calls CUDA only through the table of cuda/backend.hpp. This file fills
// the table with the functions of kernels/*.cu and installs it before main() runs, from a
// static initialiser. A static library's object file is linked only when something refers to
// it, and nothing in a program refers to this one by name, so fbseg::cuda carries the link
// option `-u fbseg_cuda_backend_anchor` (kernels/CMakeLists.txt, exported with the target):
// the linker then keeps this object file, and with it the initialiser, in every program that
// links fbseg::cuda, whether directly or through another library.
#include "fbseg/cuda/api.hpp"
#include "fbseg/cuda/backend.hpp"
#include "install.cuh"

namespace fbseg::cuda {

namespace {
const Backend kCudaBackend = [] {
    Backend b;
    b.name = "cuda";
    b.device_count = &device_count;
    b.synchronize = &synchronize;
    b.allocator_stats = &allocator_stats;
    b.allocate = &allocate;
    b.deallocate = &deallocate;
    b.copy_host_to_device = &copy_host_to_device;
    b.copy_device_to_host = &copy_device_to_host;
    b.copy_device_to_device = &copy_device_to_device;
    b.fill = &fill;
    b.add = &add;
    b.unary = &unary;
    b.unary_backward = &unary_backward;
    b.binary = &binary;
    b.select_grad = &select_grad;
    b.where = &where;
    b.copy_strided = &copy_strided;
    install_conv_kernels(b);
    install_matmul_kernels(b);
    install_batch_norm_kernels(b);
    install_pool_kernels(b);
    install_resize_kernels(b);
    install_dropout_kernels(b);
    install_reduce_kernels(b);
    install_softmax_kernels(b);
    install_index_kernels(b);
    return b;
}();
}  // namespace

bool register_backend() {
    set_backend(&kCudaBackend);
    return true;
}

}  // namespace fbseg::cuda

/// The symbol named by the `-u` link option; its initialiser registers the backend.
extern "C" {
extern const bool fbseg_cuda_backend_anchor;
const bool fbseg_cuda_backend_anchor = fbseg::cuda::register_backend();
}
