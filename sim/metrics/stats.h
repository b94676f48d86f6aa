// Latency statistics as vLLM's benchmark_serving reports them: mean, median, population std and percentiles with
// numpy's default linear interpolation, over plain samples or run-length (value, count) samples, exactly.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

namespace kvsim::metrics {

struct Stats {
  double mean = 0, median = 0, std = 0, p90 = 0, p99 = 0;
};

// `samples` is sorted in place.
Stats compute_stats(std::vector<double>& samples);
// Weighted samples: each (value, count) stands for `count` equal samples; sorted in place.
Stats compute_stats(std::vector<std::pair<double, int64_t>>& samples);

// numpy.percentile(..., q) with linear interpolation over sorted weighted samples.
double weighted_percentile(const std::vector<std::pair<double, int64_t>>& sorted, int64_t total, double q);

}  // namespace kvsim::metrics
