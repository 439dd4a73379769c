// examples/walkthrough: prints the numbers of docs/walkthrough.md (one 6x6 image through a
// conv, BatchNorm, ReLU, a 1x1 head and BCE, forward and backward, by the library, by hand, by
// gradcheck and by plain loops). The test "docs: docs/walkthrough.md quotes the walkthrough's
// output" (tests/test_docs.cpp) compares this text with the block quoted in the doc. Exit status 1 when any of the comparisons disagrees.
//
//   fbseg_walkthrough
#include <cstdio>

#include "walkthrough.hpp"

int main() {
    const walkthrough::Result r = walkthrough::run_walkthrough();
    std::fputs(walkthrough::format_walkthrough(r).c_str(), stdout);
    const double tol = 1e-12;
    const bool ok = r.gradcheck_ok && walkthrough::max_abs_diff(r.y, r.y_by_hand) < tol &&
                    walkthrough::max_abs_diff(r.y, r.y_by_loops) < tol &&
                    walkthrough::max_abs_diff(r.dw, r.dw_by_hand) < tol &&
                    walkthrough::max_abs_diff(r.dw, r.dw_by_loops) < tol &&
                    walkthrough::max_abs_diff(r.dy, r.dy_by_hand) < tol;
    return ok ? 0 : 1;
}
