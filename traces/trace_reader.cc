#include "traces/trace_reader.h"

#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "sim/core/input_file.h"
#include "traces/csv_lines.h"
#include "traces/csv_trace_source.h"
#include "traces/jsonl_trace_source.h"

namespace kvsim::traces {

namespace {
void check_format(const std::string& format) {
  for (const auto& f : trace_formats()) {
    if (f == format) return;
  }
  throw Error(fmt::format("unknown trace format '{}': expected one of {}{}", format, join(trace_formats()),
                          did_you_mean(format, trace_formats())));
}

const std::vector<const CsvFormat*>& csv_formats() {
  static const std::vector<const CsvFormat*> f = {&simple_csv_format(), &azure_csv_format(), &burstgpt_csv_format(),
                                                  &lengths_csv_format()};
  return f;
}

bool is_jsonl(const std::string& format) { return format == "mooncake" || format == "jsonl"; }
}  // namespace

const std::vector<std::string>& trace_formats() {
  static const std::vector<std::string> formats = {"auto",     "simple",   "jsonl",  "azure",
                                                   "burstgpt", "mooncake", "lengths"};
  return formats;
}

std::unique_ptr<TraceSource> open_trace(std::unique_ptr<std::istream> in, const std::string& name,
                                        const TraceOptions& options) {
  check_format(options.format);
  std::string format = options.format;
 std::optional<std::string> header;
  int64_t header_line_number = 1;
  if (format == "auto" || is_jsonl(format)) {
    // JSON-lines data starts on line 1: read it here and hand it to the reader.
    std::string first;
    int64_t first_line_number = 0;  // blank lines before it are skipped, and counted for messages
    while (read_line(*in, first, name, first_line_number + 1)) {
      ++first_line_number;
      if (!is_blank_line(first)) break;
    }
    if (!*in && first.empty()) throw Error(Place{name}, "empty file: expected a header line or a JSON object");
    strip_utf8_bom(first);
    const std::string json_format = JsonlTraceSource::detect(first);
    if (is_jsonl(format) && json_format != format) {
      throw Error(Place{name, static_cast<int>(first_line_number), 0},
                  fmt::format("expected a {} trace (a JSON object per line with {}), found '{}'", format,
                              format == "mooncake" ? "timestamp, input_length, output_length" : "arrival_s",
                              first.size() > 60 ? first.substr(0, 57) + "..." : first));
    }
    if (!json_format.empty()) {
      return std::make_unique<JsonlTraceSource>(std::move(in), name, json_format, options.skip_bad_lines, first,
                                                first_line_number);
    }
    // A CSV header, already read: the lines reader starts after it.
    header = first;
    header_line_number = first_line_number;
  }
  auto lines = std::make_unique<CsvLines>(std::move(in), name, header, header_line_number);
  if (format == "auto") {
    for (const CsvFormat* f : csv_formats()) {
      if (CsvTraceSource::header_fits(lines->header_fields(), *f)) {
        return std::make_unique<CsvTraceSource>(std::move(lines), *f, options.skip_bad_lines);
      }
    }
    std::vector<std::string> expected;
    for (const CsvFormat* f : csv_formats())
      expected.push_back(fmt::format("'{}' ({})", f->required_header(), f->name));
    throw Error(Place{lines->name(), static_cast<int>(header_line_number), 0},
                fmt::format("unknown trace header '{}': expected {}, or JSON lines (jsonl, mooncake)", excerpt(lines->header()),
                            join(expected, ", ")));
  }
  for (const CsvFormat* f : csv_formats()) {
    if (f->name == format) return std::make_unique<CsvTraceSource>(std::move(lines), *f, options.skip_bad_lines);
  }
  throw Error(fmt::format("unknown trace format '{}'", format));
}

std::unique_ptr<TraceSource> open_trace(std::unique_ptr<std::istream> in, const std::string& name,
                                        const std::string& format) {
  return open_trace(std::move(in), name, TraceOptions{format, false});
}

std::unique_ptr<TraceSource> open_trace(const std::string& path, const TraceOptions& options) {
  check_format(options.format);
  return open_trace(open_input_stream(path), path, options);
}

std::unique_ptr<TraceSource> open_trace(const std::string& path, const std::string& format) {
  return open_trace(path, TraceOptions{format, false});
}

std::string resolve_workload_file(const std::string& file, const std::string& base_dir) {
  std::filesystem::path path(file);
  if (!base_dir.empty() && path.is_relative()) path = std::filesystem::path(base_dir) / path;
  return path.string();
}

}  // namespace kvsim::traces
