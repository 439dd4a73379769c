// fbseg/models/summary.hpp - a model's state_dict layout as text, the format of smp's listings.
//
//   encoder.conv1.weight [64, 1, 7, 7]
//   encoder.bn1.weight [64]
//   ...
//   encoder.bn1.num_batches_tracked []
//   ...
//   trainable parameters: 14321937
//
// One line per state_dict entry (parameters and buffers, in PyTorch's order; a scalar prints as
// "[]"), then the number of trainable scalars (parameters that require grad). tools/dump_smp_keys.py
// writes the same text from PyTorch into tests/fixtures/smp_keys/, and examples/summary prints it.
#pragma once

#include <ostream>
#include <sstream>
#include <string>

#include "fbseg/nn/module.hpp"

namespace fbseg::models {

inline void print_summary(std::ostream& out, const nn::Module& model) {
    for (const auto& [key, tensor] : model.state_dict()) out << key << " " << shape_str(tensor.shape()) << "\n";
    out << "trainable parameters: " << model.num_parameters(/*trainable_only=*/true) << "\n";
}

inline std::string summary(const nn::Module& model) {
    std::ostringstream out;
    print_summary(out, model);
    return out.str();
}

}  // namespace fbseg::models
