// fbseg/data/split.hpp - training/validation splits by subject (never by sample, so that frames of
// one fetus or slices of one volume never sit on both sides): a hold-out split, k-fold cross
// validation as nnU-Net's 5-fold split by case, split.json to write and read them, and Subset, a
// Dataset view over chosen indices.
//
// The rule (docs/data.md): the dataset's distinct subjects are sorted (std::string order)
// and shuffled by Fisher-Yates with a stream keyed by the seed alone, so a split depends only on
// the set of subjects and the seed, not on the dataset's order of samples.
//   hold-out: the first n_val = round(val_fraction S) shuffled subjects (clamped to [1, S - 1])
//             are the validation side.
//   k-fold:   the shuffled subjects are cut into k consecutive folds; the first S mod k folds have
//             floor(S / k) + 1 subjects, the others floor(S / k) (scikit-learn's KFold sizes, which
//             nnU-Net uses); fold f is the validation side of split f.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>  // JSON in the declarations; <nlohmann/json.hpp> to build a value

#include "fbseg/core/error.hpp"
#include "fbseg/core/generator.hpp"
#include "fbseg/data/random.hpp"
#include "fbseg/data/sample.hpp"
#include "fbseg/data/data_library.hpp"

#if FBSEG_DATA_DEFINITIONS
#include <nlohmann/json.hpp>  // the definitions parse and write JSON
#endif

namespace fbseg::data {

/// One side of a split.
struct SplitSide {
    std::vector<std::string> subjects = {};  // sorted
    std::vector<std::size_t> indices = {};   // dataset indices, increasing
};

struct Split {
    SplitSide train = {};
    SplitSide val = {};
    std::string kind = "holdout";  // "holdout" or "k_fold"
    std::uint64_t seed = 0;
    double val_fraction = 0;  // holdout
    int k = 0;                // k_fold
    int fold = 0;             // k_fold
};

// ---- declared here, defined below or in libfbseg (fbseg/data/data_library.hpp) ----
/// A hold-out split: round(val_fraction S) of the S subjects (at least 1, at most S - 1) go to
/// validation, the rest to training. Needs 0 < val_fraction < 1 and at least 2 subjects.
FBSEG_DATA Split split_by_subject(const Dataset& dataset, double val_fraction, std::uint64_t seed);
/// Fold `fold` of k-fold cross-validation by subject: its validation side is the fold-th of k
/// consecutive groups of the shuffled subjects (sizes as scikit-learn's KFold), the other k - 1
/// groups are training. Needs 2 <= k <= S and 0 <= fold < k.
FBSEG_DATA Split k_fold(const Dataset& dataset, int k, int fold, std::uint64_t seed);

#if FBSEG_DATA_DEFINITIONS
namespace split_detail {

/// subject -> its dataset indices (increasing), for every sample of the dataset.
inline std::map<std::string, std::vector<std::size_t>> samples_by_subject(const Dataset& dataset) {
    std::map<std::string, std::vector<std::size_t>> by;
    for (std::size_t i = 0; i < dataset.size(); ++i) by[dataset.subject(i)].push_back(i);
    return by;
}

/// The sorted distinct subjects, shuffled by a stream keyed by the seed.
inline std::vector<std::string> shuffled_subjects(const std::map<std::string, std::vector<std::size_t>>& by,
                                                  std::uint64_t seed) {
    std::vector<std::string> subjects;
    for (const auto& [s, idx] : by) subjects.push_back(s);  // std::map: sorted
    constexpr std::uint64_t kSplitSalt = 0x53504C4954ull;   // "SPLIT"
    Rng rng(Generator(detail::mix64(seed ^ kSplitSalt)));
    for (std::size_t i = subjects.size(); i > 1; --i)
        std::swap(subjects[i - 1], subjects[std::size_t(rng.integer(std::int64_t(i)))]);
    return subjects;
}

/// Fills both sides from the validation subjects: every other subject is training.
inline void fill(Split& split, const std::map<std::string, std::vector<std::size_t>>& by,
                 const std::set<std::string>& val_subjects) {
    for (const auto& [subject, indices] : by) {
        SplitSide& side = val_subjects.count(subject) ? split.val : split.train;
        side.subjects.push_back(subject);
        side.indices.insert(side.indices.end(), indices.begin(), indices.end());
    }
    std::sort(split.train.indices.begin(), split.train.indices.end());
    std::sort(split.val.indices.begin(), split.val.indices.end());
}

}  // namespace split_detail

FBSEG_DATA Split split_by_subject(const Dataset& dataset, double val_fraction, std::uint64_t seed) {
    FBSEG_CHECK(val_fraction > 0.0 && val_fraction < 1.0, "split_by_subject: val_fraction must be in (0, 1) but is ",
                val_fraction);
    const auto by = split_detail::samples_by_subject(dataset);
    const std::size_t s = by.size();
    FBSEG_CHECK(s >= 2, "split_by_subject: the dataset has ", s, " subject(s) in ", dataset.size(),
                " samples; a split by subject needs at least 2");
    const auto shuffled = split_detail::shuffled_subjects(by, seed);
    auto n_val = std::size_t(std::llround(val_fraction * double(s)));
    n_val = std::clamp<std::size_t>(n_val, 1, s - 1);
    Split split;
    split.kind = "holdout";
    split.seed = seed;
    split.val_fraction = val_fraction;
    split_detail::fill(split, by, std::set<std::string>(shuffled.begin(), shuffled.begin() + std::ptrdiff_t(n_val)));
    return split;
}

FBSEG_DATA Split k_fold(const Dataset& dataset, int k, int fold, std::uint64_t seed) {
    FBSEG_CHECK(k >= 2, "k_fold: k must be >= 2 but is ", k);
    FBSEG_CHECK(fold >= 0 && fold < k, "k_fold: fold must be in [0, ", k, ") but is ", fold);
    const auto by = split_detail::samples_by_subject(dataset);
    const std::size_t s = by.size();
    FBSEG_CHECK(s >= std::size_t(k), "k_fold: ", k, " folds need at least ", k, " subjects but the dataset has ", s,
                " (in ", dataset.size(), " samples)");
    const auto shuffled = split_detail::shuffled_subjects(by, seed);
    const std::size_t base = s / std::size_t(k), extra = s % std::size_t(k);
    std::size_t begin = 0;
    for (std::size_t f = 0; f < std::size_t(fold); ++f) begin += base + (f < extra ? 1 : 0);
    const std::size_t size = base + (std::size_t(fold) < extra ? 1 : 0);
    Split split;
    split.kind = "k_fold";
    split.seed = seed;
    split.k = k;
    split.fold = fold;
    split_detail::fill(split, by,
                       std::set<std::string>(shuffled.begin() + std::ptrdiff_t(begin),
                                             shuffled.begin() + std::ptrdiff_t(begin + size)));
    return split;
}
#endif  // FBSEG_DATA_DEFINITIONS

/// A Dataset view of some samples of another (which must outlive it): sample i of the subset
/// is sample indices[i] of the base.
class Subset : public Dataset {
public:
    Subset(const Dataset& base, std::vector<std::size_t> indices) : base_(&base), indices_(std::move(indices)) {
        for (std::size_t i = 0; i < indices_.size(); ++i)
            FBSEG_CHECK(indices_[i] < base.size(), "Subset: index ", indices_[i], " (entry ", i,
                        ") is out of range for a dataset of ", base.size(), " samples");
    }
    std::size_t size() const override { return indices_.size(); }
    Sample get(std::size_t index) const override { return base_->get(base_index(index)); }
    std::string subject(std::size_t index) const override { return base_->subject(base_index(index)); }
    LabelSet label_set() const override { return base_->label_set(); }
    /// The base dataset's index of sample `index`.
    std::size_t base_index(std::size_t index) const {
        FBSEG_CHECK(index < indices_.size(), "Subset: index ", index, " is out of range for a subset of ",
                    indices_.size(), " samples");
        return indices_[index];
    }
    const std::vector<std::size_t>& indices() const { return indices_; }

private:
    const Dataset* base_;
    std::vector<std::size_t> indices_;
};

// ---- declared here, defined below or in libfbseg (fbseg/data/data_library.hpp) ----
/// The split as JSON (split.json): {"format": "fbseg-split", "version": 1, "kind", "seed",
/// "val_fraction" or "k" and "fold", "train": {"subjects": [...], "samples": [ids...]}, "val": ...}.
/// Sample ids are read from the dataset (dataset.get(i).id), so writing reads every sample once.
FBSEG_DATA nlohmann::json split_to_json(const Split& split, const Dataset& dataset);
/// Writes split.json (2-space indented).
FBSEG_DATA void write_split(const std::filesystem::path& path, const Split& split, const Dataset& dataset);
/// The split a JSON document describes, on `dataset`: each side's indices are the samples of its
/// subjects. Errors (naming `what`, the file): not a split, a subject on both sides, subjects the
/// dataset does not have (all named), subjects of the dataset on neither side (all named).
FBSEG_DATA Split split_from_json(const nlohmann::json& j, const Dataset& dataset,
                                 const std::string& what = "split.json");
/// Reads split.json (see split_from_json for the checks).
FBSEG_DATA Split read_split(const std::filesystem::path& path, const Dataset& dataset);

#if FBSEG_DATA_DEFINITIONS
FBSEG_DATA nlohmann::json split_to_json(const Split& split, const Dataset& dataset) {
    nlohmann::json j;
    j["format"] = "fbseg-split";
    j["version"] = 1;
    j["kind"] = split.kind;
    j["seed"] = split.seed;
    if (split.kind == "k_fold") {
        j["k"] = split.k;
        j["fold"] = split.fold;
    } else {
        j["val_fraction"] = split.val_fraction;
    }
    auto side = [&](const SplitSide& s) {
        nlohmann::json ids = nlohmann::json::array();
        for (std::size_t i : s.indices) ids.push_back(dataset.get(i).id);
        return nlohmann::json{{"subjects", s.subjects}, {"samples", ids}};
    };
    j["train"] = side(split.train);
    j["val"] = side(split.val);
    return j;
}

FBSEG_DATA void write_split(const std::filesystem::path& path, const Split& split, const Dataset& dataset) {
    const std::string text = split_to_json(split, dataset).dump(2) + "\n";
    std::ofstream out(path, std::ios::binary);
    FBSEG_CHECK(out.good(), "write_split: cannot open ", path.string(), " for writing");
    out << text;
    out.close();
    FBSEG_CHECK(out.good(), "write_split: writing ", path.string(), " failed");
}

FBSEG_DATA Split split_from_json(const nlohmann::json& j, const Dataset& dataset, const std::string& what) {
    auto fail_format = [&](const std::string& why) { FBSEG_FAIL("read_split: ", what, ": ", why); };
    if (!j.is_object() || !j.contains("format") || j.at("format") != "fbseg-split")
        fail_format("not an fbseg split (expected an object with \"format\": \"fbseg-split\")");
    if (!j.contains("version") || j.at("version") != 1)
        fail_format("unsupported version " + (j.contains("version") ? j.at("version").dump() : std::string("(none)")) +
                    " (expected 1)");
    Split split;
    try {
        split.kind = j.at("kind").get<std::string>();
        split.seed = j.at("seed").get<std::uint64_t>();
        if (split.kind == "k_fold") {
            split.k = j.at("k").get<int>();
            split.fold = j.at("fold").get<int>();
        } else if (split.kind == "holdout") {
            split.val_fraction = j.at("val_fraction").get<double>();
        } else {
            fail_format("unknown kind '" + split.kind + "' (expected \"holdout\" or \"k_fold\")");
        }
        split.train.subjects = j.at("train").at("subjects").get<std::vector<std::string>>();
        split.val.subjects = j.at("val").at("subjects").get<std::vector<std::string>>();
    } catch (const nlohmann::json::exception& e) {
        fail_format(std::string("malformed: ") + e.what());
    }
    const auto by = split_detail::samples_by_subject(dataset);
    std::set<std::string> val_set(split.val.subjects.begin(), split.val.subjects.end());
    std::set<std::string> named;
    std::vector<std::string> both, unknown, missing;
    for (const auto* side : {&split.train.subjects, &split.val.subjects})
        for (const std::string& s : *side) {
            if (!named.insert(s).second) both.push_back(s);
            if (!by.count(s)) unknown.push_back(s);
        }
    for (const auto& [s, idx] : by)
        if (!named.count(s)) missing.push_back(s);
    auto list = [](const std::vector<std::string>& v) {
        std::string out;
        for (std::size_t i = 0; i < v.size(); ++i) out += (i ? ", '" : "'") + v[i] + "'";
        return out;
    };
    if (!both.empty()) fail_format("subject(s) listed twice (on both sides or repeated): " + list(both));
    if (!unknown.empty())
        fail_format(detail::str(unknown.size(), " subject(s) of the split are not in the dataset (", dataset.size(),
                                " samples, ", by.size(), " subjects): ", list(unknown)));
    if (!missing.empty())
        fail_format(detail::str(missing.size(),
                                " subject(s) of the dataset are on neither side of the split: ", list(missing)));
    std::sort(split.train.subjects.begin(), split.train.subjects.end());
    std::sort(split.val.subjects.begin(), split.val.subjects.end());
    Split filled = split;
    filled.train = {};
    filled.val = {};
    split_detail::fill(filled, by, val_set);
    return filled;
}

FBSEG_DATA Split read_split(const std::filesystem::path& path, const Dataset& dataset) {
    std::ifstream in(path, std::ios::binary);
    FBSEG_CHECK(in.good(), "read_split: cannot open ", path.string());
    std::stringstream text;
    text << in.rdbuf();
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(text.str());
    } catch (const nlohmann::json::exception& e) {
        FBSEG_FAIL("read_split: ", path.string(), " is not valid JSON: ", e.what());
    }
    return split_from_json(j, dataset, path.string());
}
#endif  // FBSEG_DATA_DEFINITIONS

}  // namespace fbseg::data
