// fbseg/optim/sgd.hpp - stochastic gradient descent with momentum, exactly as torch.optim.SGD.
//
// For each parameter p with gradient g, with weight decay wd, momentum mu, dampening tau and
// learning rate lr (docs/training.md):
//     g <- g + wd p                               (if wd != 0; L2 regularisation)
//     b <- g                                      (first step: the buffer starts as g)
//     b <- mu b + (1 - tau) g                     (later steps)
//     g <- g + mu b   if nesterov,   g <- b   otherwise      (if mu != 0)
//     p <- p - lr g
#pragma once

#include "fbseg/core/key_function.hpp"
#include "fbseg/optim/optimizer.hpp"

namespace fbseg::optim {

struct SGDOptions {
    double lr = 1e-3;
    double momentum = 0.0;
    double dampening = 0.0;
    double weight_decay = 0.0;
    bool nesterov = false;

    Options to_options() const {
        return {{"lr", lr}, {"momentum", momentum}, {"dampening", dampening}, {"weight_decay", weight_decay},
                {"nesterov", nesterov ? 1.0 : 0.0}};
    }
};

class SGD : public Optimizer {
public:
    FBSEG_KEY_FUNCTION(SGD)
    SGD(std::vector<ParamGroup> groups, const SGDOptions& defaults = {})
        : Optimizer("SGD", std::move(groups), defaults.to_options()) {
        for (const auto& g : param_groups()) check_group(g);
    }
    SGD(std::vector<Tensor> params, const SGDOptions& defaults = {})
        : SGD(std::vector<ParamGroup>{ParamGroup(std::move(params))}, defaults) {}

    void step() override {
        NoGradGuard no_grad;
        for (auto& group : param_groups()) {
            const double lr = group.get("lr"), momentum = group.get("momentum"), dampening = group.get("dampening"),
                         weight_decay = group.get("weight_decay");
            const bool nesterov = group.get("nesterov") != 0.0;
            for (Tensor& p : group.params) {
                Tensor g = p.grad();
                if (!g.defined()) continue;
                if (weight_decay != 0.0) g = g + p * weight_decay;
                if (momentum != 0.0) {
                    auto& buffers = state_of(p).tensors;
                    auto it = buffers.find("momentum_buffer");
                    if (it == buffers.end()) {
                        it = buffers.emplace("momentum_buffer", g.clone()).first;
                    } else {
                        mul_(it->second, momentum);
                        add_(it->second, g * (1.0 - dampening));
                    }
                    g = nesterov ? g + it->second * momentum : it->second;
                }
                sub_(p, g * lr);
            }
        }
    }

protected:
    void check_group(const ParamGroup& g) const override {
        FBSEG_CHECK(g.get("lr") >= 0, "SGD: invalid learning rate ", g.get("lr"));
        FBSEG_CHECK(g.get("momentum") >= 0, "SGD: invalid momentum ", g.get("momentum"));
        FBSEG_CHECK(g.get("weight_decay") >= 0, "SGD: invalid weight_decay ", g.get("weight_decay"));
        FBSEG_CHECK(g.get("nesterov") == 0.0 || (g.get("momentum") > 0 && g.get("dampening") == 0.0),
                    "SGD: nesterov momentum requires a momentum > 0 and zero dampening");
    }
};

}  // namespace fbseg::optim
