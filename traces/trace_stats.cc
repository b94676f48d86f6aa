#include "traces/trace_stats.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace kvsim::traces {

namespace {
constexpr int64_t kExactBelow = 2048;  // 2^11
constexpr int kSubBits = 7;            // 128 buckets per power of two above it
}  // namespace

size_t LengthHistogram::bucket(int64_t v) {
  if (v < kExactBelow) return static_cast<size_t>(std::max<int64_t>(v, 0));
  const int e = std::bit_width(static_cast<uint64_t>(v)) - 1;  // 2^e <= v < 2^(e+1), e >= 11
  const int64_t sub = (v >> (e - kSubBits)) & ((1 << kSubBits) - 1);
  return static_cast<size_t>(kExactBelow + (e - 11) * (1 << kSubBits) + sub);
}

int64_t LengthHistogram::bucket_value(size_t b) {
  if (b < static_cast<size_t>(kExactBelow)) return static_cast<int64_t>(b);
  const int64_t i = static_cast<int64_t>(b) - kExactBelow;
  const int e = static_cast<int>(i >> kSubBits) + 11;
  const int64_t sub = i & ((1 << kSubBits) - 1);
  return (int64_t{1} << e) + ((sub + 1) << (e - kSubBits)) - 1;
}

void LengthHistogram::add(int64_t v) {
  const size_t b = bucket(v);
  if (b >= counts_.size()) counts_.resize(b + 1, 0);
  ++counts_[b];
  ++n_;
  min_ = std::min(min_, v);
  max_ = std::max(max_, v);
  const double d = static_cast<double>(v) - mean_;
  mean_ += d / static_cast<double>(n_);
  m2_ += d * (static_cast<double>(v) - mean_);
}

double LengthHistogram::stddev() const { return n_ > 0 ? std::sqrt(m2_ / static_cast<double>(n_)) : 0.0; }

int64_t LengthHistogram::percentile(double p) const {
  if (n_ == 0) return 0;
  const auto need = static_cast<int64_t>(std::ceil(std::clamp(p, 0.0, 100.0) / 100.0 * static_cast<double>(n_)));
  int64_t seen = 0;
  for (size_t b = 0; b < counts_.size(); ++b) {
    seen += counts_[b];
    if (seen >= std::max<int64_t>(need, 1)) return std::clamp(bucket_value(b), min_, max_);
  }
  return max_;
}

double TraceStats::mean_rate() const { return mean_arrival_rate(requests, first_ns, last_ns); }

double TraceStats::interarrival_cv() const {
  if (gaps < 2 || !(gap_mean_s > 0)) return 0.0;
  return std::sqrt(gap_m2 / static_cast<double>(gaps)) / gap_mean_s;
}

nlohmann::ordered_json TraceStats::to_json() const {
  nlohmann::ordered_json j;
  j["requests"] = requests;
  j["duration_s"] = duration_s();
  j["mean_rate"] = mean_rate();
  j["interarrival_cv"] = interarrival_cv();
  for (const auto& [name, h] : {std::pair{"prompt_tokens", &prompt}, std::pair{"output_tokens", &output}}) {
    nlohmann::ordered_json l;
    l["mean"] = h->mean();
    l["stddev"] = h->stddev();
    l["min"] = h->count() ? h->min() : 0;
    l["p50"] = h->percentile(50);
    l["p90"] = h->percentile(90);
    l["p99"] = h->percentile(99);
    l["max"] = h->count() ? h->max() : 0;
    j[name] = l;
  }
  j["session_requests"] = sessions;
  j["shared_prefix_requests"] = prefixed;
  j["block_hash_requests"] = hashed;
  return j;
}

TraceStats compute_trace_stats(RequestSource& source) {
  TraceStats s;
  SimTime last = 0;
  while (const std::optional<Request> r = source.next()) {
    if (s.requests == 0) {
      s.first_ns = r->arrival_ns;
    } else {
      const double gap = ns_to_s(r->arrival_ns - last);
      ++s.gaps;
      const double d = gap - s.gap_mean_s;
      s.gap_mean_s += d / static_cast<double>(s.gaps);
      s.gap_m2 += d * (gap - s.gap_mean_s);
    }
    last = s.last_ns = r->arrival_ns;
    ++s.requests;
    s.prompt.add(r->prompt_tokens);
    s.output.add(r->output_tokens);
    if (r->session_id != 0) ++s.sessions;
    if (r->prefix_id != 0) ++s.prefixed;
    if (!r->block_hashes.empty()) ++s.hashed;
  }
  return s;
}

}  // namespace kvsim::traces
