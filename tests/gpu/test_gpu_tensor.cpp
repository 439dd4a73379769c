// tests/gpu/test_gpu_tensor.cpp - the Tensor layer on CUDA devices: storage, copies between
// devices, the fill and add kernels behind the public ops, and the errors for what has no kernel
// yet. Every result is compared with the same op on the CPU.
#include <doctest/doctest.h>

#include "fbseg/fbseg.hpp"

using namespace fbseg;

namespace tensor_gpu_tests {  // (named, not anonymous: the GPU suites are compiled as a unity build)
/// The largest |a - b| / (atol + rtol |b|) over the elements (per element; <= 1 passes).
double worst_ratio(const Tensor& a, const Tensor& b, double atol, double rtol) {
    const auto x = a.to_vector<double>(), y = b.to_vector<double>();
    REQUIRE(x.size() == y.size());
    double worst = 0;
    for (std::size_t i = 0; i < x.size(); ++i) {
        const double d = std::abs(x[i] - y[i]);
        worst = std::max(worst, std::isnan(d) ? 1e300 : d / (atol + rtol * std::abs(y[i])));
    }
    return worst;
}
}  // namespace tensor_gpu_tests
using namespace tensor_gpu_tests;

TEST_CASE("gpu tensor: round trip CPU -> CUDA -> CPU keeps every value") {
    const Tensor host = randn({3, 5, 7});
    const Tensor device = host.cuda();
    CHECK(device.device() == cuda_device(0));
    CHECK(device.shape() == host.shape());
    CHECK(device.cpu().to_vector<float>() == host.to_vector<float>());
    // A non-contiguous CPU source is packed on the way.
    const Tensor permuted = host.permute({2, 0, 1});
    CHECK(permuted.cuda().cpu().to_vector<float>() == permuted.contiguous().to_vector<float>());
}

TEST_CASE("gpu tensor: factories fill on the device") {
    const TensorOptions on_gpu = TensorOptions().device(cuda_device(0));
    for (std::int64_t n : {1, 1000, 100003}) {
        CHECK(full({n}, 2.5, on_gpu).cpu().to_vector<float>() == std::vector<float>(std::size_t(n), 2.5f));
    }
    CHECK(zeros({4, 4}, TensorOptions(DType::Int64).device(cuda_device(0))).cpu().to_vector<std::int64_t>() ==
          std::vector<std::int64_t>(16, 0));
}

TEST_CASE("gpu tensor: add and sub with broadcasting and strided operands match the CPU") {
    const Tensor a = randn({4, 1, 6}), b = randn({5, 6}), c = randn({6, 5}).t();
    CHECK(worst_ratio(add(a.cuda(), b.cuda()), add(a, b), 1e-7, 1e-6) <= 1);
    CHECK(worst_ratio(sub(a.cuda(), b.cuda()), sub(a, b), 1e-7, 1e-6) <= 1);
    CHECK(worst_ratio(add(b.cuda(), c.cuda()), add(b, c), 1e-7, 1e-6) <= 1);
    const Tensor d = randn({2, 3}, TensorOptions(DType::Float64));
    CHECK(worst_ratio(add(d.cuda(), d.cuda()), mul(d, 2.0), 0.0, 1e-12) <= 1);
}

TEST_CASE("gpu tensor: add_ and sub_ run in place on the device, overlapping sources copied first") {
    const Tensor b = randn({5, 6}), c = randn({6, 5}).t();
    Tensor acc = b.cuda();
    add_(acc, c.cuda());
    sub_(acc, b.select(0, 0).cuda());
    CHECK(worst_ratio(acc, sub(add(b, c), b.select(0, 0)), 1e-7, 1e-6) <= 1);
    // x[1:] += x[:-1] reads the old values (the source is copied first).
    const Tensor x = arange(0.0, 1000.0, 1.0, TensorOptions(DType::Float32));
    Tensor xd = x.cuda();
    Tensor tail = xd.slice(0, 1, 1000);
    add_(tail, xd.slice(0, 0, 999));
    const std::vector<float> v = xd.cpu().to_vector<float>();
    bool all = v[0] == 0.0f;
    for (std::size_t i = 1; i < v.size(); ++i) all = all && v[i] == float(2 * i - 1);
    CHECK(all);
}

TEST_CASE("gpu tensor: autograd through device copies") {
    const Tensor x = randn({3, 4}, TensorOptions().requires_grad());
    const Tensor y = add(x.cuda(), x.cuda()).cpu();  // d/dx = 2
    sum(y).backward();
    CHECK(x.grad().to_vector<float>() == std::vector<float>(12, 2.0f));
}

TEST_CASE("gpu tensor: clear errors for mixed devices and ops without a kernel") {
    const Tensor a = randn({2, 2});
    CHECK_THROWS_WITH_AS(add(a, a.cuda()), doctest::Contains("different devices"), fbseg::Error);
    // topk has no CUDA kernel yet (relu had none when this test was written; it has one now)
    CHECK_THROWS_WITH_AS(topk(a.cuda(), 1, 1), doctest::Contains("no CUDA kernel"), fbseg::Error);
}
