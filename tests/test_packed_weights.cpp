// conv2d's packed weights kept between inference calls (ops/kernel/packed_weight_cache.hpp): the
// result is the same, bit for bit, as the training path's; the cache follows the weight's
// storage version, so an in-place change (an optimizer step) is never hidden by a stale copy.
#include <doctest/doctest.h>

#include <cstring>
#include <vector>

#include "fbseg/fbseg.hpp"

namespace packed_weights_tests {  // a namespace of its own: the test files are compiled as one unity source

using namespace fbseg;

bool same_bits(const Tensor& a, const Tensor& b) {
    const std::vector<float> va = a.to_vector<float>(), vb = b.to_vector<float>();
    return va.size() == vb.size() && std::memcmp(va.data(), vb.data(), va.size() * sizeof(float)) == 0;
}

TEST_CASE("ops: conv2d under NoGradGuard keeps the packed weights until the weight changes, bit for bit") {
    Generator gen(11);
    const Tensor x = randn({2, 32, 20, 24}, {}, gen);
    Tensor w = randn({40, 32, 3, 3}, {}, gen);  // 40 output channels: a partial block of rows
    const Tensor b = randn({40}, {}, gen);
    const Conv2dParams p{.stride = {1, 1}, .padding = {1, 1}, .dilation = {1, 1}, .groups = 1};
    // does this CPU's table pack the weights for this layer (the direct path; not the baseline copy)?
    ConvGeometry g;
    g.n = 2, g.c_in = 32, g.h = 20, g.w = 24, g.c_out = 40, g.ho = 20, g.wo = 24, g.kh = 3, g.kw = 3, g.ph = 1, g.pw = 1;
    const bool packs = cpu::kernel_table().f32.conv_packed_size(g) > 0;
    MESSAGE("conv2d packs its weights on this CPU's kernels (" << std::string(cpu::kernel_table().isa) << "): " << packs);

    const Tensor reference = conv2d(x, w, b, p);  // grad mode: packs at every call
    const std::size_t one = packs ? 1 : 0;
    kernel::clear_packed_weight_cache();
    {
        NoGradGuard no_grad;
        const Tensor y1 = conv2d(x, w, b, p);
        CHECK(same_bits(y1, reference));
        CHECK(kernel::packed_weight_cache_size().first == one);
        const Tensor y2 = conv2d(x, w, b, p);  // from the cache
        CHECK(same_bits(y2, reference));
        CHECK(kernel::packed_weight_cache_size().first == one);
    }

    // An in-place change bumps the storage's version: the next inference call packs again.
    w.add_(0.25);
    const Tensor expected = conv2d(x, w, b, p);  // grad mode: never the cache
    CHECK_FALSE(same_bits(expected, reference));
    {
        NoGradGuard no_grad;
        CHECK(same_bits(conv2d(x, w, b, p), expected));
        CHECK(kernel::packed_weight_cache_size().first == one);  // the old version's entry replaced

        // Another tensor with the same values is another storage: its own entry, the same result.
        const Tensor w2 = w.clone();
        CHECK(same_bits(conv2d(x, w2, b, p), expected));
        CHECK(kernel::packed_weight_cache_size().first == 2 * one);
    }
    kernel::clear_packed_weight_cache();
    CHECK(kernel::packed_weight_cache_size().first == 0u);
}

}  // namespace packed_weights_tests
