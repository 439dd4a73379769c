// tests/harness/harness_main.cpp - fbseg_harness: the op registry from the command line.
//     fbseg_harness --list-cases [FILE]   the registry as JSON (stdout or FILE), read by
//                                         tools/make_harness_fixtures.py
//     fbseg_harness --ids                 one case id per line
// The modes themselves run in the test programs (tests/test_harness.cpp, tests/gpu/) and in
// benchmarks/bench_ops.cpp.
#include <fstream>
#include <iostream>
#include <string>

#include "harness/list_json.hpp"

int main(int argc, char** argv) {
    const std::string mode = argc > 1 ? argv[1] : "";
    try {
        if (mode == "--list-cases") {
            const std::string text = fbseg::harness::registry_json().dump(1);
            if (argc > 2) {
                std::ofstream(argv[2]) << text << '\n';
            } else {
                std::cout << text << '\n';
            }
            return 0;
        }
        if (mode == "--ids") {
            for (const auto& c : fbseg::harness::registry()) std::cout << c.id() << '\n';
            return 0;
        }
    } catch (const std::exception& e) {
        std::cerr << "fbseg_harness: " << e.what() << '\n';
        return 1;
    }
    std::cerr << "usage: fbseg_harness --list-cases [FILE] | --ids\n";
    return 2;
}
