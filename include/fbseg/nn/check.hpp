// fbseg/nn/check.hpp - checks that layers make on their inputs, shared by every layer file.
#pragma once

#include <cstdint>
#include <string>

#include "fbseg/core/tensor.hpp"

namespace fbseg::nn::layer_detail {

/// Checks a layer's input: rank 4 (NCHW) with the channel count the layer was built for.
/// `describe` is a callable returning the layer's description ("Conv2d(3, 64, kernel_size=7)");
/// it is called only to build an error message, so a forward call that passes costs nothing.
template <typename Describe>
void check_nchw_input(Describe&& describe, const Tensor& input, std::int64_t channels) {
    if (input.defined() && input.dim() == 4 && input.size(1) == channels) [[likely]] return;
    const std::string layer = describe();
    FBSEG_CHECK(input.defined(), layer, ": the input is an undefined tensor");
    FBSEG_CHECK(input.dim() == 4, layer, ": expected a 4-D input [N, C, H, W] but got shape ", shape_str(input.shape()));
    FBSEG_FAIL(layer, ": expected an input with ", channels, " channels [N, ", channels, ", H, W] but got shape ",
               shape_str(input.shape()));
}

}  // namespace fbseg::nn::layer_detail
