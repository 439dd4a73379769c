// fbseg/ops/cpu/logical.hpp - CPU kernel of any / all (ops/logical.hpp).
#pragma once

#include <algorithm>
#include <cstdint>

#include "fbseg/core/parallel.hpp"
#include "fbseg/ops/cpu/loops.hpp"

namespace fbseg::cpu {

/// Row-wise OR (any) or AND (all) of a contiguous bool matrix in [m, r] into out [m]:
///   any: out[i] = in[i, 0] || ... || in[i, r-1]   (false for r = 0)
///   all: out[i] = in[i, 0] && ... && in[i, r-1]   (true for r = 0)
inline void any_all(const bool* in, std::int64_t m, std::int64_t r, bool is_all, bool* out) {
    const std::int64_t grain = items_per_task(r);
    parallel_for(0, m, grain, [&](std::int64_t b, std::int64_t e) {
        for (std::int64_t i = b; i < e; ++i) {
            const bool* row = in + i * r;
            // all: is there no false?  any: is there a true?
            const bool found = std::find(row, row + r, !is_all) != row + r;
            out[i] = is_all ? !found : found;
        }
    });
}

}  // namespace fbseg::cpu
