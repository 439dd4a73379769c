// fbseg/data/augment/draws.hpp - bulk random draws for per-pixel noise (elastic fields, Gaussian
// and Rician noise), from the sample's Rng.
//
// A draw of n values reserves ceil(n / k) counters of the Rng's Philox generator at once and uses
// all four 32-bit words of each counter: k = 4 uniforms (24 bits each, as Generator::uniform<float>)
// or k = 2 normals (Box-Muller's pair in float: r cos(2 pi u2), r sin(2 pi u2) with
// r = sqrt(-2 ln u1), u1 in (0, 1] and u2 in [0, 1) with 24 bits; |z| <= sqrt(2 ln 2^24) = 5.77).
// Element i depends only on the Rng's seed and the counter it reserved: deterministic, and a
// quarter (half) of the Philox rounds of one draw per element.
#pragma once

#include <cmath>
#include <cstdint>

#include "fbseg/data/random.hpp"

namespace fbseg::data::augment {

/// out[i] = lo + (hi - lo) * u_i, u_i uniform in [0, 1) with 24 bits.
inline void fill_uniform(float* out, std::int64_t n, double lo, double hi, Rng& rng) {
    if (n <= 0) return;
    Generator& g = rng.generator();
    const std::uint64_t first = g.reserve(std::uint64_t((n + 3) / 4));
    const float a = float(lo), span = float(hi - lo);
    for (std::int64_t i = 0; i < n; i += 4) {
        const auto w = g.bits(first + std::uint64_t(i / 4));
        for (std::int64_t j = 0; j < 4 && i + j < n; ++j)
            out[i + j] = a + span * (float(w[std::size_t(j)] >> 8) * (1.0f / 16777216.0f));
    }
}

/// out[i] = mean + stddev * z_i, z_i standard normal (two per counter).
inline void fill_normal(float* out, std::int64_t n, double mean, double stddev, Rng& rng) {
    if (n <= 0) return;
    Generator& g = rng.generator();
    const std::uint64_t first = g.reserve(std::uint64_t((n + 1) / 2));
    const float m = float(mean), sd = float(stddev);
    for (std::int64_t i = 0; i < n; i += 2) {
        const auto w = g.bits(first + std::uint64_t(i / 2));
        const float u1 = (float(w[0] >> 8) + 1.0f) * (1.0f / 16777216.0f);  // in (0, 1]: log is finite
        const float u2 = float(w[1] >> 8) * (1.0f / 16777216.0f);
        const float r = std::sqrt(-2.0f * std::log(u1)), t = 6.2831853f * u2;
        out[i] = m + sd * r * std::cos(t);
        if (i + 1 < n) out[i + 1] = m + sd * r * std::sin(t);
    }
}

}  // namespace fbseg::data::augment
