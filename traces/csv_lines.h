// Line-by-line reading of a CSV trace in constant memory: one line at a time with its 1-based line number, fields
// split on commas, and field parsers whose errors read `file:line: column: expected ..., found '...'`.
// Handles CRLF line ends (the Azure traces use them), a UTF-8 byte-order mark and a last line without a newline.
#pragma once

#include <cstdint>
#include <istream>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sim/core/error.h"
#include "sim/core/limits.h"
#include "sim/core/time.h"

namespace kvsim::traces {

// True when `line` holds nothing but spaces, tabs and line ends.
bool is_blank_line(std::string_view line);
// Removes a leading UTF-8 byte-order mark, if any.
void strip_utf8_bom(std::string& line);

class CsvLines {
 public:
  // Reads the header (the first line) at once; an empty input throws naming `name`.
  CsvLines(std::unique_ptr<std::istream> in, std::string name);
  // The same with the header line already read from `in` (format detection).
  // `header_line_number`: the header's line in the file (blank lines before it already read).
  CsvLines(std::unique_ptr<std::istream> in, std::string name, std::optional<std::string> header_line,
           int64_t header_line_number = 1);
  // Opens `path`; a missing file throws naming it.
  static std::unique_ptr<CsvLines> open(const std::string& path);

  const std::string& name() const { return name_; }
  const std::string& header() const { return header_; }  // without line end and byte-order mark
  const std::vector<std::string>& header_fields() const { return header_fields_; }

  // The next non-blank data line split into trimmed fields; false at the end of the input.
  bool next_row(std::vector<std::string>& fields);
  int64_t line() const { return line_; }  // line number of the row last returned (the header is line 1)

  Place place() const { return Place{name_, static_cast<int>(line_), 0}; }
  [[noreturn]] void fail(std::string_view column, const std::string& message) const;
  [[noreturn]] void fail(const std::string& message) const;

  // Field parsers; errors name this line and `column`.
  // An integer in [0, max]; the default bound is a request's token count (sim/core/limits.h), so that a row's
  // prompt + output can never overflow.
  int64_t parse_count(const std::string& field, std::string_view column,
                      int64_t max = limits::kMaxRequestTokens) const;
  SimTime parse_seconds_ns(const std::string& field, std::string_view column) const;  // decimal seconds >= 0, exact

 private:
  std::unique_ptr<std::istream> in_;
  std::string name_;
  std::string header_;
  std::vector<std::string> header_fields_;
  std::string buffer_;
  int64_t line_ = 0;
};

// Splits on commas and trims blanks around each field (no quoting: trace fields are numbers and timestamps).
std::vector<std::string> split_csv_fields(std::string_view line);

}  // namespace kvsim::traces
