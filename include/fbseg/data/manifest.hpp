// fbseg/data/manifest.hpp - a dataset listed in a CSV file (data/csv.hpp's reader):
//
//   image,mask,subject,pixel_size_mm
//   scans/a.png,masks/a.png,p01,0.12
//
// Columns by header name: "image" and "mask" are required (paths relative to the CSV's folder,
// or absolute; an empty mask cell means the image has no reference, so no label); "subject" and
// "pixel_size_mm" are optional (default: the image's stem, and unknown spacing; an empty cell
// means the same). Other columns are ignored. A missing column is an error naming the columns
// found. Every listed file must exist when the dataset is opened (one error lists the missing
// ones with their CSV lines); sizes and pixels are read by get(). The label set is
// ManifestOptions::label_set, or binary with each mask checked to be binary-like (as
// FolderDataset, data/folder.hpp).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "fbseg/core/error.hpp"
#include "fbseg/data/csv.hpp"
#include "fbseg/data/folder.hpp"
#include "fbseg/data/sample.hpp"

namespace fbseg::data {

struct ManifestOptions {
    std::optional<LabelSet> label_set = {};
    ImageReadOptions image = {};
};

class CsvManifestDataset : public Dataset {
public:
    explicit CsvManifestDataset(const std::string& csv_path, ManifestOptions options = {}) : options_(std::move(options)) {
        namespace fs = std::filesystem;
        const CsvTable table = read_csv(csv_path);
        FBSEG_CHECK(table.has_column("image") && table.has_column("mask"), "CsvManifestDataset: '", csv_path,
                    "' needs the columns \"image\" and \"mask\" (optional: \"subject\", \"pixel_size_mm\") but its ",
                    "header has ", table.header_list());
        const std::size_t c_image = table.column("image"), c_mask = table.column("mask");
        constexpr std::size_t none = std::size_t(-1);  // an optional column that is absent
        const std::size_t c_subject = table.has_column("subject") ? table.column("subject") : none;
        const std::size_t c_ps = table.has_column("pixel_size_mm") ? table.column("pixel_size_mm") : none;
        if (options_.label_set) {
            labels_ = options_.label_set->binary ? *options_.label_set : validated_label_set(*options_.label_set, csv_path);
            detect_ = false;
        }
        const fs::path base = fs::path(csv_path).parent_path();
        auto resolve = [&](const std::string& p) { return fs::path(p).is_absolute() ? p : (base / p).string(); };
        std::vector<std::string> problems;
        std::error_code ec;
        for (std::size_t r = 0; r < table.size(); ++r) {
            const auto& row = table.rows[r];
            const std::string where = "line " + std::to_string(table.row_lines[r]) + ": ";
            Entry e;
            if (row[c_image].empty()) {
                problems.push_back(where + "the \"image\" cell is empty");
                continue;
            }
            e.image = resolve(row[c_image]);
            if (!fs::is_regular_file(e.image, ec)) problems.push_back(where + "the image '" + e.image + "' does not exist");
            if (!row[c_mask].empty()) {
                e.mask = resolve(row[c_mask]);
                if (!fs::is_regular_file(e.mask, ec)) problems.push_back(where + "the mask '" + e.mask + "' does not exist");
            }
            e.id = fs::path(row[c_image]).stem().string();
            e.subject = c_subject != none && !row[c_subject].empty() ? row[c_subject] : e.id;
            if (c_ps != none && !row[c_ps].empty()) {
                const double ps = parse_csv_number(row[c_ps], table, r, "pixel_size_mm");
                FBSEG_CHECK(ps > 0, "CsvManifestDataset: '", csv_path, "': line ", table.row_lines[r], ": the pixel ",
                            "size ", ps, " mm is not > 0");
                e.pixel_size_mm = ps;
            }
            entries_.push_back(std::move(e));
        }
        if (!problems.empty())
            FBSEG_FAIL("CsvManifestDataset: '", csv_path, "': ", problems.size(), " problem(s):", folder_detail::list(problems));
        FBSEG_CHECK(!entries_.empty(), "CsvManifestDataset: '", csv_path, "' lists no image");
    }

    std::size_t size() const override { return entries_.size(); }
    std::string subject(std::size_t index) const override { return entry(index).subject; }
    LabelSet label_set() const override { return labels_; }

    Sample get(std::size_t index) const override {
        const Entry& e = entry(index);
        Sample s = folder_detail::read_pair(e.image, e.mask, labels_, detect_, options_.image, "CsvManifestDataset");
        s.id = e.id;
        s.subject = e.subject;
        if (e.pixel_size_mm) s.spacing_mm = std::array<double, 2>{*e.pixel_size_mm, *e.pixel_size_mm};
        return s;
    }

private:
    struct Entry {
        std::string id, image, mask, subject;
        std::optional<double> pixel_size_mm;
    };
    const Entry& entry(std::size_t index) const {
        FBSEG_CHECK(index < entries_.size(), "CsvManifestDataset: index ", index, " out of range (", entries_.size(),
                    " rows)");
        return entries_[index];
    }
    ManifestOptions options_;
    LabelSet labels_ = LabelSet::binary_mask();
    bool detect_ = true;
    std::vector<Entry> entries_;
};

}  // namespace fbseg::data
