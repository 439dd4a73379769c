// fbseg/ops/cpu/activation.hpp - sigmoid and SiLU over contiguous float32 arrays, in loops the
// compiler vectorises: the exponential is computed inline (range reduction and a polynomial)
// instead of calling libm's expf once per element, which cannot be vectorised without
// -ffast-math. EfficientNet's SiLU forward and backward spent 25% of its training step in expf
// (docs/performance.md). libfbseg compiles these once per instruction set (ops/cpu/kernel_table.hpp);
// ops/functors/unary.hpp keeps the plain formulas for every other dtype, layout and the GPU.
#pragma once

#include <bit>
#include <cmath>
#include <cstdint>

#include "fbseg/core/parallel.hpp"

namespace fbseg::cpu::activation {

/// 2^k for an integral float k in [-126, 127], from the exponent bits.
inline float pow2i(float k) { return std::bit_cast<float>((std::int32_t(k) + 127) << 23); }

/// exp(a) for a <= 0, within 2 ulp of the exact value (subnormal results included, as libm's);
/// 0 below -104 (where exp(a) rounds to 0 in float), NaN for NaN. Branch-free, so a loop over it
/// vectorises.
///   exp(a) = 2^n exp(r),  n = round(a / ln 2),  r = a - n ln 2 in [-ln2/2, ln2/2]
///   exp(r) ~ 1 + r + r^2 (p0 + p1 r + ... + p5 r^5)   (Cephes' expf coefficients)
/// ln 2 is split in two (ln2_hi has few enough bits that n ln2_hi is exact) so r keeps its bits.
/// n goes down to -150, past float's smallest normal exponent (-126), so 2^n is applied as two
/// factors 2^n1 2^n2 with n1, n2 >= -75, and the last multiplication rounds to the subnormal.
inline float exp_nonpositive(float a) {
    const float lo = -104.0f;
    const float c = a < lo ? lo : a;  // clamped, NaN stays NaN (the comparison is false)
    // round to nearest: adding and subtracting 1.5 * 2^23 drops the fraction (|c / ln 2| < 2^22)
    const float n = (c * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    const float r = (c - n * 0.693359375f) - n * -2.12194440e-4f;
    const float r2 = r * r;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r2 + r + 1.0f;
    // n = n1 + n2 with n1 = round(n / 2): both in [-75, 0]. A NaN's n is replaced by 0 first
    // (converting NaN to an integer is undefined; p is NaN anyway).
    const float n_finite = n == n ? n : 0.0f;
    const float n1 = (n_finite * 0.5f + 12582912.0f) - 12582912.0f, n2 = n_finite - n1;
    const float e = p * pow2i(n1) * pow2i(n2);
    return a < lo ? 0.0f : e;
}

/// sigmoid(x) = 1 / (1 + e^-x), from e = exp(-|x|) <= 1 so nothing overflows:
/// 1 / (1 + e) for x >= 0, e / (1 + e) for x < 0.
inline float sigmoid(float x) {
    const float e = exp_nonpositive(-std::fabs(x));
    const float r = 1.0f / (1.0f + e);
    return x >= 0.0f ? r : e * r;
}

/// Elements per parallel_for task: fixed, so the split depends on the size only (each output is
/// written once, so it could not change a result anyway).
inline constexpr std::int64_t kActivationChunk = std::int64_t(1) << 15;

/// y = sigmoid(x)
inline void sigmoid_forward(const float* x, float* y, std::int64_t n) {
    parallel_for(0, n, kActivationChunk, [&](std::int64_t b, std::int64_t e) {
        for (std::int64_t i = b; i < e; ++i) y[i] = sigmoid(x[i]);
    });
}

/// y = silu(x) = x sigmoid(x)
inline void silu_forward(const float* x, float* y, std::int64_t n) {
    parallel_for(0, n, kActivationChunk, [&](std::int64_t b, std::int64_t e) {
        for (std::int64_t i = b; i < e; ++i) y[i] = x[i] * sigmoid(x[i]);
    });
}

/// gx = g silu'(x) = g s (1 + x (1 - s)),  s = sigmoid(x)
inline void silu_backward(const float* g, const float* x, float* gx, std::int64_t n) {
    parallel_for(0, n, kActivationChunk, [&](std::int64_t b, std::int64_t e) {
        for (std::int64_t i = b; i < e; ++i) {
            const float s = sigmoid(x[i]);
            gx[i] = g[i] * s * (1.0f + x[i] * (1.0f - s));
        }
    });
}

}  // namespace fbseg::cpu::activation
