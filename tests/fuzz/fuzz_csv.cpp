// tests/fuzz/fuzz_csv.cpp - libFuzzer target for the CSV reader (include/fbseg/data/csv.hpp) and
// the HC18 column logic on the parsed table (hc18_rows in include/fbseg/data/hc18.hpp). Any input
// must parse (every row as long as the header) or be refused with fbseg::Error; a crash, a
// sanitizer report, a hang or another exception type is a bug. Built with the `fuzz` preset
// (clang), run by `bash tools/run.sh fuzz` (seeds: the HC18 fixture's CSV files).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "fbseg/fbseg.hpp"
#include "fbseg/data/csv.hpp"
#include "fbseg/data/hc18.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    try {
        const fbseg::data::CsvTable table = fbseg::data::parse_csv(text, "fuzz.csv");
        if (table.rows.size() != table.row_lines.size()) std::abort();
        for (const auto& row : table.rows)
            if (row.size() != table.header.size()) std::abort();
        for (bool training : {true, false}) {
            try {
                const auto rows = fbseg::data::hc18_rows(table, training);
                for (const auto& r : rows)
                    if (!(r.pixel_size_mm > 0) || !fbseg::data::hc18_subject_of(r.filename)) std::abort();
            } catch (const fbseg::Error&) {
            }
        }
    } catch (const fbseg::Error&) {
        // refused with a message: the expected outcome for most inputs
    }
    return 0;
}
