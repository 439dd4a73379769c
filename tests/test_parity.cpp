// Parity with PyTorch: every differentiable op, forward and backward, against reference values
// computed by PyTorch (tools/make_op_fixtures.py -> tests/fixtures/ops.safetensors).
//
// For each case the fixture holds the inputs in0, in1, ..., the output(s) out (and out1), a random
// upstream gradient gout, and torch's gradients grad0, ... of the floating inputs. The table
// below rebuilds each case's PyTorch expression (quoted in the fixture's metadata) with fbseg,
// including its non-contiguous views; the test runs it forward, calls out.backward(gout) and
// compares, in float32:
//   floating tensors   per element |fbseg - torch| <= 1e-6 + 1e-5 |torch|
//   index tensors      exactly equal
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "fbseg/fbseg.hpp"
#include "support/check.hpp"
#include "support/safetensors_reader.hpp"

namespace fbseg {
namespace parity_tests {  // a namespace of its own: the test files are compiled as one unity source

using test_support::SafetensorsFile;
using Inputs = std::vector<Tensor>;
using Outputs = std::vector<Tensor>;


Outputs as_outputs(const Tensor& t) { return {t}; }
Outputs as_outputs(const ValuesIndices& vi) { return {vi.values, vi.indices}; }

/// in0.clone().op_(...): a clone of x modified in place by f.
template <typename F>
Tensor in_place(const Tensor& x, F f) {
    Tensor y = x.clone();
    f(y);
    return y;
}

struct Case {
    const char* family;
    const char* name;
    std::function<Outputs(const Inputs&)> run;
};

// One table entry: CASE(family, "name", expression over in[0], in[1], ...).
#define CASE(family, name, ...)                                                           \
    Case {                                                                                \
        family, name, [](const Inputs& in) -> Outputs { return as_outputs(__VA_ARGS__); } \
    }

/// The fbseg side of every case of the fixture. The comment on each line is the PyTorch
/// expression, with in0, in1, ... the inputs.
const std::vector<Case>& cases() {
    static const std::vector<Case> table = {
        // ---- unary ----
        CASE("unary", "neg", neg(in[0])),
        CASE("unary", "exp", exp(in[0])),
        CASE("unary", "log", log(in[0])),
        CASE("unary", "sqrt", sqrt(in[0])),
        CASE("unary", "abs", abs(in[0])),
        CASE("unary", "relu", relu(in[0])),
        CASE("unary", "leaky_relu", leaky_relu(in[0], 0.1)),
        CASE("unary", "sigmoid", sigmoid(in[0] * 4.0)),  // torch.sigmoid(in0 * 4)
        CASE("unary", "tanh", tanh(in[0])),
        CASE("unary", "pow3", pow(in[0], 3.0)),
        CASE("unary", "pow0_5", pow(in[0], 0.5)),
        CASE("unary", "square", square(in[0])),
        CASE("unary", "clamp", clamp(in[0], -0.5, 0.5)),  // inputs include the bounds exactly
        CASE("unary", "clamp_min", clamp_min(in[0], 0.2)),
        CASE("unary", "clamp_max", clamp_max(in[0], -0.1)),
        // ---- binary, broadcasting ----
        CASE("binary", "add_bcast", add(in[0], in[1])),          // [2,3,4] + [3,1]
        CASE("binary", "add_scalar_tensor", add(in[0], in[1])),  // [2,3] + []
        CASE("binary", "sub_bcast", sub(in[0], in[1])),          // [3,1] - [2,3,4]
        CASE("binary", "mul_bcast", mul(in[0], in[1])),          // [2,1,4] * [3,1]
        CASE("binary", "div_bcast", div(in[0], in[1])),          // [2,3,4] / [4]
        CASE("binary", "div_bcast_both", div(in[0], in[1])),     // [1,3] / [2,1]
        CASE("binary", "maximum_bcast", maximum(in[0], in[1])),
        CASE("binary", "minimum_bcast", minimum(in[0], in[1])),
        CASE("binary", "maximum_ties", maximum(in[0], in[1])),  // small integers: ties split g / 2
        CASE("binary", "minimum_ties", minimum(in[0], in[1])),
        // ---- reductions ----
        CASE("reduce", "sum_all", sum(in[0])),
        CASE("reduce", "sum_dims", sum(in[0], {0, 2}, false)),
        CASE("reduce", "sum_keepdim", sum(in[0], {1}, true)),
        CASE("reduce", "sum_neg_dim", sum(in[0], {-1}, false)),
        CASE("reduce", "mean_all", mean(in[0])),
        CASE("reduce", "mean_dims", mean(in[0], {0, 2})),
        CASE("reduce", "mean_keepdim", mean(in[0], {-1}, true)),
        CASE("reduce", "max_dim", max(in[0], 1)),
        CASE("reduce", "max_dim_keepdim", max(in[0], -1, true)),
        CASE("reduce", "min_dim", min(in[0], 0)),
        CASE("reduce", "max_all", max(in[0])),
        CASE("reduce", "min_all", min(in[0])),
        CASE("reduce", "max_all_ties", max(in[0])),  // the gradient is shared among the maxima
        CASE("reduce", "min_all_ties", min(in[0])),
        CASE("reduce", "argmax_dim", argmax(in[0], 1)),
        CASE("reduce", "argmax_keepdim", argmax(in[0], -1, true)),
        CASE("reduce", "argmax_all", argmax(in[0])),
        CASE("reduce", "var_all", var(in[0])),
        CASE("reduce", "var_dims", var(in[0], {0, 2})),
        CASE("reduce", "var_c0_keepdim", var(in[0], {1}, 0, true)),
        // ---- matrix products ----
        CASE("matmul", "matmul_2d", matmul(in[0], in[1])),            // [3,4] @ [4,5]
        CASE("matmul", "matmul_batched", matmul(in[0], in[1])),       // [2,3,4] @ [2,4,5]
        CASE("matmul", "matmul_batch_rhs_2d", matmul(in[0], in[1])),  // [2,3,4] @ [4,5]
        CASE("matmul", "matmul_batch_bcast", matmul(in[0], in[1])),   // [2,1,3,4] @ [3,4,2]
        CASE("matmul", "matmul_vec_vec", matmul(in[0], in[1])),       // [4] @ [4] -> []
        CASE("matmul", "matmul_mat_vec", matmul(in[0], in[1])),       // [3,4] @ [4]
        CASE("matmul", "matmul_vec_mat", matmul(in[0], in[1])),       // [4] @ [4,5]
        CASE("matmul", "matmul_batched_vec", matmul(in[0], in[1])),   // [2,3,4] @ [4]
        CASE("matmul", "matmul_vec_batched", matmul(in[0], in[1])),   // [4] @ [2,4,3]
        CASE("matmul", "bmm", bmm(in[0], in[1])),                     // [2,3,4] @ [2,4,2]
        // ---- softmax ----
        CASE("softmax", "softmax_dim1", softmax(in[0], 1)),
        CASE("softmax", "softmax_last", softmax(in[0], -1)),
        CASE("softmax", "log_softmax_dim1", log_softmax(in[0], 1)),
        CASE("softmax", "log_softmax_last", log_softmax(in[0], -1)),
        // ---- joining, padding, where ----
        CASE("join", "concat_dim0", concat({in[0], in[1], in[2]}, 0)),
        CASE("join", "concat_dim1", concat({in[0], in[1]}, 1)),
        CASE("join", "concat_last", concat({in[0], in[1]}, -1)),
        CASE("join", "stack_dim0", stack({in[0], in[1], in[2]}, 0)),
        CASE("join", "stack_last", stack({in[0], in[1]}, -1)),
        CASE("join", "pad_last", pad(in[0], {1, 2})),
        CASE("join", "pad_2d_value", pad(in[0], {1, 0, 2, 1}, 0.5)),
        CASE("join", "pad_negative", pad(in[0], {-1, 2, 1, -1})),
        CASE("join", "pad_crop_only", pad(in[0], {-1, -1, 0, -1})),
        CASE("join", "pad_3dims", pad(in[0], {1, 1, 0, 2, 1, 0})),
        CASE("join", "where_bcast", where(in[0], in[1], in[2])),  // bool [3,1], [2,3,4], [4]
        // ---- views and copies ----
        CASE("view", "view_reshape", in[0].reshape({4, 6})),
        CASE("view", "view_flatten", in[0].flatten(1)),
        CASE("view", "view_squeeze_unsqueeze", in[0].squeeze(1).unsqueeze(0)),
        CASE("view", "view_squeeze_all", in[0].squeeze()),
        CASE("view", "view_narrow", in[0].narrow(1, 1, 3)),
        CASE("view", "view_select_neg", in[0].select(0, -1)),
        CASE("view", "view_transpose_contiguous", in[0].transpose(0, 2).contiguous()),
        CASE("view", "to_float64", in[0].to(DType::Float64)),  // out and gout are F64
        // ---- in place, on a clone (torch: in0.clone().add_(in1), ...) ----
        CASE("inplace", "inplace_add", in_place(in[0], [&](Tensor& y) { add_(y, in[1]); })),
        CASE("inplace", "inplace_sub", in_place(in[0], [&](Tensor& y) { sub_(y, in[1]); })),
        CASE("inplace", "inplace_mul", in_place(in[0], [&](Tensor& y) { mul_(y, in[1]); })),
        CASE("inplace", "inplace_div", in_place(in[0], [&](Tensor& y) { div_(y, in[1]); })),
        CASE("inplace", "inplace_mul_into_plain",
             [&] {  // torch.full((3, 4), 2.0).mul_(in0)
                 Tensor y = full({3, 4}, 2.0);
                 return mul_(y, in[0]);
             }()),
        CASE("inplace", "inplace_neg", in_place(in[0], [](Tensor& y) { neg_(y); })),
        CASE("inplace", "inplace_exp", in_place(in[0], [](Tensor& y) { exp_(y); })),
        CASE("inplace", "inplace_sqrt", in_place(in[0], [](Tensor& y) { sqrt_(y); })),
        CASE("inplace", "inplace_relu", in_place(in[0], [](Tensor& y) { relu_(y); })),
        CASE("inplace", "inplace_leaky_relu", in_place(in[0], [](Tensor& y) { leaky_relu_(y, 0.1); })),
        CASE("inplace", "inplace_sigmoid", in_place(in[0], [](Tensor& y) { sigmoid_(y); })),
        CASE("inplace", "inplace_tanh", in_place(in[0], [](Tensor& y) { tanh_(y); })),
        CASE("inplace", "inplace_chain",
             [&] {  // torch.mul(in0, 2.0).mul_(in1).tanh_()
                 Tensor y = mul(in[0], 2.0);
                 mul_(y, in[1]);
                 return tanh_(y);
             }()),
        // ---- non-contiguous inputs: permuted, sliced (step, offset), expanded, selected ----
        CASE("noncontiguous", "nc_permute_exp", exp(in[0].permute({2, 0, 1}))),
        CASE("noncontiguous", "nc_permute_sigmoid", sigmoid(in[0].t())),
        CASE("noncontiguous", "nc_slice_tanh", tanh(in[0].slice(1, 0, 6, 2))),  // in0[:, ::2]
        CASE("noncontiguous", "nc_expand_relu", relu(in[0].expand({3, 4}))),
        CASE("noncontiguous", "nc_permute_add", add(in[0].permute({1, 0}), in[1])),
        CASE("noncontiguous", "nc_slice_mul", mul(in[0].slice(1, 0, 6, 2), in[1])),
        CASE("noncontiguous", "nc_slice_offset_sub",
             sub(in[0].slice(0, 1, 4).slice(1, 1, 7, 2), in[1])),  // in0[1:, 1::2]
        CASE("noncontiguous", "nc_expand_mul", mul(in[0].expand({3, 4}), in[1])),
        CASE("noncontiguous", "nc_expand_div", div(in[0], in[1].expand({2, 3, 4}))),
        CASE("noncontiguous", "nc_expand_maximum", maximum(in[0].expand({3, 4}), in[1])),
        CASE("noncontiguous", "nc_select_mul", mul(in[0].select(1, 1), in[1])),  // in0[:, 1]
        CASE("noncontiguous", "nc_permute_sum", sum(in[0].permute({2, 0, 1}), {1}, false)),
        CASE("noncontiguous", "nc_slice_sum", sum(in[0].slice(1, 1, 8, 2), {0}, false)),  // in0[:, 1::2]
        CASE("noncontiguous", "nc_expand_sum", sum(in[0].expand({3, 4}), {0}, false)),
        CASE("noncontiguous", "nc_permute_mean", mean(in[0].permute({1, 2, 0}), {-1}, true)),
        CASE("noncontiguous", "nc_slice_var", var(in[0].slice(0, 0, 6, 2), {0})),  // in0[::2, :]
        CASE("noncontiguous", "nc_permute_max_dim", max(in[0].permute({2, 1, 0}), 1)),
        CASE("noncontiguous", "nc_slice_min_all", min(in[0].slice(0, 1, 4).slice(1, 0, 6, 3))),  // in0[1:, ::3]
        CASE("noncontiguous", "nc_permute_argmax", argmax(in[0].permute({0, 2, 1}), 1)),
        CASE("noncontiguous", "nc_permute_matmul", matmul(in[0].t(), in[1])),
        CASE("noncontiguous", "nc_rhs_t_matmul", matmul(in[0], in[1].t())),
        CASE("noncontiguous", "nc_slice_matmul", matmul(in[0].slice(1, 0, 8, 2), in[1])),
        CASE("noncontiguous", "nc_expand_matmul", matmul(in[0].expand({2, 3, 4}), in[1])),
        CASE("noncontiguous", "nc_permute_softmax", softmax(in[0].permute({0, 2, 1}), 1)),
        CASE("noncontiguous", "nc_slice_log_softmax", log_softmax(in[0].slice(1, 0, 8, 2), -1)),
        CASE("noncontiguous", "nc_expand_softmax", softmax(in[0].expand({3, 4}), -1)),
        CASE("noncontiguous", "nc_expand_concat", concat({in[0].expand({2, 3}), in[1]}, 0)),
        CASE("noncontiguous", "nc_permute_stack", stack({in[0].t(), in[1]}, 1)),
        CASE("noncontiguous", "nc_permute_pad", pad(in[0].permute({1, 0}), {1, -1, 0, 1})),
        CASE("noncontiguous", "nc_slice_where", where(in[0], in[1].slice(1, 0, 6, 2), in[2])),
        CASE("noncontiguous", "nc_permute_reshape_mul", mul(in[0].t().reshape({-1}), in[1])),
    };
    return table;
}

#undef CASE

const SafetensorsFile& fixture() {
    static const SafetensorsFile file(FBSEG_FIXTURE_DIR "/ops.safetensors");
    return file;
}

/// Per-element tolerance in float32: |fbseg - torch| <= kAtol + kRtol |torch|. The reference is
/// torch's float32 result (its own rounding included), so rtol is ~100 float32 ulps; the atol covers
/// entries that cancel to ~0 in sums of O(1) terms (a few ulps of those terms).
constexpr double kAtol = 1e-6;
constexpr double kRtol = 1e-5;

/// The worst element seen in a family (its |diff| / allowance), for the summary message.
struct Worst {
    double error = 0;
    std::string where = "-";
    void note(double e, const std::string& w) {
        if (e > error) error = e, where = w;
    }
};

/// Checks `actual` (fbseg) against the fixture's tensor `key`.
void compare(const std::string& key, const Tensor& actual, Worst& worst) {
    INFO("tensor ", key);
    const Tensor expected = fixture().get(key);
    if (!actual.defined()) {
        FAIL_CHECK(key, ": fbseg produced no tensor (an undefined gradient?)");
        return;
    }
    CHECK_MESSAGE(actual.dtype() == expected.dtype(), key, ": dtype ", std::string(dtype_name(actual.dtype())),
                  " vs torch's ", std::string(dtype_name(expected.dtype())));
    if (actual.shape() != expected.shape()) {
        FAIL_CHECK(key, ": shape ", shape_str(actual.shape()), " vs torch's ", shape_str(expected.shape()));
        return;
    }
    if (is_floating(expected.dtype())) {
        const test::CloseResult r = test::allclose(actual, expected, kAtol, kRtol);
        worst.note(r.worst_ratio, key);
        CHECK_MESSAGE(r.ok, key, ": ", r.message, "\n  fbseg: ", actual, "\n  torch: ", expected);
    } else {
        const bool equal = actual.dtype() == expected.dtype() &&
                           actual.to_vector<std::int64_t>() == expected.to_vector<std::int64_t>();
        CHECK_MESSAGE(equal, key, ": indices differ\n  fbseg: ", actual, "\n  torch: ", expected);
    }
}

/// Runs one case: forward, backward with the fixture's gout, and every comparison.
void run_case(const Case& c, Worst& worst) {
    const std::string name = c.name;
    INFO("parity case '", name, "': ", fixture().metadata("case." + name));
    const nlohmann::json meta = nlohmann::json::parse(fixture().metadata("case." + name));
    const int n_inputs = meta.at("inputs").get<int>();
    const int n_outputs = meta.at("outputs").get<int>();
    const std::vector<int> grads = meta.at("grads").get<std::vector<int>>();

    Inputs inputs;
    for (int i = 0; i < n_inputs; ++i) inputs.push_back(fixture().get(name + ".in" + std::to_string(i)));
    for (int i : grads) inputs[std::size_t(i)].set_requires_grad(true);

    const Outputs outputs = c.run(inputs);
    if (int(outputs.size()) < n_outputs) {
        FAIL_CHECK(name, ": fbseg gave ", outputs.size(), " outputs, torch ", n_outputs);
        return;
    }
    for (int k = 0; k < n_outputs; ++k)
        compare(name + ".out" + (k == 0 ? "" : std::to_string(k)), outputs[std::size_t(k)], worst);

    if (grads.empty()) {
        CHECK_MESSAGE(!outputs[0].requires_grad(), name, ": torch's output has no gradient but fbseg's requires grad");
        return;
    }
    if (!outputs[0].requires_grad()) {
        FAIL_CHECK(name, ": fbseg's output does not require grad");
        return;
    }
    outputs[0].backward(fixture().get(name + ".gout"));
    for (int i = 0; i < n_inputs; ++i) {
        const bool has_grad = std::find(grads.begin(), grads.end(), i) != grads.end();
        if (has_grad)
            compare(name + ".grad" + std::to_string(i), inputs[std::size_t(i)].grad(), worst);
        else
            CHECK_MESSAGE(!inputs[std::size_t(i)].grad().defined(), name, ": input ", i, " got a gradient");
    }
}

void run_family(const std::string& family) {
    Worst worst;
    int count = 0;
    for (const Case& c : cases()) {
        if (family != c.family) continue;
        ++count;
        try {
            run_case(c, worst);
        } catch (const std::exception& e) {  // an fbseg::Error: report it and go on with the next case
            FAIL_CHECK("parity case '", std::string(c.name), "' threw: ", std::string(e.what()));
        }
    }
    CHECK(count > 0);
    MESSAGE("parity ", family, ": ", count, " cases, worst |diff| / (atol + rtol |ref|) ", worst.error, " (", worst.where, ")");
}

TEST_CASE("parity: fixture and table cover the same cases") {
    const std::string listed = fixture().metadata("cases");
    std::set<std::string> in_file;
    std::stringstream ss(listed);
    for (std::string name; std::getline(ss, name, ',');) in_file.insert(name);
    std::set<std::string> in_table;
    for (const Case& c : cases()) {
        const std::string name = c.name;
        CHECK_MESSAGE(in_table.insert(name).second, "case '", name, "' is in the table twice");
        CHECK_MESSAGE(in_file.count(name) == 1, "case '", name,
                      "' is not in the fixture: rerun python3 tools/make_op_fixtures.py");
    }
    for (const std::string& name : in_file)
        CHECK_MESSAGE(in_table.count(name) == 1, "fixture case '", name,
                      "' has no fbseg implementation in test_parity.cpp");
    MESSAGE("parity fixture: ", in_file.size(), " cases, made with torch ", fixture().metadata("torch_version"));
}

TEST_CASE("parity: unary") { run_family("unary"); }
TEST_CASE("parity: binary with broadcasting") { run_family("binary"); }
TEST_CASE("parity: reductions") { run_family("reduce"); }
TEST_CASE("parity: matmul") { run_family("matmul"); }
TEST_CASE("parity: softmax") { run_family("softmax"); }
TEST_CASE("parity: concat, stack, pad, where") { run_family("join"); }
TEST_CASE("parity: views and copies") { run_family("view"); }
TEST_CASE("parity: in-place ops") { run_family("inplace"); }
TEST_CASE("parity: non-contiguous inputs") { run_family("noncontiguous"); }

// ---- the reader's own errors ----------------------------------------------------------------

/// Writes a safetensors file from a header text and `data_bytes` zero bytes of data.
std::string write_file(const std::string& name, const std::string& header, std::size_t data_bytes,
                       std::uint64_t declared_len = ~std::uint64_t(0)) {
    // The process id keeps concurrent runs (two build trees tested at once) apart.
    const std::string path =
        (std::filesystem::temp_directory_path() / (std::to_string(::getpid()) + "_" + name)).string();
    std::ofstream out(path, std::ios::binary);
    const std::uint64_t n = declared_len == ~std::uint64_t(0) ? header.size() : declared_len;
    for (int b = 0; b < 8; ++b) out.put(char((n >> (8 * b)) & 0xff));
    out << header << std::string(data_bytes, '\0');
    return path;
}

TEST_CASE("parity: safetensors reader reports bad files and keys") {
    const std::string good = write_file("fbseg_parity_good.safetensors",
                                        R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                                        R"("__metadata__":{"k":"v"}})",
                                        8);
    const SafetensorsFile file(good);
    CHECK(file.get("a").shape() == Shape{2});
    CHECK(file.get("a").to_vector<float>() == std::vector<float>{0.f, 0.f});
    CHECK(file.metadata("k") == "v");
    CHECK_THROWS_WITH_AS(file.get("b"), doctest::Contains("'b'"), Error);
    CHECK_THROWS_WITH_AS(file.get("b"), doctest::Contains("fbseg_parity_good.safetensors"), Error);

    auto throws = [](const std::string& name, const std::string& header, std::size_t data, const char* needle) {
        INFO("file ", name);
        const std::string path = write_file(name, header, data);
        CHECK_THROWS_WITH_AS(SafetensorsFile{path}, doctest::Contains(needle), Error);
        CHECK_THROWS_WITH_AS(SafetensorsFile{path}, doctest::Contains(name.c_str()), Error);
        std::filesystem::remove(path);
    };
    throws("fbseg_parity_offsets.safetensors", R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,16]}})", 8,
           "'x': data_offsets");
    throws("fbseg_parity_size.safetensors", R"({"x":{"dtype":"F64","shape":[2],"data_offsets":[0,8]}})", 8,
           "'x': F64 [2] needs 16 bytes");
    throws("fbseg_parity_dtype.safetensors", R"({"x":{"dtype":"C64","shape":[2],"data_offsets":[0,16]}})", 16,
           "'x': dtype \"C64\" is not supported");
    throws("fbseg_parity_json.safetensors", R"({"x":)", 0, "not valid JSON");

    const std::string short_path = write_file("fbseg_parity_len.safetensors", "{}", 0, 1000);
    CHECK_THROWS_WITH_AS(SafetensorsFile{short_path}, doctest::Contains("declares a header of 1000 bytes"), Error);
    std::filesystem::remove(short_path);
    std::filesystem::remove(good);
    CHECK_THROWS_WITH_AS(SafetensorsFile{"/nonexistent/x.safetensors"}, doctest::Contains("cannot open"), Error);
}

}  // namespace parity_tests
}  // namespace fbseg
