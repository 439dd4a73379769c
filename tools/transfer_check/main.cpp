// fbseg_transfer_check: loads a PyTorch-exported weights file into fbseg, runs the model in eval
// mode and writes what tools/check_transfer.py compares with PyTorch (docs/transfer-learning.md).
//
//   fbseg_transfer_check WEIGHTS IO OUT_LOGITS OUT_WEIGHTS [--threads N]
//
//   WEIGHTS      an fbseg weights file (tools/export_torch.py; keys are the PyTorch state_dict's)
//   IO           the matching io file (tools/make_transfer_fixtures.py, tools/check_transfer.py):
//                "input" [N, C, H, W] float32, and in __metadata__ the architecture:
//                  fbseg.model, fbseg.in_channels, fbseg.classes  -> models::make_model(...)
//                or the description model "smp-unet", in_channels, classes, decoder_channels and
//                  encoder "resnet" (encoder_layers, encoder_stem_width, encoder_widths) or
//                  encoder "efficientnet" (encoder_channel_multiplier, encoder_depth_multiplier)
//   OUT_LOGITS   written: "logits" = model.eval()->forward(input) under no-grad, float32
//   OUT_WEIGHTS  written: io::save_weights of the loaded model, with WEIGHTS' metadata (for the
//                bit-identity check of the way back, tools/to_torch.py --check-against)
//
// The weights are loaded with io::load_weights (strict: every key, every shape). When IO also holds
// "eval.logits" (PyTorch's), the largest |fbseg - PyTorch| is printed as a first look.
// Exit status 0 on success, 2 on any error (printed).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <exception>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "fbseg/fbseg.hpp"
#include "fbseg/io/safetensors.hpp"
#include "fbseg/io/weights.hpp"
#include "support/model_description.hpp"

namespace {

using namespace fbseg;

double max_abs_diff(const Tensor& a, const Tensor& b) {
    FBSEG_CHECK(a.shape() == b.shape(), "fbseg logits ", shape_str(a.shape()), " vs the io file's eval.logits ",
                shape_str(b.shape()));
    const std::vector<double> x = a.to(DType::Float64).to_vector<double>(), y = b.to(DType::Float64).to_vector<double>();
    double worst = 0;
    for (std::size_t i = 0; i < x.size(); ++i) {
        const double d = std::abs(x[i] - y[i]);
        if (!(d <= worst)) worst = d;  // NaN wins
    }
    return worst;
}

int run(const std::vector<std::string>& paths) {
    const std::string &weights_path = paths[0], &io_path = paths[1], &logits_path = paths[2], &out_weights = paths[3];
    const io::SafetensorsReader io_file(io_path);
    const test_support::ModelDescription description(io_file.metadata(), "io file '" + io_path + "'");
    const auto model = description.model();

    const auto t0 = std::chrono::steady_clock::now();
    const nn::LoadStateDictResult loaded = io::load_weights(*model, weights_path);  // strict by default
    std::cout << "model: " << description.summary() << "\n"
              << "load_weights (strict): " << loaded.summary() << "\n";

    model->eval();
    const Tensor x = io_file.get("input", DType::Float32);
    Tensor logits;
    const auto t1 = std::chrono::steady_clock::now();
    {
        NoGradGuard no_grad;
        logits = model->forward(x);
    }
    const auto t2 = std::chrono::steady_clock::now();
    const auto ms = [](auto a, auto b) { return std::chrono::duration<double, std::milli>(b - a).count(); };
    std::cout << "eval forward " << shape_str(x.shape()) << " -> " << shape_str(logits.shape()) << " in " << ms(t1, t2) << " ms (load "
              << ms(t0, t1) << " ms)\n";

    io::save_safetensors(logits_path, {{"logits", logits}},
                         {{"generator", "fbseg_transfer_check"}, {"weights", weights_path}, {"io", io_path}});
    const io::SafetensorsReader weights_file(weights_path);
    io::save_weights(*model, out_weights, weights_file.metadata());
    std::cout << "wrote " << logits_path << " and " << out_weights << "\n";
    if (io_file.contains("eval.logits"))
        std::cout << "max |fbseg - pytorch| " << max_abs_diff(logits, io_file.get("eval.logits")) << "\n";
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<std::string> paths;
    try {
        for (int i = 1; i < argc; ++i) {
            const std::string a = argv[i];
            if (a == "--threads" && i + 1 < argc) {
                fbseg::set_num_threads(std::stoi(argv[++i]));
            } else if (a == "-h" || a == "--help") {
                std::cout << "usage: fbseg_transfer_check WEIGHTS IO OUT_LOGITS OUT_WEIGHTS [--threads N]\n";
                return 0;
            } else if (!a.empty() && a[0] != '-') {
                paths.push_back(a);
            } else {
                std::cerr << "fbseg_transfer_check: unknown or incomplete argument '" << a << "'\n";
                return 2;
            }
        }
        if (paths.size() != 4) {
            std::cerr << "usage: fbseg_transfer_check WEIGHTS IO OUT_LOGITS OUT_WEIGHTS [--threads N]\n";
            return 2;
        }
        return run(paths);
    } catch (const std::exception& e) {
        std::cerr << "fbseg_transfer_check: " << e.what() << "\n";
        return 2;
    }
}
