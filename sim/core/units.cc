#include "sim/core/units.h"

#include <array>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <utility>

#include <fmt/format.h>

#include "sim/core/error.h"

namespace kvsim {

std::optional<uint64_t> parse_bytes(std::string_view text) {
  size_t i = 0;
  while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
  const size_t num_begin = i;
  while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.' || text[i] == 'e' ||
                             text[i] == 'E' || text[i] == '+')) {
    // 'e' only as an exponent after a digit, never the start of a suffix like "EB" (not supported anyway).
    ++i;
  }
  if (i == num_begin) return std::nullopt;
  const std::string number(text.substr(num_begin, i - num_begin));
  char* end = nullptr;
  const double value = std::strtod(number.c_str(), &end);
  if (end != number.c_str() + number.size() || !std::isfinite(value) || value < 0) return std::nullopt;
  while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
  std::string suffix(text.substr(i));
  while (!suffix.empty() && std::isspace(static_cast<unsigned char>(suffix.back()))) suffix.pop_back();
  static const std::array<std::pair<const char*, uint64_t>, 12> kSuffixes = {{{"", 1},
                                                                              {"B", 1},
                                                                              {"KiB", kKiB},
                                                                              {"MiB", kMiB},
                                                                              {"GiB", kGiB},
                                                                              {"TiB", kTiB},
                                                                              {"PiB", 1024ull * kTiB},
                                                                              {"KB", kKB},
                                                                              {"MB", kMB},
                                                                              {"GB", kGB},
                                                                              {"TB", kTB},
                                                                              {"PB", 1000ull * kTB}}};
  for (const auto& [name, scale] : kSuffixes) {
    if (suffix == name) {
      const double bytes = value * static_cast<double>(scale);
      if (bytes >= 9.2e18) return std::nullopt;
      return static_cast<uint64_t>(std::llround(bytes));
    }
  }
  return std::nullopt;
}

std::string format_bytes(uint64_t bytes) {
  if (bytes >= kTiB) return fmt::format("{:.2f} TiB", static_cast<double>(bytes) / kTiB);
  if (bytes >= kGiB) return fmt::format("{:.2f} GiB", static_cast<double>(bytes) / kGiB);
  if (bytes >= kMiB) return fmt::format("{:.2f} MiB", static_cast<double>(bytes) / kMiB);
  if (bytes >= kKiB) return fmt::format("{:.2f} KiB", static_cast<double>(bytes) / kKiB);
  return fmt::format("{} B", bytes);
}

uint64_t checked_mul(uint64_t a, uint64_t b, std::string_view what) {
  uint64_t out = 0;
  if (__builtin_mul_overflow(a, b, &out)) throw Error(fmt::format("{}: {} x {} overflows 64 bits", what, a, b));
  return out;
}

uint64_t checked_add(uint64_t a, uint64_t b, std::string_view what) {
  uint64_t out = 0;
  if (__builtin_add_overflow(a, b, &out)) throw Error(fmt::format("{}: {} + {} overflows 64 bits", what, a, b));
  return out;
}

}  // namespace kvsim
