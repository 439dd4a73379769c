// The op harness's CPU modes (see tests/harness/op_case.hpp and docs/testing.md):
//   grad      float64 finite differences of every differentiable case
//   parity    every case with a PyTorch equivalent against tests/fixtures/harness.safetensors
//             (tools/make_harness_fixtures.py), outputs and input gradients per element
//   coverage  every public op (include/fbseg/ops/op_list.hpp) has a case, and every autograd node
//             the library's headers can name is produced by some case
#include <doctest/doctest.h>

#include <filesystem>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "fbseg/fbseg.hpp"
#include "fbseg/ops/op_list.hpp"
#include "harness/list_json.hpp"
#include "harness/node_names.hpp"
#include "harness/registry.hpp"
#include "support/check.hpp"
#include "support/safetensors_reader.hpp"

namespace fbseg {
namespace harness_tests {  // a namespace of its own: the test files are compiled as one unity source

using harness::OpCase;
using harness::registry;

/// The outputs that carry a gradient, flattened and joined into one tensor (gradcheck's f returns one).
Tensor differentiable_part(const harness::Outputs& outputs) {
    std::vector<Tensor> parts;
    for (const Tensor& t : outputs)
        if (t.defined() && t.requires_grad()) parts.push_back(t.reshape({-1}));
    FBSEG_CHECK(!parts.empty(), "harness: no output requires grad");
    return parts.size() == 1 ? parts[0] : concat(parts, 0);
}

TEST_CASE("harness: gradcheck of every differentiable case (float64 finite differences)") {
    int checked = 0;
    for (const OpCase& c : registry()) {
        if (!c.differentiable) continue;
        INFO("case ", c.id());
        try {
            const std::vector<Tensor> bases = harness::make_bases(c, DType::Float64, true);
            auto f = [&c](const std::vector<Tensor>& leaves) {
                return differentiable_part(harness::run_case(c, leaves));
            };
            const GradcheckResult result = gradcheck(f, bases, c.grad);
            CHECK_MESSAGE(result.ok, c.id(), ": ", result.message);
            ++checked;
        } catch (const std::exception& e) {
            FAIL_CHECK(c.id(), " threw: ", std::string(e.what()));
        }
    }
    MESSAGE("harness grad: ", checked, " differentiable cases checked");
    CHECK(checked > 100);
}

// ---- parity with PyTorch --------------------------------------------------------------------

const test_support::SafetensorsFile& fixture() {
    static const test_support::SafetensorsFile file(std::string(FBSEG_FIXTURE_DIR) + "/harness.safetensors");
    return file;
}

/// The worst |diff| / (atol + rtol |ref|) over all compared tensors, for the summary.
struct Worst {
    double ratio = 0;
    std::string where = "-";
};
Worst& worst() {
    static Worst w;
    return w;
}

/// Compares one tensor with torch's: same dtype and shape, floating values per element within
/// the case's float32 tolerance, integers and bools exactly.
void compare(const std::string& key, const Tensor& actual, const OpCase& c) {
    const Tensor expected = fixture().get(key);
    if (!actual.defined()) {
        FAIL_CHECK(key, ": fbseg gave no tensor");
        return;
    }
    CHECK_MESSAGE(actual.dtype() == expected.dtype(), key, ": dtype ", std::string(dtype_name(actual.dtype())),
                  " vs torch's ", std::string(dtype_name(expected.dtype())));
    const bool exact = !is_floating(expected.dtype());
    const test::CloseResult r = test::allclose(actual, expected, exact ? 0.0 : c.f32.atol, exact ? 0.0 : c.f32.rtol);
    CHECK_MESSAGE(r.ok, key, ": ", r.message);
    if (r.worst_ratio > worst().ratio) worst() = {r.worst_ratio, key};
}

void run_parity(const OpCase& c, const nlohmann::json& meta) {
    const std::string id = c.id();
    // The fixture was made from the registry as it was then: a case edited since (shapes,
    // domains, layouts, attributes) must be regenerated, or the comparison means nothing.
    const bool same_spec = meta.at("spec") == harness::case_json(c);
    CHECK_MESSAGE(same_spec, id,
                  " changed since the fixture was made: rerun python3 tools/make_harness_fixtures.py\n  fixture:  ",
                  meta.at("spec").dump(), "\n  registry: ", harness::case_json(c).dump());
    if (!same_spec) return;
    std::vector<Tensor> bases;
    for (std::size_t k = 0; k < c.inputs.size(); ++k) {
        Tensor b = fixture().get(id + ".in" + std::to_string(k));
        if (c.differentiable && c.inputs[k].is_floating() && c.inputs[k].requires_grad) b.set_requires_grad(true);
        bases.push_back(b);
    }
    const harness::Outputs outputs = harness::run_case(c, bases);
    const int n_outputs = meta.at("outputs").get<int>();
    if (int(outputs.size()) != n_outputs) {
        FAIL_CHECK(id, ": fbseg gave ", outputs.size(), " outputs, torch ", n_outputs);
        return;
    }
    for (int k = 0; k < n_outputs; ++k) compare(id + ".out" + std::to_string(k), outputs[std::size_t(k)], c);

    const std::vector<int> seeded = meta.at("gouts").get<std::vector<int>>();  // outputs torch differentiated
    if (seeded.empty()) {
        for (const Tensor& o : outputs)
            CHECK_MESSAGE(!o.requires_grad(), id, ": torch's outputs need no gradient but fbseg's do");
        return;
    }
    std::vector<Tensor> roots, seeds;
    for (int k : seeded) {
        if (!outputs[std::size_t(k)].requires_grad()) {
            FAIL_CHECK(id, ": output ", k, " does not require grad");
            return;
        }
        roots.push_back(outputs[std::size_t(k)]);
        seeds.push_back(fixture().get(id + ".gout" + std::to_string(k)));
    }
    autograd::run_backward(roots, seeds, false);
    // An input whose gradient is structurally zero (copy_ overwrites its destination) keeps an
    // undefined .grad in fbseg, where torch returns zeros: the same gradient.
    for (int k : meta.at("grads").get<std::vector<int>>()) {
        const Tensor& base = bases[std::size_t(k)];
        compare(id + ".grad" + std::to_string(k), base.grad().defined() ? base.grad() : zeros_like(base), c);
    }
}

TEST_CASE("harness: parity with PyTorch (tests/fixtures/harness.safetensors)") {
    std::set<std::string> in_file;
    const nlohmann::json listed = nlohmann::json::parse(fixture().metadata("cases"));
    for (const auto& id : listed) in_file.insert(id.get<std::string>());
    int checked = 0, skipped = 0;
    for (const OpCase& c : registry()) {
        if (!c.parity) {
            ++skipped;
            CHECK_MESSAGE(in_file.count(c.id()) == 0, c.id(), " is marked no_parity but the fixture has it");
            continue;
        }
        INFO("case ", c.id());
        if (in_file.count(c.id()) == 0) {
            FAIL_CHECK(c.id(), " is not in the fixture: rerun python3 tools/make_harness_fixtures.py");
            continue;
        }
        try {
            run_parity(c, nlohmann::json::parse(fixture().metadata("case." + c.id())));
            ++checked;
        } catch (const std::exception& e) {
            FAIL_CHECK(c.id(), " threw: ", std::string(e.what()));
        }
        in_file.erase(c.id());
    }
    for (const std::string& id : in_file)
        FAIL_CHECK("fixture case ", id, " is not in the registry any more: regenerate the fixture");
    MESSAGE("harness parity: ", checked, " cases against torch ", fixture().metadata("torch_version"), ", ", skipped,
            " without a PyTorch equivalent; worst |diff| / (atol + rtol |ref|) ", worst().ratio, " (", worst().where,
            ")");
}

// ---- coverage --------------------------------------------------------------------------------

struct ListedOp {
    const char* name;
    const char* family;
    bool differentiable;
};

const std::vector<ListedOp>& public_ops() {
#define FBSEG_HARNESS_LISTED(name, family, differentiable) ListedOp{#name, #family, differentiable != 0},
    static const std::vector<ListedOp> ops = {FBSEG_PUBLIC_OPS(FBSEG_HARNESS_LISTED)};
#undef FBSEG_HARNESS_LISTED
    return ops;
}

TEST_CASE("harness: every public op has a case and every case is of a listed op") {
    std::map<std::string, int> cases_per_op;
    for (const OpCase& c : registry()) ++cases_per_op[c.op];
    std::set<std::string> listed;
    for (const ListedOp& op : public_ops()) {
        const std::string name = op.name;
        CHECK_MESSAGE(listed.insert(name).second, name, " is listed twice in op_list.hpp");
        CHECK_MESSAGE(cases_per_op.count(name) == 1, "public op '", name,
                      "' has no case in tests/harness/cases/ (every public op comes with its case)");
        bool any_differentiable = false;
        for (const OpCase& c : registry())
            any_differentiable = any_differentiable || (c.op == op.name && c.differentiable);
        if (op.differentiable)
            CHECK_MESSAGE(any_differentiable, "differentiable op '", name,
                          "' has no differentiable case (no gradcheck)");
    }
    for (const auto& [op, n] : cases_per_op)
        CHECK_MESSAGE(listed.count(op) == 1, "cases of '", op, "' but no such op in include/fbseg/ops/op_list.hpp");
    MESSAGE("harness: ", registry().size(), " cases of ", cases_per_op.size(), " ops");
}

/// Public functions of the op headers that are not ops, each with the reason.
const std::map<std::string, std::string>& not_ops() {
    static const std::map<std::string, std::string> names = {
        {"empty", "allocation without values"},
        {"empty_like", "allocation without values"},
        {"from_vector", "builds a tensor from C++ values"},
        {"scalar_like", "the scalar operand of add(x, 2.0) and friends: covered by the scalar cases of the binary ops"},
        {"set_requires_grad", "autograd bookkeeping"},
        {"to", "Tensor::to(DType) and Tensor::to(Device): listed as to_dtype and to_device"},
    };
    return names;
}

TEST_CASE("harness: every public function of the op headers is a listed op or a known non-op") {
    const auto functions =
        harness::scan_public_functions(std::filesystem::path(FBSEG_SOURCE_DIR) / "include" / "fbseg");
    CHECK_MESSAGE(functions.size() > 80, "the scan found only ", functions.size(), " public functions");
    std::set<std::string> listed;
    for (const ListedOp& op : public_ops()) listed.insert(op.name);
    for (const auto& [name, header] : functions) {
        if (not_ops().count(name)) continue;
        CHECK_MESSAGE(listed.count(name) == 1, "public function ", name, " (include/fbseg/", header,
                      ") is not in include/fbseg/ops/op_list.hpp: list it (and give it harness cases), or add it to "
                      "not_ops() in tests/test_harness.cpp with the reason");
    }
    for (const auto& [name, why] : not_ops())
        CHECK_MESSAGE(functions.count(name) == 1, "not_ops() lists ", name, ", which the headers no longer define");
    MESSAGE("harness: ", functions.size(), " public functions in the op headers");
}

/// Node names the scanner finds that no CPU case can produce, each with the reason.
const std::map<std::string, std::string>& unreachable_nodes() {
    static const std::map<std::string, std::string> names = {
        {"ToDeviceBackward", "needs a second device: the cuda mode runs to_device from CUDA tensors"},
        {"argmaxBackward", "argmax runs under NoGradGuard: reduce::extreme names the node but never records it"},
        {"argminBackward", "argmin runs under NoGradGuard, as argmax"},
        {"CumsumReverseBackward", "the node of cumsum's backward itself: only a second-order backward records it"},
    };
    return names;
}

TEST_CASE("harness: every autograd node the library names is produced by a case") {
    const harness::NodeScan scan =
        harness::scan_node_names(std::filesystem::path(FBSEG_SOURCE_DIR) / "include" / "fbseg");
    for (const std::string& why : scan.unexplained) FAIL_CHECK("teach tests/harness/node_names.hpp: ", why);
    CHECK_MESSAGE(scan.names.size() > 40, "the scan found only ", scan.names.size(), " node names");

    std::set<std::string> produced;
    for (const OpCase& c : registry()) {
        if (!c.differentiable) continue;
        try {
            for (const Tensor& t : harness::run_case(c, harness::make_bases(c, DType::Float64, true)))
                harness::collect_node_names(t, produced);
        } catch (const std::exception& e) {
            FAIL_CHECK(c.id(), " threw: ", std::string(e.what()));
        }
    }
    for (const auto& [name, header] : scan.names) {
        if (unreachable_nodes().count(name)) continue;
        CHECK_MESSAGE(produced.count(name) == 1, "autograd node ", name, " (named in include/fbseg/", header,
                      ") is produced by no harness case: add a case for its op");
    }
    for (const auto& [name, why] : unreachable_nodes())
        CHECK_MESSAGE(scan.names.count(name) == 1, "unreachable_nodes() lists ", name,
                      ", which the library no longer names");
    for (const std::string& name : produced)
        CHECK_MESSAGE(scan.names.count(name) == 1, "node ", name,
                      " appears in a graph but the scan of the headers missed it");
    MESSAGE("harness: ", scan.names.size(), " node names in the headers, ", produced.size(), " produced by the cases");
}

TEST_CASE("harness: the cases are well formed") {
    for (const OpCase& c : registry()) {
        INFO("case ", c.id());
        bool grad_input = false;
        for (const auto& s : c.inputs) grad_input = grad_input || (s.is_floating() && s.requires_grad);
        if (c.differentiable) CHECK_MESSAGE(grad_input, c.id(), " is differentiable but no input requires grad");
        if (c.inplace) CHECK_MESSAGE(!c.inputs.empty(), c.id(), " is in place but has no input to write into");
        // The case runs in float32 as well as float64 (parity, cuda and perf use float32).
        CHECK_NOTHROW(harness::run_case(c, harness::make_bases(c, DType::Float32, false)));
    }
}

}  // namespace harness_tests
}  // namespace fbseg
