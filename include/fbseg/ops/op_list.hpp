// fbseg/ops/op_list.hpp - the public ops of fbseg, one line each (an X-macro list).
//
// One list that tools and tests can expand: X(name, family, differentiable). `name` is the op as
// users call it (a free function such as `relu`, a Tensor method such as `transpose`, an nn::
// loss such as `dice_loss`; in-place forms end in `_`, `to_dtype` / `to_device` are the two
// Tensor::to). `differentiable` is 1 when the op records a backward node. For example, to get the
// names as strings:
//
//     #define FBSEG_OP_NAME(name, family, differentiable) #name,
//     const char* names[] = {FBSEG_PUBLIC_OPS(FBSEG_OP_NAME)};
//
// The op harness (tests/harness/) must hold at least one case for every op listed here: the test
// "harness: every public op has a case" fails otherwise. So a new public op means one line here and
// its cases in tests/harness/cases/. Allocation primitives (empty, empty_like, from_vector) are not
// ops and are not listed.
#pragma once

// clang-format off
#define FBSEG_PUBLIC_OPS(X)                                                                   \
    /* unary (ops/unary.hpp) */                                                               \
    X(neg, unary, 1) X(exp, unary, 1) X(log, unary, 1) X(sqrt, unary, 1) X(abs, unary, 1)     \
    X(relu, unary, 1) X(leaky_relu, unary, 1) X(sigmoid, unary, 1) X(tanh, unary, 1)          \
    X(silu, unary, 1) X(pow, unary, 1) X(square, unary, 1) X(clamp, unary, 1)                 \
    X(clamp_min, unary, 1) X(clamp_max, unary, 1)                                             \
    X(neg_, unary, 1) X(exp_, unary, 1) X(sqrt_, unary, 1) X(relu_, unary, 1)                 \
    X(leaky_relu_, unary, 1) X(sigmoid_, unary, 1) X(tanh_, unary, 1)                         \
    X(round, unary, 1) X(clamp_, unary, 1) X(clamp_min_, unary, 1) X(clamp_max_, unary, 1)    \
    /* binary (ops/binary.hpp) */                                                             \
    X(add, binary, 1) X(sub, binary, 1) X(mul, binary, 1) X(div, binary, 1)                   \
    X(maximum, binary, 1) X(minimum, binary, 1)                                               \
    X(add_, binary, 1) X(sub_, binary, 1) X(mul_, binary, 1) X(div_, binary, 1)               \
    X(gt, binary, 0) X(lt, binary, 0) X(ge, binary, 0) X(le, binary, 0) X(eq, binary, 0)      \
    X(ne, binary, 0)                                                                          \
    /* reductions (ops/reduce.hpp) */                                                         \
    X(sum, reduce, 1) X(mean, reduce, 1) X(sum_to, reduce, 1) X(max, reduce, 1)               \
    X(min, reduce, 1) X(var, reduce, 1) X(argmax, reduce, 0) X(argmin, reduce, 0)            \
    X(any, reduce, 0) X(all, reduce, 0)                                                       \
    /* linear algebra, softmax, joins (ops/linalg.hpp, softmax.hpp, join.hpp) */              \
    X(matmul, linalg, 1) X(bmm, linalg, 1)                                                    \
    X(softmax, softmax, 1) X(log_softmax, softmax, 1)                                         \
    X(concat, join, 1) X(cat, join, 1) X(stack, join, 1) X(pad, join, 1) X(where, join, 1)    \
    X(chunk, join, 1) X(split, join, 1)                                                       \
    /* indexing (ops/index.hpp) */                                                            \
    X(gather, index, 1) X(masked_fill, index, 1) X(masked_fill_, index, 1) X(flip, index, 1)  \
    X(repeat, index, 1) X(cumsum, index, 1) X(topk, index, 1)                                 \
    /* views (ops/view.hpp) */                                                                \
    X(view, view, 1) X(reshape, view, 1) X(permute, view, 1) X(transpose, view, 1)            \
    X(t, view, 1) X(slice, view, 1) X(narrow, view, 1) X(select, view, 1) X(expand, view, 1)  \
    X(squeeze, view, 1) X(unsqueeze, view, 1) X(flatten, view, 1) X(detach, view, 0)          \
    /* copies and conversions (ops/copy.hpp) */                                               \
    X(contiguous, copy, 1) X(clone, copy, 1) X(to_dtype, copy, 1) X(to_device, copy, 1)       \
    X(copy_, copy, 1) X(fill_, copy, 0) X(zero_, copy, 0)                                     \
    /* factories (ops/factory.hpp) */                                                         \
    X(full, factory, 0) X(zeros, factory, 0) X(ones, factory, 0) X(full_like, factory, 0)     \
    X(zeros_like, factory, 0) X(ones_like, factory, 0) X(scalar_tensor, factory, 0)           \
    X(arange, factory, 0) X(rand, factory, 0) X(randn, factory, 0)                            \
    /* layer ops (ops/conv.hpp, pool.hpp, interpolate.hpp, batch_norm.hpp, dropout.hpp) */    \
    X(conv2d, nn, 1) X(conv_transpose2d, nn, 1) X(max_pool2d, nn, 1)                          \
    X(conv2d_inference, nn, 0)                                                                \
    X(adaptive_avg_pool2d, nn, 1) X(upsample_nearest2d, nn, 1) X(upsample_bilinear2d, nn, 1)  \
    X(batch_norm, nn, 1) X(dropout, nn, 1) X(dropout2d, nn, 1)                                \
    X(sync_batch_norm, nn, 1) X(all_reduce, nn, 1) /* distributed/: data parallel */          \
    /* losses (nn/loss.hpp) */                                                                \
    X(binary_cross_entropy_with_logits, loss, 1) X(dice_loss, loss, 1)                        \
    X(sigmoid_focal_loss, loss, 1) X(bce_dice_loss, loss, 1) X(cross_entropy, loss, 1)        \
    X(mse_loss, loss, 1) X(l1_loss, loss, 1) X(multiclass_dice_loss, loss, 1) X(ce_dice_loss, loss, 1)
// clang-format on
