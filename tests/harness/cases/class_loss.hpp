// tests/harness/cases/class_loss.hpp - the losses of class-index and regression targets in
// nn/loss.hpp: cross_entropy (image and flat logits, class weights, ignore_index, label smoothing,
// every reduction), multiclass_dice_loss (per image and batch, without background, ignore_index inside
// and outside [0, K)), ce_dice_loss, mse_loss and l1_loss.
#pragma once

#include "harness/cases/loss.hpp"
#include "harness/op_case.hpp"

namespace fbseg::harness {

/// cross_entropy on class indices, mse_loss and l1_loss.
inline void add_class_loss_cases(Registry& r) {
    using namespace in;
    using loss_cases::reduction_of;
    auto ce = [](const Inputs& x, const Attrs& a) {
        return out(nn::cross_entropy(x[0], x[1], x.size() > 2 ? x[2] : Tensor(), a.i("ignore_index"), reduction_of(a),
                                     a.f("label_smoothing")));
    };
    add(r, "cross_entropy", "image_mean")
        .in(randn({2, 3, 2, 3}))
        .in(index({2, 2, 3}, 3))
        .attr("ignore_index", -100)
        .attr("reduction", "mean")
        .attr("label_smoothing", 0.0)
        .run(ce);
    // class 1 is ignored, class weights (no gradient, as in torch), label smoothing
    add(r, "cross_entropy", "weighted_ignore_smooth")
        .in(randn({4, 3}).t())
        .in(index({4}, 3))
        .in(positive({3}).no_grad())
        .attr("ignore_index", 1)
        .attr("reduction", "mean")
        .attr("label_smoothing", 0.1)
        .run(ce);
    add(r, "cross_entropy", "none_strided")
        .in(randn({3, 4, 5}).step())
        .in(index({3, 5}, 4))
        .attr("ignore_index", -100)
        .attr("reduction", "none")
        .attr("label_smoothing", 0.0)
        .run(ce);
    auto mc_dice_options = [](const Attrs& a) {
        nn::MulticlassDiceOptions o;
        o.smooth_nr = a.f("smooth_nr");
        o.smooth_dr = a.f("smooth_dr");
        o.include_background = a.b("include_background");
        if (a.has("ignore_index")) o.ignore_index = a.i("ignore_index");
        o.mode = loss_cases::dice_mode_of(a);
        o.reduction = reduction_of(a);
        return o;
    };
    auto mc_dice = [mc_dice_options](const Inputs& x, const Attrs& a) {
        return out(nn::multiclass_dice_loss(x[0], x[1], mc_dice_options(a)));
    };
    add(r, "multiclass_dice_loss", "per_image_mean")
        .in(randn({2, 3, 3, 4}))
        .in(index({2, 3, 4}, 3))
        .attr("smooth_nr", 1e-5)
        .attr("smooth_dr", 1e-5)
        .attr("include_background", true)
        .attr("mode", "per_image")
        .attr("reduction", "mean")
        .run(mc_dice);
    // ignore_index 2 is a class: its pixels leave the sums, its channel stays (as MONAI)
    add(r, "multiclass_dice_loss", "batch_no_background_ignore_class")
        .in(randn({2, 4, 3, 3}).step())
        .in(index({2, 3, 3}, 4))
        .attr("smooth_nr", 0.5)
        .attr("smooth_dr", 1.0)
        .attr("include_background", false)
        .attr("ignore_index", 2)
        .attr("mode", "batch")
        .attr("reduction", "none")
        .run(mc_dice);
    // labels 0..3 on 3 classes: the 3s are ignored (a sentinel outside [0, K)); sum over [N, K]
    add(r, "multiclass_dice_loss", "per_image_ignore_sentinel_sum")
        .in(randn({3, 3, 2, 5}))
        .in(index({3, 2, 5}, 4))
        .attr("smooth_nr", 1e-5)
        .attr("smooth_dr", 1e-5)
        .attr("include_background", true)
        .attr("ignore_index", 3)
        .attr("mode", "per_image")
        .attr("reduction", "sum")
        .run(mc_dice);
    add(r, "ce_dice_loss", "weighted_no_background")
        .in(randn({2, 3, 2, 3}))
        .in(index({2, 2, 3}, 3))
        .in(positive({3}).no_grad())
        .attr("ce_weight", 0.6)
        .attr("dice_weight", 1.4)
        .attr("smooth_nr", 1e-5)
        .attr("smooth_dr", 1e-5)
        .attr("include_background", false)
        .attr("mode", "per_image")
        .attr("reduction", "mean")
        .run([mc_dice_options](const Inputs& x, const Attrs& a) {
            nn::CeDiceOptions o;
            o.ce_weight = a.f("ce_weight");
            o.dice_weight = a.f("dice_weight");
            o.class_weight = x[2];
            o.dice = mc_dice_options(a);
            return out(nn::ce_dice_loss(x[0], x[1], o));
        });
    auto mse = [](const Inputs& x, const Attrs& a) { return out(nn::mse_loss(x[0], x[1], reduction_of(a))); };
    auto l1 = [](const Inputs& x, const Attrs& a) { return out(nn::l1_loss(x[0], x[1], reduction_of(a))); };
    add(r, "mse_loss", "mean").in(randn({3, 4})).in(randn({3, 4}).no_grad()).attr("reduction", "mean").run(mse);
    add(r, "mse_loss", "none_both_grad").in(randn({3, 4}).t()).in(randn({3, 4})).attr("reduction", "none").run(mse);
    add(r, "l1_loss", "sum").in(randn({2, 5}).step()).in(randn({2, 5}).no_grad()).attr("reduction", "sum").run(l1);
}

}  // namespace fbseg::harness
