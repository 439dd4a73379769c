// fbseg/autograd/accumulate_grad.hpp - what the sink at a leaf does with the gradient it
// receives: the first one becomes leaf.grad (a fresh copy the leaf owns), later ones are added.
#pragma once

#include "fbseg/autograd/grad_mode.hpp"
#include "fbseg/autograd/node.hpp"
#include "fbseg/ops/binary.hpp"

namespace fbseg::autograd {

inline std::vector<Tensor> AccumulateGrad::apply(std::vector<Tensor>&& grad_outputs) {
    Tensor g = grad_outputs[0];
    if (!g.defined()) return {};
    NoGradGuard no_grad;
    if (!leaf_->grad) {
        leaf_->grad = g.clone().impl();  // a fresh contiguous buffer the leaf owns
    } else {
        Tensor acc(leaf_->grad);
        add_(acc, g);
    }
    return {};
}

}  // namespace fbseg::autograd
