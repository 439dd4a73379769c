// fbseg/data/random.hpp - the random draws of one sample's augmentation or of one phantom image.
//
// Each sample gets its own stream, Generator::for_sample(seed, epoch, index), so what a sample
// looks like depends only on (seed, epoch, index): never on which worker thread made it or when.
#pragma once

#include <cmath>
#include <cstdint>

#include "fbseg/core/error.hpp"
#include "fbseg/core/generator.hpp"

namespace fbseg::data {

/// A sequential stream of draws from one Generator (not thread-safe: one per sample).
class Rng {
public:
    explicit Rng(std::uint64_t seed) : generator_(seed) {}
    explicit Rng(const Generator& generator) : generator_(generator) {}
    static Rng for_sample(std::uint64_t seed, std::uint64_t epoch, std::uint64_t index) {
        return Rng(Generator::for_sample(seed, epoch, index));
    }

    /// Uniform in [0, 1).
    double uniform() { return generator_.uniform<double>(generator_.reserve(1)); }
    /// Uniform in [lo, hi).
    double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
    /// Standard normal.
    double normal() { return generator_.normal<double>(generator_.reserve(1)); }
    double normal(double mean, double stddev) { return mean + stddev * normal(); }
    /// An integer in [0, n).
    std::int64_t integer(std::int64_t n) {
        FBSEG_CHECK(n > 0, "Rng::integer: n must be > 0 but got ", n);
        const auto v = std::int64_t(uniform() * double(n));
        return v < n ? v : n - 1;
    }
    /// true with probability p.
    bool bernoulli(double p) { return uniform() < p; }

    Generator& generator() { return generator_; }

private:
    Generator generator_;
};

}  // namespace fbseg::data
