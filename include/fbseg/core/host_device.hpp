// fbseg/core/host_device.hpp - FBSEG_HOST_DEVICE: a function the CPU and the GPU both compile.
//
// The formulas of the elementwise functions (ops/functors/unary.hpp) are written once and run on
// both sides: the CPU kernels call them from C++, the CUDA kernels (kernels/map.cu) from device
// code. Under nvcc the macro marks them __host__ __device__; everywhere else it is empty, and the
// host code is the same either way.
#pragma once

#if defined(__CUDACC__)
#define FBSEG_HOST_DEVICE __host__ __device__
#else
#define FBSEG_HOST_DEVICE
#endif
