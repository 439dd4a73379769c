// fbseg/data/hc18.hpp - the HC18 fetal head ultrasound challenge as published (Zenodo 1327317):
//
//   <root>/training_set/NNN_HC.png              a frame (grey, 800 x 540 in the challenge)
//   <root>/training_set/NNN_HC_Annotation.png   its reference: a 1-pixel white ellipse outline
//   <root>/training_set/NNN_2HC.png, NNN_3HC.png ...   more frames of fetus NNN, each with its
//                                                      NNN_kHC_Annotation.png
//   <root>/training_set_pixel_size_and_HC.csv   columns "filename", "pixel size(mm)",
//                                               "head circumference (mm)" (found by name)
//   <root>/test_set/NNN_HC.png ...              frames without reference
//   <root>/test_set_pixel_size.csv              columns "filename", "pixel size(mm)"
//
// Each sample: image float32 [1, H, W] in [0, 1] at the file's own size (no resize); label int64
// [H, W] the FILLED head (training split; undefined for the test split); id the file stem
// ("010_2HC"); subject NNN, so that every frame of one fetus lands in one split; spacing_mm
// {ps, ps}; head_circumference_mm from the CSV; original_size {H, W}. Every frame is used.
//
// The fill (fill_holes) is scipy.ndimage.binary_fill_holes with its default structure, as
// nnU-Net's HC18 conversion uses: the background (annotation value 0) is flood-filled from the
// image border through 4-connected steps; every pixel not reached is foreground, the outline
// included. An outline the border cuts open (the head runs out of the frame) encloses nothing that
// way, and scipy would leave the bare outline; Hc18Options::open_outline says what to do instead:
//   FitEllipse (default)  fit the direct least-squares ellipse to the outline's pixel centres
//                         (metrics/ellipse.hpp) and take every pixel whose centre lies inside it,
//                         plus the outline: (u / a)^2 + (v / b)^2 <= 1 with (u, v) the pixel centre
//                         in the ellipse's axes. A fit that fails is an error naming the file.
//   Error                 an error naming the file.
//   KeepOutline           scipy's result, the bare outline.
// "Open" means the fill added no pixel to the outline.
//
// The CSV rows and the files must agree: a row without its image, an image without a row, a
// training image without its annotation, or an annotation without its image is an error naming
// them (all at once, checked when the dataset is opened). check() reads every header (no pixels)
// and lists unreadable files and annotations whose size differs from their frame's.
#pragma once

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "fbseg/core/error.hpp"
#include "fbseg/core/tensor.hpp"
#include "fbseg/data/csv.hpp"
#include "fbseg/data/image_io.hpp"
#include "fbseg/data/sample.hpp"
#include "fbseg/metrics/ellipse.hpp"

namespace fbseg::data {

/// scipy.ndimage.binary_fill_holes of a 0/1 int64 [H, W] mask (values > 0 are foreground), with
/// 4-connectivity: the background connected to the border stays 0, everything else becomes 1.
inline Tensor fill_holes(const Tensor& mask) {
    FBSEG_CHECK(mask.defined() && mask.dtype() == DType::Int64 && mask.dim() == 2 && mask.device().is_cpu() &&
                    mask.is_contiguous(),
                "fill_holes: expected a contiguous int64 [H, W] CPU mask but got ", mask.describe());
    const std::int64_t h = mask.shape()[0], w = mask.shape()[1], n = h * w;
    const std::int64_t* m = mask.data_ptr<std::int64_t>();
    std::vector<std::uint8_t> outside(std::size_t(n), 0);
    std::vector<std::int64_t> stack;
    auto seed = [&](std::int64_t i) {
        if (m[i] <= 0 && !outside[std::size_t(i)]) {
            outside[std::size_t(i)] = 1;
            stack.push_back(i);
        }
    };
    for (std::int64_t x = 0; x < w; ++x) {
        seed(x);
        seed((h - 1) * w + x);
    }
    for (std::int64_t y = 0; y < h; ++y) {
        seed(y * w);
        seed(y * w + w - 1);
    }
    while (!stack.empty()) {
        const std::int64_t i = stack.back();
        stack.pop_back();
        const std::int64_t y = i / w, x = i % w;
        if (y > 0) seed(i - w);
        if (y + 1 < h) seed(i + w);
        if (x > 0) seed(i - 1);
        if (x + 1 < w) seed(i + 1);
    }
    Tensor out = Tensor::empty({h, w}, DType::Int64);
    std::int64_t* o = out.data_ptr<std::int64_t>();
    for (std::int64_t i = 0; i < n; ++i) o[i] = outside[std::size_t(i)] ? 0 : 1;
    return out;
}

/// One row of an HC18 CSV.
struct Hc18Row {
    std::string filename = {};               // "010_2HC.png"
    double pixel_size_mm = 0.0;
    std::optional<double> head_circumference_mm = {};  // training CSV only
    std::int64_t line = 0;                   // where it stands in the CSV
};

/// The HC18 file name pattern NNN_HC.png / NNN_kHC.png (N, k decimal digits): the subject NNN, or
/// nullopt. (Matched by hand, not std::regex, whose recursive matcher can exhaust the stack on a
/// long field of a hostile CSV.)
inline std::optional<std::string> hc18_subject_of(const std::string& filename) {
    static const std::string tail = "HC.png";
    auto digit = [](char c) { return c >= '0' && c <= '9'; };
    std::size_t i = 0;
    while (i < filename.size() && digit(filename[i])) ++i;
    if (i == 0 || i >= filename.size() || filename[i] != '_') return std::nullopt;
    const std::string subject = filename.substr(0, i);
    ++i;
    while (i < filename.size() && digit(filename[i])) ++i;
    if (filename.size() - i != tail.size() || filename.compare(i, tail.size(), tail) != 0) return std::nullopt;
    return subject;
}

/// The rows of an HC18 CSV table: columns "filename" and "pixel size(mm)" (and, when
/// `training`, "head circumference (mm)") found by header name; each file name must follow the
/// HC18 pattern and appear once; sizes must be finite and > 0.
inline std::vector<Hc18Row> hc18_rows(const CsvTable& table, bool training) {
    const std::size_t c_file = table.column("filename");
    const std::size_t c_ps = table.column("pixel size(mm)");
    const std::size_t c_hc = training ? table.column("head circumference (mm)") : 0;
    std::vector<Hc18Row> rows;
    std::map<std::string, std::int64_t> seen;
    for (std::size_t r = 0; r < table.size(); ++r) {
        Hc18Row row;
        row.line = table.row_lines[r];
        row.filename = table.rows[r][c_file];
        FBSEG_CHECK(hc18_subject_of(row.filename).has_value(), "HC18 CSV '", table.source, "': line ", row.line,
                    ": the filename \"", row.filename, "\" is not an HC18 frame name (NNN_HC.png or NNN_kHC.png)");
        const auto [it, fresh] = seen.emplace(row.filename, row.line);
        FBSEG_CHECK(fresh, "HC18 CSV '", table.source, "': \"", row.filename, "\" appears on line ", it->second,
                    " and again on line ", row.line);
        row.pixel_size_mm = parse_csv_number(table.rows[r][c_ps], table, r, "pixel size(mm)");
        FBSEG_CHECK(row.pixel_size_mm > 0, "HC18 CSV '", table.source, "': line ", row.line, ": the pixel size ",
                    row.pixel_size_mm, " mm is not > 0");
        if (training) {
            const double hc = parse_csv_number(table.rows[r][c_hc], table, r, "head circumference (mm)");
            FBSEG_CHECK(hc > 0, "HC18 CSV '", table.source, "': line ", row.line, ": the head circumference ", hc,
                        " mm is not > 0");
            row.head_circumference_mm = hc;
        }
        rows.push_back(std::move(row));
    }
    return rows;
}

enum class Hc18Split { Training, Test };

/// What becomes of an annotation whose outline encloses no pixel (top of file).
enum class OpenOutline { FitEllipse, Error, KeepOutline };

/// The head region of an HC18 annotation (0/1 int64 [H, W] outline): fill_holes, and for an open
/// outline what `open` says (top of file). `source` names the annotation in errors.
inline Tensor fill_head_annotation(const Tensor& outline, OpenOutline open, const std::string& source) {
    Tensor filled = fill_holes(outline);
    const std::int64_t h = outline.shape()[0], w = outline.shape()[1];
    const std::int64_t* a = outline.data_ptr<std::int64_t>();
    std::int64_t* f = filled.data_ptr<std::int64_t>();
    std::int64_t before = 0, after = 0;
    for (std::int64_t i = 0; i < h * w; ++i) {
        before += a[i] > 0;
        after += f[i];
    }
    if (after > before || open == OpenOutline::KeepOutline) return filled;
    FBSEG_CHECK(open == OpenOutline::FitEllipse, "Hc18Dataset: the annotation '", source, "' (", before,
                " outline pixels) encloses no pixel: its outline is not closed (cut by the image border?), so ",
                "filling it gives the bare outline (OpenOutline::Error; FitEllipse fits an ellipse, KeepOutline ",
                "keeps the outline)");
    std::vector<metrics::Point2> points;
    for (std::int64_t y = 0; y < h; ++y)
        for (std::int64_t x = 0; x < w; ++x)
            if (a[y * w + x] > 0) points.push_back({double(x), double(y)});
    const metrics::Ellipse e = metrics::fit_ellipse(points);
    FBSEG_CHECK(e.defined() && e.semi_axis_b > 0, "Hc18Dataset: the annotation '", source, "' (", before,
                " outline pixels) encloses no pixel and no ellipse fits it: ",
                e.defined() ? std::string("a degenerate ellipse") : e.reason);
    const double c = std::cos(e.angle_rad), s = std::sin(e.angle_rad);
    for (std::int64_t y = 0; y < h; ++y)
        for (std::int64_t x = 0; x < w; ++x) {
            const double dx = double(x) - e.center_x, dy = double(y) - e.center_y;
            const double u = (dx * c + dy * s) / e.semi_axis_a, v = (-dx * s + dy * c) / e.semi_axis_b;
            if (u * u + v * v <= 1.0) f[y * w + x] = 1;
        }
    return filled;
}

struct Hc18Options {
    Hc18Split split = Hc18Split::Training;
    /// An annotation whose outline encloses no pixel (cut open by the image border): top of file.
    OpenOutline open_outline = OpenOutline::FitEllipse;
    ImageReadOptions image = {};
};

class Hc18Dataset : public Dataset {
public:
    explicit Hc18Dataset(const std::string& root, Hc18Options options = {}) : options_(options) {
        namespace fs = std::filesystem;
        const bool training = options.split == Hc18Split::Training;
        const std::string folder_name = training ? "training_set" : "test_set";
        const std::string csv_name = training ? "training_set_pixel_size_and_HC.csv" : "test_set_pixel_size.csv";
        const fs::path folder = fs::path(root) / folder_name, csv = fs::path(root) / csv_name;
        std::error_code ec;
        FBSEG_CHECK(fs::is_directory(root, ec), "Hc18Dataset: the root '", root, "' is not a folder");
        const bool has_folder = fs::is_directory(folder, ec), has_csv = fs::is_regular_file(csv, ec);
        if (!has_folder || !has_csv) {
            const bool looks_inside = fs::exists(fs::path(root) / "000_HC.png", ec) ||
                                      fs::exists(fs::path(root) / "001_HC.png", ec);
            FBSEG_FAIL("Hc18Dataset: '", root, "' is not an HC18 folder: ",
                       !has_folder ? "missing the folder '" + folder.string() + "'" : std::string(),
                       !has_folder && !has_csv ? " and " : "",
                       !has_csv ? "missing the CSV '" + csv.string() + "' (an HC18 folder without its CSV)" : std::string(),
                       looks_inside ? "; this looks like the frames' folder itself: pass the folder that holds it "
                                      "and the CSV" : "",
                       ". Expected <root>/", folder_name, "/ and <root>/", csv_name, " as published");
        }
        const auto rows = hc18_rows(read_csv(csv.string()), training);

        // The files: frames (NNN_[k]HC.png) and annotations (NNN_[k]HC_Annotation.png).
        std::set<std::string> frames, annotations;
        std::vector<std::string> names;
        for (fs::directory_iterator it(folder, ec), end; !ec && it != end; it.increment(ec))
            if (it->is_regular_file(ec)) names.push_back(it->path().filename().string());
        FBSEG_CHECK(!ec, "Hc18Dataset: cannot list '", folder.string(), "': ", ec.message());
        for (const std::string& name : names) {
            static const std::string suffix = "_Annotation.png";
            if (name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
                annotations.insert(name.substr(0, name.size() - suffix.size()) + ".png");
            } else if (hc18_subject_of(name)) {
                frames.insert(name);
            }
        }
        std::vector<std::string> problems;
        std::set<std::string> in_csv;
        for (const auto& row : rows) {
            in_csv.insert(row.filename);
            if (!frames.count(row.filename))
                problems.push_back("line " + std::to_string(row.line) + " of '" + csv.string() + "' names \"" +
                                   row.filename + "\" but '" + (folder / row.filename).string() + "' does not exist");
        }
        for (const auto& f : frames) {
            if (!in_csv.count(f))
                problems.push_back("'" + (folder / f).string() + "' has no row in '" + csv.string() + "'");
            if (training && !annotations.count(f))
                problems.push_back("'" + (folder / f).string() + "' has no annotation '" +
                                   (folder / (f.substr(0, f.size() - 4) + "_Annotation.png")).string() + "'");
        }
        for (const auto& a : annotations)
            if (!frames.count(a))
                problems.push_back("the annotation '" + (folder / (a.substr(0, a.size() - 4) + "_Annotation.png")).string() +
                                   "' has no frame '" + (folder / a).string() + "'");
        if (!problems.empty()) {
            std::string list;
            for (std::size_t k = 0; k < problems.size() && k < 20; ++k) list += "\n  " + problems[k];
            if (problems.size() > 20) list += "\n  ... and " + std::to_string(problems.size() - 20) + " more";
            FBSEG_FAIL("Hc18Dataset: '", root, "': the CSV and the files of ", folder_name, " disagree (",
                       problems.size(), " problems):", list);
        }
        FBSEG_CHECK(!rows.empty(), "Hc18Dataset: '", csv.string(), "' lists no frames");
        for (const auto& row : rows) {
            Entry e;
            e.image = (folder / row.filename).string();
            e.id = row.filename.substr(0, row.filename.size() - 4);
            if (training) e.annotation = (folder / (e.id + "_Annotation.png")).string();
            e.subject = *hc18_subject_of(row.filename);
            e.pixel_size_mm = row.pixel_size_mm;
            e.head_circumference_mm = row.head_circumference_mm;
            entries_.push_back(std::move(e));
        }
        std::sort(entries_.begin(), entries_.end(), [](const Entry& a, const Entry& b) { return a.id < b.id; });
    }

    std::size_t size() const override { return entries_.size(); }
    std::string subject(std::size_t index) const override { return entry(index).subject; }

    Sample get(std::size_t index) const override {
        const Entry& e = entry(index);
        Sample s;
        ImageReadOptions grey = options_.image;
        grey.keep_channels = false;  // HC18's frames are grey
        s.image = read_image(e.image, grey);
        s.id = e.id;
        s.subject = e.subject;
        s.source = e.image;
        s.spacing_mm = std::array<double, 2>{e.pixel_size_mm, e.pixel_size_mm};
        s.head_circumference_mm = e.head_circumference_mm;
        s.original_size = {s.height(), s.width()};
        if (!e.annotation.empty()) {
            const Tensor outline = read_label_png(e.annotation, LabelSet::binary_mask(), options_.image);
            FBSEG_CHECK(outline.shape()[0] == s.height() && outline.shape()[1] == s.width(), "Hc18Dataset: the ",
                        "annotation '", e.annotation, "' is ", outline.shape()[0], " x ", outline.shape()[1],
                        " but its frame '", e.image, "' is ", s.height(), " x ", s.width());
            s.label = fill_head_annotation(outline, options_.open_outline, e.annotation);
            s.source += " + " + e.annotation;
        }
        return s;
    }

    /// Reads every frame's and annotation's header (no pixels) and throws one error listing the
    /// unreadable files and the annotations whose size differs from their frame's.
    void check() const {
        std::vector<std::string> problems;
        for (const auto& e : entries_) {
            try {
                const ImageInfo a = read_image_info(e.image);
                if (e.annotation.empty()) continue;
                const ImageInfo b = read_image_info(e.annotation);
                if (a.width != b.width || a.height != b.height)
                    problems.push_back("the annotation '" + e.annotation + "' is " + std::to_string(b.height) + " x " +
                                       std::to_string(b.width) + " but its frame '" + e.image + "' is " +
                                       std::to_string(a.height) + " x " + std::to_string(a.width) + " (rows x columns)");
            } catch (const Error& err) {
                problems.push_back(err.what());
            }
        }
        if (!problems.empty()) {
            std::string list;
            for (std::size_t k = 0; k < problems.size() && k < 20; ++k) list += "\n  " + problems[k];
            if (problems.size() > 20) list += "\n  ... and " + std::to_string(problems.size() - 20) + " more";
            FBSEG_FAIL("Hc18Dataset::check: ", problems.size(), " problem(s):", list);
        }
    }

    /// The file names the dataset read, by index (for reports).
    const std::string& image_path(std::size_t index) const { return entry(index).image; }

private:
    struct Entry {
        std::string image, annotation, id, subject;
        double pixel_size_mm = 0.0;
        std::optional<double> head_circumference_mm;
    };
    const Entry& entry(std::size_t index) const {
        FBSEG_CHECK(index < entries_.size(), "Hc18Dataset: index ", index, " out of range (", entries_.size(), " frames)");
        return entries_[index];
    }
    Hc18Options options_;
    std::vector<Entry> entries_;
};

}  // namespace fbseg::data
