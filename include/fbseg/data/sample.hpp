// fbseg/data/sample.hpp - what every reader, the phantom, the augmentations and the loader pass
// along: one 2D training sample (an image, its label map, and what is known about where it came
// from), the label set it is read with, and the Dataset interface.
//
// Conventions (docs/data.md):
//   image  float32 [C, H, W], CPU, contiguous. Readers return intensities in a documented range:
//          8-bit PNGs are divided by 255 and 16-bit ones by 65535 (so [0, 1]); NIfTI volumes keep
//          their scaled values (scl_slope, scl_inter) until a normalisation is asked for.
//   label  int64 [H, W], CPU, contiguous: class indices 0..K-1 (binary: 0 background, 1
//          foreground). Undefined (label.defined() == false) for an image without a reference,
//          e.g. HC18's test set.
//   spacing_mm  {row spacing, column spacing} in mm per pixel, or unknown.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "fbseg/core/error.hpp"
#include "fbseg/core/shape.hpp"
#include "fbseg/core/tensor.hpp"

namespace fbseg::data {

/// One 2D sample.
struct Sample {
    Tensor image;  // float32 [C, H, W]
    Tensor label;  // int64 [H, W], or undefined when there is no reference
    /// Pixel spacing {sy, sx} in mm, when the source knows it (HC18's CSV, a NIfTI header).
    std::optional<std::array<double, 2>> spacing_mm = {};
    /// A name that identifies the sample in messages and outputs ("001_HC", "sub-009 z=071").
    std::string id = {};
    /// The unit a split keeps together: HC18's NNN, a NIfTI volume, the CSV's `subject` column.
    std::string subject = {};
    /// The file(s) it was read from, for error messages ("" when made in memory).
    std::string source = {};
    /// {H, W} as read, before any resize or crop (metrics such as head circumference are computed
    /// at this size).
    std::array<std::int64_t, 2> original_size = {0, 0};
    /// The true head circumference in mm, when the source knows it (HC18's training CSV, the
    /// ultrasound phantom's exact ellipse perimeter).
    std::optional<double> head_circumference_mm = {};

    std::int64_t channels() const { return image.shape()[0]; }
    std::int64_t height() const { return image.shape()[1]; }
    std::int64_t width() const { return image.shape()[2]; }
    bool has_label() const { return label.defined(); }
};

/// A float32 [C, H, W] image filled with zeros.
inline Tensor make_image(std::int64_t channels, std::int64_t height, std::int64_t width) {
    Tensor t = Tensor::empty({channels, height, width}, DType::Float32);
    float* p = t.data_ptr<float>();
    for (std::int64_t i = 0, n = t.numel(); i < n; ++i) p[i] = 0.0f;
    return t;
}

/// An int64 [H, W] label map filled with zeros (background).
inline Tensor make_label(std::int64_t height, std::int64_t width) {
    Tensor t = Tensor::empty({height, width}, DType::Int64);
    std::int64_t* p = t.data_ptr<std::int64_t>();
    for (std::int64_t i = 0, n = t.numel(); i < n; ++i) p[i] = 0;
    return t;
}

/// The classes a dataset's label maps use. Binary (the default) reads any mask value > 0 as class
/// 1. A declared set (nnU-Net's labels.json, {"background": 0, "brain": 1, ...}) maps each stored
/// value to itself and refuses any other value.
struct LabelSet {
    /// (name, value) pairs, sorted by value; values are 0..K-1 with 0 the background.
    std::vector<std::pair<std::string, std::int64_t>> labels = {{"background", 0}, {"foreground", 1}};
    bool binary = true;

    static LabelSet binary_mask() { return {}; }
    /// FeTA's seven tissues (the FeTA challenge's numbering).
    static LabelSet feta() {
        return {{{"background", 0},
                 {"external_csf", 1},
                 {"grey_matter", 2},
                 {"white_matter", 3},
                 {"ventricles", 4},
                 {"cerebellum", 5},
                 {"deep_grey_matter", 6},
                 {"brainstem", 7}},
                false};
    }
    std::int64_t num_classes() const { return std::int64_t(labels.size()); }
    bool contains(std::int64_t value) const {
        for (const auto& [name, v] : labels)
            if (v == value) return true;
        return false;
    }
    const std::string& name_of(std::int64_t value) const {
        for (const auto& [name, v] : labels)
            if (v == value) return name;
        FBSEG_FAIL("LabelSet: no class has the value ", value);
    }
};

/// A random-access collection of samples. get() is const and must be safe to call from several
/// threads at once (the loader's workers do): readers open their files per call, in-memory
/// datasets only read.
class Dataset {
public:
    virtual ~Dataset() = default;
    virtual std::size_t size() const = 0;
    virtual Sample get(std::size_t index) const = 0;
    /// The subject of sample `index`, without reading its pixels (splits use it). The default
    /// reads the sample; readers override it with what their index already knows.
    virtual std::string subject(std::size_t index) const { return get(index).subject; }
    /// The label set of every sample's label map.
    virtual LabelSet label_set() const { return LabelSet::binary_mask(); }
};

}  // namespace fbseg::data
