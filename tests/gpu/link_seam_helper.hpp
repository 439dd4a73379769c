// tests/gpu/link_seam_helper.hpp - see link_seam_helper.cpp.
#pragma once

#include <string>

namespace link_seam {
/// "ok" when a CUDA zeros({2, 3}) worked, otherwise the fbseg::Error message.
std::string cuda_zeros_from_a_library_without_cuda();
}  // namespace link_seam
