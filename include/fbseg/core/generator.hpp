// fbseg/core/generator.hpp - reproducible random numbers (Philox4x32-10, counter based).
//
// A counter-based generator maps (key, counter) to random bits with a fixed function, so element
// i of a random tensor depends only on the seed and on i: the numbers do not change with the
// number of threads, and a CUDA kernel can produce exactly the same stream later.
// Philox4x32-10 is from Salmon et al., "Parallel random numbers: as easy as 1, 2, 3" (SC 2011).
#pragma once

#include <array>
#include <atomic>
#include <cmath>
#include <cstdint>

namespace fbseg {

namespace detail {

/// Ten rounds of Philox 4x32 on `counter` with `key`; returns four 32-bit random words.
inline std::array<std::uint32_t, 4> philox4x32_10(std::array<std::uint32_t, 4> ctr,
                                                  std::array<std::uint32_t, 2> key) {
    constexpr std::uint32_t kMul0 = 0xD2511F53u, kMul1 = 0xCD9E8D57u;
    constexpr std::uint32_t kWeyl0 = 0x9E3779B9u, kWeyl1 = 0xBB67AE85u;
    for (int round = 0; round < 10; ++round) {
        const std::uint64_t p0 = std::uint64_t(kMul0) * ctr[0];
        const std::uint64_t p1 = std::uint64_t(kMul1) * ctr[2];
        ctr = {std::uint32_t(p1 >> 32) ^ ctr[1] ^ key[0], std::uint32_t(p1),
               std::uint32_t(p0 >> 32) ^ ctr[3] ^ key[1], std::uint32_t(p0)};
        key[0] += kWeyl0;
        key[1] += kWeyl1;
    }
    return ctr;
}

/// splitmix64's finaliser: a bijective 64-bit mix, used to turn (seed, epoch, sample) into a key.
inline std::uint64_t mix64(std::uint64_t z) {
    z += 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

}  // namespace detail

/// A seed and a position in the stream. Each draw of n numbers consumes a range of counters,
/// so consecutive draws never overlap and a run is reproduced exactly from the same seed.
///
/// Threads: reserve() is one atomic fetch-add, so several threads may draw from one generator
/// (the default one, say) at once and always get disjoint ranges. Which thread gets which range
/// then depends on timing, so code that must be reproducible under threads (a data loader's
/// augmentations) gives each unit of work a generator of its own: for_sample(seed, epoch, i).
class Generator {
public:
    explicit Generator(std::uint64_t seed = 0x5EED) { manual_seed(seed); }
    Generator(const Generator& other) : seed_(other.seed()), offset_(other.offset()) {}
    Generator& operator=(const Generator& other) {
        seed_.store(other.seed());
        offset_.store(other.offset());
        return *this;
    }

    /// The generator of one sample of one epoch: its stream depends only on (seed, epoch,
    /// sample), never on which worker thread draws it or how many workers there are.
    static Generator for_sample(std::uint64_t seed, std::uint64_t epoch, std::uint64_t sample) {
        return Generator(detail::mix64(detail::mix64(detail::mix64(seed) ^ epoch) ^ sample));
    }

    /// Restarts the stream. Not meant to race with draws on other threads (they would get
    /// numbers from either seed).
    void manual_seed(std::uint64_t seed) {
        seed_.store(seed);
        offset_.store(0);
    }
    std::uint64_t seed() const { return seed_.load(std::memory_order_relaxed); }
    std::uint64_t offset() const { return offset_.load(); }
    /// Restores a position saved with offset() (exact resume).
    void set_offset(std::uint64_t offset) { offset_.store(offset); }

    /// Reserves `n` counters and returns the first; random word stream(first + i) is then used
    /// for element i of a draw.
    std::uint64_t reserve(std::uint64_t n) { return offset_.fetch_add(n); }

    /// Four random 32-bit words for counter value `counter` (pure: no state change).
    std::array<std::uint32_t, 4> bits(std::uint64_t counter) const {
        const std::uint64_t seed = this->seed();
        return detail::philox4x32_10({std::uint32_t(counter), std::uint32_t(counter >> 32), 0u, 0u},
                                     {std::uint32_t(seed), std::uint32_t(seed >> 32)});
    }

    /// Uniform in [0, 1) with the precision of T (24 bits for float, 53 for double).
    template <typename T>
    T uniform(std::uint64_t counter) const {
        const auto w = bits(counter);
        if constexpr (sizeof(T) == 4) {
            return T(w[0] >> 8) * T(1.0 / 16777216.0);
        } else {
            const std::uint64_t v = (std::uint64_t(w[0]) << 21) ^ (std::uint64_t(w[1]) >> 11);
            return T(v & ((std::uint64_t(1) << 53) - 1)) * T(1.0 / 9007199254740992.0);
        }
    }

    /// Standard normal by the Box-Muller transform: z = sqrt(-2 ln u1) cos(2 pi u2).
    template <typename T>
    T normal(std::uint64_t counter) const {
        const auto w = bits(counter);
        const double u1 = (double(w[0]) + 1.0) / 4294967297.0;  // in (0, 1): log is finite
        const double u2 = double(w[1]) / 4294967296.0;
        return T(std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2));
    }

private:
    std::atomic<std::uint64_t> seed_{0};
    std::atomic<std::uint64_t> offset_{0};
};

/// The generator factories use when none is passed. manual_seed(s) makes a program reproducible.
inline Generator& default_generator() {
    static Generator generator;
    return generator;
}

inline void manual_seed(std::uint64_t seed) { default_generator().manual_seed(seed); }

}  // namespace fbseg
