// tests/support/safetensors_reader.hpp - the name the tests use for fbseg's own safetensors reader
// (include/fbseg/io/safetensors.hpp), with which they read the PyTorch reference fixtures that
// tools/make_*_fixtures.py write with Python's `safetensors` package.
//
//   fbseg::test_support::SafetensorsFile file(FBSEG_FIXTURE_DIR "/ops.safetensors");
//   fbseg::Tensor x = file.get("relu.in0");          // a new contiguous CPU tensor
//   std::string v = file.metadata("torch_version");
//
// The reader itself is tested against Python's on every dtype in tests/test_io.cpp.
#pragma once

#include "fbseg/io/safetensors.hpp"

namespace fbseg::test_support {

class SafetensorsFile : public io::SafetensorsReader {
public:
    using io::SafetensorsReader::SafetensorsReader;
    const io::Metadata& all_metadata() const { return metadata(); }
};

}  // namespace fbseg::test_support
