// tests/test_io.cpp - suites "io" and "transfer": the safetensors reader and writer,
// load_state_dict's options, first-conv adaptation, freezing, checkpoints (exact resume, crash
// safety, bad input), and weights exported from PyTorch/smp (at the end of the file).
#include <doctest/doctest.h>
#include <sys/wait.h>

#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include "fbseg/fbseg.hpp"
#include "support/check.hpp"
#include "support/temp_dir.hpp"
#include "support/model_description.hpp"

namespace io_tests {  // a namespace of its own: the test files are compiled as one unity source

using namespace fbseg;
namespace fs = std::filesystem;
using fbseg::test::TempDir;

namespace {

std::vector<std::uint8_t> file_bytes(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

/// A safetensors file from a header text and a buffer, the length field computed (or forced).
std::vector<std::uint8_t> make_file(const std::string& header, std::size_t buffer_bytes,
                                    std::optional<std::uint64_t> header_len = std::nullopt) {
    const std::uint64_t n = header_len ? *header_len : header.size();
    std::vector<std::uint8_t> out(8 + header.size() + buffer_bytes);
    std::memcpy(out.data(), &n, 8);
    for (std::size_t i = 0; i < header.size(); ++i) out[8 + i] = std::uint8_t(header[i]);
    for (std::size_t i = 0; i < buffer_bytes; ++i) out[8 + header.size() + i] = std::uint8_t(i * 7);
    return out;
}

std::string parse_error(const std::vector<std::uint8_t>& bytes) {
    return test::error_of([&] { (void)io::SafetensorsReader::from_bytes(bytes, "bad.safetensors"); });
}

/// A small model with every kind of state: conv, BatchNorm (running stats, num_batches_tracked).
std::shared_ptr<models::SmpUnet> tiny_resnet_unet(std::int64_t in_channels = 3, std::int64_t classes = 1) {
    auto encoder = std::make_shared<models::ResNetEncoder>(
        models::ResNetEncoderOptions({1, 1, 1, 1}).in_channels(in_channels).stem_width(4).widths({4, 8, 8, 8}));
    return std::make_shared<models::SmpUnet>(
        encoder, models::SmpUnetOptions().decoder_channels({8, 8, 4, 4, 4}).classes(classes), "tiny-resnet-unet");
}

/// The ResNet encoder of a tiny_resnet_unet (SmpUnet holds it as a models::Encoder).
models::ResNetEncoder& resnet_of(const models::SmpUnet& model) {
    return dynamic_cast<models::ResNetEncoder&>(*model.encoder);
}

/// One training step on fixed data; returns the loss.
double train_step(nn::UnaryModule& model, optim::Optimizer& opt, const Tensor& x, const Tensor& y) {
    opt.zero_grad();
    Tensor loss = nn::bce_dice_loss(model.forward(x), y);
    loss.backward();
    opt.step();
    return loss.item<double>();
}

bool same_state(const nn::NamedTensors& a, const nn::NamedTensors& b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (a[i].first != b[i].first || !test::bitwise_equal(a[i].second, b[i].second)) return false;
    return true;
}

nn::NamedTensors snapshot(const nn::Module& m) {
    nn::NamedTensors out;
    for (const auto& [k, t] : m.state_dict()) out.emplace_back(k, t.clone());
    return out;
}

}  // namespace

// ---- safetensors: reading what Python wrote, writing what Python reads ----------------------------

TEST_CASE("io: the reader returns every dtype of a file written by Python's safetensors as torch converts it") {
    io::SafetensorsReader file(FBSEG_FIXTURE_DIR "/io_dtypes.safetensors");
    CHECK(file.metadata("torch_version").size() > 0);
    for (const char* code : {"F16", "BF16", "F32", "F64"}) {
        CAPTURE(code);
        const Tensor x = file.get(std::string("x.") + code), ref = file.get(std::string("ref.") + code);
        CHECK(x.dtype() == (std::string(code) == "F64" ? DType::Float64 : DType::Float32));
        CHECK_SHAPE(x, {3, 5});
        const std::vector<double> got = test::values(x), want = test::values(ref);
        for (std::size_t i = 0; i < got.size(); ++i) {
            CAPTURE(i);
            if (std::isnan(want[i])) {
                CHECK(std::isnan(got[i]));
            } else {
                CHECK(got[i] == want[i]);  // exact: every half and bfloat16 value is a float
                CHECK(std::signbit(got[i]) == std::signbit(want[i]));
            }
        }
    }
    for (const char* code : {"I32", "I64", "U8"}) {
        CAPTURE(code);
        const Tensor x = file.get(std::string("x.") + code);
        CHECK(x.dtype() == (std::string(code) == "U8" ? DType::UInt8 : DType::Int64));
        CHECK(test::bitwise_equal(x.to(DType::Int64), file.get(std::string("ref.") + code)));
    }
    CHECK(file.get("x.BOOL").dtype() == DType::Bool);
    CHECK(test::bitwise_equal(file.get("x.BOOL"), file.get("ref.BOOL")));
    CHECK(file.get("scalar.F32").dim() == 0);
    CHECK(file.get("scalar.F32").item<double>() == 2.5);
    CHECK_SHAPE(file.get("empty.F32"), {0, 3});
    CHECK(file.get("x.F16", DType::Float64).dtype() == DType::Float64);  // converted on request
}

TEST_CASE("io: save_safetensors then read gives back names, order, dtypes, shapes, values and metadata") {
    TempDir dir("fbseg_io");
    Generator gen(3);
    nn::NamedTensors tensors{{"b.weight", randn({3, 4}, TensorOptions(), gen)},
                             {"a.double", randn({2, 2, 2}, TensorOptions(DType::Float64), gen)},
                             {"count", full({}, 7, TensorOptions(DType::Int64))},
                             {"mask", gt(randn({5}, TensorOptions(), gen), 0.0)},
                             {"bytes", arange(0, 6, 1, TensorOptions(DType::Int64)).to(DType::UInt8)},
                             {"empty", zeros({0, 4})},
                             {"strided", randn({4, 3}, TensorOptions(), gen).transpose(0, 1)}};
    const std::string path = dir / "t.safetensors";
    io::save_safetensors(path, tensors, {{"note", "hello"}, {"unicode", "f\xC3\xB6tal"}});

    const auto bytes = file_bytes(path);
    std::uint64_t header_len = 0;
    std::memcpy(&header_len, bytes.data(), 8);
    CHECK(header_len % 8 == 0);  // the buffer starts 8-byte aligned
    CHECK(bytes[8] == '{');

    io::SafetensorsReader file(path);
    CHECK(file.metadata() == io::Metadata{{"note", "hello"}, {"unicode", "f\xC3\xB6tal"}});
    REQUIRE(file.keys().size() == tensors.size());
    for (std::size_t i = 0; i < tensors.size(); ++i) {
        CAPTURE(tensors[i].first);
        CHECK(file.keys()[i] == tensors[i].first);  // file order is the order given
        CHECK(test::bitwise_equal(file.get(tensors[i].first), tensors[i].second.contiguous()));
    }
    CHECK(!file.is_mapped());
    CHECK(!fs::exists(path + ".tmp"));
    std::size_t files = 0;
    for (const auto& e : fs::directory_iterator(dir.path)) files += e.is_regular_file();
    CHECK(files == 1);  // no temporary left behind
}

TEST_CASE("io: a large file is memory-mapped and reads the same") {
    TempDir dir("fbseg_io");
    const Tensor big = arange(0, 600000, 1, TensorOptions(DType::Float32)) * 0.5;  // 2.4 MB
    io::save_safetensors(dir / "big.safetensors", {{"big", big}});
    io::SafetensorsReader file(dir / "big.safetensors");
    CHECK(file.is_mapped());
    CHECK(test::bitwise_equal(file.get("big"), big));
}

TEST_CASE("io: files written by fbseg open in Python's safetensors and numpy reads the values (skipped without them)") {
    if (std::system("python3 -c 'import safetensors, numpy' >/dev/null 2>&1") != 0) {
        MESSAGE("skipped: python3 with the safetensors and numpy packages is not installed (pip install -r tools/requirements.txt)");
        return;
    }
    TempDir dir("fbseg_io");
    const std::string path = dir / "w.safetensors";
    io::save_safetensors(path, {{"x", arange(0, 12, 1, TensorOptions(DType::Float32)).reshape({3, 4}) * 0.25},
                                {"d", full({2}, -1.5, TensorOptions(DType::Float64))},
                                {"i", arange(-3, 3, 1, TensorOptions(DType::Int64))}},
                       {{"k", "v"}});
    // The Python side checks against values it computes itself.
    const std::string script =
        "import sys, numpy as np\n"
        "from safetensors import safe_open\n"
        "f = safe_open(sys.argv[1], 'np')\n"
        "assert f.metadata() == {'k': 'v'}, f.metadata()\n"
        "assert list(f.keys()) == ['d', 'i', 'x'], list(f.keys())\n"
        "assert np.array_equal(f.get_tensor('x'), (np.arange(12, dtype=np.float32) * 0.25).reshape(3, 4))\n"
        "assert f.get_tensor('d').dtype == np.float64 and (f.get_tensor('d') == -1.5).all()\n"
        "assert np.array_equal(f.get_tensor('i'), np.arange(-3, 3, dtype=np.int64))\n";
    std::ofstream(dir / "check.py") << script;
    CHECK(std::system(("python3 " + dir / "check.py" + " " + path).c_str()) == 0);
}

// ---- safetensors: bad input --------------------------------------------------------------------

TEST_CASE("io: the reader refuses every malformed file with an error naming the file and the tensor") {
    const std::string ok_entry = R"("a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]})";
    // Sanity: the well-formed base parses, so each case below fails for its own reason only.
    CHECK(parse_error(make_file("{" + ok_entry + "}", 8)) == "<no exception>");

    CHECK_ERROR(io::SafetensorsReader::from_bytes({1, 2, 3}, "bad.safetensors"), "bad.safetensors", "fewer than the 8");
    CHECK(test::contains(parse_error(make_file("{}", 0, 200'000'000)), "more than the limit"));
    CHECK(test::contains(parse_error(make_file("{" + ok_entry + "}", 8, 500)), "truncated file"));
    CHECK(test::contains(parse_error(make_file(" {" + ok_entry + "}", 8)), "does not start with '{'"));
    CHECK(test::contains(parse_error(make_file("{\"\xC3\x28\": 1}", 0)), "not valid UTF-8"));
    CHECK(test::contains(parse_error(make_file("{\"\xED\xA0\x80\": 1}", 0)), "not valid UTF-8"));  // a surrogate
    CHECK(test::contains(parse_error(make_file("{\"a\": ", 0)), "not valid JSON"));
    CHECK(test::contains(parse_error(make_file("{" + ok_entry + ", " + ok_entry + "}", 8)), "names 'a' twice"));

    auto entry_error = [](const std::string& entry, std::size_t buffer) {
        return parse_error(make_file("{\"w\": " + entry + "}", buffer));
    };
    const std::string unknown = entry_error(R"({"dtype": "C64", "shape": [1], "data_offsets": [0, 8]})", 8);
    CHECK(test::contains(unknown, "bad.safetensors"));
    CHECK(test::contains(unknown, "tensor 'w'"));
    CHECK(test::contains(unknown, "\"C64\" is not supported"));
    CHECK(test::contains(entry_error(R"({"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]})", 4),
                         "non-negative integers"));
    CHECK(test::contains(entry_error(R"({"dtype": "F32", "shape": [2.5], "data_offsets": [0, 4]})", 4),
                         "non-negative integers"));
    CHECK(test::contains(
        entry_error(R"({"dtype": "F32", "shape": [4294967296, 4294967296, 4], "data_offsets": [0, 4]})", 4),
        "overflow"));
    CHECK(test::contains(entry_error(R"({"dtype": "F64", "shape": [4611686018427387904], "data_offsets": [0, 8]})", 8),
                         "overflow"));
    CHECK(test::contains(entry_error(R"({"dtype": "F32", "shape": [2], "data_offsets": [0, 16]})", 8),
                         "do not lie within"));
    CHECK(test::contains(entry_error(R"({"dtype": "F32", "shape": [2], "data_offsets": [8, 0]})", 8),
                         "do not lie within"));
    CHECK(test::contains(entry_error(R"({"dtype": "F32", "shape": [3], "data_offsets": [0, 8]})", 8),
                         "needs 12 bytes"));
    CHECK(test::contains(entry_error(R"({"dtype": "F32", "shape": [1], "data_offsets": [4, 8]})", 8),
                         "a gap in the buffer"));
    CHECK(test::contains(entry_error(R"({"dtype": "F32", "shape": [1], "data_offsets": [0, 4]})", 8),
                         "trailing bytes"));
    CHECK(test::contains(entry_error(R"({"dtype": "F32", "shape": [1], "data_offsets": [0, 4], "x": 1})", 4),
                         "unknown field"));
    CHECK(test::contains(entry_error(R"({"shape": [1], "data_offsets": [0, 4]})", 4), "\"dtype\""));
    CHECK(test::contains(entry_error(R"([1, 2])", 0), "expected an object"));
    CHECK(test::contains(parse_error(make_file(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
        "b": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}})", 8)),
                         "overlapping"));
    CHECK(test::contains(parse_error(make_file(R"({"__metadata__": {"k": 1}})", 0)), "metadata entry 'k'"));
    CHECK(test::contains(parse_error(make_file(R"({"__metadata__": [1]})", 0)), "must be an object"));

    // A BOOL byte other than 0 and 1 is found when the tensor is read.
    const auto bools = io::SafetensorsReader::from_bytes(
        make_file(R"({"m": {"dtype": "BOOL", "shape": [3], "data_offsets": [0, 3]}})", 3), "bools.safetensors");
    CHECK_ERROR(bools.get("m"), "bools.safetensors", "tensor 'm'", "is BOOL but element 1");
    CHECK_ERROR(bools.get("n"), "has no tensor 'n'");
}

TEST_CASE("io: a valid file cut short at any length is refused, never read past its end") {
    TempDir dir("fbseg_io");
    io::save_safetensors(dir / "ok.safetensors", {{"x", ones({3, 3})}, {"y", zeros({5}, TensorOptions(DType::Int64))}});
    const auto bytes = file_bytes(dir / "ok.safetensors");
    for (std::size_t cut = 0; cut < bytes.size(); ++cut) {
        CAPTURE(cut);
        const std::vector<std::uint8_t> prefix(bytes.begin(), bytes.begin() + std::ptrdiff_t(cut));
        CHECK(parse_error(prefix) != "<no exception>");
    }
    CHECK_ERROR(io::SafetensorsReader(dir / "missing.safetensors"), "cannot open", "missing.safetensors");
}

TEST_CASE("io: a failed save leaves the existing file untouched and no temporary behind") {
    TempDir dir("fbseg_io");
    const std::string path = dir / "keep.safetensors";
    io::save_safetensors(path, {{"x", ones({2})}});
    const auto before = file_bytes(path);
    CHECK_ERROR(io::save_safetensors(path, {{"x", ones({2})}, {"x", ones({2})}}), "appears twice");
    CHECK_ERROR(io::save_safetensors(path, {{"__metadata__", ones({2})}}), "reserved");
    CHECK_ERROR(io::save_safetensors(path, {{"u", Tensor()}}), "undefined tensor");
    CHECK_ERROR(io::save_safetensors(dir / "no/such/dir/x.safetensors", {{"x", ones({2})}}), "cannot create");
    CHECK(file_bytes(path) == before);
    std::size_t files = 0;
    for (const auto& e : fs::directory_iterator(dir.path)) files += e.is_regular_file();
    CHECK(files == 1);
}

// ---- load_state_dict options -------------------------------------------------------------------

TEST_CASE("io: glob_match matches whole keys with * and ?") {
    CHECK(nn::glob_match("fc.*", "fc.weight"));
    CHECK(nn::glob_match("fc.*", "fc."));
    CHECK(!nn::glob_match("fc.*", "encoder.fc.weight"));
    CHECK(nn::glob_match("*.num_batches_tracked", "encoder.bn1.num_batches_tracked"));
    CHECK(nn::glob_match("layer?.*", "layer4.0.conv1.weight"));
    CHECK(!nn::glob_match("layer?.*", "layer10.conv"));
    CHECK(nn::glob_match("*", ""));
    CHECK(nn::glob_match("a*b*c", "aXXbYYbc"));
    CHECK(!nn::glob_match("a*b*c", "aXXbYYb"));
}

TEST_CASE("io: load_weights with a prefix, an exclude glob and non-strict reports what it loaded") {
    TempDir dir("fbseg_io");
    // An encoder saved on its own (like torchvision's resnet weights with their classifier "fc").
    auto source = tiny_resnet_unet();
    nn::NamedTensors encoder_state;
    for (const auto& [k, t] : source->encoder->state_dict()) encoder_state.emplace_back(k, t);
    encoder_state.emplace_back("fc.weight", randn({10, 8}));
    encoder_state.emplace_back("fc.bias", randn({10}));
    io::save_safetensors(dir / "encoder.safetensors", encoder_state);

    auto model = tiny_resnet_unet();
    const auto decoder_before = snapshot(*model->decoder);
    const auto report = io::load_weights(*model, dir / "encoder.safetensors",
                                         {.strict = false, .add_prefix = "encoder.", .exclude = {"fc.*"}});
    CHECK(report.loaded_keys.size() == source->encoder->state_dict().size());
    CHECK(report.excluded_keys == std::vector<std::string>{"fc.weight", "fc.bias"});
    CHECK(report.unexpected_keys.empty());
    CHECK(report.missing_keys.size() == model->state_dict().size() - report.loaded_keys.size());
    CHECK(test::contains(report.summary(), "excluded 2"));
    CHECK(same_state(snapshot(*model->encoder), snapshot(*source->encoder)));
    CHECK(same_state(snapshot(*model->decoder), decoder_before));

    // Strict, the same file is an error that lists the problems and names the file.
    auto strict_model = tiny_resnet_unet();
    const auto strict_before = snapshot(*strict_model);
    CHECK_ERROR(io::load_weights(*strict_model, dir / "encoder.safetensors", {.add_prefix = "encoder."}),
                "encoder.safetensors", "missing keys", "unexpected keys: 'encoder.fc.weight'");
    CHECK(same_state(snapshot(*strict_model), strict_before));  // nothing half loaded

    // A checkpoint-style prefix is stripped.
    nn::NamedTensors prefixed;
    for (const auto& [k, t] : source->state_dict()) prefixed.emplace_back("model." + k, t);
    auto stripped = tiny_resnet_unet();
    CHECK(stripped->load_state_dict(prefixed, {.strip_prefix = "model."}).loaded_keys.size() == prefixed.size());
    CHECK(same_state(snapshot(*stripped), snapshot(*source)));
}

TEST_CASE("io: shape mismatches are listed by a strict load and skipped and reported by a non-strict one") {
    auto three_classes = tiny_resnet_unet(3, 3);
    auto one_class = tiny_resnet_unet(3, 1);
    const auto before = snapshot(*one_class);
    CHECK_ERROR(one_class->load_state_dict(three_classes->state_dict()), "size mismatch for 'segmentation_head.0.weight'",
                "[3, 4, 3, 3]", "[1, 4, 3, 3]", "size mismatch for 'segmentation_head.0.bias'");
    CHECK(same_state(snapshot(*one_class), before));
    const auto report = one_class->load_state_dict(three_classes->state_dict(), false);
    REQUIRE(report.mismatched.size() == 2);
    CHECK(report.mismatched[0].key == "segmentation_head.0.weight");
    CHECK(report.mismatched[0].found == Shape{3, 4, 3, 3});
    CHECK(report.mismatched[0].expected == Shape{1, 4, 3, 3});
    CHECK(test::bitwise_equal(one_class->segmentation_head->state_dict()[0].second, before[before.size() - 2].second));
    CHECK(test::bitwise_equal(one_class->encoder->state_dict()[0].second, three_classes->encoder->state_dict()[0].second));
}

TEST_CASE("io: adapt_input_channels follows smp's rule and load_state_dict applies it to the named first conv") {
    Generator gen(11);
    const Tensor w = randn({5, 3, 3, 3}, TensorOptions(DType::Float64), gen);
    // Independent reference: the rule written out element by element.
    for (std::int64_t n : {1, 2, 3, 4, 5}) {
        CAPTURE(n);
        const Tensor a = nn::adapt_input_channels(w, n);
        CHECK_SHAPE(a, {5, n, 3, 3});
        const auto wa = test::values(w), got = test::values(a);
        for (std::int64_t o = 0; o < 5; ++o)
            for (std::int64_t i = 0; i < n; ++i)
                for (std::int64_t k = 0; k < 9; ++k) {
                    double want = 0;
                    if (n == 1) for (int c = 0; c < 3; ++c) want += wa[std::size_t((o * 3 + c) * 9 + k)];
                    else want = wa[std::size_t((o * 3 + i % 3) * 9 + k)] * (n == 3 ? 1.0 : 3.0 / double(n));
                    CHECK(got[std::size_t((o * n + i) * 9 + k)] == doctest::Approx(want).epsilon(1e-14));
                }
    }
    CHECK_ERROR(nn::adapt_input_channels(randn({4, 2, 3, 3}), 1), "expected an RGB kernel [O, 3, kh, kw]");

    auto rgb = tiny_resnet_unet(3);
    auto grey = tiny_resnet_unet(1);
    CHECK_ERROR(grey->load_state_dict(rgb->state_dict()), "size mismatch for 'encoder.conv1.weight'");
    const auto report = grey->load_state_dict(rgb->state_dict(), {.adapt_input_channels = {"encoder.conv1.weight"}});
    CHECK(report.adapted_keys == std::vector<std::string>{"encoder.conv1.weight"});
    CHECK(test::bitwise_equal(resnet_of(*grey).conv1->weight, nn::adapt_input_channels(resnet_of(*rgb).conv1->weight, 1)));
    CHECK_ERROR(grey->load_state_dict(rgb->state_dict(), {.adapt_input_channels = {"encoder.conv9.weight"}}),
                "adapt_input_channels names 'encoder.conv9.weight'");
}

// ---- freezing and parameter groups -------------------------------------------------------------

TEST_CASE("io: a frozen encoder keeps its weights and BatchNorm statistics while the decoder trains") {
    manual_seed(5);
    auto model = tiny_resnet_unet();
    const Tensor x = randn({2, 3, 32, 32}), y = gt(randn({2, 1, 32, 32}), 0.0).to(DType::Float32);
    auto groups = models::param_groups_by_prefix(*model, 1e-2, {{"encoder.", 0.1}});
    REQUIRE(groups.size() == 2);
    CHECK(groups[0].lr() == doctest::Approx(1e-3));
    CHECK(groups[1].lr() == doctest::Approx(1e-2));
    CHECK(groups[0].params.size() == model->encoder->parameters().size());
    optim::AdamW opt(groups, {.weight_decay = 0.1});

    const auto encoder_before = snapshot(*model->encoder);
    const auto decoder_before = snapshot(*model->decoder);
    models::freeze_encoder_for(*model, /*epoch=*/0, /*freeze_epochs=*/1);
    model->train();
    CHECK(model->is_training());
    CHECK(!model->encoder->is_training());  // frozen: eval mode whatever train() says
    CHECK(!resnet_of(*model).bn1->is_training());
    CHECK(model->decoder->is_training());
    for (int i = 0; i < 2; ++i) train_step(*model, opt, x, y);
    CHECK(same_state(snapshot(*model->encoder), encoder_before));  // weights and running stats
    CHECK(!same_state(snapshot(*model->decoder), decoder_before));

    models::freeze_encoder_for(*model, /*epoch=*/1, /*freeze_epochs=*/1);
    CHECK(model->encoder->is_training());  // back to the mode train() last asked for
    CHECK(resnet_of(*model).conv1->weight.requires_grad());
    train_step(*model, opt, x, y);
    CHECK(!same_state(snapshot(*model->encoder), encoder_before));
    CHECK_ERROR(models::freeze_encoder_for(*model, 0, 1, "backbone"), "no submodule 'backbone'");
}

// ---- checkpoints -------------------------------------------------------------------------------

TEST_CASE("io: a run resumed from a checkpoint continues bit for bit like the uninterrupted run") {
    TempDir dir("fbseg_io");
    Generator data(21);
    const Tensor x = randn({2, 3, 32, 32}, TensorOptions(), data);
    const Tensor y = gt(randn({2, 1, 32, 32}, TensorOptions(), data), 0.0).to(DType::Float32);

    auto make = [] {
        manual_seed(8);
        return tiny_resnet_unet();
    };
    // The uninterrupted run: 6 steps of AdamW with a warmup-cosine schedule and the default RNG drawn.
    auto a = make();
    optim::AdamW opt_a(a->parameters(), {.lr = 1e-2});
    optim::WarmupCosineLR sched_a(opt_a, 2, 6);
    std::vector<double> losses_a;
    for (int s = 0; s < 6; ++s) {
        losses_a.push_back(train_step(*a, opt_a, x + randn({2, 3, 32, 32}) * 0.1, y));
        sched_a.step();
        if (s == 2) {
            io::Metadata info{{"epoch", "0"}, {"step", "3"}};
            io::put_generator(info, "default", default_generator());
            io::save_checkpoint(dir / "ckpt.safetensors", io::make_checkpoint(*a, &opt_a, sched_a.state_dict(), info));
        }
    }

    // The resumed run: a fresh model, optimizer and scheduler, then the last 3 steps.
    auto b = make();
    optim::AdamW opt_b(b->parameters(), {.lr = 1e-2});
    optim::WarmupCosineLR sched_b(opt_b, 2, 6);
    default_generator().manual_seed(12345);  // the checkpoint must restore the stream
    const io::Checkpoint c = io::load_checkpoint(dir / "ckpt.safetensors", *b, &opt_b,
                                                 [&](const optim::StateDict& s) { sched_b.load_state_dict(s); });
    CHECK(c.info.at("step") == "3");
    io::get_generator(c.info, "default", default_generator());
    CHECK(sched_b.last_epoch() == 3);
    std::vector<double> losses_b;
    for (int s = 3; s < 6; ++s) {
        losses_b.push_back(train_step(*b, opt_b, x + randn({2, 3, 32, 32}) * 0.1, y));
        sched_b.step();
    }
    CHECK(losses_b == std::vector<double>(losses_a.begin() + 3, losses_a.end()));
    CHECK(same_state(snapshot(*b), snapshot(*a)));
    CHECK(opt_b.param_groups()[0].lr() == opt_a.param_groups()[0].lr());
}

TEST_CASE("io: a writer killed mid-write leaves the previous checkpoint whole") {
    TempDir dir("fbseg_io");
    const std::string path = dir / "ckpt.safetensors";
    // Big enough (32 MB) that the kill lands inside a write.
    const Tensor first = full({8 << 20}, 1.0f), second = full({8 << 20}, 2.0f);
    io::save_checkpoint(path, io::Checkpoint{{{"w", first}}, "", {}, {}, {{"version", "1"}}});

    int kills_mid_write = 0;
    for (int attempt = 0; attempt < 6; ++attempt) {
        const pid_t child = ::fork();
        REQUIRE(child >= 0);
        if (child == 0) {  // the writer: no threads, no allocation by the pool; saves forever
            for (;;) io::save_checkpoint(path, io::Checkpoint{{{"w", second}}, "", {}, {}, {{"version", "2"}}});
        }
        // Kill it once a temporary exists (a write is under way), or after a while.
        for (int i = 0; i < 400; ++i) {
            bool writing = false;
            for (const auto& e : fs::directory_iterator(dir.path))
                writing |= e.path().filename().string().find(".tmp-") != std::string::npos;
            if (writing) {
                ++kills_mid_write;
                break;
            }
            std::this_thread::sleep_for(std::chrono::microseconds(500));
        }
        ::kill(child, SIGKILL);
        int status = 0;
        ::waitpid(child, &status, 0);
        CHECK(WIFSIGNALED(status));

        // Whatever the moment of the kill, the checkpoint is a whole one: the old or a new one.
        const io::Checkpoint c = io::read_checkpoint(path);
        REQUIRE(c.model.size() == 1);
        const std::string version = c.info.at("version");
        CHECK((version == "1" || version == "2"));
        const Tensor& w = c.model[0].second;
        CHECK(test::bitwise_equal(w, version == "1" ? first : second));
        for (const auto& e : fs::directory_iterator(dir.path))  // a leftover temporary, never the target
            if (e.path().string() != path) fs::remove(e.path());
    }
    CHECK(kills_mid_write > 0);
}

TEST_CASE("io: a checkpoint of another model or optimizer is refused with the keys, and nothing is changed") {
    TempDir dir("fbseg_io");
    auto model = tiny_resnet_unet();
    optim::Adam adam(model->parameters());
    const Tensor x = randn({2, 3, 32, 32}), y = gt(randn({2, 1, 32, 32}), 0.0).to(DType::Float32);
    train_step(*model, adam, x, y);
    io::save_checkpoint(dir / "c.safetensors", io::make_checkpoint(*model, &adam));

    // Another model: the mismatched keys are listed, with the file.
    auto other = tiny_resnet_unet(3, 2);
    const auto other_before = snapshot(*other);
    CHECK_ERROR(io::load_checkpoint(dir / "c.safetensors", *other), "c.safetensors", "the model does not match",
                "size mismatch for 'segmentation_head.0.weight'");
    CHECK(same_state(snapshot(*other), other_before));

    // The same model but an optimizer of another kind, or over other parameters: the model is
    // put back as it was.
    auto same = tiny_resnet_unet();
    const auto same_before = snapshot(*same);
    optim::SGD sgd(same->parameters(), {.lr = 0.1});
    CHECK_ERROR(io::load_checkpoint(dir / "c.safetensors", *same, &sgd), "c.safetensors", "Adam", "SGD");
    const std::vector<Tensor> all_params = same->parameters();
    optim::Adam partial(std::vector<Tensor>(all_params.begin(), all_params.begin() + 3));
    CHECK_ERROR(io::load_checkpoint(dir / "c.safetensors", *same, &partial), "c.safetensors", "has only 3 parameters");
    CHECK(same_state(snapshot(*same), same_before));
    CHECK(partial.state_dict().tensors.empty());

    // A weights file is not a checkpoint.
    io::save_weights(*model, dir / "w.safetensors");
    CHECK_ERROR(io::read_checkpoint(dir / "w.safetensors"), "w.safetensors", "not an fbseg checkpoint");
    // A checkpoint whose optimizer number is not a number.
    io::save_safetensors(dir / "n.safetensors", {},
                         {{"fbseg.format", "checkpoint"}, {"fbseg.checkpoint_version", "1"},
                          {"optimizer.param_groups.0.lr", "fast"}});
    CHECK_ERROR(io::read_checkpoint(dir / "n.safetensors"), "n.safetensors", "optimizer.param_groups.0.lr",
                "'fast' is not a number");
}

TEST_CASE("io: numbers in checkpoints round-trip exactly") {
    for (double v : {0.1, 1e-3 * 3, 1.0 / 3.0, 6.02214076e23, 5e-324, -0.0, 123456789.123456789}) {
        CAPTURE(v);
        const double back = io::parse_double(io::format_double(v), "v");
        CHECK(std::memcmp(&back, &v, sizeof v) == 0);
    }
    Generator g(77);
    g.reserve(1000);
    io::Metadata info;
    io::put_generator(info, "loader", g);
    Generator h(1);
    io::get_generator(info, "loader", h);
    CHECK(h.seed() == 77);
    CHECK(h.offset() == 1000);
    CHECK_ERROR(io::get_generator(info, "augment", h), "no generator state 'rng.augment.seed'");
}

// ---- transfer: weights exported from PyTorch/smp -----------------------------------------------
// Suite "transfer": weights exported from PyTorch/smp by tools/export_torch.py load into fbseg and
// give smp's eval logits; smp's own first-conv adaptation; fbseg's re-saved weights are
// bit-identical to what PyTorch exported. (In this file, not its own, to save CI a translation unit.)
//
// Fixtures (tools/make_transfer_fixtures.py, committed):
//   transfer_<name>.weights.safetensors  an smp Unet's state_dict as export_torch writes it
//   transfer_<name>.io.safetensors       "input" and PyTorch's "eval.logits", and in the metadata
//                                        how to build the same model in fbseg
// with <name> resnet (a reduced-width ResNet-34-shaped encoder: stages of 3/4/6/3 blocks) and
// efficientnet (timm-efficientnet-b0 scaled by channel and depth multipliers, 1 input channel).

namespace {

/// The smp Unet the io fixture's metadata describes, built with fbseg's own classes.
std::shared_ptr<models::SmpUnet> model_from(const io::SafetensorsReader& io) {
    return test_support::ModelDescription(io.metadata(), io.path()).smp_unet();
}

const char* const kNames[] = {"resnet", "efficientnet"};

std::string fixture(const std::string& name, const std::string& kind) {
    return std::string(FBSEG_FIXTURE_DIR) + "/transfer_" + name + "." + kind + ".safetensors";
}

}  // namespace

TEST_CASE("transfer: smp Unets exported from PyTorch load strictly into fbseg and give smp's eval logits") {
    for (const std::string name : kNames) {
        CAPTURE(name);
        io::SafetensorsReader io(fixture(name, "io"));
        auto model = model_from(io);
        const auto report = io::load_weights(*model, fixture(name, "weights"));  // strict
        CHECK(report.loaded_keys.size() == model->state_dict().size());
        model->eval();
        NoGradGuard no_grad;
        const Tensor logits = model->forward(io.get("input"));
        // float32 against float32, per element: rtol 1e-4 with an absolute floor of 1e-5 of the
        // largest logit (the reduced ResNet's logits reach ~160; near zero only the floor can hold,
        // as in tools/check_transfer.py).
        const Tensor want = io.get("eval.logits");
        const double floor = 1e-5 * max(abs(want)).item<double>();
        CHECK_ALLCLOSE(logits, want, floor, 1e-4);
    }
}

TEST_CASE("transfer: weights re-saved by fbseg are bit-identical to the ones PyTorch exported") {
    const auto dir = std::filesystem::temp_directory_path() / ("fbseg_transfer_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    for (const std::string name : kNames) {
        CAPTURE(name);
        io::SafetensorsReader io(fixture(name, "io"));
        auto model = model_from(io);
        io::load_weights(*model, fixture(name, "weights"));
        const std::string out = (dir / (name + ".safetensors")).string();
        io::save_weights(*model, out);
        const io::SafetensorsReader original(fixture(name, "weights")), saved(out);
        REQUIRE(saved.size() == original.size());
        for (const auto& key : original.keys()) {
            CAPTURE(key);
            REQUIRE(saved.contains(key));
            CHECK(saved.entry(key).dtype == original.entry(key).dtype);
            CHECK(test::bitwise_equal(saved.get(key), original.get(key)));
        }
    }
    std::filesystem::remove_all(dir);
}

TEST_CASE("transfer: first-conv adaptation matches smp's patch_first_conv on the same weights") {
    io::SafetensorsReader file(FBSEG_FIXTURE_DIR "/transfer_adapt.safetensors");
    const Tensor rgb = file.get("adapt.in");
    for (std::int64_t n : {1, 2, 4, 5}) {
        CAPTURE(n);
        const Tensor want = file.get("adapt." + std::to_string(n));
        // The same float32 arithmetic in the same order: (w0 + w1) + w2, or w[i mod 3] * float(3 / n).
        CHECK(test::bitwise_equal(nn::adapt_input_channels(rgb, n), want));
    }
}

}  // namespace io_tests
