// fbseg/nn/init.hpp - parameter initialisation, as torch.nn.init.
//
// Every function fills its tensor in place under NoGradGuard (so it works on parameters that
// require grad) from a Generator, and returns the tensor. The formulas are PyTorch's; the random
// numbers are fbseg's own (Philox), so the values differ from torch's but the distributions match.
//
// Fans (torch.nn.init._calculate_fan_in_and_fan_out), for a weight of shape [d0, d1, k...]:
//     receptive field r = prod(k...) (1 for a matrix),  fan_in = d1 * r,  fan_out = d0 * r.
// For a Conv2d weight [out, in/groups, kh, kw] that is fan_in = in/groups * kh * kw; for a
// ConvTranspose2d weight [in, out/groups, kh, kw] PyTorch applies the same function, so its
// "fan_in" is out/groups * kh * kw. We do the same.
#pragma once

#include <cmath>
#include <utility>

#include "fbseg/core/generator.hpp"
#include "fbseg/ops/binary.hpp"
#include "fbseg/ops/factory.hpp"
#include "fbseg/ops/tensor_methods.hpp"

namespace fbseg::nn::init {

enum class FanMode { FanIn, FanOut };
enum class Nonlinearity { Linear, Conv, Sigmoid, Tanh, Relu, LeakyRelu, Selu };

struct Fans {
    std::int64_t fan_in = 0;
    std::int64_t fan_out = 0;
};

/// fan_in and fan_out of a weight of rank >= 2 (see the header comment).
inline Fans calculate_fan_in_and_fan_out(const Tensor& t) {
    FBSEG_CHECK(t.dim() >= 2, "init: fan in and fan out can not be computed for a tensor with fewer than 2 dims (",
                t.describe(), ")");
    std::int64_t receptive = 1;
    for (std::int64_t d = 2; d < t.dim(); ++d) receptive *= t.size(d);
    return {t.size(1) * receptive, t.size(0) * receptive};
}

/// The recommended gain for a nonlinearity (torch.nn.init.calculate_gain): 1 for linear, conv
/// and sigmoid, 5/3 for tanh, sqrt(2) for relu, sqrt(2 / (1 + slope^2)) for leaky_relu
/// (`param` is the negative slope, 0.01 when NaN), 3/4 for selu.
inline double calculate_gain(Nonlinearity nonlinearity, double param = std::nan("")) {
    switch (nonlinearity) {
        case Nonlinearity::Linear:
        case Nonlinearity::Conv:
        case Nonlinearity::Sigmoid: return 1.0;
        case Nonlinearity::Tanh: return 5.0 / 3.0;
        case Nonlinearity::Relu: return std::sqrt(2.0);
        case Nonlinearity::LeakyRelu: {
            const double slope = std::isnan(param) ? 0.01 : param;
            return std::sqrt(2.0 / (1.0 + slope * slope));
        }
        case Nonlinearity::Selu: return 0.75;
    }
    return 1.0;
}

namespace detail {
inline void check_floating(const Tensor& t, const char* op) {
    FBSEG_CHECK(t.defined(), op, ": the tensor is undefined");
    FBSEG_CHECK(is_floating(t.dtype()), op, ": expected a floating tensor but got ", t.describe());
}
inline std::int64_t fan(const Tensor& t, FanMode mode) {
    const Fans f = calculate_fan_in_and_fan_out(t);
    return mode == FanMode::FanIn ? f.fan_in : f.fan_out;
}
}  // namespace detail

/// U(low, high).
inline Tensor& uniform_(Tensor& t, double low = 0.0, double high = 1.0, Generator& gen = default_generator()) {
    detail::check_floating(t, "uniform_");
    FBSEG_CHECK(low <= high, "uniform_: low ", low, " is greater than high ", high);
    NoGradGuard no_grad;
    const Tensor u = rand(t.shape(), TensorOptions(t.dtype()), gen);
    t.copy_(add(mul(u, high - low), low));
    return t;
}

/// N(mean, std^2).
inline Tensor& normal_(Tensor& t, double mean = 0.0, double stddev = 1.0, Generator& gen = default_generator()) {
    detail::check_floating(t, "normal_");
    FBSEG_CHECK(stddev >= 0, "normal_: stddev must be >= 0 but got ", stddev);
    NoGradGuard no_grad;
    const Tensor z = randn(t.shape(), TensorOptions(t.dtype()), gen);
    t.copy_(add(mul(z, stddev), mean));
    return t;
}

inline Tensor& constant_(Tensor& t, double value) {
    FBSEG_CHECK(t.defined(), "constant_: the tensor is undefined");
    NoGradGuard no_grad;
    t.fill_(value);
    return t;
}
inline Tensor& zeros_(Tensor& t) { return constant_(t, 0.0); }
inline Tensor& ones_(Tensor& t) { return constant_(t, 1.0); }

/// He et al. 2015: std = gain / sqrt(fan), U(-sqrt(3) std, sqrt(3) std). `a` is the negative
/// slope of leaky_relu (used only when nonlinearity is LeakyRelu, PyTorch's default).
inline Tensor& kaiming_uniform_(Tensor& t, double a = 0.0, FanMode mode = FanMode::FanIn,
                                Nonlinearity nonlinearity = Nonlinearity::LeakyRelu,
                                Generator& gen = default_generator()) {
    detail::check_floating(t, "kaiming_uniform_");
    const std::int64_t f = detail::fan(t, mode);
    FBSEG_CHECK(f > 0, "kaiming_uniform_: the fan of ", t.describe(), " is 0");
    const double bound = std::sqrt(3.0) * calculate_gain(nonlinearity, a) / std::sqrt(double(f));
    return uniform_(t, -bound, bound, gen);
}

/// He et al. 2015: N(0, std^2) with std = gain / sqrt(fan).
inline Tensor& kaiming_normal_(Tensor& t, double a = 0.0, FanMode mode = FanMode::FanIn,
                               Nonlinearity nonlinearity = Nonlinearity::LeakyRelu,
                               Generator& gen = default_generator()) {
    detail::check_floating(t, "kaiming_normal_");
    const std::int64_t f = detail::fan(t, mode);
    FBSEG_CHECK(f > 0, "kaiming_normal_: the fan of ", t.describe(), " is 0");
    return normal_(t, 0.0, calculate_gain(nonlinearity, a) / std::sqrt(double(f)), gen);
}

/// Glorot & Bengio 2010: std = gain sqrt(2 / (fan_in + fan_out)), U(-sqrt(3) std, sqrt(3) std).
inline Tensor& xavier_uniform_(Tensor& t, double gain = 1.0, Generator& gen = default_generator()) {
    detail::check_floating(t, "xavier_uniform_");
    const Fans f = calculate_fan_in_and_fan_out(t);
    const double bound = std::sqrt(3.0) * gain * std::sqrt(2.0 / double(f.fan_in + f.fan_out));
    return uniform_(t, -bound, bound, gen);
}

/// Glorot & Bengio 2010: N(0, std^2) with std = gain sqrt(2 / (fan_in + fan_out)).
inline Tensor& xavier_normal_(Tensor& t, double gain = 1.0, Generator& gen = default_generator()) {
    detail::check_floating(t, "xavier_normal_");
    const Fans f = calculate_fan_in_and_fan_out(t);
    return normal_(t, 0.0, gain * std::sqrt(2.0 / double(f.fan_in + f.fan_out)), gen);
}

/// PyTorch's default init of Conv2d, ConvTranspose2d and Linear (_ConvNd.reset_parameters):
///     weight ~ kaiming_uniform(a = sqrt(5))  = U(-1/sqrt(fan_in), 1/sqrt(fan_in)),
///     bias   ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in))   (bound 0 if fan_in is 0),
/// with fan_in from the weight. `bias` may be undefined (a layer without bias).
inline void conv_default_init(Tensor& weight, Tensor& bias, Generator& gen = default_generator()) {
    kaiming_uniform_(weight, std::sqrt(5.0), FanMode::FanIn, Nonlinearity::LeakyRelu, gen);
    if (!bias.defined()) return;
    const std::int64_t fan_in = calculate_fan_in_and_fan_out(weight).fan_in;
    const double bound = fan_in > 0 ? 1.0 / std::sqrt(double(fan_in)) : 0.0;
    uniform_(bias, -bound, bound, gen);
}

/// The same for a layer without bias.
inline void conv_default_init(Tensor& weight, Generator& gen = default_generator()) {
    Tensor none;
    conv_default_init(weight, none, gen);
}

}  // namespace fbseg::nn::init
