// Tests of the device seam (cuda/backend.hpp, ops/kernel/): the CUDA paths of the core run
// against a fake CUDA backend registered by the test, whose "device memory" is host memory, so
// that every dispatch to a CUDA twin is exercised on a machine without a GPU. Also the holes of
// the review that live in the same files: data_ptr on device memory, exceptions from a
// deallocation, overlapping in-place writes, and allocation failures.
#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>
#include <new>
#include <utility>
#include <vector>

#include "fbseg/fbseg.hpp"
#include "support/check.hpp"

namespace device_tests {  // a namespace of its own: the test files are compiled as one unity source

using namespace fbseg;

// The address and thread sanitizers replace the allocator; by default they abort on a request
// above their maximum (1 TiB for ASan) instead of throwing std::bad_alloc.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define FBSEG_TEST_SANITIZED_ALLOCATOR 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define FBSEG_TEST_SANITIZED_ALLOCATOR 1
#endif
#endif
#ifndef FBSEG_TEST_SANITIZED_ALLOCATOR
#define FBSEG_TEST_SANITIZED_ALLOCATOR 0
#endif

namespace {

// ---- the fake backend: device memory is host memory, every call is counted -----------------

struct FakeCounters {
    int allocations = 0, deallocations = 0, fills = 0, adds = 0, uploads = 0, downloads = 0, device_copies = 0;
    bool deallocate_throws = false;
};
FakeCounters& fake() {
    static FakeCounters counters;
    return counters;
}

int fake_device_count() { return 1; }

void* fake_allocate(std::size_t bytes, int device) {
    FBSEG_CHECK(device == 0, "fake allocate: no device ", device);
    ++fake().allocations;
    return ::operator new(bytes ? bytes : 1);
}

void fake_deallocate(void* ptr, int) {
    ++fake().deallocations;
    ::operator delete(ptr);
    if (fake().deallocate_throws) FBSEG_FAIL("fake deallocate: the device refused to free ", ptr);
}

void fake_upload(void* dst, const void* src, std::size_t bytes, int) {
    ++fake().uploads;
    if (bytes) std::memcpy(dst, src, bytes);
}
void fake_download(void* dst, const void* src, std::size_t bytes, int) {
    ++fake().downloads;
    if (bytes) std::memcpy(dst, src, bytes);
}
void fake_device_copy(void* dst, const void* src, std::size_t bytes, int) {
    ++fake().device_copies;
    if (bytes) std::memmove(dst, src, bytes);
}

void fake_fill(void* data, DType dtype, std::int64_t numel, double value, int) {
    ++fake().fills;
    dispatch_all(dtype, "fake fill", [&]<typename T>() {
        for (std::int64_t i = 0; i < numel; ++i) static_cast<T*>(data)[i] = cpu::convert<T>(value);
    });
}

// out = a + alpha * b, walking the multi-index of `sizes` (the CPU reference of kernels/elementwise.cu).
void fake_add(DType dtype, int ndim, const std::int64_t* sizes, void* out, const std::int64_t* out_strides,
              const cuda::StridedOperand& a, const cuda::StridedOperand& b, double alpha, int) {
    ++fake().adds;
    std::int64_t numel = 1;
    for (int d = 0; d < ndim; ++d) numel *= sizes[d];
    dispatch_numeric(dtype, "fake add", [&]<typename T>() {
        for (std::int64_t n = 0; n < numel; ++n) {
            std::int64_t rest = n, o = 0, oa = 0, ob = 0;
            for (int d = ndim - 1; d >= 0; --d) {
                const std::int64_t i = rest % sizes[d];
                rest /= sizes[d];
                o += i * out_strides[d];
                oa += i * a.strides[d];
                ob += i * b.strides[d];
            }
            static_cast<T*>(out)[o] =
                T(static_cast<const T*>(a.data)[oa] + T(alpha) * static_cast<const T*>(b.data)[ob]);
        }
    });
}

cuda::Backend make_fake_backend() {
    cuda::Backend b;
    b.name = "fake";
    b.device_count = &fake_device_count;
    b.allocate = &fake_allocate;
    b.deallocate = &fake_deallocate;
    b.copy_host_to_device = &fake_upload;
    b.copy_device_to_host = &fake_download;
    b.copy_device_to_device = &fake_device_copy;
    b.fill = &fake_fill;
    b.add = &fake_add;
    return b;
}

const cuda::Backend kFake = make_fake_backend();
const TensorOptions kOnFakeGpu = TensorOptions().device(cuda_device(0));

/// 0, 1, 2, ... as a float32 tensor of `shape`.
Tensor counting(const Shape& shape) {
    std::vector<float> v(std::size_t(numel_of(shape)));
    for (std::size_t i = 0; i < v.size(); ++i) v[i] = float(i);
    return from_vector(v, shape);
}

}  // namespace

// ---- the seam and the registry --------------------------------------------------------------

TEST_CASE("device: without a registered CUDA backend, a CUDA tensor says the build has no CUDA support") {
    cuda::ScopedBackend none(nullptr);
    CHECK_ERROR(zeros({2, 3}, kOnFakeGpu), "empty", "float32 [2, 3]", "cuda:0", "no CUDA support", "link fbseg::cuda");
    CHECK_ERROR(ones({2}).cuda(), "no CUDA support");
}

TEST_CASE("device: every CUDA path of fill, copy and add goes through the registered backend") {
    cuda::ScopedBackend scoped(&kFake);
    fake() = FakeCounters{};
    {
        const Tensor filled = full({2, 3}, 2.5, kOnFakeGpu);
        CHECK(fake().allocations == 1);
        CHECK(fake().fills == 1);
        CHECK(filled.device() == cuda_device(0));
        CHECK(filled.cpu().to_vector<float>() == std::vector<float>(6, 2.5f));
        CHECK(fake().downloads == 1);

        // Upload, with the packing of a non-contiguous source on the host, and a dtype conversion.
        const Tensor host = counting({3, 4});
        const Tensor up = host.t().cuda();
        CHECK(fake().uploads == 1);
        CHECK(up.cpu().to_vector<float>() == host.t().contiguous().to_vector<float>());
        Tensor as_double = zeros({4, 3}, TensorOptions(DType::Float64).device(cuda_device(0)));
        as_double.copy_(host.t());
        CHECK(as_double.cpu().to_vector<double>() == host.t().contiguous().to(DType::Float64).to_vector<double>());

        // Device to device: clone of a CUDA tensor.
        CHECK(up.clone().cpu().to_vector<float>() == up.cpu().to_vector<float>());
        CHECK(fake().device_copies == 1);

        // add and sub with broadcasting and strided operands, out of place and in place.
        const Tensor a = randn({4, 1, 6}), b = randn({5, 6}), c = randn({6, 5}).t();
        CHECK(add(a.cuda(), b.cuda()).cpu().to_vector<float>() == add(a, b).to_vector<float>());
        CHECK(sub(a.cuda(), b.cuda()).cpu().to_vector<float>() == sub(a, b).to_vector<float>());
        CHECK(add(b.cuda(), c.cuda()).cpu().to_vector<float>() == add(b, c).to_vector<float>());
        Tensor acc = b.cuda();
        add_(acc, c.cuda());
        sub_(acc, a.select(0, 0).cuda());
        CHECK(acc.cpu().to_vector<float>() == sub(add(b, c), a.select(0, 0)).to_vector<float>());
        CHECK(fake().adds == 5);

        // Autograd through device copies allocates its gradients on the input's device.
        const Tensor x = randn({3, 4}, TensorOptions().requires_grad());
        sum(add(x.cuda(), x.cuda()).cpu()).backward();
        CHECK(x.grad().to_vector<float>() == std::vector<float>(12, 2.0f));
    }
    CHECK(fake().deallocations == fake().allocations);  // every device block was given back
}

TEST_CASE("device: kernels without a CUDA twin refuse CUDA tensors from their one dispatch point") {
    cuda::ScopedBackend scoped(&kFake);
    const Tensor x = ones({2, 3}, kOnFakeGpu);
    CHECK_ERROR(exp(x), "exp: no CUDA kernel for exp yet", "cuda:0");
    CHECK_ERROR(mul(x, x), "no CUDA kernel for mul yet");
    CHECK_ERROR(sum(x), "no CUDA kernel for sum_rows yet");
    CHECK_ERROR(max(x, 1), "no CUDA kernel for extreme_rows yet");
    CHECK_ERROR(max_pool2d(x.reshape({1, 1, 2, 3}), MaxPool2dParams{}), "no CUDA kernel for max_pool2d_forward yet");
    CHECK_ERROR(conv2d(x.reshape({1, 1, 2, 3}), ones({1, 1, 1, 1}, kOnFakeGpu)),
                "no CUDA kernel for conv2d_forward yet");
    CHECK_ERROR(softmax(x, 1), "no CUDA kernel for softmax_forward yet");
    CHECK_ERROR(bmm(x.unsqueeze(0), x.t().unsqueeze(0)), "no CUDA kernel for bmm_forward yet");
    CHECK_ERROR(gt(x, x), "no CUDA kernel for gt yet");
    Tensor y = x.clone();
    CHECK_ERROR(mul_(y, x), "no CUDA kernel for mul_ yet");
    CHECK_ERROR(relu_(y), "no CUDA kernel for relu yet");
}

// ---- hole 4: host code never dereferences device memory -------------------------------------

TEST_CASE("device: data_ptr refuses a CUDA tensor, device_data_ptr hands out its device address") {
    cuda::ScopedBackend scoped(&kFake);
    const Tensor x = zeros({4}, kOnFakeGpu);
    CHECK_ERROR(x.data_ptr<float>(), "data_ptr", "float32 [4] cuda:0", "is not on the CPU");
    CHECK(x.device_data_ptr<float>() == x.raw_data());
    CHECK_ERROR(x.device_data_ptr<double>(), "device_data_ptr", "float32");
    // A host loop handed a CUDA tensor by mistake throws instead of reading device memory.
    CHECK_ERROR(cpu::fill<float>(x, 1.0f), "is not on the CPU");
    CHECK_ERROR((cpu::map1<float, float>(x, x, [](float v) { return v; })), "is not on the CPU");
    const Tensor host = zeros({4});
    CHECK(host.data_ptr<float>() == host.raw_data());
}

// ---- hole 10: no exception leaves a destructor ----------------------------------------------

TEST_CASE("device: a deallocation that throws is reported, not thrown out of ~Storage") {
    cuda::ScopedBackend scoped(&kFake);
    fake() = FakeCounters{};
    const std::uint64_t errors_before = deallocation_errors();
    fake().deallocate_throws = true;
    {
        const Tensor x = zeros({8}, kOnFakeGpu);  // its ~Storage runs at the brace; a throw would terminate
    }
    {
        const Tensor y = zeros({2}, kOnFakeGpu);
        const Tensor z = y.cuda();  // the same storage: one deallocation
    }
    fake().deallocate_throws = false;
    CHECK(fake().deallocations == 2);
    CHECK(deallocation_errors() == errors_before + 2);
    CHECK(noexcept(std::declval<Storage&>().~Storage()));
}

TEST_CASE("device: a storage is freed by the backend that allocated it") {
    fake() = FakeCounters{};
    Tensor x;
    {
        cuda::ScopedBackend scoped(&kFake);
        x = zeros({3}, kOnFakeGpu);
    }
    x = Tensor();  // the backend is no longer registered; its deallocate still frees the block
    CHECK(fake().deallocations == 1);
}

// ---- hole 7: overlapping in-place writes ------------------------------------------------------

TEST_CASE("device: add_ of a tensor's own transpose reads the values from before the write") {
    // 256 x 256 = 65536 elements: more than one parallel chunk (cpu::kGrainSize).
    Tensor a = counting({256, 256});
    const Tensor expected = add(a, a.t());
    add_(a, a.t());
    CHECK(a.to_vector<float>() == expected.to_vector<float>());

    Tensor d = counting({256, 256});
    const Tensor expected_d = mul(d, d.t());
    mul_(d, d.t());
    CHECK(d.to_vector<float>() == expected_d.to_vector<float>());
}

TEST_CASE("device: copy_ from a tensor's own transpose gives the transpose") {
    Tensor x = counting({256, 256});
    const Tensor expected = x.t().contiguous();
    x.copy_(x.t());
    CHECK(x.to_vector<float>() == expected.to_vector<float>());
}

TEST_CASE("device: an in-place add_ from a shifted slice of itself copies the source first") {
    // PyTorch: x[1:] += x[:-1] adds the old neighbours, x = [0, 1, 3, 5, 7, ...], not prefix sums.
    const std::int64_t n = 100000;
    Tensor x = counting({n});
    Tensor tail = x.slice(0, 1, n);
    add_(tail, x.slice(0, 0, n - 1));
    const std::vector<float> v = x.to_vector<float>();
    CHECK(v[0] == 0.0f);
    bool all = true;
    for (std::int64_t i = 1; i < n; ++i) all = all && v[std::size_t(i)] == float(2 * i - 1);
    CHECK(all);

    Tensor y = counting({6});
    Tensor head = y.slice(0, 0, 5);
    head.copy_(y.slice(0, 1, 6));  // shift left: memmove semantics
    CHECK(y.to_vector<float>() == std::vector<float>{1, 2, 3, 4, 5, 5});
}

TEST_CASE("device: the very same view as source and destination needs no copy and stays correct") {
    Tensor x = counting({300, 300});
    const Tensor twice = mul(x, 2.0);
    add_(x, x);
    CHECK(x.to_vector<float>() == twice.to_vector<float>());
    Tensor y = counting({4});
    y.copy_(y);
    CHECK(y.to_vector<float>() == std::vector<float>{0, 1, 2, 3});
}

TEST_CASE("device: an in-place write into an expanded (stride-0) tensor is refused") {
    Tensor e = ones({1}).expand({4});
    CHECK_ERROR(add_(e, ones({4})), "add_", "unsupported operation", "single memory location");
    CHECK_ERROR(e.copy_(ones({4})), "copy_", "unsupported operation", "single memory location");
    CHECK_ERROR(relu_(e), "relu", "single memory location");
    CHECK(ones({1}).to_vector<float>() == std::vector<float>{1.0f});
    // A size-1 dim of stride 0 names one element once: fine.
    Tensor single = ones({1}).expand({1});
    add_(single, ones({1}));
    CHECK(single.item<float>() == 2.0f);
}

// ---- allocation failure is an fbseg::Error naming the op and the shape ------------------------

TEST_CASE("device: a tensor too large for memory throws fbseg::Error naming the shape") {
    // A byte count that does not fit in 64 bits is refused before allocating.
    CHECK_ERROR(empty({std::int64_t(1) << 40, std::int64_t(1) << 40}), "empty", "[1099511627776, 1099511627776]",
                "does not fit in 64 bits");
#if !FBSEG_TEST_SANITIZED_ALLOCATOR  // sanitizers abort on huge requests instead of throwing
    // 2^62 bytes: more than any address space, so the allocation fails on every machine.
    CHECK_ERROR(zeros({std::int64_t(1) << 30, std::int64_t(1) << 30}), "empty: cannot allocate", "float32",
                "[1073741824, 1073741824]", "cpu");
    // 4 TiB: fails on a machine with less memory (and the default overcommit heuristic).
    CHECK_ERROR(zeros({std::int64_t(1) << 20, std::int64_t(1) << 20}), "empty: cannot allocate 4398046511104 bytes",
                "float32 [1048576, 1048576] tensor on cpu");
#endif
}

}  // namespace device_tests
