// fbseg/nn/activation.hpp - parameter-free elementwise modules: ReLU, LeakyReLU, SiLU, Sigmoid,
// and Identity (a placeholder that returns its input, as torch.nn.Identity; smp uses it where an
// optional layer is absent, and it keeps the indices of a Sequential where PyTorch's are).
//
//     relu(x) = max(x, 0)          leaky_relu(x) = x > 0 ? x : slope x
//     silu(x) = x sigmoid(x)       sigmoid(x) = 1 / (1 + e^-x)
#pragma once

#include <string>

#include "fbseg/core/key_function.hpp"
#include "fbseg/nn/module.hpp"
#include "fbseg/ops/unary.hpp"

namespace fbseg::nn {

class Identity : public UnaryModule {
public:
    FBSEG_KEY_FUNCTION(Identity)
    Identity() : UnaryModule("Identity") {}
    Tensor forward(const Tensor& input) override { return input; }
};

/// Rectified linear unit. `inplace` overwrites the input (saves memory; the input must not be
/// needed by autograd elsewhere, as in PyTorch).
class ReLU : public UnaryModule {
public:
    FBSEG_KEY_FUNCTION(ReLU)
    explicit ReLU(bool inplace = false) : UnaryModule("ReLU"), inplace(inplace) {}
    Tensor forward(const Tensor& input) override {
        if (!inplace) return relu(input);
        Tensor x = input;
        return relu_(x);
    }
    bool inplace;
};

class LeakyReLU : public UnaryModule {
public:
    FBSEG_KEY_FUNCTION(LeakyReLU)
    explicit LeakyReLU(double negative_slope = 0.01) : UnaryModule("LeakyReLU"), negative_slope(negative_slope) {
        FBSEG_CHECK(negative_slope >= 0, "LeakyReLU: negative_slope must be >= 0 but got ", negative_slope);
    }
    Tensor forward(const Tensor& input) override { return leaky_relu(input, negative_slope); }
    double negative_slope;
};

/// Sigmoid-weighted linear unit, also called Swish (EfficientNet's activation).
class SiLU : public UnaryModule {
public:
    FBSEG_KEY_FUNCTION(SiLU)
    SiLU() : UnaryModule("SiLU") {}
    Tensor forward(const Tensor& input) override { return silu(input); }
};

class Sigmoid : public UnaryModule {
public:
    FBSEG_KEY_FUNCTION(Sigmoid)
    Sigmoid() : UnaryModule("Sigmoid") {}
    Tensor forward(const Tensor& input) override { return sigmoid(input); }
};

}  // namespace fbseg::nn
