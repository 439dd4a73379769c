// kernels/resize.cu - 2-D nearest and bilinear resizing (upsampling), forward and backward.
//
// Planes: x (planes, h, w) -> y (planes, oh, ow), contiguous, planes = N * C. The source taps of
// every output row and column are computed on the host by ops/interpolate.hpp (they depend on
// the mode, align_corners and the scale) and passed as host arrays; this file uploads them
// (oh + ow entries: small) next to index tables built from them for the backward.
//
// nearest:  y[t, i, j] = x[t, rows[i], cols[j]]
// bilinear: y[t, i, j] = l0h[i] (l0w[j] x[t, h0[i], w0[j]] + l1w[j] x[t, h0[i], w1[j]])
//                      + l1h[i] (l0w[j] x[t, h1[i], w0[j]] + l1w[j] x[t, h1[i], w1[j]])
// CPU reference: fbseg::cpu::upsample_nearest2d_forward / _backward and
// upsample_bilinear2d_forward / _backward (include/fbseg/ops/cpu/interpolate.hpp), e.g.
//   for (i < oh) for (j < ow) gx[t, rows[i], cols[j]] += gy[t, i, j];           // nearest backward
//   for (i < oh) for (j < ow) { g0 = l0h[i] gy[t,i,j]; g1 = l1h[i] gy[t,i,j];   // bilinear backward
//       gx[h0[i], w0[j]] += g0 l0w[j]; gx[h0[i], w1[j]] += g0 l1w[j];
//       gx[h1[i], w0[j]] += g1 l0w[j]; gx[h1[i], w1[j]] += g1 l1w[j]; }
//
// Forward v1 (both modes): one thread per output element, a grid-stride loop.
// Backward v1 (both modes), a gather without atomics: the backward is a scatter (many outputs
// add into one input when upsampling), which on a GPU would need atomicAdd, whose order (and so
// the float result) varies from run to run. Instead one thread owns each INPUT element and
// adds the outputs that read it. Which outputs those are is an inverse of the taps, built once
// on the host in O(h + oh + w + ow): for every input row r the increasing list of output rows i
// whose taps read r (CSR: row_begin[r]..row_begin[r + 1] into row_list), and the same for the
// columns. The thread loops over (its output rows) x (its output columns) in increasing (i, j),
// exactly the CPU's order, and for bilinear adds the four weighted terms in the CPU's order;
// products are rounded separately (__fmul_rn: no fused multiply-add), so the result is
// bit-identical to the CPU's, and every gx element has a single writer.
// The forwards use the same separately-rounded products, so they too match the CPU bit for bit.
#include <cstdint>
#include <vector>

#include "install.cuh"
#include "norm_support.cuh"

namespace fbseg::cuda {
namespace {

using norm_detail::first_index;
using norm_detail::grid_size;
using norm_detail::grid_stride;
using norm_detail::kBlockSize;
using norm_detail::Scratch;

__device__ inline float mul_rn(float a, float b) { return __fmul_rn(a, b); }
__device__ inline double mul_rn(double a, double b) { return __dmul_rn(a, b); }

// nearest forward v1: one thread per output (t, i, j).
template <typename T>
__global__ void nearest_forward_v1(const T* x, T* y, Resize2dGeometry g, const std::int64_t* rows,
                                   const std::int64_t* cols) {
    const std::int64_t total = g.planes * g.oh * g.ow;
    for (std::int64_t e = first_index(); e < total; e += grid_stride()) {
        const std::int64_t j = e % g.ow, i = (e / g.ow) % g.oh, t = e / (g.ow * g.oh);
        y[e] = x[(t * g.h + rows[i]) * g.w + cols[j]];
    }
}

// nearest backward v1 (gather): one thread per input (t, r, c); row_begin/row_list and
// col_begin/col_list list the output rows reading r and the output columns reading c.
template <typename T>
__global__ void nearest_backward_v1(const T* gy, T* gx, Resize2dGeometry g, const std::int64_t* row_begin,
                                    const std::int64_t* row_list, const std::int64_t* col_begin,
                                    const std::int64_t* col_list) {
    const std::int64_t hw = g.h * g.w, total = g.planes * hw;
    for (std::int64_t e = first_index(); e < total; e += grid_stride()) {
        const std::int64_t t = e / hw, pos = e - t * hw, r = pos / g.w, c = pos - r * g.w;
        const T* gp = gy + t * g.oh * g.ow;
        T acc = gx[e];
        for (std::int64_t a = row_begin[r]; a < row_begin[r + 1]; ++a) {
            const T* grow = gp + row_list[a] * g.ow;
            for (std::int64_t b = col_begin[c]; b < col_begin[c + 1]; ++b) acc += grow[col_list[b]];
        }
        gx[e] = acc;
    }
}

/// The taps of one axis on the device: indices i0, i1 and weights l0, l1 (one entry per output).
template <typename T>
struct LinearTapsDevice {
    const std::int64_t* i0;
    const std::int64_t* i1;
    const T* l0;
    const T* l1;
};

// bilinear forward v1: one thread per output (t, i, j); the CPU's expression, products rounded
// separately.
template <typename T>
__global__ void bilinear_forward_v1(const T* x, T* y, Resize2dGeometry g, LinearTapsDevice<T> th,
                                    LinearTapsDevice<T> tw) {
    const std::int64_t total = g.planes * g.oh * g.ow;
    for (std::int64_t e = first_index(); e < total; e += grid_stride()) {
        const std::int64_t j = e % g.ow, i = (e / g.ow) % g.oh, t = e / (g.ow * g.oh);
        const T* r0 = x + (t * g.h + th.i0[i]) * g.w;
        const T* r1 = x + (t * g.h + th.i1[i]) * g.w;
        const T a0 = mul_rn(tw.l0[j], r0[tw.i0[j]]) + mul_rn(tw.l1[j], r0[tw.i1[j]]);
        const T a1 = mul_rn(tw.l0[j], r1[tw.i0[j]]) + mul_rn(tw.l1[j], r1[tw.i1[j]]);
        y[e] = mul_rn(th.l0[i], a0) + mul_rn(th.l1[i], a1);
    }
}

// bilinear backward v1 (gather): one thread per input (t, r, c); the lists hold the output rows
// i with h0[i] == r or h1[i] == r (each i once) and the output columns likewise.
template <typename T>
__global__ void bilinear_backward_v1(const T* gy, T* gx, Resize2dGeometry g, LinearTapsDevice<T> th,
                                     LinearTapsDevice<T> tw, const std::int64_t* row_begin,
                                     const std::int64_t* row_list, const std::int64_t* col_begin,
                                     const std::int64_t* col_list) {
    const std::int64_t hw = g.h * g.w, total = g.planes * hw;
    for (std::int64_t e = first_index(); e < total; e += grid_stride()) {
        const std::int64_t t = e / hw, pos = e - t * hw, r = pos / g.w, c = pos - r * g.w;
        const T* gp = gy + t * g.oh * g.ow;
        T acc = gx[e];
        for (std::int64_t a = row_begin[r]; a < row_begin[r + 1]; ++a) {
            const std::int64_t i = row_list[a];
            const bool top = th.i0[i] == r, bottom = th.i1[i] == r;
            for (std::int64_t b = col_begin[c]; b < col_begin[c + 1]; ++b) {
                const std::int64_t j = col_list[b];
                const bool left = tw.i0[j] == c, right = tw.i1[j] == c;
                const T v = gp[i * g.ow + j];
                const T g0 = mul_rn(th.l0[i], v), g1 = mul_rn(th.l1[i], v);
                if (top) {
                    if (left) acc += mul_rn(g0, tw.l0[j]);
                    if (right) acc += mul_rn(g0, tw.l1[j]);
                }
                if (bottom) {
                    if (left) acc += mul_rn(g1, tw.l0[j]);
                    if (right) acc += mul_rn(g1, tw.l1[j]);
                }
            }
        }
        gx[e] = acc;
    }
}

/// The inverse of up to two tap arrays of `outputs` entries into `inputs` positions, in CSR form
/// appended to `out`: begin (inputs + 1 entries, offsets into the list, relative to the list's
/// start) then the list: for each input p, the increasing outputs o with a[o] == p or b[o] == p
/// (each o once). b may be null (nearest).
void append_inverse(std::vector<std::int64_t>& out, const std::int64_t* a, const std::int64_t* b,
                    std::int64_t outputs, std::int64_t inputs, const char* kernel) {
    std::vector<std::int64_t> count(std::size_t(inputs) + 1, 0);
    for (std::int64_t o = 0; o < outputs; ++o) {
        FBSEG_CHECK(a[o] >= 0 && a[o] < inputs && (b == nullptr || (b[o] >= 0 && b[o] < inputs)), kernel,
                    ": tap ", o, " is out of range [0, ", inputs, ")");
        ++count[std::size_t(a[o]) + 1];
        if (b != nullptr && b[o] != a[o]) ++count[std::size_t(b[o]) + 1];
    }
    for (std::int64_t p = 0; p < inputs; ++p) count[std::size_t(p) + 1] += count[std::size_t(p)];
    out.insert(out.end(), count.begin(), count.end());
    const std::size_t list = out.size();
    out.resize(list + std::size_t(count[std::size_t(inputs)]));
    std::vector<std::int64_t> next(count.begin(), count.end() - 1);
    for (std::int64_t o = 0; o < outputs; ++o) {  // increasing o: each list comes out sorted
        out[list + std::size_t(next[std::size_t(a[o])]++)] = o;
        if (b != nullptr && b[o] != a[o]) out[list + std::size_t(next[std::size_t(b[o])]++)] = o;
    }
}

void check_geometry(const char* kernel, const Resize2dGeometry& g) {
    FBSEG_CHECK(g.planes >= 0 && g.h >= 0 && g.w >= 0 && g.oh >= 0 && g.ow >= 0, kernel, ": negative size");
}

bool empty_resize(const Resize2dGeometry& g) { return g.planes * g.h * g.w == 0 || g.oh * g.ow == 0; }

void check_taps(const std::int64_t* t, std::int64_t n, std::int64_t inputs, const char* kernel) {
    for (std::int64_t o = 0; o < n; ++o)
        FBSEG_CHECK(t[o] >= 0 && t[o] < inputs, kernel, ": tap ", o, " (", t[o], ") is out of range [0, ", inputs, ")");
}

/// Appends the four arrays of both axes' linear taps to host staging vectors: int64 i0h, i1h,
/// i0w, i1w to `ints`, T weights l0h, l1h, l0w, l1w to `weights` (uploaded in one copy each).
template <typename T>
void upload_linear(const LinearTapsHost& th, const LinearTapsHost& tw, const Resize2dGeometry& g,
                   std::vector<std::int64_t>& ints, std::vector<T>& weights) {
    ints.insert(ints.end(), th.i0, th.i0 + g.oh);
    ints.insert(ints.end(), th.i1, th.i1 + g.oh);
    ints.insert(ints.end(), tw.i0, tw.i0 + g.ow);
    ints.insert(ints.end(), tw.i1, tw.i1 + g.ow);
    const T* l[4] = {static_cast<const T*>(th.l0), static_cast<const T*>(th.l1), static_cast<const T*>(tw.l0),
                     static_cast<const T*>(tw.l1)};
    weights.insert(weights.end(), l[0], l[0] + g.oh);
    weights.insert(weights.end(), l[1], l[1] + g.oh);
    weights.insert(weights.end(), l[2], l[2] + g.ow);
    weights.insert(weights.end(), l[3], l[3] + g.ow);
}

template <typename T>
void bilinear_views(const std::int64_t* ints, const T* weights, const Resize2dGeometry& g, LinearTapsDevice<T>& th,
                    LinearTapsDevice<T>& tw) {
    th = {ints, ints + g.oh, weights, weights + g.oh};
    tw = {ints + 2 * g.oh, ints + 2 * g.oh + g.ow, weights + 2 * g.oh, weights + 2 * g.oh + g.ow};
}

void check_linear(const LinearTapsHost& th, const LinearTapsHost& tw, const Resize2dGeometry& g, const char* kernel) {
    FBSEG_CHECK(th.i0 && th.i1 && th.l0 && th.l1 && tw.i0 && tw.i1 && tw.l0 && tw.l1, kernel, ": null tap array");
    check_taps(th.i0, g.oh, g.h, kernel);
    check_taps(th.i1, g.oh, g.h, kernel);
    check_taps(tw.i0, g.ow, g.w, kernel);
    check_taps(tw.i1, g.ow, g.w, kernel);
}

}  // namespace

void upsample_nearest2d_forward(DType dtype, const void* x, void* y, const Resize2dGeometry& g,
                                const std::int64_t* rows, const std::int64_t* cols, int device) {
    const char* kernel = "upsample_nearest2d_forward";
    check_geometry(kernel, g);
    if (empty_resize(g)) return;
    FBSEG_CHECK(x != nullptr && y != nullptr && rows != nullptr && cols != nullptr, kernel, ": null pointer");
    check_taps(rows, g.oh, g.h, kernel);
    check_taps(cols, g.ow, g.w, kernel);
    detail::DeviceGuard guard(device, kernel);
    (void)detail::choose_version(kernel, 1, 1);
    std::vector<std::int64_t> taps(rows, rows + g.oh);
    taps.insert(taps.end(), cols, cols + g.ow);
    Scratch<std::int64_t> d_taps(std::int64_t(taps.size()), device);
    d_taps.upload(taps.data(), std::int64_t(taps.size()));
    dispatch_floating(dtype, kernel, [&]<typename T>() {
        nearest_forward_v1<T><<<grid_size(g.planes * g.oh * g.ow, device), kBlockSize>>>(
            static_cast<const T*>(x), static_cast<T*>(y), g, d_taps.get(), d_taps.get() + g.oh);
        FBSEG_CUDA_CHECK_LAUNCH();
    });
}

void upsample_nearest2d_backward(DType dtype, const void* gy, void* gx, const Resize2dGeometry& g,
                                 const std::int64_t* rows, const std::int64_t* cols, int device) {
    const char* kernel = "upsample_nearest2d_backward";
    check_geometry(kernel, g);
    if (empty_resize(g)) return;
    FBSEG_CHECK(gy != nullptr && gx != nullptr && rows != nullptr && cols != nullptr, kernel, ": null pointer");
    detail::DeviceGuard guard(device, kernel);
    (void)detail::choose_version(kernel, 1, 1);
    std::vector<std::int64_t> tables;  // row_begin [h + 1], row_list [oh], col_begin [w + 1], col_list [ow]
    append_inverse(tables, rows, nullptr, g.oh, g.h, kernel);
    append_inverse(tables, cols, nullptr, g.ow, g.w, kernel);
    Scratch<std::int64_t> d_tables(std::int64_t(tables.size()), device);
    d_tables.upload(tables.data(), std::int64_t(tables.size()));
    const std::int64_t* row_begin = d_tables.get();
    const std::int64_t* row_list = row_begin + g.h + 1;
    const std::int64_t* col_begin = row_list + g.oh;
    const std::int64_t* col_list = col_begin + g.w + 1;
    dispatch_floating(dtype, kernel, [&]<typename T>() {
        nearest_backward_v1<T><<<grid_size(g.planes * g.h * g.w, device), kBlockSize>>>(
            static_cast<const T*>(gy), static_cast<T*>(gx), g, row_begin, row_list, col_begin, col_list);
        FBSEG_CUDA_CHECK_LAUNCH();
    });
}

void upsample_bilinear2d_forward(DType dtype, const void* x, void* y, const Resize2dGeometry& g,
                                 const LinearTapsHost& th, const LinearTapsHost& tw, int device) {
    const char* kernel = "upsample_bilinear2d_forward";
    check_geometry(kernel, g);
    if (empty_resize(g)) return;
    FBSEG_CHECK(x != nullptr && y != nullptr, kernel, ": null pointer");
    check_linear(th, tw, g, kernel);
    detail::DeviceGuard guard(device, kernel);
    (void)detail::choose_version(kernel, 1, 1);
    dispatch_floating(dtype, kernel, [&]<typename T>() {
        std::vector<std::int64_t> ints;
        std::vector<T> weights;
        upload_linear<T>(th, tw, g, ints, weights);
        Scratch<std::int64_t> d_ints(std::int64_t(ints.size()), device);
        Scratch<T> d_weights(std::int64_t(weights.size()), device);
        d_ints.upload(ints.data(), std::int64_t(ints.size()));
        d_weights.upload(weights.data(), std::int64_t(weights.size()));
        LinearTapsDevice<T> dh, dw;
        bilinear_views<T>(d_ints.get(), d_weights.get(), g, dh, dw);
        bilinear_forward_v1<T><<<grid_size(g.planes * g.oh * g.ow, device), kBlockSize>>>(
            static_cast<const T*>(x), static_cast<T*>(y), g, dh, dw);
        FBSEG_CUDA_CHECK_LAUNCH();
    });
}

void upsample_bilinear2d_backward(DType dtype, const void* gy, void* gx, const Resize2dGeometry& g,
                                  const LinearTapsHost& th, const LinearTapsHost& tw, int device) {
    const char* kernel = "upsample_bilinear2d_backward";
    check_geometry(kernel, g);
    if (empty_resize(g)) return;
    FBSEG_CHECK(gy != nullptr && gx != nullptr, kernel, ": null pointer");
    check_linear(th, tw, g, kernel);
    detail::DeviceGuard guard(device, kernel);
    (void)detail::choose_version(kernel, 1, 1);
    dispatch_floating(dtype, kernel, [&]<typename T>() {
        std::vector<std::int64_t> ints;  // i0h, i1h, i0w, i1w, then the inverse tables
        std::vector<T> weights;
        upload_linear<T>(th, tw, g, ints, weights);
        const std::size_t rows_at = ints.size();
        append_inverse(ints, th.i0, th.i1, g.oh, g.h, kernel);
        const std::size_t cols_at = ints.size();
        append_inverse(ints, tw.i0, tw.i1, g.ow, g.w, kernel);
        Scratch<std::int64_t> d_ints(std::int64_t(ints.size()), device);
        Scratch<T> d_weights(std::int64_t(weights.size()), device);
        d_ints.upload(ints.data(), std::int64_t(ints.size()));
        d_weights.upload(weights.data(), std::int64_t(weights.size()));
        LinearTapsDevice<T> dh, dw;
        bilinear_views<T>(d_ints.get(), d_weights.get(), g, dh, dw);
        const std::int64_t* row_begin = d_ints.get() + rows_at;
        const std::int64_t* row_list = row_begin + g.h + 1;
        const std::int64_t* col_begin = d_ints.get() + cols_at;
        const std::int64_t* col_list = col_begin + g.w + 1;
        bilinear_backward_v1<T><<<grid_size(g.planes * g.h * g.w, device), kBlockSize>>>(
            static_cast<const T*>(gy), static_cast<T*>(gx), g, dh, dw, row_begin, row_list, col_begin, col_list);
        FBSEG_CUDA_CHECK_LAUNCH();
    });
}

void install_resize_kernels(Backend& b) {
    b.upsample_nearest2d_forward = &upsample_nearest2d_forward;
    b.upsample_nearest2d_backward = &upsample_nearest2d_backward;
    b.upsample_bilinear2d_forward = &upsample_bilinear2d_forward;
    b.upsample_bilinear2d_backward = &upsample_bilinear2d_backward;
}

}  // namespace fbseg::cuda
