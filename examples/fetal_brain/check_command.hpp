// check_command.hpp - `fbseg check DATA`: reads the whole dataset as training would and prints
// what it found (samples, subjects, sizes, channels, label set and class frequencies, spacing,
// references) and every problem, before any training time is spent (nnU-Net's
// --verify_dataset_integrity as a command of its own). Every sample is read (pixels and labels),
// and a sample that fails is listed with its reason; reading goes on with the next one.
#pragma once

#include <algorithm>
#include <cstdint>
#include <iomanip>
#include <iostream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <fbseg/fbseg.hpp>

#include "open_dataset.hpp"

namespace fbseg::app {

struct CheckOptions {
    std::string data;
    std::string format = "auto";
    std::size_t max_problems_shown = 50;
};

struct CheckReport {
    std::size_t samples = 0, read = 0, with_label = 0, with_spacing = 0, with_hc = 0;
    std::set<std::string> subjects;
    std::map<std::pair<std::int64_t, std::int64_t>, std::size_t> sizes;  // {H, W} -> count
    std::map<std::int64_t, std::size_t> channels;                       // C -> count
    std::map<std::int64_t, std::int64_t> class_pixels;                  // label value -> pixels
    double spacing_min = 0, spacing_max = 0;
    std::vector<std::string> problems;
};

/// Reads every sample of `dataset` into a report (problems collected, never thrown).
inline CheckReport check_dataset(const data::Dataset& dataset) {
    CheckReport r;
    r.samples = dataset.size();
    try {
        check_headers(dataset);
    } catch (const std::exception& e) {
        r.problems.push_back(e.what());
    }
    const data::LabelSet labels = dataset.label_set();
    for (std::size_t i = 0; i < dataset.size(); ++i) {
        data::Sample s;
        try {
            s = dataset.get(i);
        } catch (const std::exception& e) {
            r.problems.push_back("sample " + std::to_string(i) + ": " + e.what());
            continue;
        }
        ++r.read;
        r.subjects.insert(s.subject);
        ++r.sizes[{s.height(), s.width()}];
        ++r.channels[s.channels()];
        if (s.has_label()) {
            ++r.with_label;
            const std::int64_t* p = s.label.data_ptr<std::int64_t>();
            for (std::int64_t k = 0, n = s.label.numel(); k < n; ++k) ++r.class_pixels[p[k]];
        }
        if (s.spacing_mm) {
            const double lo = std::min((*s.spacing_mm)[0], (*s.spacing_mm)[1]);
            const double hi = std::max((*s.spacing_mm)[0], (*s.spacing_mm)[1]);
            r.spacing_min = r.with_spacing == 0 ? lo : std::min(r.spacing_min, lo);
            r.spacing_max = r.with_spacing == 0 ? hi : std::max(r.spacing_max, hi);
            ++r.with_spacing;
        }
        if (s.head_circumference_mm) ++r.with_hc;
    }
    // a declared class that never occurs is worth a line; a binary mask set with no foreground too
    if (r.with_label > 0)
        for (const auto& [name, value] : labels.labels)
            if (r.class_pixels.count(value) == 0)
                r.problems.push_back("class " + std::to_string(value) + " (" + name + ") occurs in no label map");
    return r;
}

inline void print_report(std::ostream& out, const std::string& path, const char* format, const data::Dataset& dataset,
                         const CheckReport& r, std::size_t max_problems) {
    out << "data      " << path << " (" << format << ")\n";
    out << "samples   " << r.samples << " (" << r.read << " read), " << r.subjects.size()
        << " subjects (a split keeps each subject on one side)\n";
    out << "sizes     ";
    std::size_t shown = 0;
    for (const auto& [hw, n] : r.sizes) {
        if (shown++ == 6) {
            out << "... (" << r.sizes.size() << " sizes)";
            break;
        }
        out << (shown > 1 ? "  " : "") << hw.first << "x" << hw.second << " (" << n << ")";
    }
    out << "\nchannels  ";
    for (auto it = r.channels.begin(); it != r.channels.end(); ++it)
        out << (it == r.channels.begin() ? "" : "  ") << it->first << " (" << it->second << ")";
    out << "\nlabels    " << r.with_label << " of " << r.read << " samples have a reference\n";
    const data::LabelSet labels = dataset.label_set();
    out << "classes   " << (labels.binary ? "binary (mask value > 0 is foreground)" : "declared label set") << "\n";
    std::int64_t total = 0;
    for (const auto& [v, n] : r.class_pixels) total += n;
    for (const auto& [name, value] : labels.labels) {
        const auto it = r.class_pixels.find(value);
        const std::int64_t n = it == r.class_pixels.end() ? 0 : it->second;
        out << "  " << std::setw(3) << value << " " << std::left << std::setw(18) << name << std::right
            << std::setw(12) << n << " px  " << std::fixed << std::setprecision(2)
            << (total > 0 ? 100.0 * double(n) / double(total) : 0.0) << " %\n";
        out.unsetf(std::ios::fixed);
    }
    if (r.with_spacing > 0)
        out << "spacing   " << r.spacing_min << " - " << r.spacing_max << " mm per pixel (" << r.with_spacing << " of "
            << r.read << " samples)\n";
    else
        out << "spacing   unknown (metrics will be in pixels)\n";
    if (r.with_hc > 0) out << "HC        " << r.with_hc << " samples know their head circumference\n";
    if (r.problems.empty()) {
        out << "problems  none\n";
        return;
    }
    out << "problems  " << r.problems.size() << "\n";
    for (std::size_t k = 0; k < r.problems.size() && k < max_problems; ++k) out << "  - " << r.problems[k] << "\n";
    if (r.problems.size() > max_problems) out << "  ... and " << r.problems.size() - max_problems << " more\n";
}

/// `fbseg check`: 0 when the dataset has no problem, 1 otherwise.
inline int run_check(const CheckOptions& options) {
    DataFormat format = parse_format(options.format);
    if (format == DataFormat::automatic) format = detect_format(options.data);
    std::unique_ptr<data::Dataset> dataset;
    try {
        dataset = open_dataset(options.data, format);
    } catch (const std::exception& e) {
        std::cout << "data      " << options.data << " (" << format_name(format) << ")\n"
                  << "problems  the dataset cannot be opened:\n  - " << e.what() << "\n";
        return 1;
    }
    const CheckReport report = check_dataset(*dataset);
    print_report(std::cout, options.data, format_name(format), *dataset, report, options.max_problems_shown);
    return report.problems.empty() ? 0 : 1;
}

}  // namespace fbseg::app
