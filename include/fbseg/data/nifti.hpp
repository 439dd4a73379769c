// fbseg/data/nifti.hpp - reading NIfTI-1 and NIfTI-2 volumes (.nii, .nii.gz) into float32
// [Z, Y, X] tensors, and label volumes into int64 [Z, Y, X], through nifti_clib (the format's
// reference C library, nifti2_io). fbseg's part is the checks nifti_clib does not make (or makes
// with a message on stderr only) and the conversion (docs/data.md).
//
// Axis convention. NIfTI stores voxel (i, j, k) at linear index i + nx (j + ny k): i varies
// fastest. The tensor is the C-order array of that memory, so
//
//     volume.data[k][j][i] == voxel (i, j, k)        shape [Z, Y, X] = [nz, ny, nx]
//
// nibabel's img.get_fdata() returns the same voxels as an array indexed [i, j, k] (shape
// (nx, ny, nz)): data[k, j, i] here == get_fdata()[i, j, k], i.e. ours is its transpose
// (np.transpose(a, (2, 1, 0))). spacing_mm follows the tensor: {sz, sy, sx} = {pixdim[3],
// pixdim[2], pixdim[1]}. The affine maps (i, j, k, 1) to world (x, y, z, 1) mm as in the header.
//
// Values: the stored value v becomes v * scl_slope + scl_inter (computed in double, then rounded to
// float32) when scl_slope is finite and non-zero; slope 0 (or NaN, inf) means "no scaling", as the
// standard and nibabel say. Supported stored types: uint8, int8, int16, uint16, int32, float32,
// float64; others are refused with the type's name.
//
// Threads: nifti_clib's only mutable global state is its options struct (debug level, ...), written
// only by its setters; nifti2_io.c and znzlib.c (v3.0.1) have no static buffers. fbseg sets the
// debug level to 0 once (std::call_once, before its first call) and never writes it again, so
// reading from several threads at once is safe without a lock (tested with 8 threads).
// Messages: with debug level 0 nifti_clib is silent on nearly every error; a few of its paths print
// a line to stderr regardless (e.g. a brick of a 4D .nii.gz that ends early). Redirecting the
// process's stderr around each call would not be thread-safe, so fbseg instead checks the header,
// the sizes and the file before it calls the library, and turns every failure into fbseg::Error
// naming the file.
#pragma once

#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <zlib.h>

#include <nifti2_io.h>

#include "fbseg/core/error.hpp"
#include "fbseg/core/shape.hpp"
#include "fbseg/core/tensor.hpp"
#include "fbseg/data/sample.hpp"

namespace fbseg::data {

using Matrix44 = std::array<std::array<double, 4>, 4>;

/// What to read from a NIfTI file.
struct NiftiReadOptions {
    /// The 3D volume of a 4D (or 5D..7D) file: the index into dim[4] * dim[5] * dim[6] * dim[7]
    /// (t fastest), as nifti_clib's brick list counts. 0 for a 3D file.
    std::int64_t channel = 0;
    /// Apply scl_slope / scl_inter (as the standard says). false keeps the stored values.
    bool apply_scaling = true;
};

/// nifti_image, freed by nifti_image_free.
struct NiftiImageDeleter {
    void operator()(nifti_image* nim) const {
        if (nim) nifti_image_free(nim);
    }
};

/// One 3D volume of a NIfTI file and everything known about it.
struct Volume {
    /// float32 [Z, Y, X] (see the top of this file); for a label volume read by
    /// read_nifti_label_volume, undefined (the labels are in LabelVolume::labels).
    Tensor data;
    /// {sz, sy, sx} in mm (pixdim[3], pixdim[2], pixdim[1] converted by xyzt_units), or empty when
    /// one of them is 0, negative or not finite: fbseg never assumes a spacing.
    std::optional<std::array<double, 3>> spacing_mm = {};
    /// The stored datatype (NIfTI DT_* code, e.g. 4 = DT_INT16) and its name ("INT16").
    int datatype = 0;
    std::string datatype_name = {};
    int nifti_version = 1;  // 1 or 2
    int qform_code = 0;
    int sform_code = 0;
    /// The qform (from the quaternion, pixdim and qfac) and sform matrices, as nifti_clib computes
    /// them; (i, j, k, 1) -> (x, y, z, 1) in the header's units.
    Matrix44 qform = {};
    Matrix44 sform = {};
    double scl_slope = 0.0;  // as stored
    double scl_inter = 0.0;
    /// How many 3D volumes the file holds (dim[4] * ... * dim[7]) and which one this is.
    std::int64_t num_channels = 1;
    std::int64_t channel = 0;
    /// The whole header (without voxels), for write_nifti to copy.
    std::shared_ptr<const nifti_image> header = {};
    std::string path = {};

    std::int64_t nz() const { return shape[0]; }
    std::int64_t ny() const { return shape[1]; }
    std::int64_t nx() const { return shape[2]; }
    /// {nz, ny, nx}
    std::array<std::int64_t, 3> shape = {0, 0, 0};

    /// The voxel-to-world matrix nibabel's img.affine gives: the sform when sform_code > 0, else
    /// the qform when qform_code > 0, else the standard's "method 1" diag(dx, dy, dz) (nibabel
    /// instead centres an Analyze-style affine there; see docs/data.md).
    Matrix44 affine() const {
        if (sform_code > 0) return sform;
        return qform;  // nifti_clib sets qto_xyz to diag(dx, dy, dz, 1) when qform_code is 0
    }
};

/// A label volume: int64 [Z, Y, X] class indices and the header it came with.
struct LabelVolume {
    Tensor labels;
    Volume info;  // info.data is undefined
};

namespace nifti_detail {

inline void init_library() {
    static std::once_flag once;
    std::call_once(once, [] {
        nifti_set_debug_level(0);  // silence nifti_clib; fbseg reports the errors itself
        nifti_set_alter_cifti(0);  // keep a CIFTI file's dims as stored (fbseg refuses CIFTI)
    });
}

inline bool ends_with(std::string_view s, std::string_view suffix) {
    return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

inline std::string hex_bytes(const char* p, std::size_t n) {
    static const char* digits = "0123456789abcdef";
    std::string out;
    for (std::size_t i = 0; i < n; ++i) {
        const auto b = static_cast<unsigned char>(p[i]);
        if (i) out += ' ';
        out += digits[b >> 4];
        out += digits[b & 15];
    }
    return out;
}

/// Whether `path` is read through gzip: .nii.gz (nifti_clib decides by the extension too).
inline bool is_gz_name(const std::string& path) { return ends_with(path, ".nii.gz") || ends_with(path, ".NII.GZ"); }

/// What fbseg checks before nifti_clib reads the file: the raw header, byte-swapped to native order
/// by nifti_clib's own swap function.
struct RawHeader {
    int version = 0;  // 1 or 2
    bool swapped = false;
    bool gz = false;
    std::int64_t file_bytes = 0;  // size on disk (compressed size for .nii.gz)
    int datatype = 0;
    std::array<std::int64_t, 8> dim = {};
    std::array<double, 8> pixdim = {};
    double vox_offset = 0;
    double scl_slope = 0, scl_inter = 0;
    int intent_code = 0;
    int xyzt_units = 0;
    std::int64_t data_offset = 0;     // where the voxels start (nifti_clib's rule)
    std::int64_t volume_voxels = 0;   // nx * ny * nz
    std::int64_t num_volumes = 1;     // dim[4..7] product
    std::int64_t bytes_per_voxel = 0;
    std::int64_t data_bytes = 0;      // all volumes
};

/// The supported stored types, their size and name.
inline std::int64_t supported_size(int datatype) {
    switch (datatype) {
        case DT_UINT8: case DT_INT8: return 1;
        case DT_INT16: case DT_UINT16: return 2;
        case DT_INT32: case DT_FLOAT32: return 4;
        case DT_FLOAT64: return 8;
        default: return 0;
    }
}

inline std::string datatype_name(int datatype) {
    const char* name = nifti_datatype_string(datatype);  // "INT16"; "UNKNOWN" for codes it does not know
    return name ? std::string(name) : std::string("UNKNOWN");
}

/// Decompresses (or reads) the whole file once and says where and why it stops: for the message
/// when nifti_clib's read fails. Returns {bytes read, error text or ""}.
inline std::pair<std::int64_t, std::string> scan_file(const std::string& path) {
    gzFile f = gzopen(path.c_str(), "rb");
    if (!f) return {0, "cannot open"};
    std::vector<char> buf(1 << 16);
    std::int64_t total = 0;
    std::string error;
    for (;;) {
        const int n = gzread(f, buf.data(), unsigned(buf.size()));
        if (n < 0) {
            int code = 0;
            const char* msg = gzerror(f, &code);
            error = std::string("gzip data corrupt (zlib: ") + (msg ? msg : "?") + ")";
            break;
        }
        if (n == 0) {
            int code = 0;
            const char* msg = gzerror(f, &code);
            if (code != Z_OK && code != Z_BUF_ERROR) error = std::string("zlib: ") + (msg ? msg : "?");
            else if (code == Z_BUF_ERROR) error = "the gzip stream ends early (truncated .nii.gz)";
            break;
        }
        total += n;
    }
    gzclose(f);
    return {total, error};
}

/// Reads and checks the header of `path` (op names the calling function in messages).
inline RawHeader read_raw_header(const std::string& path, std::string_view op) {
    namespace fs = std::filesystem;
    std::error_code ec;
    const auto status = fs::status(path, ec);
    FBSEG_CHECK(!ec && fs::exists(status), op, ": '", path, "': no such file");
    FBSEG_CHECK(fs::is_regular_file(status), op, ": '", path, "': not a regular file");
    const bool gz = is_gz_name(path);
    FBSEG_CHECK(gz || ends_with(path, ".nii") || ends_with(path, ".NII"), op, ": '", path,
                "': expected a single-file NIfTI name ending in .nii or .nii.gz");
    RawHeader h;
    h.gz = gz;
    h.file_bytes = std::int64_t(fs::file_size(path, ec));
    FBSEG_CHECK(!ec, op, ": '", path, "': cannot stat: ", ec.message());

    // The first 540 bytes (a NIfTI-2 header), decompressed when .nii.gz. gzread reads a plain file
    // as it is, so a .nii that is really gzip is caught by its first two bytes instead.
    char buf[sizeof(nifti_2_header)] = {};
    std::int64_t got = 0;
    if (gz) {
        gzFile f = gzopen(path.c_str(), "rb");
        FBSEG_CHECK(f != nullptr, op, ": '", path, "': cannot open");
        const int n = gzread(f, buf, unsigned(sizeof(buf)));
        int code = 0;
        const char* msg = gzerror(f, &code);
        const std::string zmsg = msg ? msg : "";
        gzclose(f);
        FBSEG_CHECK(n >= 0, op, ": '", path, "': gzip data corrupt in the header (zlib: ", zmsg, ")");
        got = n;
    } else {
        std::ifstream in(path, std::ios::binary);
        FBSEG_CHECK(in.good(), op, ": '", path, "': cannot open");
        in.read(buf, std::streamsize(sizeof(buf)));
        got = std::int64_t(in.gcount());
        FBSEG_CHECK(!(got >= 2 && static_cast<unsigned char>(buf[0]) == 0x1f && static_cast<unsigned char>(buf[1]) == 0x8b),
                    op, ": '", path, "': the file is gzip-compressed but its name ends in .nii (rename it .nii.gz)");
    }
    FBSEG_CHECK(got >= std::int64_t(sizeof(nifti_1_header)), op, ": '", path, "': truncated header: the ",
                gz ? "decompressed " : "", "file has ", got, " bytes, a NIfTI-1 header needs 348");

    std::int32_t sizeof_hdr = 0;
    std::memcpy(&sizeof_hdr, buf, 4);
    std::int32_t swapped_size = sizeof_hdr;
    nifti_swap_4bytes(1, &swapped_size);
    if (sizeof_hdr == 348 || sizeof_hdr == 540) h.version = sizeof_hdr == 348 ? 1 : 2;
    else if (swapped_size == 348 || swapped_size == 540) {
        h.version = swapped_size == 348 ? 1 : 2;
        h.swapped = true;
    } else {
        FBSEG_FAIL(op, ": '", path, "': not a NIfTI file: sizeof_hdr (the first 4 bytes) is ", sizeof_hdr,
                   " (bytes ", hex_bytes(buf, 4), "); expected 348 (NIfTI-1) or 540 (NIfTI-2) in either byte order");
    }

    if (h.version == 1) {
        nifti_1_header n1;
        std::memcpy(&n1, buf, sizeof(n1));
        if (h.swapped) nifti_swap_as_nifti1(&n1);
        FBSEG_CHECK(std::memcmp(n1.magic, "n+1\0", 4) == 0, op, ": '", path,
                    std::memcmp(n1.magic, "ni1\0", 4) == 0
                        ? "': magic 'ni1' is a two-file (.hdr/.img) NIfTI-1 header; fbseg reads single .nii / .nii.gz files (magic 'n+1')"
                        : "': wrong magic: expected 'n+1' (6e 2b 31 00) for a single-file NIfTI-1 but found bytes ",
                    std::memcmp(n1.magic, "ni1\0", 4) == 0 ? "" : hex_bytes(n1.magic, 4));
        h.datatype = n1.datatype;
        for (int d = 0; d < 8; ++d) {
            h.dim[std::size_t(d)] = n1.dim[d];
            h.pixdim[std::size_t(d)] = n1.pixdim[d];
        }
        h.vox_offset = n1.vox_offset;
        h.scl_slope = n1.scl_slope;
        h.scl_inter = n1.scl_inter;
        h.intent_code = n1.intent_code;
        h.xyzt_units = n1.xyzt_units;
    } else {
        FBSEG_CHECK(got >= std::int64_t(sizeof(nifti_2_header)), op, ": '", path, "': truncated header: the ",
                    gz ? "decompressed " : "", "file has ", got, " bytes, a NIfTI-2 header needs 540");
        nifti_2_header n2;
        std::memcpy(&n2, buf, sizeof(n2));
        if (h.swapped) nifti_swap_as_nifti2(&n2);
        FBSEG_CHECK(std::memcmp(n2.magic, "n+2\0", 4) == 0, op, ": '", path,
                    std::memcmp(n2.magic, "ni2\0", 4) == 0
                        ? "': magic 'ni2' is a two-file (.hdr/.img) NIfTI-2 header; fbseg reads single .nii / .nii.gz files (magic 'n+2')"
                        : "': wrong magic: expected 'n+2' (6e 2b 32 00) for a single-file NIfTI-2 but found bytes ",
                    std::memcmp(n2.magic, "ni2\0", 4) == 0 ? "" : hex_bytes(n2.magic, 4));
        // Bytes 4..7 of the NIfTI-2 magic (\r \n \032 \n) catch a text-mode transfer; nibabel also
        // accepts zeros there.
        const bool eol_ok = std::memcmp(n2.magic + 4, "\r\n\032\n", 4) == 0 || std::memcmp(n2.magic + 4, "\0\0\0\0", 4) == 0;
        FBSEG_CHECK(eol_ok, op, ": '", path, "': NIfTI-2 magic bytes 4..7 are ", hex_bytes(n2.magic + 4, 4),
                    "; expected 0d 0a 1a 0a (the file was probably altered by a text-mode transfer)");
        h.datatype = n2.datatype;
        for (int d = 0; d < 8; ++d) {
            h.dim[std::size_t(d)] = n2.dim[d];
            h.pixdim[std::size_t(d)] = n2.pixdim[d];
        }
        h.vox_offset = double(n2.vox_offset);
        h.scl_slope = n2.scl_slope;
        h.scl_inter = n2.scl_inter;
        h.intent_code = n2.intent_code;
        h.xyzt_units = n2.xyzt_units;
    }

    // CIFTI-2 (NIfTI-2 with intent codes 3000..3099): a matrix over grayordinates, not a volume.
    FBSEG_CHECK(!(h.intent_code >= 3000 && h.intent_code < 3100), op, ": '", path, "': a CIFTI-2 file (intent code ",
                h.intent_code, "): a matrix over surface vertices and voxels, not an image volume; fbseg reads volumes only");

    const std::int64_t ndim = h.dim[0];
    FBSEG_CHECK(ndim >= 1 && ndim <= 7, op, ": '", path, "': dim[0] (the number of dimensions) is ", ndim,
                "; expected 1..7");
    for (std::int64_t d = 1; d <= ndim; ++d)
        FBSEG_CHECK(h.dim[std::size_t(d)] >= 1, op, ": '", path, "': dim[", d, "] is ", h.dim[std::size_t(d)],
                    "; every size up to dim[0] = ", ndim, " must be >= 1");
    for (std::int64_t d = ndim + 1; d <= 7; ++d) h.dim[std::size_t(d)] = 1;  // unused, as nifti_clib does

    h.bytes_per_voxel = supported_size(h.datatype);
    FBSEG_CHECK(h.bytes_per_voxel > 0, op, ": '", path, "': unsupported datatype ", h.datatype, " (",
                datatype_name(h.datatype), "); supported: UINT8, INT8, INT16, UINT16, INT32, FLOAT32, FLOAT64");

    const std::string what = detail::str(op, ": '", path, "': dims");
    h.volume_voxels = checked_mul(checked_mul(h.dim[1], h.dim[2], what), h.dim[3], what);
    h.num_volumes = checked_mul(checked_mul(checked_mul(h.dim[4], h.dim[5], what), h.dim[6], what), h.dim[7], what);
    h.data_bytes = checked_mul(checked_mul(h.volume_voxels, h.num_volumes, what), h.bytes_per_voxel, what);

    // Where the voxels start: vox_offset, but at least the header size (nifti_clib's rule; vox_offset 0
    // is common in old files). nifti_clib casts a NIfTI-1 vox_offset to int: keep it in range first.
    const double header_bytes = h.version == 1 ? 352.0 : 544.0;
    FBSEG_CHECK(std::isfinite(h.vox_offset) && h.vox_offset >= 0 && h.vox_offset < 2147483647.0, op, ": '", path,
                "': vox_offset is ", h.vox_offset, "; expected a byte offset in [0, 2^31)");
    h.data_offset = std::int64_t(h.vox_offset < header_bytes ? header_bytes : h.vox_offset);
    FBSEG_CHECK(h.data_bytes <= std::numeric_limits<std::int64_t>::max() - h.data_offset, what,
                ": size overflow: offset ", h.data_offset, " + ", h.data_bytes, " bytes does not fit in 64 bits");
    const std::int64_t needed = h.data_offset + h.data_bytes;
    if (!gz) {
        FBSEG_CHECK(h.data_offset <= h.file_bytes, op, ": '", path, "': vox_offset ", h.data_offset,
                    " is beyond the end of the file (", h.file_bytes, " bytes)");
        FBSEG_CHECK(needed <= h.file_bytes, op, ": '", path, "': truncated: the header describes ", h.data_bytes,
                    " bytes of voxels (", h.volume_voxels, " voxels x ", h.num_volumes, " volumes x ", h.bytes_per_voxel,
                    " bytes) from offset ", h.data_offset, ", so the file needs ", needed, " bytes but has ",
                    h.file_bytes);
    } else {
        // Deflate expands at most 1032:1, so a .nii.gz of n bytes holds at most ~1032 n bytes: a bound
        // that refuses absurd sizes before any allocation without decompressing the file.
        const std::int64_t max_bytes = h.file_bytes > std::numeric_limits<std::int64_t>::max() / 1100
                                           ? std::numeric_limits<std::int64_t>::max()
                                           : h.file_bytes * 1032 + 4096;
        FBSEG_CHECK(needed <= max_bytes, op, ": '", path, "': the header describes ", needed,
                    " bytes (header and voxels) but a gzip file of ", h.file_bytes,
                    " bytes can hold at most ", max_bytes, " (deflate's 1032:1 limit): the header's dims are wrong or the file is truncated");
    }
    return h;
}

inline Matrix44 to_matrix(const nifti_dmat44& m) {
    Matrix44 out{};
    for (int r = 0; r < 4; ++r)
        for (int c = 0; c < 4; ++c) out[std::size_t(r)][std::size_t(c)] = m.m[r][c];
    return out;
}

/// pixdim in mm by xyzt_units (unknown units: taken as mm, as nibabel and ITK do).
inline double to_mm(double v, int xyzt_units) {
    switch (XYZT_TO_SPACE(xyzt_units)) {
        case NIFTI_UNITS_METER: return v * 1000.0;
        case NIFTI_UNITS_MICRON: return v / 1000.0;
        default: return v;
    }
}

/// Fills the Volume's header fields from the raw header and nifti_clib's nifti_image.
inline void fill_info(Volume& v, const RawHeader& h, const nifti_image& nim, const std::string& path) {
    v.path = path;
    v.datatype = h.datatype;
    v.datatype_name = datatype_name(h.datatype);
    v.nifti_version = h.version;
    v.qform_code = nim.qform_code;
    v.sform_code = nim.sform_code;
    v.qform = to_matrix(nim.qto_xyz);
    v.sform = to_matrix(nim.sto_xyz);
    v.scl_slope = h.scl_slope;
    v.scl_inter = h.scl_inter;
    v.num_channels = h.num_volumes;
    v.shape = {h.dim[3], h.dim[2], h.dim[1]};
    // Spacing from the raw pixdim (nifti_clib replaces 0 and NaN by 1, which would be an assumption).
    const double sx = h.pixdim[1], sy = h.dim[0] >= 2 ? h.pixdim[2] : 1.0, sz = h.dim[0] >= 3 ? h.pixdim[3] : 1.0;
    const auto good = [](double s) { return std::isfinite(s) && s > 0; };
    if (good(sx) && good(sy) && good(sz))
        v.spacing_mm = std::array<double, 3>{to_mm(sz, h.xyzt_units), to_mm(sy, h.xyzt_units), to_mm(sx, h.xyzt_units)};
    else
        v.spacing_mm.reset();
}

/// The scaling to apply: {slope, inter}, or {1, 0} when none (slope 0 or not finite).
inline std::pair<double, double> scaling(const RawHeader& h, const std::string& path, std::string_view op) {
    if (h.scl_slope == 0 || !std::isfinite(h.scl_slope)) return {1.0, 0.0};
    FBSEG_CHECK(std::isfinite(h.scl_inter), op, ": '", path, "': scl_slope is ", h.scl_slope, " but scl_inter is ",
                h.scl_inter, "; expected a finite intercept");
    return {h.scl_slope, h.scl_inter};
}

/// Calls fn(index, value as double) for the n stored values at `raw` (native byte order).
template <typename Fn>
void for_each_value(const void* raw, int datatype, std::int64_t n, Fn&& fn) {
    const auto run = [&](auto tag) {
        using T = decltype(tag);
        const auto* p = static_cast<const unsigned char*>(raw);
        for (std::int64_t i = 0; i < n; ++i) {
            T v;
            std::memcpy(&v, p + i * std::int64_t(sizeof(T)), sizeof(T));
            fn(i, double(v));
        }
    };
    switch (datatype) {
        case DT_UINT8: run(std::uint8_t{}); break;
        case DT_INT8: run(std::int8_t{}); break;
        case DT_INT16: run(std::int16_t{}); break;
        case DT_UINT16: run(std::uint16_t{}); break;
        case DT_INT32: run(std::int32_t{}); break;
        case DT_FLOAT32: run(float{}); break;
        case DT_FLOAT64: run(double{}); break;
        default: FBSEG_FAIL("nifti: internal: unsupported datatype ", datatype);
    }
}

/// nifti_clib's nifti_image (header only) and the voxels of one 3D volume.
struct Loaded {
    RawHeader raw;
    std::unique_ptr<nifti_image, NiftiImageDeleter> nim;
    std::vector<unsigned char> brick;    // the volume of a 4D file (nifti_clib's brick, copied)
    const unsigned char* voxels = nullptr;  // volume_voxels * bytes_per_voxel, native order: in nim or brick
    /// Frees the voxels (nim->data), keeping the header.
    void release_voxels() {
        voxels = nullptr;
        std::vector<unsigned char>().swap(brick);
        if (nim) nifti_image_unload(nim.get());
    }
};

/// The message for a failed nifti_clib read, from a scan of the file.
[[noreturn]] inline void fail_read(const RawHeader& h, const std::string& path, std::string_view op, std::int64_t channel) {
    const auto [bytes, error] = scan_file(path);
    const std::int64_t needed = h.data_offset + h.data_bytes;
    if (!error.empty() && bytes < needed)
        FBSEG_FAIL(op, ": '", path, "': ", error, " after ", bytes, " decompressed bytes; the voxels need ", needed);
    if (bytes < needed)
        FBSEG_FAIL(op, ": '", path, "': truncated: the header describes ", h.data_bytes, " bytes of voxels from offset ",
                   h.data_offset, " (", needed, " bytes) but the ", h.gz ? "decompressed " : "", "file has ", bytes);
    FBSEG_FAIL(op, ": '", path, "': nifti_clib could not read volume ", channel, " (", h.num_volumes,
               " in the file)", error.empty() ? "" : ": ", error);
}

inline Loaded load(const std::string& path, std::int64_t channel, std::string_view op) {
    init_library();
    Loaded out;
    out.raw = read_raw_header(path, op);
    const RawHeader& h = out.raw;
    FBSEG_CHECK(channel >= 0 && channel < h.num_volumes, op, ": '", path, "': channel ", channel,
                " is out of range: the file has ", h.num_volumes, " volume", h.num_volumes == 1 ? "" : "s",
                " (dim[4..7] = ", h.dim[4], " x ", h.dim[5], " x ", h.dim[6], " x ", h.dim[7], ")");
    const std::int64_t bytes = h.volume_voxels * h.bytes_per_voxel;
    if (h.num_volumes == 1) {
        out.nim.reset(nifti_image_read(path.c_str(), 1));
        if (!out.nim || !out.nim->data) fail_read(h, path, op, channel);
        FBSEG_CHECK(out.nim->nvox == h.volume_voxels && out.nim->nbyper == h.bytes_per_voxel, op, ": '", path,
                    "': nifti_clib read ", out.nim->nvox, " voxels of ", out.nim->nbyper, " bytes; the header says ",
                    h.volume_voxels, " of ", h.bytes_per_voxel);
        out.voxels = static_cast<const unsigned char*>(out.nim->data);  // converted in place, then unloaded
    } else {
        nifti_brick_list bricks{};
        const std::int64_t list[1] = {channel};
        out.nim.reset(nifti_image_read_bricks(path.c_str(), 1, list, &bricks));
        if (!out.nim || bricks.nbricks != 1 || !bricks.bricks || !bricks.bricks[0] || bricks.bsize != bytes) {
            if (out.nim) nifti_free_NBL(&bricks);
            fail_read(h, path, op, channel);
        }
        const auto* p = static_cast<const unsigned char*>(bricks.bricks[0]);
        out.brick.assign(p, p + bytes);
        out.voxels = out.brick.data();
        nifti_free_NBL(&bricks);
    }
    return out;
}

}  // namespace nifti_detail

/// Reads one 3D volume of a NIfTI-1/NIfTI-2 file (.nii or .nii.gz) as float32 [Z, Y, X].
inline Volume read_nifti(const std::string& path, const NiftiReadOptions& options = {}) {
    constexpr std::string_view op = "read_nifti";
    auto loaded = nifti_detail::load(path, options.channel, op);
    const auto& h = loaded.raw;
    Volume v;
    nifti_detail::fill_info(v, h, *loaded.nim, path);
    v.channel = options.channel;
    const auto scale =
        options.apply_scaling ? nifti_detail::scaling(h, path, op) : std::pair<double, double>{1.0, 0.0};
    const double slope = scale.first, inter = scale.second;  // (clang 14 cannot capture structured bindings)
    v.data = Tensor::empty({h.dim[3], h.dim[2], h.dim[1]}, DType::Float32);
    float* out = v.data.data_ptr<float>();
    nifti_detail::for_each_value(loaded.voxels, h.datatype, h.volume_voxels,
                                 [&](std::int64_t i, double x) { out[i] = float(x * slope + inter); });
    loaded.release_voxels();
    v.header = std::shared_ptr<const nifti_image>(loaded.nim.release(), NiftiImageDeleter{});
    return v;
}

/// Reads a label volume: int64 [Z, Y, X] class indices checked against `labels` (a binary set maps
/// every value > 0 to 1; a declared set refuses values it does not contain). Values are taken after
/// scl_slope / scl_inter; a non-integer value (or NaN) is an error naming the file and the voxel.
inline LabelVolume read_nifti_label_volume(const std::string& path, const LabelSet& labels,
                                           const NiftiReadOptions& options = {}) {
    constexpr std::string_view op = "read_nifti_labels";
    auto loaded = nifti_detail::load(path, options.channel, op);
    const auto& h = loaded.raw;
    LabelVolume lv;
    nifti_detail::fill_info(lv.info, h, *loaded.nim, path);
    lv.info.channel = options.channel;
    const auto scale =
        options.apply_scaling ? nifti_detail::scaling(h, path, op) : std::pair<double, double>{1.0, 0.0};
    const double slope = scale.first, inter = scale.second;  // (clang 14 cannot capture structured bindings)
    lv.labels = Tensor::empty({h.dim[3], h.dim[2], h.dim[1]}, DType::Int64);
    std::int64_t* out = lv.labels.data_ptr<std::int64_t>();
    const std::int64_t nx = h.dim[1], ny = h.dim[2];
    const auto where = [&](std::int64_t n) {
        return detail::str("voxel (i, j, k) = (", n % nx, ", ", (n / nx) % ny, ", ", n / (nx * ny), ")");
    };
    // Values present in a declared set are looked up in a small table when they are in [0, 1024).
    std::vector<char> allowed(1024, 0);
    for (const auto& [name, value] : labels.labels)
        if (value >= 0 && value < 1024) allowed[std::size_t(value)] = 1;
    nifti_detail::for_each_value(loaded.voxels, h.datatype, h.volume_voxels, [&](std::int64_t n, double x) {
        const double v = x * slope + inter;
        if (!(std::isfinite(v) && v == std::floor(v) && std::abs(v) < 9.0e15)) [[unlikely]]
            FBSEG_FAIL(op, ": '", path, "': ", where(n), " holds ", v, "; a label volume must hold integers");
        const auto value = std::int64_t(v);
        if (labels.binary) {
            out[n] = value > 0 ? 1 : 0;
            return;
        }
        const bool ok = (value >= 0 && value < 1024) ? allowed[std::size_t(value)] != 0 : labels.contains(value);
        if (!ok) [[unlikely]] {
            std::string names;
            for (const auto& [name, val] : labels.labels) names += detail::str(names.empty() ? "" : ", ", val, " ", name);
            FBSEG_FAIL(op, ": '", path, "': ", where(n), " holds the label ", value,
                       ", which the label set does not contain (", names, ")");
        }
        out[n] = value;
    });
    loaded.release_voxels();
    lv.info.header = std::shared_ptr<const nifti_image>(loaded.nim.release(), NiftiImageDeleter{});
    return lv;
}

/// The labels only: int64 [Z, Y, X].
inline Tensor read_nifti_labels(const std::string& path, const LabelSet& labels, const NiftiReadOptions& options = {}) {
    return read_nifti_label_volume(path, labels, options).labels;
}

/// The header of `path` (every Volume field but data), without reading the voxels: what a dataset
/// needs to index slices and to compare an image with its label volume.
inline Volume read_nifti_header(const std::string& path) {
    constexpr std::string_view op = "read_nifti_header";
    nifti_detail::init_library();
    const auto h = nifti_detail::read_raw_header(path, op);
    std::unique_ptr<nifti_image, NiftiImageDeleter> nim(nifti_image_read(path.c_str(), 0));
    FBSEG_CHECK(nim != nullptr, op, ": '", path, "': nifti_clib could not read the header");
    Volume v;
    nifti_detail::fill_info(v, h, *nim, path);
    v.header = std::shared_ptr<const nifti_image>(nim.release(), NiftiImageDeleter{});
    return v;
}

}  // namespace fbseg::data
