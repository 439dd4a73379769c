// fbseg/ops/overlap.hpp - does an in-place write read memory it has already written?
//
// An in-place op (add_, copy_, relu_, ...) writes its destination while it reads its inputs, in
// parallel chunks. That is only correct when every element is read before any thread writes
// over it. Two cases break it (PyTorch calls them internal and partial overlap):
//
//   internal: the destination itself names one memory location twice (a stride-0, expanded
//             dim): ones({1}).expand({4}).add_(x) would add four values into one float from
//             four threads. Refused, as in PyTorch.
//   partial:  source and destination share a storage and their memory ranges intersect without
//             being the same elements in the same order: x.slice(0, 1, n).add_(x.slice(0, 0, n - 1))
//             would read elements the loop has already written (prefix sums). The source is
//             copied first, which gives PyTorch's answer.
//
// Full overlap (the same view, x.add_(x)) is safe for elementwise ops: element i is read and
// written by the same thread at the same step.
#pragma once

#include <string_view>

#include "fbseg/autograd/grad_mode.hpp"
#include "fbseg/core/tensor.hpp"

namespace fbseg::overlap {

/// First and one-past-last byte of the storage that a tensor with elements can touch.
struct ByteRange {
    std::int64_t begin = 0, end = 0;
};

inline ByteRange byte_range(const Tensor& t) {
    std::int64_t lo = t.offset(), hi = t.offset();  // in elements
    for (std::int64_t d = 0; d < t.dim(); ++d) {
        const std::int64_t extent = (t.shape()[std::size_t(d)] - 1) * t.strides()[std::size_t(d)];
        (extent < 0 ? lo : hi) += extent;  // a negative stride extends the range downwards
    }
    const auto es = std::int64_t(element_size(t.dtype()));
    return {lo * es, (hi + 1) * es};
}

/// True when two different indices of `t` name the same element: a dim of size > 1 and
/// stride 0 (what expand() makes). Other self-overlapping layouts cannot be made with fbseg's
/// views.
inline bool has_internal_overlap(const Tensor& t) {
    for (std::int64_t d = 0; d < t.dim(); ++d)
        if (t.shape()[std::size_t(d)] > 1 && t.strides()[std::size_t(d)] == 0) return true;
    return false;
}

/// Refuses an in-place write into a destination with internal overlap.
inline void assert_no_internal_overlap(const Tensor& dst, std::string_view op) {
    FBSEG_CHECK(!has_internal_overlap(dst), op,
                ": unsupported operation: more than one element of the written-to tensor ", dst.describe(),
                " (strides ", shape_str(dst.strides()),
                ") refers to a single memory location; clone() the tensor before writing to it in place");
}

enum class Overlap { None, Full, Partial };

/// How `src` (read) relates to `dst` (written): no shared bytes, the very same elements in the
/// same order, or anything else that shares bytes.
inline Overlap overlap_of(const Tensor& dst, const Tensor& src) {
    if (dst.numel() == 0 || src.numel() == 0 || dst.storage() != src.storage()) return Overlap::None;
    if (dst.dtype() == src.dtype() && dst.offset() == src.offset() && dst.shape() == src.shape() &&
        dst.strides() == src.strides())
        return Overlap::Full;
    const ByteRange a = byte_range(dst), b = byte_range(src);
    return (a.begin < b.end && b.begin < a.end) ? Overlap::Partial : Overlap::None;
}

/// `src` itself, or a copy of it when it partially overlaps `dst` (the value it has before the
/// write). The copy carries no autograd history: callers record their nodes with `src`.
inline Tensor unaliased_source(const Tensor& dst, const Tensor& src) {
    if (overlap_of(dst, src) != Overlap::Partial) return src;
    NoGradGuard no_grad;
    return src.detach().clone();
}

}  // namespace fbseg::overlap
