// fbseg/data/labels.hpp - from the integers stored in a mask file to class indices 0..K-1.
//
// A LabelSet (data/sample.hpp) says how stored values become classes:
//   binary    any stored value v > 0 is class 1, v == 0 is class 0. A 0/255 mask is binary: its
//             foreground is class 1, never class 255.
//   declared  the classes listed in nnU-Net's labels.json or dataset.json "labels" object,
//             {"background": 0, "brain": 1, ...}: values 0..K-1 without gaps, the background 0.
//             A stored value v in the set is class v; any other value is an error naming the
//             file, the value and the declared set.
// detect_label_set() looks at one mask: values within {0, 1} or within {0, 255} make a binary
// mask; anything else needs a declared set, and the error says so.
#pragma once

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>  // JSON in the declarations; <nlohmann/json.hpp> to build a value

#include "fbseg/core/error.hpp"
#include "fbseg/core/tensor.hpp"
#include "fbseg/data/sample.hpp"
#include "fbseg/data/data_library.hpp"

#if FBSEG_DATA_DEFINITIONS
#include <nlohmann/json.hpp>  // the definitions parse and write JSON
#endif

namespace fbseg::data {

namespace labels_detail {

/// "{background: 0, brain: 1}" for messages.
inline std::string describe(const LabelSet& set) {
    if (set.binary) return "binary {0: background, >0: foreground}";
    std::string out = "{";
    for (std::size_t k = 0; k < set.labels.size(); ++k)
        out += (k ? ", " : "") + set.labels[k].first + ": " + std::to_string(set.labels[k].second);
    return out + "}";
}

/// "{0, 3, 7}" (at most `limit` values, then "...").
inline std::string describe_values(const std::set<std::int64_t>& values, std::size_t limit = 12) {
    std::string out = "{";
    std::size_t k = 0;
    for (auto v : values) {
        if (k == limit) {
            out += ", ... (" + std::to_string(values.size()) + " values)";
            break;
        }
        out += (k++ ? ", " : "") + std::to_string(v);
    }
    return out + "}";
}

inline void check_label_map(const Tensor& raw, const char* op, const std::string& source) {
    FBSEG_CHECK(raw.defined() && raw.dtype() == DType::Int64 && raw.dim() == 2 && raw.device().is_cpu() &&
                    raw.is_contiguous(),
                op, ": '", source, "': expected a contiguous int64 [H, W] CPU tensor of stored mask values but got ",
                raw.describe());
}

}  // namespace labels_detail

// ---- declared here, defined below or in libfbseg (fbseg/data/data_library.hpp) ----
/// Checks a declared set: values 0..K-1, each once, no gaps, 0 named "background" (any name is
/// accepted for the other values), K >= 2. Sorts it by value. `source` names where it came from.
FBSEG_DATA LabelSet validated_label_set(LabelSet set, const std::string& source);
/// A declared set from a JSON value: either nnU-Net v2's {"background": 0, "brain": 1} or v1's
/// {"0": "background", "1": "brain"}. Region-based labels (a list of values) are refused.
FBSEG_DATA LabelSet parse_label_set(const nlohmann::json& object, const std::string& source);
/// Reads nnU-Net's labels.json (the object itself) or dataset.json (its "labels" member).
FBSEG_DATA LabelSet read_label_set(const std::string& path);
/// The set of values stored in a raw int64 [H, W] mask.
FBSEG_DATA std::set<std::int64_t> stored_values(const Tensor& raw);
/// Binary when the stored values lie within {0, 1} or within {0, 255}; otherwise an error asking
/// for a labels.json. `source` names the mask file.
FBSEG_DATA LabelSet detect_label_set(const Tensor& raw, const std::string& source);
/// Class indices int64 [H, W] from stored values int64 [H, W], by the rule of `set` (top of file).
FBSEG_DATA Tensor to_class_indices(const Tensor& raw, const LabelSet& set, const std::string& source);

#if FBSEG_DATA_DEFINITIONS
FBSEG_DATA LabelSet validated_label_set(LabelSet set, const std::string& source) {
    if (set.binary) return set;
    std::sort(set.labels.begin(), set.labels.end(), [](const auto& a, const auto& b) { return a.second < b.second; });
    FBSEG_CHECK(set.labels.size() >= 2, "label set from '", source, "': expected at least 2 classes (background and ",
                "one more) but found ", set.labels.size(), ": ", labels_detail::describe(set));
    for (std::size_t k = 0; k < set.labels.size(); ++k) {
        const auto& [name, v] = set.labels[k];
        FBSEG_CHECK(v == std::int64_t(k), "label set from '", source, "': expected the values 0..",
                    set.labels.size() - 1, " each once, without gaps, but found ", labels_detail::describe(set),
                    " (value ", k, (v > std::int64_t(k) ? " is missing)" : " appears twice)"));
    }
    FBSEG_CHECK(set.labels[0].first == "background", "label set from '", source,
                "': expected the value 0 to be named \"background\" but it is named \"", set.labels[0].first, "\"");
    return set;
}

FBSEG_DATA LabelSet parse_label_set(const nlohmann::json& object, const std::string& source) {
    FBSEG_CHECK(object.is_object() && !object.empty(), "label set from '", source,
                "': expected a JSON object such as {\"background\": 0, \"brain\": 1} but found ", object.dump());
    LabelSet set;
    set.binary = false;
    set.labels.clear();
    bool v1 = true;  // every key an integer and every value a string
    for (const auto& [key, value] : object.items()) {
        const bool numeric_key = !key.empty() && key.size() < 10 &&
                                 std::all_of(key.begin(), key.end(), [](char c) { return c >= '0' && c <= '9'; });
        v1 = v1 && numeric_key && value.is_string();
    }
    for (const auto& [key, value] : object.items()) {
        if (v1) {
            set.labels.emplace_back(value.get<std::string>(), std::stoll(key));
            continue;
        }
        FBSEG_CHECK(!value.is_array(), "label set from '", source, "': the label \"", key, "\" is ", value.dump(),
                    ", a region (a list of values, nnU-Net's region-based training), which fbseg does not support: ",
                    "expected one integer per class");
        FBSEG_CHECK(value.is_number_integer(), "label set from '", source, "': the label \"", key,
                    "\" is ", value.dump(), ", expected an integer value");
        const auto v = value.get<std::int64_t>();
        FBSEG_CHECK(v >= 0 && v < 65536, "label set from '", source, "': the label \"", key, "\" has the value ", v,
                    ", expected 0..65535 (a mask PNG stores at most 16 bits)");
        set.labels.emplace_back(key, v);
    }
    return validated_label_set(std::move(set), source);
}

FBSEG_DATA LabelSet read_label_set(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    FBSEG_CHECK(in, "read_label_set: cannot open '", path, "'");
    nlohmann::json doc;
    try {
        doc = nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& e) {
        FBSEG_FAIL("read_label_set: '", path, "' is not valid JSON: ", e.what());
    }
    if (doc.is_object() && doc.contains("labels")) return parse_label_set(doc["labels"], path);
    FBSEG_CHECK(doc.is_object() && !doc.contains("name") && !doc.contains("channel_names"), "read_label_set: '",
                path, "' has no \"labels\" object (expected labels.json's {\"background\": 0, ...} or a ",
                "dataset.json with a \"labels\" member)");
    return parse_label_set(doc, path);
}

FBSEG_DATA std::set<std::int64_t> stored_values(const Tensor& raw) {
    labels_detail::check_label_map(raw, "stored_values", "");
    std::set<std::int64_t> values;
    const std::int64_t* p = raw.data_ptr<std::int64_t>();
    for (std::int64_t i = 0, n = raw.numel(); i < n; ++i) values.insert(p[i]);
    return values;
}

FBSEG_DATA LabelSet detect_label_set(const Tensor& raw, const std::string& source) {
    labels_detail::check_label_map(raw, "detect_label_set", source);
    const auto values = stored_values(raw);
    const bool zero_one = std::all_of(values.begin(), values.end(), [](std::int64_t v) { return v == 0 || v == 1; });
    const bool zero_255 = std::all_of(values.begin(), values.end(), [](std::int64_t v) { return v == 0 || v == 255; });
    FBSEG_CHECK(zero_one || zero_255, "detect_label_set: the mask '", source, "' stores the values ",
                labels_detail::describe_values(values), ", which is not a binary mask ({0, 1} or {0, 255}); ",
                "declare its classes in a labels.json such as {\"background\": 0, \"brain\": 1, ...} (nnU-Net's ",
                "format; values 0..K-1) and pass it as the label set");
    return LabelSet::binary_mask();
}

FBSEG_DATA Tensor to_class_indices(const Tensor& raw, const LabelSet& set, const std::string& source) {
    labels_detail::check_label_map(raw, "to_class_indices", source);
    Tensor out = Tensor::empty(raw.shape(), DType::Int64);
    const std::int64_t* in = raw.data_ptr<std::int64_t>();
    std::int64_t* o = out.data_ptr<std::int64_t>();
    const std::int64_t n = raw.numel(), w = raw.shape()[1];
    if (set.binary) {
        for (std::int64_t i = 0; i < n; ++i) o[i] = in[i] > 0 ? 1 : 0;
        return out;
    }
    // A declared set's values are exactly 0..k-1 (validated here, whatever built it).
    const std::int64_t k = validated_label_set(set, source).num_classes();
    for (std::int64_t i = 0; i < n; ++i) {
        const std::int64_t v = in[i];
        if (v < 0 || v >= k) [[unlikely]]
            FBSEG_FAIL("to_class_indices: the mask '", source, "' stores the value ", v, " at (row ", i / w,
                       ", column ", i % w, "), which is not in its declared label set ", labels_detail::describe(set));
        o[i] = v;
    }
    return out;
}
#endif  // FBSEG_DATA_DEFINITIONS

}  // namespace fbseg::data
