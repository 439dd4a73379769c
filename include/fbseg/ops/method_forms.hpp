// fbseg/ops/method_forms.hpp - the definitions of Tensor's method forms, generated from the list
// in ops/method_list.hpp (see there). Included at the end of fbseg.hpp, once every free function
// has been declared: x.add_(y) is fbseg::add_(x, y), x.sum(1) is fbseg::sum(x, {1}).
#pragma once

#include <concepts>
#include <vector>

#include "fbseg/ops/index.hpp"
#include "fbseg/ops/linalg.hpp"
#include "fbseg/ops/logical.hpp"
#include "fbseg/ops/method_list.hpp"
#include "fbseg/ops/reduce.hpp"
#include "fbseg/ops/softmax.hpp"
#include "fbseg/ops/split.hpp"
#include "fbseg/ops/unary.hpp"

// fn(self, args...) where args may be empty: the extra level of macros expands `FBSEG_UNPACK args`
// before __VA_OPT__ looks at it.
#define FBSEG_UNPACK(...) __VA_ARGS__
#define FBSEG_PREPEND(first, rest) FBSEG_PREPEND_I(first, FBSEG_UNPACK rest)
#define FBSEG_PREPEND_I(first, ...) FBSEG_PREPEND_II(first, __VA_ARGS__)
#define FBSEG_PREPEND_II(first, ...) first __VA_OPT__(, ) __VA_ARGS__

namespace fbseg {

// ---- members: out-of-line definitions, without the default arguments -----------------------------
#undef FBSEG_DEFAULT
#define FBSEG_DEFAULT(...)
#define FBSEG_DEFINE_fn(ret, name, params, args) \
    inline ret Tensor::name params const { return fbseg::name(FBSEG_PREPEND(*this, args)); }
#define FBSEG_DEFINE_inplace(ret, name, params, args) \
    inline ret Tensor::name params { return fbseg::name(FBSEG_PREPEND(*this, args)); }
#define FBSEG_DEFINE_intdim(ret, name, params, args)    \
    template <std::integral I>                          \
    inline ret Tensor::name params const {              \
        return fbseg::name(FBSEG_PREPEND(*this, args)); \
    }
#define FBSEG_DEFINE_inttmpl(ret, name, params, args) \
    template <std::integral I>                        \
    inline ret Tensor::name params const {            \
        return fbseg::name(*this, FBSEG_UNPACK args); \
    }
#define FBSEG_DEFINE_METHOD(kind, ret, name, params, args) FBSEG_DEFINE_##kind(ret, name, params, args)
FBSEG_TENSOR_METHODS(FBSEG_DEFINE_METHOD)
#undef FBSEG_DEFINE_METHOD
#undef FBSEG_DEFINE_fn
#undef FBSEG_DEFINE_inplace
#undef FBSEG_DEFINE_intdim
#undef FBSEG_DEFINE_inttmpl

// ---- free overloads: in-place ops on temporaries, and integral dims -----------------------------
// add_(b.slice(0, 1, 3), x): the view is a temporary, so it cannot bind to Tensor&; this overload
// takes it by value-reference and returns the handle (which shares b's storage).
// sum(x, 1): the integral form of sum(x, {1}).
#undef FBSEG_DEFAULT
#define FBSEG_DEFAULT(...) = __VA_ARGS__
#define FBSEG_FREE_fn(ret, name, params, args)
#define FBSEG_FREE_inttmpl(ret, name, params, args)
#define FBSEG_FREE_inplace(ret, name, params, args) \
    inline Tensor name(FBSEG_PREPEND(Tensor&& self, params)) { return fbseg::name(FBSEG_PREPEND(self, args)); }
#define FBSEG_FREE_intdim(ret, name, params, args)               \
    template <std::integral I>                                   \
    inline ret name(FBSEG_PREPEND(const Tensor& self, params)) { \
        return fbseg::name(FBSEG_PREPEND(self, args));           \
    }
#define FBSEG_FREE_OVERLOAD(kind, ret, name, params, args) FBSEG_FREE_##kind(ret, name, params, args)
FBSEG_TENSOR_METHODS(FBSEG_FREE_OVERLOAD)
#undef FBSEG_FREE_OVERLOAD
#undef FBSEG_FREE_fn
#undef FBSEG_FREE_inttmpl
#undef FBSEG_FREE_inplace
#undef FBSEG_FREE_intdim

}  // namespace fbseg

#undef FBSEG_PREPEND_II
#undef FBSEG_PREPEND_I
#undef FBSEG_PREPEND
#undef FBSEG_UNPACK
