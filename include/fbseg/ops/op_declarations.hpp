// fbseg/ops/op_declarations.hpp - declarations of the ops that other headers' backward formulas call
// before the op's own header is seen (every one is defined in an ops/ header that fbseg.hpp
// includes). This is what lets each op header hold its forward and backward side by side.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "fbseg/core/tensor.hpp"

namespace fbseg {

inline Tensor sum_to(const Tensor& t, const Shape& shape);
inline Tensor sum(const Tensor& t);
inline Tensor sum(const Tensor& t, const Shape& dims, bool keepdim = false);
inline Tensor add(const Tensor& a, const Tensor& b);
inline Tensor sub(const Tensor& a, const Tensor& b);
inline Tensor mul(const Tensor& a, const Tensor& b);
inline Tensor div(const Tensor& a, const Tensor& b);
inline Tensor mul(const Tensor& a, double b);
inline Tensor add(const Tensor& a, double b);
inline Tensor neg(const Tensor& t);
inline Tensor zeros(const Shape& shape, const TensorOptions& options);
inline Tensor ones(const Shape& shape, const TensorOptions& options);
inline Tensor zeros_like(const Tensor& t);
inline Tensor ones_like(const Tensor& t);
inline Tensor where(const Tensor& condition, const Tensor& a, const Tensor& b);
inline Tensor matmul(const Tensor& a, const Tensor& b);

}  // namespace fbseg
