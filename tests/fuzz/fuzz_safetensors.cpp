// tests/fuzz/fuzz_safetensors.cpp - libFuzzer target for the safetensors reader and the
// checkpoint layout on top of it (include/fbseg/io/). Any input must either parse, with every
// tensor readable, or be refused with fbseg::Error; a crash, a sanitizer report, a hang or
// another exception type is a bug. Built with the `fuzz` preset (clang), run by
// `bash tools/run.sh fuzz` (docs/testing.md).
#include <cstddef>
#include <cstdint>
#include <vector>

#include "fbseg/io/checkpoint.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    try {
        const auto reader = fbseg::io::SafetensorsReader::from_bytes(std::vector<std::uint8_t>(data, data + size), "fuzz");
        for (const auto& key : reader.keys()) (void)reader.get(key);
        (void)fbseg::io::read_checkpoint(reader);
    } catch (const fbseg::Error&) {
        // refused with a message: the expected outcome for most inputs
    }
    return 0;
}
