// The CPU block cache (core/cpu_allocator.hpp): freed large blocks are reused for requests of
// their size, small ones are not cached, cpu_empty_cache() returns everything. Concurrent use is
// in tests/concurrency/ (under ThreadSanitizer).
#include <doctest/doctest.h>

#include <cstdint>

#include "fbseg/fbseg.hpp"

namespace cpu_allocator_tests {  // a namespace of its own: the test files are compiled as one unity source

using namespace fbseg;

TEST_CASE("tensor: a freed large CPU block is reused by the next tensor of its size, a small one is not cached") {
    cpu_empty_cache();
    const std::int64_t large = (std::int64_t(3) << 20) / 4 + 5;  // 3 MiB + 20 bytes of float32
    const void* first = nullptr;
    {
        Tensor x = empty({large});
        first = x.raw_data();
        x.fill_(1.0);
    }
    const CpuCacheStats after_free = cpu_cache_stats();
    CHECK(after_free.cached_bytes >= std::size_t(large) * 4);
    CHECK(after_free.cached_bytes % kCpuCacheGranule == 0);
    {
        Tensor y = empty({large - 2});  // 8 bytes less, within the same 64 KiB granule: the same block
        CHECK(y.raw_data() == first);
        CHECK(cpu_cache_stats().hits == after_free.hits + 1);
        CHECK(cpu_cache_stats().cached_bytes == 0);
        y.fill_(2.0);  // the block is the tensor's own again: write it all
        CHECK(y.sum().item<double>() == doctest::Approx(2.0 * double(large - 2)));
    }
    {
        Tensor small = empty({1000});  // 4 KB: operator new, never cached
        (void)small;
    }
    CHECK(cpu_cache_stats().cached_bytes == kCpuCacheGranule * 49);  // y's block: 3 MiB + 64 KiB
    cpu_empty_cache();
    CHECK(cpu_cache_stats().cached_bytes == 0);
    CHECK(cpu_cache_stats().limit_bytes > 0);
}

}  // namespace cpu_allocator_tests
