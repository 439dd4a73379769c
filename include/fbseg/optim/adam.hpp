// fbseg/optim/adam.hpp - Adam and AdamW (with the AMSGrad variant), exactly as torch.optim.
//
// For each parameter p with gradient g, at its step t = 1, 2, ... (counted per parameter), with
// betas (b1, b2), eps, weight decay wd and learning rate lr (docs/training.md):
//     g <- g + wd p                          Adam: L2 regularisation through the gradient
//     p <- p (1 - lr wd)                     AdamW: decoupled weight decay, applied to p directly
//     m <- m + (1 - b1)(g - m)               first moment (torch's lerp), m starts at 0
//     v <- b2 v + (1 - b2) g^2               second moment, v starts at 0
//     v_max <- max(v_max, v)                 AMSGrad only; v_max starts at 0, and replaces v below
//     p <- p - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
#pragma once

#include <cmath>

#include "fbseg/core/key_function.hpp"
#include "fbseg/ops/kernel/optim.hpp"
#include "fbseg/optim/optimizer.hpp"

namespace fbseg::optim {

struct AdamOptions {
    double lr = 1e-3;
    double beta1 = 0.9;
    double beta2 = 0.999;
    double eps = 1e-8;
    double weight_decay = 0.0;
    bool amsgrad = false;

    Options to_options() const {
        return {{"lr", lr},   {"beta1", beta1},           {"beta2", beta2},
                {"eps", eps}, {"weight_decay", weight_decay}, {"amsgrad", amsgrad ? 1.0 : 0.0}};
    }
};

/// AdamW's defaults differ from Adam's only in weight_decay (1e-2).
struct AdamWOptions {
    double lr = 1e-3;
    double beta1 = 0.9;
    double beta2 = 0.999;
    double eps = 1e-8;
    double weight_decay = 1e-2;
    bool amsgrad = false;

    Options to_options() const {
        return AdamOptions{lr, beta1, beta2, eps, weight_decay, amsgrad}.to_options();
    }
};

class Adam : public Optimizer {
public:
    FBSEG_KEY_FUNCTION(Adam)
    Adam(std::vector<ParamGroup> groups, const AdamOptions& defaults = {})
        : Adam("Adam", std::move(groups), defaults.to_options(), false) {}
    Adam(std::vector<Tensor> params, const AdamOptions& defaults = {})
        : Adam(std::vector<ParamGroup>{ParamGroup(std::move(params))}, defaults) {}

    void step() override {
        NoGradGuard no_grad;
        for (auto& group : param_groups()) {
            const double lr = group.get("lr"), beta1 = group.get("beta1"), beta2 = group.get("beta2"),
                         eps = group.get("eps"), weight_decay = group.get("weight_decay");
            const bool amsgrad = group.get("amsgrad") != 0.0;
            for (Tensor& p : group.params) {
                Tensor g = p.grad();
                if (!g.defined()) continue;
                ParamState& st = state_of(p);
                if (st.tensors.empty()) {  // lazily, on the first step that has a gradient
                    st.scalars["step"] = 0;
                    st.tensors["exp_avg"] = zeros_like(p);
                    st.tensors["exp_avg_sq"] = zeros_like(p);
                }
                if (amsgrad && !st.tensors.count("max_exp_avg_sq")) st.tensors["max_exp_avg_sq"] = zeros_like(p);
                const double t = (st.scalars["step"] += 1);
                Tensor& m = st.tensors["exp_avg"];
                Tensor& v = st.tensors["exp_avg_sq"];
                const double bias_correction1 = 1.0 - std::pow(beta1, t);
                const double bias_correction2_sqrt = std::sqrt(1.0 - std::pow(beta2, t));
                Tensor vmax = amsgrad ? st.tensors["max_exp_avg_sq"] : Tensor();  // shares the state's storage
                if (kernel::fused_adam_supported(p, g, m, v, vmax)) {
                    // One pass over p, g and the state (ops/cpu/optim.hpp): the same arithmetic
                    // as the tensor operations below, element by element.
                    kernel::adam_step(p, g, m, v, vmax,
                                      {lr, beta1, beta2, eps, weight_decay, bias_correction1, bias_correction2_sqrt,
                                       decoupled_, amsgrad});
                    continue;
                }
                if (weight_decay != 0.0) {
                    if (decoupled_) mul_(p, 1.0 - lr * weight_decay);
                    else g = g + p * weight_decay;
                }
                // m.lerp_(g, 1 - b1), with torch's two branches (the same value, rounded alike)
                const double w = 1.0 - beta1;
                if (w < 0.5) add_(m, (g - m) * w);
                else m.copy_(g - (g - m) * (1.0 - w));
                mul_(v, beta2);
                add_(v, g * g * (1.0 - beta2));
                Tensor second = v;
                if (amsgrad) {
                    vmax.copy_(maximum(vmax, v));
                    second = vmax;
                }
                const Tensor denom = sqrt(second) / bias_correction2_sqrt + eps;
                sub_(p, (m / denom) * (lr / bias_correction1));
            }
        }
    }

protected:
    Adam(std::string name, std::vector<ParamGroup> groups, Options defaults, bool decoupled)
        : Optimizer(std::move(name), std::move(groups), std::move(defaults)), decoupled_(decoupled) {
        for (const auto& g : param_groups()) check_group(g);
    }

    void check_group(const ParamGroup& g) const override {
        FBSEG_CHECK(g.get("lr") >= 0, name(), ": invalid learning rate ", g.get("lr"));
        FBSEG_CHECK(g.get("eps") >= 0, name(), ": invalid epsilon ", g.get("eps"));
        FBSEG_CHECK(g.get("beta1") >= 0 && g.get("beta1") < 1, name(), ": invalid beta1 ", g.get("beta1"));
        FBSEG_CHECK(g.get("beta2") >= 0 && g.get("beta2") < 1, name(), ": invalid beta2 ", g.get("beta2"));
        FBSEG_CHECK(g.get("weight_decay") >= 0, name(), ": invalid weight_decay ", g.get("weight_decay"));
    }

private:
    bool decoupled_;
};

/// Adam with decoupled weight decay (Loshchilov & Hutter 2019).
class AdamW : public Adam {
public:
    FBSEG_KEY_FUNCTION(AdamW)
    AdamW(std::vector<ParamGroup> groups, const AdamWOptions& defaults = {})
        : Adam("AdamW", std::move(groups), defaults.to_options(), true) {}
    AdamW(std::vector<Tensor> params, const AdamWOptions& defaults = {})
        : AdamW(std::vector<ParamGroup>{ParamGroup(std::move(params))}, defaults) {}
};

}  // namespace fbseg::optim
