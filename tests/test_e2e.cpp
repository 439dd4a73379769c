// End-to-end parity with PyTorch: one training step of a reduced-width smp ResNet-UNet (smp's
// Unet over a torchvision-BasicBlock ResNet encoder with stem 8, stages 8/16/24/32 of 1/2/1/1
// blocks, decoder 16/16/8/8/4; the code path of smp.Unet("resnet34"), narrower) on a [2, 3, 64, 64]
// batch, from tests/fixtures/e2e_resnet_unet.safetensors (tools/make_e2e_fixtures.py, PyTorch in
// float32): logits, bce_dice loss, every parameter gradient, every parameter and buffer after one
// AdamW step, then eval logits and loss; and the AdamW step alone on PyTorch's gradients, the eval
// forward alone on PyTorch's updated state. Each within max|a - b| / max|b| <= 1e-4.
// tests/support/e2e_check.hpp does the work; docs/parity.md has the figures, and those of the
// full-size resnet34 run (tools/e2e_check).
#include <doctest/doctest.h>

#include <cmath>
#include <string>

#include "fbseg/fbseg.hpp"
#include "support/e2e_check.hpp"

namespace e2e_tests {  // a namespace of its own: the test files are compiled as one unity source

using namespace fbseg;

TEST_CASE("e2e: reduced-width resnet unet matches pytorch") {
    const std::string path = std::string(FBSEG_FIXTURE_DIR) + "/e2e_resnet_unet.safetensors";
    const test_support::E2eReport report = test_support::run_e2e_check(path);

    // Everything was compared: one gradient and one after-step value per parameter, one
    // after-step value per buffer, and every group present.
    const auto model = test_support::build_e2e_model(test_support::SafetensorsFile(path));
    const std::size_t n_params = model->named_parameters().size(), n_buffers = model->named_buffers().size();
    REQUIRE(n_params > 50);
    CHECK(report.count("grad") == n_params);
    CHECK(report.count("after.param") == n_params);
    CHECK(report.count("after.buffer") == n_buffers);
    CHECK(report.count("isolated.step") == n_params);
    CHECK(report.count("isolated.eval") == 1);
    for (const auto& group : test_support::e2e_groups()) {
        CAPTURE(group);
        CHECK(report.count(group) > 0);
    }

    for (const auto& e : report.entries) {
        CAPTURE(e.group);
        CAPTURE(e.name);
        CAPTURE(e.max_abs_error);
        CAPTURE(e.max_ref);
        CAPTURE(e.worst_element);
        CAPTURE(e.worst_value);
        CAPTURE(e.worst_ref);
        CHECK(std::isfinite(e.rel_error));
        CHECK(e.worst_ratio <= 1.0);  // per element, see test_support::e2e_tolerance()
        if (e.name.find("num_batches_tracked") != std::string::npos) CHECK(e.rel_error == 0.0);  // 3 -> 4, exactly
    }
    MESSAGE("e2e reduced fixture: overall max relative error " << report.max_rel_error()
                                                                << ", worst per-element ratio " << report.max_worst_ratio());
}

}  // namespace e2e_tests
