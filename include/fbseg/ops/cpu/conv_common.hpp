// fbseg/ops/cpu/conv_common.hpp - two small helpers shared by the convolution kernels
// (conv_kernels.hpp, depthwise_kernels.hpp): a per-thread scratch buffer and the valid span of a
// strided row.
#pragma once

#include <Eigen/Core>

#include <algorithm>
#include <cstdint>
#include <vector>

namespace fbseg::cpu::conv {

/// A per-thread buffer of at least `n` elements, grown as needed and kept for the next call
/// (the pool's threads live as long as the program); a task uses one at a time. Aligned for
/// Eigen's packets, like tensor storage, so that the alignment (which can steer Eigen's
/// vectorised sums for tiny products) is the same for every thread and every call. `Slot`
/// names a separate buffer: a caller keeps data that its tasks read in slot 1 (so that a task
/// running on the calling thread does not overwrite it with its own slot-0 scratch).
template <typename T, int Slot = 0>
T* scratch(std::int64_t n) {
    thread_local std::vector<T, Eigen::aligned_allocator<T>> buffer;
    if (std::int64_t(buffer.size()) < n) buffer.resize(std::size_t(n));
    return buffer.data();
}

/// Memory that one call's tasks share (the phase planes, packed weights): the calling thread's
/// slot-1 scratch, kept for the next call, up to kKeptSharedElements; above that a buffer of its
/// own, freed when the call ends, so that one very large image does not pin its size for the
/// life of the thread.
/// `Slot` (1 by default, 2 for a second buffer of the same call) as scratch's.
inline constexpr std::int64_t kKeptSharedElements = std::int64_t(1) << 24;
template <typename T, int Slot = 1>
class SharedBuffer {
public:
    explicit SharedBuffer(std::int64_t n) {
        if (n <= kKeptSharedElements) {
            data_ = scratch<T, Slot>(n);
        } else {
            own_.resize(std::size_t(n));
            data_ = own_.data();
        }
    }
    T* data() const { return data_; }

private:
    std::vector<T, Eigen::aligned_allocator<T>> own_;
    T* data_ = nullptr;
};

/// a / b rounded up, for a >= 0 and b > 0.
inline constexpr std::int64_t ceil_div(std::int64_t a, std::int64_t b) { return (a + b - 1) / b; }

/// The j in [0, len) for which i = base + j * step lies in [0, size): returns [lo, hi).
inline void valid_span(std::int64_t base, std::int64_t step, std::int64_t size, std::int64_t len, std::int64_t& lo,
                       std::int64_t& hi) {
    lo = base >= 0 ? 0 : (-base + step - 1) / step;
    hi = base > size - 1 ? 0 : (size - 1 - base) / step + 1;
    lo = std::min(lo, len);
    hi = std::max(lo, std::min(hi, len));
}

}  // namespace fbseg::cpu::conv
