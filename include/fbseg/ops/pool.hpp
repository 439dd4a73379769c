// fbseg/ops/pool.hpp - 2-D pooling on NCHW tensors: max_pool2d and adaptive_avg_pool2d.
//
// Each (image, channel) plane is pooled independently, so the planes run in parallel and every
// backward writes only into its own plane (no races, results independent of the thread count).
// docs/layers.md has the output-size rules with examples.
#pragma once

#include <array>
#include <cmath>
#include <cstdint>
#include <limits>

#include "fbseg/autograd/function.hpp"
#include "fbseg/ops/device_check.hpp"
#include "fbseg/ops/factory.hpp"

namespace fbseg {

struct MaxPool2dParams {
    std::array<std::int64_t, 2> kernel{2, 2};
    std::array<std::int64_t, 2> stride{0, 0};  // 0 = same as kernel
    std::array<std::int64_t, 2> padding{0, 0};
    std::array<std::int64_t, 2> dilation{1, 1};
    bool ceil_mode = false;
};

namespace pool_detail {

/// floor(a / b) for b > 0 (C++ division truncates toward zero).
inline std::int64_t div_floor(std::int64_t a, std::int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

/// PyTorch's pooling_output_shape:
///   out = floor((in + 2 pad - dil (k - 1) - 1 + (ceil_mode ? stride - 1 : 0)) / stride) + 1,
/// and with ceil_mode the last window must start inside the input or the left padding:
///   if ((out - 1) stride >= in + pad) out -= 1.
inline std::int64_t output_size(std::int64_t in, std::int64_t k, std::int64_t pad, std::int64_t stride,
                                std::int64_t dil, bool ceil_mode) {
    const std::int64_t num = in + 2 * pad - dil * (k - 1) - 1 + (ceil_mode ? stride - 1 : 0);
    std::int64_t out = div_floor(num, stride) + 1;
    if (ceil_mode && (out - 1) * stride >= in + pad) --out;
    return out;
}

inline void check_input(const char* op, const Tensor& input) {
    FBSEG_CHECK(input.defined(), op, ": input is an undefined tensor");
    detail::check_cpu(op, {&input});
    FBSEG_CHECK(is_floating(input.dtype()), op, ": expected a floating input but got ", input.describe());
    FBSEG_CHECK(input.dim() == 4, op, ": expected a 4-D input [N, C, H, W] but got ", input.describe());
}

inline std::int64_t grain_for(std::int64_t work_per_plane) {
    return std::max<std::int64_t>(1, 32768 / std::max<std::int64_t>(work_per_plane, 1));
}

}  // namespace pool_detail

/// Max pooling over kernel windows (padding counts as -inf, as in PyTorch). input [N, C, H, W]
/// -> [N, C, Ho, Wo] with Ho from pool_detail::output_size. The gradient goes to the position of
/// each window's maximum (the first one on ties; a NaN wins).
inline Tensor max_pool2d(const Tensor& input, const MaxPool2dParams& params) {
    const char* op = "max_pool2d";
    pool_detail::check_input(op, input);
    MaxPool2dParams p = params;
    for (int d = 0; d < 2; ++d) {
        if (p.stride[d] == 0) p.stride[d] = p.kernel[d];
        FBSEG_CHECK(p.kernel[d] >= 1, op, ": kernel must be >= 1 but got (", p.kernel[0], ", ", p.kernel[1], ")");
        FBSEG_CHECK(p.stride[d] >= 1, op, ": stride must be >= 1 (or 0 for the kernel size) but got (",
                    params.stride[0], ", ", params.stride[1], ")");
        FBSEG_CHECK(p.dilation[d] >= 1, op, ": dilation must be >= 1 but got (", p.dilation[0], ", ", p.dilation[1],
                    ")");
        FBSEG_CHECK(p.padding[d] >= 0 && p.padding[d] <= p.kernel[d] / 2, op, ": padding (", p.padding[0], ", ",
                    p.padding[1], ") must be >= 0 and at most half the kernel (", p.kernel[0], ", ", p.kernel[1], ")");
    }
    const std::int64_t n = input.size(0), c = input.size(1), h = input.size(2), w = input.size(3);
    const std::int64_t ho = pool_detail::output_size(h, p.kernel[0], p.padding[0], p.stride[0], p.dilation[0], p.ceil_mode);
    const std::int64_t wo = pool_detail::output_size(w, p.kernel[1], p.padding[1], p.stride[1], p.dilation[1], p.ceil_mode);
    FBSEG_CHECK(ho >= 1 && wo >= 1, op, ": input ", shape_str(input.shape()), " is too small for kernel (",
                p.kernel[0], ", ", p.kernel[1], ") with padding (", p.padding[0], ", ", p.padding[1],
                ") and dilation (", p.dilation[0], ", ", p.dilation[1], "): the output would be (", ho, ", ", wo, ")");

    const Tensor x = input.detach().contiguous();
    Tensor out = empty({n, c, ho, wo}, options_of(input));
    Tensor indices = empty({n, c, ho, wo}, TensorOptions(DType::Int64).device(input.device()));  // flat position in the input plane
    dispatch_floating(input.dtype(), op, [&]<typename T>() {
        const T* px = x.data_ptr<T>();
        T* py = out.data_ptr<T>();
        std::int64_t* pi = indices.data_ptr<std::int64_t>();
        const std::int64_t kh = p.kernel[0], kw = p.kernel[1];
        parallel_for(0, n * c, pool_detail::grain_for(ho * wo * kh * kw), [&](std::int64_t t0, std::int64_t t1) {
            for (std::int64_t t = t0; t < t1; ++t) {
                const T* xp = px + t * h * w;
                for (std::int64_t oh = 0; oh < ho; ++oh) {
                    const std::int64_t h0 = oh * p.stride[0] - p.padding[0];
                    for (std::int64_t ow = 0; ow < wo; ++ow) {
                        const std::int64_t w0 = ow * p.stride[1] - p.padding[1];
                        T best = -std::numeric_limits<T>::infinity();
                        std::int64_t best_idx = -1;
                        for (std::int64_t ki = 0; ki < kh; ++ki) {
                            const std::int64_t ih = h0 + ki * p.dilation[0];
                            if (ih < 0 || ih >= h) continue;
                            for (std::int64_t kj = 0; kj < kw; ++kj) {
                                const std::int64_t iw = w0 + kj * p.dilation[1];
                                if (iw < 0 || iw >= w) continue;
                                const T v = xp[ih * w + iw];
                                if (best_idx < 0) best_idx = ih * w + iw;  // PyTorch's start index
                                if (v > best || std::isnan(v)) {
                                    best = v;
                                    best_idx = ih * w + iw;
                                }
                            }
                        }
                        py[(t * ho + oh) * wo + ow] = best;
                        pi[(t * ho + oh) * wo + ow] = best_idx;
                    }
                }
            }
        });
    });

    if (autograd::needs_grad({&input})) {
        autograd::record("MaxPool2dBackward", {&input}, {&out},
                         [indices, x_shape = input.shape(), dtype = input.dtype()](const std::vector<Tensor>& grads) {
                             const Tensor gy = grads[0].contiguous();
                             Tensor gx = zeros(x_shape, TensorOptions(dtype).device(grads[0].device()));
                             const std::int64_t planes = x_shape[0] * x_shape[1], hw = x_shape[2] * x_shape[3];
                             const std::int64_t p_out = indices.size(2) * indices.size(3);
                             const std::int64_t* pi = indices.data_ptr<std::int64_t>();
                             dispatch_floating(dtype, "max_pool2d_backward", [&]<typename T>() {
                                 const T* pg = gy.data_ptr<T>();
                                 T* pd = gx.data_ptr<T>();
                                 parallel_for(0, planes, pool_detail::grain_for(p_out),
                                              [&](std::int64_t t0, std::int64_t t1) {
                                                  for (std::int64_t t = t0; t < t1; ++t)
                                                      for (std::int64_t o = t * p_out; o < (t + 1) * p_out; ++o)
                                                          if (pi[o] >= 0) pd[t * hw + pi[o]] += pg[o];
                                              });
                             });
                             return std::vector<Tensor>{gx};
                         });
    }
    return out;
}

/// Average pooling to a fixed output size. Output cell (i, j) averages input rows
/// [floor(i H / oh), ceil((i + 1) H / oh)) and columns [floor(j W / ow), ceil((j + 1) W / ow))
/// (windows may overlap when H is not a multiple of oh). input [N, C, H, W] -> [N, C, oh, ow].
inline Tensor adaptive_avg_pool2d(const Tensor& input, std::array<std::int64_t, 2> output_size) {
    const char* op = "adaptive_avg_pool2d";
    pool_detail::check_input(op, input);
    FBSEG_CHECK(output_size[0] >= 1 && output_size[1] >= 1, op, ": output_size must be >= 1 but got (",
                output_size[0], ", ", output_size[1], ")");
    const std::int64_t n = input.size(0), c = input.size(1), h = input.size(2), w = input.size(3);
    FBSEG_CHECK(h >= 1 && w >= 1, op, ": input ", shape_str(input.shape()), " has an empty plane");
    const std::int64_t oh = output_size[0], ow = output_size[1];

    const Tensor x = input.detach().contiguous();
    Tensor out = empty({n, c, oh, ow}, options_of(input));
    dispatch_floating(input.dtype(), op, [&]<typename T>() {
        const T* px = x.data_ptr<T>();
        T* py = out.data_ptr<T>();
        parallel_for(0, n * c, pool_detail::grain_for(h * w), [&](std::int64_t t0, std::int64_t t1) {
            for (std::int64_t t = t0; t < t1; ++t) {
                const T* xp = px + t * h * w;
                for (std::int64_t i = 0; i < oh; ++i) {
                    const std::int64_t h0 = i * h / oh, h1 = ((i + 1) * h + oh - 1) / oh;
                    for (std::int64_t j = 0; j < ow; ++j) {
                        const std::int64_t w0 = j * w / ow, w1 = ((j + 1) * w + ow - 1) / ow;
                        double s = 0;
                        for (std::int64_t ih = h0; ih < h1; ++ih)
                            for (std::int64_t iw = w0; iw < w1; ++iw) s += double(xp[ih * w + iw]);
                        py[(t * oh + i) * ow + j] = T(s / double((h1 - h0) * (w1 - w0)));
                    }
                }
            }
        });
    });

    if (autograd::needs_grad({&input})) {
        autograd::record("AdaptiveAvgPool2dBackward", {&input}, {&out},
                         [x_shape = input.shape(), oh, ow, dtype = input.dtype()](const std::vector<Tensor>& grads) {
                             const Tensor gy = grads[0].contiguous();
                             Tensor gx = zeros(x_shape, TensorOptions(dtype).device(grads[0].device()));
                             const std::int64_t h = x_shape[2], w = x_shape[3];
                             dispatch_floating(dtype, "adaptive_avg_pool2d_backward", [&]<typename T>() {
                                 const T* pg = gy.data_ptr<T>();
                                 T* pd = gx.data_ptr<T>();
                                 parallel_for(0, x_shape[0] * x_shape[1], pool_detail::grain_for(h * w),
                                              [&](std::int64_t t0, std::int64_t t1) {
                                                  for (std::int64_t t = t0; t < t1; ++t) {
                                                      T* dp = pd + t * h * w;
                                                      for (std::int64_t i = 0; i < oh; ++i) {
                                                          const std::int64_t h0 = i * h / oh, h1 = ((i + 1) * h + oh - 1) / oh;
                                                          for (std::int64_t j = 0; j < ow; ++j) {
                                                              const std::int64_t w0 = j * w / ow,
                                                                                 w1 = ((j + 1) * w + ow - 1) / ow;
                                                              // d out / d x = 1 / (window area) for each x in the window
                                                              const T gv = pg[(t * oh + i) * ow + j] / T((h1 - h0) * (w1 - w0));
                                                              for (std::int64_t ih = h0; ih < h1; ++ih)
                                                                  for (std::int64_t iw = w0; iw < w1; ++iw)
                                                                      dp[ih * w + iw] += gv;
                                                          }
                                                      }
                                                  }
                                              });
                             });
                             return std::vector<Tensor>{gx};
                         });
    }
    return out;
}

}  // namespace fbseg
