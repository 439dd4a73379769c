// fbseg/data/image_io.hpp - 2D image files in and out: PNG, JPEG and BMP read through stb_image
// (Debian's libstb), PNG masks, images and overlays written through stb_image_write.
//
// Reading (read_image, read_image_from_memory):
//   PNG (8- or 16-bit; grey, grey+alpha, RGB, RGBA, palette), baseline/progressive JPEG, BMP.
//   Other formats stb knows (GIF, TGA, PSD, HDR, ...) are refused by their first bytes.
//   Returns float32 [C, H, W] with 8-bit samples divided by 255 and 16-bit ones by 65535, so
//   every value lies in [0, 1].
//   Grey (the default): C = 1. A grey file gives its value; grey+alpha drops the alpha; RGB and
//   RGBA give the luma of ITU-R BT.601, the weights of OpenCV's COLOR_RGB2GRAY,
//       Y = 0.299 R + 0.587 G + 0.114 B          (alpha dropped),
//   computed in double and NOT rounded to an integer level, then divided by 255 (or 65535).
//   OpenCV's cv2.imread(..., IMREAD_GRAYSCALE) rounds Y to an integer in fixed point (libpng's
//   own conversion for PNG), so the two agree within 1.01 levels (8-bit PNG), 0.51 levels (BMP),
//   4 levels of 65535 (16-bit PNG, libpng's 15-bit weights); tests/test_readers.cpp checks these.
//   keep_channels: C is the file's channel count (1 grey, 2 grey+alpha, 3 RGB, 4 RGBA) in that
//   order (OpenCV's IMREAD_UNCHANGED gives B, G, R(, A) instead).
//   JPEG is decoded by stb, not libjpeg: its IDCT and chroma upsampling differ from OpenCV's by a
//   few levels (at most 2 levels, mean 0.07, on the quality-95 fixture; docs/data.md).
//
// Masks (read_mask_values, read_label_png): the stored integers, not scaled: 1-, 2-, 4-, 8- or
// 16-bit grey (alpha ignored), or RGB(A) whose three channels are equal at every pixel (a grey
// mask saved as RGB); channels that differ are an error naming the file and the first such pixel,
// and so is a palette PNG (stb gives its colours, not its indices). The values then become class
// indices by a LabelSet (data/labels.hpp).
//
// Writing: write_png_mask (binary: 0 -> 0 and 1 -> 255, visible and read back as binary; a
// declared set: the class values themselves, 8-bit, so at most 256 classes), write_png_image
// (float [0, 1] -> round(255 v), values clamped to [0, 1], NaN refused), write_overlay (the grey
// image as RGB with each labelled pixel blended with its class colour, palette below). Every
// write is atomic: the PNG is encoded in memory, written to `<path>.tmp-<pid>-<n>`, flushed
// (fsync), renamed over `path` and the folder synced; on error no file is left.
//
// Sizes: a header is read first (stbi_info) and width * height must not exceed max_pixels before
// any pixel buffer is allocated; files larger than max_file_bytes are refused before reading.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <stb_image.h>
#include <stb_image_write.h>

#include "fbseg/core/error.hpp"
#include "fbseg/core/shape.hpp"
#include "fbseg/core/tensor.hpp"
#include "fbseg/data/labels.hpp"
#include "fbseg/data/sample.hpp"

namespace fbseg::data {

struct ImageReadOptions {
    /// false: one grey channel (luma of RGB, top of file); true: the file's channels as stored.
    bool keep_channels = false;
    /// The largest width * height accepted (checked from the header before allocating).
    std::int64_t max_pixels = std::int64_t(1) << 28;
    /// The largest file accepted, in bytes.
    std::int64_t max_file_bytes = std::int64_t(1) << 30;
};

/// What a header says: the size and channels of the stored image, without decoding its pixels.
struct ImageInfo {
    std::int64_t width = 0, height = 0;
    int channels = 0;     // 1 grey, 2 grey+alpha, 3 RGB, 4 RGBA
    bool is_16bit = false;
    std::string format = {};  // "PNG", "JPEG", "BMP"
    /// PNG only (from its IHDR chunk; 0 otherwise): bits per sample as stored (1, 2, 4, 8, 16)
    /// and the colour type (0 grey, 2 RGB, 3 palette, 4 grey+alpha, 6 RGBA).
    int png_bit_depth = 0, png_color_type = 0;
};

/// A decoded file's samples as stored (8-bit values widened to uint16), row-major, interleaved.
struct RawImage {
    ImageInfo info = {};
    std::vector<std::uint16_t> samples = {};
};

namespace image_io_detail {

/// "PNG", "JPEG", "BMP" by the first bytes, or "" for anything else.
inline std::string sniff(const std::uint8_t* data, std::size_t size) {
    static const std::uint8_t png[8] = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A};
    if (size >= 8 && std::memcmp(data, png, 8) == 0) return "PNG";
    if (size >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF) return "JPEG";
    if (size >= 2 && data[0] == 'B' && data[1] == 'M') return "BMP";
    return "";
}

inline std::string stb_reason() {
    const char* r = stbi_failure_reason();
    return r ? r : "unknown reason";
}

inline std::vector<std::uint8_t> read_file_bytes(const std::string& path, std::int64_t max_bytes, const char* op) {
    std::error_code ec;
    FBSEG_CHECK(std::filesystem::is_regular_file(path, ec), op, ": '", path, "' is not a readable file (",
                std::filesystem::exists(path, ec) ? "not a regular file" : "it does not exist", ")");
    std::ifstream in(path, std::ios::binary | std::ios::ate);
    FBSEG_CHECK(in, op, ": cannot open '", path, "': ", std::strerror(errno));
    const std::streamoff size = in.tellg();
    FBSEG_CHECK(size >= 0, op, ": cannot find the size of '", path, "'");
    FBSEG_CHECK(size <= max_bytes, op, ": '", path, "' has ", size, " bytes, more than the ", max_bytes,
                " accepted (ImageReadOptions::max_file_bytes)");
    std::vector<std::uint8_t> bytes(static_cast<std::size_t>(size));
    in.seekg(0);
    if (size > 0) in.read(reinterpret_cast<char*>(bytes.data()), size);
    FBSEG_CHECK(in.gcount() == size, op, ": could read only ", in.gcount(), " of the ", size, " bytes of '", path, "'");
    return bytes;
}

/// The header of an in-memory file; `name` names it in errors.
inline ImageInfo info_from_memory(const std::uint8_t* data, std::size_t size, const std::string& name, const char* op) {
    ImageInfo info;
    info.format = sniff(data, size);
    FBSEG_CHECK(!info.format.empty(), op, ": '", name, "' is not a PNG, JPEG or BMP file (its first bytes match ",
                "none of their signatures; ", size, " bytes)");
    FBSEG_CHECK(size <= std::size_t(INT_MAX), op, ": '", name, "' has ", size, " bytes, more than stb_image reads");
    int w = 0, h = 0, c = 0;
    FBSEG_CHECK(stbi_info_from_memory(data, int(size), &w, &h, &c) == 1, op, ": '", name, "' is not a readable ",
                info.format, " file: its header is corrupt or truncated (stb_image: ", stb_reason(), ")");
    FBSEG_CHECK(w > 0 && h > 0 && c >= 1 && c <= 4, op, ": '", name, "': the header says ", w, " x ", h, " with ",
                c, " channels, expected positive sizes and 1..4 channels");
    info.width = w;
    info.height = h;
    info.channels = c;
    info.is_16bit = stbi_is_16_bit_from_memory(data, int(size)) == 1;
    if (info.format == "PNG" && size >= 26 && std::memcmp(data + 12, "IHDR", 4) == 0) {
        info.png_bit_depth = data[24];
        info.png_color_type = data[25];
    }
    return info;
}

struct StbFree {
    void operator()(void* p) const { stbi_image_free(p); }
};

/// Walks a PNG's chunks (length, type, data, CRC) up to IEND and checks that each fits in the file.
/// stb_image grows its IDAT buffer to a chunk's declared length before it reads the chunk, so a
/// 100-byte file whose chunk claims 1.9 GB would make it allocate 2 GiB (found by fuzz_png); this
/// refuses such a file first, naming the chunk. (PNG spec 5.3: a length is at most 2^31 - 1.)
inline void check_png_chunks(const std::uint8_t* data, std::size_t size, const std::string& name, const char* op) {
    std::size_t at = 8;  // after the signature
    while (at < size) {
        FBSEG_CHECK(size - at >= 8, op, ": '", name, "' (PNG) is corrupt or truncated: ", size - at,
                    " stray bytes at byte ", at, " where a chunk header (8 bytes) should be");
        const std::uint32_t length = (std::uint32_t(data[at]) << 24) | (std::uint32_t(data[at + 1]) << 16) |
                                     (std::uint32_t(data[at + 2]) << 8) | std::uint32_t(data[at + 3]);
        std::string type;
        for (int i = 4; i < 8; ++i) {
            const auto ch = data[at + i];
            type += (ch >= 0x20 && ch < 0x7F) ? char(ch) : '?';
        }
        const std::size_t left = size - at;  // at least 8 here
        FBSEG_CHECK(length <= 0x7FFFFFFFu && std::uint64_t(length) + 12 <= left, op, ": '", name,
                    "' (PNG) is corrupt or truncated: chunk '", type, "' at byte ", at, " declares ", length,
                    " data bytes, which with its length, type and CRC need ", std::uint64_t(length) + 12,
                    " bytes, but only ", left, " remain in the file");
        at += 12 + std::size_t(length);
        if (type == "IEND") return;  // stb_image stops here too; anything after is ignored
    }
}

/// Decodes an in-memory file to its stored samples (header checked first).
inline RawImage decode(const std::uint8_t* data, std::size_t size, const std::string& name, std::int64_t max_pixels,
                       const char* op) {
    RawImage out;
    out.info = info_from_memory(data, size, name, op);
    const auto& info = out.info;
    const std::int64_t pixels = checked_mul(info.width, info.height, name);
    FBSEG_CHECK(pixels <= max_pixels, op, ": '", name, "' is ", info.width, " x ", info.height, " = ", pixels,
                " pixels, more than the ", max_pixels, " accepted (ImageReadOptions::max_pixels)");
    const std::int64_t count = checked_mul(pixels, info.channels, name);
    if (info.format == "PNG") check_png_chunks(data, size, name, op);
    int w = 0, h = 0, c = 0;
    if (info.is_16bit) {
        std::unique_ptr<stbi_us, StbFree> p(stbi_load_16_from_memory(data, int(size), &w, &h, &c, 0));
        FBSEG_CHECK(p != nullptr, op, ": cannot decode '", name, "' (", info.format, ", 16-bit): the file is corrupt ",
                    "or truncated (stb_image: ", stb_reason(), ")");
        FBSEG_CHECK(w == info.width && h == info.height && c == info.channels, op, ": '", name, "' decoded to ", w,
                    " x ", h, " x ", c, " but its header says ", info.width, " x ", info.height, " x ", info.channels);
        out.samples.assign(p.get(), p.get() + count);
    } else {
        std::unique_ptr<stbi_uc, StbFree> p(stbi_load_from_memory(data, int(size), &w, &h, &c, 0));
        FBSEG_CHECK(p != nullptr, op, ": cannot decode '", name, "' (", info.format, "): the file is corrupt or ",
                    "truncated (stb_image: ", stb_reason(), ")");
        FBSEG_CHECK(w == info.width && h == info.height && c == info.channels, op, ": '", name, "' decoded to ", w,
                    " x ", h, " x ", c, " but its header says ", info.width, " x ", info.height, " x ", info.channels);
        out.samples.assign(p.get(), p.get() + count);
    }
    return out;
}

/// Float32 [C, H, W] in [0, 1] from stored samples (grey or kept channels; top of file).
inline Tensor to_float_image(const RawImage& raw, bool keep_channels) {
    const auto& info = raw.info;
    const std::int64_t h = info.height, w = info.width, n = h * w, c = info.channels;
    const double scale = info.is_16bit ? 65535.0 : 255.0;
    const std::uint16_t* s = raw.samples.data();
    if (keep_channels) {
        Tensor out = Tensor::empty({c, h, w}, DType::Float32);
        float* o = out.data_ptr<float>();
        for (std::int64_t ch = 0; ch < c; ++ch)
            for (std::int64_t i = 0; i < n; ++i) o[ch * n + i] = float(double(s[i * c + ch]) / scale);
        return out;
    }
    Tensor out = Tensor::empty({1, h, w}, DType::Float32);
    float* o = out.data_ptr<float>();
    for (std::int64_t i = 0; i < n; ++i) {
        const std::uint16_t* px = s + i * c;
        const double y = c >= 3 ? 0.299 * px[0] + 0.587 * px[1] + 0.114 * px[2] : double(px[0]);
        o[i] = float(std::min(y / scale, 1.0));
    }
    return out;
}

/// Stored mask values int64 [H, W] (top of file: grey, or RGB with equal channels).
inline Tensor to_mask_values(const RawImage& raw, const std::string& name) {
    const auto& info = raw.info;
    const std::int64_t h = info.height, w = info.width, c = info.channels;
    FBSEG_CHECK(info.png_color_type != 3, "read_mask_values: the mask '", name, "' is a palette PNG: stb_image ",
                "gives its colours, not its palette indices; save the mask as 8- or 16-bit grey with the class ",
                "values stored directly");
    // stb scales 1-, 2- and 4-bit grey samples up to 8 bits (by 255, 85, 17): undo it, so that the
    // stored integers come back.
    const int low = info.png_color_type == 0 || info.png_color_type == 4 ? info.png_bit_depth : 8;
    const std::uint16_t unscale = low == 1 ? 255 : low == 2 ? 85 : low == 4 ? 17 : 1;
    Tensor out = Tensor::empty({h, w}, DType::Int64);
    std::int64_t* o = out.data_ptr<std::int64_t>();
    const std::uint16_t* s = raw.samples.data();
    for (std::int64_t i = 0; i < h * w; ++i) {
        const std::uint16_t* px = s + i * c;
        if (c >= 3 && (px[0] != px[1] || px[0] != px[2])) [[unlikely]]
            FBSEG_FAIL("read_mask_values: the mask '", name, "' is ", c == 3 ? "RGB" : "RGBA",
                       " with channels that differ at (row ", i / w, ", column ", i % w, "): R=", px[0], " G=", px[1],
                       " B=", px[2], "; expected a grey mask (or RGB with R = G = B): a colour-coded mask needs ",
                       "converting to class values first");
        o[i] = px[0] / unscale;
    }
    return out;
}

inline std::string temporary_name(const std::string& path) {
    static std::atomic<std::uint64_t> counter{0};
    return path + ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(counter.fetch_add(1));
}

/// Writes `bytes` to `path` atomically (top of file).
inline void write_file_atomically(const std::string& path, const std::string& bytes, const char* op) {
    const std::string tmp = temporary_name(path);
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    FBSEG_CHECK(fd >= 0, op, ": cannot create '", tmp, "' (beside '", path, "'): ", std::strerror(errno));
    std::size_t done = 0;
    while (done < bytes.size()) {
        const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            const int err = errno;
            ::close(fd);
            ::unlink(tmp.c_str());
            FBSEG_FAIL(op, ": cannot write '", tmp, "': ", std::strerror(err));
        }
        done += std::size_t(n);
    }
    if (::fsync(fd) != 0 || ::close(fd) != 0) {
        const int err = errno;
        ::unlink(tmp.c_str());
        FBSEG_FAIL(op, ": cannot flush '", tmp, "' to disk: ", std::strerror(err));
    }
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
        const int err = errno;
        ::unlink(tmp.c_str());
        FBSEG_FAIL(op, ": cannot rename '", tmp, "' to '", path, "': ", std::strerror(err));
    }
    const std::filesystem::path dir = std::filesystem::path(path).parent_path();
    const int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        ::fsync(dfd);
        ::close(dfd);
    }
}

/// Encodes interleaved 8-bit samples (h rows of w pixels of `channels` samples) as PNG bytes;
/// `what` names the image in errors.
inline std::string encode_png(const std::vector<std::uint8_t>& pixels, std::int64_t h, std::int64_t w, int channels,
                              const std::string& what, const char* op) {
    FBSEG_CHECK(h > 0 && w > 0 && h <= INT_MAX / 4 && w <= INT_MAX / 4 / channels, op, ": '", what, "': cannot ",
                "write an image of ", h, " x ", w, " pixels (expected positive sizes within stb_image_write's range)");
    FBSEG_CHECK(pixels.size() == std::size_t(h * w * channels), op, ": '", what, "': ", pixels.size(),
                " samples for ", h, " x ", w, " x ", channels);
    std::string png;
    auto append = [](void* context, void* data, int size) {
        static_cast<std::string*>(context)->append(static_cast<const char*>(data), std::size_t(size));
    };
    const int ok = stbi_write_png_to_func(append, &png, int(w), int(h), channels, pixels.data(), int(w) * channels);
    FBSEG_CHECK(ok != 0 && !png.empty(), op, ": stb_image_write could not encode '", what, "' as PNG");
    return png;
}

/// Encodes interleaved 8-bit samples as PNG and writes them atomically.
inline void write_png_bytes(const std::string& path, const std::vector<std::uint8_t>& pixels, std::int64_t h,
                            std::int64_t w, int channels, const char* op) {
    write_file_atomically(path, encode_png(pixels, h, w, channels, path, op), op);
}

/// Reads element (i, j) / (c, i, j) of a CPU tensor of any strides.
template <typename T>
T element(const Tensor& t, std::initializer_list<std::int64_t> index) {
    const T* base = t.data_ptr<T>();
    std::int64_t off = 0, d = 0;
    for (auto i : index) off += i * t.strides()[std::size_t(d++)];
    return base[off];
}

}  // namespace image_io_detail

/// The header of an image file (stbi_info): size, channels, bit depth, without decoding pixels
/// (stb reads only as far into the file as the header needs).
inline ImageInfo read_image_info(const std::string& path) {
    std::error_code ec;
    FBSEG_CHECK(std::filesystem::is_regular_file(path, ec), "read_image_info: '", path, "' is not a readable file (",
                std::filesystem::exists(path, ec) ? "not a regular file" : "it does not exist", ")");
    std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
    FBSEG_CHECK(f != nullptr, "read_image_info: cannot open '", path, "': ", std::strerror(errno));
    std::uint8_t head[8] = {};
    const std::size_t got = std::fread(head, 1, sizeof head, f.get());
    ImageInfo info;
    info.format = image_io_detail::sniff(head, got);
    FBSEG_CHECK(!info.format.empty(), "read_image_info: '", path, "' is not a PNG, JPEG or BMP file (its first ",
                "bytes match none of their signatures)");
    std::rewind(f.get());
    int w = 0, h = 0, c = 0;
    FBSEG_CHECK(stbi_info_from_file(f.get(), &w, &h, &c) == 1, "read_image_info: '", path, "' is not a readable ",
                info.format, " file: its header is corrupt or truncated (stb_image: ", image_io_detail::stb_reason(), ")");
    FBSEG_CHECK(w > 0 && h > 0 && c >= 1 && c <= 4, "read_image_info: '", path, "': the header says ", w, " x ", h,
                " with ", c, " channels, expected positive sizes and 1..4 channels");
    info.width = w;
    info.height = h;
    info.channels = c;
    info.is_16bit = stbi_is_16_bit_from_file(f.get()) == 1;
    return info;
}

/// Decodes an in-memory PNG/JPEG/BMP file (the fuzzer's entry); `name` names it in errors.
inline Tensor read_image_from_memory(const std::uint8_t* data, std::size_t size, const std::string& name,
                                     const ImageReadOptions& options = {}) {
    const RawImage raw = image_io_detail::decode(data, size, name, options.max_pixels, "read_image");
    return image_io_detail::to_float_image(raw, options.keep_channels);
}
inline Tensor read_image_from_memory(const std::vector<std::uint8_t>& bytes, const std::string& name,
                                     const ImageReadOptions& options = {}) {
    return read_image_from_memory(bytes.data(), bytes.size(), name, options);
}

/// float32 [C, H, W] in [0, 1] from a PNG, JPEG or BMP file (top of file).
inline Tensor read_image(const std::string& path, const ImageReadOptions& options = {}) {
    const auto bytes = image_io_detail::read_file_bytes(path, options.max_file_bytes, "read_image");
    return read_image_from_memory(bytes, path, options);
}

/// The integers stored in a mask file, int64 [H, W], unscaled (top of file).
inline Tensor read_mask_values_from_memory(const std::uint8_t* data, std::size_t size, const std::string& name,
                                           const ImageReadOptions& options = {}) {
    const RawImage raw = image_io_detail::decode(data, size, name, options.max_pixels, "read_mask_values");
    return image_io_detail::to_mask_values(raw, name);
}
inline Tensor read_mask_values(const std::string& path, const ImageReadOptions& options = {}) {
    const auto bytes = image_io_detail::read_file_bytes(path, options.max_file_bytes, "read_mask_values");
    return read_mask_values_from_memory(bytes.data(), bytes.size(), path, options);
}

/// Class indices int64 [H, W] from a mask file, by `labels` (data/labels.hpp).
inline Tensor read_label_png(const std::string& path, const LabelSet& labels = LabelSet::binary_mask(),
                             const ImageReadOptions& options = {}) {
    return to_class_indices(read_mask_values(path, options), labels, path);
}

/// Writes class indices int64 [H, W] as an 8-bit grey PNG: binary 0/1 -> 0/255, a declared set
/// its values. A value outside the set is an error.
inline void write_png_mask(const std::string& path, const Tensor& label, const LabelSet& labels = LabelSet::binary_mask()) {
    FBSEG_CHECK(label.defined() && label.dtype() == DType::Int64 && label.dim() == 2 && label.device().is_cpu(),
                "write_png_mask: '", path, "': expected an int64 [H, W] CPU label map but got ", label.describe());
    const std::int64_t h = label.shape()[0], w = label.shape()[1];
    const std::int64_t k = labels.binary ? 2 : validated_label_set(labels, path).num_classes();
    FBSEG_CHECK(k <= 256, "write_png_mask: '", path, "': ", k, " classes do not fit in an 8-bit PNG (at most 256)");
    std::vector<std::uint8_t> px(std::size_t(checked_mul(h, w, path)));
    for (std::int64_t i = 0; i < h; ++i)
        for (std::int64_t j = 0; j < w; ++j) {
            const auto v = image_io_detail::element<std::int64_t>(label, {i, j});
            FBSEG_CHECK(v >= 0 && v < k, "write_png_mask: '", path, "': the class ", v, " at (row ", i, ", column ", j,
                        ") is not in the label set ", labels_detail::describe(labels));
            px[std::size_t(i * w + j)] = std::uint8_t(labels.binary ? v * 255 : v);
        }
    image_io_detail::write_png_bytes(path, px, h, w, 1, "write_png_mask");
}

/// Writes a float32 [C, H, W] image (C = 1, 3 or 4) with values in [0, 1] as an 8-bit PNG:
/// round(255 * clamp(v, 0, 1)). NaN is an error.
inline void write_png_image(const std::string& path, const Tensor& image) {
    FBSEG_CHECK(image.defined() && image.dtype() == DType::Float32 && image.dim() == 3 && image.device().is_cpu(),
                "write_png_image: '", path, "': expected a float32 [C, H, W] CPU image but got ", image.describe());
    const std::int64_t c = image.shape()[0], h = image.shape()[1], w = image.shape()[2];
    FBSEG_CHECK(c == 1 || c == 3 || c == 4, "write_png_image: '", path, "': expected 1, 3 or 4 channels but got ", c);
    std::vector<std::uint8_t> px(std::size_t(checked_mul(checked_mul(h, w, path), c, path)));
    for (std::int64_t ch = 0; ch < c; ++ch)
        for (std::int64_t i = 0; i < h; ++i)
            for (std::int64_t j = 0; j < w; ++j) {
                const float v = image_io_detail::element<float>(image, {ch, i, j});
                FBSEG_CHECK(!std::isnan(v), "write_png_image: '", path, "': the value at (channel ", ch, ", row ", i,
                            ", column ", j, ") is NaN");
                px[std::size_t((i * w + j) * c + ch)] = std::uint8_t(std::lround(std::clamp(v, 0.0f, 1.0f) * 255.0f));
            }
    image_io_detail::write_png_bytes(path, px, h, w, int(c), "write_png_image");
}

/// The overlay palette: class k >= 1 gets kOverlayPalette[(k - 1) % 8] (R, G, B); class 0 none.
inline constexpr std::array<std::array<std::uint8_t, 3>, 8> kOverlayPalette = {{
    {230, 25, 75},    // 1 red
    {60, 180, 75},    // 2 green
    {0, 130, 200},    // 3 blue
    {255, 225, 25},   // 4 yellow
    {245, 130, 48},   // 5 orange
    {145, 30, 180},   // 6 purple
    {70, 240, 240},   // 7 cyan
    {240, 50, 230},   // 8 magenta
}};

/// Writes the image (float32 [1, H, W] grey, or [3, H, W] RGB, values in [0, 1]) as an RGB PNG
/// with each pixel of class k >= 1 blended with its palette colour:
///     out = round((1 - alpha) * 255 * clamp(v, 0, 1) + alpha * colour),   alpha in [0, 1].
inline void write_overlay(const std::string& path, const Tensor& image, const Tensor& label, double alpha = 0.4) {
    FBSEG_CHECK(image.defined() && image.dtype() == DType::Float32 && image.dim() == 3 && image.device().is_cpu() &&
                    (image.shape()[0] == 1 || image.shape()[0] == 3),
                "write_overlay: '", path, "': expected a float32 [1 or 3, H, W] CPU image but got ", image.describe());
    FBSEG_CHECK(label.defined() && label.dtype() == DType::Int64 && label.dim() == 2 && label.device().is_cpu(),
                "write_overlay: '", path, "': expected an int64 [H, W] CPU label map but got ", label.describe());
    const std::int64_t c = image.shape()[0], h = image.shape()[1], w = image.shape()[2];
    FBSEG_CHECK(label.shape()[0] == h && label.shape()[1] == w, "write_overlay: '", path, "': the image is ", h,
                " x ", w, " but the label map is ", label.shape()[0], " x ", label.shape()[1]);
    FBSEG_CHECK(alpha >= 0.0 && alpha <= 1.0, "write_overlay: '", path, "': alpha must be in [0, 1] but got ", alpha);
    std::vector<std::uint8_t> px(std::size_t(checked_mul(checked_mul(h, w, path), 3, path)));
    for (std::int64_t i = 0; i < h; ++i)
        for (std::int64_t j = 0; j < w; ++j) {
            const auto k = image_io_detail::element<std::int64_t>(label, {i, j});
            FBSEG_CHECK(k >= 0, "write_overlay: '", path, "': negative class ", k, " at (row ", i, ", column ", j, ")");
            for (std::int64_t ch = 0; ch < 3; ++ch) {
                const float v = image_io_detail::element<float>(image, {c == 1 ? 0 : ch, i, j});
                FBSEG_CHECK(!std::isnan(v), "write_overlay: '", path, "': the image is NaN at (row ", i, ", column ",
                            j, ")");
                double out = 255.0 * double(std::clamp(v, 0.0f, 1.0f));
                if (k > 0) out = (1.0 - alpha) * out + alpha * kOverlayPalette[std::size_t((k - 1) % 8)][std::size_t(ch)];
                px[std::size_t((i * w + j) * 3 + ch)] = std::uint8_t(std::lround(out));
            }
        }
    image_io_detail::write_png_bytes(path, px, h, w, 3, "write_overlay");
}

}  // namespace fbseg::data
