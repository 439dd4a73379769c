// fbseg/nn/loss.hpp - segmentation losses on logits: BCE-with-logits, soft Dice, sigmoid focal
// loss, BCE + Dice, multi-class cross-entropy, multi-class soft Dice (MONAI's DiceLoss with softmax
// and a one-hot target), CE + Dice; and the regression losses mse_loss and l1_loss.
//
// The binary losses take raw logits x (any shape, e.g. [N, 1, H, W]) and a target t of the same
// shape and dtype (0/1 masks, or probabilities); cross_entropy takes [N, C, ...] logits and int64
// class indices [N, ...]. They are written with differentiable ops, so their gradients come from
// autograd. The formulas and why they are written this way are in docs/training.md.
#pragma once

#include <algorithm>
#include <cmath>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "fbseg/core/key_function.hpp"
#include "fbseg/nn/module.hpp"
#include "fbseg/ops/binary.hpp"
#include "fbseg/ops/factory.hpp"
#include "fbseg/ops/index.hpp"
#include "fbseg/ops/join.hpp"
#include "fbseg/ops/reduce.hpp"
#include "fbseg/ops/softmax.hpp"
#include "fbseg/ops/tensor_methods.hpp"
#include "fbseg/ops/unary.hpp"
#include "fbseg/ops/view.hpp"

namespace fbseg::nn {

/// How per-element (or per-image) losses are combined: kept as they are, averaged, or summed.
enum class Reduction { None, Mean, Sum };

namespace loss_detail {

/// softplus(x) = log(1 + e^x) (the formula: ops/functors/unary.hpp).
inline Tensor softplus(const Tensor& x) { return unary::apply(x, unary::Softplus{}); }

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
    const double a = alpha.value_or(-1.0);  // one read of the optional (and no GCC 12 false warning)
    if (a >= 0) loss = (target * a + (1.0 - target) * (1.0 - a)) * loss;
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

// ---- multi-class segmentation ----------------------------------------------------------------

/// Cross-entropy on logits with int64 class indices (torch.nn.functional.cross_entropy with
/// class-index targets):
///   logits [N, C, d1, ...] (or [C]),  target [N, d1, ...] (or []) with values in [0, C) or
///   ignore_index,  weight [C] (optional, one weight per class).
/// Per element, with p = log_softmax(logits, 1) (stable: the max is subtracted inside) and the
/// class c = target:
///   l = -w_c p_c                                         (0 where target == ignore_index)
/// reduction Mean: sum(l) / sum(w_c) over the non-ignored elements (a weighted mean, as PyTorch;
/// NaN when every element is ignored); Sum: sum(l); None: l, shaped like target.
/// Label smoothing e mixes in the uniform distribution over the C classes:
///   l = (1 - e) (-w_c p_c) + (e / C) (-sum_k w_k p_k),
/// reduced the same way (the Mean divides both terms by the same sum(w_c)).
inline Tensor cross_entropy(const Tensor& logits, const Tensor& target, const Tensor& weight = Tensor(),
                            std::int64_t ignore_index = -100, Reduction reduction = Reduction::Mean,
                            double label_smoothing = 0.0) {
    const char* op = "cross_entropy";
    FBSEG_CHECK(logits.defined() && target.defined(), op, ": logits and target must be defined");
    FBSEG_CHECK(is_floating(logits.dtype()), op, ": logits must be floating, got ", logits.describe());
    FBSEG_CHECK(target.dtype() == DType::Int64, op, ": target must hold int64 class indices but got ",
                target.describe(), " (class-probability targets are not supported; use .to(DType::Int64) on a label map)");
    FBSEG_CHECK(logits.dim() >= 1, op, ": logits must be [N, C, ...] or [C] but got ", logits.describe());
    FBSEG_CHECK(label_smoothing >= 0.0 && label_smoothing <= 1.0, op, ": label_smoothing must be in [0, 1] but got ",
                label_smoothing);
    detail::check_same_device_dtype(op, {&logits, &logits});  // defined
    FBSEG_CHECK(target.device() == logits.device() && (!weight.defined() || weight.device() == logits.device()), op,
                ": logits ", logits.describe(), ", target ", target.describe(), " and weight must be on one device");
    const bool unbatched = logits.dim() == 1;
    const Tensor x = unbatched ? logits.unsqueeze(0) : logits;
    const Tensor t = unbatched ? target.unsqueeze(0) : target;
    Shape expected = x.shape();
    expected.erase(expected.begin() + 1);
    FBSEG_CHECK(t.shape() == expected, op, ": target ", shape_str(target.shape()), " does not match the logits ",
                shape_str(logits.shape()), " (expected target ", shape_str(unbatched ? Shape{} : expected),
                ": the logits' shape without the class dim 1)");
    const std::int64_t classes = x.shape()[1];
    if (weight.defined())
        FBSEG_CHECK(weight.dim() == 1 && weight.shape()[0] == classes && weight.dtype() == logits.dtype(), op,
                    ": weight must be a [", classes, "] tensor of the logits' dtype, got ", weight.describe());
    {
        const Tensor tc = t.cpu().contiguous();  // the targets are checked on the host
        const std::int64_t* pt = tc.data_ptr<std::int64_t>();
        for (std::int64_t i = 0; i < tc.numel(); ++i)
            FBSEG_CHECK(pt[i] == ignore_index || (pt[i] >= 0 && pt[i] < classes), op, ": target value ", pt[i],
                        " is out of range for ", classes, " classes (logits ", shape_str(logits.shape()),
                        "; ignore_index is ", ignore_index, ")");
    }
    const Tensor ignored = eq(t, double(ignore_index));
    const Tensor safe = masked_fill(t, ignored, 0.0);  // ignored elements read class 0, weighted 0
    const Tensor logp = log_softmax(x, 1);
    const Tensor picked = gather(logp, 1, safe.unsqueeze(1)).squeeze(1);  // p_c
    Tensor w = weight.defined() ? gather(weight, 0, safe.reshape({-1})).reshape(safe.shape())
                                : ones(safe.shape(), options_of(x));
    w = masked_fill(w, ignored, 0.0);  // w_c, 0 where ignored
    const Tensor nll = neg(mul(picked, w));
    auto reduce_ce = [&](const Tensor& l) -> Tensor {
        switch (reduction) {
            case Reduction::None: return unbatched ? l.squeeze(0) : l;
            case Reduction::Sum: return sum(l);
            case Reduction::Mean: return div(sum(l), sum(w));
        }
        return l;
    };
    if (label_smoothing == 0.0) return reduce_ce(nll);
    Shape weight_shape(std::size_t(x.dim()), 1);  // [1, C, 1, ...]
    weight_shape[1] = classes;
    const Tensor weighted = weight.defined() ? mul(logp, weight.reshape(weight_shape)) : logp;
    const Tensor smooth = masked_fill(neg(sum(weighted, Shape{1}, false)), ignored, 0.0);  // -sum_k w_k p_k
    return add(mul(reduce_ce(nll), 1.0 - label_smoothing), mul(reduce_ce(smooth), label_smoothing / double(classes)));
}

// ---- multi-class soft Dice (MONAI's DiceLoss(softmax=True, to_onehot_y=True)) ----------------

struct MulticlassDiceOptions {
    double smooth_nr = 1e-5;                        // added to the numerator (MONAI's smooth_nr)
    double smooth_dr = 1e-5;                        // added to the denominator (MONAI's smooth_dr)
    bool include_background = true;                 // false: class 0's channel is left out
    std::optional<std::int64_t> ignore_index = {};  // pixels with this label take no part in any sum
    DiceMode mode = DiceMode::PerImage;             // PerImage: one Dice per (image, class); Batch: per class
    Reduction reduction = Reduction::Mean;          // over the [N, K'] (or [K']) losses
};

namespace loss_detail {

/// The one-hot target [N, K, ...] (in `dtype`) and the mask of counted pixels [N, 1, ...] of an
/// int64 label map [N, ...]: onehot[n, k, x] = (target[n, x] == k), mask[n, 0, x] = (target[n, x]
/// != ignore_index). Ignored pixels get an all-zero one-hot row (MONAI reads them as class 0 and
/// then multiplies by the mask: the same zeros). Not differentiable (the target never is).
inline std::pair<Tensor, Tensor> one_hot_and_mask(const Tensor& target, std::int64_t classes,
                                                  std::optional<std::int64_t> ignore_index, DType dtype,
                                                  const Shape& logits_shape, const char* op) {
    const Tensor t = target.contiguous();
    const std::int64_t n = t.shape()[0];
    const std::int64_t spatial = n == 0 ? 0 : t.numel() / n;
    Shape onehot_shape = logits_shape, mask_shape = logits_shape;
    mask_shape[1] = 1;
    std::vector<double> onehot(std::size_t(checked_mul(t.numel(), classes, "one-hot target")), 0.0);
    std::vector<double> mask(std::size_t(t.numel()), 1.0);
    const std::int64_t* pt = t.data_ptr<std::int64_t>();
    const bool has_ignore = ignore_index.has_value();
    const std::int64_t ignore = ignore_index.value_or(0);
    for (std::int64_t b = 0; b < n; ++b)
        for (std::int64_t x = 0; x < spatial; ++x) {
            const std::int64_t v = pt[b * spatial + x];
            if (has_ignore && v == ignore) {
                mask[std::size_t(b * spatial + x)] = 0.0;
                continue;
            }
            FBSEG_CHECK(v >= 0 && v < classes, op, ": target value ", v, " is out of range for ", classes,
                        " classes (logits ", shape_str(logits_shape), has_ignore ? "; ignore_index is " : "",
                        has_ignore ? std::to_string(ignore) : std::string(), ")");
            onehot[std::size_t((b * classes + v) * spatial + x)] = 1.0;
        }
    return {from_vector(onehot, onehot_shape, TensorOptions(dtype)),
            from_vector(mask, mask_shape, TensorOptions(dtype))};
}

}  // namespace loss_detail

/// Multi-class soft Dice loss on softmax probabilities and a one-hot target, as MONAI 1.6's
/// DiceLoss(softmax=True, to_onehot_y=True, include_background, smooth_nr, smooth_dr, batch,
/// ignore_index) with its default squared_pred=False, jaccard=False:
///   logits [N, K, d1, ...] (K >= 2), target int64 [N, d1, ...] with values in [0, K) or ignore_index.
///   p = softmax(logits, 1),  t = one_hot(target, K),  m = (target != ignore_index)  (1 without one)
///   per image n (PerImage) or over the batch (Batch), for each class k kept:
///     dice_k = (2 sum(m p_k t_k) + smooth_nr) / (sum(m p_k) + sum(m t_k) + smooth_dr)
///     loss_k = 1 - dice_k
///   include_background = false drops class 0's channel (K' = K - 1 classes left).
///   reduction Mean: the mean over the [N, K'] (Batch: [K']) losses; Sum: their sum; None: them.
/// Ignored pixels are excluded from all three sums of every class. An ignore_index inside [0, K)
/// keeps its channel, as MONAI does: no counted pixel has that label, so sum(m t_k) = 0 and its
/// Dice is smooth_nr / (sum(m p_k) + smooth_dr) (the loss pushes p_k towards 0 on the counted
/// pixels), and it still counts in the Mean.
inline Tensor multiclass_dice_loss(const Tensor& logits, const Tensor& target,
                                   const MulticlassDiceOptions& options = {}) {
    const char* op = "multiclass_dice_loss";
    FBSEG_CHECK(logits.defined() && target.defined(), op, ": logits and target must be defined");
    FBSEG_CHECK(is_floating(logits.dtype()), op, ": logits must be floating, got ", logits.describe());
    FBSEG_CHECK(target.dtype() == DType::Int64, op, ": target must hold int64 class indices but got ",
                target.describe());
    FBSEG_CHECK(logits.dim() >= 2 && logits.shape()[1] >= 2, op,
                ": logits must be [N, K, ...] with K >= 2 classes but got ", logits.describe(),
                " (for one foreground channel use dice_loss)");
    FBSEG_CHECK(options.smooth_nr >= 0 && options.smooth_dr >= 0, op, ": smooth_nr and smooth_dr must be >= 0 but got ",
                options.smooth_nr, " and ", options.smooth_dr);
    FBSEG_CHECK(target.device() == logits.device(), op, ": logits ", logits.describe(), " and target ",
                target.describe(), " must be on one device");
    Shape expected = logits.shape();
    expected.erase(expected.begin() + 1);
    FBSEG_CHECK(target.shape() == expected, op, ": target ", shape_str(target.shape()), " does not match the logits ",
                shape_str(logits.shape()), " (expected target ", shape_str(expected),
                ": the logits' shape without the class dim 1)");
    const std::int64_t classes = logits.shape()[1];
    auto [onehot, mask] = loss_detail::one_hot_and_mask(target.cpu(), classes, options.ignore_index, logits.dtype(),
                                                        logits.shape(), op);  // built on the host
    onehot = onehot.to(logits.device());
    mask = mask.to(logits.device());
    Tensor p = softmax(logits, 1);
    if (options.ignore_index) p = mul(p, mask);  // m p; the one-hot is already 0 where ignored
    if (!options.include_background) {
        p = p.slice(1, 1, classes);
        onehot = onehot.slice(1, 1, classes);
    }
    Shape dims;  // the spatial dims, and the batch dim in Batch mode
    if (options.mode == DiceMode::Batch) dims.push_back(0);
    for (std::int64_t d = 2; d < logits.dim(); ++d) dims.push_back(d);
    const Tensor inter = sum(mul(p, onehot), dims);
    const Tensor card = add(sum(p, dims), sum(onehot, dims));
    const Tensor loss = 1.0 - (inter * 2.0 + options.smooth_nr) / (card + options.smooth_dr);
    return loss_detail::reduce(loss, options.reduction);
}

struct CeDiceOptions {
    double ce_weight = 1.0;           // lambda_ce
    double dice_weight = 1.0;         // lambda_dice
    Tensor class_weight = {};         // [K], optional: cross-entropy's per-class weight
    MulticlassDiceOptions dice = {};  // the Dice term (its reduction is forced to Mean)
};

/// ce_weight * cross_entropy (mean over the counted pixels, class weights) + dice_weight * mean
/// multi-class Dice loss (a scalar), as MONAI's DiceCELoss(softmax=True, to_onehot_y=True) and
/// nnU-Net's CE + Dice. dice.ignore_index applies to both terms (cross_entropy's ignore_index).
inline Tensor ce_dice_loss(const Tensor& logits, const Tensor& target, const CeDiceOptions& options = {}) {
    MulticlassDiceOptions dice_options = options.dice;
    dice_options.reduction = Reduction::Mean;
    const Tensor ce =
        cross_entropy(logits, target, options.class_weight, options.dice.ignore_index.value_or(-100), Reduction::Mean);
    const Tensor dice = multiclass_dice_loss(logits, target, dice_options);
    return ce * options.ce_weight + dice * options.dice_weight;
}

namespace loss_detail {
inline void check_same(const Tensor& input, const Tensor& target, const char* op) {
    FBSEG_CHECK(input.defined() && target.defined(), op, ": input and target must be defined");
    FBSEG_CHECK(is_floating(input.dtype()), op, ": input must be floating, got ", input.describe());
    FBSEG_CHECK(input.shape() == target.shape() && input.dtype() == target.dtype(), op, ": target ", target.describe(),
                " must have the shape and dtype of the input ", input.describe());
}
}  // namespace loss_detail

/// Mean squared error (torch.nn.functional.mse_loss): l = (x - t)^2, then `reduction`.
inline Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::Mean) {
    loss_detail::check_same(input, target, "mse_loss");
    return loss_detail::reduce(square(sub(input, target)), reduction);
}

/// Mean absolute error (torch.nn.functional.l1_loss): l = |x - t|, then `reduction`. The gradient
/// at x == t is 0 (as PyTorch's sign(0)).
inline Tensor l1_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::Mean) {
    loss_detail::check_same(input, target, "l1_loss");
    return loss_detail::reduce(abs(sub(input, target)), reduction);
}

// ---- module forms: loss(input, target), as torch.nn.CrossEntropyLoss / MSELoss / L1Loss ----------

struct CrossEntropyLossOptions {
    Tensor weight_ = {};  // [C], optional
    std::int64_t ignore_index_ = -100;
    Reduction reduction_ = Reduction::Mean;
    double label_smoothing_ = 0.0;
    CrossEntropyLossOptions& weight(const Tensor& w) { weight_ = w; return *this; }
    CrossEntropyLossOptions& ignore_index(std::int64_t i) { ignore_index_ = i; return *this; }
    CrossEntropyLossOptions& reduction(Reduction r) { reduction_ = r; return *this; }
    CrossEntropyLossOptions& label_smoothing(double e) { label_smoothing_ = e; return *this; }
};

/// cross_entropy as a module; the class weight is a buffer ("weight"), as in PyTorch.
///   nn::CrossEntropyLoss loss(nn::CrossEntropyLossOptions().ignore_index(255));
///   Tensor l = loss(logits, labels);
class CrossEntropyLoss : public Module {
public:
    FBSEG_KEY_FUNCTION(CrossEntropyLoss)
    explicit CrossEntropyLoss(const CrossEntropyLossOptions& options = {}) : Module("CrossEntropyLoss"), options(options) {
        if (options.weight_.defined()) this->options.weight_ = register_buffer("weight", options.weight_);
    }
    Tensor forward(const Tensor& input, const Tensor& target) {
        return cross_entropy(input, target, options.weight_, options.ignore_index_, options.reduction_,
                             options.label_smoothing_);
    }
    Tensor operator()(const Tensor& input, const Tensor& target) { return forward(input, target); }
    CrossEntropyLossOptions options;
};

/// ce_dice_loss as a module: loss(logits, target).
///   nn::CeDiceLoss loss({.dice = {.include_background = false}});
class CeDiceLoss : public Module {
public:
    FBSEG_KEY_FUNCTION(CeDiceLoss)
    explicit CeDiceLoss(const CeDiceOptions& options = {}) : Module("CeDiceLoss"), options(options) {
        if (options.class_weight.defined())
            this->options.class_weight = register_buffer("weight", options.class_weight);
    }
    Tensor forward(const Tensor& input, const Tensor& target) { return ce_dice_loss(input, target, options); }
    Tensor operator()(const Tensor& input, const Tensor& target) { return forward(input, target); }
    CeDiceOptions options;
};

class MSELoss : public Module {
public:
    FBSEG_KEY_FUNCTION(MSELoss)
    explicit MSELoss(Reduction reduction = Reduction::Mean) : Module("MSELoss"), reduction(reduction) {}
    Tensor forward(const Tensor& input, const Tensor& target) { return mse_loss(input, target, reduction); }
    Tensor operator()(const Tensor& input, const Tensor& target) { return forward(input, target); }
    Reduction reduction;
};

class L1Loss : public Module {
public:
    FBSEG_KEY_FUNCTION(L1Loss)
    explicit L1Loss(Reduction reduction = Reduction::Mean) : Module("L1Loss"), reduction(reduction) {}
    Tensor forward(const Tensor& input, const Tensor& target) { return l1_loss(input, target, reduction); }
    Tensor operator()(const Tensor& input, const Tensor& target) { return forward(input, target); }
    Reduction reduction;
};

}  // namespace fbseg::nn
