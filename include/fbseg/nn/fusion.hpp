// fbseg/nn/fusion.hpp - inference with each batch norm folded into the convolution before it,
// and the ReLU after it applied as the convolution writes its output.
//
// In eval mode a BatchNorm2d is a fixed affine map per channel c:
//     bn(z)_c = gamma_c (z_c - mean_c) / sqrt(var_c + eps) + beta_c = s_c z_c + (beta_c - s_c mean_c),
//     s_c = gamma_c / sqrt(var_c + eps),
// and z = conv(x; W, b) is linear in output channel c's weights W[c] and bias b_c, so
//     bn(conv(x; W, b)) = conv(x; W', b'),   W'[c] = s_c W[c],   b'_c = s_c (b_c - mean_c) + beta_c.
// relu(bn(conv(x))) is then one convolution whose kernel clamps its tiles as it copies them out
// (conv2d_inference), where the modules one after the other make three passes over the output.
//
// When: grad mode off (NoGradGuard), the BatchNorm2d in eval mode with running statistics, and
// inference fusion on (the default; set_inference_fusion(false) turns it off to compare).
// Otherwise conv_bn_act calls the modules one after the other, exactly as training does.
//
// The folded W' and b' are computed in double from the module's tensors, kept in the Conv2d
// (ConvFoldCache) and rebuilt when any tensor they came from changed: the key is each tensor's
// storage uid, version and address (an optimizer step, load_state_dict, copy_ or a new tensor all
// change it). Results differ from the unfused modules by rounding only (float32: ~1e-6 relative).
// Memory: one more copy of the folded convolutions' weights while a model runs inference.
//
// nn::Sequential fuses its runs [Conv2d, BatchNorm2d, ReLU], [Conv2d, BatchNorm2d] and
// [Conv2d, ReLU] this way; modules with their own forward (ResNet's BasicBlock, EfficientNet's
// blocks) call conv_bn_act themselves.
#pragma once

#include <atomic>
#include <bit>
#include <cmath>
#include <cstdint>
#include <memory>
#include <mutex>
#include <typeinfo>
#include <utility>
#include <vector>

#include "fbseg/autograd/grad_mode.hpp"
#include "fbseg/nn/activation.hpp"
#include "fbseg/nn/conv.hpp"
#include "fbseg/nn/norm.hpp"
#include "fbseg/ops/conv.hpp"

namespace fbseg::nn {

namespace fusion_detail {
inline std::atomic<bool>& enabled_flag() {
    static std::atomic<bool> flag{true};  // one per program (an inline function's static)
    return flag;
}
}  // namespace fusion_detail

/// Turns inference fusion on (the default) or off for the whole program.
inline void set_inference_fusion(bool on) { fusion_detail::enabled_flag().store(on); }
inline bool inference_fusion_enabled() { return fusion_detail::enabled_flag().load(); }

/// Whether conv_bn_act folds `bn` into `conv` now (see the header comment for the conditions).
inline bool can_fold(const Conv2d& conv, const BatchNorm2d& bn) {
    return !is_grad_enabled() && inference_fusion_enabled() && !bn.is_training() && bn.running_mean.defined() &&
           bn.running_var.defined() && bn.options.num_features_ == conv.options.out_channels_;
}

namespace fusion_detail {

/// What the folded weights were computed from: each tensor's storage uid, version and address
/// (0s for an undefined tensor), and eps's bits.
inline std::vector<std::uint64_t> fold_key(const Conv2d& conv, const BatchNorm2d& bn) {
    std::vector<std::uint64_t> key;
    for (const Tensor* t : {&conv.weight, &conv.bias, &bn.weight, &bn.bias, &bn.running_mean, &bn.running_var}) {
        if (!t->defined()) {
            key.insert(key.end(), {0, 0, 0});
            continue;
        }
        key.push_back(t->storage()->uid());
        key.push_back(t->storage()->version());
        key.push_back(std::uint64_t(reinterpret_cast<std::uintptr_t>(t->raw_data())));
    }
    key.push_back(std::bit_cast<std::uint64_t>(bn.options.eps_));
    return key;
}

/// A tensor's values as contiguous doubles on the CPU (undefined stays undefined).
inline Tensor as_cpu_double(const Tensor& t) {
    return t.defined() ? t.detach().to(kCPU).to(DType::Float64).contiguous() : Tensor();
}

/// W' and b' of the header comment, in the weight's dtype and on its device.
inline std::pair<Tensor, Tensor> fold(const Conv2d& conv, const BatchNorm2d& bn) {
    NoGradGuard no_grad;
    const Tensor w = as_cpu_double(conv.weight), b = as_cpu_double(conv.bias);
    const Tensor gamma = as_cpu_double(bn.weight), beta = as_cpu_double(bn.bias);
    const Tensor mean = as_cpu_double(bn.running_mean), var = as_cpu_double(bn.running_var);
    const std::int64_t channels = w.size(0), per_channel = w.numel() / channels;
    const TensorOptions doubles = TensorOptions(DType::Float64);
    Tensor folded_w = empty(w.shape(), doubles), folded_b = empty({channels}, doubles);
    const double* wv = w.data_ptr<double>();
    double* fw = folded_w.data_ptr<double>();
    double* fb = folded_b.data_ptr<double>();
    for (std::int64_t c = 0; c < channels; ++c) {
        const double s = (gamma.defined() ? gamma.data_ptr<double>()[c] : 1.0) /
                         std::sqrt(var.data_ptr<double>()[c] + bn.options.eps_);
        for (std::int64_t i = 0; i < per_channel; ++i) fw[c * per_channel + i] = s * wv[c * per_channel + i];
        fb[c] = s * ((b.defined() ? b.data_ptr<double>()[c] : 0.0) - mean.data_ptr<double>()[c]) +
                (beta.defined() ? beta.data_ptr<double>()[c] : 0.0);
    }
    const DType dtype = conv.weight.dtype();
    const Device device = conv.weight.device();
    return {folded_w.to(dtype).to(device), folded_b.to(dtype).to(device)};
}

}  // namespace fusion_detail

/// `conv`'s weights and bias with `bn` folded in, from conv's cache or freshly computed (then
/// kept). Thread-safe: concurrent inference calls on one model share the cache under its mutex.
inline std::pair<Tensor, Tensor> folded_weights(Conv2d& conv, const BatchNorm2d& bn) {
    ConvFoldCache& cache = *conv.fold_cache;
    std::vector<std::uint64_t> key = fusion_detail::fold_key(conv, bn);
    {
        const std::lock_guard<std::mutex> lock(cache.mutex);
        if (cache.key == key) return {cache.weight, cache.bias};
    }
    auto folded = fusion_detail::fold(conv, bn);  // outside the lock: two threads may both fold
    const std::lock_guard<std::mutex> lock(cache.mutex);
    cache.key = std::move(key);
    cache.weight = folded.first;
    cache.bias = folded.second;
    return folded;
}

/// act(bn(conv(x))) where bn is applied as a plain BatchNorm2d (a subclass's own forward, such as
/// EfficientNet's BatchNormAct2d and its SiLU, is not called). In inference (can_fold) one
/// conv2d_inference with the folded weights; otherwise conv's and bn's forward and, for ReLU, relu.
inline Tensor conv_bn_act(Conv2d& conv, BatchNorm2d& bn, const Tensor& x, ConvActivation act) {
    if (!can_fold(conv, bn)) {
        const Tensor y = bn.BatchNorm2d::forward(conv.forward(x));
        return act == ConvActivation::ReLU ? relu(y) : y;
    }
    layer_detail::check_nchw_input([&conv] { return conv.describe(); }, x, conv.options.in_channels_);
    const auto [weight, bias] = folded_weights(conv, bn);
    return conv2d_inference(x, weight, bias, conv.params(), act);
}

/// act(conv(x)): in inference (grad mode off, fusion on) one conv2d_inference, else conv's
/// forward and, for ReLU, relu.
inline Tensor conv_act(Conv2d& conv, const Tensor& x, ConvActivation act) {
    if (is_grad_enabled() || !inference_fusion_enabled()) {
        const Tensor y = conv.forward(x);
        return act == ConvActivation::ReLU ? relu(y) : y;
    }
    layer_detail::check_nchw_input([&conv] { return conv.describe(); }, x, conv.options.in_channels_);
    return conv2d_inference(x, conv.weight, conv.bias, conv.params(), act);
}

/// Sequential's fusion: when modules[i] starts a run [Conv2d, BatchNorm2d, ReLU],
/// [Conv2d, BatchNorm2d] or [Conv2d, ReLU] (exactly these classes, so a subclass with a forward of
/// its own is left alone) that can be fused now, sets x to the run's output and returns its length;
/// otherwise returns 0 and leaves x alone.
inline std::size_t forward_fused_run(const std::vector<std::shared_ptr<UnaryModule>>& modules, std::size_t i,
                                     Tensor& x) {
    if (is_grad_enabled() || !inference_fusion_enabled()) return 0;
    // the exact class of element k (a reference first: typeid of a call's result is evaluated)
    auto is_a = [&modules](std::size_t k, const std::type_info& type) {
        if (k >= modules.size()) return false;
        const UnaryModule& m = *modules[k];
        return typeid(m) == type;
    };
    if (!is_a(i, typeid(Conv2d))) return 0;
    auto* conv = static_cast<Conv2d*>(modules[i].get());
    auto is_relu = [&](std::size_t k) { return is_a(k, typeid(ReLU)); };
    if (is_a(i + 1, typeid(BatchNorm2d))) {
        auto& bn = static_cast<BatchNorm2d&>(*modules[i + 1]);
        if (!can_fold(*conv, bn)) return 0;
        const bool relu_follows = is_relu(i + 2);
        x = conv_bn_act(*conv, bn, x, relu_follows ? ConvActivation::ReLU : ConvActivation::None);
        return relu_follows ? 3 : 2;
    }
    if (!is_relu(i + 1)) return 0;
    x = conv_act(*conv, x, ConvActivation::ReLU);
    return 2;
}

}  // namespace fbseg::nn
