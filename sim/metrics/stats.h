// Latency statistics as vLLM's benchmark_serving reports them: mean, median, population std and percentiles with
// numpy's default linear interpolation, over plain samples or run-length (value, count) samples, exactly; and
// LatencySamples, which keeps a run's samples in bounded memory.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <limits>
#include <utility>
#include <vector>

namespace kvsim::metrics {

struct Stats {
  double mean = 0, median = 0, std = 0, p90 = 0, p95 = 0, p99 = 0;
};

// `samples` is sorted in place.
Stats compute_stats(std::vector<double>& samples);
// Weighted samples: each (value, count) stands for `count` equal samples; sorted in place.
Stats compute_stats(std::vector<std::pair<double, int64_t>>& samples);

// numpy.percentile(..., q) with linear interpolation over sorted weighted samples.
double weighted_percentile(const std::vector<std::pair<double, int64_t>>& sorted, int64_t total, double q);

// The samples of one latency metric (milliseconds, >= 0). Exact while at most `exact_limit` (value, count) entries are
// held: the statistics are compute_stats' over every sample. Past that the entries fold into a logarithmic
// histogram (DDSketch: Masson, Rim and Lee, VLDB 2019) whose bucket i holds the values in (g^(i-1), g^i], with
// g = (1 + a) / (1 - a) for the relative error a; a bucket stands for 2 g^i / (g + 1), within a of every value in
// it. Memory then stops growing with the run (a bucket per factor g of the range the values span: 1 ms to 100 s is
// ~58,000 buckets, 460 KB, at a = 1e-4), and every percentile is within relative error a of numpy's: each order
// statistic is, and so is a linear interpolation between two of them. Mean, std, min and max stay exact (running
// weighted sums, Welford's update). Values below 1e-6 ms (1 ns, the simulator's resolution) count as 0.
class LatencySamples {
 public:
  static constexpr size_t kDefaultExactLimit = size_t{1} << 18;
  static constexpr double kDefaultRelativeError = 1e-4;

  explicit LatencySamples(size_t exact_limit = kDefaultExactLimit, double relative_error = kDefaultRelativeError);

  // `count` samples of `value_ms` (consecutive equal values share one entry).
  void add(double value_ms, int64_t count = 1);
  // Mean, median, std, p90, p99 (sorts the exact entries in place).
  Stats stats();
  // numpy.percentile at each of `q` (0-100), with the same exactness as stats(); sorts the exact entries in place.
  std::vector<double> percentiles(const std::vector<double>& q);

  int64_t count() const { return count_; }
  double max() const { return count_ > 0 ? max_ : 0.0; }
  bool exact() const { return !sketched_; }
  double relative_error() const { return relative_error_; }
  // Entries held: exact (value, count) pairs, or histogram buckets once folded.
  size_t entries() const { return sketched_ ? buckets_.size() : exact_.size(); }

 private:
  void fold();
  void add_to_histogram(double value_ms, int64_t count);
  double order_statistic(int64_t rank) const;  // the rank-th smallest (0-based), as the histogram knows it
  double percentile(double q) const;

  size_t exact_limit_;
  double relative_error_;
  double log_gamma_;
  std::vector<std::pair<double, int64_t>> exact_;
  bool sketched_ = false;
  std::deque<int64_t> buckets_;  // counts of buckets first_bucket_, first_bucket_ + 1, ...
  int64_t first_bucket_ = 0;
  int64_t zero_count_ = 0;
  int64_t count_ = 0;
  double mean_ = 0, m2_ = 0;
  double min_ = std::numeric_limits<double>::infinity(), max_ = -std::numeric_limits<double>::infinity();
};

}  // namespace kvsim::metrics
