// fbseg/ops/cpu/loops.hpp - the loop machinery behind every CPU elementwise op and reduction.
//
// An elementwise op over N operands of one (broadcast) shape is driven by an IterPlan: the shape
// and each operand's strides, with dimensions merged wherever memory allows ("coalescing": a
// contiguous [8, 16] tensor is walked as one row of 128). The plan is then walked row by row: a
// row is the innermost dimension, handed to a callback as (length, base offsets, inner strides),
// so the callback's inner loop is a plain `for` that the compiler vectorises when the strides
// are 1.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <vector>

#include "fbseg/core/parallel.hpp"
#include "fbseg/core/shape.hpp"

namespace fbseg::cpu {

/// Elements per task below which splitting across threads does not pay.
inline constexpr std::int64_t kGrainSize = 32768;

/// How many items (rows, planes, channels) one parallel_for task should take when each item
/// costs `work_per_item` elements of work: about kGrainSize elements per task, at least one item.
inline std::int64_t items_per_task(std::int64_t work_per_item) {
    return std::max<std::int64_t>(1, kGrainSize / std::max<std::int64_t>(work_per_item, 1));
}

template <std::size_t N>
struct IterPlan {
    Shape sizes;                   // coalesced shape; innermost dimension last
    std::array<Shape, N> strides;  // per operand, in elements
    std::int64_t numel = 0;
};

/// Builds the plan: drops size-1 dims, then merges dim k into dim k+1 when, for every operand,
/// stride[k] == stride[k+1] * size[k+1] (the two dims are one run of memory).
template <std::size_t N>
IterPlan<N> make_plan(const Shape& sizes, const std::array<Shape, N>& strides) {
    IterPlan<N> plan;
    plan.numel = numel_of(sizes);
    for (std::size_t d = 0; d < sizes.size(); ++d) {
        if (sizes[d] == 1) continue;
        const bool can_merge = !plan.sizes.empty() && [&] {
            for (std::size_t op = 0; op < N; ++op)
                if (plan.strides[op].back() != strides[op][d] * sizes[d]) return false;
            return true;
        }();
        if (can_merge) {
            plan.sizes.back() *= sizes[d];
            for (std::size_t op = 0; op < N; ++op) plan.strides[op].back() = strides[op][d];
        } else {
            plan.sizes.push_back(sizes[d]);
            for (std::size_t op = 0; op < N; ++op) plan.strides[op].push_back(strides[op][d]);
        }
    }
    if (plan.sizes.empty()) {  // a scalar, or all dims of size 1
        plan.sizes.push_back(1);
        for (std::size_t op = 0; op < N; ++op) plan.strides[op].push_back(0);
    }
    return plan;
}

/// Calls row(n, offsets, inner_strides) over all elements of the plan, in parallel chunks.
/// offsets[op] is the element offset of the row's first element in operand op.
template <std::size_t N, typename RowFn>
void for_each_row(const IterPlan<N>& plan, RowFn&& row) {
    const std::int64_t ndim = std::int64_t(plan.sizes.size());
    const std::int64_t inner = plan.sizes.back();
    std::array<std::int64_t, N> inner_strides;
    for (std::size_t op = 0; op < N; ++op) inner_strides[op] = plan.strides[op].back();

    parallel_for(0, plan.numel, kGrainSize, [&](std::int64_t begin, std::int64_t end) {
        std::int64_t idx = begin;
        while (idx < end) {
            std::int64_t outer = idx / inner;
            const std::int64_t col = idx % inner;
            const std::int64_t len = std::min(inner - col, end - idx);
            std::array<std::int64_t, N> offsets{};
            for (std::int64_t d = ndim - 2; d >= 0; --d) {  // decompose the row index
                const std::int64_t i = outer % plan.sizes[d];
                outer /= plan.sizes[d];
                for (std::size_t op = 0; op < N; ++op) offsets[op] += i * plan.strides[op][d];
            }
            for (std::size_t op = 0; op < N; ++op) offsets[op] += col * inner_strides[op];
            row(len, offsets, inner_strides);
            idx += len;
        }
    });
}

/// Block size of deterministic reductions: partial results are formed over blocks of this many
/// elements and combined in block order, whatever the number of threads.
inline constexpr std::int64_t kReduceBlock = 16384;

/// Accumulator type of a sum: double for floating types (accurate, and independent of order
/// within the tolerance of float32 results), int64 for integers.
template <typename T> struct acc_type { using type = double; };
template <> struct acc_type<std::int64_t> { using type = std::int64_t; };
template <typename T> using acc_t = typename acc_type<T>::type;

}  // namespace fbseg::cpu
