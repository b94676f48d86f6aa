// Statistics of a request stream in constant memory (`kvsim trace stats`): count, time span, mean rate, burstiness
// (coefficient of variation of the inter-arrival times: 1 for Poisson), and per length its mean, standard deviation
// (both exact, Welford), minimum, maximum and percentiles from a log-linear histogram: exact below 2,048 tokens, then
// 128 buckets per power of two, so a percentile is within 0.8 % of the true one.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include <nlohmann/json.hpp>

#include "traces/request.h"

namespace kvsim::traces {

class LengthHistogram {
 public:
  void add(int64_t v);
  int64_t count() const { return n_; }
  double mean() const { return mean_; }
  double stddev() const;  // population standard deviation
  int64_t min() const { return min_; }
  int64_t max() const { return max_; }
  int64_t percentile(double p) const;  // p in [0, 100]: the smallest bucket value with at least p % at or below

 private:
  static size_t bucket(int64_t v);
  static int64_t bucket_value(size_t b);  // the bucket's largest value
  std::vector<int64_t> counts_;
  int64_t n_ = 0, min_ = INT64_MAX, max_ = INT64_MIN;
  double mean_ = 0, m2_ = 0;
};

struct TraceStats {
  int64_t requests = 0;
  SimTime first_ns = 0, last_ns = 0;
  LengthHistogram prompt, output;
  double gap_mean_s = 0, gap_m2 = 0;
  int64_t gaps = 0;
  int64_t sessions = 0, prefixed = 0, hashed = 0;  // requests in a session, with a shared prefix, with block hashes

  double duration_s() const { return ns_to_s(last_ns - first_ns); }
  double mean_rate() const;  // req/s over the span; 0 below two requests
  double interarrival_cv() const;
  nlohmann::ordered_json to_json() const;
};

TraceStats compute_trace_stats(RequestSource& source);

}  // namespace kvsim::traces
