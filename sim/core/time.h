// Simulated time: int64 nanoseconds, always. Conversions to and from floating point happen only at the edges
// (input parsing, reports); the byte/bandwidth-to-time helper rounds up so a transfer never takes zero time.
#pragma once

#include <cmath>
#include <cstdint>

namespace kvsim {

using SimTime = int64_t;  // nanoseconds

inline constexpr SimTime kNsPerUs = 1'000;
inline constexpr SimTime kNsPerMs = 1'000'000;
inline constexpr SimTime kNsPerS = 1'000'000'000;
inline constexpr SimTime kSimTimeMax = INT64_MAX;

// Seconds (e.g. from a trace or a rate) to nanoseconds, rounded to nearest. Throws kvsim::Error when the value is
// negative, not finite or beyond ~292 years.
SimTime seconds_to_ns(double seconds);

// Time to move `bytes` at `bytes_per_s`, rounded up to the next nanosecond; 0 bytes take 0 ns.
SimTime transfer_time_ns(uint64_t bytes, double bytes_per_s);

// Time for `work` units at `units_per_s` (FLOPs at FLOP/s), rounded up. Inline: the cost model calls it for every
// op it prices; the errors (a rate <= 0, an overflow) are thrown out of line.
[[noreturn]] void throw_bad_work_time(double work, double units_per_s);
inline SimTime work_time_ns(double work, double units_per_s) {
  if (work <= 0) return 0;
  const double ns = std::ceil(work / units_per_s * 1e9);
  if (!(units_per_s > 0) || ns >= 9.2e18) throw_bad_work_time(work, units_per_s);
  return static_cast<SimTime>(ns);
}

inline double ns_to_ms(SimTime t) { return static_cast<double>(t) / 1e6; }
inline double ns_to_s(SimTime t) { return static_cast<double>(t) / 1e9; }

}  // namespace kvsim
