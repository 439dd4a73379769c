// fbseg/ops/kernel/logical.hpp - the device seam of any/all (CPU only so far); see
// ops/kernel/elementwise.hpp for the pattern.
#pragma once

#include <cstdint>

#include "fbseg/core/tensor.hpp"
#include "fbseg/ops/cpu/logical.hpp"
#include "fbseg/ops/device_check.hpp"

namespace fbseg::kernel {

/// out[i] = all (is_all) or any of row i of the contiguous bool rows (m, r): see cpu::any_all.
inline void any_all(const Tensor& rows, const Tensor& out, std::int64_t r, bool is_all) {
    detail::require_cpu_kernel(is_all ? "all" : "any", {&rows, &out});
    cpu::any_all(rows.data_ptr<bool>(), out.numel(), r, is_all, out.data_ptr<bool>());
}

}  // namespace fbseg::kernel
