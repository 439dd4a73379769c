// fbseg/data/batch.hpp - a batch of samples as the training step takes it: the images stacked
// into one float32 [N, C, H, W] tensor, the label maps into one int64 [N, H, W] tensor, and each
// sample's id, subject, spacing, dataset index and original size beside them; collate() builds
// it, binary_target() turns its labels into the float [N, 1, H, W] target of the binary losses.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "fbseg/core/error.hpp"
#include "fbseg/core/shape.hpp"
#include "fbseg/core/tensor.hpp"
#include "fbseg/data/sample.hpp"

namespace fbseg::data {

/// N samples of one size, stacked.
struct Batch {
    Tensor images;  // float32 [N, C, H, W], contiguous
    Tensor labels;  // int64 [N, H, W], or undefined when the samples have no label maps
    std::vector<std::string> ids = {};
    std::vector<std::string> subjects = {};
    std::vector<std::string> sources = {};
    std::vector<std::optional<std::array<double, 2>>> spacing_mm = {};
    std::vector<std::array<std::int64_t, 2>> original_sizes = {};
    std::vector<std::optional<double>> head_circumference_mm = {};
    /// The dataset index of each sample (the loader's order for this epoch).
    std::vector<std::size_t> indices = {};
    std::int64_t epoch = 0;        // the epoch it belongs to
    std::int64_t batch_index = 0;  // its position in that epoch, 0-based

    std::int64_t size() const { return std::int64_t(ids.size()); }
    bool has_labels() const { return labels.defined(); }
};

/// Stacks samples into a Batch. All images must have one shape [C, H, W] and be float32; either
/// every sample has a label map, of shape [H, W] and int64, or none has. The error names the two
/// samples (ids and dataset indices) that disagree and what each has. `indices` are the samples'
/// dataset indices (for the messages and Batch::indices; may be empty).
inline Batch collate(const std::vector<Sample>& samples, const std::vector<std::size_t>& indices = {}) {
    FBSEG_CHECK(!samples.empty(), "collate: no samples to stack");
    FBSEG_CHECK(indices.empty() || indices.size() == samples.size(), "collate: ", samples.size(), " samples but ",
                indices.size(), " indices");
    auto who = [&](std::size_t k) {
        std::string name = "sample '" + samples[k].id + "'";
        if (!indices.empty()) name += " (index " + std::to_string(indices[k]) + ")";
        return name;
    };
    for (std::size_t k = 0; k < samples.size(); ++k) {
        const Sample& s = samples[k];
        FBSEG_CHECK(
            s.image.defined() && s.image.dim() == 3 && s.image.dtype() == DType::Float32 && s.image.device().is_cpu(),
            "collate: the image of ", who(k), " must be a float32 [C, H, W] CPU tensor but is ",
            s.image.defined() ? s.image.describe() : std::string("undefined"));
        if (s.label.defined())
            FBSEG_CHECK(s.label.dim() == 2 && s.label.dtype() == DType::Int64 && s.label.device().is_cpu() &&
                            s.label.shape()[0] == s.height() && s.label.shape()[1] == s.width(),
                        "collate: the label map of ", who(k), " must be an int64 [", s.height(), ", ", s.width(),
                        "] CPU tensor (its image is ", shape_str(s.image.shape()), ") but is ", s.label.describe());
        if (k == 0) continue;
        FBSEG_CHECK(s.image.shape() == samples[0].image.shape(), "collate: ", who(0), " has an image of shape ",
                    shape_str(samples[0].image.shape()), " but ", who(k), " has ", shape_str(s.image.shape()),
                    ": the samples of one batch must have one size (resize or crop them in the transform)");
        FBSEG_CHECK(s.has_label() == samples[0].has_label(), "collate: ", who(0),
                    samples[0].has_label() ? " has a label map" : " has no label map", " but ", who(k),
                    s.has_label() ? " has one" : " has none", ": a batch needs labels for all samples or for none");
    }
    const std::int64_t n = std::int64_t(samples.size());
    const Sample& first = samples[0];
    const std::int64_t c = first.channels(), h = first.height(), w = first.width();
    const std::int64_t image_numel = checked_mul(checked_mul(c, h, "collate: image size"), w, "collate: image size");
    const std::int64_t label_numel = checked_mul(h, w, "collate: label size");
    Batch batch;
    batch.images = Tensor::empty({n, c, h, w}, DType::Float32);
    if (first.has_label()) batch.labels = Tensor::empty({n, h, w}, DType::Int64);
    for (std::size_t k = 0; k < samples.size(); ++k) {
        const Sample& s = samples[k];
        const Tensor image = s.image.contiguous();
        if (image_numel > 0)
            std::memcpy(batch.images.data_ptr<float>() + std::int64_t(k) * image_numel, image.data_ptr<float>(),
                        std::size_t(image_numel) * sizeof(float));
        if (s.has_label() && label_numel > 0) {
            const Tensor label = s.label.contiguous();
            std::memcpy(batch.labels.data_ptr<std::int64_t>() + std::int64_t(k) * label_numel,
                        label.data_ptr<std::int64_t>(), std::size_t(label_numel) * sizeof(std::int64_t));
        }
        batch.ids.push_back(s.id);
        batch.subjects.push_back(s.subject);
        batch.sources.push_back(s.source);
        batch.spacing_mm.push_back(s.spacing_mm);
        batch.original_sizes.push_back(s.original_size);
        batch.head_circumference_mm.push_back(s.head_circumference_mm);
    }
    batch.indices = indices;
    return batch;
}

/// The float target of the binary losses: 1 where label > 0, else 0, as float32 [N, 1, H, W]
/// (for bce_dice_loss and dice_loss on one foreground channel).
inline Tensor binary_target(const Tensor& labels) {
    FBSEG_CHECK(labels.defined() && labels.dim() == 3 && labels.dtype() == DType::Int64 && labels.device().is_cpu(),
                "binary_target: labels must be an int64 [N, H, W] CPU tensor but are ",
                labels.defined() ? labels.describe() : std::string("undefined (the batch has no label maps)"));
    const Tensor l = labels.contiguous();
    const Shape& s = l.shape();
    Tensor target = Tensor::empty({s[0], 1, s[1], s[2]}, DType::Float32);
    const std::int64_t* pl = l.data_ptr<std::int64_t>();
    float* pt = target.data_ptr<float>();
    for (std::int64_t i = 0, n = l.numel(); i < n; ++i) pt[i] = pl[i] > 0 ? 1.0f : 0.0f;
    return target;
}

inline Tensor binary_target(const Batch& batch) { return binary_target(batch.labels); }

}  // namespace fbseg::data
