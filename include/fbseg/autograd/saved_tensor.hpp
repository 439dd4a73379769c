// fbseg/autograd/saved_tensor.hpp - SavedTensor: a tensor an op keeps for its backward, with the
// version check that catches an in-place change made between forward and backward.
#pragma once

#include <cstdint>
#include <string>

#include "fbseg/core/tensor.hpp"

namespace fbseg::autograd {

/// A tensor kept for backward. It holds a detached alias (the data, no history: no reference
/// cycles between a node and its own outputs) and the storage version at save time. If the data
/// was modified in place before backward runs, unpack() refuses, as PyTorch does.
class SavedTensor {
public:
    SavedTensor() = default;
    SavedTensor(const Tensor& t);  // NOLINT(implicit): [saved = SavedTensor(x)] reads well
    /// The saved tensor; throws naming `node_name` if it was freed or modified in place since.
    Tensor unpack(const std::string& node_name) const;
    bool defined() const { return data_.defined(); }

private:
    Tensor data_;
    std::uint64_t saved_version_ = 0;
};

inline SavedTensor::SavedTensor(const Tensor& t) {
    if (!t.defined()) return;
    data_ = fbseg::detail::make_view(t, t.shape(), t.strides(), t.offset());  // alias without history
    data_.impl()->is_view = t.impl()->is_view;
    saved_version_ = t.version();
}

inline Tensor SavedTensor::unpack(const std::string& node_name) const {
    FBSEG_CHECK(data_.defined(), node_name, ": a tensor saved for backward was already freed; "
                "call backward(..., retain_graph=true) to backpropagate through the graph a second time");
    FBSEG_CHECK(data_.version() == saved_version_, node_name, ": a tensor saved for backward (", data_.describe(),
                ") was modified by an in-place operation after it was saved (version ", saved_version_,
                " then, ", data_.version(), " now); compute on a clone() instead of modifying it in place");
    return data_;
}

}  // namespace fbseg::autograd
