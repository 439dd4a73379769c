// kernels/softmax.cu - softmax and log_softmax along the middle dim of (outer, n, inner).
//
// The math, for each line (o, i) of n values x_j = x[o, j, i]:
//
//     m = max_j x_j,   s = sum_j exp(x_j - m)                 (subtracting m avoids overflow)
//     softmax:      y_j = exp(x_j - m) / s
//     log_softmax:  y_j = x_j - m - log s
//
// CPU reference: cpu::softmax_forward (include/fbseg/ops/cpu/softmax.hpp):
//
//     for (t < outer * inner) { o = t / inner; i = t % inner;
//         px = x + o * n * inner + i;                         // element j at px[j * inner]
//         mx = -inf; for (j < n) mx = max(mx, px[j * inner]);
//         double total = 0; for (j < n) total += exp(double(px[j * inner] - mx));
//         log ? py[j * inner] = px[j * inner] - mx - T(log(total))
//             : py[j * inner] = T(exp(double(px[j * inner] - mx)) / total);
//     }
//
// Two layouts matter. Classes last (inner == 1: a row of n contiguous values per line) and the
// segmentation case, NCHW along C (inner = H * W: the n values of a line are H * W apart, and
// neighbouring lines are neighbouring pixels). In the second, one thread per pixel that loops over
// the classes is already coalesced: the 32 threads of a warp read 32 neighbouring pixels of one
// class plane. In the first, one thread per row would read addresses n apart, so a warp per row
// is better.
//
// Versions:
//   v1  one thread per line, three passes over the line (max, sum, write), the CPU's numerics
//       (exp in double). Any layout; coalesced when inner > 1.
//   v2  inner == 1: one warp per row, the "online softmax" (running max and sum updated together
//       in one pass: when the max grows from m to m', the sum so far is scaled by exp(m - m')),
//       then the lanes' (max, sum) pairs merged with shuffles, then one write pass: two reads of
//       the row instead of three.
//   v3  n <= kMaxHeld (the models' 2 to 8 classes), any inner: one thread per line that loads its
//       n values once into registers (an unrolled array) and computes max, sum and outputs from
//       there: one read and one write of each element, the least memory traffic possible.
//       exp is taken in T (expf for float32, within 2 ulp) and summed in double.
// Dispatcher: n <= kMaxHeld -> v3; else inner == 1 -> v2; else v1 (one thread per pixel).
// Each output is computed from its own line only, in a fixed order: deterministic.
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "cuda_check.cuh"
#include "launch.cuh"
#include "install.cuh"
#include "lab.cuh"

namespace fbseg::cuda {
namespace {

constexpr int kBlockSize = 256;
constexpr int kWarpSize = 32;
constexpr int kBlocksPerSm = 16;
constexpr int kMaxHeld = 16;  // v3 keeps up to this many values of a line in registers
constexpr unsigned kFullMask = 0xffffffffu;

std::int64_t ceil_div(std::int64_t a, std::int64_t b) { return (a + b - 1) / b; }

int grid_for_threads(std::int64_t threads, int device) {
    return detail::capped_grid(ceil_div(threads, kBlockSize), device, kBlocksPerSm);
}

using detail::first_index;
using detail::grid_stride;

template <typename T>
__device__ inline T neg_infinity() {
    return T(-INFINITY);
}

/// exp in T's own precision: expf for float32 (within 2 ulp), exp for float64.
__device__ inline float exp_t(float v) { return expf(v); }
__device__ inline double exp_t(double v) { return exp(v); }

// softmax v1: one thread per line (o, i), three passes, the CPU's numerics.
//   x, y: (outer, n, inner) contiguous
template <typename T>
__global__ void softmax_v1(const T* x, T* y, std::int64_t outer, std::int64_t n, std::int64_t inner, bool log) {
    for (std::int64_t t = first_index(); t < outer * inner; t += grid_stride()) {
        const std::int64_t o = t / inner, i = t % inner;
        const T* px = x + o * n * inner + i;
        T* py = y + o * n * inner + i;
        T mx = neg_infinity<T>();
        for (std::int64_t j = 0; j < n; ++j) mx = fmax(mx, px[j * inner]);
        double total = 0;
        for (std::int64_t j = 0; j < n; ++j) total += exp(double(px[j * inner] - mx));
        if (log) {
            const T log_total = T(::log(total));
            for (std::int64_t j = 0; j < n; ++j) py[j * inner] = px[j * inner] - mx - log_total;
        } else {
            for (std::int64_t j = 0; j < n; ++j) py[j * inner] = T(exp(double(px[j * inner] - mx)) / total);
        }
    }
}

/// Online softmax state: the max m seen so far and s = sum of exp(x - m) over what was seen.
struct Online {
    double m;  // kept in double so float32 and float64 share the code; exact for float32 values
    double s;
};

/// Folds one more value v into the state: s is rescaled when the max grows.
__device__ inline void online_add(Online& st, double v) {
    if (v > st.m) {
        st.s = st.s * exp(st.m - v) + 1.0;  // exp(-inf) = 0 for the first value
        st.m = v;
    } else if (st.m != -INFINITY) {  // (-inf after -inf would add exp(NaN))
        st.s += exp(v - st.m);
    }
}

/// Merges two states (a warp shuffle partner's into ours); an empty state has m = -inf, s = 0.
__device__ inline void online_merge(Online& st, Online other) {
    if (other.s == 0.0) return;
    if (st.s == 0.0) {
        st = other;
        return;
    }
    const double m = fmax(st.m, other.m);
    st.s = st.s * exp(st.m - m) + other.s * exp(other.m - m);
    st.m = m;
}

// softmax v2 (inner == 1): one warp per row of n contiguous values. Lane l folds elements
// l, l + 32, ... into an online state (coalesced reads), the 32 states are merged with
// __shfl_xor_sync so that every lane ends with the row's (m, s), then every lane writes its
// elements. The max is the same as the CPU's (max is exact); the sum is the same set of terms in
// another order, each rescaled once or more by exp(m_old - m_new), so it differs from the CPU's
// in the last bits of the double: far below float32's resolution.
template <typename T>
__global__ void softmax_v2(const T* x, T* y, std::int64_t rows, std::int64_t n, bool log) {
    const int lane = threadIdx.x % kWarpSize;
    const std::int64_t warps = grid_stride() / kWarpSize;
    for (std::int64_t row = first_index() / kWarpSize; row < rows; row += warps) {  // uniform per warp
        const T* px = x + row * n;
        T* py = y + row * n;
        Online st{-INFINITY, 0.0};
        for (std::int64_t j = lane; j < n; j += kWarpSize) online_add(st, double(px[j]));
#pragma unroll
        for (int offset = kWarpSize / 2; offset > 0; offset /= 2) {
            Online other;
            other.m = __shfl_xor_sync(kFullMask, st.m, offset);
            other.s = __shfl_xor_sync(kFullMask, st.s, offset);
            online_merge(st, other);
        }
        const T mx = T(st.m);
        if (log) {
            const T log_total = T(::log(st.s));
            for (std::int64_t j = lane; j < n; j += kWarpSize) py[j] = px[j] - mx - log_total;
        } else {
            for (std::int64_t j = lane; j < n; j += kWarpSize) py[j] = T(exp(double(px[j] - mx)) / st.s);
        }
    }
}

// softmax v3 (n <= kMaxHeld): one thread per line holding the line in registers. The loops run
// to the compile-time kMaxHeld with `if (j < n)` inside, so after unrolling every index into
// `held` is a constant and the array lives in registers (a runtime index would put it in slow
// local memory). exp in T (fast for float32), the sum in double.
template <typename T>
__global__ void softmax_v3(const T* x, T* y, std::int64_t outer, std::int64_t n, std::int64_t inner, bool log) {
    for (std::int64_t t = first_index(); t < outer * inner; t += grid_stride()) {
        const std::int64_t o = t / inner, i = t % inner;
        const T* px = x + o * n * inner + i;
        T* py = y + o * n * inner + i;
        T held[kMaxHeld];
        T mx = neg_infinity<T>();
#pragma unroll
        for (int j = 0; j < kMaxHeld; ++j) {
            if (j < n) {
                held[j] = px[j * inner];
                mx = fmax(mx, held[j]);
            }
        }
        double total = 0;
#pragma unroll
        for (int j = 0; j < kMaxHeld; ++j) {
            if (j < n) {
                held[j] -= mx;                      // x_j - m, as the CPU computes it (in T)
                if (!log) held[j] = exp_t(held[j]);   // now exp(x_j - m)
                total += log ? exp(double(held[j])) : double(held[j]);
            }
        }
        if (log) {
            const T log_total = T(::log(total));
#pragma unroll
            for (int j = 0; j < kMaxHeld; ++j)
                if (j < n) py[j * inner] = held[j] - log_total;
        } else {
            const T inv = T(1.0 / total);
#pragma unroll
            for (int j = 0; j < kMaxHeld; ++j)
                if (j < n) py[j * inner] = held[j] * inv;
        }
    }
}

}  // namespace

void softmax_forward(DType dtype, const void* x, void* y, std::int64_t outer, std::int64_t n, std::int64_t inner,
                     bool log, int device) {
    FBSEG_CHECK(outer >= 0 && n >= 0 && inner >= 0, "softmax_forward: bad shape (", outer, ", ", n, ", ", inner, ")");
    if (outer * n * inner == 0) return;
    FBSEG_CHECK(x != nullptr && y != nullptr, "softmax_forward: null data pointer");
    detail::DeviceGuard guard(device, "softmax_forward");
    const int automatic = n <= kMaxHeld ? 3 : (inner == 1 ? 2 : 1);
    int version = detail::choose_version("softmax_forward", automatic, 3);
    // A forced version that cannot serve this shape falls back to v1 (tests force each version
    // over every shape; v2 needs inner == 1, v3 needs n <= kMaxHeld).
    if ((version == 2 && inner != 1) || (version == 3 && n > kMaxHeld)) version = 1;
    dispatch_floating(dtype, "softmax_forward", [&]<typename T>() {
        const T* px = static_cast<const T*>(x);
        T* py = static_cast<T*>(y);
        switch (version) {
            case 1:
                softmax_v1<T><<<grid_for_threads(outer * inner, device), kBlockSize>>>(px, py, outer, n, inner, log);
                break;
            case 2:
                softmax_v2<T><<<grid_for_threads(outer * kWarpSize, device), kBlockSize>>>(px, py, outer, n, log);
                break;
            default:
                softmax_v3<T><<<grid_for_threads(outer * inner, device), kBlockSize>>>(px, py, outer, n, inner, log);
                break;
        }
        FBSEG_CUDA_CHECK_LAUNCH();
    });
}

void install_softmax_kernels(Backend& b) { b.softmax_forward = &softmax_forward; }

}  // namespace fbseg::cuda
