// synth_command.hpp - `fbseg synth --modality mri|us --out DIR --count N [--seed S]`: writes the
// phantom (include/fbseg/data/phantom/) as a dataset on disk, in the layout the real data comes in:
//   us   HC18's layout: training_set/NNN_HC.png + NNN_HC_Annotation.png (the head's outline) and
//        training_set_pixel_size_and_HC.csv; --test-count adds test_set/ and its CSV
//   mri  BIDS: sub-NNN/anat/sub-NNN_rec-phantom_T2w.nii.gz + _dseg.nii.gz (FeTA's labels), and
//        the slices as png/images/ + png/masks/ + png/labels.json
// `fbseg check DIR` then reads it back like any dataset.
#pragma once

#include <cstdint>
#include <iostream>
#include <string>

#include <fbseg/fbseg.hpp>

namespace fbseg::app {

struct SynthOptions {
    std::string modality = "us";
    std::string out;
    std::size_t count = 100;      // us: frames; mri: subjects (volumes)
    std::size_t test_count = 0;   // us only
    std::uint64_t seed = 0;
    std::int64_t height = 0;      // 0: the phantom's default (us 540 x 800, mri 256 x 256)
    std::int64_t width = 0;
    std::int64_t slices = 32;     // mri: slices per volume
    std::string labels = "tissues";  // mri: tissues (FeTA) or brain (a binary brain mask)
};

inline int run_synth(const SynthOptions& o) {
    namespace ph = data::phantom;
    FBSEG_CHECK(o.count >= 1, "synth: --count must be at least 1");
    FBSEG_CHECK((o.height == 0) == (o.width == 0), "synth: give both --height and --width, or neither");
    if (o.modality == "us") {
        ph::UsDatasetWriteOptions w;
        w.count = o.count;
        w.test_count = o.test_count;
        w.seed = o.seed;
        if (o.height > 0) {
            w.us.height = o.height;
            w.us.width = o.width;
        }
        ph::write_us_dataset(o.out, w);
        std::cout << "synth: wrote " << o.count << " ultrasound frames" << (o.test_count ? " and " : "")
                  << (o.test_count ? std::to_string(o.test_count) + " test frames" : "") << " (" << w.us.height << "x"
                  << w.us.width << ", seed " << o.seed << ") in HC18's layout to " << o.out << "\n";
        return 0;
    }
    FBSEG_CHECK(o.modality == "mri", "synth: --modality must be mri or us but is '", o.modality, "'");
    FBSEG_CHECK(o.labels == "tissues" || o.labels == "brain", "synth: --labels must be tissues or brain but is '",
                o.labels, "'");
    FBSEG_CHECK(o.test_count == 0, "synth: --test-count is for ultrasound (HC18's test_set)");
    ph::MriDatasetWriteOptions w;
    w.subjects = o.count;
    w.seed = o.seed;
    if (o.height > 0) {
        w.mri.height = o.height;
        w.mri.width = o.width;
    }
    w.mri.volume_slices = o.slices;
    w.mri.labels = o.labels == "tissues" ? ph::MriLabels::tissues : ph::MriLabels::brain_mask;
    ph::write_mri_dataset(o.out, w);
    std::cout << "synth: wrote " << o.count << " MRI volumes of " << o.slices << " slices (" << w.mri.height << "x"
              << w.mri.width << ", " << o.labels << " labels, seed " << o.seed << ") as BIDS NIfTI to " << o.out
              << " and as PNG slices to " << o.out << "/png\n";
    return 0;
}

}  // namespace fbseg::app
