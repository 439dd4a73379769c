// fbseg/metrics/overlap.hpp - voxel overlap of a prediction with a reference: the confusion counts
// of one class and Dice, IoU, precision, recall and volume similarity from them.
//
//   TP = |P & R|, FP = |P & ~R|, FN = |~P & R|   (P: prediction voxels of the class, R: reference)
//   Dice      = 2TP / (2TP + FP + FN)           = 2|P&R| / (|P| + |R|)
//   IoU       = TP / (TP + FP + FN)              (Jaccard; IoU = Dice / (2 - Dice))
//   precision = TP / (TP + FP)
//   recall    = TP / (TP + FN)                   (sensitivity)
//   volume similarity VS = 1 - |FP - FN| / (2TP + FP + FN) = 1 - | |P| - |R| | / (|P| + |R|)
//
// Empty masks, as MONAI (DiceMetric's default ignore_empty=True): when the reference has no voxel
// of the class, the class is not scored in this case: every metric is NaN with the reason, whatever
// the prediction holds. With ignore_empty=false, MONAI's other rule: Dice (and IoU, VS) is 1 when
// both are empty and 0 when only the reference is. Precision is NaN when the prediction is empty and
// recall when the reference is (0/0, as MONAI's ConfusionMatrixMetric). These are the only NaNs.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>

#include "fbseg/metrics/common.hpp"

namespace fbseg::metrics {

/// The confusion counts of one class (tn for completeness: no overlap metric here uses it).
struct OverlapCounts {
    std::int64_t tp = 0, fp = 0, fn = 0, tn = 0;
    std::int64_t predicted() const { return tp + fp; }  // |P|
    std::int64_t reference() const { return tp + fn; }  // |R|
};

struct OverlapOptions {
    /// MONAI DiceMetric's ignore_empty: an empty reference makes the case's class NaN ("not scored").
    bool ignore_empty = true;
};

namespace detail {

inline OverlapCounts count_overlap(const LabelImage& pred, const LabelImage& ref, std::int64_t label) {
    OverlapCounts c;
    for (std::size_t i = 0; i < pred.labels.size(); ++i) {
        const bool p = label < 0 ? pred.labels[i] != 0 : pred.labels[i] == label;
        const bool r = label < 0 ? ref.labels[i] != 0 : ref.labels[i] == label;
        c.tp += p && r;
        c.fp += p && !r;
        c.fn += !p && r;
        c.tn += !p && !r;
    }
    return c;
}

/// The NaN every metric returns for an empty reference under ignore_empty (or nullopt: score it).
inline std::optional<Metric> empty_reference(const OverlapCounts& c, const OverlapOptions& o) {
    if (c.reference() > 0 || !o.ignore_empty) return std::nullopt;
    return Metric::undefined(c.predicted() == 0 ? "empty reference and empty prediction (not scored: ignore_empty)"
                                                : "empty reference, prediction has " + std::to_string(c.predicted()) +
                                                      " voxels (not scored: ignore_empty)");
}

}  // namespace detail

/// TP/FP/FN/TN of `label` (label < 0: binary, every nonzero voxel is foreground).
inline OverlapCounts overlap_counts(const Tensor& pred, const Tensor& ref, std::int64_t label = -1) {
    detail::check_same_shape(pred, ref, "overlap_counts");
    return detail::count_overlap(detail::read_labels(pred, "overlap_counts", "prediction"),
                                 detail::read_labels(ref, "overlap_counts", "reference"), label);
}

/// Dice = 2TP / (2TP + FP + FN).
inline Metric dice(const OverlapCounts& c, const OverlapOptions& o = {}) {
    if (auto e = detail::empty_reference(c, o)) return *e;
    const std::int64_t den = 2 * c.tp + c.fp + c.fn;
    if (den == 0) return Metric::of(1.0);  // both empty, ignore_empty=false (MONAI: 1)
    return Metric::of(double(2 * c.tp) / double(den));
}

/// IoU = TP / (TP + FP + FN).
inline Metric iou(const OverlapCounts& c, const OverlapOptions& o = {}) {
    if (auto e = detail::empty_reference(c, o)) return *e;
    const std::int64_t den = c.tp + c.fp + c.fn;
    if (den == 0) return Metric::of(1.0);
    return Metric::of(double(c.tp) / double(den));
}

/// Precision = TP / (TP + FP); NaN when the prediction is empty.
inline Metric precision(const OverlapCounts& c, const OverlapOptions& o = {}) {
    if (auto e = detail::empty_reference(c, o)) return *e;
    if (c.predicted() == 0) return Metric::undefined("empty prediction: precision TP/(TP+FP) is 0/0");
    return Metric::of(double(c.tp) / double(c.predicted()));
}

/// Recall = TP / (TP + FN); NaN when the reference is empty.
inline Metric recall(const OverlapCounts& c, const OverlapOptions& o = {}) {
    if (auto e = detail::empty_reference(c, o)) return *e;
    if (c.reference() == 0) return Metric::undefined("empty reference: recall TP/(TP+FN) is 0/0");
    return Metric::of(double(c.tp) / double(c.reference()));
}

/// Volume similarity = 1 - |FP - FN| / (2TP + FP + FN).
inline Metric volume_similarity(const OverlapCounts& c, const OverlapOptions& o = {}) {
    if (auto e = detail::empty_reference(c, o)) return *e;
    const std::int64_t den = 2 * c.tp + c.fp + c.fn;
    if (den == 0) return Metric::of(1.0);
    return Metric::of(1.0 - double(std::llabs(c.fp - c.fn)) / double(den));
}

/// Binary (label < 0) or one class's Dice of two label maps.
inline Metric dice(const Tensor& pred, const Tensor& ref, std::int64_t label = -1, const OverlapOptions& o = {}) {
    return dice(overlap_counts(pred, ref, label), o);
}
inline Metric iou(const Tensor& pred, const Tensor& ref, std::int64_t label = -1, const OverlapOptions& o = {}) {
    return iou(overlap_counts(pred, ref, label), o);
}

}  // namespace fbseg::metrics
