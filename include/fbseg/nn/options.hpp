// fbseg/nn/options.hpp - FBSEG_ARG, the one-line declaration of a layer option (after PyTorch's
// TORCH_ARG): a field `name_`, a chained setter `name(value)` and a getter `name()`.
//
//   struct PoolOptions {
//       FBSEG_ARG(Size2, stride) = 1;   // PoolOptions().stride(2).stride() == Size2(2)
//   };
#pragma once

#define FBSEG_ARG(T, name)                                        \
public:                                                           \
    auto name(const T& new_##name)->decltype(*this) {             \
        this->name##_ = new_##name;                               \
        return *this;                                             \
    }                                                             \
    const T& name() const noexcept { return this->name##_; }      \
    T name##_
