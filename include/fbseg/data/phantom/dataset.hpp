// fbseg/data/phantom/dataset.hpp - PhantomDataset: the MRI or ultrasound phantom as a
// data::Dataset, fbseg's default data when there is none on disk.
//
// Sample i is drawn from Rng::for_sample(seed, 0, i), so it depends only on (seed, i): never on
// the order of the calls or on the thread that makes it. get() reads only the options, so it is
// safe from several threads at once.
//
// Subjects. Ultrasound: one fetus per image ("phantom-us-000042"). MRI: `slices_per_subject`
// consecutive samples share one fetus (its head is drawn from Rng::for_sample(seed, 1, i / k),
// the slice from the sample's own stream), so a split by subject keeps them together; the default
// 1 gives every slice its own fetus.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

#include "fbseg/core/error.hpp"
#include "fbseg/data/phantom/mri.hpp"
#include "fbseg/data/phantom/ultrasound.hpp"
#include "fbseg/data/random.hpp"
#include "fbseg/data/sample.hpp"

namespace fbseg::data::phantom {

enum class Modality { mri, ultrasound };

struct PhantomDatasetOptions {
    Modality modality = Modality::mri;
    std::size_t count = 100;
    std::uint64_t seed = 0;
    MriPhantomOptions mri = {};
    UsPhantomOptions us = {};
    std::size_t slices_per_subject = 1;  // MRI only
};

class PhantomDataset final : public Dataset {
public:
    explicit PhantomDataset(PhantomDatasetOptions options) : options_(std::move(options)) {
        FBSEG_CHECK(options_.slices_per_subject >= 1,
                    "PhantomDataset: slices_per_subject must be >= 1 but is ", options_.slices_per_subject);
        // check the options now rather than at the first get()
        if (options_.modality == Modality::mri)
            mri_detail::check_options(options_.mri, "PhantomDataset (MRI)");
        else
            us_detail::check_options(options_.us);
    }

    std::size_t size() const override { return options_.count; }

    Sample get(std::size_t index) const override {
        FBSEG_CHECK(index < options_.count, "PhantomDataset::get: index ", index, " is out of range for ",
                    options_.count, " samples");
        Rng rng = Rng::for_sample(options_.seed, 0, index);
        Sample s;
        if (options_.modality == Modality::mri) {
            Rng subject_rng = Rng::for_sample(options_.seed, 1, index / options_.slices_per_subject);
            const MriFetus fetus = draw_mri_fetus(options_.mri, subject_rng);
            s = make_mri_slice(fetus, options_.mri, rng);
        } else {
            s = make_us_image(options_.us, rng);
        }
        s.id = name(index, "");
        s.subject = subject(index);
        return s;
    }

    std::string subject(std::size_t index) const override {
        const std::size_t unit = options_.modality == Modality::mri ? index / options_.slices_per_subject : index;
        return name(unit, "fetus-");
    }

    LabelSet label_set() const override {
        if (options_.modality == Modality::mri && options_.mri.labels == MriLabels::tissues) return LabelSet::feta();
        return LabelSet::binary_mask();
    }

    const PhantomDatasetOptions& options() const { return options_; }

private:
    std::string name(std::size_t n, const char* kind) const {
        char buf[64];
        std::snprintf(buf, sizeof buf, "phantom-%s-%s%06zu", options_.modality == Modality::mri ? "mri" : "us", kind, n);
        return buf;
    }

    PhantomDatasetOptions options_;
};

}  // namespace fbseg::data::phantom
