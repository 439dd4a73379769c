// fbseg/io/weights.hpp - a model's weights to and from a .safetensors file: the exchange format
// with PyTorch, smp, torchvision and timm (tools/export_torch.py and tools/to_torch.py).
//
//   io::save_weights(*model, "unet.safetensors", io::model_metadata("resnet34-unet", 1, 1));
//   auto report = io::load_weights(*model, "resnet34_imagenet.safetensors",
//                                  {.strict = false, .add_prefix = "encoder.", .exclude = {"fc.*"},
//                                   .adapt_input_channels = {"encoder.conv1.weight"}});
//   std::cout << report.summary() << "\n";   // loaded 110, missing 66 (the decoder), ...
//
// A weights file holds the module's state_dict under its PyTorch names, unchanged (parameters and
// buffers; num_batches_tracked as I64), and in "__metadata__":
//   "format": "pt"                 what the safetensors package's torch helpers write
//   "fbseg.format": "weights"      (a checkpoint says "checkpoint": io/checkpoint.hpp)
//   "fbseg.model", "fbseg.in_channels", "fbseg.classes"   when the architecture is known, so
//                                  tools/to_torch.py can rebuild the smp model
// Reading accepts any safetensors file (from Python's safetensors, from fbseg): the tensors are
// converted to each parameter's dtype on load, and the load goes through Module::load_state_dict,
// so nothing is written into the model unless everything fits.
#pragma once

#include <string>

#include "fbseg/io/safetensors.hpp"
#include "fbseg/nn/module.hpp"

namespace fbseg::io {

/// The metadata that names an architecture of models::make_model().
inline Metadata model_metadata(const std::string& model, std::int64_t in_channels, std::int64_t classes) {
    return {{"fbseg.model", model},
            {"fbseg.in_channels", std::to_string(in_channels)},
            {"fbseg.classes", std::to_string(classes)}};
}

/// Writes `module`'s state_dict to `path` (atomically), with `metadata` beside the format keys.
inline void save_weights(const nn::Module& module, const std::string& path, const Metadata& metadata = {}) {
    Metadata all = metadata;
    all["format"] = "pt";
    all["fbseg.format"] = "weights";
    save_safetensors(path, module.state_dict(), all);
}

/// Loads the tensors of `path` into `module` (see nn::LoadStateDictOptions for renaming,
/// filtering, strictness and first-conv adaptation). Errors name the file.
inline nn::LoadStateDictResult load_weights(nn::Module& module, const std::string& path,
                                            const nn::LoadStateDictOptions& options = {}) {
    const nn::NamedTensors state = read_safetensors(path);
    try {
        return module.load_state_dict(state, options);
    } catch (const Error& e) {
        throw Error("load_weights('" + path + "'): " + e.what());
    }
}

}  // namespace fbseg::io
