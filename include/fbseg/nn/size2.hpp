// fbseg/nn/size2.hpp - a (height, width) pair for layer options: kernel sizes, strides, padding.
//
// PyTorch's C++ frontend takes either one number for both dims or a pair ({3, 1}); Size2 accepts
// both, so Conv2dOptions(1, 8, 3).stride(2) and .stride({2, 1}) both read naturally.
#pragma once

#include <cstdint>
#include <string>

#include "fbseg/core/error.hpp"

namespace fbseg::nn {

struct Size2 {
    std::int64_t h = 0;
    std::int64_t w = 0;

    Size2() = default;
    Size2(std::int64_t both) : h(both), w(both) {}  // NOLINT: implicit, as PyTorch's ExpandingArray
    Size2(std::int64_t height, std::int64_t width) : h(height), w(width) {}

    bool operator==(const Size2&) const = default;
    /// "3" when both are equal, else "[3, 1]": how layer descriptions print it.
    std::string str() const { return h == w ? std::to_string(h) : fbseg::detail::str("[", h, ", ", w, "]"); }
};

}  // namespace fbseg::nn
