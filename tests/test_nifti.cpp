// Tests of the NIfTI reader, slicing, normalisation, writer and datasets (include/fbseg/data/nifti*.hpp,
// volume_slice.hpp, normalize.hpp). References: nibabel's reading of the fixtures
// (tools/make_nifti_fixtures.py -> tests/fixtures/nifti/reference.safetensors: get_fdata() values in
// nibabel's [i, j, k] order, img.affine, zooms) and numpy's percentile / mean / std for the
// normalisation. Tolerances: voxel values exactly float32(nibabel's float64 value); affines 1e-5
// (quaternions are stored as float32 and both libraries rebuild the matrix in double); the
// normalisation 1e-5 absolute + 1e-5 relative (float32 output of a float64 computation). Corrupt files are made
// in a temporary folder by patching fixture bytes at the header offsets of the NIfTI-1/2 layouts.
#include <doctest/doctest.h>

#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "fbseg/fbseg.hpp"
#include "fbseg/data/nifti.hpp"
#include "fbseg/data/nifti_dataset.hpp"
#include "fbseg/data/nifti_write.hpp"
#include "fbseg/data/normalize.hpp"
#include "fbseg/data/volume_slice.hpp"
#include "support/check.hpp"
#include "support/temp_dir.hpp"
#include "support/safetensors_reader.hpp"

namespace nifti_tests {  // a namespace of its own: the test files are compiled as one unity source

using namespace fbseg;
using namespace fbseg::data;
using fbseg::test::TempDir;
using fbseg::test::values;
namespace fs = std::filesystem;

namespace {

const std::string kDir = FBSEG_FIXTURE_DIR "/nifti/";

const test_support::SafetensorsFile& reference() {
    static const test_support::SafetensorsFile file(kDir + "reference.safetensors");
    return file;
}

std::vector<unsigned char> read_bytes(const std::string& path) {
    if (path.size() > 3 && path.substr(path.size() - 3) == ".gz") {
        gzFile f = gzopen(path.c_str(), "rb");
        std::vector<unsigned char> out;
        unsigned char buf[4096];
        int n = 0;
        while ((n = gzread(f, buf, sizeof(buf))) > 0) out.insert(out.end(), buf, buf + n);
        gzclose(f);
        return out;
    }
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_bytes(const std::string& path, const std::vector<unsigned char>& bytes, bool gzip = false) {
    if (gzip) {
        gzFile f = gzopen(path.c_str(), "wb");
        gzwrite(f, bytes.data(), unsigned(bytes.size()));
        gzclose(f);
        return;
    }
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
}

template <typename T>
void poke(std::vector<unsigned char>& bytes, std::size_t offset, T value) {
    std::memcpy(bytes.data() + offset, &value, sizeof(T));
}

/// The reference's get_fdata() ([i, j, k] or [i, j, k, t], C order) at voxel (i, j, k, t).
double ref_at(const std::vector<double>& ref, const Shape& shape, std::int64_t i, std::int64_t j, std::int64_t k,
              std::int64_t t = 0) {
    std::int64_t idx = ((i * shape[1] + j) * shape[2] + k);
    if (shape.size() == 4) idx = idx * shape[3] + t;
    return ref[std::size_t(idx)];
}

/// Compares a Volume with nibabel's reading of fixture `name`: shape, every voxel (exactly
/// float32(nibabel)), the affine and the spacing.
void check_against_nibabel(const std::string& name, const Volume& v, std::int64_t channel = 0) {
    INFO("fixture ", name);
    const Tensor ref_t = reference().get(name + ".data");
    const Shape rs = ref_t.shape();
    const auto ref = values(ref_t);
    REQUIRE(v.data.dim() == 3);
    CHECK(v.nx() == rs[0]);
    CHECK(v.ny() == rs[1]);
    CHECK(v.nz() == rs[2]);
    const float* p = v.data.data_ptr<float>();
    std::int64_t mismatches = 0;
    for (std::int64_t k = 0; k < v.nz(); ++k)
        for (std::int64_t j = 0; j < v.ny(); ++j)
            for (std::int64_t i = 0; i < v.nx(); ++i) {
                const float want = float(ref_at(ref, rs, i, j, k, channel));
                const float got = p[(k * v.ny() + j) * v.nx() + i];
                if (!(got == want)) ++mismatches;
            }
    CHECK(mismatches == 0);
    const auto aff = values(reference().get(name + ".affine"));
    const Matrix44 a = v.affine();
    for (std::size_t r = 0; r < 4; ++r)
        for (std::size_t c = 0; c < 4; ++c) CHECK(a[r][c] == doctest::Approx(aff[r * 4 + c]).epsilon(1e-6).scale(10));
    const auto zooms = values(reference().get(name + ".zooms"));
    REQUIRE(v.spacing_mm.has_value());
    CHECK((*v.spacing_mm)[0] == doctest::Approx(zooms[2]).epsilon(1e-7));
    CHECK((*v.spacing_mm)[1] == doctest::Approx(zooms[1]).epsilon(1e-7));
    CHECK((*v.spacing_mm)[2] == doctest::Approx(zooms[0]).epsilon(1e-7));
}

/// The error message of `fn`, or "" when it does not throw.
template <typename Fn>
std::string error_of(Fn&& fn) {
    try {
        fn();
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("nifti: every datatype, both byte orders, NIfTI-1 and NIfTI-2, .nii and .nii.gz read as nibabel does") {
    const struct {
        const char* name;
        const char* type;
        int version;
    } cases[] = {
        {"dt_uint8.nii", "UINT8", 1},        {"dt_int8.nii", "INT8", 1},          {"dt_int16.nii", "INT16", 1},
        {"dt_uint16.nii", "UINT16", 1},      {"dt_int32.nii", "INT32", 1},        {"dt_float32.nii", "FLOAT32", 1},
        {"dt_float64.nii", "FLOAT64", 1},    {"be_int16.nii", "INT16", 1},        {"be_uint16.nii.gz", "UINT16", 1},
        {"be_int32.nii", "INT32", 1},        {"be_float32.nii.gz", "FLOAT32", 1}, {"be_float64.nii", "FLOAT64", 1},
        {"n2_float32.nii", "FLOAT32", 2},    {"n2_int16.nii.gz", "INT16", 2},     {"n2_uint8.nii.gz", "UINT8", 2},
        {"scaled.nii.gz", "INT16", 1},       {"oblique.nii", "FLOAT32", 1},       {"qform_only.nii.gz", "FLOAT32", 1},
        {"labels_feta.nii.gz", "UINT8", 1},
    };
    for (const auto& c : cases) {
        const Volume v = read_nifti(kDir + c.name);
        CHECK(v.datatype_name == c.type);
        CHECK(v.nifti_version == c.version);
        CHECK(v.num_channels == 1);
        CHECK(v.path == kDir + c.name);
        REQUIRE(v.header != nullptr);
        check_against_nibabel(c.name, v);
    }
    // The hand-made cases: scl_slope 0.5, scl_inter -10 (stored int16 s -> 0.5 s - 10).
    const Volume s = read_nifti(kDir + "scaled.nii.gz");
    CHECK(s.scl_slope == 0.5);
    CHECK(s.scl_inter == -10.0);
    const Volume raw = read_nifti(kDir + "scaled.nii.gz", {.channel = 0, .apply_scaling = false});
    for (std::int64_t i = 0; i < raw.data.numel(); ++i)
        CHECK(s.data.data_ptr<float>()[i] == float(0.5 * double(raw.data.data_ptr<float>()[i]) - 10.0));
    // The oblique file: sform_code 2 wins over its (different) qform, as nibabel's img.affine.
    const Volume o = read_nifti(kDir + "oblique.nii");
    CHECK(o.sform_code == 2);
    CHECK(o.qform_code == 1);
    CHECK(o.qform[0][3] == doctest::Approx(1.0));  // the qform's own offset (1, 2, 3)
    CHECK(o.affine()[0][3] == doctest::Approx(-12.5));
}

TEST_CASE("nifti: axis order [Z, Y, X] is nibabel's [i, j, k] transposed") {
    const Volume v = read_nifti(kDir + "dt_int16.nii");
    const auto ref = values(reference().get("dt_int16.nii.data"));
    // nibabel data[i=4, j=1, k=2] is element (k, j, i) = (2, 1, 4) here; shape (5, 4, 3) -> [3, 4, 5].
    CHECK(v.data.shape() == Shape{3, 4, 5});
    CHECK(v.data.data_ptr<float>()[(2 * 4 + 1) * 5 + 4] == float(ref[std::size_t((4 * 4 + 1) * 3 + 2)]));
    CHECK(v.spacing_mm == std::array<double, 3>{3.5, 0.6000000238418579, 0.800000011920929});  // pixdim is float32
}

TEST_CASE("nifti: 4D files: a chosen channel, and an out-of-range channel names the count") {
    const std::string path = kDir + "four_d.nii.gz";
    for (std::int64_t t = 0; t < 3; ++t) {
        const Volume v = read_nifti(path, {.channel = t});
        CHECK(v.num_channels == 3);
        CHECK(v.channel == t);
        check_against_nibabel("four_d.nii.gz", v, t);
    }
    const std::string e = error_of([&] { read_nifti(path, {.channel = 3}); });
    CHECK(contains(e, path));
    CHECK(contains(e, "channel 3 is out of range: the file has 3 volumes"));
    CHECK(contains(error_of([&] { read_nifti(path, {.channel = -1}); }), "channel -1 is out of range"));
}

TEST_CASE("nifti: scl_slope 0 means no scaling; pixdim 0 leaves the spacing unknown; no xform gives method 1") {
    const Volume z = read_nifti(kDir + "slope_zero.nii");
    CHECK(z.scl_slope == 0.0);
    CHECK(z.scl_inter == 5.0);
    check_against_nibabel("slope_zero.nii", z);  // nibabel also ignores the intercept
    const Volume p = read_nifti(kDir + "pixdim_zero.nii");
    CHECK_FALSE(p.spacing_mm.has_value());
    const Volume n = read_nifti(kDir + "no_xform.nii");
    CHECK(n.qform_code == 0);
    CHECK(n.sform_code == 0);
    const auto m1 = values(reference().get("no_xform.nii.method1"));
    for (std::size_t r = 0; r < 4; ++r)
        for (std::size_t c = 0; c < 4; ++c) CHECK(n.affine()[r][c] == doctest::Approx(m1[r * 4 + c]));
}

TEST_CASE("nifti: unsupported datatypes are refused with their name") {
    const std::string e64 = error_of([&] { read_nifti(kDir + "unsupported_int64.nii"); });
    CHECK(contains(e64, "unsupported_int64.nii"));
    CHECK(contains(e64, "unsupported datatype 1024 (INT64)"));
    const std::string ec = error_of([&] { read_nifti(kDir + "unsupported_complex64.nii"); });
    CHECK(contains(ec, "unsupported datatype 32 (COMPLEX64)"));
}

TEST_CASE("nifti: damaged files give errors naming the file and what is wrong") {
    TempDir tmp("fbseg_nifti_test");
    const auto good = read_bytes(kDir + "dt_int16.nii");  // 352 + 120 bytes, NIfTI-1
    const auto good2 = read_bytes(kDir + "n2_float32.nii");  // 544 + 240 bytes, NIfTI-2
    const auto check_error = [&](const std::string& name, const std::vector<unsigned char>& bytes, const std::string& want,
                                 bool gzip = false) {
        const std::string path = tmp / name;
        write_bytes(path, bytes, gzip);
        const std::string e = error_of([&] { read_nifti(path); });
        INFO("file ", name, ": ", e);
        CHECK(contains(e, path));
        CHECK(contains(e, want));
    };
    auto b = good;
    std::memcpy(b.data() + 344, "n+9\0", 4);
    check_error("magic.nii", b, "wrong magic: expected 'n+1' (6e 2b 31 00) for a single-file NIfTI-1 but found bytes 6e 2b 39 00");
    b = good;
    std::memcpy(b.data() + 344, "ni1\0", 4);
    check_error("pair.nii", b, "two-file (.hdr/.img)");
    b = good;
    poke<std::int32_t>(b, 0, 123);
    check_error("sizeof.nii", b, "sizeof_hdr (the first 4 bytes) is 123");
    check_error("short.nii", std::vector<unsigned char>(good.begin(), good.begin() + 100), "truncated header: the file has 100 bytes");
    check_error("cut.nii", std::vector<unsigned char>(good.begin(), good.end() - 10),
                "truncated: the header describes 120 bytes of voxels (60 voxels x 1 volumes x 2 bytes) from offset 352, so the file needs 472 bytes but has 462");
    b = good;
    poke<float>(b, 108, 1.0e6f);
    check_error("offset.nii", b, "vox_offset 1000000 is beyond the end of the file (472 bytes)");
    b = good;
    poke<float>(b, 108, 1.0e30f);
    check_error("offset_huge.nii", b, "vox_offset is 1e+30");
    b = good;
    poke<std::int16_t>(b, 40, 7);
    for (int d = 1; d <= 7; ++d) poke<std::int16_t>(b, std::size_t(40 + 2 * d), 32767);
    check_error("overflow.nii", b, "size overflow");
    b = good;
    poke<std::int16_t>(b, 40, 0);
    check_error("dim0.nii", b, "dim[0] (the number of dimensions) is 0; expected 1..7");
    b = good;
    poke<std::int16_t>(b, 44, 0);  // dim[2] = 0
    check_error("dim2.nii", b, "dim[2] is 0; every size up to dim[0] = 3 must be >= 1");
    b = good;
    poke<float>(b, 112, 2.0f);
    poke<float>(b, 116, std::nanf(""));
    check_error("inter.nii", b, "scl_slope is 2 but scl_inter is nan; expected a finite intercept");
    b = good;
    poke<std::int16_t>(b, 70, 128);  // DT_RGB24
    check_error("rgb.nii", b, "unsupported datatype 128 (RGB24)");
    b = good;
    poke<std::int16_t>(b, 68, 3001);
    check_error("cifti.nii", b, "a CIFTI-2 file (intent code 3001)");
    // NIfTI-2: dims as int64 whose product overflows, and a text-mode-damaged magic.
    b = good2;
    for (int d = 1; d <= 3; ++d) poke<std::int64_t>(b, std::size_t(16 + 8 * d), std::int64_t(1) << 40);
    check_error("overflow2.nii", b, "size overflow");
    b = good2;
    std::memcpy(b.data() + 8, "\n\n\032\n", 4);
    check_error("eol2.nii", b, "NIfTI-2 magic bytes 4..7 are 0a 0a 1a 0a");
    // gzip: a truncated stream, a damaged stream, a gzip file named .nii, a huge header in a tiny .gz.
    const std::string gz_path = kDir + "be_float32.nii.gz";
    std::ifstream in(gz_path, std::ios::binary);
    const std::vector<unsigned char> gz((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    check_error("cut.nii.gz", std::vector<unsigned char>(gz.begin(), gz.begin() + std::ptrdiff_t(gz.size() / 2 + 20)),
                "the voxels need 592");
    auto damaged = gz;
    for (std::size_t i = gz.size() / 2; i < gz.size() / 2 + 16; ++i) damaged[i] ^= 0x5a;
    check_error("damaged.nii.gz", damaged, "gzip data corrupt");
    check_error("gzip_named.nii", gz, "the file is gzip-compressed but its name ends in .nii");
    b = good;
    for (int d = 1; d <= 3; ++d) poke<std::int16_t>(b, std::size_t(40 + 2 * d), 30000);
    check_error("huge.nii.gz", b, "deflate's 1032:1 limit", true);
    // Missing file, folder, wrong extension.
    CHECK(contains(error_of([&] { read_nifti(tmp / "absent.nii"); }), "no such file"));
    CHECK(contains(error_of([&] { read_nifti(tmp.path.string()); }), "not a regular file"));
    write_bytes(tmp / "volume.img", good);
    CHECK(contains(error_of([&] { read_nifti(tmp / "volume.img"); }), "expected a single-file NIfTI name ending in .nii or .nii.gz"));
}

TEST_CASE("nifti: label volumes are checked against the label set") {
    const Tensor l = read_nifti_labels(kDir + "labels_feta.nii.gz", LabelSet::feta());
    CHECK(l.dtype() == DType::Int64);
    const auto ref = values(reference().get("labels_feta.nii.gz.data"));
    const Shape rs{5, 4, 3};
    const auto* p = l.data_ptr<std::int64_t>();
    for (std::int64_t k = 0; k < 3; ++k)
        for (std::int64_t j = 0; j < 4; ++j)
            for (std::int64_t i = 0; i < 5; ++i) CHECK(p[(k * 4 + j) * 5 + i] == std::int64_t(ref_at(ref, rs, i, j, k)));
    // Binary: every value > 0 is 1.
    const Tensor b = read_nifti_labels(kDir + "labels_feta.nii.gz", LabelSet::binary_mask());
    for (std::int64_t n = 0; n < b.numel(); ++n) CHECK(b.data_ptr<std::int64_t>()[n] == (p[n] > 0 ? 1 : 0));
    const std::string e9 = error_of([&] { read_nifti_labels(kDir + "labels_nine.nii.gz", LabelSet::feta()); });
    CHECK(contains(e9, "labels_nine.nii.gz"));
    CHECK(contains(e9, "voxel (i, j, k) = (2, 1, 0) holds the label 9, which the label set does not contain"));
    const std::string eh = error_of([&] { read_nifti_labels(kDir + "labels_half.nii", LabelSet::feta()); });
    CHECK(contains(eh, "voxel (i, j, k) = (4, 3, 2) holds 2.5; a label volume must hold integers"));
    const LabelVolume lv = read_nifti_label_volume(kDir + "labels_feta.nii.gz", LabelSet::feta());
    CHECK_FALSE(lv.info.data.defined());
    CHECK(lv.info.shape == std::array<std::int64_t, 3>{3, 4, 5});
}

TEST_CASE("nifti: reading from 8 threads at once gives the same volumes") {
    const std::vector<std::string> names = {"dt_int16.nii", "be_float32.nii.gz", "n2_int16.nii.gz", "four_d.nii.gz",
                                            "oblique.nii", "scaled.nii.gz"};
    std::vector<std::vector<double>> expected;
    for (const auto& n : names) expected.push_back(values(read_nifti(kDir + n).data));
    std::atomic<int> failures{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t)
        threads.emplace_back([&, t] {
            for (int r = 0; r < 20; ++r) {
                const std::size_t i = std::size_t(t + r) % names.size();
                try {
                    if (values(read_nifti(kDir + names[i]).data) != expected[i]) ++failures;
                    (void)error_of([&] { read_nifti(kDir + "unsupported_int64.nii"); });
                } catch (...) {
                    ++failures;
                }
            }
        });
    for (auto& th : threads) th.join();
    CHECK(failures.load() == 0);
}

TEST_CASE("nifti: slices along each axis, and the default axis is the coarsest") {
    const Volume v = read_nifti(kDir + "dt_int16.nii");  // [Z, Y, X] = [3, 4, 5], spacing {3.5, 0.6, 0.8}
    CHECK(coarsest_axis(v.spacing_mm) == 0);
    CHECK(coarsest_axis(std::array<double, 3>{1.0, 1.0, 3.0}) == 2);
    CHECK(coarsest_axis(std::array<double, 3>{2.0, 2.0, 2.0}) == 0);
    CHECK(coarsest_axis(std::nullopt) == 0);
    const auto ref = values(reference().get("dt_int16.nii.data"));
    const Shape rs{5, 4, 3};
    const Tensor z = slice(v.data, 0, 2);  // k = 2: [j, i]
    CHECK(z.shape() == Shape{4, 5});
    CHECK(z.data_ptr<float>()[1 * 5 + 3] == float(ref_at(ref, rs, 3, 1, 2)));
    const Tensor y = slice(v.data, 1, 3);  // j = 3: [k, i]
    CHECK(y.shape() == Shape{3, 5});
    CHECK(y.data_ptr<float>()[2 * 5 + 4] == float(ref_at(ref, rs, 4, 3, 2)));
    const Tensor x = slice(v.data, 2, 1);  // i = 1: [k, j]
    CHECK(x.shape() == Shape{3, 4});
    CHECK(x.data_ptr<float>()[1 * 4 + 2] == float(ref_at(ref, rs, 1, 2, 1)));
    CHECK(slice_spacing(v.spacing_mm, 0) == std::array<double, 2>{(*v.spacing_mm)[1], (*v.spacing_mm)[2]});
    CHECK(slice_spacing(v.spacing_mm, 2) == std::array<double, 2>{(*v.spacing_mm)[0], (*v.spacing_mm)[1]});
    CHECK(contains(error_of([&] { slice(v.data, 0, 3); }), "index 3 is out of range along axis 0 (z) of a volume of shape [3, 4, 5] (3 slices)"));
    CHECK(contains(error_of([&] { slice(v.data, 3, 0); }), "axis must be 0 (z), 1 (y) or 2 (x)"));
}

TEST_CASE("nifti: normalisation matches numpy (percentile clip, z-score, with and without the mask)") {
    const Tensor in = reference().get("norm.input").to(DType::Float32);
    for (const bool mask : {false, true}) {
        INFO("use_mask ", mask);
        const std::string pre = mask ? "norm.mask_" : "norm.";
        Tensor v = in.clone();
        const NormalizeStats st = normalize_volume_(v, {.use_mask = mask});
        const auto clip = values(reference().get(pre + "clip"));
        // The input went through float32: compare the statistics at float32 precision.
        CHECK(st.clip_low == doctest::Approx(clip[0]).epsilon(1e-6));
        CHECK(st.clip_high == doctest::Approx(clip[1]).epsilon(1e-6));
        CHECK(st.mean == doctest::Approx(values(reference().get(pre + "mean"))[0]).epsilon(1e-6));
        CHECK(st.std == doctest::Approx(values(reference().get(pre + "std"))[0]).epsilon(1e-6));
        CHECK(st.count == (mask ? 4 * 4 * 7 : 4 * 6 * 7));
        const auto want = values(reference().get(pre + "out"));
        const auto got = values(v);
        for (std::size_t i = 0; i < want.size(); ++i) CHECK(std::abs(got[i] - want[i]) <= 1e-5 + 1e-5 * std::abs(want[i]));
    }
    // A constant volume: all zeros, no division by zero; an empty mask: zeros.
    Tensor c = Tensor::empty({2, 3, 4}, DType::Float32);
    for (std::int64_t i = 0; i < c.numel(); ++i) c.data_ptr<float>()[i] = 7.0f;
    const auto st = normalize_volume_(c);
    CHECK(st.std == 0.0);
    for (double x : values(c)) CHECK(x == 0.0);
    Tensor zero = Tensor::empty({2, 2, 2}, DType::Float32);
    for (std::int64_t i = 0; i < zero.numel(); ++i) zero.data_ptr<float>()[i] = 0.0f;
    CHECK(normalize_volume_(zero, {.use_mask = true}).count == 0);
    for (double x : values(zero)) CHECK(x == 0.0);
    // A hand-worked case: [0, 1, 2, 3] with no clipping: mean 1.5, std sqrt(1.25).
    Tensor h = Tensor::empty({1, 1, 4}, DType::Float32);
    for (int i = 0; i < 4; ++i) h.data_ptr<float>()[i] = float(i);
    normalize_volume_(h, {.p_low = 0, .p_high = 100});
    CHECK(h.data_ptr<float>()[0] == doctest::Approx(-1.5 / std::sqrt(1.25)));
    CHECK(h.data_ptr<float>()[3] == doctest::Approx(1.5 / std::sqrt(1.25)));
    // np.percentile([0, 1, 2, 3], 50) = 1.5 (linear interpolation).
    std::vector<double> pv{3, 0, 2, 1};
    CHECK(percentile(pv, 50) == 1.5);
    h.data_ptr<float>()[1] = std::nanf("");
    CHECK(contains(error_of([&] { normalize_volume_(h, {}, "x.nii"); }), "'x.nii': voxel 1 (flat index) is nan"));
}

TEST_CASE("nifti: write_nifti keeps the reference's geometry; read back gives the same affine and values") {
    TempDir tmp("fbseg_nifti_test");
    const Volume ref = read_nifti(kDir + "oblique.nii");  // sform 2 (oblique) + qform 1
    Tensor labels = Tensor::empty({ref.nz(), ref.ny(), ref.nx()}, DType::Int64);
    for (std::int64_t i = 0; i < labels.numel(); ++i) labels.data_ptr<std::int64_t>()[i] = i % 8;
    for (const std::string name : {"pred.nii.gz", "pred.nii"}) {
        const std::string path = tmp / name;
        write_nifti(path, labels, ref);
        const Volume back = read_nifti(path);
        CHECK(back.datatype_name == "UINT8");
        CHECK(back.sform_code == ref.sform_code);
        CHECK(back.qform_code == ref.qform_code);
        for (std::size_t r = 0; r < 4; ++r)
            for (std::size_t c = 0; c < 4; ++c) {
                CHECK(back.sform[r][c] == doctest::Approx(ref.sform[r][c]).epsilon(1e-6));
                CHECK(back.qform[r][c] == doctest::Approx(ref.qform[r][c]).epsilon(1e-6));
            }
        CHECK(back.spacing_mm == ref.spacing_mm);
        CHECK(back.scl_slope == 0.0);
        CHECK(values(read_nifti_labels(path, LabelSet::feta())) == values(labels));
    }
    // More than 255 classes -> INT16; a float image -> FLOAT32; a 4D reference -> one 3D volume.
    labels.data_ptr<std::int64_t>()[3] = 300;
    write_nifti(tmp / "big.nii", labels, ref);
    CHECK(read_nifti(tmp / "big.nii").datatype_name == "INT16");
    CHECK(read_nifti(tmp / "big.nii").data.data_ptr<float>()[3] == 300.0f);
    const Volume four = read_nifti(kDir + "four_d.nii.gz", {.channel = 1});
    write_nifti(tmp / "img.nii.gz", four.data, four);
    const Volume img = read_nifti(tmp / "img.nii.gz");
    CHECK(img.datatype_name == "FLOAT32");
    CHECK(img.num_channels == 1);
    CHECK(values(img.data) == values(four.data));
    // A NIfTI-2 reference (written as NIfTI-1, the same geometry).
    const Volume ref2 = read_nifti(kDir + "n2_int16.nii.gz");
    Tensor l2 = Tensor::empty({ref2.nz(), ref2.ny(), ref2.nx()}, DType::Int64);
    for (std::int64_t i = 0; i < l2.numel(); ++i) l2.data_ptr<std::int64_t>()[i] = i % 3;
    write_nifti(tmp / "pred2.nii.gz", l2, ref2);
    const Volume back2 = read_nifti(tmp / "pred2.nii.gz");
    CHECK(back2.nifti_version == 1);
    for (std::size_t r = 0; r < 4; ++r)
        for (std::size_t c = 0; c < 4; ++c) CHECK(back2.affine()[r][c] == doctest::Approx(ref2.affine()[r][c]).epsilon(1e-6));
    CHECK(values(back2.data) == values(l2));
    // Errors: wrong shape, unwritable folder, wrong extension; no temporary files left behind.
    CHECK(contains(error_of([&] { write_nifti(tmp / "x.nii", Tensor::empty({2, 2, 2}, DType::Int64), ref); }),
                   "the data has shape [2, 2, 2] but the reference"));
    CHECK(contains(error_of([&] { write_nifti(tmp / "x.png", labels, ref); }), "expected a name ending in .nii or .nii.gz"));
    CHECK(contains(error_of([&] { write_nifti(tmp / "no/such/dir/x.nii.gz", labels, ref); }), "the folder '"));
    labels.data_ptr<std::int64_t>()[3] = 40000;
    CHECK(contains(error_of([&] { write_nifti(tmp / "y.nii", labels, ref); }), "label values span [0, 40000]"));
    int files = 0;
    for (const auto& f : fs::directory_iterator(tmp.path)) {
        CHECK(f.path().filename().string().find(".tmp-") == std::string::npos);
        ++files;
    }
    CHECK(files == 5);  // pred.nii.gz, pred.nii, big.nii, img.nii.gz, pred2.nii.gz
}

TEST_CASE("nifti: BidsDataset slices the FeTA layout; skip-empty; errors up front; threads") {
    BidsDataset ds(kDir + "bids");
    // Two subjects, images (i, j, k) = (6, 5, 4) with spacing (0.8, 0.6, 3.5): sliced along z (k).
    REQUIRE(ds.volumes().size() == 2);
    CHECK(ds.size() == 8);
    CHECK(ds.axis(0) == 0);
    CHECK(ds.subject(0) == "sub-001");
    CHECK(ds.subject(7) == "sub-002");
    CHECK(ds.label_set().num_classes() == 8);
    const Sample s = ds.get(5);  // sub-002, k = 1
    CHECK(s.id == "sub-002 z=001");
    CHECK(s.subject == "sub-002");
    CHECK(s.image.shape() == Shape{1, 5, 6});
    CHECK(s.label.shape() == Shape{5, 6});
    CHECK(s.original_size == std::array<std::int64_t, 2>{5, 6});
    REQUIRE(s.spacing_mm.has_value());
    CHECK((*s.spacing_mm)[0] == doctest::Approx(0.6));
    CHECK((*s.spacing_mm)[1] == doctest::Approx(0.8));
    CHECK(contains(s.source, "sub-002_ses-01_rec-mial_T2w.nii.gz"));
    const auto img_ref = values(reference().get("bids_sub-002.T2w.data"));
    const auto lab_ref = values(reference().get("bids_sub-002.dseg.data"));
    const Shape rs{6, 5, 4};
    for (std::int64_t j = 0; j < 5; ++j)
        for (std::int64_t i = 0; i < 6; ++i) {
            CHECK(s.image.data_ptr<float>()[j * 6 + i] == float(ref_at(img_ref, rs, i, j, 1)));
            CHECK(s.label.data_ptr<std::int64_t>()[j * 6 + i] == std::int64_t(ref_at(lab_ref, rs, i, j, 1)));
        }
    // Skip empty label slices (k = 0 is all background in both): 6 samples, the first is z=001.
    BidsOptions skip;
    skip.slices.skip_empty_label_slices = true;
    BidsDataset ds_skip(kDir + "bids", skip);
    CHECK(ds_skip.size() == 6);
    CHECK(ds_skip.get(0).id == "sub-001 z=001");
    // Normalised per volume: each volume's voxels have mean 0 after clipping (checked on the whole volume).
    BidsOptions norm;
    norm.slices.normalize = NormalizeOptions{};
    BidsDataset ds_norm(kDir + "bids", norm);
    double sum = 0;
    for (std::size_t i = 0; i < 4; ++i)
        for (double x : values(ds_norm.get(i).image)) sum += x;
    CHECK(std::abs(sum) < 1e-3);
    // Errors up front.
    const std::string missing = error_of([&] { BidsDataset(kDir + "bids_missing"); });
    CHECK(contains(missing, "1 image has no dseg label volume"));
    CHECK(contains(missing, "sub-002_rec-mial_T2w.nii.gz"));
    BidsOptions no_labels;
    no_labels.require_labels = false;
    BidsDataset inference(kDir + "bids_missing", no_labels);
    CHECK(inference.size() == 8);
    CHECK_FALSE(inference.get(7).has_label());
    const std::string mismatch = error_of([&] { BidsDataset(kDir + "bids_mismatch"); });
    CHECK(contains(mismatch, "sub-001: the image"));
    CHECK(contains(mismatch, "has [Z, Y, X] = [4, 5, 6] but the label volume"));
    CHECK(contains(mismatch, "sub-002: the affines of"));
    CHECK(contains(error_of([&] { BidsDataset(kDir + "nothing_here"); }), "is not a directory"));
    CHECK_NOTHROW(ds.check());
    // Eight threads, every sample many times: each volume is read from disk once (cache large enough).
    std::vector<std::vector<double>> expected;
    for (std::size_t i = 0; i < ds.size(); ++i) expected.push_back(values(ds.get(i).image));
    std::atomic<int> failures{0};
    std::vector<std::thread> threads;
    BidsDataset fresh(kDir + "bids");
    for (int t = 0; t < 8; ++t)
        threads.emplace_back([&, t] {
            for (int r = 0; r < 40; ++r) {
                const std::size_t i = std::size_t(t * 3 + r) % fresh.size();
                if (values(fresh.get(i).image) != expected[i]) ++failures;
            }
        });
    for (auto& th : threads) th.join();
    CHECK(failures.load() == 0);
    CHECK(fresh.volume_reads() == 2);
    CHECK(fresh.cached_volumes() == 2);
    // A cache smaller than one volume keeps only the last one.
    BidsOptions small;
    small.slices.cache_bytes = 1;
    BidsDataset tiny(kDir + "bids", small);
    (void)tiny.get(0);
    (void)tiny.get(7);
    (void)tiny.get(1);
    CHECK(tiny.cached_volumes() == 1);
    CHECK(tiny.volume_reads() == 3);
}

TEST_CASE("nifti: NiftiSliceDataset over explicit pairs, a chosen axis, subjects from file names") {
    NiftiSliceOptions o;
    o.axis = 2;
    o.labels = LabelSet::feta();
    NiftiSliceDataset ds({{kDir + "dt_int16.nii", kDir + "labels_feta.nii.gz"}}, o);
    CHECK(ds.size() == 5);  // x has 5 slices
    const Sample s = ds.get(4);
    CHECK(s.id == "dt_int16 x=004");
    CHECK(s.subject == "dt_int16");
    CHECK(s.image.shape() == Shape{1, 3, 4});  // [Z, Y]
    CHECK(contains(error_of([&] { ds.get(5); }), "index 5 is out of range (5 samples)"));
}

}  // namespace nifti_tests
