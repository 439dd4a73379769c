// fbseg/data/phantom/write.hpp - the phantom written to disk as a dataset that fbseg's own
// readers, and other tools, read like the real thing:
//
//   ultrasound, HC18's published layout (data/hc18.hpp reads it back):
//     <root>/training_set/NNN_HC.png               the frame, 8-bit grey
//     <root>/training_set/NNN_HC_Annotation.png    the head's 1-pixel outline (255 on 0), as HC18
//     <root>/training_set_pixel_size_and_HC.csv    filename, pixel size(mm), head circumference (mm)
//     <root>/test_set/NNN_HC.png + test_set_pixel_size.csv   when test_count > 0 (no annotation)
//
//   MRI, BIDS with FeTA's labels (data/nifti_dataset.hpp's BidsDataset reads it back), and the
//   same slices as PNG pairs (data/folder.hpp's FolderDataset):
//     <root>/dataset_description.json
//     <root>/sub-NNN/anat/sub-NNN_rec-phantom_T2w.nii.gz    float32 [Z, Y, X] volume
//     <root>/sub-NNN/anat/sub-NNN_rec-phantom_dseg.nii.gz   uint8 tissue labels 0..7
//     <root>/png/images/sub-NNN_zKKK.png, <root>/png/masks/sub-NNN_zKKK.png, <root>/png/labels.json
//
// The outline. HC18's annotations are ellipse outlines; the writer draws the boundary of the
// phantom's filled label: every label pixel with a 4-neighbour outside the label. Filling that
// outline's holes (data/hc18.hpp's fill_holes) gives the label back exactly: any 4-connected path
// from inside to outside leaves the label through a boundary pixel, so the interior is never
// reached by the background's flood. A head cut by the image border gives an open outline, which
// the reader closes by an ellipse fit, as it does for HC18's own.
//
// Subject i of a dataset is sample i of PhantomDataset with the same seed and options, so the
// files on disk hold exactly the images that training on the in-memory phantom would see.
#pragma once

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <sstream>
#include <string>

#include <nlohmann/json_fwd.hpp>  // JSON in the declarations; <nlohmann/json.hpp> to build a value

#include "fbseg/core/error.hpp"
#include "fbseg/data/image_io.hpp"
#include "fbseg/data/nifti_write.hpp"
#include "fbseg/data/phantom/dataset.hpp"
#include "fbseg/data/data_library.hpp"

#if FBSEG_DATA_DEFINITIONS
#include <nlohmann/json.hpp>  // the definitions parse and write JSON
#endif

namespace fbseg::data::phantom {

namespace write_detail {

/// "007" for 7 (HC18 numbers its fetuses with three digits; more digits when needed).
inline std::string number(std::size_t i, int digits = 3) {
    std::ostringstream s;
    s << std::setw(digits) << std::setfill('0') << i;
    return s.str();
}

/// The boundary of a filled int64 [H, W] label: label pixels with a 4-neighbour inside the image
/// that is background. int64 0/1 [H, W].
inline Tensor outline_of(const Tensor& label) {
    const std::int64_t h = label.shape()[0], w = label.shape()[1];
    const std::int64_t* in = label.data_ptr<std::int64_t>();
    Tensor out = make_label(h, w);
    std::int64_t* o = out.data_ptr<std::int64_t>();
    for (std::int64_t y = 0; y < h; ++y)
        for (std::int64_t x = 0; x < w; ++x) {
            if (in[y * w + x] == 0) continue;
            const bool edge = (y > 0 && in[(y - 1) * w + x] == 0) || (y + 1 < h && in[(y + 1) * w + x] == 0) ||
                              (x > 0 && in[y * w + x - 1] == 0) || (x + 1 < w && in[y * w + x + 1] == 0);
            o[y * w + x] = edge ? 1 : 0;
        }
    return out;
}

/// Writes `text` to `path` atomically (the PNG writer's helper).
inline void write_text(const std::filesystem::path& path, const std::string& text, const char* op) {
    image_io_detail::write_file_atomically(path.string(), text, op);
}

/// Creates `dir` (and its parents); an error names it.
inline void make_dir(const std::filesystem::path& dir, const char* op) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    FBSEG_CHECK(!ec, op, ": cannot create the folder '", dir.string(), "': ", ec.message());
}

/// A NIfTI reference for a phantom volume of shape {nz, ny, nx} and spacing {sz, sy, sx} mm:
/// qform and sform both "scanner anatomical" (code 1), axes aligned with x, y, z (identity
/// rotation, qfac 1), the volume centred on the origin, units mm.
inline Volume reference_volume(const std::array<std::int64_t, 3>& shape, const std::array<double, 3>& spacing_mm) {
    nifti_detail::init_library();
    const std::int64_t dims[8] = {3, shape[2], shape[1], shape[0], 1, 1, 1, 1};
    nifti_image* raw = nifti_make_new_nim(dims, NIFTI_TYPE_FLOAT32, 0);  // header only, no voxels
    FBSEG_CHECK(raw != nullptr, "phantom::write_mri_dataset: nifti_clib could not make a header");
    std::shared_ptr<nifti_image> nim(raw, NiftiImageDeleter{});
    nim->dx = nim->pixdim[1] = spacing_mm[2];
    nim->dy = nim->pixdim[2] = spacing_mm[1];
    nim->dz = nim->pixdim[3] = spacing_mm[0];
    nim->xyz_units = NIFTI_UNITS_MM;
    nim->qform_code = nim->sform_code = NIFTI_XFORM_SCANNER_ANAT;
    nim->quatern_b = nim->quatern_c = nim->quatern_d = 0;
    nim->qfac = 1;
    // x = dx (i - (nx - 1) / 2), and so on: voxel (i, j, k) -> mm, centred.
    nim->qoffset_x = -spacing_mm[2] * double(shape[2] - 1) / 2;
    nim->qoffset_y = -spacing_mm[1] * double(shape[1] - 1) / 2;
    nim->qoffset_z = -spacing_mm[0] * double(shape[0] - 1) / 2;
    nim->qto_xyz = nifti_quatern_to_dmat44(0, 0, 0, nim->qoffset_x, nim->qoffset_y, nim->qoffset_z, nim->dx, nim->dy,
                                           nim->dz, nim->qfac);
    nim->sto_xyz = nim->qto_xyz;
    Volume v;
    v.header = nim;
    v.shape = shape;
    v.spacing_mm = spacing_mm;
    v.datatype = NIFTI_TYPE_FLOAT32;
    v.datatype_name = "FLOAT32";
    v.qform_code = v.sform_code = NIFTI_XFORM_SCANNER_ANAT;
    for (int r = 0; r < 4; ++r)
        for (int c = 0; c < 4; ++c) v.qform[r][c] = v.sform[r][c] = nim->qto_xyz.m[r][c];
    v.path = "(phantom)";
    return v;
}

/// Slice z of a [Z, Y, X] tensor as a contiguous [Y, X] copy (float32 or int64).
template <typename T>
inline Tensor slice_copy(const Tensor& volume, std::int64_t z, DType dtype) {
    const std::int64_t h = volume.shape()[1], w = volume.shape()[2];
    Tensor out = Tensor::empty({h, w}, dtype);
    const T* src = volume.data_ptr<T>() + z * h * w;
    T* dst = out.data_ptr<T>();
    for (std::int64_t i = 0; i < h * w; ++i) dst[i] = src[i];
    return out;
}

}  // namespace write_detail

struct UsDatasetWriteOptions {
    std::size_t count = 100;     // training frames (one fetus each: NNN_HC.png)
    std::size_t test_count = 0;  // test frames (test_set/, no annotation), numbered after the training ones
    std::uint64_t seed = 0;
    UsPhantomOptions us = {};
};

struct MriDatasetWriteOptions {
    std::size_t subjects = 4;  // one volume per subject
    std::uint64_t seed = 0;
    MriPhantomOptions mri = {};  // volume_slices, slice_thickness_mm, size, labels (tissues or brain)
    bool png_slices = true;      // also <root>/png/{images,masks}/ and labels.json
};

// ---- declared here, defined below or in libfbseg (fbseg/data/data_library.hpp) ----
/// Writes the ultrasound phantom in HC18's layout under `root` (top of file). Frame NNN is
/// PhantomDataset{ultrasound, seed}.get(NNN): the same image, label, pixel size and head
/// circumference.
FBSEG_DATA void write_us_dataset(const std::string& root, const UsDatasetWriteOptions& options);
/// Writes the MRI phantom as BIDS NIfTI volumes (and PNG slices) under `root` (top of file).
/// Subject NNN's volume is make_mri_volume(options.mri, Rng::for_sample(seed, 2, NNN)).
FBSEG_DATA void write_mri_dataset(const std::string& root, const MriDatasetWriteOptions& options);

#if FBSEG_DATA_DEFINITIONS
FBSEG_DATA void write_us_dataset(const std::string& root, const UsDatasetWriteOptions& options) {
    namespace fs = std::filesystem;
    constexpr const char* op = "phantom::write_us_dataset";
    FBSEG_CHECK(options.count >= 1, op, ": count must be >= 1");
    PhantomDataset dataset({.modality = Modality::ultrasound,
                            .count = options.count + options.test_count,
                            .seed = options.seed,
                            .mri = {},
                            .us = options.us,
                            .slices_per_subject = 1});
    const fs::path train_dir = fs::path(root) / "training_set", test_dir = fs::path(root) / "test_set";
    write_detail::make_dir(train_dir, op);
    if (options.test_count > 0) write_detail::make_dir(test_dir, op);
    std::ostringstream train_csv, test_csv;
    train_csv << "filename,pixel size(mm),head circumference (mm)\n";
    test_csv << "filename,pixel size(mm)\n";
    train_csv << std::setprecision(17);
    test_csv << std::setprecision(17);
    for (std::size_t i = 0; i < dataset.size(); ++i) {
        const Sample s = dataset.get(i);
        const std::string name = write_detail::number(i) + "_HC";
        const bool training = i < options.count;
        const fs::path dir = training ? train_dir : test_dir;
        write_png_image((dir / (name + ".png")).string(), s.image);
        const double pixel = (*s.spacing_mm)[1];
        if (training) {
            write_png_mask((dir / (name + "_Annotation.png")).string(), write_detail::outline_of(s.label));
            train_csv << name << ".png," << pixel << "," << *s.head_circumference_mm << "\n";
        } else {
            test_csv << name << ".png," << pixel << "\n";
        }
    }
    write_detail::write_text(fs::path(root) / "training_set_pixel_size_and_HC.csv", train_csv.str(), op);
    if (options.test_count > 0) write_detail::write_text(fs::path(root) / "test_set_pixel_size.csv", test_csv.str(), op);
}


FBSEG_DATA void write_mri_dataset(const std::string& root, const MriDatasetWriteOptions& options) {
    namespace fs = std::filesystem;
    constexpr const char* op = "phantom::write_mri_dataset";
    FBSEG_CHECK(options.subjects >= 1, op, ": subjects must be >= 1");
    write_detail::make_dir(root, op);
    const LabelSet labels =
        options.mri.labels == MriLabels::tissues ? LabelSet::feta() : LabelSet::binary_mask();
    nlohmann::json description = {{"Name", "fbseg fetal MRI phantom"},
                                  {"BIDSVersion", "1.9.0"},
                                  {"DatasetType", "raw"},
                                  {"GeneratedBy", {{{"Name", "fbseg phantom"}}}},
                                  {"fbseg_seed", options.seed}};
    write_detail::write_text(fs::path(root) / "dataset_description.json", description.dump(2) + "\n", op);
    const fs::path png = fs::path(root) / "png";
    if (options.png_slices) {
        write_detail::make_dir(png / "images", op);
        write_detail::make_dir(png / "masks", op);
        nlohmann::json set = nlohmann::json::object();
        for (const auto& [name, value] : labels.labels) set[name] = value;
        write_detail::write_text(png / "labels.json", set.dump(2) + "\n", op);
    }
    for (std::size_t i = 0; i < options.subjects; ++i) {
        const std::string subject = "sub-" + write_detail::number(i + 1);
        Rng rng = Rng::for_sample(options.seed, 2, i);
        const MriVolume v = make_mri_volume(options.mri, rng);
        const std::array<std::int64_t, 3> shape = {v.image.shape()[0], v.image.shape()[1], v.image.shape()[2]};
        const Volume reference = write_detail::reference_volume(shape, v.spacing_mm);
        const fs::path anat = fs::path(root) / subject / "anat";
        write_detail::make_dir(anat, op);
        write_nifti((anat / (subject + "_rec-phantom_T2w.nii.gz")).string(), v.image, reference);
        write_nifti((anat / (subject + "_rec-phantom_dseg.nii.gz")).string(), v.labels, reference);
        if (!options.png_slices) continue;
        for (std::int64_t z = 0; z < shape[0]; ++z) {
            const std::string name = subject + "_z" + write_detail::number(std::size_t(z));
            Tensor image = write_detail::slice_copy<float>(v.image, z, DType::Float32).reshape({1, shape[1], shape[2]});
            write_png_image((png / "images" / (name + ".png")).string(), image);
            write_png_mask((png / "masks" / (name + ".png")).string(),
                           write_detail::slice_copy<std::int64_t>(v.labels, z, DType::Int64), labels);
        }
    }
}
#endif  // FBSEG_DATA_DEFINITIONS

}  // namespace fbseg::data::phantom
