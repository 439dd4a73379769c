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
#include "fbseg/ops/join.hpp"
#include "fbseg/ops/reduce.hpp"
#include "fbseg/ops/tensor_methods.hpp"
#include "fbseg/ops/view.hpp"

namespace fbseg::nn {

/// An ordered list of (dotted name, tensor): what named_parameters() and state_dict() return.
using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

/// How load_state_dict() maps a state onto a module. The keys of the state go through three
/// steps, in this order:
///   1. exclude: a key matching any of these globs ('*' any run of characters, '?' one) is
///      dropped (torchvision's classifier "fc.*", timm's "classifier.*"); listed in excluded_keys;
///   2. strip_prefix: removed from the front of every key that starts with it (a checkpoint's
///      "model.");
///   3. add_prefix: put in front of every key (torchvision's resnet34 weights load into
///      "encoder.").
/// strict (the default) turns missing and unexpected keys and shape mismatches into one error;
/// non-strict skips them and reports them in the result. Duplicate keys (after renaming) always
/// throw. adapt_input_channels names module keys (after renaming) of a first convolution whose
/// RGB kernel [O, 3, kh, kw] is adapted to the module's input channels as smp does (see
/// adapt_input_channels() below) instead of being a shape mismatch.
struct LoadStateDictOptions {
    bool strict = true;
    std::string strip_prefix{};
    std::string add_prefix{};
    std::vector<std::string> exclude{};
    std::vector<std::string> adapt_input_channels{};
};

/// A key whose tensor has another shape in the state than in the module.
struct ShapeMismatch {
    std::string key;
    Shape expected;  // the module's
    Shape found;     // the state's
};

/// What load_state_dict() did: which module keys were written, which stayed as they were.
struct LoadStateDictResult {
    std::vector<std::string> loaded_keys;      // written into the module
    std::vector<std::string> missing_keys;     // in the module, absent from the state
    std::vector<std::string> unexpected_keys;  // in the state (after renaming), absent from the module
    std::vector<std::string> excluded_keys;    // state keys dropped by an exclude glob
    std::vector<std::string> adapted_keys;     // first-conv kernels adapted to the input channels
    std::vector<ShapeMismatch> mismatched;     // skipped (non-strict only; strict throws)

    /// One line per category, for logs: "loaded 120, missing 2 ('a', 'b'), ...".
    std::string summary() const {
        auto list = [](const std::vector<std::string>& keys) {
            std::string s;
            for (std::size_t i = 0; i < keys.size() && i < 8; ++i) s += (i ? ", '" : " ('") + keys[i] + "'";
            if (keys.size() > 8) s += ", ...";
            return keys.empty() ? s : s + ")";
        };
        std::string s = "loaded " + std::to_string(loaded_keys.size());
        s += ", missing " + std::to_string(missing_keys.size()) + list(missing_keys);
        s += ", unexpected " + std::to_string(unexpected_keys.size()) + list(unexpected_keys);
        s += ", excluded " + std::to_string(excluded_keys.size());
        if (!adapted_keys.empty()) s += ", adapted" + list(adapted_keys);
        s += ", shape-mismatched " + std::to_string(mismatched.size());
        for (std::size_t i = 0; i < mismatched.size() && i < 8; ++i)
            s += (i ? ", '" : " ('") + mismatched[i].key + "' " + shape_str(mismatched[i].found) + " vs " +
                 shape_str(mismatched[i].expected);
        return mismatched.empty() ? s : s + ")";
    }
};

/// Glob match of a whole key: '*' matches any run of characters (dots included), '?' one.
inline bool glob_match(std::string_view pattern, std::string_view key) {
    std::size_t p = 0, k = 0, star = std::string_view::npos, mark = 0;
    while (k < key.size()) {
        if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == key[k])) {
            ++p, ++k;
        } else if (p < pattern.size() && pattern[p] == '*') {
            star = p++, mark = k;  // try '*' as empty first, widen on mismatch
        } else if (star != std::string_view::npos) {
            p = star + 1, k = ++mark;
        } else {
            return false;
        }
    }
    while (p < pattern.size() && pattern[p] == '*') ++p;
    return p == pattern.size();
}

/// smp's first-convolution adaptation (segmentation_models_pytorch.encoders._utils.patch_first_conv,
/// pretrained case) of an RGB kernel `weight` [O, 3, kh, kw] to `in_channels` inputs:
///   in_channels == 1:  w'[:, 0] = w[:, 0] + w[:, 1] + w[:, 2]       (a grey image is R = G = B)
///   otherwise:         w'[:, i] = w[:, i mod 3] * 3 / in_channels   (the response to a constant
///                                                                      image stays the same)
inline Tensor adapt_input_channels(const Tensor& weight, std::int64_t in_channels) {
    FBSEG_CHECK(weight.defined() && weight.dim() == 4 && weight.size(1) == 3, "adapt_input_channels: expected an RGB "
                "kernel [O, 3, kh, kw] but got ", weight.defined() ? shape_str(weight.shape()) : "an undefined tensor");
    FBSEG_CHECK(in_channels > 0, "adapt_input_channels: in_channels must be positive but got ", in_channels);
    NoGradGuard no_grad;
    const Tensor w = weight.detach();
    if (in_channels == 3) return w.clone();
    if (in_channels == 1)  // (w0 + w1) + w2 in the weight's dtype, rounded as smp's sum is
        return (w.narrow(1, 0, 1) + w.narrow(1, 1, 1)) + w.narrow(1, 2, 1);
    std::vector<Tensor> columns;
    for (std::int64_t i = 0; i < in_channels; ++i) columns.push_back(w.narrow(1, i % 3, 1));
    return cat(columns, 1) * (3.0 / double(in_channels));
}

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

    /// Copies `state` into this module's existing tensors (under NoGradGuard; dtype and device
    /// converted as torch's copy_ does), after renaming its keys (LoadStateDictOptions above).
    /// Nothing is written until everything has been checked and every tensor converted into a
    /// temporary, so a failed load changes nothing. The one fbseg::Error lists every problem.
    LoadStateDictResult load_state_dict(const NamedTensors& state, const LoadStateDictOptions& options) {
        LoadStateDictResult result;
        std::vector<std::string> problems;
        std::map<std::string, Tensor> given;  // renamed key -> tensor
        std::vector<std::string> given_order;
        for (const auto& entry : state) {
            const std::string& key = entry.first;
            const Tensor& value = entry.second;
            if (std::any_of(options.exclude.begin(), options.exclude.end(),
                            [&](const std::string& glob) { return glob_match(glob, key); })) {
                result.excluded_keys.push_back(key);
                continue;
            }
            std::string renamed = key;
            if (!options.strip_prefix.empty() && renamed.rfind(options.strip_prefix, 0) == 0)
                renamed.erase(0, options.strip_prefix.size());
            renamed = options.add_prefix + renamed;
            if (!given.emplace(renamed, value).second) problems.push_back("duplicate key '" + renamed + "' in the state");
            else if (!value.defined()) problems.push_back("key '" + renamed + "' holds an undefined tensor");
            else given_order.push_back(renamed);
        }
        const NamedTensors own = state_dict();
        std::set<std::string> known;
        std::vector<std::pair<Tensor, Tensor>> writes;  // (destination, converted source)
        for (const auto& [key, dst] : own) {
            known.insert(key);
            auto it = given.find(key);
            if (it == given.end()) {
                result.missing_keys.push_back(key);
                continue;
            }
            Tensor src = it->second;
            const bool adapt = std::find(options.adapt_input_channels.begin(), options.adapt_input_channels.end(),
                                         key) != options.adapt_input_channels.end();
            if (adapt && src.defined() && src.dim() == 4 && dst.dim() == 4 && src.size(1) == 3 && dst.size(1) != 3) {
                src = adapt_input_channels(src, dst.size(1));
                result.adapted_keys.push_back(key);
            }
            if (src.shape() != dst.shape()) {
                result.mismatched.push_back({key, dst.shape(), src.shape()});
                continue;
            }
            writes.emplace_back(dst, src);
            result.loaded_keys.push_back(key);
        }
        for (const auto& key : given_order)
            if (!known.count(key)) result.unexpected_keys.push_back(key);
        if (options.strict) {
            if (!result.missing_keys.empty()) problems.push_back("missing keys: " + join(result.missing_keys));
            if (!result.unexpected_keys.empty()) problems.push_back("unexpected keys: " + join(result.unexpected_keys));
            for (const auto& m : result.mismatched)
                problems.push_back(fbseg::detail::str("size mismatch for '", m.key, "': the state has shape ",
                                                      shape_str(m.found), ", the module has shape ",
                                                      shape_str(m.expected)));
        }
        for (const auto& key : options.adapt_input_channels)
            if (!known.count(key)) problems.push_back("adapt_input_channels names '" + key + "', not a key of the module");
        if (!problems.empty()) {
            std::string message = name_ + ".load_state_dict: " + std::to_string(problems.size()) + " error(s):";
            for (const auto& p : problems) message += "\n  " + p;
            throw Error(message);
        }
        NoGradGuard no_grad;
        // Convert first (this may throw: memory, devices), then write (this does not).
        for (auto& [dst, src] : writes) src = src.detach().to(dst.dtype()).to(dst.device()).contiguous();
        for (auto& [dst, src] : writes) Tensor(dst).copy_(src);
        return result;
    }

    /// load_state_dict with default options, strict or not.
    LoadStateDictResult load_state_dict(const NamedTensors& state, bool strict = true) {
        LoadStateDictOptions options;
        options.strict = strict;
        return load_state_dict(state, options);
    }

    // ---- modes and gradients ----

    /// Training mode (dropout active, batch norm uses batch statistics) for this module and all
    /// its descendants. Overrides must call Module::train.
    /// A frozen module (freeze()) stays in eval mode whatever it is asked.
    virtual void train(bool on = true) {
        requested_training_ = on;
        training_ = on && !frozen_;
        for (auto& [n, child] : children_) child->train(training_);
    }
    void eval() { train(false); }
    bool is_training() const { return training_; }

    /// Freezes this module and its descendants for fine-tuning (or unfreezes them): every
    /// parameter's requires_grad becomes !on, so backward leaves them without a gradient and the
    /// optimizers skip them (weight decay included); and while frozen the module stays in eval
    /// mode whatever train() asks, so its BatchNorm layers normalise with, and keep, their
    /// running statistics (a frozen pretrained encoder is not drifted by the new task's
    /// batches). Unfreezing restores the mode train() last asked for.
    void freeze(bool on = true) {
        frozen_ = on;
        for (auto& [n, p] : named_parameters()) p.set_requires_grad(!on);
        if (!on) for (auto& [n, m] : named_modules()) m->frozen_ = false;
        train(requested_training_);
    }
    void unfreeze() { freeze(false); }
    bool is_frozen() const { return frozen_; }

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

    /// model.to(cuda_device(0)) / model.to(kCPU): moves every parameter and buffer (integer ones
    /// too) to `device`. As with to(dtype), each tensor keeps its identity (an optimizer made
    /// before the move still holds the moved parameters; move the model before making one, as in
    /// PyTorch, so that its state is made on the device), and gradients are dropped.
    Module& to(Device device) {
        NoGradGuard no_grad;
        for (const auto& list : {named_parameters(), named_buffers()})
            for (const auto& [key, t] : list) {
                if (!t.defined() || t.device() == device) continue;
                const Tensor moved = t.detach().contiguous().to(device);
                TensorImpl& impl = *t.impl();  // rewrite the shared impl: every handle sees it
                impl.storage = moved.storage();
                impl.sizes = moved.shape();
                impl.strides = moved.strides();
                impl.offset = moved.offset();
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
    bool requested_training_ = true;  // what train() last asked (a frozen module ignores it)
    bool frozen_ = false;
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
