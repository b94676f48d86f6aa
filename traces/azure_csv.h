// Wall-clock timestamps of the Azure LLM inference traces (Azure/AzurePublicDataset; the 2023 release was first used
// in Splitwise, Patel et al., ISCA 2024): `2023-11-16 18:15:46.6805900`; the 2024 release writes
// `2024-05-10 00:00:00.009930+00:00`. Read exactly to the nanosecond.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace kvsim::traces {

// Days from 1970-01-01 to the proleptic Gregorian date y-m-d (negative before 1970). Expects a valid date.
int64_t days_from_civil(int64_t year, int month, int day);

// `YYYY-MM-DD HH:MM:SS[.f...][Z|+HH:MM|-HH:MM]` (a 'T' also separates date and time; up to 9 sub-second digits) to
// nanoseconds since 1970-01-01 00:00:00 UTC (a time without an offset is taken as UTC); nullopt when malformed or out
// of range (month 13, Feb 30, hour 24, offset above 14 h, ...).
// Years a timestamp may name (int64 ns from 1970 reach 2262).
inline constexpr int64_t kFirstTraceYear = 1970;
inline constexpr int64_t kLastTraceYear = 2200;
std::optional<int64_t> parse_timestamp_ns(std::string_view text);

}  // namespace kvsim::traces
