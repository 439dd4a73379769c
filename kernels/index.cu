// kernels/index.cu - gather, its adjoint scatter_add, and cumsum.
//
// The math (torch.gather / scatter_add / cumsum):
//
//     gather:       out[i_0, .., i_{k-1}] = x[i_0, .., index[i_0, .., i_{k-1}], .., i_{k-1}]
//                   (the index replaces the coordinate along `dim`)
//     scatter_add:  grad[i_0, .., index[i], .., i_{k-1}] += g[i]      for every position i
//     cumsum:       out[o, j, i] = sum_{j' <= j} x[o, j', i]          (reverse: j' >= j)
//
// CPU references (include/fbseg/ops/cpu/index.hpp): cpu::gather, cpu::scatter_add, cpu::cumsum;
// their loops are quoted above each kernel below.
//
// Index checks. An index outside [0, size of x along dim) is an error, as on the CPU. The host
// cannot read a device index tensor without copying it, so the kernel checks: a thread that sees
// a bad index raises a flag in device memory (atomicExch, so the first one also stores its value)
// and writes nothing through it; the host reads the flag back after the kernel (one small copy,
// which waits for the kernel) and throws fbseg::Error naming the value and the dim's size.
//
// Determinism. gather and cumsum write each output once: deterministic. scatter_add's v1 adds
// with atomicAdd, one thread per element of g: when two positions differ only along `dim` and
// carry the same index they hit the same element, and the order of their additions (so the last
// bits of a float sum) changes from run to run, as in PyTorch. v2 gives each line along `dim` to
// one thread, which adds its elements in order: no atomics, deterministic, and bitwise equal to
// the CPU (which walks the lines the same way). The dispatcher picks v2 whenever there are enough
// lines to fill the GPU, or when n == 1 (the losses' gather of one class per pixel).
#include <algorithm>
#include <cstdint>
#include <sstream>
#include <string>
#include <type_traits>

#include "cuda_check.cuh"
#include "launch.cuh"
#include "install.cuh"
#include "lab.cuh"

namespace fbseg::cuda {
namespace {

constexpr int kBlockSize = 256;
constexpr int kBlocksPerSm = 16;
constexpr std::int64_t kLinesToFill = 1 << 15;  // scatter_add: lines that keep a GPU busy (v2)

std::int64_t ceil_div(std::int64_t a, std::int64_t b) { return (a + b - 1) / b; }

int grid_for_threads(std::int64_t threads, int device) {
    return detail::capped_grid(ceil_div(threads, kBlockSize), device, kBlocksPerSm);
}

using detail::first_index;
using detail::grid_stride;

/// Where a kernel reports the first out-of-range index it met.
struct IndexError {
    unsigned int raised;  // 0: none
    long long value;      // the index, when raised
};

__device__ inline void report_bad_index(IndexError* error, std::int64_t value) {
    if (atomicExch(&error->raised, 1u) == 0u) error->value = static_cast<long long>(value);
}

/// A zeroed IndexError in device memory (from the caching allocator) for the life of the object;
/// check() waits for the kernels queued before it and throws when one raised the flag.
class IndexErrorSlot {
public:
    explicit IndexErrorSlot(int device) : device_(device) {
        slot_ = static_cast<IndexError*>(allocate(sizeof(IndexError), device));
        const cudaError_t status = cudaMemset(slot_, 0, sizeof(IndexError));
        if (status != cudaSuccess) {
            release();
            detail::throw_cuda_error(status, "cudaMemset(slot_, 0, sizeof(IndexError))", __FILE__, __LINE__);
        }
    }
    ~IndexErrorSlot() { release(); }
    IndexErrorSlot(const IndexErrorSlot&) = delete;
    IndexErrorSlot& operator=(const IndexErrorSlot&) = delete;
    IndexError* get() const { return slot_; }
    /// Throws "<op>: index V is out of range for dim D of size N (<context>)" if a thread raised it.
    void check(const char* op, std::int64_t dim, std::int64_t size, const std::string& context) const {
        IndexError host{};
        FBSEG_CUDA_CHECK(cudaMemcpy(&host, slot_, sizeof(IndexError), cudaMemcpyDeviceToHost));
        FBSEG_CHECK(host.raised == 0u, op, ": index ", host.value, " is out of range for dim ", dim, " of size ", size,
                    " (", context, ")");
    }

private:
    void release() noexcept {
        try {
            if (slot_) deallocate(slot_, device_);
        } catch (...) {  // a destructor must not throw
        }
        slot_ = nullptr;
    }
    IndexError* slot_ = nullptr;
    int device_;
};

std::string shape_text(const std::int64_t* sizes, int ndim) {
    std::ostringstream s;
    s << '[';
    for (int d = 0; d < ndim; ++d) s << (d ? ", " : "") << sizes[d];
    s << ']';
    return s.str();
}

/// Shape of the index (and of g / out) and the strides of the tensor indexed (x, or grad),
/// stored innermost first (q = 0 is the last dim) so that the kernels' unrolled loops index the
/// arrays with constants and the arrays stay in registers.
struct IndexLayout {
    int ndim = 0;
    int dim_q = 0;               // `dim`, counted from the innermost dim
    std::int64_t dim_size = 1;   // size of the indexed tensor along dim: indices lie in [0, dim_size)
    std::int64_t sizes[kMaxDims] = {};
    std::int64_t strides[kMaxDims] = {};
};

IndexLayout make_index_layout(int ndim, std::int64_t dim, const std::int64_t* index_sizes,
                              const std::int64_t* target_strides, std::int64_t dim_size) {
    IndexLayout l;
    if (ndim == 0) {  // a 0-dim tensor: one element, seen as [1] with dim 0
        l.ndim = 1;
        l.dim_q = 0;
        l.dim_size = 1;
        l.sizes[0] = 1;
        l.strides[0] = 1;
        return l;
    }
    l.ndim = ndim;
    l.dim_q = int(ndim - 1 - dim);
    l.dim_size = dim_size;
    for (int q = 0; q < ndim; ++q) {
        l.sizes[q] = index_sizes[ndim - 1 - q];
        l.strides[q] = target_strides[ndim - 1 - q];
    }
    return l;
}

/// Offset in the indexed tensor of position e of the index's shape, with coordinate `k` along dim.
__device__ inline std::int64_t target_offset(const IndexLayout& l, std::int64_t e, std::int64_t k) {
    std::int64_t rest = e, offset = 0;
#pragma unroll
    for (int q = 0; q < kMaxDims; ++q) {
        if (q == l.ndim) break;
        const std::int64_t c = rest % l.sizes[q];
        rest /= l.sizes[q];
        offset += (q == l.dim_q ? k : c) * l.strides[q];
    }
    return offset;
}

// gather v1: one thread per output element.
//   x strided (layout.strides); index, out contiguous of layout.sizes
// CPU reference (cpu::gather):
//   for (i < numel) { rest = i; off = 0;
//       for (d = ndim - 1; d >= 0; --d) { c = rest % shape[d]; rest /= shape[d];
//                                         off += (d == dim ? index[i] : c) * x_strides[d]; }
//       out[i] = x[off]; }
// Neighbouring threads read neighbouring index and out elements (coalesced); the reads of x go
// where the indices say.
template <typename T>
__global__ void gather_v1(const T* x, const std::int64_t* index, T* out, std::int64_t numel, IndexLayout layout,
                          IndexError* error) {
    for (std::int64_t e = first_index(); e < numel; e += grid_stride()) {
        const std::int64_t k = index[e];
        if (k < 0 || k >= layout.dim_size) {
            report_bad_index(error, k);
            out[e] = T(0);
            continue;
        }
        out[e] = x[target_offset(layout, e, k)];
    }
}

// scatter_add v1: one thread per element of g, atomicAdd into grad (may collide: see the top).
//   g, index contiguous of layout.sizes; grad contiguous (layout.strides are grad's)
// CPU reference (cpu::scatter_add, one task per line along dim, in order):
//   for (every position i of shape) gx[offset of i with index[i] along dim] += g[i];
template <typename T>
__global__ void scatter_add_v1(const T* g, const std::int64_t* index, T* grad, std::int64_t numel,
                               IndexLayout layout, IndexError* error) {
    for (std::int64_t e = first_index(); e < numel; e += grid_stride()) {
        const std::int64_t k = index[e];
        if (k < 0 || k >= layout.dim_size) {
            report_bad_index(error, k);
            continue;
        }
        atomicAdd(grad + target_offset(layout, e, k), g[e]);
    }
}

// scatter_add v2: one thread per line (o, kk) along dim, walking j = 0 .. n-1 in order (the CPU's
// loop). Two lines differ in a coordinate other than dim, so they never write the same element of
// grad: no atomics, deterministic. Coalesced when inner > 1 (neighbouring threads, neighbouring
// kk).
//   position of (o, j, kk) in g and index: (o * n + j) * inner + kk
template <typename T>
__global__ void scatter_add_v2(const T* g, const std::int64_t* index, T* grad, std::int64_t outer, std::int64_t n,
                               std::int64_t inner, std::int64_t dim_stride, IndexLayout layout, IndexError* error) {
    for (std::int64_t t = first_index(); t < outer * inner; t += grid_stride()) {
        const std::int64_t o = t / inner, kk = t % inner;
        const std::int64_t first = o * n * inner + kk;              // position of j = 0
        const std::int64_t base = target_offset(layout, first, 0);  // its offset with 0 along dim
        for (std::int64_t j = 0; j < n; ++j) {
            const std::int64_t e = first + j * inner;
            const std::int64_t k = index[e];
            if (k < 0 || k >= layout.dim_size) {
                report_bad_index(error, k);
                continue;
            }
            grad[base + k * dim_stride] += g[e];
        }
    }
}

// cumsum v1: one thread per line (o, i), a running sum in Acc (double for floating types, int64
// for int64), as the CPU.
//   x, out: (outer, n, inner) contiguous
// CPU reference (cpu::cumsum):
//   for (t < outer * inner) { o = t / inner; i = t % inner; acc = 0;
//       for (s < n) { j = reverse ? n - 1 - s : s; acc += x[(o * n + j) * inner + i];
//                     out[(o * n + j) * inner + i] = T(acc); } }
// Coalesced when inner > 1 (neighbouring threads, neighbouring i).
template <typename T, typename Acc>
__global__ void cumsum_v1(const T* x, T* out, std::int64_t outer, std::int64_t n, std::int64_t inner, bool reverse) {
    for (std::int64_t t = first_index(); t < outer * inner; t += grid_stride()) {
        const std::int64_t o = t / inner, i = t % inner;
        const T* px = x + o * n * inner + i;
        T* po = out + o * n * inner + i;
        Acc acc = 0;
        for (std::int64_t s = 0; s < n; ++s) {
            const std::int64_t j = reverse ? n - 1 - s : s;
            acc += Acc(px[j * inner]);
            po[j * inner] = T(acc);
        }
    }
}

}  // namespace

void gather(DType dtype, const void* x, const std::int64_t* x_sizes, const std::int64_t* x_strides,
            const std::int64_t* index, const std::int64_t* index_sizes, int ndim, std::int64_t dim, void* out,
            int device) {
    FBSEG_CHECK(ndim >= 0 && ndim <= kMaxDims, "gather: rank must be in [0, ", kMaxDims, "] but got ", ndim);
    FBSEG_CHECK(ndim == 0 ? (dim == 0 || dim == -1) : (dim >= 0 && dim < ndim), "gather: dim ", dim,
                " is out of range for rank ", ndim);
    std::int64_t numel = 1;
    for (int d = 0; d < ndim; ++d) numel *= index_sizes[d];
    if (numel == 0) return;
    FBSEG_CHECK(x != nullptr && index != nullptr && out != nullptr, "gather: null data pointer");
    detail::DeviceGuard guard(device, "gather");
    (void)detail::choose_version("gather", 1, 1);
    const std::int64_t dim_size = ndim == 0 ? 1 : x_sizes[dim];
    const IndexLayout layout = make_index_layout(ndim, dim, index_sizes, x_strides, dim_size);
    IndexErrorSlot error(device);
    dispatch_numeric(dtype, "gather", [&]<typename T>() {
        gather_v1<T><<<grid_for_threads(numel, device), kBlockSize>>>(static_cast<const T*>(x), index,
                                                                        static_cast<T*>(out), numel, layout,
                                                                        error.get());
        FBSEG_CUDA_CHECK_LAUNCH();
    });
    error.check("gather", ndim == 0 ? 0 : dim, dim_size,
                "input " + shape_text(x_sizes, ndim) + ", index " + shape_text(index_sizes, ndim));
}

void scatter_add(DType dtype, const void* g, const std::int64_t* index, const std::int64_t* index_sizes, int ndim,
                 std::int64_t dim, void* grad, const std::int64_t* grad_sizes, int device) {
    FBSEG_CHECK(ndim >= 0 && ndim <= kMaxDims, "scatter_add: rank must be in [0, ", kMaxDims, "] but got ", ndim);
    FBSEG_CHECK(ndim == 0 ? (dim == 0 || dim == -1) : (dim >= 0 && dim < ndim), "scatter_add: dim ", dim,
                " is out of range for rank ", ndim);
    std::int64_t numel = 1, outer = 1, inner = 1;
    for (int d = 0; d < ndim; ++d) {
        numel *= index_sizes[d];
        if (d < dim) outer *= index_sizes[d];
        if (d > dim) inner *= index_sizes[d];
    }
    if (numel == 0) return;
    FBSEG_CHECK(g != nullptr && index != nullptr && grad != nullptr, "scatter_add: null data pointer");
    const std::int64_t n = ndim == 0 ? 1 : index_sizes[dim];
    std::int64_t grad_strides[kMaxDims] = {};  // grad is contiguous
    for (std::int64_t d = ndim - 1, s = 1; d >= 0; --d) {
        grad_strides[d] = s;
        s *= grad_sizes[d];
    }
    detail::DeviceGuard guard(device, "scatter_add");
    const int automatic = (n == 1 || outer * inner >= kLinesToFill) ? 2 : 1;
    const int version = detail::choose_version("scatter_add", automatic, 2);
    const std::int64_t dim_size = ndim == 0 ? 1 : grad_sizes[dim];
    const IndexLayout layout = make_index_layout(ndim, dim, index_sizes, grad_strides, dim_size);
    const std::int64_t dim_stride = ndim == 0 ? 1 : grad_strides[dim];
    IndexErrorSlot error(device);
    dispatch_floating(dtype, "scatter_add", [&]<typename T>() {
        const T* pg = static_cast<const T*>(g);
        T* pgrad = static_cast<T*>(grad);
        if (version == 1) {
            scatter_add_v1<T><<<grid_for_threads(numel, device), kBlockSize>>>(pg, index, pgrad, numel, layout,
                                                                             error.get());
        } else {
            scatter_add_v2<T><<<grid_for_threads(outer * inner, device), kBlockSize>>>(pg, index, pgrad, outer, n,
                                                                                     inner, dim_stride, layout,
                                                                                     error.get());
        }
        FBSEG_CUDA_CHECK_LAUNCH();
    });
    error.check("scatter_add", ndim == 0 ? 0 : dim, dim_size,
                "gradient " + shape_text(grad_sizes, ndim) + ", index " + shape_text(index_sizes, ndim));
}

void cumsum(DType dtype, const void* x, void* out, std::int64_t outer, std::int64_t n, std::int64_t inner,
            bool reverse, int device) {
    FBSEG_CHECK(outer >= 0 && n >= 0 && inner >= 0, "cumsum: bad shape (", outer, ", ", n, ", ", inner, ")");
    if (outer * n * inner == 0) return;
    FBSEG_CHECK(x != nullptr && out != nullptr, "cumsum: null data pointer");
    detail::DeviceGuard guard(device, "cumsum");
    (void)detail::choose_version("cumsum", 1, 1);
    dispatch_numeric(dtype, "cumsum", [&]<typename T>() {
        using Acc = std::conditional_t<std::is_same_v<T, std::int64_t>, std::int64_t, double>;
        cumsum_v1<T, Acc><<<grid_for_threads(outer * inner, device), kBlockSize>>>(
            static_cast<const T*>(x), static_cast<T*>(out), outer, n, inner, reverse);
        FBSEG_CUDA_CHECK_LAUNCH();
    });
}

void install_index_kernels(Backend& b) {
    b.gather = &gather;
    b.scatter_add = &scatter_add;
    b.cumsum = &cumsum;
}

}  // namespace fbseg::cuda
