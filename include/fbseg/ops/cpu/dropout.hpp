// fbseg/ops/cpu/dropout.hpp - CPU kernel of the dropout mask.
#pragma once

#include <cstdint>

#include "fbseg/core/parallel.hpp"

namespace fbseg::cpu {

// dropout_mask: mask[i] = uniform(first + i) < keep ? 1 / keep : 0   (0 everywhere when keep == 0)
//   mask: (numel,) contiguous; uniform(counter) -> double in [0, 1), a counter-based generator,
//   so element i depends only on the seed and first + i, never on the threads
template <typename T, typename Uniform>
void dropout_mask(T* mask, std::int64_t numel, double keep, std::uint64_t first, Uniform uniform) {
    const T scale = keep > 0 ? T(1.0 / keep) : T(0);
    parallel_for(0, numel, 4096, [&](std::int64_t b, std::int64_t e) {
        for (std::int64_t i = b; i < e; ++i) mask[i] = uniform(first + std::uint64_t(i)) < keep ? scale : T(0);
    });
}

}  // namespace fbseg::cpu
