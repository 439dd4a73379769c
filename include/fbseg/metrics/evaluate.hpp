// fbseg/metrics/evaluate.hpp - one case's metrics per class (overlap and surface), and their
// aggregate over cases: per class and metric the mean of the defined values, with how many were
// NaN and why (never averaged silently: a NaN is counted, not skipped unseen).
//
//   auto m = metrics::evaluate_case(pred, ref, {1, 2}, {.spacing = {3.0, 0.8, 0.8}});
//   m.of(1).dice.value, m.of(1).hd95_mm.value, m.of(1).reasons()
//   auto s = metrics::aggregate(cases);   s.classes[0].dice.mean, .nan_count, .reasons
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "fbseg/metrics/common.hpp"
#include "fbseg/metrics/overlap.hpp"
#include "fbseg/metrics/surface.hpp"

namespace fbseg::metrics {

struct EvaluateOptions {
    std::vector<double> spacing;  // mm per axis, tensor order ({} = 1 mm; one value = isotropic)
    bool ignore_empty = true;     // MONAI DiceMetric's: an empty reference leaves the class unscored (NaN)
    double percentile = 95;       // of the Hausdorff distance
    bool surface = true;          // false: skip HD95 and ASSD (NaN, reason "not computed")
};

struct ClassMetrics {
    std::int64_t label = 0;
    OverlapCounts counts;
    Metric dice, iou, precision, recall, volume_similarity, hd95_mm, assd_mm;

    /// "dice: empty reference ..." for every metric that is NaN.
    std::vector<std::string> reasons() const {
        std::vector<std::string> out;
        for (const auto& [name, m] : named())
            if (!m->defined()) out.push_back(std::string(name) + ": " + m->reason);
        return out;
    }
    std::vector<std::pair<const char*, const Metric*>> named() const {
        return {{"dice", &dice},
                {"iou", &iou},
                {"precision", &precision},
                {"recall", &recall},
                {"volume_similarity", &volume_similarity},
                {"hd95_mm", &hd95_mm},
                {"assd_mm", &assd_mm}};
    }
};

struct CaseMetrics {
    std::vector<ClassMetrics> classes;  // in the order of the class list

    const ClassMetrics& of(std::int64_t label) const {
        for (const auto& c : classes)
            if (c.label == label) return c;
        FBSEG_FAIL("CaseMetrics::of: class ", label, " was not evaluated");
    }
};

namespace detail {

inline std::string class_list_str(const std::vector<std::int64_t>& classes) {
    std::ostringstream s;
    s << "{";
    for (std::size_t i = 0; i < classes.size(); ++i) s << (i ? ", " : "") << classes[i];
    s << "}";
    return s.str();
}

/// Every label is background 0 or one of `classes`; else an error naming the label, its first
/// position, the class list and both tensors.
inline void check_labels(const LabelImage& img, const std::set<std::int64_t>& allowed,
                         const std::vector<std::int64_t>& classes, std::string_view name, const Tensor& pred,
                         const Tensor& ref) {
    for (std::size_t i = 0; i < img.labels.size(); ++i) {
        if (allowed.count(img.labels[i])) continue;
        std::string index;
        std::int64_t rest = std::int64_t(i);
        for (std::size_t d = img.shape.size(); d-- > 0;) {
            index = std::to_string(rest % img.shape[d]) + (index.empty() ? "" : ", ") + index;
            rest /= img.shape[d];
        }
        FBSEG_FAIL("evaluate_case: the ", name, " has label ", img.labels[i], " (first at [", index,
                   "]) that is neither background 0 nor one of the classes ", class_list_str(classes), "; prediction ",
                   describe_tensor(pred), ", reference ", describe_tensor(ref));
    }
}

}  // namespace detail

/// Per class of `classes` (labels > 0, or 0 to score the background too): the confusion counts,
/// Dice, IoU, precision, recall, volume similarity, HD95 and ASSD in mm.
inline CaseMetrics evaluate_case(const Tensor& pred, const Tensor& ref, const std::vector<std::int64_t>& classes,
                                 const EvaluateOptions& o = {}) {
    detail::check_same_shape(pred, ref, "evaluate_case");
    FBSEG_CHECK(!classes.empty(), "evaluate_case: the class list is empty");
    std::set<std::int64_t> allowed{0};
    for (auto c : classes) {
        FBSEG_CHECK(c >= 0, "evaluate_case: class ", c, " is negative; classes are label values >= 0");
        FBSEG_CHECK(allowed.count(c) == 0 || c == 0, "evaluate_case: class ", c, " appears twice in ",
                    detail::class_list_str(classes));
        allowed.insert(c);
    }
    const auto p = detail::read_labels(pred, "evaluate_case", "prediction");
    const auto r = detail::read_labels(ref, "evaluate_case", "reference");
    detail::check_labels(p, allowed, classes, "prediction", pred, ref);
    detail::check_labels(r, allowed, classes, "reference", pred, ref);
    const auto spacing = detail::resolve_spacing(o.spacing, p.shape.size(), "evaluate_case");
    const OverlapOptions oo{o.ignore_empty};

    CaseMetrics out;
    for (auto c : classes) {
        ClassMetrics m;
        m.label = c;
        m.counts = detail::count_overlap(p, r, c);
        m.dice = dice(m.counts, oo);
        m.iou = iou(m.counts, oo);
        m.precision = precision(m.counts, oo);
        m.recall = recall(m.counts, oo);
        m.volume_similarity = volume_similarity(m.counts, oo);
        if (o.surface) {
            const auto d = detail::surface_distances(detail::mask_of(p, c), detail::mask_of(r, c), spacing);
            m.hd95_mm = hausdorff_distance(d, o.percentile);
            m.assd_mm = average_surface_distance(d);
        } else {
            m.hd95_mm = m.assd_mm = Metric::undefined("not computed (EvaluateOptions::surface = false)");
        }
        out.classes.push_back(std::move(m));
    }
    return out;
}

/// One metric over cases: the mean of its defined values, how many there were, how many were
/// NaN, and the NaNs' reasons with their counts.
struct MetricSummary {
    double mean = kNaN;  // NaN when no case had a value
    std::int64_t count = 0;
    std::int64_t nan_count = 0;
    std::map<std::string, std::int64_t> reasons;

    void add(const Metric& m) {
        if (m.defined()) {
            const double n = double(count + 1);
            mean = count == 0 ? m.value : mean + (m.value - mean) / n;  // running mean
            ++count;
        } else {
            ++nan_count;
            ++reasons[m.reason];
        }
    }
    /// "0.9123 (n=8; 2 NaN: empty reference ... x2)".
    std::string describe() const {
        std::ostringstream s;
        s.precision(6);
        s << mean << " (n=" << count;
        if (nan_count > 0) {
            s << "; " << nan_count << " NaN:";
            for (const auto& [why, k] : reasons) s << " " << why << " x" << k << ";";
        }
        s << ")";
        return s.str();
    }
};

struct ClassSummary {
    std::int64_t label = 0;
    MetricSummary dice, iou, precision, recall, volume_similarity, hd95_mm, assd_mm;
};

struct Summary {
    std::vector<ClassSummary> classes;
    std::int64_t cases = 0;
    /// The mean over classes of their mean Dice (nnU-Net's foreground_mean), over the classes
    /// with at least one defined Dice; NaN when none has.
    double mean_dice = kNaN;
};

/// Aggregates cases evaluated with the same class list (checked).
inline Summary aggregate(const std::vector<CaseMetrics>& cases) {
    Summary s;
    s.cases = std::int64_t(cases.size());
    if (cases.empty()) return s;
    for (const auto& c : cases[0].classes) s.classes.push_back(ClassSummary{c.label, {}, {}, {}, {}, {}, {}, {}});
    for (std::size_t k = 0; k < cases.size(); ++k) {
        const auto& cm = cases[k];
        FBSEG_CHECK(cm.classes.size() == s.classes.size(), "aggregate: case ", k, " has ", cm.classes.size(),
                    " classes but case 0 has ", s.classes.size());
        for (std::size_t i = 0; i < cm.classes.size(); ++i) {
            const auto& m = cm.classes[i];
            auto& cs = s.classes[i];
            FBSEG_CHECK(m.label == cs.label, "aggregate: case ", k, " has class ", m.label, " where case 0 has ",
                        cs.label);
            cs.dice.add(m.dice);
            cs.iou.add(m.iou);
            cs.precision.add(m.precision);
            cs.recall.add(m.recall);
            cs.volume_similarity.add(m.volume_similarity);
            cs.hd95_mm.add(m.hd95_mm);
            cs.assd_mm.add(m.assd_mm);
        }
    }
    double sum = 0;
    std::int64_t n = 0;
    for (const auto& cs : s.classes)
        if (cs.dice.count > 0) {
            sum += cs.dice.mean;
            ++n;
        }
    if (n > 0) s.mean_dice = sum / double(n);
    return s;
}

}  // namespace fbseg::metrics
