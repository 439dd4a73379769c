// kernels/dropout.cu - the dropout mask, from the same Philox4x32-10 numbers as the CPU.
//
// mask[i] = u(seed, first + i) < keep ? 1 / keep : 0      (keep = 1 - p; 0 everywhere if keep == 0)
// where u(seed, counter) is fbseg::Generator::uniform<double>(counter) (core/generator.hpp):
//   w = philox4x32_10(ctr = {lo32(counter), hi32(counter), 0, 0}, key = {lo32(seed), hi32(seed)})
//   v = ((uint64(w[0]) << 21) ^ (uint64(w[1]) >> 11)) & (2^53 - 1);   u = v * 2^-53
// CPU reference: fbseg::cpu::dropout_mask (include/fbseg/ops/cpu/dropout.hpp):
//   for (i < numel) mask[i] = uniform(first + i) < keep ? scale : T(0);   // scale = T(1 / keep)
//
// Philox is counter based: element i depends only on (seed, first + i), so a GPU thread computes
// its element with no state shared with any other thread, and the mask is the CPU's bit for bit:
// the rounds are 32-bit integer multiplies (the high half from __umulhi), xors and adds, the
// 53-bit integer converts to double exactly, the product by 2^-53 is exact, and `scale` is
// computed on the host exactly as the CPU computes it.
//
// v1: one thread per mask element, a grid-stride loop. (Each Philox call yields 128 bits of which
// the double uniform uses 53: a faster kernel could not reuse the rest without changing the
// stream, which must stay the CPU's.)
#include <cstdint>

#include "install.cuh"
#include "norm_support.cuh"

namespace fbseg::cuda {
namespace {

using norm_detail::first_index;
using norm_detail::grid_size;
using norm_detail::grid_stride;
using norm_detail::kBlockSize;

// Ten rounds of Philox 4x32 (detail::philox4x32_10 of core/generator.hpp, ported):
//   p0 = M0 c0 (64-bit), p1 = M1 c2 (64-bit)
//   c = {hi(p1) ^ c1 ^ k0, lo(p1), hi(p0) ^ c3 ^ k1, lo(p0)};  k0 += W0; k1 += W1
__device__ inline void philox4x32_10(std::uint32_t c[4], std::uint32_t k0, std::uint32_t k1) {
    constexpr std::uint32_t kMul0 = 0xD2511F53u, kMul1 = 0xCD9E8D57u;
    constexpr std::uint32_t kWeyl0 = 0x9E3779B9u, kWeyl1 = 0xBB67AE85u;
#pragma unroll
    for (int round = 0; round < 10; ++round) {
        const std::uint32_t hi0 = __umulhi(kMul0, c[0]), lo0 = kMul0 * c[0];
        const std::uint32_t hi1 = __umulhi(kMul1, c[2]), lo1 = kMul1 * c[2];
        const std::uint32_t n0 = hi1 ^ c[1] ^ k0, n2 = hi0 ^ c[3] ^ k1;
        c[0] = n0;
        c[1] = lo1;
        c[2] = n2;
        c[3] = lo0;
        k0 += kWeyl0;
        k1 += kWeyl1;
    }
}

/// Generator::uniform<double>(counter) with the generator's seed.
__device__ inline double uniform_double(std::uint64_t seed, std::uint64_t counter) {
    std::uint32_t c[4] = {std::uint32_t(counter), std::uint32_t(counter >> 32), 0u, 0u};
    philox4x32_10(c, std::uint32_t(seed), std::uint32_t(seed >> 32));
    const std::uint64_t v = (std::uint64_t(c[0]) << 21) ^ (std::uint64_t(c[1]) >> 11);
    return double(v & ((std::uint64_t(1) << 53) - 1)) * (1.0 / 9007199254740992.0);
}

// dropout_mask v1: one thread per element.
template <typename T>
__global__ void dropout_mask_v1(T* mask, std::int64_t numel, double keep, T scale, std::uint64_t seed,
                                std::uint64_t first) {
    for (std::int64_t i = first_index(); i < numel; i += grid_stride())
        mask[i] = uniform_double(seed, first + std::uint64_t(i)) < keep ? scale : T(0);
}

}  // namespace

void dropout_mask(DType dtype, void* mask, std::int64_t numel, double keep, std::uint64_t seed, std::uint64_t first,
                  int device) {
    FBSEG_CHECK(numel >= 0, "dropout_mask: numel must be >= 0 but got ", numel);
    if (numel == 0) return;
    FBSEG_CHECK(mask != nullptr, "dropout_mask: null mask for ", numel, " elements");
    detail::DeviceGuard guard(device, "dropout_mask");
    (void)detail::choose_version("dropout_mask", 1, 1);
    dispatch_floating(dtype, "dropout_mask", [&]<typename T>() {
        const T scale = keep > 0 ? T(1.0 / keep) : T(0);  // as cpu::dropout_mask
        dropout_mask_v1<T>
            <<<grid_size(numel, device), kBlockSize>>>(static_cast<T*>(mask), numel, keep, scale, seed, first);
        FBSEG_CUDA_CHECK_LAUNCH();
    });
}

void install_dropout_kernels(Backend& b) { b.dropout_mask = &dropout_mask; }

}  // namespace fbseg::cuda
