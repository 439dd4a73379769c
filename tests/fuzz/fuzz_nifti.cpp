// tests/fuzz/fuzz_nifti.cpp - libFuzzer target for the NIfTI reader (include/fbseg/data/nifti.hpp,
// through nifti_clib). Each input is written to a temporary .nii and, gzip-compressed, to a
// temporary .nii.gz, and both are read with read_nifti, read_nifti_labels and read_nifti_header.
// Any input must either read or be refused with fbseg::Error; a crash, a sanitizer report (in
// fbseg or in nifti_clib), a hang or another exception type is a bug. Built with the `fuzz` preset
// (clang), run by `bash tools/run.sh fuzz` (docs/testing.md).
#include <unistd.h>
#include <zlib.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

// Only what it uses, not fbseg.hpp (compile time, for CI).
#include "fbseg/core/tensor.hpp"
#include "fbseg/ops/copy.hpp"
#include "fbseg/ops/reduce.hpp"
#include "fbseg/ops/view.hpp"
#include "fbseg/autograd/engine.hpp"
#include "fbseg/ops/tensor_methods.hpp"
#include "fbseg/data/nifti.hpp"

namespace {

const std::string& temp_base() {
    static const std::string base = "/tmp/fbseg_fuzz_nifti_" + std::to_string(::getpid());
    return base;
}

void read_all(const std::string& path) {
    using namespace fbseg::data;
    try {
        const Volume v = read_nifti(path);
        for (std::int64_t c = 1; c < v.num_channels && c < 3; ++c) (void)read_nifti(path, {.channel = c});
    } catch (const fbseg::Error&) {
    }
    try {
        (void)read_nifti_labels(path, LabelSet::feta());
    } catch (const fbseg::Error&) {
    }
    try {
        (void)read_nifti_header(path);
    } catch (const fbseg::Error&) {
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string plain = temp_base() + ".nii", gz = temp_base() + ".nii.gz";
    if (FILE* f = std::fopen(plain.c_str(), "wb")) {
        if (size) std::fwrite(data, 1, size, f);
        std::fclose(f);
        read_all(plain);
    }
    // The same bytes gzip-compressed; and, when the input already is gzip, as is under .nii.gz.
    const bool is_gzip = size >= 2 && data[0] == 0x1f && data[1] == 0x8b;
    if (is_gzip) {
        if (FILE* f = std::fopen(gz.c_str(), "wb")) {
            std::fwrite(data, 1, size, f);
            std::fclose(f);
        }
    } else if (gzFile f = gzopen(gz.c_str(), "wb1")) {
        if (size) gzwrite(f, data, unsigned(size));
        gzclose(f);
    }
    read_all(gz);
    std::remove(plain.c_str());
    std::remove(gz.c_str());
    return 0;
}
