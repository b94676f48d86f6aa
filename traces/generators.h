// Synthetic request streams: a Poisson arrival process (exponential inter-arrival times at `rate` req/s, the open-loop
// load of vLLM's benchmark_serving with request_rate) and all-at-once (every request at t = 0, the offline batch
// of the vLLM paper's throughput runs). Lengths come from LengthSamplers. Both are unbounded: wrap them in a
// LimitedSource. Constant memory.
#pragma once

#include <optional>
#include <string>

#include "sim/core/rng.h"
#include "traces/length_dist.h"
#include "traces/request.h"

namespace kvsim::traces {

// The first arrival is one inter-arrival time after t = 0 (a Poisson process started at 0). Inter-arrival times are
// rounded to whole nanoseconds and summed as integers, so arrival times never drift with the stream's length.
class PoissonSource : public RequestSource {
 public:
  PoissonSource(double rate_per_s, Rng arrivals, LengthSampler prompt_tokens, LengthSampler output_tokens);
  std::optional<Request> next() override;
  std::string describe() const override;

 private:
  double rate_per_s_;
  Rng arrivals_;
  LengthSampler prompt_tokens_, output_tokens_;
  SimTime now_ns_ = 0;
  uint64_t next_id_ = 0;
  bool ended_ = false;
};

class AllAtOnceSource : public RequestSource {
 public:
  AllAtOnceSource(LengthSampler prompt_tokens, LengthSampler output_tokens);
  std::optional<Request> next() override;
  std::string describe() const override;

 private:
  LengthSampler prompt_tokens_, output_tokens_;
  uint64_t next_id_ = 0;
};

}  // namespace kvsim::traces
