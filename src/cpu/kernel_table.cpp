// src/cpu/kernel_table.cpp - picks, once, the copy of the GEMM-bound kernels that this CPU runs
// best (ops/cpu/kernel_table.hpp), capped by FBSEG_CPU_ISA.
#include "fbseg/ops/cpu/kernel_table.hpp"

#include <cstdlib>
#include <iterator>
#include <string>

#include "fbseg/core/error.hpp"

namespace fbseg::cpu {

// The copies compiled into this library (src/cpu/gemm_kernels.cpp; src/CMakeLists.txt defines
// FBSEG_HAVE_ISA_AVX2 and FBSEG_HAVE_ISA_AVX512 on x86-64).
namespace isa_baseline { KernelTable table(); }
#if defined(FBSEG_HAVE_ISA_AVX2)
namespace isa_avx2 { KernelTable table(); }
#endif
#if defined(FBSEG_HAVE_ISA_AVX512)
namespace isa_avx512 { KernelTable table(); }
#endif

namespace {

/// The best instruction set (an index into kKernelIsas) that this CPU supports (libgcc's
/// __builtin_cpu_supports also checks that the OS saves the wider registers) and that this
/// library was compiled for.
int detect_best_supported() {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    __builtin_cpu_init();
#if defined(FBSEG_HAVE_ISA_AVX512)
    // -march=x86-64-v4: AVX-512 F, BW, CD, DQ and VL on top of x86-64-v3.
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512cd") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
        __builtin_cpu_supports("bmi2"))
        return 2;
#endif
#if defined(FBSEG_HAVE_ISA_AVX2)
    // -march=x86-64-v3: AVX, AVX2, FMA, BMI1/2, F16C, LZCNT, MOVBE. (Every CPU with the first
    // four has the others; clang's __builtin_cpu_supports does not know "f16c" and "movbe".)
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("bmi") &&
        __builtin_cpu_supports("bmi2"))
        return 1;
#endif
#endif
    return 0;
}

/// detect_best_supported(), asked once.
int best_supported() {
    static const int best = detect_best_supported();
    return best;
}

/// Each copy's table, made on first use.
const KernelTable& table_at(int level) {
    switch (level) {
#if defined(FBSEG_HAVE_ISA_AVX512)
        case 2: {
            static const KernelTable t = isa_avx512::table();
            return t;
        }
#endif
#if defined(FBSEG_HAVE_ISA_AVX2)
        case 1: {
            static const KernelTable t = isa_avx2::table();
            return t;
        }
#endif
        default: {
            static const KernelTable t = isa_baseline::table();
            return t;
        }
    }
}

}  // namespace

const KernelTable& kernel_table(std::string_view isa) {
    const int best = best_supported();
    for (int i = 0; i < int(std::size(kKernelIsas)); ++i) {
        if (isa != kKernelIsas[i]) continue;
        FBSEG_CHECK(i <= best, "CPU kernels for ", isa, " were asked for (FBSEG_CPU_ISA or kernel_table), but this ",
                    "CPU cannot run them or this build of fbseg lacks them; the best available here is ",
                    kKernelIsas[best]);
        return table_at(i);
    }
    FBSEG_FAIL("CPU kernels for '", isa, "' were asked for (FBSEG_CPU_ISA or kernel_table), but fbseg knows only ",
               "baseline, avx2 and avx512; the best available here is ", kKernelIsas[best]);
}

std::vector<std::string_view> available_kernel_isas() {
    std::vector<std::string_view> isas;
    for (int i = 0; i <= best_supported(); ++i) isas.emplace_back(kKernelIsas[i]);
    return isas;
}

const KernelTable& kernel_table() {
    static const KernelTable& table = [] () -> const KernelTable& {
        const char* env = std::getenv("FBSEG_CPU_ISA");
        return env != nullptr && *env != '\0' ? kernel_table(env) : table_at(best_supported());
    }();
    return table;
}

}  // namespace fbseg::cpu
