// fbseg/autograd/function.hpp - how an op records itself in the graph.
//
//   Tensor out = ...computed without grad...;
//   if (autograd::needs_grad({&a, &b})) {
//       autograd::record("MulBackward", {&a, &b}, {&out},
//           [sa = autograd::SavedTensor(a), sb = autograd::SavedTensor(b)](const auto& g) { ... });
//   }
#pragma once

#include <initializer_list>
#include <memory>
#include <string>

#include "fbseg/autograd/grad_mode.hpp"
#include "fbseg/autograd/node.hpp"

namespace fbseg::autograd {

/// True when grad mode is on and at least one input requires grad.
inline bool needs_grad(std::initializer_list<const Tensor*> inputs) {
    if (!is_grad_enabled()) return false;
    for (const Tensor* t : inputs)
        if (t->defined() && t->requires_grad()) return true;
    return false;
}
inline bool needs_grad(const std::vector<Tensor>& inputs) {
    if (!is_grad_enabled()) return false;
    for (const Tensor& t : inputs)
        if (t.defined() && t.requires_grad()) return true;
    return false;
}

/// The edge a gradient for `t` must follow: into its grad_fn, into its leaf accumulator, or
/// nowhere (it does not require grad).
inline Edge gradient_edge(const Tensor& t) {
    if (!t.defined() || !t.requires_grad()) return {};
    const auto& impl = t.impl();
    // A view whose base was modified in place (by a recorded op) after the view was made: its
    // data includes that op but its grad_fn does not, so its gradient would be wrong. PyTorch
    // rebuilds the view's history at this point; fbseg refuses, with the way out.
    FBSEG_CHECK(!(impl->is_view && impl->grad_fn && impl->view_history_version != impl->storage->history_version()),
                "autograd: ", t.describe(), " is a view (made by ", impl->grad_fn->name(),
                ") of a tensor that was modified in place after the view was made, so the view's gradient "
                "history is stale; make the view again after the in-place op, or use the out-of-place op");
    if (impl->grad_fn) return {impl->grad_fn, impl->output_nr};
    std::shared_ptr<Node> acc = impl->grad_accumulator.lock();
    if (!acc) {
        acc = std::make_shared<AccumulateGrad>(impl);
        impl->grad_accumulator = acc;
    }
    return {acc, 0};
}

/// Makes `out` the result of `node`'s output `output_nr`.
inline void set_history(Tensor& out, const std::shared_ptr<Node>& node, std::uint32_t output_nr) {
    auto& impl = *out.impl();
    impl.requires_grad = true;
    impl.grad_fn = node;
    impl.output_nr = output_nr;
}

/// Connects `node` to `inputs` and makes it the grad_fn of `outputs`. Returns the node.
inline std::shared_ptr<Node> connect(const std::shared_ptr<Node>& node, const std::vector<const Tensor*>& inputs,
                                     const std::vector<Tensor*>& outputs) {
    for (const Tensor* in : inputs) node->add_next_edge(gradient_edge(*in), TensorMeta::of(*in));
    for (std::uint32_t k = 0; k < outputs.size(); ++k) {
        node->add_output(TensorMeta::of(*outputs[k]));
        set_history(*outputs[k], node, k);
    }
    return node;
}

/// Records a LambdaNode: `backward(grad_outputs)` returns one gradient per input (undefined
/// where an input needs none).
inline std::shared_ptr<Node> record(std::string name, const std::vector<const Tensor*>& inputs,
                                    const std::vector<Tensor*>& outputs, LambdaNode::Backward backward) {
    return connect(std::make_shared<LambdaNode>(std::move(name), std::move(backward)), inputs, outputs);
}

/// Before an in-place op writes into `self`: refuses what would corrupt gradients (a leaf that
/// requires grad, or a view of something in a graph), and returns whether the op must record.
inline bool check_inplace(const Tensor& self, std::string_view op, bool any_input_requires_grad) {
    if (!is_grad_enabled()) return false;
    FBSEG_CHECK(!(self.is_leaf() && self.requires_grad()), op,
                ": a leaf tensor that requires grad (", self.describe(),
                ") cannot be modified in place; modify it under NoGradGuard or work on a clone()");
    const bool records = any_input_requires_grad || self.requires_grad();
    FBSEG_CHECK(!(records && self.impl()->is_view), op,
                ": in-place modification of a view that takes part in autograd (", self.describe(),
                ") is not supported; use the out-of-place op");
    if (records) self.storage()->bump_history_version();  // views made before now are stale
    return records;
}

}  // namespace fbseg::autograd
