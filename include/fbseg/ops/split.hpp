// fbseg/ops/split.hpp - chunk and split: a tensor cut along one dim into views (no copy, as in
// PyTorch). Each piece is a narrow() of the input, so writing into a piece writes into the input,
// and the gradient of each piece flows back into its slice of the input's gradient.
#pragma once

#include <concepts>
#include <vector>

#include "fbseg/ops/view.hpp"
#include "fbseg/ops/op_library.hpp"

namespace fbseg {

/// Pieces of `split_size` elements along dim; the last one is smaller when split_size does not
/// divide the size (torch.split(x, int)). A dim of size 0 gives one empty piece.
///   split(x [5, 2], 2) -> [2, 2], [2, 2], [1, 2]
template <std::integral I>
std::vector<Tensor> split(const Tensor& x, I split_size, std::int64_t dim = 0) {
    FBSEG_CHECK(x.defined() && x.dim() > 0, "split: expected a tensor with at least one dim but got ", x.describe());
    dim = normalize_dim(dim, x.dim(), "split");
    const std::int64_t n = x.shape()[dim], size = std::int64_t(split_size);
    FBSEG_CHECK(size > 0 || (size == 0 && n == 0), "split: split_size must be positive but got ", size, " (dim ", dim,
                " of ", shape_str(x.shape()), " has size ", n, ")");
    std::vector<Tensor> pieces;
    if (n == 0) return {x.narrow(dim, 0, 0)};
    for (std::int64_t start = 0; start < n; start += size)
        pieces.push_back(x.narrow(dim, start, std::min(size, n - start)));
    return pieces;
}

// ---- the ops (defined below, or in libfbseg: ops/op_library.hpp) ----
/// Pieces of the given sizes along dim; the sizes must add up to the size of dim
/// (torch.split(x, [sizes])).   split(x [5, 2], {1, 4}) -> [1, 2], [4, 2]
FBSEG_OP std::vector<Tensor> split(const Tensor& x, const Shape& split_sizes, std::int64_t dim = 0);
/// At most `chunks` pieces of ceil(size / chunks) elements along dim (torch.chunk): fewer pieces
/// when the size does not allow that many (chunk(x [5], 4) gives sizes 2, 2, 1).
FBSEG_OP std::vector<Tensor> chunk(const Tensor& x, std::int64_t chunks, std::int64_t dim = 0);

#if FBSEG_OP_DEFINITIONS
FBSEG_OP std::vector<Tensor> split(const Tensor& x, const Shape& split_sizes, std::int64_t dim) {
    FBSEG_CHECK(x.defined() && x.dim() > 0, "split: expected a tensor with at least one dim but got ", x.describe());
    dim = normalize_dim(dim, x.dim(), "split");
    std::int64_t total = 0;
    for (auto s : split_sizes) {
        FBSEG_CHECK(s >= 0, "split: sizes ", shape_str(split_sizes), " must be >= 0");
        total += s;
    }
    FBSEG_CHECK(total == x.shape()[dim], "split: sizes ", shape_str(split_sizes), " add up to ", total, " but dim ",
                dim, " of ", shape_str(x.shape()), " has size ", x.shape()[dim]);
    std::vector<Tensor> pieces;
    std::int64_t start = 0;
    for (auto s : split_sizes) {
        pieces.push_back(x.narrow(dim, start, s));
        start += s;
    }
    return pieces;
}

FBSEG_OP std::vector<Tensor> chunk(const Tensor& x, std::int64_t chunks, std::int64_t dim) {
    FBSEG_CHECK(chunks > 0, "chunk: chunks must be positive but got ", chunks);
    FBSEG_CHECK(x.defined() && x.dim() > 0, "chunk: expected a tensor with at least one dim but got ", x.describe());
    dim = normalize_dim(dim, x.dim(), "chunk");
    const std::int64_t n = x.shape()[dim];
    return split(x, (n + chunks - 1) / chunks, dim);
}
#endif  // FBSEG_OP_DEFINITIONS

}  // namespace fbseg
