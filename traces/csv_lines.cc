#include "traces/csv_lines.h"

#include <charconv>
#include <cmath>
#include <fstream>

#include <fmt/format.h>

#include "sim/core/input_file.h"

namespace kvsim::traces {

namespace {
constexpr std::string_view kBlanks = " \t\r\n";
constexpr std::string_view kUtf8Bom = "\xEF\xBB\xBF";
// The largest whole number of seconds whose nanoseconds fit in int64 (~292 years).
constexpr int64_t kMaxWholeSeconds = INT64_MAX / kNsPerS - 1;

std::string_view trim(std::string_view s) {
  const size_t b = s.find_first_not_of(kBlanks);
  if (b == std::string_view::npos) return {};
  const size_t e = s.find_last_not_of(kBlanks);
  return s.substr(b, e - b + 1);
}

bool all_digits(std::string_view s) {
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}
}  // namespace

bool is_blank_line(std::string_view line) { return line.find_first_not_of(kBlanks) == std::string_view::npos; }

void strip_utf8_bom(std::string& line) {
  if (line.starts_with(kUtf8Bom)) line.erase(0, kUtf8Bom.size());
}

std::vector<std::string> split_csv_fields(std::string_view line) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    const size_t comma = line.find(',', start);
    out.emplace_back(
        trim(line.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start)));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return out;
}

CsvLines::CsvLines(std::unique_ptr<std::istream> in, std::string name)
    : CsvLines(std::move(in), std::move(name), std::nullopt) {}

CsvLines::CsvLines(std::unique_ptr<std::istream> in, std::string name, std::optional<std::string> header_line,
                   int64_t header_line_number)
    : in_(std::move(in)), name_(std::move(name)) {
  if (header_line) {
    header_ = std::move(*header_line);
  } else if (!read_line(*in_, header_, name_, 1)) {
    throw Error(Place{name_}, "empty file: expected a header line");
  }
  line_ = header_line_number;
  strip_utf8_bom(header_);
  header_ = std::string(trim(header_));
  header_fields_ = split_csv_fields(header_);
}

std::unique_ptr<CsvLines> CsvLines::open(const std::string& path) {
  return std::make_unique<CsvLines>(open_input_stream(path), path);
}

bool CsvLines::next_row(std::vector<std::string>& fields) {
  while (read_line(*in_, buffer_, name_, line_ + 1)) {
    ++line_;
    if (is_blank_line(buffer_)) continue;
    fields = split_csv_fields(buffer_);
    return true;
  }
  return false;
}

void CsvLines::fail(std::string_view column, const std::string& message) const {
  throw Error(place(), fmt::format("{}: {}", column, message));
}

void CsvLines::fail(const std::string& message) const { throw Error(place(), message); }

int64_t CsvLines::parse_count(const std::string& field, std::string_view column, int64_t max) const {
  int64_t v = -1;
  const char* end = field.data() + field.size();
  const auto [ptr, ec] = std::from_chars(field.data(), end, v);
  if (field.empty() || ec != std::errc() || ptr != end || v < 0) {
    fail(column, fmt::format("expected a non-negative integer, found '{}'", excerpt(field)));
  }
  if (v > max) fail(column, fmt::format("expected an integer <= {}, found '{}'", max, excerpt(field)));
  return v;
}

SimTime CsvLines::parse_seconds_ns(const std::string& field, std::string_view column) const {
  const auto bad = [&] { fail(column, fmt::format("expected a non-negative number of seconds, found '{}'", excerpt(field))); };
  // Plain decimals ("12", "0.250000000") are converted exactly with integers, so a written trace reads back to the
  // nanosecond; anything else that is a number ("1e3") goes through double.
  const std::string_view s = field;
  const size_t dot = s.find('.');
  const std::string_view whole = s.substr(0, dot);
  const std::string_view frac = dot == std::string_view::npos ? std::string_view{} : s.substr(dot + 1);
  if (!s.empty() && s != "." && all_digits(whole) && all_digits(frac)) {
    int64_t seconds = 0;
    if (!whole.empty()) {
      const auto [ptr, ec] = std::from_chars(whole.data(), whole.data() + whole.size(), seconds);
      if (ec != std::errc() || ptr != whole.data() + whole.size() || seconds > kMaxWholeSeconds) {
        fail(column, fmt::format("time '{}' s is beyond the int64 nanosecond range", field));
      }
    }
    int64_t ns = 0;
    for (size_t i = 0; i < 9; ++i) ns = ns * 10 + (i < frac.size() ? frac[i] - '0' : 0);
    if (frac.size() > 9 && frac[9] >= '5') ++ns;  // round half up at the tenth digit
    return seconds * kNsPerS + ns;
  }
  double v = 0;
  const auto [ptr, ec] = std::from_chars(field.data(), field.data() + field.size(), v);
  if (field.empty() || ec != std::errc() || ptr != field.data() + field.size() || !std::isfinite(v) || v < 0) bad();
  if (v > static_cast<double>(kMaxWholeSeconds)) {
    fail(column, fmt::format("time '{}' s is beyond the int64 nanosecond range", field));
  }
  return static_cast<SimTime>(std::llround(v * 1e9));
}

}  // namespace kvsim::traces
