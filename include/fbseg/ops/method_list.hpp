// fbseg/ops/method_list.hpp - the one list of Tensor's method forms: x.exp(), x.add_(y), x.sum(1).
//
// Every op is a free function (exp(x), add_(x, y), sum(x, {1})). PyTorch users also write the
// method form, so each entry of FBSEG_TENSOR_METHODS below becomes
//   - a member declaration inside class Tensor (core/tensor.hpp expands the list there), and
//   - its out-of-line definition, which forwards to the free function (ops/method_forms.hpp,
//     included at the end of fbseg.hpp, expands the list again).
// An entry is X(kind, return type, name, (parameters), (arguments of the free function after
// the tensor itself)). The kinds:
//   fn       a const member:           Tensor Tensor::exp() const { return fbseg::exp(*this); }
//   inplace  a non-const member returning Tensor&, plus a free overload that takes a temporary,
//            so that add_(b.slice(0, 1, 3), x) compiles (a Tensor is a handle: writing into a
//            temporary view writes into the storage it shares with b);
//   intdim   a const member template on an integral type I, plus the same free overload:
//            x.sum(1) and sum(x, 1) next to x.sum({0, 2}). A template, so that a braced list
//            ({1}, or {} for "all dims") still picks the Shape overload.
//   inttmpl  a const member template on an integral type I, without a generated free overload
//            (the op's header defines the free template itself: split).
// Default arguments are written FBSEG_DEFAULT(value): it expands to "= value" in declarations and
// to nothing in the out-of-line definitions (C++ allows a default only once).
//
// Adding a method: add one line here; nothing else.
#pragma once

#ifndef FBSEG_DEFAULT
#define FBSEG_DEFAULT(...) = __VA_ARGS__
#endif

// clang-format off
#define FBSEG_TENSOR_METHODS(X)                                                                            \
    /* ---- unary math (ops/unary.hpp) ---- */                                                             \
    X(fn, Tensor, neg, (), ())                                                                             \
    X(fn, Tensor, exp, (), ())                                                                             \
    X(fn, Tensor, log, (), ())                                                                             \
    X(fn, Tensor, sqrt, (), ())                                                                            \
    X(fn, Tensor, abs, (), ())                                                                             \
    X(fn, Tensor, relu, (), ())                                                                            \
    X(fn, Tensor, leaky_relu, (double negative_slope FBSEG_DEFAULT(0.01)), (negative_slope))               \
    X(fn, Tensor, sigmoid, (), ())                                                                         \
    X(fn, Tensor, tanh, (), ())                                                                            \
    X(fn, Tensor, silu, (), ())                                                                            \
    X(fn, Tensor, square, (), ())                                                                          \
    X(fn, Tensor, round, (), ())                                                                           \
    X(fn, Tensor, pow, (double exponent), (exponent))                                                      \
    X(fn, Tensor, clamp, (double lo, double hi), (lo, hi))                                                 \
    X(fn, Tensor, clamp_min, (double lo), (lo))                                                            \
    X(fn, Tensor, clamp_max, (double hi), (hi))                                                            \
    /* ---- binary math and comparisons (ops/binary.hpp), matrix products (ops/linalg.hpp) ---- */         \
    X(fn, Tensor, add, (const Tensor& other), (other))                                                     \
    X(fn, Tensor, add, (double other), (other))                                                            \
    X(fn, Tensor, sub, (const Tensor& other), (other))                                                     \
    X(fn, Tensor, sub, (double other), (other))                                                            \
    X(fn, Tensor, mul, (const Tensor& other), (other))                                                     \
    X(fn, Tensor, mul, (double other), (other))                                                            \
    X(fn, Tensor, div, (const Tensor& other), (other))                                                     \
    X(fn, Tensor, div, (double other), (other))                                                            \
    X(fn, Tensor, maximum, (const Tensor& other), (other))                                                 \
    X(fn, Tensor, minimum, (const Tensor& other), (other))                                                 \
    X(fn, Tensor, gt, (const Tensor& other), (other))                                                      \
    X(fn, Tensor, gt, (double other), (other))                                                             \
    X(fn, Tensor, lt, (const Tensor& other), (other))                                                      \
    X(fn, Tensor, lt, (double other), (other))                                                             \
    X(fn, Tensor, ge, (const Tensor& other), (other))                                                      \
    X(fn, Tensor, ge, (double other), (other))                                                             \
    X(fn, Tensor, le, (const Tensor& other), (other))                                                      \
    X(fn, Tensor, le, (double other), (other))                                                             \
    X(fn, Tensor, eq, (const Tensor& other), (other))                                                      \
    X(fn, Tensor, eq, (double other), (other))                                                             \
    X(fn, Tensor, ne, (const Tensor& other), (other))                                                      \
    X(fn, Tensor, ne, (double other), (other))                                                             \
    X(fn, Tensor, matmul, (const Tensor& other), (other))                                                  \
    X(fn, Tensor, bmm, (const Tensor& other), (other))                                                     \
    /* ---- in place ---- */                                                                               \
    X(inplace, Tensor&, add_, (const Tensor& other), (other))                                              \
    X(inplace, Tensor&, add_, (double other), (other))                                                     \
    X(inplace, Tensor&, sub_, (const Tensor& other), (other))                                              \
    X(inplace, Tensor&, sub_, (double other), (other))                                                     \
    X(inplace, Tensor&, mul_, (const Tensor& other), (other))                                              \
    X(inplace, Tensor&, mul_, (double other), (other))                                                     \
    X(inplace, Tensor&, div_, (const Tensor& other), (other))                                              \
    X(inplace, Tensor&, div_, (double other), (other))                                                     \
    X(inplace, Tensor&, neg_, (), ())                                                                      \
    X(inplace, Tensor&, exp_, (), ())                                                                      \
    X(inplace, Tensor&, sqrt_, (), ())                                                                     \
    X(inplace, Tensor&, relu_, (), ())                                                                     \
    X(inplace, Tensor&, leaky_relu_, (double negative_slope FBSEG_DEFAULT(0.01)), (negative_slope))        \
    X(inplace, Tensor&, sigmoid_, (), ())                                                                  \
    X(inplace, Tensor&, tanh_, (), ())                                                                     \
    X(inplace, Tensor&, clamp_, (double lo, double hi), (lo, hi))                                          \
    X(inplace, Tensor&, clamp_min_, (double lo), (lo))                                                     \
    X(inplace, Tensor&, clamp_max_, (double hi), (hi))                                                     \
    X(inplace, Tensor&, masked_fill_, (const Tensor& mask, double value), (mask, value))                   \
    /* ---- reductions (ops/reduce.hpp, ops/logical.hpp) ---- */                                           \
    X(fn, Tensor, sum, (), ())                                                                             \
    X(fn, Tensor, sum, (const Shape& dims, bool keepdim FBSEG_DEFAULT(false)), (dims, keepdim))            \
    X(intdim, Tensor, sum, (I dim, bool keepdim FBSEG_DEFAULT(false)), (Shape{std::int64_t(dim)}, keepdim)) \
    X(fn, Tensor, mean, (const Shape& dims FBSEG_DEFAULT(Shape{}), bool keepdim FBSEG_DEFAULT(false)),     \
      (dims, keepdim))                                                                                     \
    X(intdim, Tensor, mean, (I dim, bool keepdim FBSEG_DEFAULT(false)), (Shape{std::int64_t(dim)}, keepdim)) \
    X(fn, Tensor, var, (const Shape& dims FBSEG_DEFAULT(Shape{}), std::int64_t correction FBSEG_DEFAULT(1), \
                        bool keepdim FBSEG_DEFAULT(false)), (dims, correction, keepdim))                   \
    X(fn, Tensor, max, (), ())                                                                             \
    X(fn, ValuesIndices, max, (std::int64_t dim, bool keepdim FBSEG_DEFAULT(false)), (dim, keepdim))       \
    X(fn, Tensor, min, (), ())                                                                             \
    X(fn, ValuesIndices, min, (std::int64_t dim, bool keepdim FBSEG_DEFAULT(false)), (dim, keepdim))       \
    X(fn, Tensor, argmax, (), ())                                                                          \
    X(fn, Tensor, argmax, (std::int64_t dim, bool keepdim FBSEG_DEFAULT(false)), (dim, keepdim))           \
    X(fn, Tensor, argmin, (), ())                                                                          \
    X(fn, Tensor, argmin, (std::int64_t dim, bool keepdim FBSEG_DEFAULT(false)), (dim, keepdim))           \
    X(fn, Tensor, any, (), ())                                                                             \
    X(fn, Tensor, any, (std::int64_t dim, bool keepdim FBSEG_DEFAULT(false)), (dim, keepdim))              \
    X(fn, Tensor, all, (), ())                                                                             \
    X(fn, Tensor, all, (std::int64_t dim, bool keepdim FBSEG_DEFAULT(false)), (dim, keepdim))              \
    X(fn, Tensor, softmax, (std::int64_t dim), (dim))                                                      \
    X(fn, Tensor, log_softmax, (std::int64_t dim), (dim))                                                  \
    /* ---- indexing, reordering, splitting (ops/index.hpp, ops/split.hpp) ---- */                         \
    X(fn, Tensor, cumsum, (std::int64_t dim), (dim))                                                       \
    X(fn, Tensor, flip, (const Shape& dims), (dims))                                                       \
    X(fn, Tensor, repeat, (const Shape& repeats), (repeats))                                               \
    X(fn, Tensor, gather, (std::int64_t dim, const Tensor& index), (dim, index))                           \
    X(fn, Tensor, masked_fill, (const Tensor& mask, double value), (mask, value))                          \
    X(fn, ValuesIndices, topk, (std::int64_t k, std::int64_t dim FBSEG_DEFAULT(-1),                         \
                                bool largest FBSEG_DEFAULT(true), bool sorted FBSEG_DEFAULT(true)),        \
      (k, dim, largest, sorted))                                                                           \
    X(fn, std::vector<Tensor>, chunk, (std::int64_t chunks, std::int64_t dim FBSEG_DEFAULT(0)), (chunks, dim)) \
    X(fn, std::vector<Tensor>, split, (const Shape& split_sizes, std::int64_t dim FBSEG_DEFAULT(0)),       \
      (split_sizes, dim))                                                                                  \
    X(inttmpl, std::vector<Tensor>, split, (I split_size, std::int64_t dim FBSEG_DEFAULT(0)), (split_size, dim))
// clang-format on
