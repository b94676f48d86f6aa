// The Azure LLM inference trace 2023 (Azure/AzurePublicDataset, first used in Splitwise, Patel et al., ISCA 2024):
// CSV with header `TIMESTAMP,ContextTokens,GeneratedTokens`, TIMESTAMP a wall-clock time such as
// `2023-11-16 18:15:46.6805900`. Arrivals are the time since the first row, exact to the nanosecond (no time zone).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "traces/csv_trace_source.h"

namespace kvsim::traces {

// Days from 1970-01-01 to the proleptic Gregorian date y-m-d (negative before 1970). Expects a valid date.
int64_t days_from_civil(int64_t year, int month, int day);

// `YYYY-MM-DD HH:MM:SS[.f...]` (a 'T' also separates date and time; up to 9 sub-second digits) to nanoseconds since
// 1970-01-01 00:00:00 of the same clock; nullopt when malformed or out of range (month 13, Feb 30, hour 24, ...).
std::optional<int64_t> parse_timestamp_ns(std::string_view text);

class AzureCsvReader : public CsvTraceSource {
 public:
  static const std::array<std::string, 3>& kColumns();

  explicit AzureCsvReader(std::unique_ptr<CsvLines> lines);
  static std::unique_ptr<AzureCsvReader> open(const std::string& path);

 protected:
  SimTime parse_arrival_ns(const std::string& field) override;

 private:
  std::optional<int64_t> origin_ns_;  // the first row's timestamp
};

}  // namespace kvsim::traces
