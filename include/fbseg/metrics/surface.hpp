// fbseg/metrics/surface.hpp - surface distances as MONAI defines them (compute_hausdorff_distance,
// compute_average_surface_distance, distance_metric="euclidean", use_subvoxels=False):
//
//   surface S(M) = M XOR erosion(M): the voxels of M with a face neighbour (4 in 2D, 6 in 3D)
//                  outside M, or on the image border (scipy's binary_erosion, border_value=0)
//   d(p, S)      = min over q in S of || spacing * (p - q) ||   (exact Euclidean, in mm)
//   directed distances D(P->R) = { d(p, S(R)) : p in S(P) }
//   HD95         = max( pct95(D(P->R)), pct95(D(R->P)) )        (directed=False)
//   ASSD         = mean( D(P->R) concatenated with D(R->P) )     (symmetric=True)
//
// pct is numpy's/torch's "linear" percentile: position h = q/100 (n - 1) of the sorted values,
// v[floor h] + (h - floor h)(v[floor h + 1] - v[floor h]).
//
// d(., S) comes from an exact separable Euclidean distance transform (Felzenszwalb & Huttenlocher
// 2012, "Distance transforms of sampled functions": the lower envelope of parabolas, one pass per
// axis, O(N)) with the squared spacing of each axis as the parabola's width; MONAI's CPU path uses
// a KD-tree over the surface voxels, which gives the same distances.
//
// Empty masks: MONAI gives HD95 = NaN (the percentile of a vector of inf) and ASSD = inf when one
// mask is empty, NaN when both are. Here both are NaN with the reason ("empty prediction", ...) so
// that an average can skip and count them; an inf would poison it.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "fbseg/metrics/common.hpp"

namespace fbseg::metrics {

struct SurfaceOptions {
    std::vector<double> spacing;  // mm per axis (tensor order); {} = 1 mm
    double percentile = 95;       // of the directed distances (100: the Hausdorff distance itself)
};

/// The two directed surface-distance sets of one class (mm), in the raster order of the surface
/// voxels they start from, and why they are empty when they are.
struct SurfaceDistances {
    std::vector<double> pred_to_ref;  // for each surface voxel of the prediction
    std::vector<double> ref_to_pred;  // for each surface voxel of the reference
    std::string empty_reason;         // "" when both masks have voxels
};

namespace detail {

inline constexpr double kInf = std::numeric_limits<double>::infinity();

/// S(M) = M XOR erosion(M) with the face-neighbour cross; outside the image counts as off.
inline Mask surface_of(const Mask& m) {
    Mask out;
    out.shape = m.shape;
    out.on.assign(m.on.size(), 0);
    const auto st = strides_of(m.shape);
    const std::size_t nd = m.shape.size();
    std::vector<std::int64_t> idx(nd, 0);
    for (std::int64_t i = 0; i < m.size(); ++i) {
        if (m.on[std::size_t(i)]) {
            bool edge = false;
            for (std::size_t d = 0; d < nd && !edge; ++d) {
                edge = idx[d] == 0 || idx[d] == m.shape[d] - 1 || !m.on[std::size_t(i - st[d])] ||
                       !m.on[std::size_t(i + st[d])];
            }
            out.on[std::size_t(i)] = edge;
        }
        for (std::size_t d = nd; d-- > 0;) {
            if (++idx[d] < m.shape[d]) break;
            idx[d] = 0;
        }
    }
    return out;
}

/// In place along one line of n values f[0], f[stride], ...: f(p) <- min_q f(q) + w (p - q)^2,
/// with w = spacing^2 (Felzenszwalb-Huttenlocher). inf values are no sites; all inf stays inf.
/// v: the sites of the lower envelope, z: the boundaries between their parabolas.
inline void edt_line(double* f, std::int64_t n, std::int64_t stride, double w, std::vector<double>& line,
                     std::vector<std::int64_t>& v, std::vector<double>& z) {
    line.resize(std::size_t(n));
    v.resize(std::size_t(n));
    z.resize(std::size_t(n) + 1);
    for (std::int64_t i = 0; i < n; ++i) line[std::size_t(i)] = f[i * stride];
    std::int64_t k = -1;
    for (std::int64_t q = 0; q < n; ++q) {
        const double fq = line[std::size_t(q)];
        if (fq == kInf) continue;
        double s = -kInf;
        while (k >= 0) {
            const std::int64_t r = v[std::size_t(k)];
            // where the parabolas of sites r < q meet: fq + w (s-q)^2 = fr + w (s-r)^2
            s = ((fq + w * double(q) * double(q)) - (line[std::size_t(r)] + w * double(r) * double(r))) /
                (2.0 * w * double(q - r));
            if (s > z[std::size_t(k)]) break;
            --k;  // site r is hidden by q everywhere it was lowest
        }
        if (k < 0) s = -kInf;
        ++k;
        v[std::size_t(k)] = q;
        z[std::size_t(k)] = s;
        z[std::size_t(k) + 1] = kInf;
    }
    if (k < 0) return;  // no site on this line: everything stays inf
    k = 0;
    for (std::int64_t p = 0; p < n; ++p) {
        while (z[std::size_t(k) + 1] < double(p)) ++k;
        const double dp = double(p - v[std::size_t(k)]);
        f[p * stride] = w * dp * dp + line[std::size_t(v[std::size_t(k)])];
    }
}

/// Squared Euclidean distance (mm^2) from every voxel to the nearest voxel of `features`
/// (0 on a feature voxel, +inf everywhere when there is none). Exact.
inline std::vector<double> edt_squared(const Mask& features, const std::vector<double>& spacing) {
    std::vector<double> f(features.on.size());
    for (std::size_t i = 0; i < f.size(); ++i) f[i] = features.on[i] ? 0.0 : kInf;
    const auto st = strides_of(features.shape);
    const std::int64_t total = features.size();
    std::vector<double> line, z;
    std::vector<std::int64_t> v;
    for (std::size_t axis = features.shape.size(); axis-- > 0;) {  // last axis first (any order is exact)
        const std::int64_t n = features.shape[axis], stride = st[axis];
        if (n == 0) continue;
        const double w = spacing[axis] * spacing[axis];
        // every line along `axis`: its start is any index whose coordinate on `axis` is 0
        for (std::int64_t start = 0; start < total; ++start) {
            if ((start / stride) % n != 0) continue;
            edt_line(f.data() + start, n, stride, w, line, v, z);
        }
    }
    return f;
}

/// Distances (mm) from each surface voxel of `from` to the nearest surface voxel of `to`.
inline std::vector<double> directed_distances(const Mask& from_surface, const std::vector<double>& to_edt2) {
    std::vector<double> d;
    for (std::size_t i = 0; i < from_surface.on.size(); ++i)
        if (from_surface.on[i]) d.push_back(std::sqrt(to_edt2[i]));
    return d;
}

inline std::string empty_reason(bool pred_any, bool ref_any) {
    if (!pred_any && !ref_any) return "empty prediction and empty reference";
    if (!pred_any) return "empty prediction (no surface to measure from)";
    if (!ref_any) return "empty reference (no surface to measure to)";
    return "";
}

inline SurfaceDistances surface_distances(const Mask& pred, const Mask& ref, const std::vector<double>& spacing) {
    SurfaceDistances out;
    out.empty_reason = empty_reason(pred.any(), ref.any());
    if (!out.empty_reason.empty()) return out;
    const Mask sp = surface_of(pred), sr = surface_of(ref);
    out.pred_to_ref = directed_distances(sp, edt_squared(sr, spacing));
    out.ref_to_pred = directed_distances(sr, edt_squared(sp, spacing));
    return out;
}

}  // namespace detail

/// numpy.percentile(values, q) with the default method "linear" (as torch.quantile(values, q/100)):
/// h = q/100 (n - 1), lo = floor h, result v[lo] + (h - lo)(v[lo+1] - v[lo]) of the sorted values,
/// written as numpy's lerp (from the upper end when h - lo >= 0.5). NaN for no values.
inline double percentile_linear(std::vector<double> values, double q) {
    FBSEG_CHECK(q >= 0 && q <= 100, "percentile_linear: q must lie in [0, 100] but is ", q);
    if (values.empty()) return kNaN;
    std::sort(values.begin(), values.end());
    const double h = (q / 100.0) * double(values.size() - 1);
    const double lo_f = std::floor(h);
    if (h >= double(values.size() - 1)) return values.back();
    const auto lo = std::size_t(lo_f);
    const double t = h - lo_f, a = values[lo], b = values[lo + 1], diff = b - a;
    return t >= 0.5 ? b - diff * (1 - t) : a + diff * t;
}

/// The binary surface (MONAI's edges: M XOR erosion(M)) of a label map's nonzero voxels, as uint8.
inline Tensor mask_edges(const Tensor& mask) {
    const auto img = detail::read_labels(mask, "mask_edges", "mask");
    const detail::Mask s = detail::surface_of(detail::mask_of(img, -1));
    Tensor out = Tensor::empty(img.shape, TensorOptions(DType::UInt8));
    std::copy(s.on.begin(), s.on.end(), out.data_ptr<std::uint8_t>());
    return out;
}

/// The Euclidean distance (mm, float64) from every voxel to the nearest nonzero voxel of
/// `features` (+inf when it has none). Note: scipy's distance_transform_edt(x) measures to the
/// nearest zero of x; this is distance_transform_edt(features == 0, sampling=spacing).
inline Tensor distance_transform_edt(const Tensor& features, const std::vector<double>& spacing = {}) {
    const auto img = detail::read_labels(features, "distance_transform_edt", "feature mask");
    const auto sp = detail::resolve_spacing(spacing, img.shape.size(), "distance_transform_edt");
    const auto d2 = detail::edt_squared(detail::mask_of(img, -1), sp);
    Tensor out = Tensor::empty(img.shape, TensorOptions(DType::Float64));
    double* o = out.data_ptr<double>();
    for (std::size_t i = 0; i < d2.size(); ++i) o[i] = std::sqrt(d2[i]);
    return out;
}

/// Both directed surface-distance sets of `label` (label < 0: binary, nonzero = foreground).
inline SurfaceDistances surface_distances(const Tensor& pred, const Tensor& ref, std::int64_t label = -1,
                                          const std::vector<double>& spacing = {}) {
    detail::check_same_shape(pred, ref, "surface_distances");
    const auto p = detail::read_labels(pred, "surface_distances", "prediction");
    const auto r = detail::read_labels(ref, "surface_distances", "reference");
    const auto sp = detail::resolve_spacing(spacing, p.shape.size(), "surface_distances");
    return detail::surface_distances(detail::mask_of(p, label), detail::mask_of(r, label), sp);
}

/// Symmetric percentile Hausdorff distance (mm) from precomputed distances: the larger of the two
/// directed percentiles (MONAI compute_hausdorff_distance, directed=False).
inline Metric hausdorff_distance(const SurfaceDistances& d, double percentile = 95) {
    if (!d.empty_reason.empty()) return Metric::undefined(d.empty_reason);
    return Metric::of(
        std::max(percentile_linear(d.pred_to_ref, percentile), percentile_linear(d.ref_to_pred, percentile)));
}

/// Average symmetric surface distance (mm): the mean of both directed sets together (MONAI
/// compute_average_surface_distance, symmetric=True).
inline Metric average_surface_distance(const SurfaceDistances& d) {
    if (!d.empty_reason.empty()) return Metric::undefined(d.empty_reason);
    double sum = 0;
    for (double x : d.pred_to_ref) sum += x;
    for (double x : d.ref_to_pred) sum += x;
    return Metric::of(sum / double(d.pred_to_ref.size() + d.ref_to_pred.size()));
}

inline Metric hausdorff_distance(const Tensor& pred, const Tensor& ref, std::int64_t label = -1,
                                 const SurfaceOptions& o = {}) {
    return hausdorff_distance(surface_distances(pred, ref, label, o.spacing), o.percentile);
}
inline Metric average_surface_distance(const Tensor& pred, const Tensor& ref, std::int64_t label = -1,
                                       const SurfaceOptions& o = {}) {
    return average_surface_distance(surface_distances(pred, ref, label, o.spacing));
}

}  // namespace fbseg::metrics
