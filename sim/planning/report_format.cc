#include "sim/planning/report_format.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

namespace kvsim::sim {

namespace {

// `v` (>= 0 after the sign is taken off) scaled by powers of `step` over `suffixes`, three significant digits.
std::string scaled(double v, double step, const char* const* suffixes, int count, const char* sep) {
  if (!std::isfinite(v)) return v > 0 ? "inf" : (v < 0 ? "-inf" : "nan");
  const char* sign = v < 0 ? "-" : "";
  double a = std::abs(v);
  int unit = 0;
  while (unit + 1 < count && a >= step) {
    a /= step;
    ++unit;
  }
  // Three significant digits can round 999.96 up to "1000": that is one of the next unit.
  if (unit + 1 < count && std::stod(plain_number(a)) >= step) {
    a /= step;
    ++unit;
  }
  return fmt::format("{}{}{}{}", sign, plain_number(a), *suffixes[unit] ? sep : "", suffixes[unit]);
}

}  // namespace

std::string plain_number(double v, int digits) {
  if (!std::isfinite(v)) return v > 0 ? "inf" : (v < 0 ? "-inf" : "nan");
  if (v == 0) return "0";
  digits = std::max(1, digits);
  const int magnitude = static_cast<int>(std::floor(std::log10(std::abs(v))));
  const int decimals = std::clamp(digits - 1 - magnitude, 0, 12);
  std::string s = fmt::format("{:.{}f}", v, decimals);
  if (s.find('.') != std::string::npos) {
    while (s.back() == '0') s.pop_back();
    if (s.back() == '.') s.pop_back();
  }
  return s == "-0" ? "0" : s;
}

std::string human_count(double v) {
  static const char* const kSuffixes[] = {"", "K", "M", "G", "T", "P"};
  return scaled(v, 1000, kSuffixes, 6, "");
}

std::string human_bytes(double bytes) {
  static const char* const kSuffixes[] = {"B", "KB", "MB", "GB", "TB", "PB"};
  return scaled(bytes, 1000, kSuffixes, 6, " ");
}

std::string human_seconds(double seconds) {
  if (!std::isfinite(seconds)) return plain_number(seconds);
  const double a = std::abs(seconds);
  if (a == 0) return "0 s";
  // Each unit from where its three digits stop rounding into the next: 0.9999 s reads "1 s", not "1000 ms".
  if (a < 0.9995e-6) return plain_number(seconds * 1e9) + " ns";
  if (a < 0.9995e-3) return plain_number(seconds * 1e6) + " us";
  if (a < 0.9995) return plain_number(seconds * 1e3) + " ms";
  if (a < 599.5) return plain_number(seconds) + " s";
  if (a < 5999.5) return plain_number(seconds / 60) + " min";
  return plain_number(seconds / 3600) + " h";
}

std::string human_usd(double usd) { return (usd < 0 ? "-$" : "$") + human_count(std::abs(usd)); }

}  // namespace kvsim::sim
