// tests/support/e2e_check.hpp - the end-to-end parity check against PyTorch: one training step
// of an smp ResNet-UNet (forward, bce_dice loss, backward, AdamW step) and an eval forward, from
// a fixture written by tools/make_e2e_fixtures.py. Used by tests/test_e2e.cpp (the committed
// reduced-width fixture) and by tools/e2e_check (fbseg_e2e_check, the full-size resnet34 run).
// docs/parity.md describes the procedure and records the figures.
//
//   auto report = fbseg::test_support::run_e2e_check("tests/fixtures/e2e_resnet_unet.safetensors");
//   fbseg::test_support::print_e2e_report(std::cout, report);
//   bool ok = report.all_within();   // every element: |a - b| <= atol + rtol |b| (see e2e_tolerance)
//
// The fixture's __metadata__ names the model (model "smp-unet", encoder "resnet", the encoder's
// stem width, stage widths and blocks per stage, the decoder channels, in_channels, classes) and
// the optimizer settings, and "dtype" (float32, or float64 for the full-size cross-check; the
// model is then converted to float64 as torch's model.double()); its tensors are listed in
// tools/make_e2e_fixtures.py. The check:
//
//   1. builds SmpUnet(ResNetEncoder(...)) from the metadata and loads "state.*" (strict);
//   2. train(): logits = model(input), loss = nn::bce_dice_loss(logits, target), backward,
//      optim::AdamW step; compares logits, loss, every parameter's gradient ("grad.*"), every
//      parameter and buffer after the step ("after.*": running statistics, num_batches_tracked);
//   3. eval(), no grad: logits and loss with the updated state ("eval.*");
//   4. separately, each stage from PyTorch's inputs rather than fbseg's own: the state reloaded,
//      PyTorch's gradients ("grad.*") handed to a fresh AdamW, one step, parameters compared with
//      "after.*" (group "isolated.step"); then PyTorch's whole after-step state loaded and an eval
//      forward compared with "eval.logits" (group "isolated.eval"). These tell each stage's own
//      error from the errors it inherits: Adam's first step, lr * g / (|g| + eps) ~ lr sign(g),
//      is ill-conditioned where |g| is within rounding of 0 (docs/parity.md).
//
// Every figure is a relative error max|a - b| / max|b| over a tensor (b = PyTorch's value),
// computed in double from the float32 values.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <iomanip>
#include <limits>
#include <map>
#include <memory>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

#include "fbseg/fbseg.hpp"
#include "fbseg/models/resnet.hpp"
#include "fbseg/models/smp_unet.hpp"
#include "fbseg/nn/loss.hpp"
#include "fbseg/optim/adam.hpp"
#include "support/model_description.hpp"
#include "support/safetensors_reader.hpp"

namespace fbseg::test_support {

/// One compared tensor.
struct E2eEntry {
    std::string group;  // "train.logits", "grad", "after.param", ... (see e2e_groups())
    std::string name;   // the parameter or buffer key, or the group name for logits and losses
    double rel_error = 0;
    double max_abs_error = 0;
    double max_ref = 0;            // max|PyTorch value|
    std::int64_t worst_index = 0;  // flat index of the largest |a - b|
    // Per element: |a - b| <= atol + rtol |b|. worst_ratio is the largest |a - b| / (atol + rtol |b|)
    // (<= 1 passes) at flat index worst_element, whose values are worst_value and worst_ref.
    double worst_ratio = 0;
    std::int64_t worst_element = 0;
    double worst_value = 0, worst_ref = 0;
    bool within() const { return worst_ratio <= 1.0; }
};

/// The per-element tolerance of the end-to-end check: rtol 1e-4 of each element, plus an atol of
/// 1e-5 times the tensor's largest |value|. The atol is the float32 noise floor: a gradient entry
/// is a sum over the batch and the image of terms as large as the tensor's largest entries, so an
/// entry that cancels to ~0 keeps an absolute error of ~100 float32 ulps of that scale (2^-23 =
/// 1.2e-7 per ulp); a pure rtol would demand a relative accuracy that no float32 summation order
/// has. Before, the check divided max|a - b| by max|b| (1e-4), which let a small entry be wrong
/// by 1e-4 of the largest one; now every element must be within 1e-4 of itself or 1e-5 of the scale.
struct E2eTolerance {
    double rtol = 1e-4;
    double atol_of_max = 1e-5;
};
inline E2eTolerance e2e_tolerance() { return {}; }

struct E2eReport {
    std::string path;
    std::map<std::string, std::string> metadata;
    std::vector<E2eEntry> entries;
    std::int64_t num_parameters = 0;
    int threads = 0;
    double train_seconds = 0;  // forward + loss + backward + AdamW step
    double eval_seconds = 0;   // eval forward

    bool all_within() const {
        for (const auto& e : entries)
            if (!e.within()) return false;
        return true;
    }
    double max_worst_ratio() const {
        double m = 0;
        for (const auto& e : entries) m = std::max(m, e.worst_ratio);
        return m;
    }
    double max_rel_error() const {
        double m = 0;
        for (const auto& e : entries) m = std::max(m, e.rel_error);
        return m;
    }
    /// The entry with the largest relative error in `group` (nullptr if the group is empty).
    const E2eEntry* worst(const std::string& group) const {
        const E2eEntry* w = nullptr;
        for (const auto& e : entries)
            if (e.group == group && (!w || e.rel_error > w->rel_error || std::isnan(e.rel_error))) w = &e;
        return w;
    }
    std::size_t count(const std::string& group) const {
        return std::size_t(
            std::count_if(entries.begin(), entries.end(), [&](const E2eEntry& e) { return e.group == group; }));
    }
};

/// The groups, in the order they are computed and printed.
inline const std::vector<std::string>& e2e_groups() {
    static const std::vector<std::string> groups = {"train.logits", "train.loss",    "grad",
                                                    "after.param",  "after.buffer",  "eval.logits",
                                                    "eval.loss",    "isolated.step", "isolated.eval"};
    return groups;
}

namespace e2e_detail {

/// The fixture's metadata, for strict parsing of its numbers (support/model_description.hpp).
inline ModelDescription description(const SafetensorsFile& f) {
    return ModelDescription(f.metadata(), "e2e fixture '" + f.path() + "'");
}

/// Compares a with the reference b per element (e2e_tolerance()), and records max|a - b| / max|b|
/// for the report. +inf on a shape mismatch or a NaN in `a` where `b` has none.
inline E2eEntry compare(const std::string& group, const std::string& name, const Tensor& a, const Tensor& b) {
    E2eEntry e{group, name};
    constexpr double kInf = std::numeric_limits<double>::infinity();
    if (!a.defined() || a.shape() != b.shape()) {
        e.rel_error = e.max_abs_error = e.worst_ratio = kInf;
        return e;
    }
    const std::vector<double> va = a.detach().to(DType::Float64).contiguous().to_vector<double>();
    const std::vector<double> vb = b.detach().to(DType::Float64).contiguous().to_vector<double>();
    for (std::size_t i = 0; i < va.size(); ++i) {
        const double d = std::abs(va[i] - vb[i]);
        if (std::isnan(d) && !std::isnan(vb[i])) {
            e.max_abs_error = kInf;
            e.worst_index = std::int64_t(i);
        } else if (d > e.max_abs_error) {
            e.max_abs_error = d;
            e.worst_index = std::int64_t(i);
        }
        if (!std::isnan(vb[i])) e.max_ref = std::max(e.max_ref, std::abs(vb[i]));
    }
    e.rel_error = e.max_abs_error == 0 ? 0.0 : e.max_abs_error / std::max(e.max_ref, 1e-300);
    const E2eTolerance tol = e2e_tolerance();
    const double atol = tol.atol_of_max * e.max_ref;
    for (std::size_t i = 0; i < va.size(); ++i) {
        const double d = std::abs(va[i] - vb[i]);
        double ratio;
        if (std::isnan(vb[i])) ratio = std::isnan(va[i]) ? 0.0 : kInf;
        else if (std::isnan(d)) ratio = kInf;
        else if (d == 0) ratio = 0.0;
        else ratio = atol + tol.rtol * std::abs(vb[i]) > 0 ? d / (atol + tol.rtol * std::abs(vb[i])) : kInf;
        if (ratio > e.worst_ratio || (i == 0 && ratio == 0)) {
            e.worst_ratio = ratio;
            e.worst_element = std::int64_t(i);
            e.worst_value = va[i];
            e.worst_ref = vb[i];
        }
    }
    return e;
}

inline bool is_buffer_key(const std::string& key) {
    return key.find("running_") != std::string::npos || key.find("num_batches_tracked") != std::string::npos;
}

/// The fixture's tensors whose key starts with `prefix` ("state.", "after."), prefix removed.
inline nn::NamedTensors fixture_state(const SafetensorsFile& f, const std::string& prefix) {
    nn::NamedTensors state;
    for (const auto& key : f.keys())
        if (key.compare(0, prefix.size(), prefix) == 0) state.emplace_back(key.substr(prefix.size()), f.get(key));
    FBSEG_CHECK(!state.empty(), "e2e fixture '", f.path(), "' holds no ", prefix, "* tensors");
    return state;
}

/// The fixture's dtype: metadata "dtype", float32 when absent.
inline DType fixture_dtype(const SafetensorsFile& f) {
    if (!f.has_metadata("dtype") || f.metadata("dtype") == "float32") return DType::Float32;
    FBSEG_CHECK(f.metadata("dtype") == "float64", "e2e fixture '", f.path(), "': dtype '", f.metadata("dtype"),
                "' is not supported (float32 or float64)");
    return DType::Float64;
}

inline optim::AdamWOptions adamw_options(const SafetensorsFile& f) {
    FBSEG_CHECK(f.metadata("optimizer") == "AdamW", "e2e fixture '", f.path(), "': optimizer '",
                f.metadata("optimizer"), "' is not supported (AdamW only)");
    const ModelDescription d = description(f);
    optim::AdamWOptions o;
    o.lr = d.number("lr");
    o.weight_decay = d.number("weight_decay");
    o.beta1 = d.number("beta1");
    o.beta2 = d.number("beta2");
    o.eps = d.number("eps");
    return o;
}

}  // namespace e2e_detail

/// The model the fixture's metadata describes (smp-unet), freshly built.
inline std::shared_ptr<models::SmpUnet> build_e2e_model(const SafetensorsFile& f) {
    return e2e_detail::description(f).smp_unet("e2e-resnet-unet");
}

/// Runs the whole check on one fixture file (see the header comment).
inline E2eReport run_e2e_check(const std::string& path) {
    using clock = std::chrono::steady_clock;
    using e2e_detail::compare;
    const SafetensorsFile f(path);
    E2eReport report;
    report.path = path;
    report.metadata = f.all_metadata();
    report.threads = num_threads();

    auto model = build_e2e_model(f);
    if (e2e_detail::fixture_dtype(f) == DType::Float64) model->to(DType::Float64);
    const nn::NamedTensors state = e2e_detail::fixture_state(f, "state.");
    model->load_state_dict(state);  // strict: every key, no extra one, same shapes
    report.num_parameters = model->num_parameters();
    const Tensor input = f.get("input"), target = f.get("target");
    const optim::AdamWOptions adamw = e2e_detail::adamw_options(f);

    // ---- one training step ----
    model->train();
    model->zero_grad();
    auto t0 = clock::now();
    const Tensor logits = model->forward(input);
    const Tensor loss = nn::bce_dice_loss(logits, target);
    loss.backward();
    optim::AdamW opt(model->parameters(), adamw);
    opt.step();
    report.train_seconds = std::chrono::duration<double>(clock::now() - t0).count();
    report.entries.push_back(compare("train.logits", "train.logits", logits, f.get("train.logits")));
    report.entries.push_back(compare("train.loss", "train.loss", loss, f.get("train.loss")));
    const nn::NamedTensors params = model->named_parameters();
    for (const auto& [key, p] : params) report.entries.push_back(compare("grad", key, p.grad(), f.get("grad." + key)));
    for (const auto& [key, t] : model->state_dict())
        report.entries.push_back(
            compare(e2e_detail::is_buffer_key(key) ? "after.buffer" : "after.param", key, t, f.get("after." + key)));

    // ---- eval with the updated state ----
    model->eval();
    {
        NoGradGuard no_grad;
        t0 = clock::now();
        const Tensor eval_logits = model->forward(input);
        report.eval_seconds = std::chrono::duration<double>(clock::now() - t0).count();
        report.entries.push_back(compare("eval.logits", "eval.logits", eval_logits, f.get("eval.logits")));
        report.entries.push_back(
            compare("eval.loss", "eval.loss", nn::bce_dice_loss(eval_logits, target), f.get("eval.loss")));
    }

    // ---- each stage alone, from PyTorch's inputs: the AdamW step, the eval forward ----
    model->load_state_dict(state);
    model->zero_grad();
    for (const auto& [key, p] : params) Tensor(p).set_grad(f.get("grad." + key));
    optim::AdamW opt_alone(model->parameters(), adamw);
    opt_alone.step();
    for (const auto& [key, p] : params)
        report.entries.push_back(compare("isolated.step", key, p, f.get("after." + key)));
    model->zero_grad();
    model->load_state_dict(e2e_detail::fixture_state(f, "after."));
    {
        NoGradGuard no_grad;
        report.entries.push_back(compare("isolated.eval", "eval.logits", model->forward(input), f.get("eval.logits")));
    }
    return report;
}

/// The figures, one line per group (the worst tensor named where the group has several);
/// `all` adds one line per tensor.
inline void print_e2e_report(std::ostream& os, const E2eReport& r, bool all = false) {
    const auto meta = [&](const std::string& k) {
        const auto it = r.metadata.find(k);
        return it == r.metadata.end() ? std::string("?") : it->second;
    };
    const std::ios_base::fmtflags flags = os.flags();
    const std::streamsize precision = os.precision();
    os << "fixture " << r.path << "\n  generated by " << meta("generator") << " with torch " << meta("torch_version")
       << ", smp " << meta("smp_version") << " (" << meta("torch_threads") << " threads), dtype "
       << (r.metadata.count("dtype") ? meta("dtype") : std::string("float32"))
       << ", reference values: " << (r.metadata.count("reference") ? meta("reference") : std::string("PyTorch float32"))
       << "\n  model: smp-unet, resnet encoder"
       << " stem " << meta("encoder_stem_width") << ", widths " << meta("encoder_widths") << ", blocks "
       << meta("encoder_layers") << ", decoder " << meta("decoder_channels") << "; " << r.num_parameters
       << " parameters; input [" << meta("input_shape") << "]\n  fbseg: " << r.threads << " threads, train step "
       << std::fixed << std::setprecision(3) << r.train_seconds << " s, eval forward " << r.eval_seconds << " s\n";
    os << std::scientific << std::setprecision(3);
    os << "  relative error max|fbseg - reference| / max|reference|:\n";
    for (const auto& g : e2e_groups()) {
        const E2eEntry* w = r.worst(g);
        if (!w) continue;
        os << "    " << std::left << std::setw(14) << g << std::right << " " << w->rel_error;
        const std::size_t n = r.count(g);
        if (n > 1) os << "  (worst of " << n << ": " << w->name << ")";
        os << "\n";
    }
    os << "  overall max " << r.max_rel_error() << "\n";
    const E2eTolerance tol = e2e_tolerance();
    os << "  per element |fbseg - reference| / (" << tol.atol_of_max << " max|reference| + " << tol.rtol
       << " |reference|), <= 1 passes:\n";
    for (const auto& g : e2e_groups()) {
        const E2eEntry* w = nullptr;
        for (const auto& e : r.entries)
            if (e.group == g && (!w || e.worst_ratio > w->worst_ratio)) w = &e;
        if (!w) continue;
        os << "    " << std::left << std::setw(14) << g << std::right << " " << w->worst_ratio << "  (" << w->name
           << " element " << w->worst_element << ": " << w->worst_value << " vs " << w->worst_ref << ")\n";
    }
    if (all) {
        os << "  per tensor (group, name, rel error, max abs error, max|reference|, worst flat index):\n";
        for (const auto& e : r.entries)
            os << "    " << e.group << " " << e.name << " " << e.rel_error << " " << e.max_abs_error << " " << e.max_ref
               << " " << e.worst_index << "\n";
    }
    os.flags(flags);
    os.precision(precision);
}

}  // namespace fbseg::test_support
