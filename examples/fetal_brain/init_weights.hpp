// init_weights.hpp - `fbseg train --init FILE`: start a run from weights saved elsewhere
// (docs/application.md, "Starting from other weights").
//
// FILE is either
//   - a weights file (io::save_weights, tools/export_torch.py: a state_dict under PyTorch's names,
//     e.g. an ImageNet encoder or a whole smp model), or
//   - a checkpoint of another fbseg run (RUN/best.safetensors): its `model.` tensors are used, its
//     optimizer state is not (a new run starts a new optimizer).
// The keys are mapped onto the model with nn::LoadStateDictOptions (--init-strip, --init-prefix,
// --init-exclude); the model's first convolution is adapted from RGB to the model's one input
// channel when the file's kernel has three (smp's patch_first_conv rule, docs/transfer-learning.md).
// Without --init-strict, keys that do not fit (a decoder missing from an encoder file, a head with
// another class count) are left at their initial values and listed in the log; with it, any
// mismatch is an error. A file made for another architecture is refused in both modes.
#pragma once

#include <string>
#include <vector>

#include <fbseg/fbseg.hpp>

namespace fbseg::app {

struct InitOptions {
    std::string file;                  // empty: no --init
    std::string strip_prefix;          // removed from the file's keys where present
    std::string add_prefix;            // then prepended (e.g. "encoder." for an ImageNet encoder)
    std::vector<std::string> exclude;  // globs of file keys to leave out (e.g. "fc.*")
    bool strict = false;               // every model key loaded, every file key used, every shape equal
};

/// Loads `options.file` into `model` (built as architecture `model_name`) and returns the load's
/// summary for the log. Throws naming the file when nothing fits or when the file says it holds
/// another architecture.
inline std::string load_init_weights(nn::Module& model, const std::string& model_name, const InitOptions& options) {
    const io::SafetensorsReader reader(options.file);
    const io::Metadata& meta = reader.metadata();
    const auto field = [&meta](const std::string& key) {
        const auto it = meta.find(key);
        return it == meta.end() ? std::string() : it->second;
    };
    const bool checkpoint = field("fbseg.format") == "checkpoint";
    // The architecture the file says it holds: a weights file's fbseg.model, a run checkpoint's info.model.
    const std::string file_model = checkpoint ? field("info.model") : field("fbseg.model");
    FBSEG_CHECK(file_model.empty() || file_model == model_name, "train --init: '", options.file, "' holds the weights of a ",
                file_model, ", but this run trains a ", model_name, " (use --model ", file_model,
                " or weights made for ", model_name, ")");

    nn::NamedTensors state;
    for (const std::string& key : reader.keys()) {
        if (!checkpoint) {
            state.emplace_back(key, reader.get(key));
        } else if (key.rfind("model.", 0) == 0) {  // a run checkpoint: the model, not its optimizer
            state.emplace_back(key.substr(6), reader.get(key));
        }
    }
    FBSEG_CHECK(!state.empty(), "train --init: '", options.file, "' holds no model tensors");

    nn::LoadStateDictOptions load;
    load.strict = options.strict;
    load.strip_prefix = options.strip_prefix;
    load.add_prefix = options.add_prefix;
    load.exclude = options.exclude;
    // The first convolution's kernel: adapted when the file's has 3 input channels (RGB weights).
    for (const auto& [name, p] : model.named_parameters())
        if (p.dim() == 4) {
            load.adapt_input_channels = {name};
            break;
        }
    nn::LoadStateDictResult result;
    try {
        result = model.load_state_dict(state, load);
    } catch (const Error& e) {
        FBSEG_FAIL("train --init: '", options.file, "': ", e.what());
    }
    FBSEG_CHECK(!result.loaded_keys.empty(), "train --init: none of the ", state.size(), " tensors of '", options.file,
                "' fits the ", model_name, " (the file's first key is '", state.front().first,
                "'; --init-strip and --init-prefix rename the file's keys)");
    return result.summary();
}

}  // namespace fbseg::app
