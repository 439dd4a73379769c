// fbseg/data/nifti_write.hpp - writing a prediction (a label map) or an image as a NIfTI file
// that keeps the geometry of the volume it was computed from, so that it opens aligned with that
// volume in ITK-SNAP or 3D Slicer.
//
// What is copied from the reference Volume's header (nifti_copy_nim_info): dims i, j, k, pixdim,
// xyzt_units, qform_code + quaternion + qoffset + qfac, sform_code + srow, slice/freq/phase dims.
// What is reset: dims 4..7 = 1 (one 3D volume), datatype (labels: UINT8, or INT16 when a value is
// above 255 or below 0; images: FLOAT32), scl_slope = scl_inter = 0 (no scaling), cal_min =
// cal_max = 0, intent = none, no extensions, descrip "fbseg". The byte order is the machine's.
// nifti_clib writes NIfTI-1 whenever the dims fit (below 32768 per axis), also for a NIfTI-2
// reference, and NIfTI-2 otherwise. ".nii.gz" (by the extension) is gzip-compressed.
//
// Atomic: the file is written to a temporary name beside `path` (same directory, same extension),
// checked (its header read back, its size or decompressed length compared with what it must hold),
// flushed to disk (fsync), then renamed over `path` (and the folder synced). On any error the temporary file is removed and `path` is untouched.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "fbseg/core/error.hpp"
#include "fbseg/core/shape.hpp"
#include "fbseg/core/tensor.hpp"
#include "fbseg/data/nifti.hpp"

namespace fbseg::data {

namespace nifti_detail {

/// "dir/name.tmp-PID-N.nii.gz" for "dir/name.nii.gz": the extension stays last so nifti_clib
/// compresses (or not) the same way.
inline std::string temporary_nifti_name(const std::string& path) {
    static std::atomic<std::uint64_t> counter{0};
    const std::string ext = is_gz_name(path) ? path.substr(path.size() - 7) : path.substr(path.size() - 4);
    return path.substr(0, path.size() - ext.size()) + ".tmp-" + std::to_string(::getpid()) + "-" +
           std::to_string(counter.fetch_add(1)) + ext;
}

}  // namespace nifti_detail

/// Writes `data` ([Z, Y, X] = the reference's shape; int64, uint8 or bool labels, or a float32 /
/// float64 image) to `path` (.nii or .nii.gz) with the reference volume's geometry.
inline void write_nifti(const std::string& path, const Tensor& data, const Volume& reference) {
    constexpr std::string_view op = "write_nifti";
    nifti_detail::init_library();
    FBSEG_CHECK(nifti_detail::is_gz_name(path) || nifti_detail::ends_with(path, ".nii") ||
                    nifti_detail::ends_with(path, ".NII"),
                op, ": '", path, "': expected a name ending in .nii or .nii.gz");
    {
        // nifti_clib prints to stderr when it cannot open the output: check the folder first.
        const std::filesystem::path dir = std::filesystem::path(path).parent_path();
        std::error_code ec;
        FBSEG_CHECK(dir.empty() || std::filesystem::is_directory(dir, ec), op, ": '", path, "': the folder '", dir.string(),
                    "' does not exist");
    }
    FBSEG_CHECK(reference.header != nullptr, op, ": '", path, "': the reference volume has no header (read it with read_nifti)");
    FBSEG_CHECK(data.defined() && !data.is_cuda(), op, ": '", path, "': expected a defined CPU tensor");
    FBSEG_CHECK(data.dim() == 3 && data.shape()[0] == reference.nz() && data.shape()[1] == reference.ny() &&
                    data.shape()[2] == reference.nx(),
                op, ": '", path, "': the data has shape ", shape_str(data.shape()), " but the reference '", reference.path,
                "' is [Z, Y, X] = [", reference.nz(), ", ", reference.ny(), ", ", reference.nx(), "]");
    const Tensor host = data.contiguous();
    const std::int64_t n = host.numel();

    // The stored type and the bytes.
    int datatype = 0;
    std::vector<unsigned char> bytes;
    const DType dt = host.dtype();
    if (dt == DType::Int64 || dt == DType::UInt8 || dt == DType::Bool) {
        std::vector<std::int64_t> v(static_cast<std::size_t>(n));
        if (dt == DType::Int64) {
            const auto* p = host.data_ptr<std::int64_t>();
            for (std::int64_t i = 0; i < n; ++i) v[std::size_t(i)] = p[i];
        } else {
            const auto* p = static_cast<const std::uint8_t*>(host.raw_data());
            for (std::int64_t i = 0; i < n; ++i) v[std::size_t(i)] = p[i];
        }
        std::int64_t lo = 0, hi = 0;
        for (auto x : v) {
            lo = std::min(lo, x);
            hi = std::max(hi, x);
        }
        if (lo >= 0 && hi <= 255) {
            datatype = DT_UINT8;
            bytes.resize(std::size_t(n));
            for (std::int64_t i = 0; i < n; ++i) bytes[std::size_t(i)] = static_cast<unsigned char>(v[std::size_t(i)]);
        } else {
            FBSEG_CHECK(lo >= -32768 && hi <= 32767, op, ": '", path, "': label values span [", lo, ", ", hi,
                        "]; NIfTI label maps are written as UINT8 or INT16 ([-32768, 32767])");
            datatype = DT_INT16;
            bytes.resize(std::size_t(n) * 2);
            for (std::int64_t i = 0; i < n; ++i) {
                const auto s = static_cast<std::int16_t>(v[std::size_t(i)]);
                std::memcpy(bytes.data() + i * 2, &s, 2);
            }
        }
    } else if (dt == DType::Float32 || dt == DType::Float64) {
        datatype = DT_FLOAT32;
        bytes.resize(std::size_t(n) * 4);
        for (std::int64_t i = 0; i < n; ++i) {
            const float f = dt == DType::Float32 ? host.data_ptr<float>()[i] : float(host.data_ptr<double>()[i]);
            std::memcpy(bytes.data() + i * 4, &f, 4);
        }
    } else {
        FBSEG_FAIL(op, ": '", path, "': unsupported dtype ", dtype_name(dt), "; expected int64, uint8 or bool labels, or a float32/float64 image");
    }

    // The header: the reference's, with the fields listed at the top of this file reset.
    std::unique_ptr<nifti_image, NiftiImageDeleter> nim(nifti_copy_nim_info(reference.header.get()));
    FBSEG_CHECK(nim != nullptr, op, ": '", path, "': nifti_clib could not copy the reference header");
    nifti_free_extensions(nim.get());
    const std::int64_t ndim = std::min<std::int64_t>(std::max<std::int64_t>(reference.header->dim[0], 1), 3);
    nim->dim[0] = nim->ndim = ndim;
    nim->dim[1] = nim->nx = reference.nx();
    nim->dim[2] = nim->ny = reference.ny();
    nim->dim[3] = nim->nz = reference.nz();
    for (int d = 4; d < 8; ++d) nim->dim[d] = 1;
    nim->nt = nim->nu = nim->nv = nim->nw = 1;
    nim->nvox = n;
    nim->datatype = datatype;
    nifti_datatype_sizes(datatype, &nim->nbyper, &nim->swapsize);
    nim->scl_slope = 0.0;
    nim->scl_inter = 0.0;
    nim->cal_min = 0.0;
    nim->cal_max = 0.0;
    nim->intent_code = 0;
    nim->intent_p1 = nim->intent_p2 = nim->intent_p3 = 0.0;
    std::memset(nim->intent_name, 0, sizeof(nim->intent_name));
    std::memset(nim->descrip, 0, sizeof(nim->descrip));
    std::snprintf(nim->descrip, sizeof(nim->descrip), "fbseg");

    const std::string tmp = nifti_detail::temporary_nifti_name(path);
    FBSEG_CHECK(nifti_set_filenames(nim.get(), tmp.c_str(), 0, 1) == 0, op, ": '", path,
                "': nifti_clib refused the file name '", tmp, "'");
    // Always the single-file type NIFTI1_1: nifti_clib 3.0.1 picks NIfTI-1 or NIfTI-2 by the dims
    // itself, and with NIFTI2_1 it treats the file as a .hdr/.img pair and overwrites the header
    // with the voxels (found by tools/check_nifti_nibabel.py).
    nim->nifti_type = NIFTI_FTYPE_NIFTI1_1;
    nim->data = bytes.data();
    nifti_image_write(nim.get());
    nim->data = nullptr;  // owned by `bytes`

    try {
        // Read back: a complete header, and exactly the voxels written.
        FBSEG_CHECK(std::filesystem::exists(tmp), op, ": '", path, "': nifti_clib did not create '", tmp, "'");
        const auto h = nifti_detail::read_raw_header(tmp, op);
        FBSEG_CHECK(h.datatype == datatype && h.volume_voxels == n && h.num_volumes == 1, op, ": '", path,
                    "': the file written ('", tmp, "') has datatype ", h.datatype, " and ", h.volume_voxels,
                    " voxels; expected ", datatype, " and ", n);
        if (h.gz) {
            const auto [total, error] = nifti_detail::scan_file(tmp);
            FBSEG_CHECK(error.empty() && total >= h.data_offset + h.data_bytes, op, ": '", path, "': the file written ('",
                        tmp, "') decompresses to ", total, " bytes; expected ", h.data_offset + h.data_bytes,
                        error.empty() ? "" : " (", error, error.empty() ? "" : ")", " (disk full?)");
        }
        // Durable before the rename (nifti_clib closes the file but does not sync it).
        const int fd = ::open(tmp.c_str(), O_RDONLY | O_CLOEXEC);
        FBSEG_CHECK(fd >= 0 && ::fsync(fd) == 0, op, ": '", path, "': cannot flush '", tmp, "' to disk: ", std::strerror(errno));
        ::close(fd);
    } catch (...) {
        std::remove(tmp.c_str());
        throw;
    }
    if (std::rename(tmp.c_str(), path.c_str()) != 0) {
        const int err = errno;
        std::remove(tmp.c_str());
        FBSEG_FAIL(op, ": cannot rename '", tmp, "' to '", path, "': ", std::strerror(err));
    }
    const std::filesystem::path dir = std::filesystem::path(path).parent_path();
    const int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {  // make the rename itself durable (best effort, as save_safetensors)
        ::fsync(dfd);
        ::close(dfd);
    }
}

}  // namespace fbseg::data
