// fbseg/autograd/gradcheck.hpp - checks an op's backward against finite differences.
//
// For a function f of some float64 inputs, pick random weights r of f's output shape and let
// L(x) = sum(r * f(x)), a scalar. Autograd gives dL/dx in one backward pass. Central differences
// give each component independently:
//     dL/dx_j ~ (L(x + eps e_j) - L(x - eps e_j)) / (2 eps),
// with error O(eps^2). The two must agree within |a - n| <= atol + rtol |n| for every j.
// A random projection checks all of the Jacobian's rows at once (a wrong row would have to be
// exactly orthogonal to r to escape). Optionally it also checks that a second backward *adds*
// into the gradients (leaf accumulation) rather than overwriting them.
#pragma once

#include <cmath>
#include <functional>
#include <sstream>

#include "fbseg/ops/binary.hpp"
#include "fbseg/ops/factory.hpp"
#include "fbseg/ops/reduce.hpp"

namespace fbseg {

struct GradcheckOptions {
    double eps = 1e-6;
    double atol = 1e-6;
    double rtol = 1e-4;
    bool check_accumulation = true;
    std::uint64_t seed = 1234;
};

struct GradcheckResult {
    bool ok = true;
    std::string message;  // the first mismatch, or "" when ok
    double max_abs_error = 0;
};

/// f maps the inputs to one tensor. Inputs that require grad must be contiguous float64 leaves.
inline GradcheckResult gradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& f,
                                 const std::vector<Tensor>& inputs, const GradcheckOptions& opt = {}) {
    GradcheckResult result;
    for (std::size_t i = 0; i < inputs.size(); ++i) {
        const Tensor& x = inputs[i];
        if (!x.requires_grad()) continue;
        FBSEG_CHECK(x.dtype() == DType::Float64 && x.is_leaf() && x.is_contiguous() && x.device().is_cpu(),
                    "gradcheck: input ", i, " must be a contiguous float64 CPU leaf, got ", x.describe());
    }
    Generator gen(opt.seed);
    Tensor weights;
    auto loss = [&](bool build_graph) {
        Tensor y = f(inputs);
        FBSEG_CHECK(y.dtype() == DType::Float64, "gradcheck: f must return float64, got ", y.describe());
        if (!weights.defined()) weights = randn(y.shape(), TensorOptions(DType::Float64), gen);
        if (!build_graph) {
            NoGradGuard no_grad;
            return sum(mul(y.detach(), weights));
        }
        return sum(mul(y, weights));
    };

    for (const Tensor& x : inputs)
        if (x.requires_grad()) const_cast<Tensor&>(x).zero_grad();
    Tensor l = loss(true);
    FBSEG_CHECK(l.requires_grad(), "gradcheck: the output does not depend on any input that requires grad");
    l.backward();
    std::vector<Tensor> analytic;
    for (const Tensor& x : inputs)
        analytic.push_back(x.requires_grad() ? (x.grad().defined() ? x.grad().clone() : zeros_like(x)) : Tensor());

    for (std::size_t i = 0; i < inputs.size(); ++i) {
        const Tensor& x = inputs[i];
        if (!x.requires_grad()) continue;
        double* p = x.data_ptr<double>();
        const double* a = analytic[i].data_ptr<double>();
        for (std::int64_t j = 0; j < x.numel(); ++j) {
            const double saved = p[j];
            p[j] = saved + opt.eps;
            const double plus = loss(false).item<double>();
            p[j] = saved - opt.eps;
            const double minus = loss(false).item<double>();
            p[j] = saved;
            const double numeric = (plus - minus) / (2 * opt.eps);
            const double err = std::abs(a[j] - numeric);
            result.max_abs_error = std::max(result.max_abs_error, err);
            if (result.ok && err > opt.atol + opt.rtol * std::abs(numeric)) {
                std::ostringstream msg;
                msg << "gradcheck: input " << i << " element " << j << ": autograd " << a[j] << " vs finite difference "
                    << numeric << " (abs error " << err << ")";
                result.ok = false;
                result.message = msg.str();
            }
        }
    }
    if (result.ok && opt.check_accumulation) {
        loss(true).backward();  // a second backward must add the same gradient again
        for (std::size_t i = 0; i < inputs.size() && result.ok; ++i) {
            if (!inputs[i].requires_grad()) continue;
            // a structurally zero gradient (an input that is overwritten, as by copy_) stays undefined
            const Tensor twice = inputs[i].grad().defined() ? inputs[i].grad() : zeros_like(inputs[i]);
            NoGradGuard no_grad;
            // per element: |twice - 2 analytic| <= atol + rtol |2 analytic|
            const Tensor expected = mul(analytic[i], 2.0);
            const Tensor allowed = add(mul(abs(expected), opt.rtol), opt.atol);
            if (max(sub(abs(sub(twice, expected)), allowed)).item<double>() > 0) {
                result.ok = false;
                result.message = "gradcheck: input " + std::to_string(i) +
                                 ": a second backward did not add into .grad (gradient accumulation is broken)";
            }
        }
    }
    return result;
}

}  // namespace fbseg
