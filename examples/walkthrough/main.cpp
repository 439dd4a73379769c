// examples/walkthrough: prints the numbers of docs/walkthrough.md (one 6x6 image through a
// conv, BatchNorm, ReLU, a 1x1 head and BCE, forward and backward, by the library, by hand, by
// gradcheck and by plain loops). The test "docs: docs/walkthrough.md quotes the walkthrough's
// output" (tests/test_docs.cpp) compares this text with the blocks quoted in the doc. Exit status
// 1 when any of the comparisons disagrees.
//
//   fbseg_walkthrough                          the 6x6 ellipse, every intermediate printed
//   fbseg_walkthrough --phantom [--size S]     the ultrasound phantom (seed 0) at S x S (32)
//   fbseg_walkthrough --png IMAGE [--mask MASK] [--size S]
//                                              any PNG/JPEG/BMP (a frame `fbseg synth` wrote, an
//                                              HC18 image), its mask (nonzero = foreground; default:
//                                              brighter than the mean), averaged down to S x S
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "walkthrough.hpp"

int main(int argc, char** argv) try {
    std::string png, mask;
    bool phantom = false;
    std::int64_t size = 32;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--phantom") phantom = true;
        else if (a == "--png" && i + 1 < argc) png = argv[++i];
        else if (a == "--mask" && i + 1 < argc) mask = argv[++i];
        else if (a == "--size" && i + 1 < argc) size = std::atoll(argv[++i]);
        else {
            std::fprintf(stderr, "usage: fbseg_walkthrough [--phantom | --png IMAGE [--mask MASK]] [--size S]\n");
            return 2;
        }
    }
    walkthrough::Result r;
    if (phantom || !png.empty()) {
        const walkthrough::Input in = phantom ? walkthrough::phantom_input(size) : walkthrough::png_input(png, mask, size);
        r = walkthrough::run_walkthrough(in);
        const std::string what = phantom ? "the ultrasound phantom (seed 0), averaged down to " + std::to_string(size) +
                                               " x " + std::to_string(size)
                                         : png + ", averaged down to " + std::to_string(size) + " x " + std::to_string(size);
        std::fputs(walkthrough::format_summary(r, what).c_str(), stdout);
    } else {
        r = walkthrough::run_walkthrough();
        std::fputs(walkthrough::format_walkthrough(r).c_str(), stdout);
    }
    double scale = 1;
    for (double v : r.y) scale = std::max(scale, std::abs(v));
    const double tol = 1e-10 * scale;
    const bool ok = r.gradcheck_ok && walkthrough::max_abs_diff(r.y, r.y_by_hand) < tol &&
                    walkthrough::max_abs_diff(r.y, r.y_by_loops) < tol &&
                    walkthrough::max_abs_diff(r.dw, r.dw_by_hand) < 1e-10 &&
                    walkthrough::max_abs_diff(r.dw, r.dw_by_loops) < 1e-10 &&
                    walkthrough::max_abs_diff(r.dy, r.dy_by_hand) < 1e-10;
    return ok ? 0 : 1;
} catch (const std::exception& e) {
    std::fprintf(stderr, "fbseg_walkthrough: %s\n", e.what());
    return 1;
}
