// fbseg/nn/loss.hpp - segmentation losses on logits: BCE-with-logits, soft Dice, sigmoid focal
// loss, and BCE + Dice.
//
// Every loss takes raw logits x (any shape, e.g. [N, 1, H, W]) and a target t of the same shape
// and dtype (0/1 masks, or probabilities). They are written with differentiable ops, so their
// gradients come from autograd. The formulas and why they are written this way are in
// docs/training.md.
#pragma once

#include <algorithm>
#include <cmath>
#include <optional>

#include "fbseg/ops/binary.hpp"
#include "fbseg/ops/reduce.hpp"
#include "fbseg/ops/tensor_methods.hpp"
#include "fbseg/ops/unary.hpp"
#include "fbseg/ops/view.hpp"

namespace fbseg::nn {

/// How per-element (or per-image) losses are combined: kept as they are, averaged, or summed.
enum class Reduction { None, Mean, Sum };

namespace loss_detail {

/// softplus(x) = log(1 + e^x), evaluated as max(x, 0) + log1p(e^-|x|): e^-|x| <= 1 never
/// overflows, and log1p keeps full precision when e^-|x| is tiny. Derivative: sigmoid(x).
struct Softplus {
    static constexpr const char* name = "softplus";
    static constexpr bool needs_x = true;
    template <typename T> T forward(T x) const { return std::max(x, T(0)) + std::log1p(std::exp(-std::abs(x))); }
    template <typename T> T backward(T g, T x, T) const {
        if (x >= T(0)) return g / (T(1) + std::exp(-x));
        const T e = std::exp(x);
        return g * e / (T(1) + e);
    }
};
inline Tensor softplus(const Tensor& x) { return unary::apply(x, Softplus{}); }

inline Tensor reduce(const Tensor& loss, Reduction reduction) {
    switch (reduction) {
        case Reduction::None: return loss;
        case Reduction::Mean: return mean(loss);
        case Reduction::Sum: return sum(loss);
    }
    return loss;
}

/// True when a tensor of shape `from` broadcasts to `to` without changing `to`.
inline bool broadcasts_to(const Shape& from, const Shape& to) {
    if (from.size() > to.size()) return false;
    for (std::size_t k = 0; k < from.size(); ++k) {
        const std::int64_t d = from[from.size() - 1 - k];
        if (d != 1 && d != to[to.size() - 1 - k]) return false;
    }
    return true;
}

inline void check_pair(const Tensor& logits, const Tensor& target, const char* op) {
    FBSEG_CHECK(logits.defined() && target.defined(), op, ": logits and target must be defined");
    FBSEG_CHECK(is_floating(logits.dtype()), op, ": logits must be floating, got ", logits.describe());
    FBSEG_CHECK(logits.shape() == target.shape(), op, ": target ", target.describe(),
                " must have the shape of the logits ", logits.describe());
    FBSEG_CHECK(logits.dtype() == target.dtype(), op, ": target ", target.describe(),
                " must have the dtype of the logits ", logits.describe(), "; convert it with .to(dtype)");
}

}  // namespace loss_detail

/// Binary cross-entropy on logits (torch.nn.functional.binary_cross_entropy_with_logits):
///     l = -[pw t log s(x) + (1 - t) log(1 - s(x))],   s = sigmoid,
/// computed in the stable form
///     l = (1 - t) x + (1 + (pw - 1) t) softplus(-x),   softplus(-x) = log(1 + e^-|x|) + max(-x, 0).
/// pos_weight (optional) weighs the positive term; it broadcasts against the logits as in PyTorch,
/// so for [N, C, H, W] logits pass a [C, 1, 1] tensor (one weight per channel) or a [1].
inline Tensor binary_cross_entropy_with_logits(const Tensor& logits, const Tensor& target,
                                               const Tensor& pos_weight = Tensor(),
                                               Reduction reduction = Reduction::Mean) {
    loss_detail::check_pair(logits, target, "binary_cross_entropy_with_logits");
    const Tensor sp = loss_detail::softplus(neg(logits));  // -log sigmoid(x)
    Tensor loss;
    if (pos_weight.defined()) {
        FBSEG_CHECK(pos_weight.dtype() == logits.dtype(), "binary_cross_entropy_with_logits: pos_weight ",
                    pos_weight.describe(), " must have the dtype of the logits ", logits.describe());
        FBSEG_CHECK(loss_detail::broadcasts_to(pos_weight.shape(), logits.shape()),
                    "binary_cross_entropy_with_logits: pos_weight ", pos_weight.describe(),
                    " does not broadcast to the logits ", logits.describe(),
                    " (for one weight per channel of [N, C, H, W] logits, pass shape [C, 1, 1])");
        const Tensor log_weight = (pos_weight - 1.0) * target + 1.0;  // 1 + (pw - 1) t
        loss = (1.0 - target) * logits + log_weight * sp;
    } else {
        loss = (1.0 - target) * logits + sp;
    }
    return loss_detail::reduce(loss, reduction);
}

/// Dice over each image separately (then reduced over images), or over the whole batch at once.
enum class DiceMode { PerImage, Batch };

/// Soft Dice loss on p = sigmoid(logits):
///     dice = (2 sum(p t) + smooth) / (sum(p) + sum(t) + smooth),   loss = 1 - dice,
/// sums over all dims but the first (PerImage: one loss per image, then `reduction` over the
/// images; None returns the [N] vector) or over everything (Batch: one scalar, `reduction` has
/// nothing left to reduce). smooth > 0 makes an empty prediction on an empty mask a perfect 0.
inline Tensor dice_loss(const Tensor& logits, const Tensor& target, double smooth = 1.0,
                        DiceMode mode = DiceMode::PerImage, Reduction reduction = Reduction::Mean) {
    loss_detail::check_pair(logits, target, "dice_loss");
    FBSEG_CHECK(mode == DiceMode::Batch || logits.dim() >= 2,
                "dice_loss: per-image Dice needs a batch dim and at least one more, got ", logits.describe());
    const Tensor p = sigmoid(logits);
    Shape dims;  // Batch: empty = all dims
    if (mode == DiceMode::PerImage)
        for (std::int64_t d = 1; d < logits.dim(); ++d) dims.push_back(d);
    const Tensor inter = sum(mul(p, target), dims);
    const Tensor card = add(sum(p, dims), sum(target, dims));
    const Tensor loss = 1.0 - (inter * 2.0 + smooth) / (card + smooth);
    return mode == DiceMode::Batch ? loss : loss_detail::reduce(loss, reduction);
}

/// Sigmoid focal loss (Lin et al. 2017), as torchvision.ops.sigmoid_focal_loss:
///     p_t = p t + (1 - p)(1 - t),   l = bce_with_logits(x, t) (1 - p_t)^gamma,
///     and with alpha: l *= alpha t + (1 - alpha)(1 - t).
/// alpha = nullopt (or a negative value, as in torchvision) disables the weighting. Unlike
/// torchvision, whose default reduction is none, the default here is Mean like the other losses.
inline Tensor sigmoid_focal_loss(const Tensor& logits, const Tensor& target, std::optional<double> alpha = 0.25,
                                 double gamma = 2.0, Reduction reduction = Reduction::Mean) {
    loss_detail::check_pair(logits, target, "sigmoid_focal_loss");
    FBSEG_CHECK(gamma >= 0, "sigmoid_focal_loss: gamma must be >= 0 but got ", gamma);
    const Tensor p = sigmoid(logits);
    const Tensor ce = binary_cross_entropy_with_logits(logits, target, Tensor(), Reduction::None);
    const Tensor p_t = p * target + (1.0 - p) * (1.0 - target);
    Tensor loss = ce * pow(1.0 - p_t, gamma);
    if (alpha && *alpha >= 0) loss = (target * *alpha + (1.0 - target) * (1.0 - *alpha)) * loss;
    return loss_detail::reduce(loss, reduction);
}

struct BceDiceOptions {
    double bce_weight = 1.0;
    double dice_weight = 1.0;
    double smooth = 1.0;                      // Dice smoothing
    DiceMode dice_mode = DiceMode::PerImage;  // Dice averaged over images
    Tensor pos_weight = {};                   // optional, for the BCE term
};

/// bce_weight * mean BCE-with-logits + dice_weight * mean soft Dice loss (a scalar).
inline Tensor bce_dice_loss(const Tensor& logits, const Tensor& target, const BceDiceOptions& options = {}) {
    const Tensor bce = binary_cross_entropy_with_logits(logits, target, options.pos_weight, Reduction::Mean);
    const Tensor dice = dice_loss(logits, target, options.smooth, options.dice_mode, Reduction::Mean);
    return bce * options.bce_weight + dice * options.dice_weight;
}

}  // namespace fbseg::nn
