// tests/gpu/test_gpu_main.cpp - tests of the CUDA library (fbseg::cuda) against CPU loops.
//
// Without a CUDA device the program prints "skipped: no CUDA device" and exits with 77, which
// CTest reports as skipped (SKIP_RETURN_CODE in tests/gpu/CMakeLists.txt). With one, it runs
// doctest. The tests that need more than 8 GiB of GPU memory live in the test suite "large":
//     fbseg_gpu_tests --test-suite-exclude=large      (e.g. under compute-sanitizer)
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <iostream>
#include <random>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "fbseg/core/dtype.hpp"
#include "fbseg/core/error.hpp"
#include "fbseg/cuda/api.hpp"

namespace cuda = fbseg::cuda;
using fbseg::DType;
using std::int64_t;

namespace {

constexpr int kDevice = 0;

// ---- helpers --------------------------------------------------------------------------------

/// Owns `bytes` of device memory from the caching allocator; frees it when it goes out of scope.
class DeviceBuffer {
public:
    explicit DeviceBuffer(std::size_t bytes) : ptr_(cuda::allocate(bytes, kDevice)) {}
    ~DeviceBuffer() { cuda::deallocate(ptr_, kDevice); }
    DeviceBuffer(const DeviceBuffer&) = delete;
    DeviceBuffer& operator=(const DeviceBuffer&) = delete;

    template <typename T = void>
    T* get() const {
        return static_cast<T*>(ptr_);
    }

private:
    void* ptr_;
};

template <typename T>
void upload(const DeviceBuffer& dst, const std::vector<T>& host) {
    cuda::copy_host_to_device(dst.get(), host.data(), host.size() * sizeof(T), kDevice);
}

template <typename T>
std::vector<T> download(const DeviceBuffer& src, std::size_t count) {
    std::vector<T> host(count);
    cuda::copy_device_to_host(host.data(), src.get(), count * sizeof(T), kDevice);
    return host;
}

/// One element at `index` of a device array.
template <typename T>
T read_element(const void* device_array, int64_t index) {
    T value{};
    cuda::copy_device_to_host(&value, static_cast<const T*>(device_array) + index, sizeof(T), kDevice);
    return value;
}

template <typename T>
std::vector<T> random_values(std::size_t count, std::mt19937_64& rng) {
    std::vector<T> values(count);
    if constexpr (std::is_floating_point_v<T>) {
        std::uniform_real_distribution<T> dist(T(-1), T(1));
        for (T& v : values) v = dist(rng);
    } else {
        std::uniform_int_distribution<T> dist(-1000, 1000);
        for (T& v : values) v = dist(rng);
    }
    return values;
}

/// |got - want| <= tolerance * max(1, |want|): relative error, absolute near zero. The GPU may
/// fuse a + alpha * b into one FMA, so floating results can differ from the CPU in the last bit.
template <typename T>
bool close_enough(T got, T want) {
    if constexpr (std::is_floating_point_v<T>) {
        const T tolerance = std::is_same_v<T, float> ? T(1e-6) : T(1e-14);
        return std::abs(got - want) <= tolerance * std::max(T(1), std::abs(want));
    } else {
        return got == want;
    }
}

/// Where one operand's elements live in its buffer: element (i_0, ..., i_{n-1}) is at
/// buffer[offset + sum_d i_d * strides[d]].
struct Layout {
    std::vector<int64_t> strides;
    int64_t buffer_numel = 0;
    int64_t offset = 0;
};

/// A row-major tensor of `sizes` filling its own buffer.
Layout contiguous(const std::vector<int64_t>& sizes) {
    Layout layout;
    layout.strides.resize(sizes.size());
    int64_t stride = 1;
    for (std::size_t d = sizes.size(); d-- > 0;) {
        layout.strides[d] = stride;
        stride *= sizes[d];
    }
    layout.buffer_numel = stride;
    return layout;
}

/// The CPU loop the strided kernel must agree with: walks every multi-index of `sizes` with an
/// odometer (last dim fastest) and writes out = a + alpha * b through the three layouts.
template <typename T>
void reference_add(const std::vector<int64_t>& sizes, std::vector<T>& out, const Layout& out_layout,
                   const std::vector<T>& a, const Layout& a_layout, const std::vector<T>& b, const Layout& b_layout,
                   T alpha) {
    int64_t numel = 1;
    for (int64_t s : sizes) numel *= s;
    std::vector<int64_t> index(sizes.size(), 0);
    for (int64_t n = 0; n < numel; ++n) {
        int64_t o = out_layout.offset, oa = a_layout.offset, ob = b_layout.offset;
        for (std::size_t d = 0; d < sizes.size(); ++d) {
            o += index[d] * out_layout.strides[d];
            oa += index[d] * a_layout.strides[d];
            ob += index[d] * b_layout.strides[d];
        }
        out[std::size_t(o)] = a[std::size_t(oa)] + alpha * b[std::size_t(ob)];
        for (std::size_t d = sizes.size(); d-- > 0;) {  // next multi-index
            if (++index[d] < sizes[d]) break;
            index[d] = 0;
        }
    }
}

cuda::StridedOperand operand(const DeviceBuffer& buffer, const Layout& layout, std::size_t element_bytes) {
    cuda::StridedOperand op;
    op.data = buffer.get<const char>() + layout.offset * int64_t(element_bytes);
    std::copy(layout.strides.begin(), layout.strides.end(), op.strides);
    return op;
}

/// Runs cuda::add on random data laid out as described, and compares every element of the
/// output buffer (also those the op must not touch) with reference_add.
template <typename T>
void check_add(const std::vector<int64_t>& sizes, const Layout& out_layout, const Layout& a_layout,
               const Layout& b_layout, double alpha) {
    std::mt19937_64 rng(1234);
    const auto a = random_values<T>(std::size_t(a_layout.buffer_numel), rng);
    const auto b = random_values<T>(std::size_t(b_layout.buffer_numel), rng);
    auto expected = random_values<T>(std::size_t(out_layout.buffer_numel), rng);  // also the initial out

    DeviceBuffer a_dev(a.size() * sizeof(T)), b_dev(b.size() * sizeof(T)), out_dev(expected.size() * sizeof(T));
    upload(a_dev, a);
    upload(b_dev, b);
    upload(out_dev, expected);

    cuda::add(fbseg::dtype_v<T>, int(sizes.size()), sizes.data(),
              out_dev.get<char>() + out_layout.offset * int64_t(sizeof(T)), out_layout.strides.data(),
              operand(a_dev, a_layout, sizeof(T)), operand(b_dev, b_layout, sizeof(T)), alpha, kDevice);
    reference_add(sizes, expected, out_layout, a, a_layout, b, b_layout, static_cast<T>(alpha));

    const auto got = download<T>(out_dev, expected.size());
    int64_t mismatches = 0, first_mismatch = -1;
    for (std::size_t i = 0; i < got.size(); ++i) {
        if (!close_enough(got[i], expected[i])) {
            if (mismatches++ == 0) first_mismatch = int64_t(i);
        }
    }
    const std::size_t shown = first_mismatch >= 0 ? std::size_t(first_mismatch) : 0;
    INFO("dtype ", fbseg::dtype_name(fbseg::dtype_v<T>), ", first mismatch at buffer index ", first_mismatch, ": got ",
         got[shown], ", want ", expected[shown]);
    CHECK(mismatches == 0);
}

/// Fills `numel` elements of a buffer that has a few guard elements after them, and checks
/// every filled element and that the guard elements were not written. HostT is the C++ type of
/// one element of `dtype` as bytes (uint8_t for bool).
template <typename HostT>
void check_fill(DType dtype, int64_t numel, double value, HostT expected) {
    constexpr int64_t kGuard = 16;
    const HostT sentinel = HostT(7);
    REQUIRE(expected != sentinel);
    std::vector<HostT> host(std::size_t(numel + kGuard), sentinel);
    DeviceBuffer buffer(host.size() * sizeof(HostT));
    upload(buffer, host);

    cuda::fill(buffer.get(), dtype, numel, value, kDevice);
    host = download<HostT>(buffer, host.size());

    int64_t wrong = 0, guard_written = 0;
    for (int64_t i = 0; i < numel; ++i) wrong += host[std::size_t(i)] != expected;
    for (int64_t i = numel; i < numel + kGuard; ++i) guard_written += host[std::size_t(i)] != sentinel;
    INFO("dtype ", fbseg::dtype_name(dtype), ", numel ", numel, ", value ", value);
    CHECK(wrong == 0);
    CHECK(guard_written == 0);
}

}  // namespace

// ---- fill -----------------------------------------------------------------------------------

TEST_CASE("fill writes the converted value into every element of every dtype") {
    for (int64_t numel : {int64_t(0), int64_t(1), int64_t(1000003)}) {
        CAPTURE(numel);
        check_fill<float>(DType::Float32, numel, 2.5, 2.5f);
        check_fill<float>(DType::Float32, numel, -1e-3, -1e-3f);
        check_fill<double>(DType::Float64, numel, 2.5, 2.5);
        check_fill<double>(DType::Float64, numel, 1e300, 1e300);
        check_fill<int64_t>(DType::Int64, numel, -3.0, -3);
        check_fill<int64_t>(DType::Int64, numel, 2.9, 2);  // a C++ cast truncates
        check_fill<int64_t>(DType::Int64, numel, 4e15, 4000000000000000);
        check_fill<std::uint8_t>(DType::Bool, numel, 2.5, 1);  // bool(x) is x != 0
        check_fill<std::uint8_t>(DType::Bool, numel, 0.0, 0);
        check_fill<std::uint8_t>(DType::UInt8, numel, 200.0, 200);
    }
}

TEST_CASE("fill rejects reserved dtypes, negative numel and bad devices") {
    DeviceBuffer buffer(64);
    CHECK_THROWS_AS(cuda::fill(buffer.get(), DType::Float16, 4, 1.0, kDevice), fbseg::Error);
    CHECK_THROWS_AS(cuda::fill(buffer.get(), DType::Float32, -1, 1.0, kDevice), fbseg::Error);
    CHECK_THROWS_AS(cuda::fill(buffer.get(), DType::Float32, 4, 1.0, -1), fbseg::Error);
    CHECK_THROWS_AS(cuda::fill(buffer.get(), DType::Float32, 4, 1.0, cuda::device_count()), fbseg::Error);
}

// ---- add ------------------------------------------------------------------------------------

TEST_CASE_TEMPLATE("add on contiguous tensors (vectorised fast path)", T, float, double, int64_t) {
    for (int64_t numel : {int64_t(1), int64_t(3), int64_t(1000003)}) {
        for (double alpha : {1.0, -1.0, 3.0}) {
            CAPTURE(numel);
            CAPTURE(alpha);
            const std::vector<int64_t> sizes{numel};
            check_add<T>(sizes, contiguous(sizes), contiguous(sizes), contiguous(sizes), alpha);
        }
    }
}

TEST_CASE_TEMPLATE("add on contiguous tensors whose data is not 16-byte aligned", T, float, double, int64_t) {
    const std::vector<int64_t> sizes{1000003};
    Layout shifted = contiguous(sizes);  // starts one element into its buffer
    shifted.offset = 1;
    shifted.buffer_numel += 1;
    check_add<T>(sizes, contiguous(sizes), shifted, contiguous(sizes), 1.0);
    check_add<T>(sizes, shifted, contiguous(sizes), shifted, -1.0);
}

TEST_CASE_TEMPLATE("add broadcasts (3,1,5) + (1,4,5) -> (3,4,5)", T, float, double, int64_t) {
    const std::vector<int64_t> sizes{3, 4, 5};
    const Layout a{{5, 0, 1}, 15, 0};  // (3,1,5) contiguous, dim 1 broadcast
    const Layout b{{0, 5, 1}, 20, 0};  // (1,4,5) contiguous, dim 0 broadcast
    check_add<T>(sizes, contiguous(sizes), a, b, 1.0);
    check_add<T>(sizes, contiguous(sizes), a, b, -1.0);
}

TEST_CASE_TEMPLATE("add with a transposed operand", T, float, double, int64_t) {
    const std::vector<int64_t> sizes{6, 7};
    const Layout a_transposed{{1, 6}, 42, 0};  // the transpose of a contiguous (7,6) tensor
    check_add<T>(sizes, contiguous(sizes), a_transposed, contiguous(sizes), 1.0);
    check_add<T>(sizes, contiguous(sizes), contiguous(sizes), a_transposed, -1.0);
}

TEST_CASE_TEMPLATE("add with permuted and broadcast operands over a million elements", T, float, double, int64_t) {
    const std::vector<int64_t> sizes{37, 129, 211};
    const Layout a_permuted{{129, 1, 37 * 129}, 37 * 129 * 211, 0};  // a contiguous (211,37,129), dims (1,2,0)
    const Layout b_broadcast{{0, 1, 0}, 129, 0};                     // (1,129,1)
    check_add<T>(sizes, contiguous(sizes), a_permuted, b_broadcast, 1.0);
}

TEST_CASE_TEMPLATE("add with dims that coalesce: (4,6,8) + (1,6,8)", T, float, double, int64_t) {
    const std::vector<int64_t> sizes{4, 6, 8};
    const Layout b{{0, 8, 1}, 48, 0};
    check_add<T>(sizes, contiguous(sizes), contiguous(sizes), b, 1.0);
}

TEST_CASE_TEMPLATE("add writes through a strided output and leaves the gaps alone", T, float, double, int64_t) {
    const std::vector<int64_t> sizes{4, 5};
    const Layout every_other{{10, 2}, 40, 0};  // out[i][j] at 10 i + 2 j
    check_add<T>(sizes, every_other, contiguous(sizes), contiguous(sizes), 1.0);
}

TEST_CASE_TEMPLATE("add with a negative stride (a flipped operand)", T, float, double, int64_t) {
    const std::vector<int64_t> sizes{1001};
    const Layout flipped{{-1}, 1001, 1000};  // element i at buffer[1000 - i]
    check_add<T>(sizes, contiguous(sizes), flipped, contiguous(sizes), 1.0);
}

TEST_CASE_TEMPLATE("add on rank 0 and on empty shapes", T, float, double, int64_t) {
    check_add<T>({}, Layout{{}, 1, 0}, Layout{{}, 1, 0}, Layout{{}, 1, 0}, -1.0);
    const std::vector<int64_t> empty{3, 0, 5};
    check_add<T>(empty, Layout{{5, 5, 1}, 4, 0}, Layout{{5, 5, 1}, 4, 0}, Layout{{5, 5, 1}, 4, 0}, 1.0);
}

TEST_CASE("add rejects other dtypes and ranks above kMaxDims") {
    DeviceBuffer buffer(64);
    const int64_t sizes[cuda::kMaxDims + 1] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    const int64_t strides[cuda::kMaxDims + 1] = {};
    cuda::StridedOperand op;
    op.data = buffer.get();
    CHECK_THROWS_AS(cuda::add(DType::Bool, 1, sizes, buffer.get(), strides, op, op, 1.0, kDevice), fbseg::Error);
    CHECK_THROWS_AS(cuda::add(DType::UInt8, 1, sizes, buffer.get(), strides, op, op, 1.0, kDevice), fbseg::Error);
    CHECK_THROWS_AS(cuda::add(DType::Float32, cuda::kMaxDims + 1, sizes, buffer.get(), strides, op, op, 1.0, kDevice),
                    fbseg::Error);
}

// ---- more than 2^31 elements (64-bit indices): needs about 8 GiB of GPU memory ----------------

TEST_SUITE("large") {
    TEST_CASE("fill and add on 2^31 + 5 float32 elements") {
        constexpr int64_t kNumel = (int64_t(1) << 31) + 5;
        const int64_t probes[] = {0, (int64_t(1) << 31) - 1, int64_t(1) << 31, kNumel - 1};
        DeviceBuffer big(std::size_t(kNumel) * sizeof(float));
        DeviceBuffer scalars(2 * sizeof(float));
        upload(scalars, std::vector<float>{3.0f, 4.0f});

        cuda::fill(big.get(), DType::Float32, kNumel, 1.0, kDevice);
        for (int64_t i : probes) CHECK(read_element<float>(big.get(), i) == 1.0f);

        // contiguous path, in place: big = big + 1 * big
        const int64_t sizes[1] = {kNumel};
        const int64_t unit[1] = {1};
        cuda::StridedOperand self;
        self.data = big.get();
        self.strides[0] = 1;
        cuda::add(DType::Float32, 1, sizes, big.get(), unit, self, self, 1.0, kDevice);
        for (int64_t i : probes) CHECK(read_element<float>(big.get(), i) == 2.0f);

        // strided path with 64-bit indices: big = 3 + 0.5 * 4, both operands broadcast scalars
        cuda::StridedOperand three, four;
        three.data = scalars.get<float>();
        four.data = scalars.get<float>() + 1;
        cuda::add(DType::Float32, 1, sizes, big.get(), unit, three, four, 0.5, kDevice);
        for (int64_t i : probes) CHECK(read_element<float>(big.get(), i) == 5.0f);
    }
}

// ---- the caching allocator ------------------------------------------------------------------

TEST_CASE("allocator reuses a freed block instead of calling cudaMalloc again") {
    cuda::empty_cache();
    const auto start = cuda::allocator_stats(kDevice);
    CHECK(start.cached_bytes == 0);

    void* first = cuda::allocate(1000, kDevice);  // a 1024-byte block (multiples of 512)
    auto stats = cuda::allocator_stats(kDevice);
    CHECK(stats.num_cuda_mallocs == start.num_cuda_mallocs + 1);
    CHECK(stats.allocated_bytes == start.allocated_bytes + 1024);
    CHECK(stats.peak_allocated_bytes >= stats.allocated_bytes);

    cuda::deallocate(first, kDevice);
    stats = cuda::allocator_stats(kDevice);
    CHECK(stats.allocated_bytes == start.allocated_bytes);
    CHECK(stats.cached_bytes == 1024);

    void* second = cuda::allocate(1000, kDevice);
    stats = cuda::allocator_stats(kDevice);
    CHECK(second == first);
    CHECK(stats.num_cuda_mallocs == start.num_cuda_mallocs + 1);
    CHECK(stats.cached_bytes == 0);
    cuda::deallocate(second, kDevice);

    void* same_bucket = cuda::allocate(600, kDevice);  // also rounds up to 1024
    CHECK(same_bucket == first);
    CHECK(cuda::allocator_stats(kDevice).num_cuda_mallocs == start.num_cuda_mallocs + 1);
    cuda::deallocate(same_bucket, kDevice);
}

TEST_CASE("allocator rounds large blocks to 2 MiB and does not hand out blocks far too big") {
    constexpr std::size_t kMiB = std::size_t(1) << 20;
    cuda::empty_cache();
    const auto start = cuda::allocator_stats(kDevice);

    void* large = cuda::allocate(3 * kMiB, kDevice);  // -> a 4 MiB block
    CHECK(cuda::allocator_stats(kDevice).allocated_bytes == start.allocated_bytes + 4 * kMiB);
    cuda::deallocate(large, kDevice);
    void* again = cuda::allocate(4 * kMiB, kDevice);  // same bucket: reused
    CHECK(again == large);
    CHECK(cuda::allocator_stats(kDevice).num_cuda_mallocs == start.num_cuda_mallocs + 1);
    cuda::deallocate(again, kDevice);

    void* small = cuda::allocate(kMiB, kDevice);  // a 2 MiB block: the cached 4 MiB one is at most 2x, reused
    CHECK(small == large);
    CHECK(cuda::allocator_stats(kDevice).num_cuda_mallocs == start.num_cuda_mallocs + 1);
    cuda::deallocate(small, kDevice);

    void* tiny = cuda::allocate(512, kDevice);  // the cached 4 MiB block is far too big: new block
    CHECK(tiny != large);
    CHECK(cuda::allocator_stats(kDevice).num_cuda_mallocs == start.num_cuda_mallocs + 2);
    cuda::deallocate(tiny, kDevice);

    CHECK(cuda::allocator_stats(kDevice).cached_bytes == 4 * kMiB + 512);
    cuda::empty_cache();
    const auto end = cuda::allocator_stats(kDevice);
    CHECK(end.cached_bytes == 0);
    CHECK(end.allocated_bytes == start.allocated_bytes);
    CHECK(end.peak_allocated_bytes >= start.allocated_bytes + 4 * kMiB);

    void* fresh = cuda::allocate(3 * kMiB, kDevice);  // the cache is empty: cudaMalloc again
    CHECK(cuda::allocator_stats(kDevice).num_cuda_mallocs == start.num_cuda_mallocs + 3);
    cuda::deallocate(fresh, kDevice);
}

TEST_CASE("allocate(0) returns nullptr and deallocate(nullptr) does nothing") {
    const auto start = cuda::allocator_stats(kDevice);
    CHECK(cuda::allocate(0, kDevice) == nullptr);
    cuda::deallocate(nullptr, kDevice);
    const auto end = cuda::allocator_stats(kDevice);
    CHECK(end.num_cuda_mallocs == start.num_cuda_mallocs);
    CHECK(end.allocated_bytes == start.allocated_bytes);
}

TEST_CASE("an absurd allocation throws fbseg::Error with the size, and the GPU stays usable") {
    const std::size_t absurd = std::size_t(1) << 60;
    std::string message;
    try {
        cuda::allocate(absurd, kDevice);
    } catch (const fbseg::Error& e) {
        message = e.what();
    }
    INFO(message);
    CHECK(message.find(std::to_string(absurd)) != std::string::npos);
    CHECK(message.find("allocated") != std::string::npos);  // the stats are in the message

    // the failed cudaMalloc must not leave an error behind for the next launch check
    DeviceBuffer buffer(4 * sizeof(float));
    CHECK_NOTHROW(cuda::fill(buffer.get(), DType::Float32, 4, 1.0, kDevice));
    CHECK_NOTHROW(cuda::synchronize(kDevice));
    CHECK(read_element<float>(buffer.get(), 3) == 1.0f);
}

TEST_CASE("allocator errors: bad device index, unknown pointer") {
    CHECK_THROWS_AS(cuda::allocate(16, cuda::device_count()), fbseg::Error);
    CHECK_THROWS_AS(cuda::allocate(16, -1), fbseg::Error);
    CHECK_THROWS_AS(cuda::allocator_stats(-1), fbseg::Error);
    int not_device_memory = 0;
    CHECK_THROWS_AS(cuda::deallocate(&not_device_memory, kDevice), fbseg::Error);
}

TEST_CASE("allocator is safe to use from several threads") {
    const auto start = cuda::allocator_stats(kDevice);
    constexpr int kThreads = 4, kRounds = 500;
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([t] {
            std::vector<void*> held;
            for (int round = 0; round < kRounds; ++round) {
                held.push_back(cuda::allocate(std::size_t(512 * (1 + (round + t) % 7)), kDevice));
                if (held.size() == 4) {
                    for (void* p : held) cuda::deallocate(p, kDevice);
                    held.clear();
                }
            }
            for (void* p : held) cuda::deallocate(p, kDevice);
        });
    }
    for (auto& thread : threads) thread.join();
    CHECK(cuda::allocator_stats(kDevice).allocated_bytes == start.allocated_bytes);
}

// ---- copies ---------------------------------------------------------------------------------

TEST_CASE("copies host -> device -> device -> host round-trip the bytes") {
    std::mt19937_64 rng(7);
    const auto values = random_values<double>(12345, rng);
    const std::size_t bytes = values.size() * sizeof(double);
    DeviceBuffer first(bytes), second(bytes);
    cuda::copy_host_to_device(first.get(), values.data(), bytes, kDevice);
    cuda::copy_device_to_device(second.get(), first.get(), bytes, kDevice);
    std::vector<double> back(values.size());
    cuda::copy_device_to_host(back.data(), second.get(), bytes, kDevice);
    CHECK(std::memcmp(back.data(), values.data(), bytes) == 0);
    CHECK_NOTHROW(cuda::copy_host_to_device(nullptr, nullptr, 0, kDevice));  // nothing to copy
}

TEST_CASE("device queries") {
    CHECK(cuda::is_available());
    CHECK(cuda::device_count() >= 1);
    CHECK_NOTHROW(cuda::synchronize(kDevice));
    CHECK_THROWS_AS(cuda::synchronize(cuda::device_count()), fbseg::Error);
}

// ---- main -----------------------------------------------------------------------------------

int main(int argc, char** argv) {
    if (cuda::device_count() == 0) {
        std::cout << "skipped: no CUDA device" << std::endl;
        return 77;  // CTest's SKIP_RETURN_CODE for this test
    }
    doctest::Context context;
    context.applyCommandLine(argc, argv);
    const int result = context.run();
    if (context.shouldExit()) return result;  // --help, --list-test-cases, ...
    return result == 0 ? 0 : 1;               // never 77 by accident: that would read as "skipped"
}
