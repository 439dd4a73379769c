// fbseg/data/csv.hpp - a small RFC 4180 CSV reader: the table of HC18's CSV files and of
// CsvManifestDataset (data/manifest.hpp).
//
// Rules (RFC 4180, plus what spreadsheets write):
//   - fields are separated by ',' and records by CRLF or LF (a lone CR also ends a record);
//   - a field that starts with '"' is quoted: it runs to the next '"' not followed by another
//     '"'; inside it "" is one '"', and commas, CR and LF are kept as they are;
//   - a '"' inside an unquoted field, or text after a quoted field's closing '"' (other than
//     ',' or the end of the record), is an error with its line number;
//   - a UTF-8 byte order mark (EF BB BF) at the start is skipped;
//   - the first record is the header; every record must have as many fields as the header (an
//     error naming the line, the count found and the header), except that empty lines are
//     skipped (a final newline, or blank lines at the end);
//   - header names are matched exactly (no trimming: "pixel size(mm)" is HC18's column name);
//     values keep their spaces too, and numbers are parsed by parse_csv_number, which trims them.
#pragma once

#include <charconv>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "fbseg/core/error.hpp"

namespace fbseg::data {

class CsvTable {
public:
    std::vector<std::string> header;
    std::vector<std::vector<std::string>> rows;
    std::vector<std::int64_t> row_lines;  // the line (1-based) where each row starts
    std::string source;                   // the file, for messages

    std::size_t size() const { return rows.size(); }
    /// The header as `"a", "b", "c"` for messages.
    std::string header_list() const {
        std::string out;
        for (std::size_t k = 0; k < header.size(); ++k) out += (k ? ", \"" : "\"") + header[k] + "\"";
        return out;
    }
    bool has_column(std::string_view name) const {
        for (const auto& h : header)
            if (h == name) return true;
        return false;
    }
    /// The index of column `name`; an error naming the columns found when there is none, or when
    /// the header has it twice.
    std::size_t column(std::string_view name) const {
        std::size_t found = header.size(), count = 0;
        for (std::size_t k = 0; k < header.size(); ++k)
            if (header[k] == name) {
                if (count++ == 0) found = k;
            }
        FBSEG_CHECK(count > 0, "CSV '", source, "': no column \"", name, "\"; the header has ", header_list());
        FBSEG_CHECK(count == 1, "CSV '", source, "': the column \"", name, "\" appears ", count, " times in the header ",
                    header_list());
        return found;
    }
};

/// Parses CSV text (rules at the top of this file); `source` names it in errors.
inline CsvTable parse_csv(std::string_view text, const std::string& source) {
    CsvTable table;
    table.source = source;
    std::size_t i = 0;
    if (text.size() >= 3 && text.substr(0, 3) == "\xEF\xBB\xBF") i = 3;
    std::int64_t line = 1;
    bool have_header = false;
    const std::size_t n = text.size();
    while (i < n) {
        const std::int64_t record_line = line;
        std::vector<std::string> fields;
        std::string field;
        bool record_done = false, blank = true;
        while (!record_done) {
            if (i < n && text[i] == '"') {  // a quoted field
                blank = false;
                const std::int64_t open_line = line;
                ++i;
                bool closed = false;
                while (i < n) {
                    const char ch = text[i];
                    if (ch == '"') {
                        if (i + 1 < n && text[i + 1] == '"') {
                            field += '"';
                            i += 2;
                            continue;
                        }
                        ++i;
                        closed = true;
                        break;
                    }
                    if (ch == '\n' || (ch == '\r' && !(i + 1 < n && text[i + 1] == '\n'))) ++line;
                    field += ch;
                    ++i;
                }
                FBSEG_CHECK(closed, "CSV '", source, "': line ", open_line, ": a quoted field is not closed (no ",
                            "closing '\"' before the end of the file)");
                FBSEG_CHECK(i >= n || text[i] == ',' || text[i] == '\r' || text[i] == '\n', "CSV '", source, "': line ",
                            line, ": unexpected character '", text[i], "' after the closing '\"' of a quoted field ",
                            "(expected ',' or the end of the line)");
            } else {  // an unquoted field: up to ',' or the end of the record
                while (i < n && text[i] != ',' && text[i] != '\r' && text[i] != '\n') {
                    FBSEG_CHECK(text[i] != '"', "CSV '", source, "': line ", line, ": a '\"' inside an unquoted field ",
                                "(a field with quotes must be quoted as a whole, with \"\" for each '\"')");
                    field += text[i++];
                    blank = false;
                }
            }
            fields.push_back(std::move(field));
            field.clear();
            if (i < n && text[i] == ',') {
                blank = false;
                ++i;
                continue;
            }
            // the end of the record: CRLF, LF, CR or the end of the text
            if (i < n && text[i] == '\r') ++i;
            if (i < n && text[i] == '\n') ++i;
            ++line;
            record_done = true;
        }
        if (blank) continue;  // an empty line
        if (!have_header) {
            table.header = std::move(fields);
            have_header = true;
            continue;
        }
        FBSEG_CHECK(fields.size() == table.header.size(), "CSV '", source, "': line ", record_line, " has ",
                    fields.size(), " fields but the header has ", table.header.size(), " (", table.header_list(), ")");
        table.rows.push_back(std::move(fields));
        table.row_lines.push_back(record_line);
    }
    FBSEG_CHECK(have_header, "CSV '", source, "': the file is empty (expected a header line)");
    return table;
}

/// Reads and parses a CSV file (at most max_bytes).
inline CsvTable read_csv(const std::string& path, std::int64_t max_bytes = std::int64_t(1) << 30) {
    std::ifstream in(path, std::ios::binary | std::ios::ate);
    FBSEG_CHECK(in, "read_csv: cannot open '", path, "'");
    const std::streamoff size = in.tellg();
    FBSEG_CHECK(size >= 0 && size <= max_bytes, "read_csv: '", path, "' has ", size, " bytes, more than the ",
                max_bytes, " accepted");
    std::string text(static_cast<std::size_t>(size), '\0');
    in.seekg(0);
    if (size > 0) in.read(text.data(), size);
    FBSEG_CHECK(in.gcount() == size, "read_csv: could read only ", in.gcount(), " of the ", size, " bytes of '", path, "'");
    return parse_csv(text, path);
}

/// A finite number from a CSV field (spaces around it allowed); `what` names the field in errors.
inline double parse_csv_number(std::string_view field, const CsvTable& table, std::size_t row, std::string_view column) {
    std::string_view s = field;
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    if (!s.empty() && s.front() == '+') s.remove_prefix(1);
    double v = 0.0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    FBSEG_CHECK(!s.empty() && ec == std::errc() && end == s.data() + s.size() && std::isfinite(v), "CSV '",
                table.source, "': line ", table.row_lines[row], ": the column \"", column, "\" holds \"", field,
                "\", expected a finite number");
    return v;
}

}  // namespace fbseg::data
