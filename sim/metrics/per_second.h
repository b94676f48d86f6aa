// vllm bench serve's two peak metrics, over 1-second buckets counted from the first request's start
// (vllm/benchmarks/serve.py, calculate_metrics): max_output_tokens_per_s, the most output tokens the client received
// within one bucket (each token counted in the bucket of its arrival time), and max_concurrent_requests, the most
// requests active during one bucket (a request counts in every bucket from the one of its start to the one of its
// end, both included: so it is at least the instantaneous peak). Memory is two counters per second of the run, never
// per token or per request: a token batch adds to one bucket, a request adds +1/-1 to a difference array.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "sim/core/time.h"

namespace kvsim::metrics {

class PerSecondPeaks {
 public:
  // The buckets' origin: the first request's start (vLLM's min start time). Times before it count in bucket 0.
  void start(SimTime origin_ns) {
    if (origin_ns_ < 0) origin_ns_ = origin_ns;
  }
  // `count` output tokens reached the client at `t_ns`.
  void add_tokens(SimTime t_ns, int64_t count) {
    if (count <= 0) return;
    const size_t b = bucket(t_ns);
    if (b >= tokens_.size()) tokens_.resize(b + 1, 0);
    tokens_[b] += count;
  }
  // A completed request was active from `start_ns` to `end_ns`.
  void add_request(SimTime start_ns, SimTime end_ns) {
    const size_t first = bucket(start_ns), last = std::max(first, bucket(end_ns));
    if (last + 2 > active_delta_.size()) active_delta_.resize(last + 2, 0);
    ++active_delta_[first];
    --active_delta_[last + 1];
  }
  double max_output_tokens_per_s() const {
    int64_t most = 0;
    for (const int64_t t : tokens_) most = std::max(most, t);
    return static_cast<double>(most);
  }
  int64_t max_concurrent_requests() const {
    int64_t active = 0, most = 0;
    for (const int64_t d : active_delta_) {
      active += d;
      most = std::max(most, active);
    }
    return most;
  }
  int64_t buckets() const { return static_cast<int64_t>(std::max(tokens_.size(), active_delta_.size())); }

 private:
  size_t bucket(SimTime t_ns) const {
    const SimTime origin = std::max<SimTime>(0, origin_ns_);
    return t_ns <= origin ? 0 : static_cast<size_t>((t_ns - origin) / kNsPerS);
  }

  SimTime origin_ns_ = -1;
  std::vector<int64_t> tokens_;        // output tokens per second bucket
  std::vector<int64_t> active_delta_;  // requests starting minus requests that ended, per bucket
};

}  // namespace kvsim::metrics
