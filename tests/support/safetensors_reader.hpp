// tests/support/safetensors_reader.hpp - a small reader of .safetensors files for the tests
// (the PyTorch reference fixtures written by tools/make_op_fixtures.py). Test support only.
//
// The format (https://github.com/huggingface/safetensors):
//   bytes [0, 8)       N, the length of the header, unsigned 64-bit little-endian
//   bytes [8, 8 + N)   a JSON object: {"<key>": {"dtype": "F32", "shape": [2, 3],
//                      "data_offsets": [begin, end]}, ..., "__metadata__": {"<str>": "<str>"}}
//   bytes [8 + N, ..)  the data; a tensor's bytes are [begin, end) counted from here, row-major,
//                      little-endian
//
// Usage:
//   fbseg::test_support::SafetensorsFile file(FBSEG_FIXTURE_DIR "/ops.safetensors");
//   fbseg::Tensor x = file.get("relu.in0");          // a new contiguous CPU tensor
//   std::string v = file.metadata("torch_version");
// Every problem (unreadable file, bad header, missing key, bad offsets, unsupported dtype, size
// that does not match dtype and shape) throws fbseg::Error naming the file and the key.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "fbseg/fbseg.hpp"

namespace fbseg::test_support {

static_assert(std::endian::native == std::endian::little, "the safetensors reader assumes a little-endian host");

class SafetensorsFile {
public:
    /// Reads and checks the whole file (the fixtures are small).
    explicit SafetensorsFile(std::string path) : path_(std::move(path)) {
        std::ifstream in(path_, std::ios::binary);
        FBSEG_CHECK(in, "safetensors: cannot open '", path_, "'");
        bytes_.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
        FBSEG_CHECK(bytes_.size() >= 8, "safetensors: '", path_, "' has ", bytes_.size(),
                    " bytes, fewer than the 8 of the header length");

        std::uint64_t header_len = 0;
        std::memcpy(&header_len, bytes_.data(), 8);
        FBSEG_CHECK(header_len <= bytes_.size() - 8, "safetensors: '", path_, "' declares a header of ", header_len,
                    " bytes but only ", bytes_.size() - 8, " follow the length");
        data_begin_ = 8 + std::size_t(header_len);

        nlohmann::json header;
        try {
            header = nlohmann::json::parse(bytes_.begin() + 8, bytes_.begin() + std::ptrdiff_t(data_begin_));
        } catch (const nlohmann::json::exception& e) {
            FBSEG_FAIL("safetensors: '", path_, "': the header is not valid JSON: ", e.what());
        }
        FBSEG_CHECK(header.is_object(), "safetensors: '", path_, "': the header is not a JSON object");

        for (const auto& [key, value] : header.items()) {
            if (key == "__metadata__") {
                read_metadata(value);
                continue;
            }
            entries_.emplace(key, read_entry(key, value));
        }
    }

    const std::string& path() const { return path_; }

    bool contains(const std::string& key) const { return entries_.count(key) != 0; }

    /// The tensor names, sorted.
    std::vector<std::string> keys() const {
        std::vector<std::string> out;
        for (const auto& [key, entry] : entries_) out.push_back(key);
        return out;
    }

    /// The tensor stored under `key`, as a new contiguous CPU tensor (requires_grad false).
    Tensor get(const std::string& key) const {
        const auto it = entries_.find(key);
        FBSEG_CHECK(it != entries_.end(), "safetensors: '", path_, "' has no tensor '", key, "' (", entries_.size(),
                    " tensors in the file)");
        const Entry& e = it->second;
        Tensor t = Tensor::empty(e.shape, TensorOptions(e.dtype));
        if (e.end > e.begin) std::memcpy(t.raw_data(), bytes_.data() + data_begin_ + e.begin, e.end - e.begin);
        if (e.dtype == DType::Bool) {
            const auto* p = static_cast<const std::uint8_t*>(t.raw_data());
            for (std::int64_t i = 0; i < t.numel(); ++i)
                FBSEG_CHECK(p[i] <= 1, "safetensors: '", path_, "': tensor '", key, "' is BOOL but element ", i,
                            " holds the byte ", int(p[i]));
        }
        return t;
    }

    bool has_metadata(const std::string& name) const { return metadata_.count(name) != 0; }

    /// A value of the "__metadata__" table.
    const std::string& metadata(const std::string& name) const {
        const auto it = metadata_.find(name);
        FBSEG_CHECK(it != metadata_.end(), "safetensors: '", path_, "' has no metadata entry '", name, "'");
        return it->second;
    }

    const std::map<std::string, std::string>& all_metadata() const { return metadata_; }

private:
    struct Entry {
        DType dtype;
        Shape shape;
        std::size_t begin, end;  // relative to the start of the data
    };

    static bool dtype_from_code(const std::string& code, DType& out) {
        static const std::map<std::string, DType> codes{{"F32", DType::Float32},
                                                        {"F64", DType::Float64},
                                                        {"I64", DType::Int64},
                                                        {"BOOL", DType::Bool},
                                                        {"U8", DType::UInt8}};
        const auto it = codes.find(code);
        if (it == codes.end()) return false;
        out = it->second;
        return true;
    }

    Entry read_entry(const std::string& key, const nlohmann::json& value) const {
        const std::string where = "safetensors: '" + path_ + "': tensor '" + key + "'";
        FBSEG_CHECK(value.is_object(), where, ": expected an object with dtype, shape and data_offsets");
        FBSEG_CHECK(value.contains("dtype") && value["dtype"].is_string(), where, ": missing or non-string \"dtype\"");
        FBSEG_CHECK(value.contains("shape") && value["shape"].is_array(), where, ": missing or non-array \"shape\"");
        FBSEG_CHECK(
            value.contains("data_offsets") && value["data_offsets"].is_array() && value["data_offsets"].size() == 2,
            where, ": \"data_offsets\" must be an array [begin, end]");

        Entry e{};
        const std::string code = value["dtype"].get<std::string>();
        FBSEG_CHECK(dtype_from_code(code, e.dtype), where, ": dtype ", code,
                    " is not supported (expected F32, F64, I64, BOOL or U8)");

        std::uint64_t numel = 1;
        for (const auto& d : value["shape"]) {
            FBSEG_CHECK(d.is_number_unsigned(), where, ": shape ", value["shape"].dump(),
                        " must hold non-negative integers");
            FBSEG_CHECK(!__builtin_mul_overflow(numel, d.get<std::uint64_t>(), &numel), where, ": shape ",
                        value["shape"].dump(), " has more elements than 64 bits can count (size overflow)");
            e.shape.push_back(std::int64_t(d.get<std::uint64_t>()));
        }

        const auto& offsets = value["data_offsets"];
        FBSEG_CHECK(offsets[0].is_number_unsigned() && offsets[1].is_number_unsigned(), where, ": data_offsets ",
                    offsets.dump(), " must be non-negative integers");
        const std::uint64_t begin = offsets[0].get<std::uint64_t>(), end = offsets[1].get<std::uint64_t>();
        const std::uint64_t data_size = bytes_.size() - data_begin_;
        FBSEG_CHECK(begin <= end && end <= data_size, where, ": data_offsets [", begin, ", ", end,
                    "] do not lie within the ", data_size, " bytes of data");
        std::uint64_t expected = 0;
        FBSEG_CHECK(!__builtin_mul_overflow(numel, std::uint64_t(element_size(e.dtype)), &expected) &&
                        numel <= std::uint64_t(std::numeric_limits<std::int64_t>::max()),
                    where, ": shape ", value["shape"].dump(), " needs more bytes than 64 bits can count (size overflow)");
        FBSEG_CHECK(end - begin == expected, where, ": ", code, " ", shape_str(e.shape), " needs ", expected,
                    " bytes but data_offsets [", begin, ", ", end, "] hold ", end - begin);
        e.begin = std::size_t(begin);
        e.end = std::size_t(end);
        return e;
    }

    void read_metadata(const nlohmann::json& value) {
        FBSEG_CHECK(value.is_object(), "safetensors: '", path_, "': \"__metadata__\" must be an object");
        for (const auto& [name, v] : value.items()) {
            FBSEG_CHECK(v.is_string(), "safetensors: '", path_, "': metadata entry '", name, "' must be a string");
            metadata_.emplace(name, v.get<std::string>());
        }
    }

    std::string path_;
    std::vector<char> bytes_;
    std::size_t data_begin_ = 0;
    std::map<std::string, Entry> entries_;
    std::map<std::string, std::string> metadata_;
};

}  // namespace fbseg::test_support
