// eval_command.hpp - `fbseg eval --model RUN DATA`: a trained run's predictions scored against the
// references of a dataset, per case and per class, at each image's own size.
//
//   DATA    a dataset folder or .csv (any reader `check` knows), `val` (the run's own validation
//           subjects), or `phantom` (fresh phantom samples: the run's modality, another seed)
//   writes  OUT/summary.json   nnU-Net's shape: metric_per_case, mean (per class), foreground_mean
//           OUT/cases.csv      one row per case and class
//   prints  per class and metric: mean, std, median over the cases that define it, and how many
//           did not (an empty reference leaves Dice undefined, as MONAI's DiceMetric)
//
// For ultrasound samples that know their pixel size, the head circumference of the prediction
// (an ellipse fitted to its outer contour, metrics/head_circumference.hpp) is compared with the
// reference's: absolute and signed error in mm.
#pragma once

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include <fbseg/fbseg.hpp>
#include <nlohmann/json.hpp>

#include "inference.hpp"
#include "open_dataset.hpp"

namespace fbseg::app {

struct EvalOptions {
    std::string run;
    std::string data;
    std::string format = "auto";
    std::string checkpoint = "best";
    std::string out;  // default: RUN/eval
    std::string device = "cpu";
    int threads = 0;
    bool surface = true;  // HD95 and ASSD (the slow part)
};

namespace eval_detail {

/// Mean, sample standard deviation and median of the defined values (NaN when there are none).
struct Stats {
    double mean = std::nan(""), std = std::nan(""), median = std::nan("");
    std::size_t count = 0, undefined = 0;
};

inline Stats stats_of(const std::vector<double>& values) {
    Stats s;
    std::vector<double> v;
    for (double x : values) {
        if (std::isnan(x)) {
            ++s.undefined;
        } else {
            v.push_back(x);
            ++s.count;
        }
    }
    if (v.empty()) return s;
    double sum = 0;
    for (double x : v) sum += x;
    s.mean = sum / double(v.size());
    double ss = 0;
    for (double x : v) ss += (x - s.mean) * (x - s.mean);
    s.std = v.size() > 1 ? std::sqrt(ss / double(v.size() - 1)) : 0.0;
    std::sort(v.begin(), v.end());
    const std::size_t n = v.size();
    s.median = n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
    return s;
}

inline nlohmann::json number(double v) { return std::isnan(v) ? nlohmann::json(nullptr) : nlohmann::json(v); }

}  // namespace eval_detail

inline int run_eval(const EvalOptions& o) {
    namespace fs = std::filesystem;
    using eval_detail::number;
    if (o.threads > 0) set_num_threads(o.threads);
    const TrainedRun run = load_run(o.run, o.checkpoint, o.device);

    // ---- the cases ----------------------------------------------------------------------------
    std::unique_ptr<data::Dataset> owned;
    std::unique_ptr<data::Subset> val;
    const data::Dataset* dataset = nullptr;
    if (o.data == "val") {
        owned = train_detail::open_training_data(run.options);
        val = std::make_unique<data::Subset>(
            *owned, data::read_split(fs::path(o.run) / "split.json", *owned).val.indices);
        dataset = val.get();
    } else if (o.data == "phantom") {
        TrainOptions fresh = run.options;
        fresh.data = "phantom";
        fresh.seed = run.options.seed + 1000003;  // samples the run has never seen
        owned = train_detail::open_training_data(fresh);
        dataset = owned.get();
    } else {
        owned = open_dataset(o.data, parse_format(o.format));
        dataset = owned.get();
    }
    const auto scored = train_detail::scored_classes(dataset->label_set(), run.binary);
    std::vector<std::int64_t> classes;
    for (const auto& [name, value] : scored) classes.push_back(value);
    FBSEG_CHECK(run.binary || dataset->label_set().num_classes() == run.out_channels, "eval: the run predicts ",
                run.out_channels, " classes but the dataset's label set has ", dataset->label_set().num_classes());

    const fs::path out = o.out.empty() ? fs::path(o.run) / "eval" : fs::path(o.out);
    std::error_code ec;
    fs::create_directories(out, ec);
    FBSEG_CHECK(!ec, "eval: cannot create '", out.string(), "' (", ec.message(), ")");

    // ---- predict and score every case -------------------------------------------------------
    const char* metric_names[] = {"dice", "iou", "precision", "recall", "hd95_mm", "assd_mm"};
    std::map<std::string, std::map<std::string, std::vector<double>>> per_class;  // class -> metric -> cases
    std::vector<double> hc_abs, hc_signed;
    std::size_t hc_cases = 0, hc_no_ellipse = 0;  // ultrasound cases with a pixel size; of them, no fit
    nlohmann::json per_case = nlohmann::json::array();
    std::ofstream csv(out / "cases.csv");
    csv << "case,class,dice,iou,precision,recall,hd95_mm,assd_mm,hc_pred_mm,hc_ref_mm\n";
    std::size_t unlabelled = 0;
    for (std::size_t i = 0; i < dataset->size(); ++i) {
        const data::Sample s = dataset->get(i);
        if (!s.has_label()) {
            ++unlabelled;
            continue;
        }
        check_image_size(s.image, "eval: case '" + s.id + "'");
        const Prediction p = predict_image(run, s.image);
        const Tensor ref = run.binary ? gt(s.label, 0.0).to(DType::Int64) : s.label;
        metrics::EvaluateOptions eo;
        if (s.spacing_mm) eo.spacing = {(*s.spacing_mm)[0], (*s.spacing_mm)[1]};
        eo.surface = o.surface;
        const metrics::CaseMetrics m = metrics::evaluate_case(p.labels, ref, classes, eo);

        double hc_pred = std::nan(""), hc_ref = std::nan("");
        if (run.binary && run.options.modality == "us" && s.spacing_mm) {
            const double px = (*s.spacing_mm)[1];
            hc_pred = metrics::head_circumference(p.labels, px).hc_mm;
            hc_ref = s.head_circumference_mm ? *s.head_circumference_mm : metrics::head_circumference(ref, px).hc_mm;
            ++hc_cases;
            if (std::isnan(hc_pred)) ++hc_no_ellipse;
            if (!std::isnan(hc_pred) && !std::isnan(hc_ref)) {
                hc_abs.push_back(std::abs(hc_pred - hc_ref));
                hc_signed.push_back(hc_pred - hc_ref);
            }
        }
        nlohmann::json case_json = nlohmann::json::object();
        case_json["reference"] = s.id;
        nlohmann::json case_metrics = nlohmann::json::object();
        for (std::size_t k = 0; k < scored.size(); ++k) {
            const metrics::ClassMetrics& c = m.of(scored[k].second);
            const double values[] = {c.dice.value, c.iou.value, c.precision.value,
                                     c.recall.value, c.hd95_mm.value, c.assd_mm.value};
            nlohmann::json cj = nlohmann::json::object();
            csv << '"' << s.id << "\"," << scored[k].first;
            for (std::size_t q = 0; q < 6; ++q) {
                per_class[scored[k].first][metric_names[q]].push_back(values[q]);
                cj[metric_names[q]] = number(values[q]);
                csv << ',' << (std::isnan(values[q]) ? std::string() : io::format_double(values[q]));
            }
            csv << ',' << (std::isnan(hc_pred) ? std::string() : io::format_double(hc_pred)) << ','
                << (std::isnan(hc_ref) ? std::string() : io::format_double(hc_ref)) << '\n';
            case_metrics[std::to_string(scored[k].second)] = cj;
        }
        case_json["metrics"] = case_metrics;
        if (!std::isnan(hc_pred)) case_json["hc_pred_mm"] = hc_pred;
        if (!std::isnan(hc_ref)) case_json["hc_ref_mm"] = hc_ref;
        per_case.push_back(case_json);
    }
    FBSEG_CHECK(!per_case.empty(), "eval: none of the ", dataset->size(), " samples has a reference to score against");

    // ---- aggregate, write, print --------------------------------------------------------------
    nlohmann::json summary = nlohmann::json::object();
    summary["metric_per_case"] = per_case;
    nlohmann::json mean = nlohmann::json::object();
    std::cout << "eval: " << per_case.size() << " cases of " << (o.data == "val" ? "the run's validation split" : o.data)
              << " with " << run.checkpoint << (unlabelled ? " (" + std::to_string(unlabelled) + " without a reference skipped)" : "")
              << "\n";
    std::cout << std::left << std::setw(20) << "class" << std::setw(11) << "metric" << std::right << std::setw(10)
              << "mean" << std::setw(10) << "std" << std::setw(10) << "median" << std::setw(8) << "n" << std::setw(11)
              << "undefined" << "\n";
    double dice_sum = 0;
    int dice_classes = 0;
    for (const auto& [name, value] : scored) {
        nlohmann::json cm = nlohmann::json::object();
        for (const char* metric : metric_names) {
            const eval_detail::Stats st = eval_detail::stats_of(per_class[name][metric]);
            cm[metric] = number(st.mean);
            cm[std::string(metric) + "_std"] = number(st.std);
            cm[std::string(metric) + "_median"] = number(st.median);
            std::cout << std::left << std::setw(20) << name << std::setw(11) << metric << std::right << std::fixed
                      << std::setprecision(4) << std::setw(10) << st.mean << std::setw(10) << st.std << std::setw(10)
                      << st.median << std::setw(8) << st.count << std::setw(11) << st.undefined << "\n";
            if (std::string(metric) == "dice" && !std::isnan(st.mean)) dice_sum += st.mean, ++dice_classes;
        }
        mean[std::to_string(value)] = cm;
    }
    summary["mean"] = mean;
    nlohmann::json foreground = nlohmann::json::object();
    foreground["dice"] = number(dice_classes ? dice_sum / dice_classes : std::nan(""));
    summary["foreground_mean"] = foreground;
    if (hc_cases > 0) {
        const eval_detail::Stats a = eval_detail::stats_of(hc_abs), d = eval_detail::stats_of(hc_signed);
        nlohmann::json hc = nlohmann::json::object();
        hc["absolute_error_mm_mean"] = number(a.mean);
        hc["absolute_error_mm_std"] = number(a.std);
        hc["absolute_error_mm_median"] = number(a.median);
        hc["signed_error_mm_mean"] = number(d.mean);
        hc["signed_error_mm_std"] = number(d.std);
        hc["cases"] = a.count;
        hc["cases_without_an_ellipse"] = hc_no_ellipse;  // the prediction was empty or not head-shaped
        summary["head_circumference"] = hc;
        std::cout << "head circumference: absolute error " << a.mean << " +- " << a.std << " mm (median " << a.median
                  << "), signed " << d.mean << " mm, over " << a.count << " cases (" << hc_no_ellipse
                  << " predictions had no ellipse)\n";
    }
    std::ofstream(out / "summary.json") << summary.dump(2) << '\n';
    std::cout << "eval: foreground mean Dice " << std::setprecision(4)
              << (dice_classes ? dice_sum / dice_classes : std::nan("")) << "; wrote " << (out / "summary.json").string()
              << " and " << (out / "cases.csv").string() << "\n";
    return 0;
}

}  // namespace fbseg::app
