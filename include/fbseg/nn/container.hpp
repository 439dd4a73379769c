// fbseg/nn/container.hpp - nn::Sequential and nn::ModuleList.
//
// Both register their elements as submodules named "0", "1", ... in order, so a parameter of the
// third element of `decoder` is "decoder.2.weight", as in PyTorch.
#pragma once

#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "fbseg/core/key_function.hpp"
#include "fbseg/nn/fusion.hpp"
#include "fbseg/nn/module.hpp"

namespace fbseg::nn {

/// Calls its elements one after the other: forward(x) = m_{n-1}(... m_1(m_0(x))).
class Sequential : public UnaryModule {
public:
    FBSEG_KEY_FUNCTION(Sequential)
    Sequential() : UnaryModule("Sequential") {}
    Sequential(std::initializer_list<std::shared_ptr<UnaryModule>> modules) : Sequential() {
        for (const auto& m : modules) push_back(m);
    }

    /// Appends a module (registered as the next index) and returns it with its own type.
    template <typename M>
    std::shared_ptr<M> push_back(std::shared_ptr<M> module) {
        static_assert(std::is_base_of_v<UnaryModule, M>, "Sequential: elements must derive from nn::UnaryModule");
        register_module(std::to_string(modules_.size()), module);
        modules_.push_back(module);
        return module;
    }

    /// In inference (grad mode off), runs [Conv2d, BatchNorm2d, ReLU], [Conv2d, BatchNorm2d] and
    /// [Conv2d, ReLU] as one convolution each (nn/fusion.hpp): the same result up to rounding.
    Tensor forward(const Tensor& input) override {
        Tensor x = input;
        for (std::size_t i = 0; i < modules_.size(); ++i) {
            if (const std::size_t fused = forward_fused_run(modules_, i, x); fused > 0) {
                i += fused - 1;
                continue;
            }
            x = modules_[i]->forward(x);
        }
        return x;
    }

    std::size_t size() const { return modules_.size(); }
    bool empty() const { return modules_.empty(); }
    const std::shared_ptr<UnaryModule>& operator[](std::size_t i) const { return checked(i); }
    /// The element at i as its own type (throws if it is not an M).
    template <typename M>
    std::shared_ptr<M> at(std::size_t i) const {
        auto typed = std::dynamic_pointer_cast<M>(checked(i));
        FBSEG_CHECK(typed != nullptr, "Sequential::at(", i, "): element is a ", checked(i)->name(),
                    ", not the type asked for");
        return typed;
    }
    auto begin() const { return modules_.begin(); }
    auto end() const { return modules_.end(); }

private:
    const std::shared_ptr<UnaryModule>& checked(std::size_t i) const {
        FBSEG_CHECK(i < modules_.size(), "Sequential: index ", i, " is out of range for ", modules_.size(),
                    " modules");
        return modules_[i];
    }
    std::vector<std::shared_ptr<UnaryModule>> modules_;
};

/// An indexed list of submodules with no forward of its own (the caller decides how to use
/// them, e.g. one decoder block per skip connection).
class ModuleList : public Module {
public:
    FBSEG_KEY_FUNCTION(ModuleList)
    ModuleList() : Module("ModuleList") {}
    ModuleList(std::initializer_list<std::shared_ptr<Module>> modules) : ModuleList() {
        for (const auto& m : modules) push_back(m);
    }

    template <typename M>
    std::shared_ptr<M> push_back(std::shared_ptr<M> module) {
        register_module(std::to_string(modules_.size()), module);
        modules_.push_back(module);
        return module;
    }

    std::size_t size() const { return modules_.size(); }
    bool empty() const { return modules_.empty(); }
    const std::shared_ptr<Module>& operator[](std::size_t i) const { return checked(i); }
    template <typename M>
    std::shared_ptr<M> at(std::size_t i) const {
        auto typed = std::dynamic_pointer_cast<M>(checked(i));
        FBSEG_CHECK(typed != nullptr, "ModuleList::at(", i, "): element is a ", checked(i)->name(),
                    ", not the type asked for");
        return typed;
    }
    auto begin() const { return modules_.begin(); }
    auto end() const { return modules_.end(); }

private:
    const std::shared_ptr<Module>& checked(std::size_t i) const {
        FBSEG_CHECK(i < modules_.size(), "ModuleList: index ", i, " is out of range for ", modules_.size(),
                    " modules");
        return modules_[i];
    }
    std::vector<std::shared_ptr<Module>> modules_;
};

}  // namespace fbseg::nn
