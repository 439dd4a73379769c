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
#include <sstream>
#include <string>
#include <vector>

#include "fbseg/fbseg.hpp"
#include "fbseg/io/safetensors.hpp"
#include "fbseg/io/weights.hpp"

namespace {

using namespace fbseg;

const std::string& meta(const io::Metadata& m, const std::string& key) {
    const auto it = m.find(key);
    FBSEG_CHECK(it != m.end(), "io file: metadata '", key, "' is missing");
    return it->second;
}

std::int64_t parse_int(const std::string& text, const std::string& key) {
    std::size_t used = 0;
    std::int64_t v = 0;
    try {
        v = std::stoll(text, &used);
    } catch (const std::exception&) {
        used = 0;
    }
    FBSEG_CHECK(used == text.size() && !text.empty(), "io file: metadata '", key, "' = '", text, "' is not an integer");
    return v;
}

double parse_double(const std::string& text, const std::string& key) {
    std::size_t used = 0;
    double v = 0;
    try {
        v = std::stod(text, &used);
    } catch (const std::exception&) {
        used = 0;
    }
    FBSEG_CHECK(used == text.size() && !text.empty(), "io file: metadata '", key, "' = '", text, "' is not a number");
    return v;
}

std::vector<std::int64_t> parse_ints(const std::string& text, const std::string& key) {
    std::vector<std::int64_t> out;
    std::stringstream in(text);
    for (std::string item; std::getline(in, item, ',');) out.push_back(parse_int(item, key));
    FBSEG_CHECK(!out.empty(), "io file: metadata '", key, "' is empty");
    return out;
}

/// The model the io file's metadata names (see the header comment), freshly initialised.
std::shared_ptr<nn::UnaryModule> build_model(const io::Metadata& m, std::string& described) {
    if (m.count("fbseg.model")) {
        const std::string& name = meta(m, "fbseg.model");
        const auto in = parse_int(meta(m, "fbseg.in_channels"), "fbseg.in_channels");
        const auto classes = parse_int(meta(m, "fbseg.classes"), "fbseg.classes");
        described = name + " (in_channels " + std::to_string(in) + ", classes " + std::to_string(classes) + ")";
        return models::make_model(name, in, classes);
    }
    FBSEG_CHECK(m.count("model") && meta(m, "model") == "smp-unet",
                "io file: the metadata names no model (neither fbseg.model nor model 'smp-unet')");
    const auto in = parse_int(meta(m, "in_channels"), "in_channels");
    const auto classes = parse_int(meta(m, "classes"), "classes");
    const std::string& kind = meta(m, "encoder");
    std::shared_ptr<models::Encoder> encoder;
    if (kind == "resnet") {
        encoder = std::make_shared<models::ResNetEncoder>(
            models::ResNetEncoderOptions(parse_ints(meta(m, "encoder_layers"), "encoder_layers"))
                .in_channels(in)
                .stem_width(parse_int(meta(m, "encoder_stem_width"), "encoder_stem_width"))
                .widths(parse_ints(meta(m, "encoder_widths"), "encoder_widths")));
    } else if (kind == "efficientnet") {
        encoder = std::make_shared<models::EfficientNetEncoder>(
            models::EfficientNetEncoderOptions()
                .in_channels(in)
                .channel_multiplier(parse_double(meta(m, "encoder_channel_multiplier"), "encoder_channel_multiplier"))
                .depth_multiplier(parse_double(meta(m, "encoder_depth_multiplier"), "encoder_depth_multiplier")));
    } else {
        FBSEG_FAIL("io file: encoder '", kind, "' is neither 'resnet' nor 'efficientnet'");
    }
    described = "smp-unet over " + kind + " (in_channels " + std::to_string(in) + ", classes " +
                std::to_string(classes) + ", decoder " + meta(m, "decoder_channels") + ")";
    return std::make_shared<models::SmpUnet>(
        encoder,
        models::SmpUnetOptions().decoder_channels(parse_ints(meta(m, "decoder_channels"), "decoder_channels")).classes(classes),
        "transfer-check");
}

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
    std::string described;
    const auto model = build_model(io_file.metadata(), described);

    const auto t0 = std::chrono::steady_clock::now();
    const nn::LoadStateDictResult loaded = io::load_weights(*model, weights_path);  // strict by default
    std::cout << "model: " << described << "\n"
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
