// fbseg/metrics/components.hpp - connected components of a binary mask (nonzero voxels), their
// sizes, and the largest one (the post-processing the app applies to a predicted head or brain).
//
// Connectivity: 2D 4 (edge neighbours) or 8 (edges and corners); 3D 6 (faces), 18 (faces and
// edges) or 26 (faces, edges and corners). 0 means the full one (8 in 2D, 26 in 3D), as OpenCV's
// connectedComponents and findContours; scipy.ndimage.label's default is the smallest (4 / 6).
// Labels are 1..count in the raster order of each component's first voxel (scipy's order);
// background is 0.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <vector>

#include "fbseg/metrics/common.hpp"

namespace fbseg::metrics {

struct Components {
    Tensor labels;  // int64, the input's shape: 0 background, 1..count
    std::int64_t count = 0;
    std::vector<std::int64_t> sizes;  // sizes[k - 1]: voxels of component k
};

namespace detail {

/// The neighbour offsets (per axis) of a connectivity, e.g. 4 in 2D: (-1,0) (1,0) (0,-1) (0,1).
inline std::vector<std::vector<std::int64_t>> neighbour_offsets(std::size_t ndim, int connectivity,
                                                                std::string_view op) {
    if (connectivity == 0) connectivity = ndim == 2 ? 8 : 26;
    // max |offset| summed over axes: 1 = faces/edges (4, 6), 2 = + 2D corners / 3D edges (8, 18), 3 = all (26)
    int order = 0;
    if (ndim == 2 && connectivity == 4) order = 1;
    if (ndim == 2 && connectivity == 8) order = 2;
    if (ndim == 3 && connectivity == 6) order = 1;
    if (ndim == 3 && connectivity == 18) order = 2;
    if (ndim == 3 && connectivity == 26) order = 3;
    FBSEG_CHECK(order > 0, op, ": connectivity ", connectivity, " is not one of ",
                ndim == 2 ? "4 or 8 (2D)" : "6, 18 or 26 (3D)");
    std::vector<std::vector<std::int64_t>> out;
    std::vector<std::int64_t> o(ndim, -1);
    while (true) {
        int nonzero = 0;
        for (auto x : o) nonzero += x != 0;
        if (nonzero > 0 && nonzero <= order) out.push_back(o);
        std::size_t d = ndim;
        while (d-- > 0) {
            if (++o[d] <= 1) break;
            o[d] = -1;
        }
        if (d == std::size_t(-1)) break;
    }
    return out;
}

/// Labels (0 background, 1..count) and sizes of the components of m; breadth-first flood fill.
inline std::vector<std::int64_t> label_components(const Mask& m, int connectivity, std::vector<std::int64_t>& sizes,
                                                  std::string_view op) {
    const std::size_t nd = m.shape.size();
    const auto offsets = neighbour_offsets(nd, connectivity, op);
    const auto st = strides_of(m.shape);
    std::vector<std::int64_t> labels(m.on.size(), 0);
    std::vector<std::int64_t> queue;
    std::vector<std::int64_t> idx(nd);
    sizes.clear();
    for (std::int64_t seed = 0; seed < m.size(); ++seed) {
        if (!m.on[std::size_t(seed)] || labels[std::size_t(seed)] != 0) continue;
        const std::int64_t label = std::int64_t(sizes.size()) + 1;
        labels[std::size_t(seed)] = label;
        queue.assign(1, seed);
        for (std::size_t head = 0; head < queue.size(); ++head) {
            const std::int64_t i = queue[head];
            std::int64_t rest = i;
            for (std::size_t d = 0; d < nd; ++d) {
                idx[d] = rest / st[d];
                rest %= st[d];
            }
            for (const auto& o : offsets) {
                std::int64_t j = 0;
                bool inside = true;
                for (std::size_t d = 0; d < nd && inside; ++d) {
                    const std::int64_t c = idx[d] + o[d];
                    inside = c >= 0 && c < m.shape[d];
                    j += c * st[d];
                }
                if (!inside || !m.on[std::size_t(j)] || labels[std::size_t(j)] != 0) continue;
                labels[std::size_t(j)] = label;
                queue.push_back(j);
            }
        }
        sizes.push_back(std::int64_t(queue.size()));
    }
    return labels;
}

/// The largest component of m (the first in raster order on a tie); all-zero when m is empty.
inline Mask largest_of(const Mask& m, int connectivity, std::string_view op) {
    std::vector<std::int64_t> sizes;
    const auto labels = label_components(m, connectivity, sizes, op);
    Mask out;
    out.shape = m.shape;
    out.on.assign(m.on.size(), 0);
    std::int64_t best = 0;
    for (std::size_t k = 0; k < sizes.size(); ++k)
        if (best == 0 || sizes[k] > sizes[std::size_t(best - 1)]) best = std::int64_t(k) + 1;
    if (best == 0) return out;
    for (std::size_t i = 0; i < labels.size(); ++i) out.on[i] = labels[i] == best;
    return out;
}

}  // namespace detail

/// Connected components of the nonzero voxels of a 2D or 3D uint8/bool/int64 tensor.
inline Components connected_components(const Tensor& mask, int connectivity = 0) {
    const auto img = detail::read_labels(mask, "connected_components", "mask");
    Components out;
    const auto labels =
        detail::label_components(detail::mask_of(img, -1), connectivity, out.sizes, "connected_components");
    out.count = std::int64_t(out.sizes.size());
    out.labels = Tensor::empty(img.shape, TensorOptions(DType::Int64));
    std::copy(labels.begin(), labels.end(), out.labels.data_ptr<std::int64_t>());
    return out;
}

/// The largest connected component of the nonzero voxels, as a uint8 0/1 mask of the same shape
/// (ties: the component whose first voxel comes first in raster order; empty in, empty out).
inline Tensor largest_component(const Tensor& mask, int connectivity = 0) {
    const auto img = detail::read_labels(mask, "largest_component", "mask");
    const auto m = detail::largest_of(detail::mask_of(img, -1), connectivity, "largest_component");
    Tensor out = Tensor::empty(img.shape, TensorOptions(DType::UInt8));
    std::copy(m.on.begin(), m.on.end(), out.data_ptr<std::uint8_t>());
    return out;
}

}  // namespace fbseg::metrics
