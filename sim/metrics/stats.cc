#include "sim/metrics/stats.h"

#include <algorithm>
#include <cmath>

namespace kvsim::metrics {

double weighted_percentile(const std::vector<std::pair<double, int64_t>>& sorted, int64_t total, double q) {
  if (total == 0) return 0;
  const double rank = q / 100.0 * static_cast<double>(total - 1);
  const int64_t lo = static_cast<int64_t>(std::floor(rank));
  const int64_t hi = std::min(lo + 1, total - 1);
  const double frac = rank - static_cast<double>(lo);
  double v_lo = 0, v_hi = 0;
  int64_t seen = 0;
  bool have_lo = false;
  for (const auto& [value, count] : sorted) {
    if (!have_lo && lo < seen + count) {
      v_lo = value;
      have_lo = true;
    }
    if (hi < seen + count) {
      v_hi = value;
      break;
    }
    seen += count;
  }
  return v_lo + (v_hi - v_lo) * frac;
}

Stats compute_stats(std::vector<std::pair<double, int64_t>>& samples) {
  Stats s;
  std::sort(samples.begin(), samples.end());
  int64_t total = 0;
  double sum = 0;
  for (const auto& [v, c] : samples) {
    total += c;
    sum += v * static_cast<double>(c);
  }
  if (total == 0) return s;
  s.mean = sum / static_cast<double>(total);
  double sq = 0;
  for (const auto& [v, c] : samples) sq += (v - s.mean) * (v - s.mean) * static_cast<double>(c);
  s.std = std::sqrt(sq / static_cast<double>(total));
  s.median = weighted_percentile(samples, total, 50);
  s.p90 = weighted_percentile(samples, total, 90);
  s.p99 = weighted_percentile(samples, total, 99);
  return s;
}

Stats compute_stats(std::vector<double>& samples) {
  std::vector<std::pair<double, int64_t>> weighted;
  weighted.reserve(samples.size());
  for (double v : samples) weighted.emplace_back(v, 1);
  return compute_stats(weighted);
}

}  // namespace kvsim::metrics
