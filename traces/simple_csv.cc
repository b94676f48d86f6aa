#include "traces/simple_csv.h"

#include <fmt/format.h>

namespace kvsim::traces {

const std::array<std::string, 3>& SimpleCsvReader::kColumns() {
  static const std::array<std::string, 3> columns = {"arrival_s", "prompt_tokens", "output_tokens"};
  return columns;
}

SimpleCsvReader::SimpleCsvReader(std::unique_ptr<CsvLines> lines)
    : CsvTraceSource(std::move(lines), kColumns(), "simple") {}

std::unique_ptr<SimpleCsvReader> SimpleCsvReader::open(const std::string& path) {
  return std::make_unique<SimpleCsvReader>(CsvLines::open(path));
}

SimTime SimpleCsvReader::parse_arrival_ns(const std::string& field) {
  return lines().parse_seconds_ns(field, columns()[0]);
}

void write_simple_csv(RequestSource& source, std::ostream& out) {
  out << CsvTraceSource::header_text(SimpleCsvReader::kColumns()) << '\n';
  while (const std::optional<Request> r = source.next()) {
    out << fmt::format("{}.{:09},{},{}\n", r->arrival_ns / kNsPerS, r->arrival_ns % kNsPerS, r->prompt_tokens,
                       r->output_tokens);
  }
  if (!out) throw Error("writing the trace failed");
}

}  // namespace kvsim::traces
