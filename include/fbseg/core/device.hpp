// fbseg/core/device.hpp - where a tensor's memory lives.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>

namespace fbseg {

enum class DeviceType : std::uint8_t { CPU = 0, CUDA = 1 };

/// A device: its type and, for CUDA, the ordinal of the GPU. Every tensor carries one, and every
/// op checks that its operands share it (there are no implicit copies between devices).
struct Device {
    DeviceType type = DeviceType::CPU;
    int index = 0;

    constexpr Device() = default;
    constexpr Device(DeviceType t, int i = 0) : type(t), index(i) {}

    constexpr bool is_cpu() const { return type == DeviceType::CPU; }
    constexpr bool is_cuda() const { return type == DeviceType::CUDA; }
    friend constexpr bool operator==(const Device&, const Device&) = default;

    std::string str() const {
        return is_cpu() ? std::string("cpu") : "cuda:" + std::to_string(index);
    }
};

inline constexpr Device kCPU{DeviceType::CPU, 0};
inline constexpr Device cuda_device(int index = 0) { return Device{DeviceType::CUDA, index}; }

inline std::ostream& operator<<(std::ostream& out, const Device& device) { return out << device.str(); }

}  // namespace fbseg
