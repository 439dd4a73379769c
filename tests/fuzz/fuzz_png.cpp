// tests/fuzz/fuzz_png.cpp - libFuzzer target for the image reader (include/fbseg/data/image_io.hpp:
// stb_image behind fbseg's header checks). Any input must either decode to a float32 [C, H, W]
// image in [0, 1] (and a mask of stored values) or be refused with fbseg::Error; a crash, a
// sanitizer report, a hang, a value out of range or another exception type is a bug. Built with
// the `fuzz` preset (clang), run by `bash tools/run.sh fuzz` (seeds: tests/fixtures/readers/).
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "fbseg/fbseg.hpp"
#include "fbseg/data/image_io.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    fbseg::data::ImageReadOptions options;
    options.max_pixels = std::int64_t(1) << 22;  // keep each decode within the fuzzer's memory limit
    for (bool keep : {false, true}) {
        options.keep_channels = keep;
        try {
            const fbseg::Tensor image = fbseg::data::read_image_from_memory(data, size, "fuzz", options);
            const float* p = image.data_ptr<float>();
            for (std::int64_t i = 0, n = image.numel(); i < n; ++i)
                if (!(p[i] >= 0.0f && p[i] <= 1.0f)) std::abort();  // out of the documented range
        } catch (const fbseg::Error&) {
            // refused with a message: the expected outcome for most inputs
        }
    }
    try {
        (void)fbseg::data::read_mask_values_from_memory(data, size, "fuzz", options);
    } catch (const fbseg::Error&) {
    }
    return 0;
}
