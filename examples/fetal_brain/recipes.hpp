// recipes.hpp - `fbseg train --recipe NAME`: a named set of training options (docs/application.md,
// "Recipes"). A recipe sets the options the user did not give; an option given on the command line
// (or in --config) always wins.
//
//   default  the measured best recipe: TrainOptions' own defaults (train_command.hpp)
//   seed     the original project's training: efficientnet-b0-unet, 1 channel, 128x128, batch 16,
//            Adam at a constant 0.009, Dice + BCE, flips, 30 epochs, on fetal head ultrasound;
//            with its mistakes fixed by fbseg's data path rather than by the recipe (masks filled
//            from the drawn ellipse, every frame used, the aspect ratio kept by letterboxing, the
//            split made by subject)
#pragma once

#include <functional>
#include <string>

#include <fbseg/fbseg.hpp>

#include "train_command.hpp"

namespace fbseg::app {

/// Applies recipe `name` to `options`; `given(option)` says whether the user gave "--option".
inline void apply_recipe(const std::string& name, TrainOptions& options,
                         const std::function<bool(const std::string&)>& given) {
    if (name == "default") return;
    FBSEG_CHECK(name == "seed", "train: --recipe '", name, "' is not one of default, seed");
    auto set = [&](const std::string& option, auto& field, auto value) {
        if (!given(option)) field = value;
    };
    set("--modality", options.modality, std::string("us"));
    set("--model", options.model, std::string("efficientnet-b0-unet"));
    set("--classes", options.classes, std::string("binary"));
    set("--image-size", options.image_size, 128);
    set("--batch-size", options.batch_size, 16);
    set("--optimizer", options.optimizer, std::string("adam"));
    set("--lr", options.lr, 0.009);
    set("--weight-decay", options.weight_decay, 0.0);
    set("--schedule", options.schedule, std::string("constant"));
    set("--loss", options.loss, std::string("bce+dice"));
    set("--augment", options.augment, std::string("flips"));
    set("--epochs", options.epochs, 30);
    options.recipe = name;
}

}  // namespace fbseg::app
