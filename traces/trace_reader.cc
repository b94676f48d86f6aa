#include "traces/trace_reader.h"

#include <fmt/format.h>

#include "traces/azure_csv.h"
#include "traces/simple_csv.h"

namespace kvsim::traces {

namespace {
void check_format(const std::string& format) {
  for (const auto& f : trace_formats()) {
    if (f == format) return;
  }
  throw Error(fmt::format("unknown trace format '{}': expected one of {}{}", format, join(trace_formats()),
                          did_you_mean(format, trace_formats())));
}

std::unique_ptr<CsvTraceSource> open_lines(std::unique_ptr<CsvLines> lines, const std::string& format) {
  std::string chosen = format;
  if (format == "auto") {
    const std::string simple = CsvTraceSource::header_text(SimpleCsvReader::kColumns());
    const std::string azure = CsvTraceSource::header_text(AzureCsvReader::kColumns());
    const std::string header = join(lines->header_fields(), ",");
    if (header == simple) {
      chosen = "simple";
    } else if (header == azure) {
      chosen = "azure";
    } else {
      throw Error(Place{lines->name(), 1, 0},
                  fmt::format("unknown trace header '{}': expected '{}' (simple) or '{}' (azure)", lines->header(),
                              simple, azure));
    }
  }
  if (chosen == "simple") return std::make_unique<SimpleCsvReader>(std::move(lines));
  return std::make_unique<AzureCsvReader>(std::move(lines));
}
}  // namespace

const std::vector<std::string>& trace_formats() {
  static const std::vector<std::string> formats = {"auto", "simple", "azure"};
  return formats;
}

std::unique_ptr<CsvTraceSource> open_trace(const std::string& path, const std::string& format) {
  check_format(format);
  return open_lines(CsvLines::open(path), format);
}

std::unique_ptr<CsvTraceSource> open_trace(std::unique_ptr<std::istream> in, const std::string& name,
                                           const std::string& format) {
  check_format(format);
  return open_lines(std::make_unique<CsvLines>(std::move(in), name), format);
}

}  // namespace kvsim::traces
