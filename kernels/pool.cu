// kernels/pool.cu - 2-D max pooling and adaptive average pooling, forward and backward.
//
// Planes: x (planes, h, w) with planes = N * C, contiguous; every plane is independent.
//
// max_pool2d_forward: y[t, oh, ow] = max of x[t] over the window rows oh sh - ph + ki dh
// (0 <= ki < kh) and columns ow sw - pw + kj dw, positions outside the plane skipped; indices =
// the flat position ih * w + iw of the maximum in the plane (the first one; a NaN wins; the
// first valid position when every value is -inf; -1 for an all-padding window).
// CPU reference: fbseg::cpu::max_pool2d_forward (include/fbseg/ops/cpu/pool.hpp):
//   T best = -inf; int64 best_idx = -1;
//   for (ki) { ih = h0 + ki dh; if (ih < 0 || ih >= h) continue;
//     for (kj) { iw = w0 + kj dw; if (iw < 0 || iw >= w) continue;
//       v = x[ih w + iw]; if (best_idx < 0) best_idx = ih w + iw;
//       if (v > best || isnan(v)) { best = v; best_idx = ih w + iw; } } }
//
// max_pool2d_backward: gx[t, indices[t, o]] += gy[t, o] for every output o, in order of o.
// CPU reference: cpu::max_pool2d_backward:
//   for (o = 0; o < ho wo; ++o) if (indices[o] >= 0) gx[t hw + indices[o]] += gy[o];
// A GPU thread per output doing `gx[idx] += gy` would race when windows overlap (two outputs
// can pick the same input): PyTorch uses atomicAdd there, whose order (and so the float result)
// changes from run to run. Here:
//   v1 (gather, any windows): one thread per INPUT element; it visits, in increasing o, the
//      windows that contain it (a small range of rows and columns computed from the geometry)
//      and adds the gy of those whose index points at it. Each gx element has one writer, no
//      atomics, and the additions happen in the CPU's order: bit-identical to the CPU.
//   v2 (non-overlapping windows: stride >= dilated kernel extent on both axes, the UNet's
//      2x2 stride 2): every input belongs to at most one window, so the outputs' targets are
//      distinct and one thread per OUTPUT can do gx[idx] += gy[o] without a race. It reads gy
//      and indices once each, coalesced, and touches only the gx elements that receive
//      something (a quarter of them for 2x2 pooling) instead of every one.
//
// adaptive_avg_pool2d_forward: y[t, i, j] = mean of x[t] over rows [floor(i h / oh),
// ceil((i + 1) h / oh)) and the columns likewise, summed in double in row-major order.
// CPU reference: cpu::adaptive_avg_pool2d_forward. v1: one thread per output: bit-identical.
// adaptive_avg_pool2d_backward: every x of window (i, j) gets gy[t, i, j] / area, added in
// window order. CPU reference: cpu::adaptive_avg_pool2d_backward. v1 (gather): one thread per
// input element loops over the windows (i, j) that contain it, in increasing order, and adds
// gy / T(area): no atomics, bit-identical to the CPU.
#include <cmath>
#include <cstdint>

#include "install.cuh"
#include "norm_support.cuh"

namespace fbseg::cuda {
namespace {

using norm_detail::first_index;
using norm_detail::grid_size;
using norm_detail::grid_stride;
using norm_detail::kBlockSize;

__device__ inline bool is_nan(float v) { return isnan(v); }
__device__ inline bool is_nan(double v) { return isnan(v); }

// max_pool2d_forward v1: one thread per output element (t, oh, ow).
template <typename T>
__global__ void max_pool2d_forward_v1(const T* x, T* y, std::int64_t* indices, MaxPool2dGeometry g) {
    const std::int64_t total = g.planes * g.ho * g.wo;
    for (std::int64_t e = first_index(); e < total; e += grid_stride()) {
        const std::int64_t ow = e % g.wo, oh = (e / g.wo) % g.ho, t = e / (g.wo * g.ho);
        const T* xp = x + t * g.h * g.w;
        const std::int64_t h0 = oh * g.sh - g.ph, w0 = ow * g.sw - g.pw;
        T best = -T(INFINITY);
        std::int64_t best_idx = -1;
        for (std::int64_t ki = 0; ki < g.kh; ++ki) {
            const std::int64_t ih = h0 + ki * g.dh;
            if (ih < 0 || ih >= g.h) continue;
            for (std::int64_t kj = 0; kj < g.kw; ++kj) {
                const std::int64_t iw = w0 + kj * g.dw;
                if (iw < 0 || iw >= g.w) continue;
                const T v = xp[ih * g.w + iw];
                if (best_idx < 0) best_idx = ih * g.w + iw;
                if (v > best || is_nan(v)) {
                    best = v;
                    best_idx = ih * g.w + iw;
                }
            }
        }
        y[e] = best;
        indices[e] = best_idx;
    }
}

/// The output positions o (along one axis) whose window, o * stride - pad + k * dilation for
/// 0 <= k < kernel, can contain input position i: lo <= o <= hi (empty when lo > hi).
__device__ inline void windows_containing(std::int64_t i, std::int64_t stride, std::int64_t pad, std::int64_t kernel,
                                          std::int64_t dilation, std::int64_t outputs, std::int64_t& lo,
                                          std::int64_t& hi) {
    // o stride - pad <= i  and  i <= o stride - pad + (kernel - 1) dilation
    const std::int64_t top = i + pad;                            // >= 0
    const std::int64_t bottom = i + pad - (kernel - 1) * dilation;  // may be negative
    lo = bottom <= 0 ? 0 : (bottom + stride - 1) / stride;
    hi = top / stride;
    if (hi > outputs - 1) hi = outputs - 1;
}

// max_pool2d_backward v1 (gather): one thread per input element (t, ih, iw); it adds, in order
// of o = oh wo + ow, the gy of every window that contains it and whose index is ih w + iw.
template <typename T>
__global__ void max_pool2d_backward_v1(const T* gy, const std::int64_t* indices, T* gx, MaxPool2dGeometry g) {
    const std::int64_t hw = g.h * g.w, total = g.planes * hw, p_out = g.ho * g.wo;
    for (std::int64_t e = first_index(); e < total; e += grid_stride()) {
        const std::int64_t t = e / hw, pos = e - t * hw, ih = pos / g.w, iw = pos - ih * g.w;
        std::int64_t oh0, oh1, ow0, ow1;
        windows_containing(ih, g.sh, g.ph, g.kh, g.dh, g.ho, oh0, oh1);
        windows_containing(iw, g.sw, g.pw, g.kw, g.dw, g.wo, ow0, ow1);
        const std::int64_t* ip = indices + t * p_out;
        const T* gp = gy + t * p_out;
        T acc = gx[e];
        for (std::int64_t oh = oh0; oh <= oh1; ++oh)
            for (std::int64_t ow = ow0; ow <= ow1; ++ow)
                if (ip[oh * g.wo + ow] == pos) acc += gp[oh * g.wo + ow];
        gx[e] = acc;
    }
}

// max_pool2d_backward v2 (non-overlapping windows only): one thread per output element; its
// index is inside its own window, and no two windows share an input, so no two threads write
// the same gx element.
template <typename T>
__global__ void max_pool2d_backward_v2(const T* gy, const std::int64_t* indices, T* gx, MaxPool2dGeometry g) {
    const std::int64_t hw = g.h * g.w, p_out = g.ho * g.wo, total = g.planes * p_out;
    for (std::int64_t e = first_index(); e < total; e += grid_stride()) {
        const std::int64_t idx = indices[e];
        if (idx < 0 || idx >= hw) continue;
        const std::int64_t t = e / p_out;
        gx[t * hw + idx] += gy[e];
    }
}

bool windows_overlap(const MaxPool2dGeometry& g) {
    return g.sh < (g.kh - 1) * g.dh + 1 || g.sw < (g.kw - 1) * g.dw + 1;
}

// adaptive_avg_pool2d_forward v1: one thread per output (t, i, j); double sum in row-major order.
template <typename T>
__global__ void adaptive_avg_pool2d_forward_v1(const T* x, T* y, AdaptivePool2dGeometry g) {
    const std::int64_t total = g.planes * g.oh * g.ow;
    for (std::int64_t e = first_index(); e < total; e += grid_stride()) {
        const std::int64_t j = e % g.ow, i = (e / g.ow) % g.oh, t = e / (g.ow * g.oh);
        const std::int64_t h0 = i * g.h / g.oh, h1 = ((i + 1) * g.h + g.oh - 1) / g.oh;
        const std::int64_t w0 = j * g.w / g.ow, w1 = ((j + 1) * g.w + g.ow - 1) / g.ow;
        const T* xp = x + t * g.h * g.w;
        double s = 0;
        for (std::int64_t ih = h0; ih < h1; ++ih)
            for (std::int64_t iw = w0; iw < w1; ++iw) s += double(xp[ih * g.w + iw]);
        y[e] = T(s / double((h1 - h0) * (w1 - w0)));
    }
}

/// The adaptive windows (along one axis of `in` inputs and `out` outputs) that contain input
/// position p: o in [p out / in, ((p + 1) out - 1) / in] (from begin(o) <= p < end(o)).
__device__ inline void adaptive_windows(std::int64_t p, std::int64_t in, std::int64_t out, std::int64_t& lo,
                                        std::int64_t& hi) {
    lo = p * out / in;
    hi = ((p + 1) * out - 1) / in;
    if (hi > out - 1) hi = out - 1;
}

// adaptive_avg_pool2d_backward v1 (gather): one thread per input (t, ih, iw); adds gy / area of
// every window containing it, windows in row-major order (the CPU's order).
template <typename T>
__global__ void adaptive_avg_pool2d_backward_v1(const T* gy, T* gx, AdaptivePool2dGeometry g) {
    const std::int64_t hw = g.h * g.w, total = g.planes * hw;
    for (std::int64_t e = first_index(); e < total; e += grid_stride()) {
        const std::int64_t t = e / hw, pos = e - t * hw, ih = pos / g.w, iw = pos - ih * g.w;
        std::int64_t i0, i1, j0, j1;
        adaptive_windows(ih, g.h, g.oh, i0, i1);
        adaptive_windows(iw, g.w, g.ow, j0, j1);
        const T* gp = gy + t * g.oh * g.ow;
        T acc = gx[e];
        for (std::int64_t i = i0; i <= i1; ++i) {
            const std::int64_t h0 = i * g.h / g.oh, h1 = ((i + 1) * g.h + g.oh - 1) / g.oh;
            if (ih < h0 || ih >= h1) continue;
            for (std::int64_t j = j0; j <= j1; ++j) {
                const std::int64_t w0 = j * g.w / g.ow, w1 = ((j + 1) * g.w + g.ow - 1) / g.ow;
                if (iw < w0 || iw >= w1) continue;
                acc += gp[i * g.ow + j] / T((h1 - h0) * (w1 - w0));
            }
        }
        gx[e] = acc;
    }
}

void check_geometry(const char* kernel, const MaxPool2dGeometry& g) {
    FBSEG_CHECK(g.planes >= 0 && g.h >= 0 && g.w >= 0 && g.ho >= 0 && g.wo >= 0 && g.kh >= 1 && g.kw >= 1 &&
                    g.sh >= 1 && g.sw >= 1 && g.ph >= 0 && g.pw >= 0 && g.dh >= 1 && g.dw >= 1,
                kernel, ": invalid geometry");
}

void check_geometry(const char* kernel, const AdaptivePool2dGeometry& g) {
    FBSEG_CHECK(g.planes >= 0 && g.h >= 1 && g.w >= 1 && g.oh >= 1 && g.ow >= 1, kernel, ": invalid geometry (planes ",
                g.planes, ", ", g.h, "x", g.w, " -> ", g.oh, "x", g.ow, ")");
}

}  // namespace

void max_pool2d_forward(DType dtype, const void* x, void* y, std::int64_t* indices, const MaxPool2dGeometry& g,
                        int device) {
    check_geometry("max_pool2d_forward", g);
    const std::int64_t total = g.planes * g.ho * g.wo;
    if (total == 0) return;
    FBSEG_CHECK(g.h >= 1 && g.w >= 1 && x != nullptr && y != nullptr && indices != nullptr,
                "max_pool2d_forward: null pointer or empty input plane");
    detail::DeviceGuard guard(device, "max_pool2d_forward");
    (void)detail::choose_version("max_pool2d_forward", 1, 1);
    dispatch_floating(dtype, "max_pool2d_forward", [&]<typename T>() {
        max_pool2d_forward_v1<T>
            <<<grid_size(total, device), kBlockSize>>>(static_cast<const T*>(x), static_cast<T*>(y), indices, g);
        FBSEG_CUDA_CHECK_LAUNCH();
    });
}

void max_pool2d_backward(DType dtype, const void* gy, const std::int64_t* indices, void* gx, const MaxPool2dGeometry& g,
                         int device) {
    check_geometry("max_pool2d_backward", g);
    if (g.planes * g.h * g.w == 0 || g.ho * g.wo == 0) return;
    FBSEG_CHECK(gy != nullptr && gx != nullptr && indices != nullptr, "max_pool2d_backward: null pointer");
    detail::DeviceGuard guard(device, "max_pool2d_backward");
    const bool overlap = windows_overlap(g);
    const int version = detail::choose_version("max_pool2d_backward", overlap ? 1 : 2, 2);
    FBSEG_CHECK(version == 1 || !overlap, "max_pool2d_backward: version 2 needs non-overlapping windows (stride >= ",
                "the dilated kernel); this geometry's windows overlap");
    dispatch_floating(dtype, "max_pool2d_backward", [&]<typename T>() {
        const T* gyp = static_cast<const T*>(gy);
        T* gxp = static_cast<T*>(gx);
        if (version == 1) {
            max_pool2d_backward_v1<T><<<grid_size(g.planes * g.h * g.w, device), kBlockSize>>>(gyp, indices, gxp, g);
        } else {
            max_pool2d_backward_v2<T><<<grid_size(g.planes * g.ho * g.wo, device), kBlockSize>>>(gyp, indices, gxp, g);
        }
        FBSEG_CUDA_CHECK_LAUNCH();
    });
}

void adaptive_avg_pool2d_forward(DType dtype, const void* x, void* y, const AdaptivePool2dGeometry& g, int device) {
    check_geometry("adaptive_avg_pool2d_forward", g);
    const std::int64_t total = g.planes * g.oh * g.ow;
    if (total == 0) return;
    FBSEG_CHECK(x != nullptr && y != nullptr, "adaptive_avg_pool2d_forward: null pointer");
    detail::DeviceGuard guard(device, "adaptive_avg_pool2d_forward");
    (void)detail::choose_version("adaptive_avg_pool2d_forward", 1, 1);
    dispatch_floating(dtype, "adaptive_avg_pool2d_forward", [&]<typename T>() {
        adaptive_avg_pool2d_forward_v1<T>
            <<<grid_size(total, device), kBlockSize>>>(static_cast<const T*>(x), static_cast<T*>(y), g);
        FBSEG_CUDA_CHECK_LAUNCH();
    });
}

void adaptive_avg_pool2d_backward(DType dtype, const void* gy, void* gx, const AdaptivePool2dGeometry& g, int device) {
    check_geometry("adaptive_avg_pool2d_backward", g);
    const std::int64_t total = g.planes * g.h * g.w;
    if (total == 0) return;
    FBSEG_CHECK(gy != nullptr && gx != nullptr, "adaptive_avg_pool2d_backward: null pointer");
    detail::DeviceGuard guard(device, "adaptive_avg_pool2d_backward");
    (void)detail::choose_version("adaptive_avg_pool2d_backward", 1, 1);
    dispatch_floating(dtype, "adaptive_avg_pool2d_backward", [&]<typename T>() {
        adaptive_avg_pool2d_backward_v1<T>
            <<<grid_size(total, device), kBlockSize>>>(static_cast<const T*>(gy), static_cast<T*>(gx), g);
        FBSEG_CUDA_CHECK_LAUNCH();
    });
}

void install_pool_kernels(Backend& b) {
    b.max_pool2d_forward = &max_pool2d_forward;
    b.max_pool2d_backward = &max_pool2d_backward;
    b.adaptive_avg_pool2d_forward = &adaptive_avg_pool2d_forward;
    b.adaptive_avg_pool2d_backward = &adaptive_avg_pool2d_backward;
}

}  // namespace fbseg::cuda
