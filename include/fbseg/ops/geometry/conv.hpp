// fbseg/ops/geometry/conv.hpp - the sizes of one 2-D convolution, as a plain struct.
//
// Plain C++ with no dependency (no Eigen, no tensor): a .cu file can include it and hand the
// same struct to a CUDA kernel that cpu/conv_kernels.hpp hands to the CPU kernels.
#pragma once

#include <cstdint>

namespace fbseg {

/// Everything the kernels need to know about one convolution (the conv2d view: x -> y).
///   x [n, c_in, h, w], w [c_out, c_in / groups, kh, kw], y [n, c_out, ho, wo]
struct ConvGeometry {
    std::int64_t n = 0, c_in = 0, h = 0, w = 0;  // input x [n, c_in, h, w]
    std::int64_t c_out = 0, ho = 0, wo = 0;      // output y [n, c_out, ho, wo]
    std::int64_t kh = 1, kw = 1, sh = 1, sw = 1, ph = 0, pw = 0, dh = 1, dw = 1;
    std::int64_t groups = 1;

    constexpr std::int64_t cg() const { return c_in / groups; }      // input channels per group
    constexpr std::int64_t coutg() const { return c_out / groups; }  // output channels per group
    constexpr std::int64_t kk() const { return kh * kw; }
    constexpr std::int64_t k() const { return cg() * kk(); }  // rows of a group's column matrix
    constexpr std::int64_t hw() const { return h * w; }
    constexpr std::int64_t p() const { return ho * wo; }  // columns of the column matrix
    /// col == x: a 1x1 kernel read at stride 1 without padding.
    constexpr bool pointwise() const { return kh == 1 && kw == 1 && sh == 1 && sw == 1 && ph == 0 && pw == 0; }
    /// The kernel's windows tile the input exactly: stride == kernel size, no padding or dilation,
    /// and H = Ho kh, W = Wo kw (the 2x2 stride-2 upsampling of a UNet's decoder). Every input
    /// pixel is then read by exactly one (tap, output) pair, so col2im is a permutation.
    constexpr bool tiles_exactly() const {
        return sh == kh && sw == kw && ph == 0 && pw == 0 && dh == 1 && dw == 1 && h == ho * kh && w == wo * kw;
    }
    /// One input channel per group and few outputs per group (depthwise): a direct loop beats a
    /// GEMM with one row.
    constexpr bool depthwise() const { return cg() == 1 && coutg() <= 4; }
};

}  // namespace fbseg
