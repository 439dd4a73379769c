// fbseg/data/folder.hpp - a dataset of image/mask pairs in two folders:
//
//   <root>/images/<stem>.png|.jpg|.jpeg|.bmp     (read by read_image: float32 [C, H, W] in [0, 1])
//   <root>/masks/<stem>.png|.bmp                 (read by read_label_png: int64 [H, W] classes)
//
// Pairs are matched by file stem (the name without its extension). nnU-Net's channel suffix is
// accepted on images: "case_0000.png" pairs with the mask "case.png" (strip_channel_suffix,
// default on); any other _NNNN suffix (a second channel, "_0001") is an error, since a folder
// sample has one image file. Files with other extensions, and hidden files, are ignored. JPEG
// masks are refused (lossy compression changes the stored classes).
//
// Problems found when the dataset is opened, all listed in one error: an image without a mask,
// a mask without an image, two files with one stem (a.png and a.jpg; a_0000.png and a.png).
// check() then reads every pair's headers (stbi_info, no pixels) and lists the pairs whose sizes
// differ and the files that are not readable images: call it before training.
//
// Label set: FolderOptions::label_set when given; else <root>/labels.json or <root>/dataset.json
// (nnU-Net's, data/labels.hpp) when present; else binary, and each mask read must then store
// values within {0, 1} or {0, 255} (detect_label_set), so a multi-class mask is never silently
// merged into one class.
//
// Subject: the (suffix-stripped) stem, or, with subject_regex, the first capture group of the
// regex's first match in the stem (the whole match when it has no group); a stem it does not match
// is an error. get() is const and thread-safe: each call opens its own files.
#pragma once

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "fbseg/core/error.hpp"
#include "fbseg/data/data_library.hpp"
#include "fbseg/data/image_io.hpp"
#include "fbseg/data/labels.hpp"
#include "fbseg/data/sample.hpp"

#if FBSEG_DATA_DEFINITIONS
#include <regex>  // the subject pattern, matched only where the definitions are compiled
#endif

namespace fbseg::data {

namespace folder_detail {

inline std::string lower(std::string s) {
    for (auto& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

inline std::string list(const std::vector<std::string>& items, std::size_t limit = 20) {
    std::string out;
    for (std::size_t k = 0; k < items.size() && k < limit; ++k) out += "\n  " + items[k];
    if (items.size() > limit) out += "\n  ... and " + std::to_string(items.size() - limit) + " more";
    return out;
}

/// Reads a labelled pair into a Sample; `detect`: the mask must be binary-like (no declared set).
inline Sample read_pair(const std::string& image_path, const std::string& mask_path, const LabelSet& labels,
                        bool detect, const ImageReadOptions& options, const char* op) {
    Sample s;
    s.image = read_image(image_path, options);
    s.source = image_path;
    s.original_size = {s.height(), s.width()};
    if (mask_path.empty()) return s;
    const Tensor raw = read_mask_values(mask_path, options);
    FBSEG_CHECK(raw.shape()[0] == s.height() && raw.shape()[1] == s.width(), op, ": the image '", image_path, "' is ",
                s.height(), " x ", s.width(), " but its mask '", mask_path, "' is ", raw.shape()[0], " x ",
                raw.shape()[1]);
    s.label = to_class_indices(raw, detect ? detect_label_set(raw, mask_path) : labels, mask_path);
    s.source += " + " + mask_path;
    return s;
}

/// The label set of a folder: given, or labels.json / dataset.json in `folder`, or detected binary.
inline std::pair<LabelSet, bool> resolve_label_set(const std::optional<LabelSet>& given, const std::filesystem::path& folder) {
    if (given) return {given->binary ? *given : validated_label_set(*given, folder.string()), false};
    std::error_code ec;
    for (const char* name : {"labels.json", "dataset.json"}) {
        const auto path = folder / name;
        if (std::filesystem::is_regular_file(path, ec)) return {read_label_set(path.string()), false};
    }
    return {LabelSet::binary_mask(), true};
}

}  // namespace folder_detail

struct FolderOptions {
    std::string images_dir = "images";
    std::string masks_dir = "masks";
    /// The classes of the masks; none: <root>/labels.json or dataset.json, else binary (top of file).
    std::optional<LabelSet> label_set = {};
    /// ECMAScript regex whose first group (or whole match) in the stem is the subject; "" = stem.
    std::string subject_regex = {};
    /// Pair "case_0000.<ext>" images with "case.<ext>" masks (nnU-Net's channel suffix).
    bool strip_channel_suffix = true;
    ImageReadOptions image = {};
};

class FolderDataset : public Dataset {
public:
    /// Lists the pairs of <root>/<images_dir> and <root>/<masks_dir> (see the top of the file).
    explicit FolderDataset(const std::string& root, FolderOptions options = {});

    std::size_t size() const override { return entries_.size(); }
    std::string subject(std::size_t index) const override { return entry(index).subject; }
    LabelSet label_set() const override { return labels_; }

    Sample get(std::size_t index) const override {
        const Entry& e = entry(index);
        Sample s = folder_detail::read_pair(e.image, e.mask, labels_, detect_, options_.image, "FolderDataset");
        s.id = e.id;
        s.subject = e.subject;
        return s;
    }

    /// Reads every pair's headers (no pixels) and throws one error listing every unreadable file
    /// and every pair whose sizes differ.
    void check() const {
        std::vector<std::string> problems;
        for (const auto& e : entries_) {
            ImageInfo a, b;
            try {
                a = read_image_info(e.image);
                b = read_image_info(e.mask);
            } catch (const Error& err) {
                problems.push_back(err.what());
                continue;
            }
            if (a.width != b.width || a.height != b.height)
                problems.push_back("the image '" + e.image + "' is " + std::to_string(a.height) + " x " +
                                   std::to_string(a.width) + " but its mask '" + e.mask + "' is " +
                                   std::to_string(b.height) + " x " + std::to_string(b.width) + " (rows x columns)");
        }
        if (!problems.empty())
            FBSEG_FAIL("FolderDataset::check: ", problems.size(), " problem(s):", folder_detail::list(problems));
    }

private:
    struct Entry {
        std::string id, image, mask, subject;
    };
    const Entry& entry(std::size_t index) const {
        FBSEG_CHECK(index < entries_.size(), "FolderDataset: index ", index, " out of range (", entries_.size(), " pairs)");
        return entries_[index];
    }
    FolderOptions options_;
    LabelSet labels_;
    bool detect_ = false;
    std::vector<Entry> entries_;
};

#if FBSEG_DATA_DEFINITIONS
namespace folder_detail {
/// The subject of a stem: the stem, or regex's first group (or whole match).
inline std::string subject_of(const std::string& stem, const std::optional<std::regex>& regex,
                              const std::string& regex_text, const char* op) {
    if (!regex) return stem;
    std::smatch m;
    FBSEG_CHECK(std::regex_search(stem, m, *regex), op, ": the subject pattern \"", regex_text,
                "\" does not match the stem \"", stem, "\"");
    return m.size() > 1 && m[1].matched ? m[1].str() : m[0].str();
}

}  // namespace folder_detail

FBSEG_DATA FolderDataset::FolderDataset(const std::string& root, FolderOptions options) : options_(std::move(options)) {
    namespace fs = std::filesystem;
    namespace d = folder_detail;
    const fs::path images = fs::path(root) / options_.images_dir, masks = fs::path(root) / options_.masks_dir;
    std::error_code ec;
    FBSEG_CHECK(fs::is_directory(images, ec) && fs::is_directory(masks, ec), "FolderDataset: '", root,
                "' must hold the folders '", images.string(), "'", fs::is_directory(images, ec) ? "" : " (missing)",
                " and '", masks.string(), "'", fs::is_directory(masks, ec) ? "" : " (missing)");
    std::tie(labels_, detect_) = d::resolve_label_set(options_.label_set, root);
    std::optional<std::regex> regex;
    if (!options_.subject_regex.empty()) {
        try {
            regex.emplace(options_.subject_regex);
        } catch (const std::regex_error& e) {
            FBSEG_FAIL("FolderDataset: the subject pattern \"", options_.subject_regex, "\" is not a valid regex: ",
                       e.what());
        }
    }

    std::vector<std::string> problems;
    // stem -> file; a second file with the same stem is a problem.
    auto scan = [&](const fs::path& dir, bool is_image) {
        std::map<std::string, std::string> by_stem;
        std::vector<fs::path> files;
        for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) files.push_back(it->path());
        FBSEG_CHECK(!ec, "FolderDataset: cannot list '", dir.string(), "': ", ec.message());
        std::sort(files.begin(), files.end());
        for (const auto& path : files) {
            const std::string name = path.filename().string(), ext = d::lower(path.extension().string());
            if (name.empty() || name[0] == '.' || !fs::is_regular_file(path, ec)) continue;
            const bool image_ext = ext == ".png" || ext == ".jpg" || ext == ".jpeg" || ext == ".bmp";
            if (!image_ext) continue;
            if (!is_image && (ext == ".jpg" || ext == ".jpeg")) {
                problems.push_back("'" + path.string() + "' is a JPEG mask (lossy: its classes are not exact); "
                                   "save masks as PNG");
                continue;
            }
            std::string stem = path.stem().string();
            if (is_image && options_.strip_channel_suffix) {
                static const std::regex channel(R"(^(.*)_([0-9]{4})$)");
                std::smatch m;
                if (std::regex_match(stem, m, channel)) {
                    if (m[2].str() != "0000") {
                        problems.push_back("'" + path.string() + "' has the channel suffix _" + m[2].str() +
                                           ": a folder sample has one image file (_0000)");
                        continue;
                    }
                    stem = m[1].str();
                }
            }
            const auto [it, fresh] = by_stem.emplace(stem, path.string());
            if (!fresh)
                problems.push_back("'" + it->second + "' and '" + path.string() + "' have the same stem \"" + stem + "\"");
        }
        return by_stem;
    };
    const auto image_files = scan(images, true), mask_files = scan(masks, false);
    for (const auto& [stem, path] : image_files)
        if (!mask_files.count(stem))
            problems.push_back("the image '" + path + "' has no mask '" + (masks / stem).string() + ".png'");
    for (const auto& [stem, path] : mask_files)
        if (!image_files.count(stem))
            problems.push_back("the mask '" + path + "' has no image '" + (images / stem).string() + ".png' (or " +
                               ".jpg, .jpeg, .bmp)");
    if (!problems.empty())
        FBSEG_FAIL("FolderDataset: '", root, "': ", problems.size(), " problem(s) with the files:", d::list(problems));
    FBSEG_CHECK(!image_files.empty(), "FolderDataset: '", images.string(), "' holds no image (.png, .jpg, .jpeg, .bmp)");
    for (const auto& [stem, path] : image_files) {
        Entry e;
        e.id = stem;
        e.image = path;
        e.mask = mask_files.at(stem);
        e.subject = d::subject_of(stem, regex, options_.subject_regex, "FolderDataset");
        entries_.push_back(std::move(e));
    }
}
#endif  // FBSEG_DATA_DEFINITIONS

}  // namespace fbseg::data
