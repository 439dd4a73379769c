// tests/harness/node_names.hpp - what the library's headers say about its ops, for the coverage
// tests: the public op functions (scan_public_functions), the autograd node names the library can
// produce (scan_node_names), and the node names a graph actually holds (collect_node_names).
//
// Ops name their backward node in a handful of ways; the scanner knows each of them:
//   1. a string literal ending in "Backward" (or "Backwards"): autograd::record("BmmBackward", ...),
//      record_view(*this, out, "ViewBackward", ...), log ? "LogSoftmaxBackward" : "SoftmaxBackward"
//   2. binary::record("Mul", ...)                       -> "MulBackward"
//   3. a unary struct { static constexpr const char* name = "relu"; } used as
//      unary::apply(x, unary::Relu{}) -> "reluBackward",  unary::apply_(x, unary::Relu{}) -> "relu_Backward"
//   4. binary::apply_(self, other, "add_", ...)          -> "add_Backward"
//   5. reduce::extreme(x, ..., "max") / extreme_all(x, ..., "max") -> "maxBackward"
// A name built another way (a line with `+ "Backward"` that is none of the known expressions)
// makes the scan fail with a request to teach it the new way, so the coverage test cannot go
// blind silently.
#pragma once

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "fbseg/fbseg.hpp"

namespace fbseg::harness {

struct NodeScan {
    std::map<std::string, std::string> names;  // node name -> the header it comes from
    std::vector<std::string> unexplained;      // dynamic name sites the scanner does not know
};

/// The text of a header without its // comments (comments quote node names as examples).
inline std::string code_of(const std::filesystem::path& file) {
    std::ifstream in(file);
    std::ostringstream text;
    for (std::string line; std::getline(in, line);) {
        const auto comment = line.find("//");
        text << (comment == std::string::npos ? line : line.substr(0, comment)) << '\n';
    }
    return text.str();
}

inline NodeScan scan_node_names(const std::filesystem::path& include_dir) {
    NodeScan scan;
    std::map<std::string, std::string> files;  // relative path -> code
    for (const auto& entry : std::filesystem::recursive_directory_iterator(include_dir))
        if (entry.is_regular_file() && entry.path().extension() == ".hpp")
            files[std::filesystem::relative(entry.path(), include_dir).string()] = code_of(entry.path());

    auto for_each_match = [](const std::string& text, const std::regex& re, auto f) {
        for (auto it = std::sregex_iterator(text.begin(), text.end(), re); it != std::sregex_iterator(); ++it) f(*it);
    };
    // unary structs: struct Relu { ... name = "relu"; ... }
    std::map<std::string, std::string> unary_names;
    const std::regex struct_name(
        R"re(struct\s+(\w+)\s*\{[^}]*?static\s+constexpr\s+const\s+char\s*\*\s*name\s*=\s*"(\w+)")re");
    for (const auto& [path, code] : files)
        for_each_match(code, struct_name, [&](const std::smatch& m) { unary_names[m[1]] = m[2]; });

    const std::regex literal(R"re("([A-Za-z]\w*Backwards?)")re");  // not the "_Backward" of rule 3
    const std::regex binary_record(R"re(binary::record\(\s*"(\w+)")re");
    const std::regex unary_apply(R"re(unary::apply(_?)\(\s*\w+\s*,\s*(?:unary::)?(\w+)\s*\{)re");
    const std::regex binary_inplace(R"re(binary::apply_\(\s*\w+\s*,\s*\w+\s*,\s*"(\w+)")re");
    const std::regex reduce_extreme(R"re(reduce::extreme(?:_all)?\([^;"]*"(\w+)"\s*\))re");
    const std::regex dynamic(R"re(\+\s*"_?Backward")re");
    const std::vector<std::string> known_dynamic = {
        R"re(std::string(name) + "Backward")re", R"re(std::string(Op::name) + "Backward")re",
        R"re(std::string(Op::name) + "_Backward")re", R"re(std::string(op) + "Backward")re"};
    for (const auto& [path, code] : files) {
        for_each_match(code, literal, [&](const std::smatch& m) { scan.names.emplace(m[1], path); });
        for_each_match(code, binary_record,
                       [&](const std::smatch& m) { scan.names.emplace(m[1].str() + "Backward", path); });
        for_each_match(code, unary_apply, [&](const std::smatch& m) {
            const auto it = unary_names.find(m[2]);
            if (it == unary_names.end()) {
                scan.unexplained.push_back(path + ": unary::apply of " + m[2].str() +
                                           ", whose name the scanner did not find");
                return;
            }
            scan.names.emplace(it->second + (m[1].length() ? "_Backward" : "Backward"), path);
        });
        for_each_match(code, binary_inplace,
                       [&](const std::smatch& m) { scan.names.emplace(m[1].str() + "Backward", path); });
        for_each_match(code, reduce_extreme,
                       [&](const std::smatch& m) { scan.names.emplace(m[1].str() + "Backward", path); });
        std::istringstream lines(code);
        int number = 0;
        for (std::string line; std::getline(lines, line);) {
            ++number;
            if (!std::regex_search(line, dynamic)) continue;
            bool known = false;
            for (const std::string& k : known_dynamic) known = known || line.find(k) != std::string::npos;
            if (!known)
                scan.unexplained.push_back(path + ":" + std::to_string(number) +
                                           ": a node name built at run time the scanner does not know: " + line);
        }
    }
    return scan;
}

/// The public op functions of the headers under include/fbseg/ops/ and nn/loss.hpp: free functions
/// declared or defined at column 0 (`inline` or `FBSEG_OP`, ops/op_library.hpp) inside namespace
/// fbseg or fbseg::nn (not in a detail namespace) that return Tensor, Tensor&, ValuesIndices or
/// std::vector<Tensor>, and the Tensor::name methods defined there. Maps the name to its header. (The headers close every namespace with
/// "}  // namespace name", which is how the scan keeps track of where it is.)
inline std::map<std::string, std::string> scan_public_functions(const std::filesystem::path& include_dir) {
    std::map<std::string, std::string> names;
    std::vector<std::filesystem::path> files;
    for (const auto& entry : std::filesystem::recursive_directory_iterator(include_dir / "ops"))
        if (entry.is_regular_file() && entry.path().extension() == ".hpp") files.push_back(entry.path());
    files.push_back(include_dir / "nn" / "loss.hpp");
    const std::regex open_ns(R"re(^namespace\s+([\w:]+)\s*\{)re");
    const std::regex close_ns(R"re(^\}\s*//\s*namespace)re");
    const std::regex function(
        R"re(^(?:(?:inline|FBSEG_OP)\s+)?(?:Tensor&?|ValuesIndices|std::vector<Tensor>)\s+(Tensor::)?([A-Za-z_]\w*)\s*\()re");
    for (const auto& file : files) {
        std::ifstream lines(file);  // raw lines: the closing "// namespace" comments matter here
        std::vector<std::string> stack;
        for (std::string line; std::getline(lines, line);) {
            std::smatch m;
            if (std::regex_search(line, close_ns)) {
                if (!stack.empty()) stack.pop_back();
                continue;
            }
            line = line.substr(0, line.find("//"));
            if (std::regex_search(line, m, open_ns)) {
                stack.push_back(m[1]);
            } else if (std::regex_search(line, m, function)) {
                std::string where;
                for (const auto& n : stack) where += (where.empty() ? "" : "::") + n;
                if (where == "fbseg" || where == "fbseg::nn")
                    names.emplace(m[2].str(), std::filesystem::relative(file, include_dir).string());
            }
        }
    }
    return names;
}

/// Adds the names of every node reachable from `t`'s grad_fn (AccumulateGrad excluded).
inline void collect_node_names(const Tensor& t, std::set<std::string>& names) {
    if (!t.defined() || !t.grad_fn()) return;
    std::vector<std::shared_ptr<autograd::Node>> stack{t.grad_fn()};
    std::set<const autograd::Node*> seen;
    while (!stack.empty()) {
        const auto node = stack.back();
        stack.pop_back();
        if (!seen.insert(node.get()).second) continue;
        if (node->name() != "AccumulateGrad") names.insert(node->name());
        for (const autograd::Edge& e : node->next_edges())
            if (e.valid()) stack.push_back(e.fn);
    }
}

}  // namespace fbseg::harness
