// fbseg/models/fine_tune.hpp - fine-tuning a model whose encoder came pretrained: parameter groups
// with their own learning rates, and freezing the encoder for the first epochs.
//
//   auto groups = models::param_groups_by_prefix(*model, /*lr=*/1e-3, {{"encoder.", 0.1}});
//   optim::AdamW optimizer(groups);                      // encoder at 1e-4, decoder and head at 1e-3
//   for (epoch = 0; epoch < epochs; ++epoch) {
//       models::freeze_encoder_for(*model, epoch, /*freeze_epochs=*/3);   // frozen in epochs 0-2
//       model->train();                                   // a frozen encoder stays in eval mode
//       ...
//   }
//
// While frozen, the encoder's parameters get no gradient (the optimizer skips them, weight decay
// included) and its BatchNorm layers stay in eval mode: they normalise with the pretrained running
// statistics and do not update them (nn::Module::freeze). A scheduler scales every group's lr by the
// same factor, so the multiplier holds for the whole run.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "fbseg/nn/module.hpp"
#include "fbseg/optim/optimizer.hpp"

namespace fbseg::models {

/// Splits `model`'s parameters into groups by name prefix: one group per (prefix, multiplier) in
/// the order given, with lr = lr * multiplier, and a last group of every other parameter with lr.
/// A parameter goes to the first prefix it starts with. Empty groups are left out.
inline std::vector<optim::ParamGroup> param_groups_by_prefix(
    const nn::Module& model, double lr, const std::vector<std::pair<std::string, double>>& lr_multipliers) {
    for (const auto& [prefix, m] : lr_multipliers)
        FBSEG_CHECK(m >= 0, "param_groups_by_prefix: the lr multiplier of '", prefix, "' must be >= 0 but is ", m);
    std::vector<std::vector<Tensor>> members(lr_multipliers.size() + 1);
    for (const auto& [name, p] : model.named_parameters()) {
        std::size_t g = 0;
        while (g < lr_multipliers.size() && name.rfind(lr_multipliers[g].first, 0) != 0) ++g;
        members[g].push_back(p);
    }
    std::vector<optim::ParamGroup> groups;
    for (std::size_t g = 0; g < members.size(); ++g) {
        if (members[g].empty()) continue;
        const double group_lr = g < lr_multipliers.size() ? lr * lr_multipliers[g].second : lr;
        groups.emplace_back(std::move(members[g]), optim::Options{{"lr", group_lr}});
    }
    return groups;
}

/// Freezes the submodule `encoder_name` in epochs [0, freeze_epochs) and unfreezes it from then
/// on. Call at the start of every epoch (it is idempotent), before model.train().
inline void freeze_encoder_for(nn::Module& model, std::int64_t epoch, std::int64_t freeze_epochs,
                               const std::string& encoder_name = "encoder") {
    for (const auto& [name, child] : model.named_children()) {
        if (name != encoder_name) continue;
        const bool frozen = epoch < freeze_epochs;
        if (child->is_frozen() != frozen) child->freeze(frozen);
        return;
    }
    FBSEG_FAIL("freeze_encoder_for: ", model.name(), " has no submodule '", encoder_name, "'");
}

}  // namespace fbseg::models
