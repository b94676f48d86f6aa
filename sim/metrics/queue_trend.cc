#include "sim/metrics/queue_trend.h"

#include <algorithm>

namespace kvsim::metrics {

void QueueTrend::set(SimTime now, int64_t waiting) {
  now = std::max(now, since_ns_);
  add(since_ns_, now, waiting_);
  since_ns_ = now;
  waiting_ = waiting;
}

void QueueTrend::grow_to(SimTime t_ns) {
  // Bins cover [0, kMaxBins x bin_ns_); pairs merge exactly (both integrals add) until `t_ns` fits.
  while (t_ns > static_cast<SimTime>(kMaxBins) * bin_ns_) {
    const size_t half = (area_.size() + 1) / 2;
    for (size_t i = 0; i < half; ++i) {
      const size_t a = 2 * i, b = 2 * i + 1;
      area_[i] = area_[a] + (b < area_.size() ? area_[b] : 0.0);
      moment_[i] = moment_[a] + (b < moment_.size() ? moment_[b] : 0.0);
    }
    area_.resize(half);
    moment_.resize(half);
    bin_ns_ *= 2;
  }
}

void QueueTrend::add(SimTime from_ns, SimTime to_ns, int64_t waiting) {
  if (to_ns <= from_ns) return;
  grow_to(to_ns);
  if (waiting == 0) return;
  const double w = static_cast<double>(waiting);
  area_req_s_ += w * ns_to_s(to_ns - from_ns);
  const auto last = static_cast<size_t>((to_ns - 1) / bin_ns_);
  if (area_.size() <= last) {
    area_.resize(last + 1, 0.0);
    moment_.resize(last + 1, 0.0);
  }
  for (auto i = static_cast<size_t>(from_ns / bin_ns_); i <= last; ++i) {
    const SimTime lo = std::max(from_ns, static_cast<SimTime>(i) * bin_ns_);
    const SimTime hi = std::min(to_ns, static_cast<SimTime>(i + 1) * bin_ns_);
    const double lo_s = ns_to_s(lo), hi_s = ns_to_s(hi);
    area_[i] += w * (hi_s - lo_s);
    moment_[i] += w * (hi_s * hi_s - lo_s * lo_s) / 2;
  }
}

double QueueTrend::slope_req_per_s(SimTime from_ns, SimTime to_ns) const {
  if (to_ns <= from_ns) return 0.0;
  // Least squares of w(t) ~ a + b (t - c) over [from, to], c the middle: b = integral (t - c) w dt / (L^3 / 12).
  double s0 = 0, s1 = 0;
  const double bin_s = ns_to_s(bin_ns_);
  const auto first = static_cast<size_t>(from_ns / bin_ns_);
  const auto last = static_cast<size_t>((to_ns - 1) / bin_ns_);
  for (size_t i = first; i <= last && i < area_.size(); ++i) {
    const SimTime lo = std::max(from_ns, static_cast<SimTime>(i) * bin_ns_);
    const SimTime hi = std::min(to_ns, static_cast<SimTime>(i + 1) * bin_ns_);
    if (hi - lo == bin_ns_) {
      s0 += area_[i];
      s1 += moment_[i];
    } else {
      const double mean = area_[i] / bin_s, lo_s = ns_to_s(lo), hi_s = ns_to_s(hi);
      s0 += mean * (hi_s - lo_s);
      s1 += mean * (hi_s * hi_s - lo_s * lo_s) / 2;
    }
  }
  const double from_s = ns_to_s(from_ns), length_s = ns_to_s(to_ns - from_ns);
  const double middle_s = from_s + length_s / 2;
  return (s1 - middle_s * s0) * 12.0 / (length_s * length_s * length_s);
}

}  // namespace kvsim::metrics
