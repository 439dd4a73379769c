// fbseg/core/dtype.hpp - element types and the one place that turns a runtime dtype into a C++ type.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fbseg/core/error.hpp"

namespace fbseg {

/// Element type of a tensor. The numbering is stable (it is written into checkpoints later);
/// Float16 and BFloat16 are reserved so that adding them does not renumber anything.
enum class DType : std::uint8_t {
    Float32 = 0,
    Float64 = 1,
    Int64 = 2,
    Bool = 3,
    UInt8 = 4,
    Float16 = 5,   // reserved: storage size known, no ops yet
    BFloat16 = 6,  // reserved: storage size known, no ops yet
};

inline constexpr std::size_t element_size(DType dtype) {
    switch (dtype) {
        case DType::Float32: return 4;
        case DType::Float64: return 8;
        case DType::Int64: return 8;
        case DType::Bool: return 1;
        case DType::UInt8: return 1;
        case DType::Float16: return 2;
        case DType::BFloat16: return 2;
    }
    return 0;
}

inline constexpr std::string_view dtype_name(DType dtype) {
    switch (dtype) {
        case DType::Float32: return "float32";
        case DType::Float64: return "float64";
        case DType::Int64: return "int64";
        case DType::Bool: return "bool";
        case DType::UInt8: return "uint8";
        case DType::Float16: return "float16";
        case DType::BFloat16: return "bfloat16";
    }
    return "unknown";
}

inline constexpr bool is_floating(DType dtype) {
    return dtype == DType::Float32 || dtype == DType::Float64 || dtype == DType::Float16 ||
           dtype == DType::BFloat16;
}

/// The C++ type -> DType map, for templates that create tensors of their scalar type.
template <typename T> struct dtype_of;
template <> struct dtype_of<float> { static constexpr DType value = DType::Float32; };
template <> struct dtype_of<double> { static constexpr DType value = DType::Float64; };
template <> struct dtype_of<std::int64_t> { static constexpr DType value = DType::Int64; };
template <> struct dtype_of<bool> { static constexpr DType value = DType::Bool; };
template <> struct dtype_of<std::uint8_t> { static constexpr DType value = DType::UInt8; };
template <typename T> inline constexpr DType dtype_v = dtype_of<T>::value;

/// Calls fn.template operator()<T>() with T the C++ type of a floating dtype (float32, float64).
///   dispatch_floating(t.dtype(), "relu", [&]<typename T>() { ... });
template <typename Fn>
decltype(auto) dispatch_floating(DType dtype, std::string_view op, Fn&& fn) {
    switch (dtype) {
        case DType::Float32: return fn.template operator()<float>();
        case DType::Float64: return fn.template operator()<double>();
        default:
            FBSEG_FAIL(op, ": expected a floating dtype (float32 or float64) but got ", dtype_name(dtype));
    }
}

/// Like dispatch_floating, plus int64 (for ops that make sense on integers: add, max, sum...).
template <typename Fn>
decltype(auto) dispatch_numeric(DType dtype, std::string_view op, Fn&& fn) {
    switch (dtype) {
        case DType::Float32: return fn.template operator()<float>();
        case DType::Float64: return fn.template operator()<double>();
        case DType::Int64: return fn.template operator()<std::int64_t>();
        default:
            FBSEG_FAIL(op, ": expected float32, float64 or int64 but got ", dtype_name(dtype));
    }
}

/// Every dtype that has ops (not the reserved half types): copies, fills, printing, where().
template <typename Fn>
decltype(auto) dispatch_all(DType dtype, std::string_view op, Fn&& fn) {
    switch (dtype) {
        case DType::Float32: return fn.template operator()<float>();
        case DType::Float64: return fn.template operator()<double>();
        case DType::Int64: return fn.template operator()<std::int64_t>();
        case DType::Bool: return fn.template operator()<bool>();
        case DType::UInt8: return fn.template operator()<std::uint8_t>();
        default:
            FBSEG_FAIL(op, ": dtype ", dtype_name(dtype), " is reserved and has no kernels yet");
    }
}

}  // namespace fbseg
