// open_dataset.hpp - which reader a folder or file on disk needs, decided from what is there:
//   HC18        <root>/training_set/ and training_set_pixel_size_and_HC.csv
//   BIDS        <root>/sub-*/ folders (sub-XXX/anat/*_T2w.nii.gz with *_dseg.nii.gz)
//   folder      <root>/images/ and <root>/masks/
//   CSV         a .csv file with `image` and `mask` columns
// or told with --format. Opening a dataset checks its layout (pairing, rows against files) and
// throws an fbseg::Error that lists every problem.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include <fbseg/fbseg.hpp>

namespace fbseg::app {

enum class DataFormat { automatic, folder, hc18, csv, bids };

inline DataFormat parse_format(const std::string& name) {
    if (name == "auto") return DataFormat::automatic;
    if (name == "folder") return DataFormat::folder;
    if (name == "hc18") return DataFormat::hc18;
    if (name == "csv") return DataFormat::csv;
    if (name == "bids") return DataFormat::bids;
    FBSEG_FAIL("unknown data format '", name, "' (known: auto, folder, hc18, csv, bids)");
}

inline const char* format_name(DataFormat f) {
    switch (f) {
        case DataFormat::folder: return "folder (images/ + masks/)";
        case DataFormat::hc18: return "HC18";
        case DataFormat::csv: return "CSV manifest";
        case DataFormat::bids: return "BIDS (NIfTI)";
        default: return "auto";
    }
}

/// The format of `path` by what it holds (top of file); an error says what was looked for.
inline DataFormat detect_format(const std::string& path) {
    namespace fs = std::filesystem;
    std::error_code ec;
    const fs::path p(path);
    FBSEG_CHECK(fs::exists(p, ec), "'", path, "' does not exist");
    if (fs::is_regular_file(p, ec)) {
        FBSEG_CHECK(p.extension() == ".csv", "'", path, "' is a file but not a .csv manifest");
        return DataFormat::csv;
    }
    if (fs::is_directory(p / "training_set", ec) && fs::exists(p / "training_set_pixel_size_and_HC.csv", ec))
        return DataFormat::hc18;
    if (fs::is_directory(p / "images", ec) && fs::is_directory(p / "masks", ec)) return DataFormat::folder;
    for (const auto& entry : fs::directory_iterator(p, ec))
        if (entry.is_directory() && entry.path().filename().string().rfind("sub-", 0) == 0) return DataFormat::bids;
    FBSEG_FAIL("'", path, "': cannot tell its format: expected HC18 (training_set/ and ",
               "training_set_pixel_size_and_HC.csv), a folder with images/ and masks/, BIDS (sub-*/anat/), ",
               "or a .csv manifest; or give --format");
}

/// Opens `path` as `format` (automatic: detect_format).
inline std::unique_ptr<data::Dataset> open_dataset(const std::string& path, DataFormat format) {
    if (format == DataFormat::automatic) format = detect_format(path);
    switch (format) {
        case DataFormat::folder: return std::make_unique<data::FolderDataset>(path);
        case DataFormat::hc18: return std::make_unique<data::Hc18Dataset>(path);
        case DataFormat::csv: return std::make_unique<data::CsvManifestDataset>(path);
        case DataFormat::bids: return std::make_unique<data::BidsDataset>(path);
        default: FBSEG_FAIL("open_dataset: no format");
    }
}

/// The header-only checks a reader offers (pairing done at opening; sizes and headers here).
inline void check_headers(const data::Dataset& dataset) {
    if (auto* d = dynamic_cast<const data::FolderDataset*>(&dataset)) d->check();
    if (auto* d = dynamic_cast<const data::Hc18Dataset*>(&dataset)) d->check();
    if (auto* d = dynamic_cast<const data::NiftiSliceDataset*>(&dataset)) d->check();
}

}  // namespace fbseg::app
