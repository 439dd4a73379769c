// fbseg/ops/cpu/optim.hpp - the fused optimizer update on the CPU: one pass over a parameter and
// its state, instead of one pass, and often one temporary array, per operation of the update.
//
// optim/adam.hpp writes Adam's update as tensor operations (p * s, g - m, (g - m) * w, m + ...,
// g * g, sqrt(v), ... : about ten full-size temporaries per parameter and fourteen passes over
// memory). adam_step does the same arithmetic element by element, in the same order and in T
// with the scalars rounded to T as the tensor operations round them, so each element gets the
// value the tensor operations give it (the test compares the two paths); it reads p, g, m and v
// once and writes p, m and v once.
#pragma once

#include <cmath>
#include <cstdint>

#include "fbseg/core/parallel.hpp"
#include "fbseg/ops/cpu/loops.hpp"

namespace fbseg::cpu {

/// The scalars of one Adam or AdamW step of one parameter (formulas in optim/adam.hpp).
struct AdamStepScalars {
    double lr = 0, beta1 = 0, beta2 = 0, eps = 0, weight_decay = 0;
    double bias_correction1 = 1;       // 1 - beta1^t
    double bias_correction2_sqrt = 1;  // sqrt(1 - beta2^t)
    bool decoupled = false;            // AdamW: p <- p (1 - lr wd); Adam: g <- g + wd p
    bool amsgrad = false;              // v_max <- max(v_max, v) replaces v in the denominator
};

/// One Adam step over n elements, in place: p, m (exp_avg), v (exp_avg_sq) and, with amsgrad,
/// vmax (max_exp_avg_sq; may be null otherwise) are updated; g is read. All contiguous.
template <typename T>
void adam_step(T* p, const T* g, T* m, T* v, T* vmax, std::int64_t n, const AdamStepScalars& s) {
    const bool decay = s.weight_decay != 0.0;
    const T keep = T(1.0 - s.lr * s.weight_decay), wd = T(s.weight_decay);
    // m.lerp_(g, w) with w = 1 - beta1, as torch rounds it: m + (g - m) w for w < 0.5, else
    // g - (g - m) (1 - w).
    const double w = 1.0 - s.beta1;
    const bool small_weight = w < 0.5;
    const T tw = T(w), tw_other = T(1.0 - w);
    const T b2 = T(s.beta2), one_minus_b2 = T(1.0 - s.beta2);
    const T bc2 = T(s.bias_correction2_sqrt), eps = T(s.eps), step = T(s.lr / s.bias_correction1);
    parallel_for(0, n, kGrainSize, [&](std::int64_t i0, std::int64_t i1) {
        for (std::int64_t i = i0; i < i1; ++i) {
            T gi = g[i];
            if (decay) {
                if (s.decoupled)
                    p[i] = p[i] * keep;
                else
                    gi = gi + p[i] * wd;
            }
            const T diff = gi - m[i];
            m[i] = small_weight ? m[i] + diff * tw : gi - diff * tw_other;
            v[i] = v[i] * b2;
            v[i] = v[i] + gi * gi * one_minus_b2;
            T second = v[i];
            if (s.amsgrad) {  // maximum() propagates NaN, as torch.maximum does
                const T a = vmax[i], b = v[i];
                vmax[i] = (a != a || a > b) ? a : b;
                second = vmax[i];
            }
            const T denom = std::sqrt(second) / bc2 + eps;
            p[i] = p[i] - m[i] / denom * step;
        }
    });
}

}  // namespace fbseg::cpu
