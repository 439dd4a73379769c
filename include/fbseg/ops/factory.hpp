// fbseg/ops/factory.hpp - functions that make new tensors: constants, ranges, random numbers,
// and tensors from C++ vectors.
#pragma once

#include <cmath>
#include <vector>

#include "fbseg/core/generator.hpp"
#include "fbseg/ops/copy.hpp"
#include "fbseg/ops/op_library.hpp"

namespace fbseg {

/// The dtype and device of `t`, for a new tensor like it.
inline TensorOptions options_of(const Tensor& t) { return TensorOptions(t.dtype()).device(t.device()); }

// ---- the ops (defined below, or in libfbseg: ops/op_library.hpp) ----
/// A new tensor whose contents are unspecified (fast: nothing is written).
FBSEG_OP Tensor empty(const Shape& shape, const TensorOptions& options = {});
FBSEG_OP Tensor full(const Shape& shape, double value, const TensorOptions& options = {});
FBSEG_OP Tensor zeros(const Shape& shape, const TensorOptions& options = {});
FBSEG_OP Tensor ones(const Shape& shape, const TensorOptions& options = {});
FBSEG_OP Tensor empty_like(const Tensor& t);
FBSEG_OP Tensor zeros_like(const Tensor& t);
FBSEG_OP Tensor ones_like(const Tensor& t);
FBSEG_OP Tensor full_like(const Tensor& t, double value);
/// A zero-dimensional tensor holding one value.
FBSEG_OP Tensor scalar_tensor(double value, const TensorOptions& options = {});
/// start, start + step, ... up to but excluding end (as torch.arange). Int64 by default.
FBSEG_OP Tensor arange(double start, double end, double step = 1.0,
                       const TensorOptions& options = TensorOptions(DType::Int64));
FBSEG_OP Tensor arange(double end, const TensorOptions& options = TensorOptions(DType::Int64));

#if FBSEG_OP_DEFINITIONS
FBSEG_OP Tensor empty(const Shape& shape, const TensorOptions& options) { return Tensor::empty(shape, options); }

FBSEG_OP Tensor full(const Shape& shape, double value, const TensorOptions& options) {
    Tensor t = Tensor::empty(shape, TensorOptions(options).requires_grad(false));
    {
        NoGradGuard no_grad;
        t.fill_(value);
    }
    if (options.requires_grad_) t.set_requires_grad(true);
    return t;
}

FBSEG_OP Tensor zeros(const Shape& shape, const TensorOptions& options) { return full(shape, 0.0, options); }
FBSEG_OP Tensor ones(const Shape& shape, const TensorOptions& options) { return full(shape, 1.0, options); }

FBSEG_OP Tensor empty_like(const Tensor& t) { return empty(t.shape(), options_of(t)); }
FBSEG_OP Tensor zeros_like(const Tensor& t) { return zeros(t.shape(), options_of(t)); }
FBSEG_OP Tensor ones_like(const Tensor& t) { return ones(t.shape(), options_of(t)); }
FBSEG_OP Tensor full_like(const Tensor& t, double value) { return full(t.shape(), value, options_of(t)); }

FBSEG_OP Tensor scalar_tensor(double value, const TensorOptions& options) { return full({}, value, options); }

FBSEG_OP Tensor arange(double start, double end, double step, const TensorOptions& options) {
    FBSEG_CHECK(step != 0.0, "arange: step must be non-zero");
    FBSEG_CHECK((end - start) / step >= 0, "arange: range [", start, ", ", end, ") cannot be walked with step ", step);
    const auto n = std::int64_t(std::ceil((end - start) / step));
    Tensor t = Tensor::empty({n}, TensorOptions(options).device(kCPU).requires_grad(false));
    dispatch_numeric(t.dtype(), "arange", [&]<typename T>() {
        T* p = t.data_ptr<T>();
        for (std::int64_t i = 0; i < n; ++i) p[i] = static_cast<T>(start + double(i) * step);
    });
    t = t.to(options.device_);
    if (options.requires_grad_) t.set_requires_grad(true);
    return t;
}
FBSEG_OP Tensor arange(double end, const TensorOptions& options) {
    return arange(0.0, end, 1.0, options);
}
#endif  // FBSEG_OP_DEFINITIONS

namespace detail {
/// Fills a new CPU tensor with draw(counter) for element i = counter - first, then moves it.
template <typename Draw>
Tensor random_tensor(const Shape& shape, const TensorOptions& options, Generator& gen, const char* op, Draw draw) {
    Tensor t = Tensor::empty(shape, TensorOptions(options.dtype_));
    const std::uint64_t first = gen.reserve(std::uint64_t(t.numel()));
    dispatch_floating(t.dtype(), op, [&]<typename T>() {
        T* p = t.data_ptr<T>();
        parallel_for(0, t.numel(), 4096, [&](std::int64_t b, std::int64_t e) {
            for (std::int64_t i = b; i < e; ++i) p[i] = draw.template operator()<T>(first + std::uint64_t(i));
        });
    });
    t = t.to(options.device_);
    if (options.requires_grad_) t.set_requires_grad(true);
    return t;
}
}  // namespace detail

// ---- the ops (defined below, or in libfbseg: ops/op_library.hpp) ----
/// Uniform on [0, 1). Element i depends only on the generator's seed and position.
FBSEG_OP Tensor rand(const Shape& shape, const TensorOptions& options = {}, Generator& gen = default_generator());
/// Standard normal.
FBSEG_OP Tensor randn(const Shape& shape, const TensorOptions& options = {}, Generator& gen = default_generator());

#if FBSEG_OP_DEFINITIONS
FBSEG_OP Tensor rand(const Shape& shape, const TensorOptions& options, Generator& gen) {
    return detail::random_tensor(shape, options, gen, "rand",
                                 [&gen]<typename T>(std::uint64_t c) { return gen.uniform<T>(c); });
}

FBSEG_OP Tensor randn(const Shape& shape, const TensorOptions& options, Generator& gen) {
    return detail::random_tensor(shape, options, gen, "randn",
                                 [&gen]<typename T>(std::uint64_t c) { return gen.normal<T>(c); });
}
#endif  // FBSEG_OP_DEFINITIONS

/// A tensor of `shape` holding `values` (row-major), converted to options' dtype.
template <typename T>
Tensor from_vector(const std::vector<T>& values, const Shape& shape, const TensorOptions& options = TensorOptions(dtype_v<T>)) {
    FBSEG_CHECK(std::int64_t(values.size()) == numel_of(shape), "from_vector: ", values.size(),
                " values cannot fill shape ", shape_str(shape), " (", numel_of(shape), " elements)");
    Tensor host = Tensor::empty(shape, TensorOptions(dtype_v<T>));
    std::copy(values.begin(), values.end(), host.data_ptr<T>());
    Tensor t = host.to(options.dtype_).to(options.device_);
    if (options.requires_grad_) t.set_requires_grad(true);
    return t;
}

/// A 1-D tensor from a vector.
template <typename T>
Tensor from_vector(const std::vector<T>& values, const TensorOptions& options = TensorOptions(dtype_v<T>)) {
    return from_vector(values, Shape{std::int64_t(values.size())}, options);
}

}  // namespace fbseg
