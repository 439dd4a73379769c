// fbseg/data/normalize.hpp - per-volume intensity normalisation: clip to percentiles, then z-score
// (nnU-Net's scheme for MRI, with its "use_mask_for_norm" option).
//
// With x the voxels of the volume (or, with use_mask, the voxels where the input is non-zero):
//   lo = P(x, p_low), hi = P(x, p_high)   P: numpy's default percentile (linear interpolation:
//                                          sorted a[0..n-1], h = (n - 1) p / 100,
//                                          P = a[floor h] + (h - floor h) (a[floor h + 1] - a[floor h]))
//   c  = min(max(x, lo), hi)
//   mean = sum(c) / n,  std = sqrt(sum((c - mean)^2) / n)      (population std, numpy's ddof = 0)
//   out = (c - mean) / max(std, min_std)                       min_std = 1e-8 as nnU-Net
// With use_mask, voxels outside the mask become 0 (nnU-Net). A constant volume (std = 0) gives 0
// everywhere (c - mean = 0): no division by zero. An empty mask gives 0 everywhere. Statistics are
// computed in double; the output is float32. NaN or infinite voxels are an error.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "fbseg/core/error.hpp"
#include "fbseg/core/shape.hpp"
#include "fbseg/core/tensor.hpp"

namespace fbseg::data {

struct NormalizeOptions {
    double p_low = 0.5;    // percent, in [0, 100]
    double p_high = 99.5;  // percent, in [p_low, 100]
    /// Statistics over the non-zero voxels only, and 0 outside them (nnU-Net's use_mask_for_norm).
    bool use_mask = false;
    double min_std = 1e-8;
};

/// What a normalisation computed (for logs and tests).
struct NormalizeStats {
    double clip_low = 0, clip_high = 0, mean = 0, std = 0;
    std::int64_t count = 0;  // voxels the statistics were taken over
};

/// numpy's linear percentile of `values` (reordered in place); p in [0, 100]; values non-empty.
inline double percentile(std::vector<double>& values, double p) {
    FBSEG_CHECK(!values.empty(), "percentile: no values");
    const double h = double(values.size() - 1) * p / 100.0;
    const auto lo = std::size_t(std::floor(h));
    std::nth_element(values.begin(), values.begin() + std::ptrdiff_t(lo), values.end());
    const double a = values[lo];
    if (lo + 1 >= values.size()) return a;
    const double b = *std::min_element(values.begin() + std::ptrdiff_t(lo) + 1, values.end());
    return a + (h - double(lo)) * (b - a);
}

/// Normalises a float32 CPU volume (any shape) in place; returns the statistics. `name` (a path)
/// goes into error messages.
inline NormalizeStats normalize_volume_(Tensor& volume, const NormalizeOptions& options = {},
                                        const std::string& name = "volume") {
    FBSEG_CHECK(volume.defined() && volume.dtype() == DType::Float32 && !volume.is_cuda() && volume.is_contiguous(),
                "normalize_volume: '", name, "': expected a contiguous float32 CPU tensor");
    FBSEG_CHECK(options.p_low >= 0 && options.p_low <= options.p_high && options.p_high <= 100,
                "normalize_volume: percentiles must satisfy 0 <= p_low <= p_high <= 100 but are ", options.p_low,
                " and ", options.p_high);
    float* x = volume.data_ptr<float>();
    const std::int64_t n = volume.numel();
    std::vector<double> values;
    values.reserve(std::size_t(n));
    for (std::int64_t i = 0; i < n; ++i) {
        FBSEG_CHECK(std::isfinite(x[i]), "normalize_volume: '", name, "': voxel ", i, " (flat index) is ", x[i],
                    "; expected finite intensities");
        if (!options.use_mask || x[i] != 0.0f) values.push_back(double(x[i]));
    }
    NormalizeStats st;
    st.count = std::int64_t(values.size());
    if (values.empty()) {  // an empty mask (or an empty volume): nothing to normalise
        for (std::int64_t i = 0; i < n; ++i) x[i] = 0.0f;
        return st;
    }
    st.clip_low = percentile(values, options.p_low);
    st.clip_high = percentile(values, options.p_high);
    double sum = 0;
    for (double& v : values) {
        v = std::clamp(v, st.clip_low, st.clip_high);
        sum += v;
    }
    st.mean = sum / double(values.size());
    double ss = 0;
    for (double v : values) ss += (v - st.mean) * (v - st.mean);
    st.std = std::sqrt(ss / double(values.size()));
    const double scale = 1.0 / std::max(st.std, options.min_std);
    for (std::int64_t i = 0; i < n; ++i) {
        if (options.use_mask && x[i] == 0.0f) continue;  // stays 0
        x[i] = float((std::clamp(double(x[i]), st.clip_low, st.clip_high) - st.mean) * scale);
    }
    return st;
}

}  // namespace fbseg::data
