// The requests waiting for admission (all replicas together) as a step function of simulated time, kept as its
// integrals over a fixed number of equal time bins, so the least-squares trend of the queue over any window can be
// read at the end of a run in bounded memory (sim/metrics/overload.h decides from it whether the run kept up).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "sim/core/time.h"

namespace kvsim::metrics {

class QueueTrend {
 public:
  // The count is `waiting` from `now` until the next call; `now` never decreases (an earlier time is taken as the
  // latest one seen).
  void set(SimTime now, int64_t waiting);
  // Integrates the last step up to `end`; call once, before the queries.
  void close(SimTime end) { set(end, waiting_); }

  // Slope of the straight line that fits the count best in least squares over [from_ns, to_ns] (the continuous fit
  // of the step function), in requests per second; 0 when the window is empty. Exact over whole bins; a bin cut by
  // the window counts its overlap at the bin's mean count.
  double slope_req_per_s(SimTime from_ns, SimTime to_ns) const;
  // Integral of the count over the run, in request-seconds: by Little's law, the total time requests spent waiting.
  double area_req_s() const { return area_req_s_; }
  SimTime bin_ns() const { return bin_ns_; }

  // Bins kept: bins merge in pairs (doubling their width) when the run outgrows them, so a window of half the
  // arrivals spans at least ~kMaxBins/4 bins unless the drain after the last arrival is far longer than the arrivals.
  static constexpr size_t kMaxBins = 1024;
  // Starting width: finer than any iteration's effect on the queue matters for a trend.
  static constexpr SimTime kFirstBinNs = kNsPerMs;

 private:
  void add(SimTime from_ns, SimTime to_ns, int64_t waiting);
  void grow_to(SimTime t_ns);

  SimTime bin_ns_ = kFirstBinNs;
  std::vector<double> area_;    // per bin: integral of the count, request-seconds
  std::vector<double> moment_;  // per bin: integral of t x count, request-seconds^2 (t in seconds)
  double area_req_s_ = 0;
  SimTime since_ns_ = 0;
  int64_t waiting_ = 0;
};

}  // namespace kvsim::metrics
