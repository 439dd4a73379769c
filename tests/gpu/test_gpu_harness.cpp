// tests/gpu/test_gpu_harness.cpp - the op harness's cuda mode: every case of tests/harness/ run on
// the CPU and on CUDA, compared per element.
//
// For each case: the CPU result is the reference. On the device, each input's base lives inside a
// larger buffer of guard values (kPad elements on each side) and the op sees the case's layout of
// it (transposed, sliced with a step, expanded: non-contiguous inputs); the device memory the
// outputs will get is poisoned with NaN first (tensors of the outputs' shapes filled with NaN and
// released to the caching allocator, which hands those blocks to the op), so an element a kernel
// forgets to write shows up as NaN. After the call: outputs match the CPU within the case's float32
// tolerance, the guards are intact, and inputs the op does not write are unchanged.
//
// Ops without a CUDA kernel throw "no CUDA kernel for this op yet": such cases are reported as
// skipped, so this runner grows as kernels come (kernels/).
#include <doctest/doctest.h>

#include <limits>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "fbseg/fbseg.hpp"
#include "harness/registry.hpp"
#include "support/check.hpp"

using namespace fbseg;

namespace harness_gpu_tests {  // (named, not anonymous: the GPU suites are compiled as a unity build)

constexpr std::int64_t kPad = 17;  // guard elements on each side (odd: misaligns the base too)
constexpr double kGuard = 12345.0;

/// A device copy of `host` stored at element kPad of a buffer of guard values.
struct Guarded {
    Tensor buffer;  // [kPad + numel + kPad], 1-D
    Tensor base;    // the copy, a contiguous view into buffer
};

Guarded guarded_copy(const Tensor& host) {
    const std::int64_t n = host.numel();
    Guarded g;
    g.buffer = full({n + 2 * kPad}, kGuard, TensorOptions(host.dtype()).device(cuda_device(0)));
    g.base = g.buffer.narrow(0, kPad, n).view(host.shape());
    g.base.copy_(host);
    return g;
}

/// True when the guard elements of `g` still hold kGuard.
bool guards_intact(const Guarded& g) {
    const std::vector<double> v = test::values(g.buffer.cpu());
    const double guard = test::values(full({1}, kGuard, TensorOptions(g.buffer.dtype())))[0];
    for (std::int64_t i = 0; i < kPad; ++i)
        if (v[std::size_t(i)] != guard || v[v.size() - 1 - std::size_t(i)] != guard) return false;
    return true;
}

/// Fills blocks of the outputs' sizes with NaN and gives them back to the caching allocator.
void poison_outputs(const harness::Outputs& reference) {
    std::vector<Tensor> blocks;
    for (const Tensor& t : reference)
        if (t.defined() && is_floating(t.dtype()))
            blocks.push_back(full(t.shape(), std::numeric_limits<double>::quiet_NaN(),
                                  TensorOptions(t.dtype()).device(cuda_device(0))));
    cuda::synchronize(0);
}

/// The library's words for a kernel that does not exist yet ("no CUDA kernel for this op yet",
/// "non-contiguous CUDA tensors are not supported yet", "... for now"): a missing kernel, not a
/// wrong one.
bool is_missing_kernel(const std::string& message) {
    for (const char* words : {"no CUDA kernel", "not supported yet", "for now"})
        if (message.find(words) != std::string::npos) return true;
    return false;
}

}  // namespace harness_gpu_tests
using namespace harness_gpu_tests;

TEST_CASE("gpu harness: every case on CUDA against the CPU") {
    int compared = 0;
    std::map<std::string, std::string> skipped;  // op -> why
    for (const harness::OpCase& c : harness::registry()) {
        INFO("case ", c.id());
        if (c.inputs.empty()) {
            skipped.emplace(c.op, "no tensor inputs: the op makes CPU tensors");
            continue;
        }
        const std::vector<Tensor> host = harness::make_bases(c, DType::Float32, false);
        harness::Outputs reference;
        {
            const std::vector<Tensor> cpu_bases = harness::make_bases(c, DType::Float32, false);
            for (const Tensor& t : harness::run_case(c, cpu_bases))
                reference.push_back(t.defined() ? t.contiguous() : t);
        }
        std::vector<Guarded> device;
        std::vector<Tensor> device_bases;
        for (const Tensor& h : host) {
            device.push_back(guarded_copy(h));
            device_bases.push_back(device.back().base);
        }
        poison_outputs(reference);
        harness::Outputs outputs;
        try {
            outputs = harness::run_case(c, device_bases);
            cuda::synchronize(0);
        } catch (const Error& e) {
            if (is_missing_kernel(e.what())) {
                skipped.emplace(c.op, std::string("no CUDA kernel yet: ") + e.what());
                continue;
            }
            FAIL_CHECK(c.id(), " threw on CUDA: ", e.what());
            continue;
        }
        REQUIRE(outputs.size() == reference.size());
        for (std::size_t k = 0; k < outputs.size(); ++k) {
            const bool exact = !is_floating(reference[k].dtype());
            const test::CloseResult r =
                test::allclose(outputs[k].cpu(), reference[k], exact ? 0.0 : c.f32.atol, exact ? 0.0 : c.f32.rtol);
            CHECK_MESSAGE(r.ok, c.id(), " output ", k, ": ", r.message);
        }
        for (std::size_t k = 0; k < device.size(); ++k) {
            CHECK_MESSAGE(guards_intact(device[k]), c.id(), ": a write landed outside input ", k);
            if (!(c.inplace && k == 0))
                CHECK_MESSAGE(test::bitwise_equal(device[k].base.cpu(), host[k]), c.id(), ": input ", k,
                              " was modified");
        }
        ++compared;
    }
    std::string report;
    for (const auto& [op, why] : skipped) report += "\n  " + op + ": " + why;
    MESSAGE("gpu harness: ", compared, " cases compared on CUDA; ", skipped.size(), " ops skipped:", report);
    CHECK(compared > 0);
}
