// fbseg/autograd/engine.hpp - the backward pass: a topological walk of the graph, without
// recursion.
//
// 1. Walk the graph from the root (an explicit stack, no recursion) and count, for every node,
//    how many edges point at it: the number of gradients it must receive before it can run.
// 2. Start from the root with the seed gradient. A node runs when all its gradients have
//    arrived (their sum is in its input buffer); its outputs go into the buffers of the nodes
//    its edges point at. Among ready nodes the most recently created runs first, as in PyTorch.
// 3. After a node runs, what it saved is freed unless retain_graph is set; running it again
//    is an error that says so.
// Every gradient a node returns is checked against the shape, dtype and device of the input it
// belongs to, so a wrong backward formula fails loudly at its node.
#pragma once

#include <queue>
#include <unordered_map>

#include "fbseg/autograd/accumulate_grad.hpp"
#include "fbseg/autograd/function.hpp"
#include "fbseg/ops/binary.hpp"

namespace fbseg::autograd {

/// Runs backward from `roots`, seeding each with the matching gradient in `grad_roots`.
inline void run_backward(const std::vector<Tensor>& roots, const std::vector<Tensor>& grad_roots, bool retain_graph) {
    FBSEG_CHECK(roots.size() == grad_roots.size(), "backward: ", roots.size(), " roots but ", grad_roots.size(),
                " gradients");
    struct Root {
        Edge edge;
        Tensor grad;
    };
    std::vector<Root> starts;
    for (std::size_t i = 0; i < roots.size(); ++i) {
        FBSEG_CHECK(roots[i].requires_grad(), "backward: tensor ", i, " (", roots[i].describe(),
                    ") does not require grad and has no grad_fn; did you compute it under NoGradGuard or from "
                    "tensors without requires_grad?");
        FBSEG_CHECK(grad_roots[i].shape() == roots[i].shape(), "backward: gradient of shape ",
                    shape_str(grad_roots[i].shape()), " given for a tensor of shape ", shape_str(roots[i].shape()));
        starts.push_back({gradient_edge(roots[i]), grad_roots[i]});
    }

    // 1. Dependency counts.
    std::unordered_map<Node*, int> dependencies;
    {
        std::vector<Node*> stack;
        std::unordered_map<Node*, bool> seen;
        for (auto& s : starts)
            if (!seen[s.edge.fn.get()]) {
                seen[s.edge.fn.get()] = true;
                stack.push_back(s.edge.fn.get());
            }
        while (!stack.empty()) {
            Node* node = stack.back();
            stack.pop_back();
            for (const Edge& e : node->next_edges()) {
                if (!e.valid()) continue;
                ++dependencies[e.fn.get()];
                if (!seen[e.fn.get()]) {
                    seen[e.fn.get()] = true;
                    stack.push_back(e.fn.get());
                }
            }
        }
    }

    // 2. Input buffers and the ready queue.
    std::unordered_map<Node*, std::vector<Tensor>> buffers;
    std::unordered_map<Node*, std::shared_ptr<Node>> keep_alive;  // nodes stay alive while queued
    auto accumulate = [&](const Edge& e, Tensor g) {
        auto& buf = buffers[e.fn.get()];
        if (buf.empty()) buf.resize(e.fn->output_meta().size());
        Tensor& slot = buf[e.input_nr];
        slot = slot.defined() ? add(slot, g) : g;
        keep_alive[e.fn.get()] = e.fn;
    };
    auto later_first = [](Node* a, Node* b) { return a->sequence_nr() < b->sequence_nr(); };
    std::priority_queue<Node*, std::vector<Node*>, decltype(later_first)> ready(later_first);

    NoGradGuard no_grad;
    for (auto& s : starts) accumulate(s.edge, s.grad);
    for (auto& s : starts)
        if (dependencies[s.edge.fn.get()] == 0) {
            dependencies[s.edge.fn.get()] = -1;  // queued
            ready.push(s.edge.fn.get());
        }

    while (!ready.empty()) {
        Node* node = ready.top();
        ready.pop();
        FBSEG_CHECK(!node->released(), "backward: trying to backpropagate through ", node->name(),
                    " a second time, but its saved tensors were freed after the first backward; pass "
                    "retain_graph=true to the first backward() if you need to run it twice");
        auto found = buffers.find(node);
        if (found == buffers.end()) {  // no gradient reached this node: only pass the news on
            for (const Edge& e : node->next_edges())
                if (e.valid() && --dependencies[e.fn.get()] == 0) ready.push(e.fn.get());
            continue;
        }
        std::vector<Tensor> grads = std::move(found->second);
        buffers.erase(found);
        grads.resize(node->output_meta().size());
        for (std::size_t k = 0; k < grads.size(); ++k) {  // outputs that got no gradient get zeros
            if (grads[k].defined()) continue;
            const auto& m = node->output_meta()[k];
            grads[k] = zeros(m.shape, TensorOptions(m.dtype).device(m.device));
        }
        std::vector<Tensor> input_grads = node->apply(std::move(grads));
        if (!retain_graph && dynamic_cast<AccumulateGrad*>(node) == nullptr) {
            node->release_saved();
            node->mark_released();
        }
        const auto& edges = node->next_edges();
        FBSEG_CHECK(input_grads.size() == edges.size() || dynamic_cast<AccumulateGrad*>(node) != nullptr, node->name(),
                    " returned ", input_grads.size(), " gradients for ", edges.size(), " inputs");
        for (std::size_t i = 0; i < edges.size(); ++i) {
            const Edge& e = edges[i];
            if (!e.valid() || !input_grads[i].defined()) {
                if (e.valid() && --dependencies[e.fn.get()] == 0) ready.push(e.fn.get());
                continue;
            }
            const auto& meta = node->input_meta()[i];
            FBSEG_CHECK(input_grads[i].shape() == meta.shape && input_grads[i].dtype() == meta.dtype &&
                            input_grads[i].device() == meta.device,
                        node->name(), ": gradient of input ", i, " is ", input_grads[i].describe(), " but the input is ",
                        dtype_name(meta.dtype), " ", shape_str(meta.shape), " ", meta.device.str());
            accumulate(e, input_grads[i]);
            if (--dependencies[e.fn.get()] == 0) ready.push(e.fn.get());
        }
        keep_alive.erase(node);
    }
}

}  // namespace fbseg::autograd
