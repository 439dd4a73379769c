// fbseg/cuda/api.hpp - host-side declarations of the CUDA entry points (defined in kernels/*.cu).
//
// This header is plain C++: it never includes a CUDA header, so the header-only CPU library can
// include it. The functions are compiled into the `fbseg_cuda` library, which is built when the
// CUDA toolkit is found. The header-only core never calls them by name: it reaches them through
// the backend table of cuda/backend.hpp, which fbseg_cuda registers when the program starts
// (kernels/backend.cu), so that no inline body depends on whether a target links fbseg::cuda.
// Programs that link fbseg::cuda may call these functions directly (tests/gpu does).
//
// All pointers are device pointers unless the name says host. All sizes are in bytes unless the
// name says numel; strides are in elements. Every entry point checks its CUDA calls and throws
// fbseg::Error with the file, line and CUDA error string on failure.
#pragma once

#include <cstddef>
#include <cstdint>

#include "fbseg/core/dtype.hpp"

namespace fbseg::cuda {

/// The largest rank the strided kernels take (tensors of higher rank are coalesced or rejected).
inline constexpr int kMaxDims = 8;

// ---- devices --------------------------------------------------------------------------------
/// Number of usable CUDA devices; 0 when there is no driver or no GPU. Never throws.
int device_count();
/// device_count() > 0.
bool is_available();
/// Blocks until all work queued on `device` is done.
void synchronize(int device);

// ---- memory: a caching allocator (freed blocks are kept per device and size for reuse) -------
void* allocate(std::size_t bytes, int device);
/// Returns a block to the cache. Throws for a pointer it did not hand out; Storage's destructor
/// catches that (a destructor must not throw) and reports it once.
void deallocate(void* ptr, int device);
/// Returns every cached, unused block to the driver.
void empty_cache();

struct AllocatorStats {
    std::size_t allocated_bytes = 0;       // in use by tensors now
    std::size_t peak_allocated_bytes = 0;  // high-water mark of allocated_bytes
    std::size_t cached_bytes = 0;          // held by the cache, free for reuse
    std::size_t num_cuda_mallocs = 0;      // calls that reached cudaMalloc
};
AllocatorStats allocator_stats(int device);

void copy_host_to_device(void* dst, const void* host_src, std::size_t bytes, int device);
void copy_device_to_host(void* host_dst, const void* src, std::size_t bytes, int device);
void copy_device_to_device(void* dst, const void* src, std::size_t bytes, int device);

// ---- kernels --------------------------------------------------------------------------------
/// data[0..numel) = value (converted to dtype). Every dtype with ops is supported.
void fill(void* data, DType dtype, std::int64_t numel, double value, int device);

/// One operand of a strided elementwise kernel: a base pointer (already offset) and its strides
/// in elements for each of the `ndim` output dimensions (0 where the operand is broadcast).
struct StridedOperand {
    const void* data = nullptr;
    std::int64_t strides[kMaxDims] = {};
};

/// out = a + alpha * b over a shape of rank ndim <= kMaxDims (sizes[0..ndim)), with `out`
/// written through its own strides. float32, float64 and int64.
void add(DType dtype, int ndim, const std::int64_t* sizes, void* out, const std::int64_t* out_strides,
         const StridedOperand& a, const StridedOperand& b, double alpha, int device);

// ---- registration ---------------------------------------------------------------------------
/// Installs this library's table in the core's backend slot (cuda/backend.hpp). Runs by itself
/// when the program starts (a static initialiser in kernels/backend.cu, kept by the link option
/// that fbseg::cuda carries); calling it again is harmless. Returns true.
bool register_backend();

}  // namespace fbseg::cuda
