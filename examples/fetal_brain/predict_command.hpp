// predict_command.hpp - `fbseg predict --model RUN INPUT... --out DIR`: label maps for images the
// run has never seen, at each image's own size (inference.hpp).
//
//   INPUT   PNG/JPEG/BMP files, folders of them, or NIfTI volumes (.nii, .nii.gz)
//   writes  DIR/<name>_mask.png      the label map (binary: 0/255; labels: the class values)
//           DIR/<name>_overlay.png   the image with the prediction blended in
//           DIR/<name>_dseg.nii.gz   for a NIfTI input: the label volume, with the input's header
//           DIR/hc18_submission.csv  ultrasound runs: HC18's submission format, one row per image
//                                     (filename,center_x_mm,center_y_mm,semi_axes_a_mm,semi_axes_b_mm,angle_rad)
//
// Options: --threshold (binary probability cut, 0.5), --tta (average the probabilities of the
// image and its horizontal and vertical flips, flipped back), --largest-component (keep only the
// largest connected region of each class), --pixel-size MM (ultrasound: mm per pixel, for the
// ellipse in mm; without it the CSV is in pixels and says so).
#pragma once

#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include <fbseg/fbseg.hpp>

#include "inference.hpp"

namespace fbseg::app {

struct PredictOptions {
    std::string run;
    std::vector<std::string> inputs;
    std::string out;
    std::string checkpoint = "best";
    std::string device = "cpu";
    double threshold = 0.5;
    bool tta = false;
    bool largest_component = false;
    double pixel_size_mm = 0;  // 0: unknown
    int threads = 0;
};

namespace predict_detail {

inline bool is_nifti(const std::string& path) {
    return path.ends_with(".nii") || path.ends_with(".nii.gz") || path.ends_with(".NII") || path.ends_with(".NII.GZ");
}
inline bool is_image(const std::filesystem::path& p) {
    std::string ext = p.extension().string();
    for (char& c : ext) c = char(std::tolower(static_cast<unsigned char>(c)));
    return ext == ".png" || ext == ".jpg" || ext == ".jpeg" || ext == ".bmp";
}
/// The file's name without .png / .nii.gz / ...
inline std::string stem_of(const std::string& path) {
    std::string name = std::filesystem::path(path).filename().string();
    for (const char* ext : {".nii.gz", ".NII.GZ", ".nii", ".NII"})
        if (name.ends_with(ext)) return name.substr(0, name.size() - std::string(ext).size());
    return std::filesystem::path(name).stem().string();
}

/// The inputs, folders expanded to their images (sorted); an unknown or missing input is an error.
inline std::vector<std::string> expand_inputs(const std::vector<std::string>& inputs) {
    namespace fs = std::filesystem;
    std::vector<std::string> files;
    for (const std::string& in : inputs) {
        std::error_code ec;
        FBSEG_CHECK(fs::exists(in, ec), "predict: input '", in, "' does not exist");
        if (fs::is_directory(in, ec)) {
            std::vector<std::string> found;
            for (const auto& e : fs::directory_iterator(in, ec))
                if (e.is_regular_file() && (is_image(e.path()) || is_nifti(e.path().string())))
                    found.push_back(e.path().string());
            std::sort(found.begin(), found.end());
            FBSEG_CHECK(!found.empty(), "predict: the folder '", in, "' has no PNG, JPEG, BMP or NIfTI file");
            files.insert(files.end(), found.begin(), found.end());
        } else {
            FBSEG_CHECK(is_image(in) || is_nifti(in), "predict: '", in,
                        "' is neither an image (.png, .jpg, .bmp) nor a NIfTI volume (.nii, .nii.gz)");
            files.push_back(in);
        }
    }
    return files;
}

/// The prediction of one image with the command's options: TTA, threshold, largest component.
inline Tensor predict_labels(const TrainedRun& run, const Tensor& image, const PredictOptions& o) {
    Tensor prob = predict_image(run, image).probabilities;  // [K, H, W]
    if (o.tta) {
        // flips of the image, predicted, flipped back: the mean of three probability maps
        const Tensor h = flip(predict_image(run, flip(image, {2})).probabilities, {2});
        const Tensor v = flip(predict_image(run, flip(image, {1})).probabilities, {1});
        prob = (prob + h + v) / 3.0;
    }
    Tensor labels = run.binary ? gt(prob.select(0, 0), o.threshold).to(DType::Int64) : argmax(prob, 0);
    if (o.largest_component) {
        if (run.binary) {
            labels = metrics::largest_component(labels).to(DType::Int64);
        } else {
            Tensor kept = zeros_like(labels);
            for (std::int64_t k = 1; k < run.out_channels; ++k) {
                const Tensor region = metrics::largest_component(eq(labels, double(k)).to(DType::Int64)).to(DType::Int64);
                kept = kept + region * double(k);
            }
            labels = kept;
        }
    }
    return labels;
}

}  // namespace predict_detail

inline int run_predict(const PredictOptions& o) {
    namespace fs = std::filesystem;
    using namespace predict_detail;
    if (o.threads > 0) set_num_threads(o.threads);
    FBSEG_CHECK(o.threshold > 0 && o.threshold < 1, "predict: --threshold must be in (0, 1), got ", o.threshold);
    FBSEG_CHECK(o.pixel_size_mm >= 0, "predict: --pixel-size must be positive, got ", o.pixel_size_mm);
    const std::vector<std::string> files = expand_inputs(o.inputs);
    const TrainedRun run = load_run(o.run, o.checkpoint, o.device);
    std::error_code ec;
    fs::create_directories(o.out, ec);
    FBSEG_CHECK(!ec && fs::is_directory(o.out), "predict: cannot create '", o.out, "' (", ec.message(), ")");
    const bool ultrasound = run.binary && run.options.modality == "us";
    std::cout << "predict: each image is letterboxed to the run's training size " << run.options.image_size << " x "
              << run.options.image_size << " (scaled to fit, the aspect kept) and its prediction mapped back to the "
              << "image's own size\n";

    std::ofstream csv;
    if (ultrasound) {
        csv.open(fs::path(o.out) / "hc18_submission.csv");
        csv << (o.pixel_size_mm > 0 ? "filename,center_x_mm,center_y_mm,semi_axes_a_mm,semi_axes_b_mm,angle_rad\n"
                                    : "filename,center_x_px,center_y_px,semi_axes_a_px,semi_axes_b_px,angle_rad\n");
    }
    for (const std::string& file : files) {
        const std::string stem = stem_of(file);
        if (is_nifti(file)) {
            const data::Volume volume = data::read_nifti(file);
            const int axis = data::coarsest_axis(volume.spacing_mm);
            Tensor out = zeros(volume.data.shape(), TensorOptions(DType::Int64));
            for (std::int64_t k = 0; k < volume.data.size(axis); ++k) {
                const Tensor slice = data::slice(volume.data, axis, k).unsqueeze(0).contiguous();  // [1, h, w]
                if (k == 0) check_image_size(slice, "predict: the slices of '" + file + "'");
                out.select(axis, k).copy_(predict_labels(run, slice, o));
            }
            const std::string path = (fs::path(o.out) / (stem + "_dseg.nii.gz")).string();
            data::write_nifti(path, out, volume);
            std::cout << file << " -> " << path << " (" << volume.data.size(axis) << " slices along "
                      << data::axis_letter(axis) << ")\n";
            continue;
        }
        const Tensor image = data::read_image(file);
        check_image_size(image, "predict: '" + file + "'");
        const Tensor pred = predict_labels(run, image, o);
        const std::string mask_path = (fs::path(o.out) / (stem + "_mask.png")).string();
        data::write_png_mask(mask_path, pred, run.labels);
        data::write_overlay((fs::path(o.out) / (stem + "_overlay.png")).string(), clamp(image, 0.0, 1.0), pred);
        std::string hc_text;
        if (ultrasound) {
            const double px = o.pixel_size_mm > 0 ? o.pixel_size_mm : 1.0;
            const metrics::HeadCircumference hc = metrics::head_circumference(pred, px);
            csv << fs::path(file).filename().string();
            for (double v : {hc.center_x_mm, hc.center_y_mm, hc.semi_axes_a_mm, hc.semi_axes_b_mm, hc.angle_rad})
                csv << ',' << (std::isnan(v) ? std::string() : io::format_double(v));
            csv << '\n';
            hc_text = hc.defined() ? "  HC " + std::to_string(hc.hc_mm) + (o.pixel_size_mm > 0 ? " mm" : " px")
                                   : "  no ellipse: " + hc.reason;
        }
        std::cout << file << " -> " << mask_path << hc_text << "\n";
    }
    return 0;
}

}  // namespace fbseg::app
