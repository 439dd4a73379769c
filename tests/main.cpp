// The test runner's entry point: doctest's, after one check. ctest runs some suites with
// FBSEG_CPU_ISA naming a lower instruction set's kernels (isa_* in tests/CMakeLists.txt); on a CPU
// that cannot run that copy the run is skipped (exit 77, ctest's SKIP_RETURN_CODE) instead of
// failing every case. A name fbseg does not know is not skipped: the cases fail with its error.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <string_view>

#include "fbseg/ops/cpu/kernel_table.hpp"

int main(int argc, char** argv) {
#if defined(FBSEG_KERNEL_LIBRARY)
    if (const char* isa = std::getenv("FBSEG_CPU_ISA"); isa != nullptr && *isa != '\0') {
        const auto isas = fbseg::cpu::available_kernel_isas();
        const std::string_view name(isa);
        const auto& all = fbseg::cpu::kKernelIsas;
        const bool known = std::find(std::begin(all), std::end(all), name) != std::end(all);
        if (known && std::find(isas.begin(), isas.end(), name) == isas.end()) {
            std::printf("skipped: FBSEG_CPU_ISA=%s, and this CPU cannot run those kernels\n", isa);
            return 77;
        }
    }
#endif
    return doctest::Context(argc, argv).run();
}
