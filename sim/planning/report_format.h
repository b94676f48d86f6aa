// Numbers as a capacity planner reads them in kvsim's HTML report (sim/planning/report.h): three significant digits,
// SI suffixes (19.4K, 1.23M), bytes in SI units (62.1 GB), durations in the unit that suits them (850 us, 12.5 ms,
// 1.23 s, 2.5 min), never scientific notation.
#pragma once

#include <string>

namespace kvsim::sim {

// `v` with `digits` significant digits (at least 1), plain decimal, trailing zeros and point dropped: 0.000123 ->
// "0.000123", 12.0 -> "12", 1234.4 -> "1234" (digits past the point are never padded; an integer part keeps all its
// digits).
std::string plain_number(double v, int digits = 3);

// A count or rate with an SI suffix: 950 -> "950", 19400 -> "19.4K", 1.23e6 -> "1.23M", 4.5e9 -> "4.5G", 2e12 ->
// "2T"; below 1000, plain_number. A value that rounds up to 1000 of a unit takes the next one (999950 -> "1M").
std::string human_count(double v);

// Bytes in SI units: 512 -> "512 B", 1.5e3 -> "1.5 KB", 62.1e9 -> "62.1 GB", 2.4e12 -> "2.4 TB".
std::string human_bytes(double bytes);

// A duration in seconds: "850 us", "12.5 ms", "1.23 s", "300 s", "12.5 min", "2.5 h"; 0 -> "0 s".
std::string human_seconds(double seconds);
inline std::string human_ms(double ms) { return human_seconds(ms / 1000); }

// US dollars: "$12.3", "$1.23K".
std::string human_usd(double usd);

}  // namespace kvsim::sim
