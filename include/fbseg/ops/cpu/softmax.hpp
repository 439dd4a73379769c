// fbseg/ops/cpu/softmax.hpp - CPU kernel of softmax and log_softmax along one dim.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "fbseg/core/parallel.hpp"
#include "fbseg/ops/cpu/loops.hpp"

namespace fbseg::cpu {

// softmax_forward: along the middle dim of x viewed as (outer, n, inner)
//   y[o, j, i] = exp(x[o, j, i] - m) / sum_j' exp(x[o, j', i] - m),   m = max_j x[o, j, i]
//   log:  y[o, j, i] = x[o, j, i] - m - log sum_j' exp(x[o, j', i] - m)
//   x, y: (outer, n, inner) contiguous; the sum accumulates in double
template <typename T>
void softmax_forward(const T* x, T* y, std::int64_t outer, std::int64_t n, std::int64_t inner, bool log) {
    parallel_for(0, outer * inner, items_per_task(n),
                 [&](std::int64_t b, std::int64_t e) {
                     for (std::int64_t t = b; t < e; ++t) {
                         const std::int64_t o = t / inner, i = t % inner;
                         const T* px = x + o * n * inner + i;
                         T* py = y + o * n * inner + i;
                         T mx = -std::numeric_limits<T>::infinity();
                         for (std::int64_t j = 0; j < n; ++j) mx = std::max(mx, px[j * inner]);
                         double total = 0;
                         for (std::int64_t j = 0; j < n; ++j) total += std::exp(double(px[j * inner] - mx));
                         if (log) {
                             const T log_total = T(std::log(total));
                             for (std::int64_t j = 0; j < n; ++j) py[j * inner] = px[j * inner] - mx - log_total;
                         } else {
                             for (std::int64_t j = 0; j < n; ++j)
                                 py[j * inner] = T(std::exp(double(px[j * inner] - mx)) / total);
                         }
                     }
                 });
}

}  // namespace fbseg::cpu
