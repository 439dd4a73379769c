// kernels/elementwise.cu - fill and add: the elementwise kernels, one thread per element.
//
// Both kernels use a grid-stride loop: the grid is sized to fill the GPU a few times over (not
// to the number of elements), and thread t handles elements t, t + T, t + 2T, ... where T is the
// number of threads in the grid. Any numel works with any grid, and consecutive threads touch
// consecutive addresses, so the loads and stores of a warp are coalesced.
//
// Indices are 64-bit wherever a tensor can exceed 2^31 elements. The strided kernel, whose index
// math is dominated by integer division (much slower in 64 bits on a GPU), is compiled twice and
// uses 32-bit indices when every index and offset fits.
#include <algorithm>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "cuda_check.cuh"
#include "launch.cuh"

namespace fbseg::cuda {
namespace {

constexpr int kBlockSize = 256;   // threads per block, for every kernel in this file
constexpr int kBlocksPerSm = 16;  // grid size cap: a few waves of blocks on each SM; the
                                  // grid-stride loop covers whatever is left
constexpr int kVectorBytes = 16;  // widest load a thread can issue in one instruction

std::int64_t ceil_div(std::int64_t a, std::int64_t b) { return (a + b - 1) / b; }

/// Blocks for `work_items` > 0 items of work on `device` (the current device).
int grid_size(std::int64_t work_items, int device) {
    return detail::capped_grid(ceil_div(work_items, kBlockSize), device, kBlocksPerSm);
}

using detail::first_index;
using detail::grid_stride;

/// The value stored for `value` in a tensor of type T, as the CPU side converts it
/// (a C++ cast, except bool(x) is x != 0).
template <typename T>
T to_element(double value) {
    if constexpr (std::is_same_v<T, bool>) {
        return value != 0.0;
    } else {
        return static_cast<T>(value);
    }
}

// ---- fill -----------------------------------------------------------------------------------

// fill: data[i] = value
//   data: (numel,) contiguous, any dtype with ops
// CPU reference:
//   for (int64_t i = 0; i < numel; ++i) data[i] = value;
template <typename T>
__global__ void fill_kernel(T* data, std::int64_t numel, T value) {
    for (std::int64_t i = first_index(); i < numel; i += grid_stride()) data[i] = value;
}

// ---- add, contiguous ------------------------------------------------------------------------

/// kWidth elements moved with one load or store (alignas makes the compiler emit a vector load).
template <typename T, int kWidth>
struct alignas(sizeof(T) * kWidth) Pack {
    T values[kWidth];
};

// add, contiguous: out[i] = a[i] + alpha * b[i]
//   out, a, b: (numel,) contiguous, same shape; float32, float64 or int64
// CPU reference:
//   for (int64_t i = 0; i < numel; ++i) out[i] = a[i] + alpha * b[i];
// Each step of a thread handles one Pack of kWidth neighbouring elements (so kWidth > 1 needs
// the three pointers aligned to a Pack); the numel % kWidth elements past the last full Pack
// are handled one at a time.
template <typename T, int kWidth>
__global__ void add_contiguous_kernel(T* out, const T* a, const T* b, T alpha, std::int64_t numel) {
    using P = Pack<T, kWidth>;
    const std::int64_t num_packs = numel / kWidth;
    const P* a_packs = reinterpret_cast<const P*>(a);
    const P* b_packs = reinterpret_cast<const P*>(b);
    P* out_packs = reinterpret_cast<P*>(out);
    for (std::int64_t p = first_index(); p < num_packs; p += grid_stride()) {
        const P x = a_packs[p];
        const P y = b_packs[p];
        P result;
#pragma unroll
        for (int k = 0; k < kWidth; ++k) result.values[k] = x.values[k] + alpha * y.values[k];
        out_packs[p] = result;
    }
    for (std::int64_t i = num_packs * kWidth + first_index(); i < numel; i += grid_stride()) {
        out[i] = a[i] + alpha * b[i];
    }
}

// ---- add, strided ---------------------------------------------------------------------------

/// Shape and strides of the three operands, in the form the strided kernel reads them.
/// Dimensions are stored innermost first (dim 0 is the last, fastest-moving dimension) so that
/// the kernel's unrolled loop indexes these arrays with compile-time constants.
template <typename Index>
struct StridedLayout {
    int ndim = 0;
    Index sizes[kMaxDims] = {};
    Index out_strides[kMaxDims] = {};
    Index a_strides[kMaxDims] = {};
    Index b_strides[kMaxDims] = {};
};

// add, strided: out[o(n)] = a[oa(n)] + alpha * b[ob(n)] for every linear index 0 <= n < numel
//   sizes: (ndim,); strides: (ndim,) in elements per operand, 0 where the operand is broadcast
// The linear index n is unravelled into the multi-index (i_0, ..., i_{ndim-1}) of a row-major
// walk over `sizes` (dims innermost first, as stored in the layout):
//   r_0 = n,   i_d = r_d mod sizes[d],   r_{d+1} = r_d / sizes[d]
// and every operand's offset is the dot product of that multi-index with its strides:
//   o(n) = sum_d i_d * out_strides[d]   (likewise oa with a_strides, ob with b_strides)
// CPU reference:
//   for (int64_t n = 0; n < numel; ++n) {
//       int64_t rest = n, o = 0, oa = 0, ob = 0;
//       for (int d = 0; d < ndim; ++d) {
//           const int64_t i = rest % sizes[d];
//           rest /= sizes[d];
//           o += i * out_strides[d]; oa += i * a_strides[d]; ob += i * b_strides[d];
//       }
//       out[o] = a[oa] + alpha * b[ob];
//   }
template <typename T, typename Index>
__global__ void add_strided_kernel(T* out, const T* a, const T* b, T alpha, std::int64_t numel,
                                   StridedLayout<Index> layout) {
    for (std::int64_t n = first_index(); n < numel; n += grid_stride()) {
        Index rest = Index(n);
        Index o = 0, oa = 0, ob = 0;
#pragma unroll
        for (int d = 0; d < kMaxDims; ++d) {
            if (d == layout.ndim) break;
            const Index i = rest % layout.sizes[d];
            rest /= layout.sizes[d];
            o += i * layout.out_strides[d];
            oa += i * layout.a_strides[d];
            ob += i * layout.b_strides[d];
        }
        out[o] = a[oa] + alpha * b[ob];
    }
}

// ---- host side: simplifying the layout, choosing and launching a kernel ---------------------

/// Sizes and strides of out (operand 0), a (1) and b (2), row-major (dim ndim-1 innermost).
struct Dims {
    static constexpr int kOperands = 3;
    int ndim = 0;
    std::int64_t sizes[kMaxDims] = {};
    std::int64_t strides[kOperands][kMaxDims] = {};
};

/// Removes size-1 dims (their index is always 0) and merges neighbouring dims that every operand
/// walks as one: an outer dim of stride s_o and an inner dim of size n and stride s_i merge into
/// one dim of size (outer size * n) and stride s_i when s_o == s_i * n for all three operands.
/// Contiguous operands collapse to a single dim of stride 1, broadcast runs to stride 0.
Dims coalesce(const Dims& in) {
    Dims out;
    for (int d = 0; d < in.ndim; ++d) {
        if (in.sizes[d] == 1) continue;
        const int last = out.ndim - 1;
        bool merges = last >= 0;
        for (int op = 0; op < Dims::kOperands && merges; ++op) {
            merges = out.strides[op][last] == in.strides[op][d] * in.sizes[d];
        }
        if (merges) {
            out.sizes[last] *= in.sizes[d];
            for (int op = 0; op < Dims::kOperands; ++op) out.strides[op][last] = in.strides[op][d];
        } else {
            out.sizes[out.ndim] = in.sizes[d];
            for (int op = 0; op < Dims::kOperands; ++op) out.strides[op][out.ndim] = in.strides[op][d];
            ++out.ndim;
        }
    }
    return out;
}

bool is_contiguous(const Dims& dims) {
    if (dims.ndim == 0) return true;  // a single element
    if (dims.ndim > 1) return false;
    return dims.strides[0][0] == 1 && dims.strides[1][0] == 1 && dims.strides[2][0] == 1;
}

/// True when every linear index and every operand offset fits in a signed 32-bit integer.
bool fits_in_32_bits(const Dims& dims, std::int64_t numel) {
    constexpr std::int64_t kMax = std::numeric_limits<std::int32_t>::max();
    if (numel > kMax) return false;
    for (int op = 0; op < Dims::kOperands; ++op) {
        std::int64_t largest_offset = 0;  // largest |offset| the operand can reach
        for (int d = 0; d < dims.ndim; ++d) {
            const std::int64_t stride = dims.strides[op][d] < 0 ? -dims.strides[op][d] : dims.strides[op][d];
            largest_offset += (dims.sizes[d] - 1) * stride;
        }
        if (largest_offset > kMax) return false;
    }
    return true;
}

template <typename Index>
StridedLayout<Index> make_layout(const Dims& dims) {
    StridedLayout<Index> layout;
    layout.ndim = dims.ndim;
    for (int d = 0; d < dims.ndim; ++d) {
        const int row_major = dims.ndim - 1 - d;  // innermost first
        layout.sizes[d] = Index(dims.sizes[row_major]);
        layout.out_strides[d] = Index(dims.strides[0][row_major]);
        layout.a_strides[d] = Index(dims.strides[1][row_major]);
        layout.b_strides[d] = Index(dims.strides[2][row_major]);
    }
    return layout;
}

bool is_aligned(const void* ptr, std::size_t alignment) {
    return reinterpret_cast<std::uintptr_t>(ptr) % alignment == 0;
}

template <typename T>
void launch_add(const Dims& dims, std::int64_t numel, T* out, const T* a, const T* b, T alpha, int device) {
    if (is_contiguous(dims)) {
        constexpr int kWidth = kVectorBytes / int(sizeof(T));
        if (is_aligned(out, kVectorBytes) && is_aligned(a, kVectorBytes) && is_aligned(b, kVectorBytes)) {
            add_contiguous_kernel<T, kWidth>
                <<<grid_size(ceil_div(numel, kWidth), device), kBlockSize>>>(out, a, b, alpha, numel);
        } else {
            add_contiguous_kernel<T, 1><<<grid_size(numel, device), kBlockSize>>>(out, a, b, alpha, numel);
        }
    } else if (fits_in_32_bits(dims, numel)) {
        add_strided_kernel<T, std::int32_t>
            <<<grid_size(numel, device), kBlockSize>>>(out, a, b, alpha, numel, make_layout<std::int32_t>(dims));
    } else {
        add_strided_kernel<T, std::int64_t>
            <<<grid_size(numel, device), kBlockSize>>>(out, a, b, alpha, numel, make_layout<std::int64_t>(dims));
    }
    FBSEG_CUDA_CHECK_LAUNCH();
}

}  // namespace

void fill(void* data, DType dtype, std::int64_t numel, double value, int device) {
    FBSEG_CHECK(numel >= 0, "fill: numel must be >= 0 but got ", numel);
    if (numel == 0) return;
    FBSEG_CHECK(data != nullptr, "fill: null data pointer for ", numel, " elements");
    detail::DeviceGuard guard(device, "fill");
    dispatch_all(dtype, "fill", [&]<typename T>() {
        fill_kernel<T><<<grid_size(numel, device), kBlockSize>>>(static_cast<T*>(data), numel, to_element<T>(value));
        FBSEG_CUDA_CHECK_LAUNCH();
    });
}

void add(DType dtype, int ndim, const std::int64_t* sizes, void* out, const std::int64_t* out_strides,
         const StridedOperand& a, const StridedOperand& b, double alpha, int device) {
    FBSEG_CHECK(ndim >= 0 && ndim <= kMaxDims, "add: rank must be in [0, ", kMaxDims, "] but got ", ndim);
    Dims dims;
    dims.ndim = ndim;
    std::int64_t numel = 1;
    for (int d = 0; d < ndim; ++d) {
        FBSEG_CHECK(sizes[d] >= 0, "add: size of dim ", d, " must be >= 0 but got ", sizes[d]);
        dims.sizes[d] = sizes[d];
        dims.strides[0][d] = out_strides[d];
        dims.strides[1][d] = a.strides[d];
        dims.strides[2][d] = b.strides[d];
        numel *= sizes[d];
    }
    if (numel == 0) return;
    FBSEG_CHECK(out != nullptr && a.data != nullptr && b.data != nullptr, "add: null data pointer for ", numel,
                " elements");
    detail::DeviceGuard guard(device, "add");
    dispatch_numeric(dtype, "add", [&]<typename T>() {
        launch_add<T>(coalesce(dims), numel, static_cast<T*>(out), static_cast<const T*>(a.data),
                      static_cast<const T*>(b.data), to_element<T>(alpha), device);
    });
}

}  // namespace fbseg::cuda
