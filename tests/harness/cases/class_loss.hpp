// tests/harness/cases/class_loss.hpp - the losses of class-index and regression targets in
// nn/loss.hpp: cross_entropy (image and flat logits, class weights, ignore_index, label smoothing,
// every reduction), mse_loss and l1_loss.
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
    auto mse = [](const Inputs& x, const Attrs& a) { return out(nn::mse_loss(x[0], x[1], reduction_of(a))); };
    auto l1 = [](const Inputs& x, const Attrs& a) { return out(nn::l1_loss(x[0], x[1], reduction_of(a))); };
    add(r, "mse_loss", "mean").in(randn({3, 4})).in(randn({3, 4}).no_grad()).attr("reduction", "mean").run(mse);
    add(r, "mse_loss", "none_both_grad").in(randn({3, 4}).t()).in(randn({3, 4})).attr("reduction", "none").run(mse);
    add(r, "l1_loss", "sum").in(randn({2, 5}).step()).in(randn({2, 5}).no_grad()).attr("reduction", "sum").run(l1);
}

}  // namespace fbseg::harness
