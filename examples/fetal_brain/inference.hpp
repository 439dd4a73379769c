// inference.hpp - a trained run's model, and its prediction for one image at the image's own size.
//
// Training letterboxes every image to the run's --image-size (scale to fit, pad the rest:
// data/augment/geometric.hpp). A prediction is made the same way and mapped back: the
// probabilities (sigmoid for one channel, softmax over the classes otherwise) on the letterboxed
// frame are cut out of the padding and resampled bilinearly to the original height and width
// (undo_letterbox_image), and only then thresholded at 0.5 (binary) or argmax-ed (labels). So a
// prediction always has the input's size: nothing is silently resized away.
#pragma once

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include <fbseg/fbseg.hpp>
#include <nlohmann/json.hpp>

#include "train_command.hpp"

namespace fbseg::app {

/// A run folder's model with the options it was trained with.
struct TrainedRun {
    TrainOptions options;
    std::int64_t out_channels = 1;
    bool binary = true;
    std::shared_ptr<nn::UnaryModule> model;
    Device device = kCPU;
    std::string checkpoint;  // the file the weights came from
    data::LabelSet labels;   // what the outputs stand for (binary: background / foreground)
};

/// Loads RUN/config.json and RUN/<which>.safetensors ("best" or "last") onto `device`, in eval mode.
inline TrainedRun load_run(const std::string& run_dir, const std::string& which, const std::string& device_name) {
    namespace fs = std::filesystem;
    FBSEG_CHECK(which == "best" || which == "last", "--checkpoint must be best or last, got '", which, "'");
    const fs::path dir = run_dir, config = dir / "config.json", weights = dir / (which + ".safetensors");
    FBSEG_CHECK(fs::exists(config) && fs::exists(weights), "'", run_dir, "' is not a trained run folder (expected ",
                "config.json and ", which, ".safetensors in it; `fbseg train --out ", run_dir, "` makes one)");
    nlohmann::json j;
    try {
        std::ifstream in(config);
        j = nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& e) {
        FBSEG_FAIL("'", config.string(), "' is not valid JSON (", e.what(), ")");
    }
    TrainedRun run;
    run.options = train_options_from_json(j.at("options"), config.string());
    run.out_channels = j.at("out_channels").get<std::int64_t>();
    run.binary = run.options.classes == "binary";
    if (!run.binary && j.contains("labels")) {
        run.labels.binary = false;
        run.labels.labels.clear();
        for (const auto& entry : j.at("labels"))
            run.labels.labels.emplace_back(entry.at("name").get<std::string>(), entry.at("value").get<std::int64_t>());
        FBSEG_CHECK(std::int64_t(run.labels.labels.size()) == run.out_channels, "'", config.string(), "': ",
                    run.labels.labels.size(), " labels for ", run.out_channels, " output channels");
    }
    FBSEG_CHECK(device_name == "cpu" || device_name == "cuda", "--device must be cpu or cuda, got '", device_name, "'");
    if (device_name == "cuda")
        FBSEG_CHECK(cuda_is_available(), "--device cuda, but no CUDA device is available (or this build has no CUDA)");
    run.device = device_name == "cuda" ? cuda_device(0) : kCPU;
    run.model = models::make_model(run.options.model, 1, run.out_channels);
    const io::Checkpoint ckpt = io::read_checkpoint(weights.string());
    io::restore_checkpoint(ckpt, *run.model, nullptr, {}, weights.string());
    run.model->to(run.device);
    run.model->eval();
    run.checkpoint = weights.string();
    return run;
}

/// The smallest image side predict and eval accept: the networks halve their input four times,
/// and an image smaller than their stride holds too little to segment (it would only be enlarged).
inline constexpr std::int64_t kMinImageSide = 16;

/// Refuses an image [C, H, W] (or a slice) smaller than kMinImageSide on a side, naming it.
inline void check_image_size(const Tensor& image, const std::string& what) {
    FBSEG_CHECK(image.dim() == 3 && image.size(1) >= kMinImageSide && image.size(2) >= kMinImageSide, what, " is ",
                image.dim() == 3 ? std::to_string(image.size(2)) + " x " + std::to_string(image.size(1)) + " pixels"
                                 : "not an image [C, H, W]",
                "; the smallest image fbseg segments is ", kMinImageSide, " x ", kMinImageSide,
                " (the networks' stride)");
}

/// The prediction for one image [C, H, W]: class probabilities [K, H, W] (K = 1 for binary: the
/// foreground's) and the label map [H, W] (int64), both at the image's own size.
struct Prediction {
    Tensor probabilities;
    Tensor labels;
};

inline Prediction predict_image(const TrainedRun& run, const Tensor& image) {
    NoGradGuard no_grad;
    data::Sample s;
    s.image = image;
    const std::int64_t size = run.options.image_size;
    const data::augment::Letterbox lb = data::augment::letterbox(s, size, size);
    const Tensor logits = run.model->forward(s.image.unsqueeze(0).to(run.device)).select(0, 0).cpu();  // [K, S, S]
    const Tensor prob = run.binary ? sigmoid(logits) : softmax(logits, 0);
    Prediction p;
    p.probabilities = data::augment::undo_letterbox_image(prob.contiguous(), lb);
    p.labels = run.binary ? gt(p.probabilities.select(0, 0), 0.5).to(DType::Int64) : argmax(p.probabilities, 0);
    return p;
}

}  // namespace fbseg::app
