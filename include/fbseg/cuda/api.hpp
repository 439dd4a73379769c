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
#include "fbseg/ops/geometry/conv.hpp"
#include "fbseg/ops/geometry/interpolate.hpp"
#include "fbseg/ops/geometry/pool.hpp"

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

// ---- elementwise maps (kernels/map.cu; the formulas: ops/functors/unary.hpp) -----------------
// Every map takes the output shape (ndim <= kMaxDims sizes), the output's strides, and each input
// as a StridedOperand (strides 0 where it is broadcast): any layout, one thread per element.

/// The elementwise functions of one tensor (each is a struct of ops/functors/unary.hpp with this
/// code; p0, p1 are its parameters: LeakyRelu's slope, Pow's exponent, Clamp's lo and hi).
enum class UnaryOp : std::int32_t {
    Neg, Exp, Log, Sqrt, Abs, Relu, LeakyRelu, Sigmoid, Tanh, Silu, Pow, Clamp, ClampOut, Round, Softplus
};
/// out = f(x). float32, float64.
void unary(UnaryOp op, DType dtype, int ndim, const std::int64_t* sizes, void* out, const std::int64_t* out_strides,
           const StridedOperand& x, double p0, double p1, int device);
/// gx = f's backward(g, saved): `saved` is x when the function's backward needs x, else y.
void unary_backward(UnaryOp op, DType dtype, int ndim, const std::int64_t* sizes, void* gx,
                    const std::int64_t* gx_strides, const StridedOperand& g, const StridedOperand& saved, double p0,
                    double p1, int device);

/// The elementwise functions of two tensors (the lambdas of ops/binary.hpp). The comparisons
/// write bool; the others write `dtype`.
enum class BinaryOp : std::int32_t { Mul, Div, Maximum, Minimum, Gt, Lt, Ge, Le, Eq, Ne };
/// out = f(a, b). float32, float64, int64.
void binary(BinaryOp op, DType dtype, int ndim, const std::int64_t* sizes, void* out, const std::int64_t* out_strides,
            const StridedOperand& a, const StridedOperand& b, int device);
/// The gradient of maximum (a_is_max) or minimum for operand a: out = g where a wins, 0 where it
/// loses, g / 2 on ties (binary::select_grad). float32, float64.
void select_grad(DType dtype, int ndim, const std::int64_t* sizes, void* out, const std::int64_t* out_strides,
                 const StridedOperand& g, const StridedOperand& a, const StridedOperand& b, bool a_is_max, int device);
/// out = condition ? a : b, condition bool, a, b and out of `dtype` (any dtype).
void where(DType dtype, int ndim, const std::int64_t* sizes, void* out, const std::int64_t* out_strides,
           const StridedOperand& condition, const StridedOperand& a, const StridedOperand& b, int device);
/// out = convert(src): any dtype to any dtype (cpu::convert's rules: bool(x) is x != 0, float
/// to integer truncates, NaN to integer is 0), any layout, src broadcast.
void copy_strided(DType out_dtype, int ndim, const std::int64_t* sizes, void* out, const std::int64_t* out_strides,
                  DType src_dtype, const StridedOperand& src, int device);

// ---- the kernel families ----------------------------------------------------------------------
// Each family lives in its own kernels/<family>.cu and mirrors one CPU seam of ops/kernel/*.hpp:
// the same arguments, with tensors as raw device pointers in the seam's layout (contiguous unless
// strides are given) and `dtype` saying what they hold (float32 and float64 unless a family says
// otherwise). Per-channel vectors that the CPU seam passes as host arrays of doubles stay host
// arrays of doubles here (the kernel uploads or downloads them).

// ---- convolution (kernels/conv.cu; CPU twin: ops/cpu/conv_kernels.hpp) ----------------------
// x [n, c_in, h, w], weight [c_out, c_in / groups, kh, kw], y [n, c_out, ho, wo], contiguous.
/// y = conv2d(x, weight) + bias (bias may be null). Overwrites y.
void conv2d_forward(DType dtype, const ConvGeometry& g, const void* x, const void* weight, const void* bias, void* y,
                    int device);
/// gx = the gradient of conv2d's input from gy. Overwrites gx.
void conv2d_backward_data(DType dtype, const ConvGeometry& g, const void* gy, const void* weight, void* gx, int device);
/// gw = the gradient of conv2d's weight from x and gy. Overwrites gw.
void conv2d_backward_weight(DType dtype, const ConvGeometry& g, const void* x, const void* gy, void* gw, int device);
/// gb[k] = sum over i, j of gy[i, k, j] for gy [n, c, p]. Overwrites gb.
void conv_bias_backward(DType dtype, const void* gy, void* gb, std::int64_t n, std::int64_t c, std::int64_t p,
                        int device);
/// y[i, k, j] += b[k] for y [n, c, p].
void add_channel_bias(DType dtype, void* y, const void* b, std::int64_t n, std::int64_t c, std::int64_t p, int device);

// ---- matrix product (kernels/matmul.cu; CPU twin: ops/cpu/linalg.hpp) -------------------------
/// c[i] = a[i] @ b[i] for a [batch, m, k] and b [batch, k, n] given by their strides (in elements,
/// three each: batch, row, column), c [batch, m, n] contiguous. Overwrites c.
void bmm_forward(DType dtype, const void* a, const std::int64_t* a_strides, const void* b,
                 const std::int64_t* b_strides, void* c, std::int64_t batch, std::int64_t m, std::int64_t k,
                 std::int64_t n, int device);

/// How bmm_forward may compute float32 products. Float32 (the default): exact FP32 math (every
/// product and sum in float32, as the CPU). TF32: the dispatcher may use the tensor cores with
/// inputs rounded to TF32 (10-bit mantissa, float32 accumulation; sm_80 and later). BF16: the
/// dispatcher may round inputs to bfloat16 (no BF16 kernel yet: runs the TF32 kernel, which is
/// more accurate). float64 is always exact. Process-wide, thread-safe.
enum class MatmulPrecision { Float32, TF32, BF16 };
void set_matmul_precision(MatmulPrecision precision);
MatmulPrecision matmul_precision();

// ---- batch norm (kernels/batch_norm.cu; CPU twin: ops/cpu/batch_norm.hpp) ---------------------
// x, y, gy, gx: (n, c, s) contiguous; gamma, beta, mean, invstd, var_unbiased: host arrays of c
// doubles, as the CPU kernel takes them (mean, invstd and var_unbiased are written when
// batch_stats, read otherwise).
void batch_norm_forward(DType dtype, const void* x, void* y, std::int64_t n, std::int64_t c, std::int64_t s,
                        const double* gamma, const double* beta, bool batch_stats, double eps, double* mean,
                        double* invstd, double* var_unbiased, int device);
/// running_mean, running_var: c elements of `dtype` at the given strides, updated in place.
void batch_norm_update_running_stats(DType dtype, void* running_mean, std::int64_t mean_stride, void* running_var,
                                     std::int64_t var_stride, std::int64_t c, const double* mean,
                                     const double* var_unbiased, double momentum, int device);
/// gx, gw, gb may each be null (not needed). Overwrites what it writes.
void batch_norm_backward(DType dtype, const void* x, const void* gy, void* gx, void* gw, void* gb, std::int64_t n,
                         std::int64_t c, std::int64_t s, const double* gamma, const double* mean, const double* invstd,
                         bool batch_stats, int device);

// ---- pooling (kernels/pool.cu; CPU twin: ops/cpu/pool.hpp) ------------------------------------
void max_pool2d_forward(DType dtype, const void* x, void* y, std::int64_t* indices, const MaxPool2dGeometry& g,
                        int device);
/// gx += the scatter of gy at indices.
void max_pool2d_backward(DType dtype, const void* gy, const std::int64_t* indices, void* gx, const MaxPool2dGeometry& g,
                         int device);
void adaptive_avg_pool2d_forward(DType dtype, const void* x, void* y, const AdaptivePool2dGeometry& g, int device);
/// gx += the spread of gy.
void adaptive_avg_pool2d_backward(DType dtype, const void* gy, void* gx, const AdaptivePool2dGeometry& g, int device);

// ---- resizing (kernels/resize.cu; CPU twin: ops/cpu/interpolate.hpp) --------------------------
// Taps are host arrays, as ops/interpolate.hpp computes them: rows has oh entries, cols ow; the
// bilinear weights l0, l1 are of `dtype`.
struct LinearTapsHost {
    const std::int64_t* i0 = nullptr;
    const std::int64_t* i1 = nullptr;
    const void* l0 = nullptr;
    const void* l1 = nullptr;
};
void upsample_nearest2d_forward(DType dtype, const void* x, void* y, const Resize2dGeometry& g,
                                const std::int64_t* rows, const std::int64_t* cols, int device);
/// gx += the scatter of gy.
void upsample_nearest2d_backward(DType dtype, const void* gy, void* gx, const Resize2dGeometry& g,
                                 const std::int64_t* rows, const std::int64_t* cols, int device);
void upsample_bilinear2d_forward(DType dtype, const void* x, void* y, const Resize2dGeometry& g,
                                 const LinearTapsHost& th, const LinearTapsHost& tw, int device);
/// gx += the weighted scatter of gy.
void upsample_bilinear2d_backward(DType dtype, const void* gy, void* gx, const Resize2dGeometry& g,
                                  const LinearTapsHost& th, const LinearTapsHost& tw, int device);

// ---- dropout (kernels/dropout.cu; CPU twin: ops/cpu/dropout.hpp + core/generator.hpp) ----------
/// mask[i] = uniform(seed, first + i) < keep ? 1 / keep : 0, with the Philox4x32-10 numbers of
/// fbseg::Generator (the same mask as the CPU for the same seed and offset).
void dropout_mask(DType dtype, void* mask, std::int64_t numel, double keep, std::uint64_t seed, std::uint64_t first,
                  int device);

// ---- reductions, softmax, indexing (kernels/reduce.cu, softmax.cu, index.cu; CPU twins:
//      ops/cpu/reduce.hpp, softmax.hpp, index.hpp) ------------------------------------------------
/// out[i] = scale * sum of row i of rows (m, r), contiguous; accumulates in double (int64 for
/// integers), in a fixed order (deterministic). float32, float64, int64.
void sum_rows(DType dtype, const void* rows, void* out, std::int64_t m, std::int64_t r, std::int64_t scale,
              int device);
/// values[i], indices[i] = the max (is_max) or min of row i of rows (m, r) and the first position
/// of it; a NaN wins.
void extreme_rows(DType dtype, const void* rows, void* values, std::int64_t* indices, std::int64_t m, std::int64_t r,
                  bool is_max, int device);
/// out[i] = all (is_all) or any of row i of the bool rows (m, r), contiguous (true / false for r = 0).
void all_any_rows(const void* rows /*bool*/, bool* out, std::int64_t m, std::int64_t r, bool is_all, int device);
/// grad[o, index[o, j], j] += src[o, j]; grad (outer, n, inner), src and index (outer, inner).
void scatter_add_along_dim(DType dtype, void* grad, const void* src, const std::int64_t* index, std::int64_t outer,
                           std::int64_t n, std::int64_t inner, int device);
/// y = softmax (or log_softmax) of x (outer, n, inner) along n, contiguous.
void softmax_forward(DType dtype, const void* x, void* y, std::int64_t outer, std::int64_t n, std::int64_t inner,
                     bool log, int device);
/// out = x gathered along `dim` by index (as torch.gather): x given by its sizes and strides,
/// index and out contiguous of index's shape. Indices are checked on the device; an out-of-range
/// index is an fbseg::Error naming it.
void gather(DType dtype, const void* x, const std::int64_t* x_sizes, const std::int64_t* x_strides,
            const std::int64_t* index, const std::int64_t* index_sizes, int ndim, std::int64_t dim, void* out,
            int device);
/// grad += g scattered along `dim` by index (gather's backward); grad contiguous of `grad_sizes`.
void scatter_add(DType dtype, const void* g, const std::int64_t* index, const std::int64_t* index_sizes, int ndim,
                 std::int64_t dim, void* grad, const std::int64_t* grad_sizes, int device);
/// out[o, :, i] = running sum of x[o, :, i] along n (reverse: from the end), contiguous.
void cumsum(DType dtype, const void* x, void* out, std::int64_t outer, std::int64_t n, std::int64_t inner,
            bool reverse, int device);

// ---- the kernel lab: running a chosen numbered version ----------------------------------------
// Every family keeps its numbered versions (1 = the plainest) and a dispatcher that picks one
// (kernels/README-style comments in each .cu). Tests and benchmarks force a version to check or
// time each one.
/// Makes the dispatcher of `kernel` (its entry point's name, e.g. "conv2d_forward") run version
/// `version`; 0 gives the choice back to the dispatcher. A version the kernel does not have is
/// an fbseg::Error at its next launch, naming the kernel and the versions it has.
void set_kernel_version(const char* kernel, int version);
/// The version forced for `kernel`, or 0 when the dispatcher chooses. Thread-safe.
int forced_kernel_version(const char* kernel);

// ---- registration ---------------------------------------------------------------------------
/// Installs this library's table in the core's backend slot (cuda/backend.hpp). Runs by itself
/// when the program starts (a static initialiser in kernels/backend.cu, kept by the link option
/// that fbseg::cuda carries); calling it again is harmless. Returns true.
bool register_backend();

}  // namespace fbseg::cuda
