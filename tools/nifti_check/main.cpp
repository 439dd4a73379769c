// fbseg_nifti_dump: what tools/check_nifti_nibabel.py compares with nibabel (docs/data.md).
//
//   fbseg_nifti_dump read IN.nii[.gz] OUT.safetensors
//       reads every 3D volume of IN with read_nifti and writes "data" float32 [C, Z, Y, X] (C the
//       number of volumes), "affine" float64 [4, 4] (Volume::affine()), "spacing" float64 [3]
//       ({sz, sy, sx}; NaN when unknown), "sform" and "qform" float64 [4, 4], and in the metadata
//       datatype, nifti_version, qform_code, sform_code.
//   fbseg_nifti_dump write REFERENCE.nii[.gz] OUT.nii[.gz]
//       writes with write_nifti the label map l(i, j, k) = (i + 2 j + 3 k) mod 7 (int64 [Z, Y, X])
//       with REFERENCE's geometry (its volume 0).
//
// Exit status: 0 done; 3 the reader refused the file (the message, "refused: ...", on stdout);
// 2 any other error.
#include <cmath>
#include <cstdint>
#include <exception>
#include <iostream>
#include <limits>
#include <string>

// Only what it uses, not fbseg.hpp: half the compile time (10 s instead of 20 s of CPU), for CI.
#include "fbseg/core/tensor.hpp"
#include "fbseg/ops/copy.hpp"
#include "fbseg/ops/reduce.hpp"
#include "fbseg/ops/view.hpp"
#include "fbseg/autograd/engine.hpp"
#include "fbseg/ops/tensor_methods.hpp"
#include "fbseg/io/safetensors.hpp"
#include "fbseg/data/nifti.hpp"
#include "fbseg/data/nifti_write.hpp"

namespace {

fbseg::Tensor matrix(const fbseg::data::Matrix44& m) {
    fbseg::Tensor t = fbseg::Tensor::empty({4, 4}, fbseg::DType::Float64);
    for (int r = 0; r < 4; ++r)
        for (int c = 0; c < 4; ++c) t.data_ptr<double>()[r * 4 + c] = m[std::size_t(r)][std::size_t(c)];
    return t;
}

int read(const std::string& in, const std::string& out) {
    using namespace fbseg;
    data::Volume first;
    try {
        first = data::read_nifti(in);
    } catch (const Error& e) {
        std::cout << "refused: " << e.what() << "\n";
        return 3;
    }
    const std::int64_t c = first.num_channels, n = first.data.numel();
    Tensor all = Tensor::empty({c, first.nz(), first.ny(), first.nx()}, DType::Float32);
    for (std::int64_t ch = 0; ch < c; ++ch) {
        const data::Volume v = ch == 0 ? first : data::read_nifti(in, {.channel = ch});
        const float* p = v.data.data_ptr<float>();
        float* q = all.data_ptr<float>() + ch * n;
        for (std::int64_t i = 0; i < n; ++i) q[i] = p[i];
    }
    Tensor spacing = Tensor::empty({3}, DType::Float64);
    for (int a = 0; a < 3; ++a)
        spacing.data_ptr<double>()[a] =
            first.spacing_mm ? (*first.spacing_mm)[std::size_t(a)] : std::numeric_limits<double>::quiet_NaN();
    io::save_safetensors(out,
                         {{"data", all},
                          {"affine", matrix(first.affine())},
                          {"sform", matrix(first.sform)},
                          {"qform", matrix(first.qform)},
                          {"spacing", spacing}},
                         {{"datatype", first.datatype_name},
                          {"nifti_version", std::to_string(first.nifti_version)},
                          {"qform_code", std::to_string(first.qform_code)},
                          {"sform_code", std::to_string(first.sform_code)}});
    return 0;
}

int write(const std::string& reference, const std::string& out) {
    using namespace fbseg;
    const data::Volume ref = data::read_nifti(reference);
    Tensor labels = Tensor::empty({ref.nz(), ref.ny(), ref.nx()}, DType::Int64);
    std::int64_t* p = labels.data_ptr<std::int64_t>();
    for (std::int64_t k = 0; k < ref.nz(); ++k)
        for (std::int64_t j = 0; j < ref.ny(); ++j)
            for (std::int64_t i = 0; i < ref.nx(); ++i) p[(k * ref.ny() + j) * ref.nx() + i] = (i + 2 * j + 3 * k) % 7;
    data::write_nifti(out, labels, ref);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 4 || (std::string(argv[1]) != "read" && std::string(argv[1]) != "write")) {
        std::cerr << "usage: fbseg_nifti_dump read IN.nii[.gz] OUT.safetensors\n"
                     "       fbseg_nifti_dump write REFERENCE.nii[.gz] OUT.nii[.gz]\n";
        return 2;
    }
    try {
        return std::string(argv[1]) == "read" ? read(argv[2], argv[3]) : write(argv[2], argv[3]);
    } catch (const std::exception& e) {
        std::cerr << "fbseg_nifti_dump: " << e.what() << "\n";
        return 2;
    }
}
