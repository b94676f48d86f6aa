// kvsim's own trace format: a CSV with header `arrival_s,prompt_tokens,output_tokens`, arrival in seconds from the
// start of the workload (fractional, read exactly to the nanosecond). The writer prints 9 decimals, so
// write -> read gives back the same requests to the nanosecond.
#pragma once

#include <memory>
#include <ostream>
#include <string>

#include "traces/csv_trace_source.h"

namespace kvsim::traces {

class SimpleCsvReader : public CsvTraceSource {
 public:
  static const std::array<std::string, 3>& kColumns();

  explicit SimpleCsvReader(std::unique_ptr<CsvLines> lines);
  static std::unique_ptr<SimpleCsvReader> open(const std::string& path);

 protected:
  SimTime parse_arrival_ns(const std::string& field) override;
};

// Writes every request of `source` (pulling it to the end) in the simple format.
void write_simple_csv(RequestSource& source, std::ostream& out);

}  // namespace kvsim::traces
