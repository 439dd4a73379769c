// fbseg/io/safetensors.hpp - reading and writing .safetensors files, the format PyTorch, smp and
// Hugging Face use to exchange tensors (https://github.com/huggingface/safetensors).
//
// The format, byte by byte:
//
//   bytes [0, 8)        N, the length of the header: unsigned 64-bit little-endian
//   bytes [8, 8 + N)    a UTF-8 JSON object, padded at the end with spaces:
//                         {"__metadata__": {"<str>": "<str>", ...},              (optional)
//                          "<name>": {"dtype": "F32", "shape": [2, 3], "data_offsets": [b, e]}, ...}
//   bytes [8 + N, end)  the byte buffer: tensor <name> is bytes [b, e) of it, row-major, little-endian
//
// Reading checks everything before a single tensor byte is used, following the rules of the
// safetensors project's own reader (its `Metadata::validate`):
//   - the file holds at least the 8 length bytes; N is at most kMaxHeaderBytes and N bytes follow;
//   - the header is valid UTF-8 JSON, an object that starts with '{', without duplicate names;
//   - each entry names a known dtype, a shape of non-negative integers whose element count (checked
//     for overflow) times the dtype's size equals e - b;
//   - sorted by offset, the entries tile the buffer exactly: the first starts at 0, each starts where
//     the previous ended, the last ends at the end of the file (no gap, no overlap, nothing after);
//   - "__metadata__", when present, maps strings to strings.
// Every failure is an fbseg::Error that names the file, and the tensor when one is at fault.
//
// Reading dtypes F32, F64, F16, BF16, I64, I32, U8 and BOOL: get(key) returns F32/F64/I64/U8/BOOL
// as they are, F16 and BF16 as float32 (exactly: every half value is a float) and I32 as int64;
// get(key, dtype) converts to any dtype on top (as torch's .to). Files of kMapThresholdBytes and
// more are memory-mapped (read-only), so opening a 300 MB model costs no copy of the whole file;
// smaller ones are read into memory. A reader can also parse bytes already in memory (the fuzzer).
//
// Writing (save_safetensors) takes float32, float64, int64, uint8 and bool tensors from any device,
// pads the header with spaces to a multiple of 8 bytes (so every tensor is 8-byte aligned in a
// mapped file) and replaces the destination atomically: it writes `<path>.tmp-<pid>-<n>`, flushes
// it to disk (fsync), renames it over `path` and syncs the directory. A crash at any point leaves
// either the old file or the new one, never half of one.
#pragma once

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>
#include <memory>
#include <set>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>  // JSON in the declarations; <nlohmann/json.hpp> to build a value

#include "fbseg/core/tensor.hpp"
#include "fbseg/nn/module.hpp"
#include "fbseg/ops/copy.hpp"
#include "fbseg/data/data_library.hpp"

#if FBSEG_DATA_DEFINITIONS
#include <nlohmann/json.hpp>  // the definitions parse and write JSON
#endif

namespace fbseg::io {

static_assert(std::endian::native == std::endian::little, "the safetensors reader assumes a little-endian host");

/// The "__metadata__" table: string keys to string values.
using Metadata = std::map<std::string, std::string>;

/// The safetensors project's own limit on the JSON header (100 MB).
inline constexpr std::uint64_t kMaxHeaderBytes = 100'000'000;
/// Files at least this large are memory-mapped instead of read.
inline constexpr std::uint64_t kMapThresholdBytes = 1u << 20;

namespace safetensors_detail {

/// A file's dtype code ("F32") and what fbseg keeps it as by default.
struct FileDType {
    std::string_view code;
    std::size_t bytes;  // element size in the file
    DType loads_as;     // the dtype get(key) returns
};
inline constexpr FileDType kFileDTypes[] = {
    {"F32", 4, DType::Float32}, {"F64", 8, DType::Float64},  {"F16", 2, DType::Float32},
    {"BF16", 2, DType::Float32}, {"I64", 8, DType::Int64},   {"I32", 4, DType::Int64},
    {"U8", 1, DType::UInt8},     {"BOOL", 1, DType::Bool},
};

inline const FileDType* find_file_dtype(std::string_view code) {
    for (const auto& d : kFileDTypes)
        if (d.code == code) return &d;
    return nullptr;
}

/// The code save_safetensors writes for a tensor of `dtype`, or "" when it cannot write it.
inline std::string_view code_for(DType dtype) {
    switch (dtype) {
        case DType::Float32: return "F32";
        case DType::Float64: return "F64";
        case DType::Int64: return "I64";
        case DType::UInt8: return "U8";
        case DType::Bool: return "BOOL";
        default: return "";
    }
}

/// IEEE 754 binary16 -> binary32, exactly (normals, subnormals, zeros, infinities and NaNs).
///   value = (-1)^s * 2^(e - 15) * 1.m   for 0 < e < 31
///         = (-1)^s * 2^-14 * 0.m        for e = 0 (subnormal)
inline float half_to_float(std::uint16_t h) {
    const std::uint32_t sign = std::uint32_t(h & 0x8000u) << 16;
    std::uint32_t exponent = (h >> 10) & 0x1Fu;
    std::uint32_t mantissa = h & 0x3FFu;
    std::uint32_t bits;
    if (exponent == 0x1F) {
        bits = sign | 0x7F800000u | (mantissa << 13);  // inf or NaN (payload kept)
    } else if (exponent != 0) {
        bits = sign | ((exponent + 127 - 15) << 23) | (mantissa << 13);
    } else if (mantissa == 0) {
        bits = sign;  // +-0
    } else {           // subnormal: shift the mantissa up until its leading 1 is the implicit bit
        exponent = 127 - 15 + 1;
        while ((mantissa & 0x400u) == 0) {
            mantissa <<= 1;
            --exponent;
        }
        bits = sign | (exponent << 23) | ((mantissa & 0x3FFu) << 13);
    }
    return std::bit_cast<float>(bits);
}

/// bfloat16 is the top half of a float32.
inline float bfloat16_to_float(std::uint16_t b) { return std::bit_cast<float>(std::uint32_t(b) << 16); }

/// The bytes of a file: memory-mapped, or read into a vector.
class FileBytes {
public:
    explicit FileBytes(const std::string& path) {
        const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        FBSEG_CHECK(fd >= 0, "safetensors: cannot open '", path, "': ", std::strerror(errno));
        struct Closer {
            int fd;
            ~Closer() { ::close(fd); }
        } closer{fd};
        struct stat st {};
        FBSEG_CHECK(::fstat(fd, &st) == 0, "safetensors: cannot stat '", path, "': ", std::strerror(errno));
        FBSEG_CHECK(S_ISREG(st.st_mode), "safetensors: '", path, "' is not a regular file");
        size_ = std::size_t(st.st_size);
        if (size_ >= kMapThresholdBytes) {
            void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
            FBSEG_CHECK(p != MAP_FAILED, "safetensors: cannot map '", path, "' (", size_, " bytes): ",
                        std::strerror(errno));
            mapped_ = p;
            return;
        }
        copy_.resize(size_);
        std::size_t done = 0;
        while (done < size_) {
            const ssize_t n = ::read(fd, copy_.data() + done, size_ - done);
            if (n < 0 && errno == EINTR) continue;
            FBSEG_CHECK(n > 0, "safetensors: cannot read '", path, "': ",
                        n == 0 ? "the file shrank while being read" : std::strerror(errno));
            done += std::size_t(n);
        }
    }
    explicit FileBytes(std::vector<std::uint8_t> bytes) : copy_(std::move(bytes)), size_(copy_.size()) {}
    ~FileBytes() {
        if (mapped_) ::munmap(mapped_, size_);
    }
    FileBytes(const FileBytes&) = delete;
    FileBytes& operator=(const FileBytes&) = delete;

    std::span<const std::uint8_t> bytes() const {
        return {mapped_ ? static_cast<const std::uint8_t*>(mapped_) : copy_.data(), size_};
    }
    bool is_mapped() const { return mapped_ != nullptr; }

private:
    void* mapped_ = nullptr;
    std::vector<std::uint8_t> copy_;
    std::size_t size_ = 0;
};

/// Strict UTF-8 check (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF).
inline bool is_valid_utf8(std::span<const std::uint8_t> s) {
    std::size_t i = 0;
    while (i < s.size()) {
        const std::uint8_t c = s[i];
        std::size_t extra;
        std::uint32_t code;
        if (c < 0x80) {
            ++i;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            extra = 1, code = c & 0x1Fu;
        } else if ((c & 0xF0) == 0xE0) {
            extra = 2, code = c & 0x0Fu;
        } else if ((c & 0xF8) == 0xF0) {
            extra = 3, code = c & 0x07u;
        } else {
            return false;
        }
        if (i + extra >= s.size()) return false;  // the sequence runs past the end
        for (std::size_t k = 1; k <= extra; ++k) {
            if ((s[i + k] & 0xC0) != 0x80) return false;
            code = (code << 6) | (s[i + k] & 0x3Fu);
        }
        const std::uint32_t smallest[4] = {0, 0x80, 0x800, 0x10000};
        if (code < smallest[extra] || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) return false;
        i += extra + 1;
    }
    return true;
}

}  // namespace safetensors_detail

/// One tensor's entry in a file's header.
struct SafetensorsEntry {
    std::string name;
    std::string dtype;  // the file's code: "F32", "BF16", ...
    Shape shape;
    std::uint64_t begin = 0, end = 0;  // byte range within the buffer after the header
};

/// A checked, open .safetensors file. Construction validates the whole header (see the top of
/// this file); get() then copies one tensor out. Cheap to keep open: a mapped file costs address
/// space, not memory.
class SafetensorsReader {
public:
    explicit SafetensorsReader(const std::string& path)
        : path_(path), bytes_(std::make_shared<safetensors_detail::FileBytes>(path)) {
        parse();
    }

    /// Parses bytes already in memory; `name` stands for the file in messages.
    static SafetensorsReader from_bytes(std::vector<std::uint8_t> bytes, std::string name = "<memory>") {
        return SafetensorsReader(std::move(name), std::make_shared<safetensors_detail::FileBytes>(std::move(bytes)));
    }

    const std::string& path() const { return path_; }
    bool is_mapped() const { return bytes_->is_mapped(); }

    /// The tensor names in the order of their bytes in the file.
    std::vector<std::string> keys() const {
        std::vector<std::string> out;
        for (const auto& e : entries_) out.push_back(e.name);
        return out;
    }
    std::size_t size() const { return entries_.size(); }
    bool contains(const std::string& key) const { return index_.count(key) != 0; }
    const SafetensorsEntry& entry(const std::string& key) const { return entries_[find(key)]; }
    Shape shape(const std::string& key) const { return entry(key).shape; }

    const Metadata& metadata() const { return metadata_; }
    bool has_metadata(const std::string& name) const { return metadata_.count(name) != 0; }
    /// A value of "__metadata__"; throws naming the file when it is absent.
    const std::string& metadata(const std::string& name) const {
        const auto it = metadata_.find(name);
        FBSEG_CHECK(it != metadata_.end(), "safetensors: '", path_, "' has no metadata entry '", name, "'");
        return it->second;
    }

    /// The tensor `key` as a new contiguous CPU tensor (F16/BF16 -> float32, I32 -> int64).
    Tensor get(const std::string& key) const {
        const SafetensorsEntry& e = entry(key);
        const auto* file_dtype = safetensors_detail::find_file_dtype(e.dtype);
        Tensor out = Tensor::empty(e.shape, TensorOptions(file_dtype->loads_as));
        const std::uint8_t* src = bytes_->bytes().data() + data_begin_ + e.begin;
        const std::int64_t n = out.numel();
        if (e.dtype == "F16" || e.dtype == "BF16") {
            float* dst = out.data_ptr<float>();
            const bool half = e.dtype == "F16";
            for (std::int64_t i = 0; i < n; ++i) {
                std::uint16_t bits;
                std::memcpy(&bits, src + 2 * i, 2);
                dst[i] = half ? safetensors_detail::half_to_float(bits) : safetensors_detail::bfloat16_to_float(bits);
            }
        } else if (e.dtype == "I32") {
            auto* dst = out.data_ptr<std::int64_t>();
            for (std::int64_t i = 0; i < n; ++i) {
                std::int32_t v;
                std::memcpy(&v, src + 4 * i, 4);
                dst[i] = v;
            }
        } else {
            if (e.end > e.begin) std::memcpy(out.raw_data(), src, e.end - e.begin);
            if (e.dtype == "BOOL") {
                const auto* p = static_cast<const std::uint8_t*>(out.raw_data());
                for (std::int64_t i = 0; i < n; ++i)
                    FBSEG_CHECK(p[i] <= 1, "safetensors: '", path_, "': tensor '", key, "' is BOOL but element ", i,
                                " holds the byte ", int(p[i]), " (a bool is 0 or 1)");
            }
        }
        return out;
    }

    /// The tensor `key` converted to `dtype` (as torch's .to(dtype)).
    Tensor get(const std::string& key, DType dtype) const {
        Tensor t = get(key);
        return t.dtype() == dtype ? t : t.to(dtype);
    }

private:
    SafetensorsReader(std::string name, std::shared_ptr<safetensors_detail::FileBytes> bytes)
        : path_(std::move(name)), bytes_(std::move(bytes)) {
        parse();
    }

    std::size_t find(const std::string& key) const {
        const auto it = index_.find(key);
        FBSEG_CHECK(it != index_.end(), "safetensors: '", path_, "' has no tensor '", key, "' (", entries_.size(),
                    " tensors in the file)");
        return it->second;
    }

    void parse();

    SafetensorsEntry read_entry(const std::string& key, const nlohmann::json& value) const;

    void read_metadata(const nlohmann::json& value);

    std::string path_;
    std::shared_ptr<safetensors_detail::FileBytes> bytes_;
    std::size_t data_begin_ = 0;
    std::vector<SafetensorsEntry> entries_;  // sorted by offset
    std::map<std::string, std::size_t> index_;
    Metadata metadata_;
};

#if FBSEG_DATA_DEFINITIONS
FBSEG_DATA void SafetensorsReader::parse() {
    const std::span<const std::uint8_t> all = bytes_->bytes();
    const std::string file = "safetensors: '" + path_ + "'";
    FBSEG_CHECK(all.size() >= 8, file, " has ", all.size(),
                " bytes, fewer than the 8 that hold the header length (truncated, or not a safetensors file)");
    std::uint64_t header_len = 0;
    std::memcpy(&header_len, all.data(), 8);
    FBSEG_CHECK(header_len <= kMaxHeaderBytes, file, " declares a header of ", header_len,
                " bytes, more than the limit of ", kMaxHeaderBytes, " (corrupt, or not a safetensors file)");
    FBSEG_CHECK(header_len <= all.size() - 8, file, " declares a header of ", header_len, " bytes but only ",
                all.size() - 8, " bytes follow the length (truncated file)");
    data_begin_ = 8 + std::size_t(header_len);
    const std::span<const std::uint8_t> text = all.subspan(8, std::size_t(header_len));
    FBSEG_CHECK(!text.empty() && text[0] == '{', file, ": the header does not start with '{'");
    FBSEG_CHECK(safetensors_detail::is_valid_utf8(text), file, ": the header is not valid UTF-8");

    // Names at depth 1 of the object, to refuse duplicates (a JSON parser keeps the last one).
    std::set<std::string> seen;
    std::string duplicate;
    const nlohmann::json::parser_callback_t spot_duplicates = [&](int depth, nlohmann::json::parse_event_t event,
                                                                  nlohmann::json& parsed) {
        if (event == nlohmann::json::parse_event_t::key && depth == 1 && parsed.is_string() &&
            !seen.insert(parsed.get<std::string>()).second && duplicate.empty())
            duplicate = parsed.get<std::string>();
        return true;
    };
    nlohmann::json header;
    try {
        header = nlohmann::json::parse(text.begin(), text.end(), spot_duplicates);
    } catch (const nlohmann::json::exception& e) {
        FBSEG_FAIL(file, ": the header is not valid JSON: ", e.what());
    }
    FBSEG_CHECK(header.is_object(), file, ": the header is not a JSON object");
    FBSEG_CHECK(duplicate.empty(), file, ": the header names '", duplicate, "' twice");

    for (const auto& [key, value] : header.items()) {
        if (key == "__metadata__") read_metadata(value);
        else entries_.push_back(read_entry(key, value));
    }

    // The entries must tile the buffer: sorted by offset, each starts where the last ended.
    std::sort(entries_.begin(), entries_.end(), [](const SafetensorsEntry& a, const SafetensorsEntry& b) {
        return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
    });
    std::uint64_t expected_begin = 0;
    for (const auto& e : entries_) {
        FBSEG_CHECK(e.begin == expected_begin, file, ": tensor '", e.name, "' has data_offsets [", e.begin, ", ",
                    e.end, "] but the previous tensor ends at ", expected_begin,
                    e.begin < expected_begin ? " (overlapping tensors)" : " (a gap in the buffer)");
        expected_begin = e.end;
    }
    const std::uint64_t buffer = all.size() - data_begin_;
    FBSEG_CHECK(expected_begin == buffer, file, ": the tensors cover ", expected_begin, " bytes but the buffer after the header has ",
                buffer, expected_begin < buffer ? " (trailing bytes)" : " (truncated file)");
    for (std::size_t i = 0; i < entries_.size(); ++i) index_.emplace(entries_[i].name, i);
}

FBSEG_DATA SafetensorsEntry SafetensorsReader::read_entry(const std::string& key, const nlohmann::json& value) const {
    const std::string where = "safetensors: '" + path_ + "': tensor '" + key + "'";
    FBSEG_CHECK(value.is_object(), where, ": expected an object with dtype, shape and data_offsets");
    FBSEG_CHECK(value.contains("dtype") && value["dtype"].is_string(), where, ": missing or non-string \"dtype\"");
    FBSEG_CHECK(value.contains("shape") && value["shape"].is_array(), where, ": missing or non-array \"shape\"");
    FBSEG_CHECK(
        value.contains("data_offsets") && value["data_offsets"].is_array() && value["data_offsets"].size() == 2,
        where, ": \"data_offsets\" must be an array [begin, end]");
    for (const auto& [field, v] : value.items())
        FBSEG_CHECK(field == "dtype" || field == "shape" || field == "data_offsets", where, ": unknown field \"",
                    field, "\"");

    SafetensorsEntry e;
    e.name = key;
    e.dtype = value["dtype"].get<std::string>();
    const auto* file_dtype = safetensors_detail::find_file_dtype(e.dtype);
    FBSEG_CHECK(file_dtype != nullptr, where, ": dtype \"", e.dtype,
                "\" is not supported (fbseg reads F32, F64, F16, BF16, I64, I32, U8 and BOOL)");

    std::uint64_t numel = 1;
    for (const auto& d : value["shape"]) {
        FBSEG_CHECK(d.is_number_unsigned(), where, ": shape ", value["shape"].dump(),
                    " must hold non-negative integers");
        FBSEG_CHECK(!__builtin_mul_overflow(numel, d.get<std::uint64_t>(), &numel) &&
                        numel <= std::uint64_t(std::numeric_limits<std::int64_t>::max()),
                    where, ": shape ", value["shape"].dump(), " has more elements than 63 bits can count (overflow)");
        e.shape.push_back(std::int64_t(d.get<std::uint64_t>()));
    }
    const auto& offsets = value["data_offsets"];
    FBSEG_CHECK(offsets[0].is_number_unsigned() && offsets[1].is_number_unsigned(), where, ": data_offsets ",
                offsets.dump(), " must be non-negative integers");
    e.begin = offsets[0].get<std::uint64_t>();
    e.end = offsets[1].get<std::uint64_t>();
    const std::uint64_t buffer = bytes_->bytes().size() - data_begin_;
    FBSEG_CHECK(e.begin <= e.end && e.end <= buffer, where, ": data_offsets [", e.begin, ", ", e.end,
                "] do not lie within the ", buffer, " bytes of the buffer");
    std::uint64_t needed = 0;
    FBSEG_CHECK(!__builtin_mul_overflow(numel, std::uint64_t(file_dtype->bytes), &needed), where, ": shape ",
                value["shape"].dump(), " needs more bytes than 64 bits can count (overflow)");
    FBSEG_CHECK(e.end - e.begin == needed, where, ": ", e.dtype, " ", shape_str(e.shape), " needs ", needed,
                " bytes but data_offsets [", e.begin, ", ", e.end, "] hold ", e.end - e.begin);
    return e;
}

FBSEG_DATA void SafetensorsReader::read_metadata(const nlohmann::json& value) {
    FBSEG_CHECK(value.is_object(), "safetensors: '", path_, "': \"__metadata__\" must be an object of strings");
    for (const auto& [name, v] : value.items()) {
        FBSEG_CHECK(v.is_string(), "safetensors: '", path_, "': metadata entry '", name, "' must be a string");
        metadata_.emplace(name, v.get<std::string>());
    }
}
#endif  // FBSEG_DATA_DEFINITIONS

// ---- declared here, defined below or in libfbseg (fbseg/data/data_library.hpp) ----
/// Every tensor of a file, in file order.
FBSEG_DATA nn::NamedTensors read_safetensors(const std::string& path);
/// Writes `tensors` (in this order) and `metadata` to `path`, atomically (see the top of this file).
/// On error nothing is left behind: the temporary file is removed and `path` is untouched.
FBSEG_DATA void save_safetensors(const std::string& path, const nn::NamedTensors& tensors,
                                 const Metadata& metadata = {});

#if FBSEG_DATA_DEFINITIONS
FBSEG_DATA nn::NamedTensors read_safetensors(const std::string& path) {
    SafetensorsReader reader(path);
    nn::NamedTensors out;
    for (const auto& key : reader.keys()) out.emplace_back(key, reader.get(key));
    return out;
}

namespace safetensors_detail {

/// Writes all of `data` to `fd`, naming `path` in the error.
inline void write_all(int fd, const void* data, std::size_t n, const std::string& path) {
    const auto* p = static_cast<const char*>(data);
    while (n > 0) {
        const ssize_t w = ::write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        FBSEG_CHECK(w > 0, "safetensors: cannot write '", path, "': ", std::strerror(errno));
        p += w;
        n -= std::size_t(w);
    }
}

/// The header bytes (length + JSON + space padding) for `tensors` in the given order.
inline std::string make_header(const nn::NamedTensors& tensors, const Metadata& metadata, const std::string& path) {
    nlohmann::ordered_json header = nlohmann::ordered_json::object();
    if (!metadata.empty()) header["__metadata__"] = metadata;
    std::set<std::string> names;
    std::uint64_t offset = 0;
    for (const auto& [name, t] : tensors) {
        const std::string where = "save_safetensors('" + path + "'): tensor '" + name + "'";
        FBSEG_CHECK(name != "__metadata__" && !name.empty(), where, ": that name is reserved or empty");
        FBSEG_CHECK(names.insert(name).second, where, ": the name appears twice");
        FBSEG_CHECK(t.defined(), where, ": undefined tensor");
        const std::string_view code = code_for(t.dtype());
        FBSEG_CHECK(!code.empty(), where, ": cannot write dtype ", dtype_name(t.dtype()),
                    " (fbseg writes float32, float64, int64, uint8 and bool)");
        const std::uint64_t bytes = std::uint64_t(t.numel()) * element_size(t.dtype());
        header[name] = {{"dtype", code}, {"shape", t.shape()}, {"data_offsets", {offset, offset + bytes}}};
        offset += bytes;
    }
    std::string json = header.dump();
    json.append((8 - json.size() % 8) % 8, ' ');  // pad so the buffer starts 8-byte aligned
    const std::uint64_t n = json.size();
    std::string out(8, '\0');
    std::memcpy(out.data(), &n, 8);
    return out + json;
}

/// A unique temporary name beside `path` (same directory, so rename() is atomic).
inline std::string temporary_name(const std::string& path) {
    static std::atomic<std::uint64_t> counter{0};
    return path + ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(counter.fetch_add(1));
}

}  // namespace safetensors_detail

FBSEG_DATA void save_safetensors(const std::string& path, const nn::NamedTensors& tensors, const Metadata& metadata) {
    namespace d = safetensors_detail;
    const std::string header = d::make_header(tensors, metadata, path);
    const std::string tmp = d::temporary_name(path);
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    FBSEG_CHECK(fd >= 0, "save_safetensors: cannot create '", tmp, "' (beside '", path, "'): ", std::strerror(errno));
    try {
        d::write_all(fd, header.data(), header.size(), tmp);
        for (const auto& [name, t] : tensors) {
            const Tensor host = t.detach().cpu().contiguous();
            if (host.numel() > 0)
                d::write_all(fd, host.raw_data(), std::size_t(host.numel()) * element_size(host.dtype()), tmp);
        }
        FBSEG_CHECK(::fsync(fd) == 0, "save_safetensors: cannot flush '", tmp, "' to disk: ", std::strerror(errno));
        FBSEG_CHECK(::close(fd) == 0, "save_safetensors: cannot close '", tmp, "': ", std::strerror(errno));
    } catch (...) {
        ::close(fd);
        ::unlink(tmp.c_str());
        throw;
    }
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
        const int err = errno;
        ::unlink(tmp.c_str());
        FBSEG_FAIL("save_safetensors: cannot rename '", tmp, "' to '", path, "': ", std::strerror(err));
    }
    // Make the rename itself durable: sync the directory entry.
    const std::filesystem::path dir = std::filesystem::path(path).parent_path();
    const int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        ::fsync(dfd);
        ::close(dfd);
    }
}
#endif  // FBSEG_DATA_DEFINITIONS

}  // namespace fbseg::io
