// fbseg/data/augment/presets.hpp - the named augmentation pipelines, as JSON configs (so that a
// run's report can print the exact config) and as Pipelines:
//   none     no step (the identity)
//   flips    the original project's: horizontal and vertical flips, p = 0.5 each
//   default  flips, a moderate affine (rotation 15 deg, scale 0.9..1.1, shift 5%), brightness and
//            contrast 0.2, gamma 0.7..1.5, light Gaussian noise
//   strong   default's steps with larger magnitudes, plus elastic deformation, grid distortion,
//            Gaussian blur, a bias field and Rician noise
// `strength` in [0, 1] scales every magnitude (pipeline.hpp); 0 is the identity.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>  // JSON in the declarations; <nlohmann/json.hpp> to build a value

#include "fbseg/core/error.hpp"
#include "fbseg/data/augment/pipeline.hpp"
#include "fbseg/data/data_library.hpp"

#if FBSEG_DATA_DEFINITIONS
#include <nlohmann/json.hpp>  // the definitions parse and write JSON
#endif

namespace fbseg::data::augment {

// ---- declared here, defined below or in libfbseg (fbseg/data/data_library.hpp) ----
/// The config of a preset ("none", "flips", "default", "strong").
FBSEG_DATA nlohmann::json preset_config(std::string_view name);
/// The pipeline of a preset at `strength` in [0, 1].
FBSEG_DATA Pipeline preset(std::string_view name, double strength = 1.0);

#if FBSEG_DATA_DEFINITIONS
FBSEG_DATA nlohmann::json preset_config(std::string_view name) {
    using nlohmann::json;
    if (name == "none") return json::array();
    if (name == "flips") return json::parse(R"([{"name": "hflip", "p": 0.5}, {"name": "vflip", "p": 0.5}])");
    if (name == "default")
        return json::parse(R"([
            {"name": "hflip", "p": 0.5},
            {"name": "vflip", "p": 0.5},
            {"name": "affine", "p": 0.5, "rotate_deg": 15, "scale": [0.9, 1.1], "translate": 0.05, "border": "constant"},
            {"name": "brightness_contrast", "p": 0.5, "brightness": 0.2, "contrast": 0.2},
            {"name": "gamma", "p": 0.3, "gamma": [0.7, 1.5]},
            {"name": "gaussian_noise", "p": 0.2, "std": [0.0, 0.03]}
        ])");
    if (name == "strong")
        return json::parse(R"([
            {"name": "hflip", "p": 0.5},
            {"name": "vflip", "p": 0.5},
            {"name": "affine", "p": 0.7, "rotate_deg": 30, "scale": [0.8, 1.2], "translate": 0.1, "shear_deg": 10,
             "border": "constant"},
            {"name": "elastic", "p": 0.3, "alpha": 300, "sigma": 10, "border": "constant"},
            {"name": "grid_distortion", "p": 0.3, "num_steps": 5, "distort_limit": 0.3, "border": "constant"},
            {"name": "brightness_contrast", "p": 0.7, "brightness": 0.3, "contrast": 0.3},
            {"name": "gamma", "p": 0.5, "gamma": [0.5, 2.0]},
            {"name": "gaussian_blur", "p": 0.2, "sigma": [0.5, 1.5]},
            {"name": "bias_field", "p": 0.3, "degree": 3, "coeff": [0.0, 0.1]},
            {"name": "gaussian_noise", "p": 0.3, "std": [0.0, 0.05]},
            {"name": "rician_noise", "p": 0.2, "std": 0.05}
        ])");
    FBSEG_FAIL("augment preset: unknown preset \"", name, "\" (known: none, flips, default, strong)");
}

FBSEG_DATA Pipeline preset(std::string_view name, double strength) {
    return Pipeline::from_json(preset_config(name), strength);
}
#endif  // FBSEG_DATA_DEFINITIONS

}  // namespace fbseg::data::augment
