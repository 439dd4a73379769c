// tests/gpu/gpu_support.hpp - helpers shared by the GPU suites (tests/gpu/test_gpu_*.cpp).
//
// The pattern of every kernel test: make random inputs on the CPU, run the op there (the
// reference), copy the inputs to cuda:0, run the op there with each numbered version of the
// kernel (ScopedKernelVersion), and compare per element, |a - b| <= atol + rtol |ref|.
// Outputs are poisoned before a launch (poison_cache): blocks of NaN are handed back to the
// caching allocator, which gives them to the op's outputs, so an element a kernel forgets to
// write is NaN and fails the comparison.
#pragma once

#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "fbseg/fbseg.hpp"

namespace fbseg::gpu_test {

inline constexpr Device kGpu = cuda_device(0);

/// Forces version `version` of `kernel` for the scope (0: the dispatcher's choice).
class ScopedKernelVersion {
public:
    ScopedKernelVersion(const char* kernel, int version) : kernel_(kernel) { cuda::set_kernel_version(kernel, version); }
    ~ScopedKernelVersion() { cuda::set_kernel_version(kernel_, 0); }
    ScopedKernelVersion(const ScopedKernelVersion&) = delete;
    ScopedKernelVersion& operator=(const ScopedKernelVersion&) = delete;

private:
    const char* kernel_;
};

/// Uniform random values in [lo, hi) on the CPU (float32 unless said), from a fixed seed.
inline Tensor random_cpu(const Shape& shape, std::uint64_t seed, double lo = -1.0, double hi = 1.0,
                         DType dtype = DType::Float32) {
    Generator gen(seed);
    return rand(shape, TensorOptions(dtype), gen) * (hi - lo) + lo;
}

/// Hands `bytes_each` x `count` blocks filled with NaN back to the caching allocator.
inline void poison_cache(std::int64_t floats_each, int count = 4) {
    std::vector<Tensor> blocks;
    for (int i = 0; i < count; ++i)
        blocks.push_back(full({floats_each}, std::numeric_limits<double>::quiet_NaN(),
                              TensorOptions(DType::Float32).device(kGpu)));
    cuda::synchronize(0);
}

/// Per element: |got - ref| <= atol + rtol |ref|; reports the worst element and the count of bad ones.
inline void check_close(const Tensor& got, const Tensor& ref, double atol, double rtol, const std::string& what) {
    REQUIRE_MESSAGE(got.shape() == ref.shape(), what, ": shape ", shape_str(got.shape()), " vs ",
                    shape_str(ref.shape()));
    const std::vector<double> a = got.cpu().contiguous().to(DType::Float64).to_vector<double>();
    const std::vector<double> b = ref.cpu().contiguous().to(DType::Float64).to_vector<double>();
    std::size_t bad = 0, worst_i = 0;
    double worst = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
        const double d = std::abs(a[i] - b[i]);
        const double ratio = std::isnan(d) ? std::numeric_limits<double>::infinity() : d / (atol + rtol * std::abs(b[i]));
        if (ratio > 1) ++bad;
        if (ratio > worst || (i == 0 && ratio == worst)) worst = ratio, worst_i = i;
    }
    CHECK_MESSAGE(bad == 0, what, ": ", bad, " of ", a.size(), " elements off; worst at ", worst_i, ": got ",
                  a.empty() ? 0.0 : a[worst_i], ", expected ", b.empty() ? 0.0 : b[worst_i], " (", worst,
                  " x the tolerance atol ", atol, " + rtol ", rtol, ")");
}

}  // namespace fbseg::gpu_test
