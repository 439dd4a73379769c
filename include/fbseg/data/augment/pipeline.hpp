// fbseg/data/augment/pipeline.hpp - random augmentations composed into a pipeline built from a
// JSON config, seeded per sample.
//
//   auto aug = augment::Pipeline::from_json(nlohmann::json::parse(R"([
//       {"name": "hflip", "p": 0.5},
//       {"name": "affine", "p": 0.5, "rotate_deg": 15, "scale": [0.9, 1.1], "translate": 0.05},
//       {"name": "gamma", "p": 0.3, "gamma": [0.7, 1.5]}])"), /*strength=*/1.0);
//   aug(sample, rng);   // rng = Rng::for_sample(seed, epoch, index)
//
// (nlohmann::json::parse needs <nlohmann/json.hpp>: against libfbseg this header declares the
// JSON type only, and the parsing of a config is compiled in the library, data/data_library.hpp.)
//
// Each step draws bernoulli(p) first (p = 0 never applies, p = 1 always), then its parameters,
// from the sample's Rng, in a fixed order: the result depends only on (config, strength, Rng).
// `strength` in [0, 1] scales every magnitude (angles, shifts, scale - 1, shear, alpha, distortion,
// brightness, contrast, log gamma, noise std, blur sigma, bias coefficients); for the flips and
// rot90, which have no magnitude, it scales p. Strength 0 is the identity, bit for bit (a step whose
// magnitudes are all zero returns without touching the sample); crop and resize change the size
// and are not scaled.
//
// Ranges: a number x means [-x, x] for symmetric magnitudes (rotate_deg, translate, shear_deg,
// brightness, contrast, distort_limit) and [0, x] for the others (std, sigma); a pair [lo, hi] is
// the range itself. Unknown names, unknown keys, wrong types and out-of-range values are errors
// that name the step, the key and what was expected.
#pragma once

#include <cmath>
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>  // JSON in the declarations; <nlohmann/json.hpp> to build a value

#include "fbseg/core/error.hpp"
#include "fbseg/data/augment/distortion.hpp"
#include "fbseg/data/augment/geometric.hpp"
#include "fbseg/data/augment/intensity.hpp"
#include "fbseg/data/augment/warp.hpp"
#include "fbseg/data/data_library.hpp"
#include "fbseg/data/random.hpp"
#include "fbseg/data/sample.hpp"

#if FBSEG_DATA_DEFINITIONS
#include <nlohmann/json.hpp>  // the definitions parse and write JSON
#endif

namespace fbseg::data::augment {

/// One random augmentation step.
class Transform {
public:
    virtual ~Transform() = default;
    /// Draws its parameters from `rng` and applies them (the pipeline has already drawn p).
    virtual void apply(Sample& s, Rng& rng) const = 0;
    std::string name;
    double p = 1.0;
};

namespace detail {
/// Builds one step from its JSON object (the step types and their parsing are below, or in
/// libfbseg: data/data_library.hpp).
FBSEG_DATA std::shared_ptr<Transform> make_step(const nlohmann::json& j, std::size_t index, double strength);
}  // namespace detail

#if FBSEG_DATA_DEFINITIONS
namespace detail {

struct Range {
    double lo = 0, hi = 0;
    bool zero() const { return lo == 0 && hi == 0; }
    double draw(Rng& rng) const { return lo == hi ? lo : rng.uniform(lo, hi); }
};

/// A step's JSON object: typed reads that remember which keys were used, so that unknown keys
/// can be reported. `where` is "augment config step 2 (\"affine\")".
class Params {
public:
    Params(const nlohmann::json& j, std::string where) : j_(j), where_(std::move(where)) {}
    const std::string& where() const { return where_; }

    double number(const std::string& key, double fallback) {
        used_.insert(key);
        if (!j_.contains(key)) return fallback;
        const auto& v = j_.at(key);
        FBSEG_CHECK(v.is_number(), where_, ": \"", key, "\" must be a number but is ", v.dump());
        const double d = v.get<double>();
        FBSEG_CHECK(std::isfinite(d), where_, ": \"", key, "\" must be finite but is ", v.dump());
        return d;
    }
    double number_in(const std::string& key, double fallback, double lo, double hi) {
        const double d = number(key, fallback);
        FBSEG_CHECK(d >= lo && d <= hi, where_, ": \"", key, "\" must be in [", lo, ", ", hi, "] but is ", d);
        return d;
    }
    std::int64_t integer(const std::string& key, std::int64_t fallback, std::int64_t lo, std::int64_t hi) {
        const double d = number_in(key, double(fallback), double(lo), double(hi));
        FBSEG_CHECK(d == std::floor(d), where_, ": \"", key, "\" must be a whole number but is ", d);
        return std::int64_t(d);
    }
    bool boolean(const std::string& key, bool fallback) {
        used_.insert(key);
        if (!j_.contains(key)) return fallback;
        FBSEG_CHECK(j_.at(key).is_boolean(), where_, ": \"", key, "\" must be true or false but is ", j_.at(key).dump());
        return j_.at(key).get<bool>();
    }
    std::string string(const std::string& key, const std::string& fallback) {
        used_.insert(key);
        if (!j_.contains(key)) return fallback;
        FBSEG_CHECK(j_.at(key).is_string(), where_, ": \"", key, "\" must be a string but is ", j_.at(key).dump());
        return j_.at(key).get<std::string>();
    }
    /// A number x -> [-x, x] (symmetric) or [0, x]; a pair [lo, hi] with lo <= hi, both in [min, max].
    Range range(const std::string& key, Range fallback, bool symmetric, double min, double max) {
        used_.insert(key);
        if (!j_.contains(key)) return fallback;
        const auto& v = j_.at(key);
        Range r;
        if (v.is_number()) {
            const double x = v.get<double>();
            FBSEG_CHECK(std::isfinite(x) && x >= 0, where_, ": \"", key, "\" as one number must be finite and >= 0 but is ",
                        v.dump());
            r = symmetric ? Range{-x, x} : Range{0, x};
        } else {
            FBSEG_CHECK(v.is_array() && v.size() == 2 && v[0].is_number() && v[1].is_number(), where_, ": \"", key,
                        "\" must be a number or a pair [lo, hi] but is ", v.dump());
            r = {v[0].get<double>(), v[1].get<double>()};
            FBSEG_CHECK(std::isfinite(r.lo) && std::isfinite(r.hi) && r.lo <= r.hi, where_, ": \"", key,
                        "\" must be a pair [lo, hi] of finite numbers with lo <= hi but is ", v.dump());
        }
        FBSEG_CHECK(r.lo >= min && r.hi <= max, where_, ": \"", key, "\" must lie within [", min, ", ", max, "] but is ",
                    v.dump());
        return r;
    }
    BorderOptions border() {
        BorderOptions b;
        b.border = parse_border(string("border", "constant"), where_);
        b.image_fill = float(number("fill", 0.0));
        return b;
    }
    /// Errors when the object has a key no read asked for, naming it and listing the known keys.
    void finish() const {
        for (const auto& [key, value] : j_.items()) {
            if (key == "name" || used_.count(key)) continue;
            std::string known;
            for (const auto& k : used_) known += (known.empty() ? "" : ", ") + k;
            FBSEG_FAIL(where_, ": unknown key \"", key, "\" (known keys: name, ", known, ")");
        }
    }

private:
    const nlohmann::json& j_;
    std::string where_;
    std::set<std::string> used_;
};

/// [lo, hi] scaled toward 0 by `s`.
inline Range scaled(Range r, double s) { return {r.lo * s, r.hi * s}; }

struct Flip final : Transform {
    bool horizontal = true;
    void apply(Sample& s, Rng&) const override { horizontal ? hflip(s) : vflip(s); }
};

struct Rot90 final : Transform {
    void apply(Sample& s, Rng& rng) const override { rot90(s, int(1 + rng.integer(3))); }
};

struct AffineStep final : Transform {
    Range rotate, scale, translate, shear;
    BorderOptions border;
    void apply(Sample& s, Rng& rng) const override {
        if (rotate.zero() && scale.lo == 1 && scale.hi == 1 && translate.zero() && shear.zero()) return;
        AffineParams a;
        a.rotate_deg = rotate.draw(rng);
        a.scale = scale.draw(rng);
        a.translate_x = translate.draw(rng) * double(s.width());
        a.translate_y = translate.draw(rng) * double(s.height());
        a.shear_x_deg = shear.draw(rng);
        a.shear_y_deg = shear.draw(rng);
        affine_warp(s, affine_matrix(a, double(s.width() - 1) / 2, double(s.height() - 1) / 2), border);
    }
};

struct ElasticStep final : Transform {
    double alpha = 0, sigma = 1;
    BorderOptions border;
    void apply(Sample& s, Rng& rng) const override {
        if (alpha == 0) return;
        check_sample(s, "elastic");
        const std::int64_t h = s.height(), w = s.width();
        std::vector<float> nx = uniform_field(h, w, rng), ny = uniform_field(h, w, rng);
        remap_sample(s, elastic_map(h, w, std::move(nx), std::move(ny), alpha, sigma), border, "elastic");
    }
};

struct GridStep final : Transform {
    std::int64_t num_steps = 5;
    Range limit;
    BorderOptions border;
    void apply(Sample& s, Rng& rng) const override {
        if (limit.zero()) return;
        check_sample(s, "grid_distortion");
        std::vector<double> sx, sy;
        for (std::int64_t k = 0; k <= num_steps; ++k) sx.push_back(1 + limit.draw(rng));
        for (std::int64_t k = 0; k <= num_steps; ++k) sy.push_back(1 + limit.draw(rng));
        remap_sample(s, grid_distortion_map(s.height(), s.width(), num_steps, sx, sy), border, "grid_distortion");
    }
};

struct CropStep final : Transform {
    std::int64_t height = 0, width = 0;
    double strength = 1;
    BorderOptions border;
    void apply(Sample& s, Rng& rng) const override {
        check_sample(s, "random_crop");
        // Larger than the target: a random window (centred at strength 0); smaller: centred padding.
        auto offset = [&](std::int64_t size, std::int64_t target) {
            if (size <= target) return -((target - size) / 2);
            const std::int64_t slack = size - target;
            return strength == 0 ? slack / 2 : rng.integer(slack + 1);
        };
        const std::int64_t top = offset(s.height(), height), left = offset(s.width(), width);
        crop_or_pad(s, top, left, height, width, border);
    }
};

struct ResizeStep final : Transform {
    std::int64_t height = 0, width = 0;
    bool keep_aspect = true;
    float fill = 0;
    void apply(Sample& s, Rng&) const override {
        if (keep_aspect)
            letterbox(s, height, width, fill);
        else
            resize(s, height, width);
    }
};

struct BrightnessContrastStep final : Transform {
    Range brightness, contrast;
    bool clip = true;
    void apply(Sample& s, Rng& rng) const override {
        if (brightness.zero() && contrast.zero()) return;
        const double alpha = 1 + contrast.draw(rng), beta = brightness.draw(rng);  // Albumentations' order
        brightness_contrast(s.image, alpha, beta, clip);
    }
};

struct GammaStep final : Transform {
    Range gamma;  // already scaled: [lo^s, hi^s]
    void apply(Sample& s, Rng& rng) const override {
        if (gamma.lo == 1 && gamma.hi == 1) return;
        adjust_gamma(s.image, gamma.draw(rng));
    }
};

struct NoiseStep final : Transform {
    Range stddev;
    void apply(Sample& s, Rng& rng) const override {
        if (stddev.zero()) return;
        gaussian_noise(s.image, stddev.draw(rng), rng);
    }
};

struct BlurStep final : Transform {
    Range sigma;
    void apply(Sample& s, Rng& rng) const override {
        if (sigma.zero()) return;
        const double sg = sigma.draw(rng);
        if (sg > 0) gaussian_blur(s.image, sg);
    }
};

struct BiasFieldStep final : Transform {
    std::int64_t degree = 3;
    Range coeff;
    void apply(Sample& s, Rng& rng) const override {
        if (coeff.zero()) return;
        std::vector<double> c(std::size_t(bias_field_coefficients(degree)));
        for (auto& v : c) v = coeff.draw(rng);
        bias_field(s.image, degree, c);
    }
};

struct RicianStep final : Transform {
    double mean = 0, stddev = 0;
    bool sample_std = true;
    void apply(Sample& s, Rng& rng) const override {
        if (stddev == 0 && mean == 0) return;
        const double sd = sample_std ? rng.uniform(0.0, stddev) : stddev;
        rician_noise(s.image, mean, sd, rng);
    }
};

inline const std::vector<std::string>& transform_names() {
    static const std::vector<std::string> names = {
        "hflip",      "vflip", "rot90",          "affine",        "elastic",       "grid_distortion", "random_crop",
        "resize",     "brightness_contrast",     "gamma",         "gaussian_noise", "gaussian_blur",  "bias_field",
        "rician_noise"};
    return names;
}

/// Builds one step from its JSON object.
FBSEG_DATA std::shared_ptr<Transform> make_step(const nlohmann::json& j, std::size_t index, double strength) {
    FBSEG_CHECK(j.is_object(), "augment config step ", index, ": expected an object {\"name\": ..., \"p\": ...} but got ",
                j.dump());
    FBSEG_CHECK(j.contains("name") && j.at("name").is_string(), "augment config step ", index,
                ": expected a string \"name\" but got ", j.dump());
    const std::string name = j.at("name").get<std::string>();
    Params P(j, ::fbseg::detail::str("augment config step ", index, " (\"", name, "\")"));
    const double p = P.number_in("p", 1.0, 0.0, 1.0);
    const double s = strength;
    std::shared_ptr<Transform> t;
    if (name == "hflip" || name == "vflip") {
        auto f = std::make_shared<Flip>();
        f->horizontal = name == "hflip";
        f->p = p * s;
        t = f;
    } else if (name == "rot90") {
        t = std::make_shared<Rot90>();
        t->p = p * s;
    } else if (name == "affine") {
        auto a = std::make_shared<AffineStep>();
        a->rotate = scaled(P.range("rotate_deg", {}, true, -180, 180), s);
        const Range sc = P.range("scale", {1, 1}, false, 1e-3, 1e3);
        a->scale = {1 + s * (sc.lo - 1), 1 + s * (sc.hi - 1)};
        a->translate = scaled(P.range("translate", {}, true, -1, 1), s);
        a->shear = scaled(P.range("shear_deg", {}, true, -80, 80), s);
        a->border = P.border();
        a->p = p;
        t = a;
    } else if (name == "elastic") {
        auto e = std::make_shared<ElasticStep>();
        e->alpha = P.number_in("alpha", 0.0, 0.0, 1e4) * s;
        e->sigma = P.number_in("sigma", 10.0, 0.1, 100.0);
        e->border = P.border();
        e->p = p;
        t = e;
    } else if (name == "grid_distortion") {
        auto g = std::make_shared<GridStep>();
        g->num_steps = P.integer("num_steps", 5, 1, 64);
        g->limit = scaled(P.range("distort_limit", {-0.3, 0.3}, true, -0.99, 1.0), s);
        g->border = P.border();
        g->p = p;
        t = g;
    } else if (name == "random_crop") {
        auto c = std::make_shared<CropStep>();
        c->height = P.integer("height", 0, 1, 1 << 20);
        c->width = P.integer("width", 0, 1, 1 << 20);
        c->border = P.border();
        c->strength = s;
        c->p = p;
        t = c;
    } else if (name == "resize") {
        auto r = std::make_shared<ResizeStep>();
        r->height = P.integer("height", 0, 1, 1 << 20);
        r->width = P.integer("width", 0, 1, 1 << 20);
        const std::string mode = P.string("mode", "letterbox");
        FBSEG_CHECK(mode == "letterbox" || mode == "stretch", P.where(), ": \"mode\" must be \"letterbox\" or \"stretch\" but is \"",
                    mode, "\"");
        r->keep_aspect = mode == "letterbox";
        r->fill = float(P.number("fill", 0.0));
        r->p = p;
        t = r;
    } else if (name == "brightness_contrast") {
        auto b = std::make_shared<BrightnessContrastStep>();
        b->brightness = scaled(P.range("brightness", {-0.2, 0.2}, true, -1, 1), s);
        b->contrast = scaled(P.range("contrast", {-0.2, 0.2}, true, -1, 10), s);
        b->clip = P.boolean("clip", true);
        b->p = p;
        t = b;
    } else if (name == "gamma") {
        auto g = std::make_shared<GammaStep>();
        const Range r = P.range("gamma", {0.7, 1.5}, false, 1e-2, 1e2);
        FBSEG_CHECK(r.lo > 0, P.where(), ": \"gamma\" must be > 0 but starts at ", r.lo);
        g->gamma = {std::pow(r.lo, s), std::pow(r.hi, s)};
        g->p = p;
        t = g;
    } else if (name == "gaussian_noise") {
        auto n = std::make_shared<NoiseStep>();
        n->stddev = scaled(P.range("std", {0, 0.05}, false, 0, 1e6), s);
        n->p = p;
        t = n;
    } else if (name == "gaussian_blur") {
        auto b = std::make_shared<BlurStep>();
        b->sigma = scaled(P.range("sigma", {0.5, 1.5}, false, 0, 100), s);
        b->p = p;
        t = b;
    } else if (name == "bias_field") {
        auto b = std::make_shared<BiasFieldStep>();
        b->degree = P.integer("degree", 3, 1, 10);
        b->coeff = scaled(P.range("coeff", {0, 0.1}, false, -10, 10), s);
        b->p = p;
        t = b;
    } else if (name == "rician_noise") {
        auto r = std::make_shared<RicianStep>();
        r->stddev = P.number_in("std", 0.05, 0, 1e6) * s;
        r->mean = P.number("mean", 0.0) * s;
        r->sample_std = P.boolean("sample_std", true);
        r->p = p;
        t = r;
    } else {
        std::string known;
        for (const auto& n : transform_names()) known += (known.empty() ? "" : ", ") + n;
        FBSEG_FAIL("augment config step ", index, ": unknown transform \"", name, "\" (known: ", known, ")");
    }
    P.finish();
    t->name = name;
    return t;
}

}  // namespace detail
#endif  // FBSEG_DATA_DEFINITIONS

/// A sequence of random steps; copyable and const-callable from several threads at once (each
/// call with its own Sample and Rng).
class Pipeline {
public:
    Pipeline() = default;

    /// Builds the pipeline from a JSON array of steps; `strength` in [0, 1] scales magnitudes.
    static Pipeline from_json(const nlohmann::json& config, double strength = 1.0);

    void operator()(Sample& s, Rng& rng) const {
        for (const auto& t : steps_)
            if (rng.bernoulli(t->p)) t->apply(s, rng);
    }

    std::size_t size() const { return steps_.size(); }
    std::vector<std::string> names() const {
        std::vector<std::string> n;
        for (const auto& t : steps_) n.push_back(t->name);
        return n;
    }

private:
    std::vector<std::shared_ptr<const Transform>> steps_;
};

#if FBSEG_DATA_DEFINITIONS
FBSEG_DATA Pipeline Pipeline::from_json(const nlohmann::json& config, double strength) {
    FBSEG_CHECK(std::isfinite(strength) && strength >= 0 && strength <= 1,
                "augment config: strength must be in [0, 1] but is ", strength);
    FBSEG_CHECK(config.is_array(), "augment config: expected a JSON array of steps [{\"name\": ..., ...}, ...] but got ",
                config.dump());
    Pipeline out;
    for (std::size_t i = 0; i < config.size(); ++i) out.steps_.push_back(detail::make_step(config[i], i, strength));
    return out;
}
#endif  // FBSEG_DATA_DEFINITIONS

}  // namespace fbseg::data::augment
