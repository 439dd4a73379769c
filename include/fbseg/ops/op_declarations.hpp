// fbseg/ops/op_declarations.hpp - declarations of the ops that other headers' backward formulas call
// before the op's own header is seen (every one is defined in an ops/ header that fbseg.hpp
// includes). This is what lets each op header hold its forward and backward side by side.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "fbseg/core/tensor.hpp"
#include "fbseg/ops/op_library.hpp"

namespace fbseg {

FBSEG_OP Tensor sum_to(const Tensor& t, const Shape& shape);
FBSEG_OP Tensor sum(const Tensor& t);
FBSEG_OP Tensor sum(const Tensor& t, const Shape& dims, bool keepdim = false);
FBSEG_OP Tensor add(const Tensor& a, const Tensor& b);
FBSEG_OP Tensor sub(const Tensor& a, const Tensor& b);
FBSEG_OP Tensor mul(const Tensor& a, const Tensor& b);
FBSEG_OP Tensor div(const Tensor& a, const Tensor& b);
FBSEG_OP Tensor mul(const Tensor& a, double b);
FBSEG_OP Tensor add(const Tensor& a, double b);
FBSEG_OP Tensor neg(const Tensor& t);
FBSEG_OP Tensor zeros(const Shape& shape, const TensorOptions& options);
FBSEG_OP Tensor ones(const Shape& shape, const TensorOptions& options);
FBSEG_OP Tensor zeros_like(const Tensor& t);
FBSEG_OP Tensor ones_like(const Tensor& t);
FBSEG_OP Tensor where(const Tensor& condition, const Tensor& a, const Tensor& b);
FBSEG_OP Tensor matmul(const Tensor& a, const Tensor& b);

}  // namespace fbseg
