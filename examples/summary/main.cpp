// examples/summary: prints a model's state_dict layout, one "key [shape]" line per entry in
// PyTorch's order, then "trainable parameters: N". For the smp models the text equals what
// tools/dump_smp_keys.py prints for segmentation_models_pytorch's Unet (tests/fixtures/smp_keys).
//
//   fbseg_summary MODEL [--in-channels N] [--classes K]
//   fbseg_summary efficientnet-b0-unet --in-channels 1 --classes 1
//
// MODEL is one of: unet, resnet18-unet, resnet34-unet, efficientnet-b0-unet.
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>

#include "fbseg/fbseg.hpp"

namespace {

int usage() {
    std::cerr << "usage: fbseg_summary MODEL [--in-channels N] [--classes K]\n  MODEL:";
    for (const auto& name : fbseg::models::model_names()) std::cerr << " " << name;
    std::cerr << "\n";
    return 2;
}

/// Parses a positive integer option value, or returns -1.
long parse_positive(const char* text) {
    char* end = nullptr;
    const long v = std::strtol(text, &end, 10);
    return (end != text && *end == '\0' && v > 0) ? v : -1;
}

}  // namespace

int main(int argc, char** argv) {
    std::string model;
    long in_channels = 1, classes = 1;
    for (int i = 1; i < argc; ++i) {
        const bool has_value = i + 1 < argc;
        if (std::strcmp(argv[i], "--in-channels") == 0 && has_value) {
            in_channels = parse_positive(argv[++i]);
            if (in_channels < 0) return std::cerr << "fbseg_summary: --in-channels needs a positive integer\n", 2;
        } else if (std::strcmp(argv[i], "--classes") == 0 && has_value) {
            classes = parse_positive(argv[++i]);
            if (classes < 0) return std::cerr << "fbseg_summary: --classes needs a positive integer\n", 2;
        } else if (std::strcmp(argv[i], "-h") == 0 || std::strcmp(argv[i], "--help") == 0) {
            usage();
            return 0;
        } else if (argv[i][0] != '-' && model.empty()) {
            model = argv[i];
        } else {
            return usage();
        }
    }
    if (model.empty()) return usage();
    try {
        const auto net = fbseg::models::make_model(model, in_channels, classes);
        fbseg::models::print_summary(std::cout, *net);
    } catch (const fbseg::Error& e) {
        std::cerr << "fbseg_summary: " << e.what() << "\n";
        return 1;
    }
    return 0;
}
