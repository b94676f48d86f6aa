// Byte sizes: binary (KiB, MiB, GiB, TiB) and decimal (KB, MB, GB, TB) suffixes, as users write them in scenarios.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace kvsim {

inline constexpr uint64_t kKiB = 1024ull;
inline constexpr uint64_t kMiB = 1024ull * kKiB;
inline constexpr uint64_t kGiB = 1024ull * kMiB;
inline constexpr uint64_t kTiB = 1024ull * kGiB;
inline constexpr uint64_t kKB = 1000ull;
inline constexpr uint64_t kMB = 1000ull * kKB;
inline constexpr uint64_t kGB = 1000ull * kMB;
inline constexpr uint64_t kTB = 1000ull * kGB;

// "12GiB", "12 GB", "1.5TiB", "4096", "512B" -> bytes; nullopt when the text is not a size or overflows 2^63.
std::optional<uint64_t> parse_bytes(std::string_view text);

// 12884901888 -> "12.00 GiB"
std::string format_bytes(uint64_t bytes);

inline double bytes_to_gib(uint64_t bytes) { return static_cast<double>(bytes) / static_cast<double>(kGiB); }

// a * b, throwing kvsim::Error naming `what` on uint64 overflow.
uint64_t checked_mul(uint64_t a, uint64_t b, std::string_view what);
uint64_t checked_add(uint64_t a, uint64_t b, std::string_view what);

}  // namespace kvsim
