// fbseg/ops/cpu/simd.hpp - one vector register of T, as a GCC/Clang vector type
// (`T __attribute__((vector_size(N)))`: N bytes of T, added and multiplied element by element),
// in the width of the instruction set the including file is compiled for: 64 bytes with
// AVX-512, 32 with AVX, 16 otherwise (SSE2, which every x86-64 has). libfbseg compiles its hot
// kernels once per instruction set (docs/performance.md, step 1), so each copy gets its width.
//
// The kernels write their inner loops with these types where the compiler would not vectorise
// the plain loop on its own: a sum (reassociating it needs -ffast-math, which a library cannot
// impose), or a loop nest that GCC's unroll-and-jam at -O3 fuses and leaves scalar.
#pragma once

#include <cstdint>

#if defined(__AVX512F__)
#define FBSEG_SIMD_BYTES 64
#elif defined(__AVX__)
#define FBSEG_SIMD_BYTES 32
#else
#define FBSEG_SIMD_BYTES 16
#endif

namespace fbseg::cpu::simd {

/// One register of T.
template <typename T>
using Vec __attribute__((vector_size(FBSEG_SIMD_BYTES))) = T;

/// The number of T in one register.
template <typename T>
inline constexpr std::int64_t kLanes = FBSEG_SIMD_BYTES / std::int64_t(sizeof(T));

/// `n` values of T (n sizeof(T) bytes, any power of two): the half-width vectors that convert
/// to a register of double.
template <typename T, std::int64_t N>
using VecOf __attribute__((vector_size(N * sizeof(T)))) = T;

/// Reads (writes) one vector at any alignment.
template <typename V, typename T>
V load(const T* p) {
    V v;
    __builtin_memcpy(&v, p, sizeof v);
    return v;
}
template <typename V, typename T>
void store(T* p, const V& v) {
    __builtin_memcpy(p, &v, sizeof v);
}

/// kLanes<double> values of T from p, as one register of double.
template <typename T>
Vec<double> load_as_double(const T* p) {
    return __builtin_convertvector(load<VecOf<T, kLanes<double>>>(p), Vec<double>);
}

}  // namespace fbseg::cpu::simd
