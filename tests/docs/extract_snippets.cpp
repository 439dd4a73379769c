// tests/docs/extract_snippets.cpp - gathers the ```cpp blocks of docs/*.md and README.md into one
// C++ source that the build compiles (target fbseg_doc_snippets), so that the names in the docs
// cannot drift from the library.
//
//   fbseg_extract_snippets ROOT OUT.cpp SKIPS.txt FILE.md...
//
// Each block becomes a function `void run()` in a namespace of its own, after an implicit
// `using namespace fbseg;`, with `#line` directives so that a compile error names the Markdown
// file and line. `#include` lines are hoisted to the top of the source. A block is left out when
//   - the line before its fence is `<!-- snippet: fragment (why) -->` (in the docs this tool may
//     edit), or
//   - SKIPS.txt has a line `FILE.md | first line of the block | why` (for chapters whose owners
//     have not marked them; a line that matches no block is an error, so the list cannot go stale).
// A block can be given declarations it assumes with `<!-- snippet: context: DECLARATIONS -->`
// on the line before the fence (or `... | context: DECLARATIONS` in SKIPS.txt); they are placed
// before the block's code. Blocks whose fence is not exactly ```cpp (```cuda, ```text) are not C++.
// The tool prints how many blocks it compiled and skipped; it fails on a malformed marker.
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace {

std::string trim(const std::string& s) {
    const auto b = s.find_first_not_of(" \t\r");
    if (b == std::string::npos) return "";
    const auto e = s.find_last_not_of(" \t\r");
    return s.substr(b, e - b + 1);
}

struct Rule {
    std::string file, first_line, action;  // action: "fragment ..." or "context: ..."
    int uses = 0;
};

std::vector<Rule> read_rules(const std::string& path) {
    std::vector<Rule> rules;
    std::ifstream in(path);
    if (!in) throw std::runtime_error("cannot read " + path);
    for (std::string line; std::getline(in, line);) {
        if (trim(line).empty() || trim(line)[0] == '#') continue;
        const auto a = line.find(" | "), b = line.rfind(" | ");
        if (a == std::string::npos || a == b) throw std::runtime_error(path + ": malformed line: " + line);
        rules.push_back({trim(line.substr(0, a)), trim(line.substr(a + 3, b - a - 3)), trim(line.substr(b + 3))});
    }
    return rules;
}

}  // namespace

int main(int argc, char** argv) try {
    if (argc < 5) {
        std::cerr << "usage: fbseg_extract_snippets ROOT OUT.cpp SKIPS.txt FILE.md...\n";
        return 2;
    }
    const std::string root = argv[1], out_path = argv[2];
    std::vector<Rule> rules = read_rules(argv[3]);
    std::vector<std::string> includes{"#include \"fbseg/fbseg.hpp\"", "#include <iostream>"};
    std::ostringstream bodies;
    int compiled = 0, skipped = 0;
    for (int a = 4; a < argc; ++a) {
        const std::string rel = argv[a];
        std::ifstream in(root + "/" + rel);
        if (!in) throw std::runtime_error("cannot read " + root + "/" + rel);
        std::vector<std::string> lines;
        for (std::string line; std::getline(in, line);) lines.push_back(line);
        for (std::size_t i = 0; i < lines.size(); ++i) {
            if (trim(lines[i]) != "```cpp") continue;
            std::size_t end = i + 1;
            while (end < lines.size() && trim(lines[end]).rfind("```", 0) != 0) ++end;
            const std::string first = end > i + 1 ? trim(lines[i + 1]) : "";
            std::string marker;  // the marker comment on the line before the fence, if any
            if (i > 0 && trim(lines[i - 1]).rfind("<!-- snippet:", 0) == 0) {
                marker = trim(lines[i - 1]);
                if (marker.size() < 17 || marker.substr(marker.size() - 3) != "-->")
                    throw std::runtime_error(rel + ":" + std::to_string(i) + ": malformed snippet marker");
                marker = trim(marker.substr(13, marker.size() - 16));
            }
            for (Rule& r : rules)
                if (r.file == rel && r.first_line == first) {
                    ++r.uses;
                    marker = r.action;
                }
            if (marker.rfind("fragment", 0) == 0) {
                ++skipped;
                i = end;
                continue;
            }
            std::string context;
            if (marker.rfind("context:", 0) == 0) context = trim(marker.substr(8));
            else if (!marker.empty())
                throw std::runtime_error(rel + ":" + std::to_string(i) + ": unknown snippet marker '" + marker + "'");
            ++compiled;
            bodies << "namespace doc_snippet_" << compiled << " {  // " << rel << ":" << i + 1 << "\n"
                   << "using namespace fbseg;\n"
                   << "[[maybe_unused]] void run() {\n";
            if (!context.empty()) bodies << context << "\n";
            bodies << "#line " << i + 2 << " \"" << root << "/" << rel << "\"\n";
            for (std::size_t k = i + 1; k < end; ++k) {
                if (trim(lines[k]).rfind("#include", 0) == 0) {
                    includes.push_back(trim(lines[k]));
                    bodies << "\n";  // keep the line numbers
                } else {
                    bodies << lines[k] << "\n";
                }
            }
            bodies << "}\n}  // namespace doc_snippet_" << compiled << "\n\n";
            i = end;
        }
    }
    for (const Rule& r : rules)
        if (r.uses == 0)
            throw std::runtime_error(std::string(argv[3]) + ": no ```cpp block of " + r.file + " starts with '" +
                                     r.first_line + "' (remove or update the line)");
    std::ofstream out(out_path);
    out << "// Generated by tests/docs/extract_snippets.cpp from the docs' ```cpp blocks: do not edit.\n";
    for (const std::string& inc : includes) out << inc << "\n";
    out << "#pragma GCC diagnostic ignored \"-Wunused-variable\"\n"
        << "#pragma GCC diagnostic ignored \"-Wunused-but-set-variable\"\n"
        << "#pragma GCC diagnostic ignored \"-Wunused-value\"\n\n"
        << bodies.str();
    std::cout << "doc snippets: " << compiled << " compiled, " << skipped << " skipped on purpose\n";
    return out ? 0 : 1;
} catch (const std::exception& e) {
    std::cerr << "fbseg_extract_snippets: " << e.what() << "\n";
    return 1;
}
