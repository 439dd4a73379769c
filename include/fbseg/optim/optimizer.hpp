// fbseg/optim/optimizer.hpp - the Optimizer base class: parameter groups, per-parameter state,
// zero_grad, and state_dict / load_state_dict.
//
// As in torch.optim, parameters come in groups, each with its own hyperparameters:
//
//   std::vector<optim::ParamGroup> groups{{encoder->parameters()},                      // defaults
//                                         {decoder->parameters(), {{"lr", 1e-2}}}};     // own lr
//   optim::SGD opt(groups, {.lr = 1e-3, .momentum = 0.9});
//
// A group sets only what differs; every other hyperparameter comes from the optimizer's defaults.
// Hyperparameters are plain numbers by name ("lr", "weight_decay", "momentum", ...; booleans are
// 0 or 1), so a learning-rate scheduler or a checkpoint can read and write any of them.
// A step skips every parameter whose .grad is undefined (it took no part in the last backward).
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "fbseg/autograd/grad_mode.hpp"
#include "fbseg/ops/binary.hpp"
#include "fbseg/ops/copy.hpp"
#include "fbseg/ops/reduce.hpp"
#include "fbseg/ops/tensor_methods.hpp"
#include "fbseg/ops/unary.hpp"
#include "fbseg/ops/view.hpp"

namespace fbseg::optim {

/// Hyperparameters by name.
using Options = std::map<std::string, double>;

/// The state of an optimizer or a scheduler, in a form a checkpoint can store: tensors by name
/// and numbers by name. The names are listed in docs/training.md, e.g. for an optimizer
///   tensors["state.3.exp_avg"]       moment buffer of parameter 3 (counted over all groups)
///   scalars["state.3.step"]          its step count
///   scalars["param_groups.1.lr"]     a hyperparameter of group 1
///   scalars["param_groups.1.num_params"]
struct StateDict {
    std::map<std::string, Tensor> tensors;
    std::map<std::string, double> scalars;
};

/// One group of parameters and its hyperparameters.
struct ParamGroup {
    std::vector<Tensor> params;
    Options options;  // what the group overrides; the optimizer fills in the rest

    ParamGroup(std::vector<Tensor> params_, Options options_ = {})  // NOLINT: implicit, for brace lists
        : params(std::move(params_)), options(std::move(options_)) {}

    double get(const std::string& key) const {
        auto it = options.find(key);
        FBSEG_CHECK(it != options.end(), "ParamGroup: no hyperparameter '", key, "'");
        return it->second;
    }
    void set(const std::string& key, double value) {
        FBSEG_CHECK(options.count(key), "ParamGroup: no hyperparameter '", key, "'");
        options[key] = value;
    }
    double lr() const { return get("lr"); }
    void set_lr(double lr) { set("lr", lr); }
};

class Optimizer {
public:
    virtual ~Optimizer() = default;
    Optimizer(const Optimizer&) = delete;
    Optimizer& operator=(const Optimizer&) = delete;

    /// One update of every parameter that has a gradient.
    virtual void step() = 0;

    const std::string& name() const { return name_; }
    std::vector<ParamGroup>& param_groups() { return groups_; }
    const std::vector<ParamGroup>& param_groups() const { return groups_; }

    /// Adds a group (hyperparameters it does not set come from the defaults).
    void add_param_group(ParamGroup group) {
        for (const auto& [key, value] : group.options)
            FBSEG_CHECK(defaults_.count(key), name_, ": unknown hyperparameter '", key, "' in a parameter group (known: ",
                        known_keys(), ")");
        for (const auto& [key, value] : defaults_) group.options.emplace(key, value);
        for (const Tensor& p : group.params) {
            FBSEG_CHECK(p.defined(), name_, ": a parameter is an undefined tensor");
            FBSEG_CHECK(p.is_leaf(), name_, ": can't optimize a non-leaf tensor (", p.describe(), ")");
            FBSEG_CHECK(is_floating(p.dtype()), name_, ": can only optimize floating tensors, got ", p.describe());
            for (const auto& g : groups_)
                for (const auto& q : g.params)
                    FBSEG_CHECK(!q.is_same(p), name_, ": a parameter appears in more than one parameter group");
        }
        check_group(group);
        groups_.push_back(std::move(group));
    }

    /// Drops every gradient (set_to_none, PyTorch's default) or zeroes it in place.
    void zero_grad(bool set_to_none = true) {
        for (auto& group : groups_)
            for (auto& p : group.params) {
                if (!p.grad().defined()) continue;
                if (set_to_none) {
                    p.zero_grad();
                } else {
                    NoGradGuard no_grad;
                    p.grad().zero_();
                }
            }
    }

    /// Per-parameter state and group hyperparameters (the tensors are the optimizer's own
    /// buffers, not copies: clone them to keep a snapshot while training goes on).
    StateDict state_dict() const {
        StateDict out;
        std::size_t index = 0;
        for (std::size_t g = 0; g < groups_.size(); ++g) {
            const std::string prefix = "param_groups." + std::to_string(g) + ".";
            for (const auto& [key, value] : groups_[g].options) out.scalars[prefix + key] = value;
            out.scalars[prefix + "num_params"] = double(groups_[g].params.size());
            for (const Tensor& p : groups_[g].params) {
                auto it = state_.find(p.impl().get());
                if (it != state_.end()) {
                    const std::string s = "state." + std::to_string(index) + ".";
                    for (const auto& [key, t] : it->second.tensors) out.tensors[s + key] = t;
                    for (const auto& [key, v] : it->second.scalars) out.scalars[s + key] = v;
                }
                ++index;
            }
        }
        return out;
    }

    /// Restores a state_dict() of an optimizer of the same kind over parameters of the same
    /// shapes in the same groups. Hyperparameters are restored too. The tensors are copied (and
    /// converted to each parameter's dtype). Everything is checked first; the one error lists
    /// every problem, and a failed load changes nothing.
    void load_state_dict(const StateDict& state) {
        std::vector<std::string> problems;
        std::vector<const Tensor*> flat;
        for (const auto& g : groups_)
            for (const auto& p : g.params) flat.push_back(&p);
        std::vector<Options> options(groups_.size());
        std::unordered_map<std::size_t, ParamState> loaded;
        std::set<std::size_t> groups_seen;

        // "param_groups.<g>.<key>" and "state.<i>.<key>": split into (kind, index, key).
        auto parse = [&](const std::string& name, std::string& kind, std::size_t& index, std::string& key) {
            const auto a = name.find('.'), b = a == std::string::npos ? a : name.find('.', a + 1);
            if (b == std::string::npos) return false;
            kind = name.substr(0, a);
            key = name.substr(b + 1);
            const std::string digits = name.substr(a + 1, b - a - 1);
            if (digits.empty() || digits.size() > 9 || digits.find_first_not_of("0123456789") != std::string::npos)
                return false;
            index = std::stoul(digits);
            return (kind == "param_groups" || kind == "state") && !key.empty();
        };
        for (const auto& [name, value] : state.scalars) {
            std::string kind, key;
            std::size_t i = 0;
            if (!parse(name, kind, i, key)) {
                problems.push_back("unexpected key '" + name + "'");
            } else if (kind == "param_groups") {
                if (i >= groups_.size()) {
                    problems.push_back("'" + name + "': the optimizer has only " + std::to_string(groups_.size()) +
                                       " parameter group(s)");
                } else if (key == "num_params") {
                    groups_seen.insert(i);
                    if (std::size_t(value) != groups_[i].params.size())
                        problems.push_back(fbseg::detail::str("parameter group ", i, " has ", groups_[i].params.size(),
                                                              " parameters but the state has ", value));
                } else if (!defaults_.count(key)) {
                    problems.push_back("'" + name + "': unknown hyperparameter for " + name_);
                } else {
                    options[i][key] = value;
                }
            } else if (i >= flat.size()) {
                problems.push_back(fbseg::detail::str("'", name, "': the optimizer has only ", flat.size(), " parameters"));
            } else {
                loaded[i].scalars[key] = value;
            }
        }
        for (const auto& [name, t] : state.tensors) {
            std::string kind, key;
            std::size_t i = 0;
            if (!parse(name, kind, i, key) || kind != "state") {
                problems.push_back("unexpected key '" + name + "'");
            } else if (i >= flat.size()) {
                problems.push_back(fbseg::detail::str("'", name, "': the optimizer has only ", flat.size(), " parameters"));
            } else if (!t.defined() || t.shape() != flat[i]->shape()) {
                problems.push_back(fbseg::detail::str("size mismatch for '", name, "': the state has ",
                                                      t.defined() ? shape_str(t.shape()) : "an undefined tensor",
                                                      ", the parameter has shape ", shape_str(flat[i]->shape())));
            } else {
                loaded[i].tensors[key] = t;
            }
        }
        if (groups_seen.size() != groups_.size() && problems.empty())
            problems.push_back(fbseg::detail::str("the state describes ", groups_seen.size(),
                                                  " parameter group(s) but the optimizer has ", groups_.size()));
        if (!problems.empty()) {
            std::string message = name_ + ".load_state_dict: " + std::to_string(problems.size()) + " error(s):";
            for (const auto& p : problems) message += "\n  " + p;
            throw Error(message);
        }
        NoGradGuard no_grad;
        state_.clear();
        for (auto& [i, st] : loaded) {
            for (auto& [key, t] : st.tensors) t = t.detach().to(flat[i]->dtype()).to(flat[i]->device()).clone();
            state_[flat[i]->impl().get()] = std::move(st);
        }
        for (std::size_t g = 0; g < groups_.size(); ++g)
            for (const auto& [key, value] : options[g]) groups_[g].options[key] = value;
    }

protected:
    /// What an optimizer keeps per parameter: named buffers and numbers (the step count).
    struct ParamState {
        std::map<std::string, Tensor> tensors;
        std::map<std::string, double> scalars;
    };

    /// `defaults` names every hyperparameter this optimizer reads, with its default value.
    Optimizer(std::string name, std::vector<ParamGroup> groups, Options defaults)
        : name_(std::move(name)), defaults_(std::move(defaults)) {
        for (auto& g : groups) add_param_group(std::move(g));
    }

    /// The state of parameter p, created empty on first use.
    ParamState& state_of(const Tensor& p) { return state_[p.impl().get()]; }

    /// Validates a group's hyperparameters (all keys are present when this is called). Derived
    /// classes cannot be reached from the base constructor, so they validate in their own.
    virtual void check_group(const ParamGroup&) const {}

    const Options& defaults() const { return defaults_; }

private:
    std::string known_keys() const {
        std::string s;
        for (const auto& [key, v] : defaults_) s += (s.empty() ? "" : ", ") + key;
        return s;
    }

    std::string name_;
    Options defaults_;
    std::vector<ParamGroup> groups_;
    std::unordered_map<const TensorImpl*, ParamState> state_;
};

}  // namespace fbseg::optim
