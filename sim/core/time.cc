#include "sim/core/time.h"

#include <cmath>

#include <fmt/format.h>

#include "sim/core/error.h"

namespace kvsim {

namespace {
constexpr double kMaxSeconds = 9.2e9;  // int64 ns overflow is at ~9.22e9 s
}

SimTime seconds_to_ns(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0 || seconds > kMaxSeconds) {
    throw Error(fmt::format("time {} s is out of range (0 .. {:.1e} s)", seconds, kMaxSeconds));
  }
  return static_cast<SimTime>(std::llround(seconds * 1e9));
}

void throw_bad_work_time(double work, double units_per_s) {
  if (!(units_per_s > 0)) throw Error(fmt::format("rate must be positive, found {}", units_per_s));
  throw Error(fmt::format("duration of {:.3e} units at {:.3e}/s overflows int64 ns", work, units_per_s));
}

SimTime transfer_time_ns(uint64_t bytes, double bytes_per_s) {
  return work_time_ns(static_cast<double>(bytes), bytes_per_s);
}

}  // namespace kvsim
