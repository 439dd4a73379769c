// fbseg/ops/cpu/kernel_table.hpp - the CPU's hot kernels (convolution, the batched matrix product,
// sigmoid and SiLU, batch normalisation, max pooling), reached through one table of function
// pointers so that the library can pick, at run time, the copy compiled for the best instruction
// set this CPU has.
//
// Two ways to build fbseg, one header:
// - The compiled library (the CMake target fbseg::fbseg defines FBSEG_KERNEL_LIBRARY): the
//   kernels of ops/cpu/conv_kernels.hpp, ops/cpu/linalg.hpp, ops/cpu/activation.hpp,
//   ops/cpu/batch_norm.hpp and ops/cpu/max_pool_kernels.hpp are compiled into libfbseg, three
//   times over on x86-64 (baseline SSE2, AVX2 + FMA, AVX-512; src/cpu/gemm_kernels.cpp), and
//   kernel_table() returns the best copy the CPU can run.
//   Programs that include fbseg never compile these templates (nor Eigen) again.
// - Header-only (no FBSEG_KERNEL_LIBRARY): kernel_table() is defined inline below, over the same
//   templates, compiled with the program's own flags; there is no dispatch.
//
// The environment variable FBSEG_CPU_ISA=baseline|avx2|avx512 caps the instruction set (CI runs
// the parity tests on each path); asking for one this CPU lacks is an error.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "fbseg/ops/geometry/conv.hpp"
#include "fbseg/ops/geometry/pool.hpp"

namespace fbseg::cpu {

/// The sizes of one convolution: a plain struct in ops/geometry/conv.hpp (a .cu file can use it).
using ConvGeometry = ::fbseg::ConvGeometry;

/// The kernels of one dtype. Sizes and layouts as in ops/cpu/conv_kernels.hpp (conv_*,
/// conv_bias_grad, add_channel_bias) and ops/cpu/linalg.hpp (bmm).
template <typename T>
struct GemmKernels {
    void (*conv_forward)(const ConvGeometry& g, const T* x, const T* w, const T* b, T* y);
    void (*conv_backward_data)(const ConvGeometry& g, const T* dy, const T* w, T* dx);
    void (*conv_backward_weight)(const ConvGeometry& g, const T* x, const T* dy, T* dw);
    void (*conv_bias_grad)(const T* dy, std::int64_t n, std::int64_t c, std::int64_t p, T* db);
    void (*add_channel_bias)(T* y, const T* b, std::int64_t n, std::int64_t c, std::int64_t p);
    void (*bmm)(const T* a, const std::int64_t* sa, const T* b, const std::int64_t* sb, T* c, std::int64_t batch,
                std::int64_t n, std::int64_t k, std::int64_t m);
    // inference with weights packed once (conv_kernels.hpp: packed_weights_size, ...)
    std::int64_t (*conv_packed_size)(const ConvGeometry& g);
    void (*conv_pack_weights)(const ConvGeometry& g, const T* w, T* packed);
    // relu: y = max(conv + b, 0), applied as the output is written (conv2d_inference)
    void (*conv_forward_packed)(const ConvGeometry& g, const T* x, const T* packed, const T* b, T* y, bool relu);
};

/// float32 activations over contiguous arrays (ops/cpu/activation.hpp): the exponential inline,
/// so the loops vectorise.
struct ActivationKernels {
    void (*sigmoid_forward)(const float* x, float* y, std::int64_t n);
    void (*silu_forward)(const float* x, float* y, std::int64_t n);
    void (*silu_backward)(const float* g, const float* x, float* gx, std::int64_t n);
};

/// float32 batch normalisation (ops/cpu/batch_norm.hpp): its sums in vector registers of
/// double. Sizes and layouts as there.
struct NormKernels {
    void (*batch_norm_forward)(const float* x, float* y, std::int64_t n, std::int64_t c, std::int64_t s,
                               const double* gamma, const double* beta, bool batch_stats, double eps, double* mean,
                               double* invstd, double* var_unbiased);
    void (*batch_norm_backward)(const float* x, const float* gy, float* gx, float* gw, float* gb, std::int64_t n,
                                std::int64_t c, std::int64_t s, const double* gamma, const double* mean,
                                const double* invstd, bool batch_stats);
};

/// float32 max pooling (ops/cpu/max_pool_kernels.hpp): one vector of outputs per step.
struct PoolKernels {
    void (*max_pool2d_forward)(const float* x, float* y, std::int64_t* indices, const MaxPool2dGeometry& g);
};

struct KernelTable {
    /// "baseline", "avx2" or "avx512" (compiled library), or "header-only".
    const char* isa;
    GemmKernels<float> f32;
    GemmKernels<double> f64;
    ActivationKernels act;
    NormKernels norm;
    PoolKernels pool;

    template <typename T>
    const GemmKernels<T>& of() const {
        if constexpr (sizeof(T) == sizeof(float))
            return f32;
        else
            return f64;
    }
};

/// The instruction sets fbseg compiles kernels for, lowest first: FBSEG_CPU_ISA's values.
inline constexpr std::string_view kKernelIsas[] = {"baseline", "avx2", "avx512"};

#if defined(FBSEG_KERNEL_LIBRARY)
/// The table chosen on first use (src/cpu/kernel_table.cpp): the best instruction set both the
/// CPU and FBSEG_CPU_ISA allow. Throws fbseg::Error for a bad FBSEG_CPU_ISA.
const KernelTable& kernel_table();

/// The copy for one instruction set, "baseline", "avx2" or "avx512" (tests and benchmarks run
/// each copy side by side). Throws fbseg::Error, naming the best one available, for a name that
/// is unknown, not compiled into this library, or beyond this CPU.
const KernelTable& kernel_table(std::string_view isa);

/// The instruction sets kernel_table(isa) accepts on this machine, lowest first.
std::vector<std::string_view> available_kernel_isas();
#endif

}  // namespace fbseg::cpu

#if !defined(FBSEG_KERNEL_LIBRARY)
#include "fbseg/ops/cpu/gemm_kernels.hpp"

namespace fbseg::cpu {
/// Header-only: the table over the templates, compiled with the program's flags.
inline const KernelTable& kernel_table() {
    static const KernelTable table{"header-only", make_gemm_kernels<float>(), make_gemm_kernels<double>(),
                                   make_activation_kernels(), make_norm_kernels(), make_pool_kernels()};
    return table;
}
}  // namespace fbseg::cpu
#endif

namespace fbseg::cpu {
/// The instruction set of the kernels kernel_table() returns.
inline std::string_view kernel_isa() { return kernel_table().isa; }
}  // namespace fbseg::cpu
