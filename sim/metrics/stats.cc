#include "sim/metrics/stats.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "sim/core/error.h"

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
  s.p95 = weighted_percentile(samples, total, 95);
  s.p99 = weighted_percentile(samples, total, 99);
  return s;
}

Stats compute_stats(std::vector<double>& samples) {
  std::vector<std::pair<double, int64_t>> weighted;
  weighted.reserve(samples.size());
  for (double v : samples) weighted.emplace_back(v, 1);
  return compute_stats(weighted);
}

namespace {
constexpr double kZeroBelowMs = 1e-6;  // 1 ns
}  // namespace

LatencySamples::LatencySamples(size_t exact_limit, double relative_error)
    : exact_limit_(exact_limit),
      relative_error_(relative_error),
      log_gamma_(std::log((1 + relative_error) / (1 - relative_error))) {
  sketched_ = exact_limit_ == 0;
}

void LatencySamples::add(double value_ms, int64_t count) {
  if (count <= 0) return;
  if (!std::isfinite(value_ms) || value_ms < 0) {
    throw Error(fmt::format("latency sample {} ms: expected a finite value >= 0", value_ms));
  }
  // Welford's update for `count` equal samples.
  const int64_t n = count_ + count;
  const double delta = value_ms - mean_;
  mean_ += delta * static_cast<double>(count) / static_cast<double>(n);
  m2_ += delta * (value_ms - mean_) * static_cast<double>(count);
  count_ = n;
  min_ = std::min(min_, value_ms);
  max_ = std::max(max_, value_ms);
  if (sketched_) {
    add_to_histogram(value_ms, count);
    return;
  }
  if (!exact_.empty() && exact_.back().first == value_ms) {
    exact_.back().second += count;
    return;
  }
  if (exact_.size() == exact_limit_) {
    fold();
    add_to_histogram(value_ms, count);
    return;
  }
  exact_.emplace_back(value_ms, count);
}

void LatencySamples::fold() {
  sketched_ = true;
  for (const auto& [v, c] : exact_) add_to_histogram(v, c);
  std::vector<std::pair<double, int64_t>>().swap(exact_);
}

void LatencySamples::add_to_histogram(double value_ms, int64_t count) {
  if (value_ms < kZeroBelowMs) {
    zero_count_ += count;
    return;
  }
  const auto i = static_cast<int64_t>(std::ceil(std::log(value_ms) / log_gamma_));
  if (buckets_.empty()) {
    first_bucket_ = i;
    buckets_.push_back(0);
  } else if (i < first_bucket_) {
    // A deque grows at the front in O(1) per bucket, so a falling series (a backlog draining) stays linear.
    for (; first_bucket_ > i; --first_bucket_) buckets_.push_front(0);
  } else if (i >= first_bucket_ + static_cast<int64_t>(buckets_.size())) {
    buckets_.resize(static_cast<size_t>(i - first_bucket_ + 1), 0);
  }
  buckets_[static_cast<size_t>(i - first_bucket_)] += count;
}

double LatencySamples::order_statistic(int64_t rank) const {
  if (rank < zero_count_) return std::clamp(0.0, min_, max_);  // values below 1 ns
  int64_t seen = zero_count_;
  for (size_t b = 0; b < buckets_.size(); ++b) {
    seen += buckets_[b];
    if (rank < seen) {
      const double gamma = std::exp(log_gamma_);
      const double v =
          2 * std::exp(static_cast<double>(first_bucket_ + static_cast<int64_t>(b)) * log_gamma_) / (gamma + 1);
      return std::clamp(v, min_, max_);  // the true extremes are known exactly
    }
  }
  return max_;
}

double LatencySamples::percentile(double q) const {
  const double rank = q / 100.0 * static_cast<double>(count_ - 1);
  const auto lo = static_cast<int64_t>(std::floor(rank));
  const int64_t hi = std::min(lo + 1, count_ - 1);
  const double v_lo = order_statistic(lo), v_hi = order_statistic(hi);
  return v_lo + (v_hi - v_lo) * (rank - static_cast<double>(lo));
}

Stats LatencySamples::stats() {
  if (!sketched_) return compute_stats(exact_);
  Stats s;
  if (count_ == 0) return s;
  s.mean = mean_;
  s.std = std::sqrt(std::max(0.0, m2_) / static_cast<double>(count_));
  s.median = percentile(50);
  s.p90 = percentile(90);
  s.p95 = percentile(95);
  s.p99 = percentile(99);
  return s;
}

std::vector<double> LatencySamples::percentiles(const std::vector<double>& q) {
  std::vector<double> out;
  out.reserve(q.size());
  if (!sketched_) std::sort(exact_.begin(), exact_.end());
  for (double p : q) {
    if (count_ == 0) {
      out.push_back(0);
    } else {
      out.push_back(sketched_ ? percentile(p) : weighted_percentile(exact_, count_, p));
    }
  }
  return out;
}

}  // namespace kvsim::metrics
