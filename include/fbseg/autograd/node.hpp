// fbseg/autograd/node.hpp - the nodes of the backward graph.
//
// Every op that has an input requiring grad records one Node. A node knows, for each of its
// inputs, where that input's gradient goes next (an Edge: the node that made the input and which
// of its outputs the input was). apply() takes the gradients of the node's outputs and returns
// the gradients of its inputs. Leaves end in an AccumulateGrad node that adds into `.grad`.
// See docs/autograd.md.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "fbseg/autograd/saved_tensor.hpp"
#include "fbseg/core/tensor.hpp"

namespace fbseg::autograd {

class Node;

/// Where a gradient flows: output `input_nr` of node `fn`. An edge without fn is a dead end (the
/// input did not require grad).
struct Edge {
    std::shared_ptr<Node> fn;
    std::uint32_t input_nr = 0;
    bool valid() const { return fn != nullptr; }
};

/// Shape, dtype and device of a tensor, kept so that the engine can check every gradient a
/// backward formula returns and make zeros for outputs that received none.
struct TensorMeta {
    Shape shape;
    DType dtype = DType::Float32;
    Device device;
    static TensorMeta of(const Tensor& t) { return {t.shape(), t.dtype(), t.device()}; }
};

namespace detail {
inline std::uint64_t next_sequence_nr() {
    static thread_local std::uint64_t counter = 0;
    return counter++;
}
}  // namespace detail

class Node {
public:
    Node() : sequence_nr_(detail::next_sequence_nr()) {}
    Node(const Node&) = delete;
    Node& operator=(const Node&) = delete;

    /// Destroys a long chain of nodes without recursion. Every child is moved to a local stack;
    /// a child popped from the stack whose only owner is now the stack is emptied of its own
    /// children first (so its destructor has nothing to recurse into), and one that someone
    /// else still owns (another edge of the same node, another graph, a live tensor) is merely
    /// released. So a 100,000-node chain, or y = y * y repeated (two edges to one child), is
    /// freed in a loop.
    virtual ~Node() {
        std::vector<std::shared_ptr<Node>> stack;
        auto take_children = [&stack](Node& n) {
            for (auto& e : n.next_edges_)
                if (e.fn) stack.push_back(std::move(e.fn));
            n.next_edges_.clear();
        };
        take_children(*this);
        while (!stack.empty()) {
            std::shared_ptr<Node> n = std::move(stack.back());
            stack.pop_back();
            if (n.use_count() == 1) take_children(*n);
        }  // n is released here: destroyed with no children left, or still alive elsewhere
    }

    /// Name used in error messages, e.g. "MulBackward".
    virtual std::string name() const = 0;
    /// Gradients of the inputs (one per next edge; undefined where there is none) from the
    /// gradients of the outputs (one per output).
    virtual std::vector<Tensor> apply(std::vector<Tensor>&& grad_outputs) = 0;
    /// Frees what the node saved for backward; called after apply unless the graph is retained.
    virtual void release_saved() {}

    const std::vector<Edge>& next_edges() const { return next_edges_; }
    const std::vector<TensorMeta>& input_meta() const { return input_meta_; }
    const std::vector<TensorMeta>& output_meta() const { return output_meta_; }
    std::uint64_t sequence_nr() const { return sequence_nr_; }
    bool released() const { return released_; }
    void mark_released() { released_ = true; }

    void add_next_edge(Edge edge, TensorMeta meta) {
        next_edges_.push_back(std::move(edge));
        input_meta_.push_back(std::move(meta));
    }
    void add_output(TensorMeta meta) { output_meta_.push_back(std::move(meta)); }

private:
    std::vector<Edge> next_edges_;
    std::vector<TensorMeta> input_meta_;
    std::vector<TensorMeta> output_meta_;
    std::uint64_t sequence_nr_;
    bool released_ = false;
};

/// A node whose backward is a lambda: most ops write their gradient formula next to their
/// forward code. The lambda captures SavedTensors; release_saved() destroys it.
class LambdaNode final : public Node {
public:
    using Backward = std::function<std::vector<Tensor>(const std::vector<Tensor>& grad_outputs)>;
    LambdaNode(std::string name, Backward backward) : name_(std::move(name)), backward_(std::move(backward)) {}

    std::string name() const override { return name_; }
    std::vector<Tensor> apply(std::vector<Tensor>&& grad_outputs) override { return backward_(grad_outputs); }
    void release_saved() override { backward_ = nullptr; }

private:
    std::string name_;
    Backward backward_;
};

/// The sink at a leaf: adds the incoming gradient into leaf.grad (apply() is defined in
/// autograd/accumulate_grad.hpp, which needs the ops). apply() is declared `inline` here: a
/// virtual function that is not inline where the class is defined is the class's "key function"
/// (Itanium C++ ABI), and its vtable, apply() and every kernel apply() reaches were then emitted
/// in every translation unit that included fbseg, used or not (200 KB of code; docs/performance.md,
/// "Build cost").
class AccumulateGrad final : public Node {
public:
    explicit AccumulateGrad(std::shared_ptr<TensorImpl> leaf) : leaf_(std::move(leaf)) {
        add_output(TensorMeta::of(Tensor(leaf_)));
    }
    std::string name() const override { return "AccumulateGrad"; }
    inline std::vector<Tensor> apply(std::vector<Tensor>&& grad_outputs) override;

private:
    std::shared_ptr<TensorImpl> leaf_;
};

}  // namespace fbseg::autograd
