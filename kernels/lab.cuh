// kernels/lab.cuh - what a dispatcher calls to honour set_kernel_version (kernels/lab.cu).
#pragma once

#include "fbseg/core/error.hpp"

namespace fbseg::cuda::detail {

/// The version to run: `automatic` (the dispatcher's pick, 1..count) unless a test or benchmark
/// forced one for `kernel` with set_kernel_version; a forced version outside 1..count throws.
int choose_version(const char* kernel, int automatic, int count);

}  // namespace fbseg::cuda::detail
