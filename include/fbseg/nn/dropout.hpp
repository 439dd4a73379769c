// fbseg/nn/dropout.hpp - Dropout and Dropout2d modules.
//
// In training mode Dropout zeroes each element with probability p and scales the survivors by
// 1 / (1 - p), so the expected value is unchanged; Dropout2d zeroes whole channels (feature maps)
// of an NCHW input. In eval mode both return the input. Random numbers come from the default
// generator (fbseg::manual_seed makes a run reproducible).
#pragma once

#include <string>

#include "fbseg/core/key_function.hpp"
#include "fbseg/nn/module.hpp"
#include "fbseg/ops/dropout.hpp"

namespace fbseg::nn {

class Dropout : public UnaryModule {
public:
    FBSEG_KEY_FUNCTION(Dropout)
    explicit Dropout(double p = 0.5) : UnaryModule("Dropout"), p(p) {
        FBSEG_CHECK(p >= 0 && p <= 1, "Dropout: p must be in [0, 1] but got ", p);
    }
    Tensor forward(const Tensor& input) override { return dropout(input, p, is_training()); }
    double p;
};

class Dropout2d : public UnaryModule {
public:
    FBSEG_KEY_FUNCTION(Dropout2d)
    explicit Dropout2d(double p = 0.5) : UnaryModule("Dropout2d"), p(p) {
        FBSEG_CHECK(p >= 0 && p <= 1, "Dropout2d: p must be in [0, 1] but got ", p);
    }
    Tensor forward(const Tensor& input) override {
        FBSEG_CHECK(input.defined() && input.dim() == 4, "Dropout2d(p=", p,
                    "): expected a 4-D input [N, C, H, W] but got ",
                    input.defined() ? shape_str(input.shape()) : std::string("an undefined tensor"));
        return dropout2d(input, p, is_training());
    }
    double p;
};

}  // namespace fbseg::nn
