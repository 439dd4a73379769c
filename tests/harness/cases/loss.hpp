// tests/harness/cases/loss.hpp - the segmentation losses of nn/loss.hpp on logits and binary or
// soft targets: every reduction, pos_weight, per-image and batch Dice, focal with and without alpha.
// Targets do not require grad (as in training).
#pragma once

#include "harness/op_case.hpp"

namespace fbseg::harness {

namespace loss_cases {
inline nn::Reduction reduction_of(const Attrs& a) {
    const std::string& s = a.s("reduction");
    return s == "none" ? nn::Reduction::None : s == "sum" ? nn::Reduction::Sum : nn::Reduction::Mean;
}
inline nn::DiceMode dice_mode_of(const Attrs& a) {
    return a.s("mode") == "batch" ? nn::DiceMode::Batch : nn::DiceMode::PerImage;
}
}  // namespace loss_cases

inline void add_loss_cases(Registry& r) {
    using namespace in;
    using namespace loss_cases;
    auto bce = [](const Inputs& x, const Attrs& a) {
        return out(nn::binary_cross_entropy_with_logits(x[0], x[1], x.size() > 2 ? x[2] : Tensor(), reduction_of(a)));
    };
    add(r, "binary_cross_entropy_with_logits", "mean")
        .in(randn({2, 1, 3, 4}))
        .in(mask({2, 1, 3, 4}).no_grad())
        .attr("reduction", "mean")
        .run(bce);
    add(r, "binary_cross_entropy_with_logits", "none_soft")
        .in(randn({3, 5}).t())
        .in(unit({3, 5}).no_grad())
        .attr("reduction", "none")
        .run(bce);
    add(r, "binary_cross_entropy_with_logits", "pos_weight_sum")
        .in(randn({2, 3, 2, 2}))
        .in(mask({2, 3, 2, 2}).no_grad())
        .in(positive({3, 1, 1}).no_grad())
        .attr("reduction", "sum")
        .run(bce);  // torch has no gradient for pos_weight
    auto dice = [](const Inputs& x, const Attrs& a) {
        return out(nn::dice_loss(x[0], x[1], a.f("smooth"), dice_mode_of(a), reduction_of(a)));
    };
    add(r, "dice_loss", "per_image")
        .in(randn({3, 1, 4, 4}))
        .in(mask({3, 1, 4, 4}).no_grad())
        .attr("smooth", 1.0)
        .attr("mode", "per_image")
        .attr("reduction", "mean")
        .run(dice);
    add(r, "dice_loss", "per_image_none")
        .in(randn({2, 2, 3, 3}).step())
        .in(mask({2, 2, 3, 3}).no_grad())
        .attr("smooth", 0.5)
        .attr("mode", "per_image")
        .attr("reduction", "none")
        .run(dice);
    add(r, "dice_loss", "batch")
        .in(randn({2, 1, 3, 5}))
        .in(mask({2, 1, 3, 5}).no_grad())
        .attr("smooth", 1.0)
        .attr("mode", "batch")
        .attr("reduction", "mean")
        .run(dice);
    auto focal = [](const Inputs& x, const Attrs& a) {
        // Two calls rather than one optional built by a ?: (GCC 12 at -O3 then warns, falsely,
        // that the optional's value may be read uninitialised).
        if (a.has("alpha")) return out(nn::sigmoid_focal_loss(x[0], x[1], a.f("alpha"), a.f("gamma"), reduction_of(a)));
        return out(nn::sigmoid_focal_loss(x[0], x[1], std::nullopt, a.f("gamma"), reduction_of(a)));
    };
    add(r, "sigmoid_focal_loss", "alpha")
        .in(randn({2, 1, 3, 4}))
        .in(mask({2, 1, 3, 4}).no_grad())
        .attr("alpha", 0.25)
        .attr("gamma", 2.0)
        .attr("reduction", "mean")
        .run(focal);
    add(r, "sigmoid_focal_loss", "no_alpha_none")
        .in(randn({3, 4}).t())
        .in(unit({3, 4}).no_grad())
        .attr("gamma", 1.5)
        .attr("reduction", "none")
        .run(focal);
    add(r, "bce_dice_loss", "weighted")
        .in(randn({2, 1, 4, 3}))
        .in(mask({2, 1, 4, 3}).no_grad())
        .attr("bce_weight", 0.7)
        .attr("dice_weight", 1.3)
        .attr("smooth", 1.0)
        .attr("mode", "per_image")
        .run([](const Inputs& x, const Attrs& a) {
            nn::BceDiceOptions o;
            o.bce_weight = a.f("bce_weight");
            o.dice_weight = a.f("dice_weight");
            o.smooth = a.f("smooth");
            o.dice_mode = dice_mode_of(a);
            return out(nn::bce_dice_loss(x[0], x[1], o));
        });
}

}  // namespace fbseg::harness
