// report.hpp - RUN/report.html: one self-contained page about a training run (no network, no
// script: the curves are inline SVG, the pictures PNG data URIs), written by `fbseg train` when it
// ends and by `fbseg report RUN` at any time.
//
//   curves      train and validation loss, validation Dice per class, learning rate, epoch
//               time; the best epoch marked
//   provenance  the options, the command line, the commit and build, device, threads, dataset
//   split       subjects and samples on each side, and the check that no subject is on both
//   cases       every validation case's Dice (and, for ultrasound, predicted against reference
//               head circumference), from the best checkpoint at the image's own size
//   gallery     the three best and three worst validation cases: the image with the reference
//               contour (green) and the predicted one (red)
//   HC          ultrasound: predicted against reference HC (with the identity line) and a
//               Bland-Altman plot (difference against mean, with the mean difference and its
//               95 % limits of agreement, mean +- 1.96 sd)
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <numbers>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <fbseg/fbseg.hpp>
#include <nlohmann/json.hpp>

#include "inference.hpp"

namespace fbseg::app {

namespace report_detail {

inline std::string escape(const std::string& s) {
    std::string out;
    for (char c : s) {
        switch (c) {
            case '&': out += "&amp;"; break;
            case '<': out += "&lt;"; break;
            case '>': out += "&gt;"; break;
            case '"': out += "&quot;"; break;
            default: out += c;
        }
    }
    return out;
}

inline std::string base64(const std::string& bytes) {
    static const char* table = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    std::size_t i = 0;
    for (; i + 2 < bytes.size(); i += 3) {
        const unsigned v = (unsigned(std::uint8_t(bytes[i])) << 16) | (unsigned(std::uint8_t(bytes[i + 1])) << 8) |
                           unsigned(std::uint8_t(bytes[i + 2]));
        out += table[v >> 18], out += table[(v >> 12) & 63], out += table[(v >> 6) & 63], out += table[v & 63];
    }
    if (i < bytes.size()) {
        unsigned v = unsigned(std::uint8_t(bytes[i])) << 16;
        if (i + 1 < bytes.size()) v |= unsigned(std::uint8_t(bytes[i + 1])) << 8;
        out += table[v >> 18], out += table[(v >> 12) & 63];
        out += i + 1 < bytes.size() ? table[(v >> 6) & 63] : '=';
        out += '=';
    }
    return out;
}

inline std::string num(double v, int precision = 4) {
    if (std::isnan(v)) return "-";
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*g", precision, v);
    return buf;
}

/// metrics.csv as columns by name.
inline std::map<std::string, std::vector<double>> read_metrics(const std::filesystem::path& path) {
    std::ifstream in(path);
    FBSEG_CHECK(in.good(), "report: cannot read '", path.string(), "'");
    std::string line;
    std::getline(in, line);
    std::vector<std::string> names;
    {
        std::stringstream ss(line);
        std::string name;
        while (std::getline(ss, name, ',')) names.push_back(name);
    }
    std::map<std::string, std::vector<double>> cols;
    while (std::getline(in, line)) {
        std::stringstream ss(line);
        std::string cell;
        for (std::size_t k = 0; k < names.size() && std::getline(ss, cell, ','); ++k)
            cols[names[k]].push_back(cell == "nan" || cell.empty() ? std::nan("") : std::stod(cell));
    }
    return cols;
}

struct Series {
    std::string name, color;
    std::vector<double> x, y;
};

inline const char* kColours[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"};

/// An SVG chart of line series (or points, `points`), x and y axes with 5 ticks each, a legend,
/// and an optional vertical marker at x = marker (the best epoch). `identity` draws y = x.
inline std::string chart(const std::string& title, const std::string& x_label, const std::string& y_label,
                         const std::vector<Series>& series, double marker = std::nan(""), bool points = false,
                         bool identity = false, const std::vector<std::pair<double, std::string>>& hlines = {}) {
    constexpr double W = 460, H = 260, L = 56, R = 12, T = 28, B = 40;
    double x0 = 1e300, x1 = -1e300, y0 = 1e300, y1 = -1e300;
    for (const auto& s : series)
        for (std::size_t i = 0; i < s.x.size() && i < s.y.size(); ++i)
            if (std::isfinite(s.x[i]) && std::isfinite(s.y[i])) {
                x0 = std::min(x0, s.x[i]), x1 = std::max(x1, s.x[i]);
                y0 = std::min(y0, s.y[i]), y1 = std::max(y1, s.y[i]);
            }
    for (const auto& [y, label] : hlines) y0 = std::min(y0, y), y1 = std::max(y1, y);
    if (x0 > x1) x0 = 0, x1 = 1, y0 = 0, y1 = 1;
    if (identity) x0 = y0 = std::min(x0, y0), x1 = y1 = std::max(x1, y1);
    if (x1 - x0 < 1e-12) x0 -= 0.5, x1 += 0.5;
    if (y1 - y0 < 1e-12) y0 -= 0.5, y1 += 0.5;
    const double pad = 0.05 * (y1 - y0);
    y0 = y0 >= 0 ? std::max(0.0, y0 - pad) : y0 - pad;  // a non-negative quantity keeps a non-negative axis
    y1 += pad;
    auto px = [&](double x) { return L + (x - x0) / (x1 - x0) * (W - L - R); };
    auto py = [&](double y) { return H - B - (y - y0) / (y1 - y0) * (H - T - B); };
    std::ostringstream o;
    o << "<svg class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" width=\"" << W << "\" height=\"" << H
      << "\" viewBox=\"0 0 " << W << ' ' << H << "\">";
    o << "<rect x=\"0\" y=\"0\" width=\"" << W << "\" height=\"" << H << "\" fill=\"white\"/>";
    o << "<text x=\"" << W / 2 << "\" y=\"16\" text-anchor=\"middle\" font-size=\"13\" font-weight=\"bold\">"
      << escape(title) << "</text>";
    o << "<rect x=\"" << L << "\" y=\"" << T << "\" width=\"" << W - L - R << "\" height=\"" << H - T - B
      << "\" fill=\"none\" stroke=\"#999\"/>";
    for (int k = 0; k <= 4; ++k) {
        const double xv = x0 + (x1 - x0) * k / 4, yv = y0 + (y1 - y0) * k / 4;
        o << "<text x=\"" << px(xv) << "\" y=\"" << H - B + 14 << "\" text-anchor=\"middle\" font-size=\"10\">"
          << num(xv, 3) << "</text>";
        o << "<text x=\"" << L - 4 << "\" y=\"" << py(yv) + 3 << "\" text-anchor=\"end\" font-size=\"10\">" << num(yv, 3)
          << "</text>";
        o << "<line x1=\"" << L << "\" x2=\"" << W - R << "\" y1=\"" << py(yv) << "\" y2=\"" << py(yv)
          << "\" stroke=\"#eee\"/>";
    }
    o << "<text x=\"" << (L + W - R) / 2 << "\" y=\"" << H - 6 << "\" text-anchor=\"middle\" font-size=\"11\">"
      << escape(x_label) << "</text>";
    o << "<text x=\"12\" y=\"" << (T + H - B) / 2 << "\" text-anchor=\"middle\" font-size=\"11\" transform=\"rotate(-90 12 "
      << (T + H - B) / 2 << ")\">" << escape(y_label) << "</text>";
    if (identity)
        o << "<line x1=\"" << px(x0) << "\" y1=\"" << py(x0) << "\" x2=\"" << px(x1) << "\" y2=\"" << py(x1)
          << "\" stroke=\"#888\" stroke-dasharray=\"4 3\"/>";
    for (const auto& [y, label] : hlines)
        o << "<line x1=\"" << L << "\" x2=\"" << W - R << "\" y1=\"" << py(y) << "\" y2=\"" << py(y)
          << "\" stroke=\"#888\" stroke-dasharray=\"4 3\"/><text x=\"" << W - R - 2 << "\" y=\"" << py(y) - 3
          << "\" text-anchor=\"end\" font-size=\"10\" fill=\"#555\">" << escape(label) << "</text>";
    if (std::isfinite(marker))
        o << "<line x1=\"" << px(marker) << "\" x2=\"" << px(marker) << "\" y1=\"" << T << "\" y2=\"" << H - B
          << "\" stroke=\"#2ca02c\" stroke-dasharray=\"3 3\"/><text x=\""
          << (px(marker) > W - R - 30 ? px(marker) - 3 : px(marker) + 3) << "\" y=\"" << H - B - 4 << "\" text-anchor=\""
          << (px(marker) > W - R - 30 ? "end" : "start") << "\" font-size=\"10\" fill=\"#2ca02c\">best</text>";
    for (std::size_t s = 0; s < series.size(); ++s) {
        const Series& ser = series[s];
        if (points) {
            for (std::size_t i = 0; i < ser.x.size() && i < ser.y.size(); ++i)
                if (std::isfinite(ser.x[i]) && std::isfinite(ser.y[i]))
                    o << "<circle cx=\"" << px(ser.x[i]) << "\" cy=\"" << py(ser.y[i]) << "\" r=\"3\" fill=\""
                      << ser.color << "\"/>";
        } else {
            o << "<polyline fill=\"none\" stroke-width=\"2\" stroke=\"" << ser.color << "\" points=\"";
            for (std::size_t i = 0; i < ser.x.size() && i < ser.y.size(); ++i)
                if (std::isfinite(ser.x[i]) && std::isfinite(ser.y[i])) o << px(ser.x[i]) << ',' << py(ser.y[i]) << ' ';
            o << "\"/>";
        }
        o << "<rect x=\"" << L + 8 << "\" y=\"" << T + 6 + 14 * s << "\" width=\"10\" height=\"3\" fill=\"" << ser.color
          << "\"/><text x=\"" << L + 22 << "\" y=\"" << T + 11 + 14 * s << "\" font-size=\"10\">" << escape(ser.name)
          << "</text>";
    }
    o << "</svg>";
    return o.str();
}

/// The image (grey, [C, H, W] in [0, 1]) with the reference's outline in green and the
/// prediction's in red (a pixel of a region with a 4-neighbour outside it), as a PNG data URI.
/// Shown at most kPictureWidth pixels wide: the image and both label maps are first reduced by an
/// integer factor f (the image averaged over f x f blocks, the labels sampled at each block's
/// top-left pixel), so the page stays small (a few hundred KB for six pictures).
inline constexpr std::int64_t kPictureWidth = 320;

/// `ellipse` (ultrasound), when given and defined, is drawn in yellow over the outlines: the
/// ellipse fitted to the prediction, whose perimeter is the predicted head circumference.
inline std::string contour_picture(const Tensor& image, const Tensor& ref, const Tensor& pred,
                                   const metrics::Ellipse* ellipse = nullptr) {
    const Tensor full_grey = image.select(0, 0).contiguous();
    const std::int64_t fh = full_grey.size(0), fw = full_grey.size(1);
    const std::int64_t f = std::max<std::int64_t>(1, (fw + kPictureWidth - 1) / kPictureWidth);
    const std::int64_t h = fh / f, w = fw / f;
    FBSEG_CHECK(h > 0 && w > 0, "report: an image of ", fh, " x ", fw, " is too small to show");
    const std::vector<float> full = full_grey.to_vector<float>();
    const std::vector<std::int64_t> full_r = ref.contiguous().to_vector<std::int64_t>();
    const std::vector<std::int64_t> full_p = pred.contiguous().to_vector<std::int64_t>();
    std::vector<float> g(std::size_t(h * w));
    std::vector<std::int64_t> r(std::size_t(h * w)), p(std::size_t(h * w));
    for (std::int64_t y = 0; y < h; ++y)
        for (std::int64_t x = 0; x < w; ++x) {
            double sum = 0;
            for (std::int64_t dy = 0; dy < f; ++dy)
                for (std::int64_t dx = 0; dx < f; ++dx) sum += full[std::size_t((y * f + dy) * fw + x * f + dx)];
            const std::size_t i = std::size_t(y * w + x), src = std::size_t(y * f * fw + x * f);
            g[i] = float(sum / double(f * f));
            r[i] = full_r[src];
            p[i] = full_p[src];
        }
    auto edge = [&](const std::vector<std::int64_t>& m, std::int64_t y, std::int64_t x) {
        const std::int64_t v = m[std::size_t(y * w + x)];
        if (v == 0) return false;
        const std::int64_t ny[] = {y - 1, y + 1, y, y}, nx[] = {x, x, x - 1, x + 1};
        for (int k = 0; k < 4; ++k)
            if (ny[k] < 0 || ny[k] >= h || nx[k] < 0 || nx[k] >= w || m[std::size_t(ny[k] * w + nx[k])] != v) return true;
        return false;
    };
    std::vector<std::uint8_t> px(std::size_t(h * w * 3));
    for (std::int64_t y = 0; y < h; ++y)
        for (std::int64_t x = 0; x < w; ++x) {
            const std::size_t i = std::size_t(y * w + x);
            const auto v = std::uint8_t(std::lround(255.0 * std::clamp(double(g[i]), 0.0, 1.0)));
            std::uint8_t rgb[3] = {v, v, v};
            if (edge(r, y, x)) rgb[0] = 40, rgb[1] = 220, rgb[2] = 60;
            if (edge(p, y, x)) rgb[0] = 240, rgb[1] = 40, rgb[2] = 40;
            for (int c = 0; c < 3; ++c) px[i * 3 + std::size_t(c)] = rgb[c];
        }
    if (ellipse && ellipse->defined() && std::isfinite(ellipse->center_x) && std::isfinite(ellipse->semi_axis_a)) {
        // (x, y) = centre + a cos t (cos th, sin th) + b sin t (-sin th, cos th), in full-size
        // pixels, then divided by the reduction f; about two points per shown pixel of perimeter
        const double a = ellipse->semi_axis_a, b = ellipse->semi_axis_b, th = ellipse->angle_rad;
        const int n = std::max(64, int(2.0 * metrics::ramanujan_perimeter(a, b) / double(f)));
        for (int k = 0; k < n; ++k) {
            const double t = 2.0 * std::numbers::pi * k / n;
            const double x = ellipse->center_x + a * std::cos(t) * std::cos(th) - b * std::sin(t) * std::sin(th);
            const double y = ellipse->center_y + a * std::cos(t) * std::sin(th) + b * std::sin(t) * std::cos(th);
            const auto xi = std::int64_t(std::floor(x / double(f))), yi = std::int64_t(std::floor(y / double(f)));
            if (xi < 0 || xi >= w || yi < 0 || yi >= h) continue;
            const std::size_t i = std::size_t(yi * w + xi) * 3;
            px[i] = 255, px[i + 1] = 210, px[i + 2] = 0;
        }
    }
    return "data:image/png;base64," +
           base64(data::image_io_detail::encode_png(px, h, w, 3, "report picture", "report"));
}

struct ValCase {
    std::string id;
    double dice = std::nan("");
    double hc_pred = std::nan(""), hc_ref = std::nan("");
    metrics::Ellipse ellipse;  // ultrasound: the ellipse fitted to the prediction (pixels; NaN: none)
    std::size_t index = 0;
};

}  // namespace report_detail

/// Writes RUN/report.html from the run folder (config.json, metrics.csv, split.json, best.safetensors).
inline std::string write_report(const std::string& run_dir, const std::string& device = "cpu") {
    namespace fs = std::filesystem;
    using namespace report_detail;
    const fs::path dir = run_dir;
    const TrainedRun run = load_run(run_dir, "best", device);
    nlohmann::json config;
    {
        std::ifstream in(dir / "config.json");
        config = nlohmann::json::parse(in);
    }
    auto cols = read_metrics(dir / "metrics.csv");
    const std::vector<double>& epochs = cols["epoch"];
    double best_epoch = std::nan(""), best_dice = -1;
    for (std::size_t i = 0; i < epochs.size(); ++i)
        if (std::isfinite(cols["val_dice_mean"][i]) && cols["val_dice_mean"][i] > best_dice)
            best_dice = cols["val_dice_mean"][i], best_epoch = epochs[i];

    // validation cases from the best checkpoint, at each image's own size
    const std::unique_ptr<data::Dataset> dataset = train_detail::open_training_data(run.options);
    const data::Split split = data::read_split(dir / "split.json", *dataset);
    const data::Subset val(*dataset, split.val.indices);
    const auto scored = train_detail::scored_classes(dataset->label_set(), run.binary);
    const bool ultrasound = run.binary && run.options.modality == "us";
    std::vector<ValCase> cases;
    std::vector<data::Sample> samples;
    std::vector<Tensor> predictions;
    for (std::size_t i = 0; i < val.size(); ++i) {
        data::Sample s = val.get(i);
        if (!s.has_label()) continue;
        const Prediction p = predict_image(run, s.image);
        const Tensor ref = run.binary ? gt(s.label, 0.0).to(DType::Int64) : s.label;
        ValCase c;
        c.id = s.id;
        c.index = samples.size();
        double sum = 0;
        int n = 0;
        for (const auto& [name, value] : scored) {
            const double d = metrics::dice(p.labels, ref, value).value;
            if (!std::isnan(d)) sum += d, ++n;
        }
        c.dice = n ? sum / n : std::nan("");
        if (ultrasound && s.spacing_mm) {
            const metrics::HeadCircumference hc = metrics::head_circumference(p.labels, (*s.spacing_mm)[1]);
            c.hc_pred = hc.hc_mm;
            c.ellipse = hc.ellipse;
            c.hc_ref = s.head_circumference_mm ? *s.head_circumference_mm
                                               : metrics::head_circumference(ref, (*s.spacing_mm)[1]).hc_mm;
        }
        cases.push_back(c);
        predictions.push_back(p.labels);
        samples.push_back(std::move(s));
    }
    std::vector<ValCase> ranked = cases;
    std::sort(ranked.begin(), ranked.end(), [](const ValCase& a, const ValCase& b) {
        return (std::isnan(a.dice) ? -1.0 : a.dice) > (std::isnan(b.dice) ? -1.0 : b.dice);
    });
    std::set<std::string> train_subjects(split.train.subjects.begin(), split.train.subjects.end());
    std::size_t shared = 0;
    for (const auto& s : split.val.subjects) shared += train_subjects.count(s);

    std::ostringstream o;
    o << "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>fbseg run " << escape(run_dir)
      << "</title><style>body{font-family:sans-serif;margin:24px;max-width:1000px}table{border-collapse:collapse;"
         "font-size:12px}td,th{border:1px solid #ccc;padding:2px 6px;text-align:left}.charts svg{margin:4px}"
         ".gallery figure{display:inline-block;margin:4px;font-size:11px;max-width:300px;vertical-align:top}.gallery img{max-width:300px;"
         "image-rendering:pixelated}</style></head><body>";
    o << "<h1>fbseg run: " << escape(run.options.model) << " on " << escape(run.options.data)
      << (run.options.data == "phantom" ? " (" + escape(run.options.modality) + ")" : std::string()) << "</h1>";
    o << "<p>Best mean validation Dice <b>" << num(best_dice) << "</b> at epoch " << num(best_epoch, 6) << " of "
      << epochs.size() << ". Checkpoint shown: " << escape(run.checkpoint) << ".</p>";

    // curves
    std::vector<Series> loss = {{"train loss", kColours[0], epochs, cols["train_loss"]},
                                {"validation loss", kColours[1], epochs, cols["val_loss"]}};
    std::vector<Series> dice;
    std::size_t colour = 0;
    for (const auto& [name, value] : scored)
        dice.push_back({name, kColours[colour++ % 8], epochs, cols["val_dice_" + name]});
    o << "<h2>Curves</h2><div class=\"charts\">" << chart("Loss", "epoch", "loss", loss, best_epoch)
      << chart("Validation Dice", "epoch", "Dice", dice, best_epoch)
      << chart("Learning rate (end of epoch)", "epoch", "lr", {{"lr", kColours[3], epochs, cols["lr"]}}, best_epoch)
      << chart("Epoch time", "epoch", "seconds", {{"seconds", kColours[4], epochs, cols["seconds"]}}, best_epoch)
      << "</div>";

    // HC
    if (ultrasound) {
        Series hc{"cases", kColours[0], {}, {}}, ba{"cases", kColours[1], {}, {}};
        std::vector<double> diffs;
        for (const auto& c : cases)
            if (std::isfinite(c.hc_pred) && std::isfinite(c.hc_ref)) {
                hc.x.push_back(c.hc_ref), hc.y.push_back(c.hc_pred);
                ba.x.push_back(0.5 * (c.hc_pred + c.hc_ref)), ba.y.push_back(c.hc_pred - c.hc_ref);
                diffs.push_back(c.hc_pred - c.hc_ref);
            }
        if (!diffs.empty()) {
            double m = 0, sd = 0;
            for (double d : diffs) m += d;
            m /= double(diffs.size());
            for (double d : diffs) sd += (d - m) * (d - m);
            sd = diffs.size() > 1 ? std::sqrt(sd / double(diffs.size() - 1)) : 0.0;
            o << "<h2>Head circumference</h2><div class=\"charts\">"
              << chart("Predicted against reference HC", "reference HC (mm)", "predicted HC (mm)", {hc}, std::nan(""),
                       true, true)
              << chart("Bland-Altman", "mean of the two (mm)", "predicted - reference (mm)", {ba}, std::nan(""), true,
                       false, {{m, "mean " + num(m, 3)}, {m + 1.96 * sd, "+1.96 sd"}, {m - 1.96 * sd, "-1.96 sd"}})
              << "</div>";
        }
    }

    // gallery
    auto figure = [&](const ValCase& c) {
        return "<figure><img alt=\"" + escape(c.id) + "\" src=\"" +
               contour_picture(samples[c.index].image,
                               run.binary ? gt(samples[c.index].label, 0.0).to(DType::Int64) : samples[c.index].label,
                               predictions[c.index], ultrasound ? &c.ellipse : nullptr) +
               "\"><figcaption>" + escape(c.id) + ": Dice " + num(c.dice) +
               (ultrasound ? (c.ellipse.defined() && std::isfinite(c.hc_pred) ? ", ellipse: HC " + num(c.hc_pred, 4) + " mm (reference " +
                                                        num(c.hc_ref, 4) + ")"
                                                  : ", no ellipse fitted")
                           : std::string()) +
               "</figcaption></figure>";
    };
    o << "<h2>Validation cases</h2><p>Green: the reference's outline; red: the prediction's"
      << (ultrasound ? "; yellow: the ellipse fitted to the prediction (its perimeter is the predicted HC)" : "")
      << ".</p>"
      << "<div class=\"gallery\"><h3>Best</h3>";
    const std::size_t n_best = std::min<std::size_t>(3, ranked.size());
    const std::size_t n_worst = std::min<std::size_t>(3, ranked.size() - n_best);  // never a case twice
    for (std::size_t k = 0; k < n_best; ++k) o << figure(ranked[k]);
    o << "<h3>Worst</h3>";
    for (std::size_t k = 0; k < n_worst; ++k) o << figure(ranked[ranked.size() - 1 - k]);
    o << "</div><table><tr><th>case</th><th>mean Dice</th>"
      << (ultrasound ? "<th>HC predicted (mm)</th><th>HC reference (mm)</th>" : "") << "</tr>";
    for (const auto& c : ranked) {
        o << "<tr><td>" << escape(c.id) << "</td><td>" << num(c.dice) << "</td>";
        if (ultrasound) o << "<td>" << num(c.hc_pred) << "</td><td>" << num(c.hc_ref) << "</td>";
        o << "</tr>";
    }
    o << "</table>";

    // split and provenance
    o << "<h2>Split</h2><p>" << split.train.subjects.size() << " training subjects (" << split.train.indices.size()
      << " samples), " << split.val.subjects.size() << " validation subjects (" << split.val.indices.size()
      << " samples). Subjects on both sides: <b>" << shared << "</b>" << (shared == 0 ? " (checked)" : " (a leak!)")
      << ".</p>";
    o << "<h2>Configuration and provenance</h2><table>";
    for (const auto& [key, value] : config.items())
        if (key != "options" && key != "labels") o << "<tr><th>" << escape(key) << "</th><td>" << escape(value.dump()) << "</td></tr>";
    for (const auto& [key, value] : config.at("options").items())
        o << "<tr><th>--" << escape(key) << "</th><td>" << escape(value.dump()) << "</td></tr>";
    o << "</table></body></html>\n";

    const fs::path path = dir / "report.html";
    data::image_io_detail::write_file_atomically(path.string(), o.str(), "report");
    return path.string();
}

}  // namespace fbseg::app
