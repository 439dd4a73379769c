// kernels/strided.cuh - the engine of the elementwise maps: one thread per output element over
// tensors of any layout (kernels/map.cu).
//
// A map with N operands (the output first, then the inputs) is described by the output's sizes
// and each operand's strides in elements (0 where an input is broadcast). The host side first
// simplifies that description (coalesce: drop size-1 dims, merge neighbouring dims every operand
// walks as one), then launches one of two kernels with a functor f that does the per-element work
// given the N element offsets:
//   - map_contiguous_kernel: every operand is contiguous, so every offset is the linear index n;
//   - map_strided_kernel: the linear index n is unravelled into a multi-index (innermost dim
//     first) and each operand's offset is its dot product with that operand's strides:
//         r_0 = n,  i_d = r_d mod sizes[d],  r_{d+1} = r_d / sizes[d],  off_k = sum_d i_d strides[k][d]
//     compiled with 32-bit index math whenever every index and offset fits (integer division is
//     much slower in 64 bits on a GPU).
// kernels/elementwise.cu holds add, the first kernel of this shape, with a 128-bit vectorised
// contiguous path; the maps here are its general form (see docs/kernels.md).
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>

#include "cuda_check.cuh"
#include "launch.cuh"
#include "fbseg/cuda/api.hpp"

namespace fbseg::cuda::detail {

inline constexpr int kMapBlockSize = 256;   // threads per block
inline constexpr int kMapBlocksPerSm = 16;  // grid cap: a few waves per SM; the grid-stride loop does the rest

/// Sizes and strides of N operands, row-major (dim ndim-1 innermost), as the host builds them.
template <int N>
struct MapDims {
    int ndim = 0;
    std::int64_t sizes[kMaxDims] = {};
    std::int64_t strides[N][kMaxDims] = {};

    std::int64_t numel() const {
        std::int64_t n = 1;
        for (int d = 0; d < ndim; ++d) n *= sizes[d];
        return n;
    }
};

/// The same, innermost dim first, in the index type the kernel computes with.
template <int N, typename Index>
struct MapLayout {
    int ndim = 0;
    Index sizes[kMaxDims] = {};
    Index strides[N][kMaxDims] = {};
};

/// Drops size-1 dims and merges an outer dim into the next inner one when every operand's outer
/// stride equals its inner stride times the inner size (the two dims are then one run).
template <int N>
MapDims<N> coalesce(const MapDims<N>& in) {
    MapDims<N> out;
    for (int d = 0; d < in.ndim; ++d) {
        if (in.sizes[d] == 1) continue;
        const int last = out.ndim - 1;
        bool merges = last >= 0;
        for (int k = 0; k < N && merges; ++k) merges = out.strides[k][last] == in.strides[k][d] * in.sizes[d];
        if (merges) {
            out.sizes[last] *= in.sizes[d];
            for (int k = 0; k < N; ++k) out.strides[k][last] = in.strides[k][d];
        } else {
            out.sizes[out.ndim] = in.sizes[d];
            for (int k = 0; k < N; ++k) out.strides[k][out.ndim] = in.strides[k][d];
            ++out.ndim;
        }
    }
    return out;
}

/// After coalescing: one dim of stride 1 for every operand (or a single element).
template <int N>
bool all_contiguous(const MapDims<N>& dims) {
    if (dims.ndim == 0) return true;
    if (dims.ndim > 1) return false;
    for (int k = 0; k < N; ++k)
        if (dims.strides[k][0] != 1) return false;
    return true;
}

/// True when every linear index and every operand offset fits in a signed 32-bit integer.
template <int N>
bool fits_in_32_bits(const MapDims<N>& dims, std::int64_t numel) {
    constexpr std::int64_t kMax = std::numeric_limits<std::int32_t>::max();
    if (numel > kMax) return false;
    for (int k = 0; k < N; ++k) {
        std::int64_t reach = 0;
        for (int d = 0; d < dims.ndim; ++d) {
            const std::int64_t s = dims.strides[k][d] < 0 ? -dims.strides[k][d] : dims.strides[k][d];
            reach += (dims.sizes[d] - 1) * s;
        }
        if (reach > kMax) return false;
    }
    return true;
}

template <int N, typename Index>
MapLayout<N, Index> make_map_layout(const MapDims<N>& dims) {
    MapLayout<N, Index> layout;
    layout.ndim = dims.ndim;
    for (int d = 0; d < dims.ndim; ++d) {
        const int row_major = dims.ndim - 1 - d;
        layout.sizes[d] = Index(dims.sizes[row_major]);
        for (int k = 0; k < N; ++k) layout.strides[k][d] = Index(dims.strides[k][row_major]);
    }
    return layout;
}

template <int N, typename F>
__global__ void map_contiguous_kernel(F f, std::int64_t numel) {
    const std::int64_t step = std::int64_t(gridDim.x) * blockDim.x;
    for (std::int64_t n = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x; n < numel; n += step) {
        std::int64_t off[N];
#pragma unroll
        for (int k = 0; k < N; ++k) off[k] = n;
        f(off);
    }
}

template <int N, typename Index, typename F>
__global__ void map_strided_kernel(F f, std::int64_t numel, MapLayout<N, Index> layout) {
    const std::int64_t step = std::int64_t(gridDim.x) * blockDim.x;
    for (std::int64_t n = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x; n < numel; n += step) {
        Index rest = Index(n);
        Index off[N];
#pragma unroll
        for (int k = 0; k < N; ++k) off[k] = 0;
#pragma unroll
        for (int d = 0; d < kMaxDims; ++d) {
            if (d == layout.ndim) break;
            const Index i = rest % layout.sizes[d];
            rest /= layout.sizes[d];
#pragma unroll
            for (int k = 0; k < N; ++k) off[k] += i * layout.strides[k][d];
        }
        f(off);
    }
}

/// Blocks for `items` > 0 items on `device`.
inline int map_grid_size(std::int64_t items, int device) {
    return capped_grid((items + kMapBlockSize - 1) / kMapBlockSize, device, kMapBlocksPerSm);
}

/// Builds the MapDims of N operands from the public arguments (sizes, the output's strides, the
/// inputs' StridedOperands), checking the rank and sizes; `op` names the caller in errors.
template <int N>
MapDims<N> map_dims(const char* op, int ndim, const std::int64_t* sizes, const std::int64_t* out_strides,
                    const StridedOperand* const* inputs) {
    FBSEG_CHECK(ndim >= 0 && ndim <= kMaxDims, op, ": rank must be in [0, ", kMaxDims, "] but got ", ndim);
    MapDims<N> dims;
    dims.ndim = ndim;
    for (int d = 0; d < ndim; ++d) {
        FBSEG_CHECK(sizes[d] >= 0, op, ": size of dim ", d, " must be >= 0 but got ", sizes[d]);
        dims.sizes[d] = sizes[d];
        dims.strides[0][d] = out_strides[d];
        for (int k = 1; k < N; ++k) dims.strides[k][d] = inputs[k - 1]->strides[d];
    }
    return dims;
}

/// Runs f over every element described by `dims` (not yet coalesced) on the current device.
template <int N, typename F>
void launch_map(const MapDims<N>& raw, F f, int device) {
    const std::int64_t numel = raw.numel();
    if (numel == 0) return;
    const MapDims<N> dims = coalesce(raw);
    const int grid = map_grid_size(numel, device);
    if (all_contiguous(dims)) {
        map_contiguous_kernel<N><<<grid, kMapBlockSize>>>(f, numel);
    } else if (fits_in_32_bits(dims, numel)) {
        map_strided_kernel<N, std::int32_t><<<grid, kMapBlockSize>>>(f, numel, make_map_layout<N, std::int32_t>(dims));
    } else {
        map_strided_kernel<N, std::int64_t><<<grid, kMapBlockSize>>>(f, numel, make_map_layout<N, std::int64_t>(dims));
    }
    FBSEG_CUDA_CHECK_LAUNCH();
}

}  // namespace fbseg::cuda::detail
