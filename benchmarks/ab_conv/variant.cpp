// benchmarks/ab_conv/variant.cpp - one copy of the CPU convolution kernels for ab_conv.sh.
// ab_conv.sh compiles this file twice, against two versions of include/, each time with the
// namespace renamed (-Dfbseg=fbseg_ab_a or fbseg_ab_b) so that both copies live in one program.
// AB_ENTRY names the one function each copy exports.
#include "fbseg/ops/cpu/conv_kernels.hpp"

/// pass 0: y = conv(x, w); 1: dx from dy and w; 2: dw from x and dy. Buffers as in conv_kernels.hpp.
extern "C" void AB_ENTRY(int pass, const fbseg::ConvGeometry* g, const float* a, const float* b, float* out) {
    namespace conv = fbseg::cpu::conv;
    if (pass == 0) conv::forward(*g, a, b, static_cast<const float*>(nullptr), out);
    if (pass == 1) conv::backward_data(*g, a, b, out);
    if (pass == 2) conv::backward_weight(*g, a, b, out);
}
