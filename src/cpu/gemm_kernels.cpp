// src/cpu/gemm_kernels.cpp - the hot CPU kernels (ops/cpu/gemm_kernels.hpp), compiled once
// per instruction set: CMake builds this file with -DFBSEG_ISA=baseline, avx2 (-march=x86-64-v3)
// and avx512 (-march=x86-64-v4) and hides every symbol of each copy except its table() (see
// src/CMakeLists.txt, "one object per instruction set"), so that the three copies of the same
// templates, and of Eigen's, can live in one program without the linker mixing them up.
#include "fbseg/ops/cpu/gemm_kernels.hpp"

#ifndef FBSEG_ISA
#error "compile with -DFBSEG_ISA=baseline|avx2|avx512 (src/CMakeLists.txt)"
#endif

#define FBSEG_ISA_CONCAT2(a, b) a##b
#define FBSEG_ISA_CONCAT(a, b) FBSEG_ISA_CONCAT2(a, b)
#define FBSEG_ISA_STRING2(a) #a
#define FBSEG_ISA_STRING(a) FBSEG_ISA_STRING2(a)

namespace fbseg::cpu::FBSEG_ISA_CONCAT(isa_, FBSEG_ISA) {

/// This instruction set's kernels; the one symbol of this object that stays visible.
__attribute__((visibility("default"))) KernelTable table() {
    return {FBSEG_ISA_STRING(FBSEG_ISA), make_gemm_kernels<float>(), make_gemm_kernels<double>(),
            make_activation_kernels(), make_norm_kernels(), make_pool_kernels()};
}

}  // namespace fbseg::cpu::isa_<FBSEG_ISA>
