// tests/gpu/link_seam_helper.cpp - a library compiled WITHOUT fbseg::cuda (no FBSEG_WITH_CUDA, no
// CUDA library on its link line), as a user's helper library would be. It asks for a CUDA
// tensor. Linked into a program that links fbseg::cuda, it must reach the CUDA backend through
// the run-time registry (cuda/backend.hpp), not say that the build has no CUDA support.
#include "link_seam_helper.hpp"

#include "fbseg/fbseg.hpp"

#ifdef FBSEG_WITH_CUDA
#error "link_seam_helper.cpp must be compiled without FBSEG_WITH_CUDA"
#endif

namespace link_seam {

std::string cuda_zeros_from_a_library_without_cuda() {
    try {
        const fbseg::Tensor t = fbseg::zeros({2, 3}, fbseg::TensorOptions().device(fbseg::cuda_device(0)));
        const std::vector<float> values = t.cpu().to_vector<float>();
        return values == std::vector<float>(6, 0.0f) ? "ok" : "wrong values";
    } catch (const fbseg::Error& e) {
        return e.what();
    }
}

}  // namespace link_seam
