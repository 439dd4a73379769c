// tests/support/direct_conv_reference.hpp - a 2-D convolution's three passes and its bias
// gradient as the plain float64 loops of their definitions: the independent yardstick that
// test_kernel_isa.cpp holds every instruction set's kernels to.
//
// Compiled in a source of its own (direct_conv_reference.cpp), optimised and without sanitizer
// instrumentation in every build: it is the reference, not the code under test, and the loops of
// the largest geometries took ~85% of that test's time under ASan at -O0.
#pragma once

#include <vector>

#include "fbseg/ops/geometry/conv.hpp"

namespace fbseg::test {

/// y = conv(x, w) + b, dx, dw and db for the upstream gradient dy, all in float64.
///   x [n, c_in, h, w], w [c_out, c_in / groups, kh, kw], b [c_out], dy like y [n, c_out, ho, wo]
struct DirectConvolution {
    std::vector<double> y, dx, dw, db;
};
DirectConvolution direct_convolution(const ConvGeometry& g, const std::vector<double>& x, const std::vector<double>& w,
                                     const std::vector<double>& b, const std::vector<double>& dy);

}  // namespace fbseg::test
