// fbseg_e2e_check: the end-to-end parity check against PyTorch on one fixture file written by
// tools/make_e2e_fixtures.py (the reduced-width one committed under tests/fixtures, or the
// full-size resnet34 one the script's --full mode writes under build/ and then runs this on).
// Prints the relative error of each group of tensors (logits, loss, gradients, parameters and
// buffers after one AdamW step, eval logits and loss; see tests/support/e2e_check.hpp and
// docs/parity.md).
//
//   fbseg_e2e_check [FIXTURE] [--all] [--tol T] [--threads N]
//
//   FIXTURE      default: the committed tests/fixtures/e2e_resnet_unet.safetensors
//   --all        also print one line per tensor
//   --tol T      the exit status is 0 when every relative error is <= T (default 1e-4), else 1
//   --threads N  fbseg's thread count (default: FBSEG_NUM_THREADS or all cores)
// Exit status 2: bad arguments or a fixture that cannot be checked (the error is printed).
#include <cstdlib>
#include <exception>
#include <iostream>
#include <string>

#include "support/e2e_check.hpp"

int main(int argc, char** argv) {
    std::string path;
#ifdef FBSEG_FIXTURE_DIR
    path = std::string(FBSEG_FIXTURE_DIR) + "/e2e_resnet_unet.safetensors";
#endif
    bool all = false;
    double tol = 1e-4;
    try {
        for (int i = 1; i < argc; ++i) {
            const std::string a = argv[i];
            if (a == "--all") {
                all = true;
            } else if ((a == "--tol" || a == "--threads") && i + 1 < argc) {
                const std::string v = argv[++i];
                if (a == "--tol")
                    tol = std::stod(v);
                else
                    fbseg::set_num_threads(std::stoi(v));
            } else if (a == "-h" || a == "--help") {
                std::cout << "usage: fbseg_e2e_check [FIXTURE] [--all] [--tol T] [--threads N]\n";
                return 0;
            } else if (!a.empty() && a[0] != '-') {
                path = a;
            } else {
                std::cerr << "fbseg_e2e_check: unknown or incomplete argument '" << a << "'\n";
                return 2;
            }
        }
        if (path.empty()) {
            std::cerr << "usage: fbseg_e2e_check FIXTURE [--all] [--tol T] [--threads N]\n";
            return 2;
        }
        const auto report = fbseg::test_support::run_e2e_check(path);
        fbseg::test_support::print_e2e_report(std::cout, report, all);
        // Per element (test_support::e2e_tolerance()), and the norm-wide relative error within --tol.
        const bool ok = report.all_within() && report.max_rel_error() <= tol;
        std::cout << (ok ? "PASS" : "FAIL") << ": every element within atol + rtol |ref| (worst ratio "
                  << report.max_worst_ratio() << ", <= 1 passes) and every relative error <= " << tol << "\n";
        return ok ? 0 : 1;
    } catch (const std::exception& e) {
        std::cerr << "fbseg_e2e_check: " << e.what() << "\n";
        return 2;
    }
}
