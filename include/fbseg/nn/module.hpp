// fbseg/nn/module.hpp - nn::Module: a named tree of parameters, buffers and submodules.
//
// The names and semantics follow the PyTorch C++ frontend (torch::nn::Module):
//
//   struct Block : nn::Module {
//       Block() : nn::Module("Block") {
//           weight = register_parameter("weight", randn({8, 4}));
//           running_mean = register_buffer("running_mean", zeros({8}));
//           conv = register_module("conv", std::make_shared<Conv2d>(...));
//       }
//       Tensor weight, running_mean;
//       std::shared_ptr<Conv2d> conv;
//   };
//
// A Tensor is a shared handle, so the member `weight` and the registered entry are the same
// tensor: load_state_dict() and the optimizers update it in place and the member sees it.
//
// Names and order (docs/training.md): a parameter of a submodule is named by the path of
// registration names, joined by dots ("encoder.0.conv.weight"). named_parameters() lists, for each
// module in pre-order (a module before its children, children in registration order), that
// module's own parameters in registration order. state_dict() is PyTorch's order: for each module
// in pre-order, its parameters, then its buffers, then its children's entries. Undefined tensors
// (an absent bias) may be registered; they are skipped by every listing, as in PyTorch.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "fbseg/autograd/grad_mode.hpp"
#include "fbseg/ops/binary.hpp"
#include "fbseg/ops/copy.hpp"
#include "fbseg/ops/reduce.hpp"
#include "fbseg/ops/tensor_methods.hpp"
#include "fbseg/ops/view.hpp"

namespace fbseg::nn {

/// An ordered list of (dotted name, tensor): what named_parameters() and state_dict() return.
using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

/// What a non-strict load_state_dict() did not match (a strict one throws instead).
struct LoadStateDictResult {
    std::vector<std::string> missing_keys;     // in the module, absent from the state
    std::vector<std::string> unexpected_keys;  // in the state, absent from the module
};

class Module {
public:
    /// `name` is the type name used in messages ("Conv2d"); see name().
    explicit Module(std::string name = "Module") : name_(std::move(name)) {}
    virtual ~Module() = default;
    Module(const Module&) = delete;  // a module owns tensors by handle: copying would alias them
    Module& operator=(const Module&) = delete;

    /// The type name given to the constructor, for error messages.
    const std::string& name() const { return name_; }

    // ---- registration ----

    /// Registers a parameter and returns it (the same handle). The tensor becomes a leaf
    /// (a non-leaf is detached first) with requires_grad as given. An undefined tensor may be
    /// registered (an absent bias) and is skipped by every listing.
    Tensor register_parameter(const std::string& name, Tensor tensor, bool requires_grad = true) {
        check_new_name(name, "register_parameter");
        if (tensor.defined()) {
            if (!tensor.is_leaf()) tensor = tensor.detach();
            FBSEG_CHECK(!requires_grad || is_floating(tensor.dtype()), name_, ".register_parameter('", name,
                        "'): a parameter that requires grad must be floating, got ", tensor.describe());
            tensor.set_requires_grad(requires_grad);
        }
        parameters_.emplace_back(name, tensor);
        return tensor;
    }

    /// Registers a buffer (state that is saved but not trained: running statistics) and returns it.
    Tensor register_buffer(const std::string& name, Tensor tensor) {
        check_new_name(name, "register_buffer");
        buffers_.emplace_back(name, tensor);
        return tensor;
    }

    /// Registers a submodule and returns it with its own type.
    template <typename M>
    std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> module) {
        static_assert(std::is_base_of_v<Module, M>, "register_module: M must derive from nn::Module");
        check_new_name(name, "register_module");
        FBSEG_CHECK(module != nullptr, name_, ".register_module('", name, "'): the module is null");
        children_.emplace_back(name, module);
        return module;
    }

    // ---- listings (all ordered; see the header comment) ----

    NamedTensors named_parameters(bool recurse = true) const {
        NamedTensors out;
        visit("", recurse, [&](const std::string& prefix, const Module& m) { m.append(m.parameters_, prefix, out); });
        return out;
    }
    NamedTensors named_buffers(bool recurse = true) const {
        NamedTensors out;
        visit("", recurse, [&](const std::string& prefix, const Module& m) { m.append(m.buffers_, prefix, out); });
        return out;
    }
    std::vector<Tensor> parameters(bool recurse = true) const { return values(named_parameters(recurse)); }
    std::vector<Tensor> buffers(bool recurse = true) const { return values(named_buffers(recurse)); }

    /// Direct submodules in registration order.
    const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& named_children() const { return children_; }

    /// This module ("") and every descendant, pre-order, with dotted names. Non-owning pointers.
    std::vector<std::pair<std::string, Module*>> named_modules() {
        std::vector<std::pair<std::string, Module*>> out;
        visit("", true, [&](const std::string& prefix, const Module& m) {
            out.emplace_back(prefix.empty() ? "" : prefix.substr(0, prefix.size() - 1), const_cast<Module*>(&m));
        });
        return out;
    }

    /// Calls fn on this module and every descendant, pre-order.
    void apply(const std::function<void(Module&)>& fn) {
        for (auto& [n, m] : named_modules()) fn(*m);
    }

    // ---- state ----

    /// Parameters and buffers in PyTorch's state_dict order, as detached aliases (no history; the
    /// data is shared, so clone() them to keep a snapshot).
    NamedTensors state_dict() const {
        NamedTensors out;
        visit("", true, [&](const std::string& prefix, const Module& m) {
            m.append(m.parameters_, prefix, out);
            m.append(m.buffers_, prefix, out);
        });
        for (auto& entry : out) entry.second = entry.second.detach();
        return out;
    }

    /// Copies `state` into this module's existing tensors (under NoGradGuard; dtype converted as
    /// torch's copy_ does). Everything is checked before anything is written, so a failed load
    /// changes nothing. Shape mismatches and duplicate keys always throw; with `strict`, missing
    /// and unexpected keys throw too. The one fbseg::Error lists every problem found.
    LoadStateDictResult load_state_dict(const NamedTensors& state, bool strict = true) {
        const NamedTensors own = state_dict();
        std::map<std::string, Tensor> given;
        LoadStateDictResult result;
        std::vector<std::string> problems;
        for (const auto& [key, value] : state) {
            if (!given.emplace(key, value).second) problems.push_back("duplicate key '" + key + "' in the state");
            else if (!value.defined()) problems.push_back("key '" + key + "' holds an undefined tensor");
        }
        std::set<std::string> known;
        for (const auto& [key, dst] : own) {
            known.insert(key);
            auto it = given.find(key);
            if (it == given.end()) result.missing_keys.push_back(key);
            else if (it->second.defined() && it->second.shape() != dst.shape())
                problems.push_back(fbseg::detail::str("size mismatch for '", key, "': the state has shape ",
                                               shape_str(it->second.shape()), ", the module has shape ",
                                               shape_str(dst.shape())));
        }
        for (const auto& [key, value] : state)
            if (!known.count(key)) result.unexpected_keys.push_back(key);
        if (strict && !result.missing_keys.empty()) problems.push_back("missing keys: " + join(result.missing_keys));
        if (strict && !result.unexpected_keys.empty())
            problems.push_back("unexpected keys: " + join(result.unexpected_keys));
        if (!problems.empty()) {
            std::string message = name_ + ".load_state_dict: " + std::to_string(problems.size()) + " error(s):";
            for (const auto& p : problems) message += "\n  " + p;
            throw Error(message);
        }
        NoGradGuard no_grad;
        for (const auto& [key, dst] : own) {
            auto it = given.find(key);
            if (it != given.end()) Tensor(dst).copy_(it->second);
        }
        return result;
    }

    // ---- modes and gradients ----

    /// Training mode (dropout active, batch norm uses batch statistics) for this module and all
    /// its descendants. Overrides must call Module::train.
    virtual void train(bool on = true) {
        training_ = on;
        for (auto& [n, child] : children_) child->train(on);
    }
    void eval() { train(false); }
    bool is_training() const { return training_; }

    /// Drops every parameter's gradient (set_to_none, PyTorch's default) or zeroes it in place.
    void zero_grad(bool set_to_none = true) {
        for (auto& [n, p] : named_parameters()) {
            if (!p.grad().defined()) continue;
            if (set_to_none) {
                p.zero_grad();
            } else {
                NoGradGuard no_grad;
                p.grad().zero_();
            }
        }
    }

    /// Converts every floating parameter and buffer to `dtype` in place, as torch's
    /// model.to(dtype) (model.double() for float64). Each tensor keeps its identity: the module's
    /// members and anyone holding the handle see the new data. Gradients are dropped. Integer
    /// buffers (num_batches_tracked) are left alone.
    Module& to(DType dtype) {
        FBSEG_CHECK(is_floating(dtype), name(), ".to: expected a floating dtype but got ", dtype_name(dtype));
        NoGradGuard no_grad;
        for (const auto& list : {named_parameters(), named_buffers()})
            for (const auto& [key, t] : list) {
                if (!is_floating(t.dtype()) || t.dtype() == dtype) continue;
                const Tensor converted = t.detach().to(dtype).contiguous();
                TensorImpl& impl = *t.impl();  // rewrite the shared impl: every handle sees it
                impl.storage = converted.storage();
                impl.sizes = converted.shape();
                impl.strides = converted.strides();
                impl.offset = converted.offset();
                impl.dtype = dtype;
                impl.grad.reset();
            }
        return *this;
    }

    /// Number of scalars in the parameters (only those that require grad if trainable_only).
    std::int64_t num_parameters(bool trainable_only = false) const {
        std::int64_t n = 0;
        for (const auto& [k, p] : named_parameters())
            if (!trainable_only || p.requires_grad()) n += p.numel();
        return n;
    }

    /// Re-initialises this module's own parameters (layers override it with their default init).
    virtual void reset_parameters() {}

private:
    void check_new_name(const std::string& name, const char* what) const {
        FBSEG_CHECK(!name.empty(), name_, ".", what, ": the name must not be empty");
        FBSEG_CHECK(name.find('.') == std::string::npos, name_, ".", what, "('", name,
                    "'): the name must not contain '.'");
        auto taken = [&](const auto& list) {
            return std::any_of(list.begin(), list.end(), [&](const auto& e) { return e.first == name; });
        };
        FBSEG_CHECK(!taken(parameters_) && !taken(buffers_) && !taken(children_), name_, ".", what, "('", name,
                    "'): a parameter, buffer or submodule of that name is already registered");
    }

    /// Calls fn(prefix, module) on this module and (if recurse) every descendant, pre-order.
    /// `prefix` is the dotted path with a trailing dot ("" for the root).
    template <typename Fn>
    void visit(const std::string& prefix, bool recurse, Fn&& fn) const {
        fn(prefix, *this);
        if (!recurse) return;
        for (const auto& [n, child] : children_) child->visit(prefix + n + ".", true, fn);
    }

    void append(const NamedTensors& list, const std::string& prefix, NamedTensors& out) const {
        for (const auto& [n, t] : list)
            if (t.defined()) out.emplace_back(prefix + n, t);
    }
    static std::vector<Tensor> values(const NamedTensors& list) {
        std::vector<Tensor> out;
        for (const auto& e : list) out.push_back(e.second);
        return out;
    }
    static std::string join(const std::vector<std::string>& keys) {
        std::string s;
        for (const auto& k : keys) s += (s.empty() ? "'" : ", '") + k + "'";
        return s;
    }

    std::string name_;
    bool training_ = true;
    NamedTensors parameters_;
    NamedTensors buffers_;
    std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
};

/// A module with one input and one output: what nn::Sequential can chain.
class UnaryModule : public Module {
public:
    using Module::Module;
    virtual Tensor forward(const Tensor& input) = 0;
    Tensor operator()(const Tensor& input) { return forward(input); }
};

}  // namespace fbseg::nn
