// tests/gpu/link_seam_main.cpp - the device seam is link-safe (needs no GPU; runs everywhere the
// CUDA library is built).
//
// This program links fbseg::cuda and a static library compiled without it (link_seam_helper.cpp).
// Before the backend registry, the helper's inline Storage and copy code were compiled without
// FBSEG_WITH_CUDA, so a CUDA tensor made there said "this build has no CUDA support" (or the
// linker kept either copy of ~Storage: an ODR violation). Now the helper reaches the CUDA
// backend that fbseg::cuda registered at start-up: with a GPU the tensor works, without one the
// backend's own "no CUDA device" error comes back. Nothing here calls fbseg_cuda by name, so
// this also checks that the registration survives static linking.
#include <cstdio>
#include <string>

#include "fbseg/fbseg.hpp"
#include "link_seam_helper.hpp"

int main() {
    const fbseg::cuda::Backend* backend = fbseg::cuda::registered_backend();
    if (backend == nullptr) {
        std::printf("FAIL: no CUDA backend registered although the program links fbseg::cuda\n");
        return 1;
    }
    const bool has_gpu = backend->device_count() > 0;
    const std::string result = link_seam::cuda_zeros_from_a_library_without_cuda();
    std::printf("backend %s, %s GPU; the helper library says: %s\n", backend->name, has_gpu ? "with a" : "without",
                result.c_str());
    if (has_gpu) return result == "ok" ? 0 : 1;
    const bool reached_backend = result.find("no CUDA device") != std::string::npos;
    const bool claims_no_support = result.find("no CUDA support") != std::string::npos;
    return reached_backend && !claims_no_support ? 0 : 1;
}
