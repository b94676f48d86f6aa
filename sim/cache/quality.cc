// Retention quality proxy: see quality.h for the synthetic attention model and its sources.
#include "sim/cache/quality.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "sim/core/error.h"

namespace kvsim::cache {
namespace {

using namespace retention_model;  // NOLINT(build/namespaces): the model's constants, defined in quality.h

enum class Kind { kAll, kHeavy, kOrdinary };

// r^n and 1 - r^n for the recency ratio r = 2^(-1 / half-life).
double r_pow(double n) { return std::exp2(-n / kRecencyHalfLife); }
double one_minus_r_pow(double n) { return -std::expm1(-n * std::log(2.0) / kRecencyHalfLife); }

// Heavy-hitter positions (kHeavyPhase + k * kHeavyPeriod) below x.
int64_t heavy_below(int64_t x) { return x > kHeavyPhase ? (x - 1 - kHeavyPhase) / kHeavyPeriod + 1 : 0; }

int64_t count(int64_t lo, int64_t hi, Kind kind) {
  if (hi <= lo) return 0;
  const int64_t heavy = heavy_below(hi) - heavy_below(lo);
  switch (kind) {
    case Kind::kHeavy:
      return heavy;
    case Kind::kOrdinary:
      return hi - lo - heavy;
    case Kind::kAll:
      break;
  }
  return hi - lo;
}

// Sum of recency weights r^(c-1-i) over positions i of `kind` in [lo, hi), scaled by (1 - r) so that the sum over
// the whole cache [0, c) is 1 - r^c.
double recency(int64_t c, int64_t lo, int64_t hi, Kind kind) {
  if (hi <= lo) return 0.0;
  if (kind == Kind::kOrdinary) return recency(c, lo, hi, Kind::kAll) - recency(c, lo, hi, Kind::kHeavy);
  if (kind == Kind::kAll) return r_pow(static_cast<double>(c - hi)) * one_minus_r_pow(static_cast<double>(hi - lo));
  const int64_t m = count(lo, hi, Kind::kHeavy);
  if (m == 0) return 0.0;
  const int64_t newest = kHeavyPhase + (heavy_below(hi) - 1) * kHeavyPeriod;
  const double period = static_cast<double>(kHeavyPeriod);
  static const double one_step = one_minus_r_pow(1.0), one_period = one_minus_r_pow(period);
  return r_pow(static_cast<double>(c - 1 - newest)) * one_minus_r_pow(period * static_cast<double>(m)) * one_step /
         one_period;
}

// What a policy keeps at cache size c: [0, prefix) and [window, c) wholly; of the middle [prefix, window), each
// heavy hitter with probability heavy_frac and each other token with probability ordinary_frac.
struct Kept {
  int64_t c = 0;
  int64_t prefix = 0;
  int64_t window = 0;
  double heavy_frac = 1.0;
  double ordinary_frac = 1.0;

  double frac(Kind kind) const { return kind == Kind::kHeavy ? heavy_frac : ordinary_frac; }

  // Expected number of kept positions of `kind` in [lo, hi).
  double expected(int64_t lo, int64_t hi, Kind kind) const {
    const auto part = [&](int64_t a, int64_t b, Kind k) { return count(std::max(lo, a), std::min(hi, b), k); };
    double n = static_cast<double>(part(0, prefix, kind) + part(window, c, kind));
    if (kind != Kind::kOrdinary) n += heavy_frac * static_cast<double>(part(prefix, window, Kind::kHeavy));
    if (kind != Kind::kHeavy) n += ordinary_frac * static_cast<double>(part(prefix, window, Kind::kOrdinary));
    return n;
  }

  bool all() const { return prefix >= window || (heavy_frac >= 1.0 && ordinary_frac >= 1.0); }
};

Kept keep_all(int64_t c) { return Kept{c, c, c, 1.0, 1.0}; }

// InfiniGen's selection at cache size c (quality.h): the model's per-token weights, the threshold exp(-alpha) x the
// largest, and the tokens of each kind above it, trimmed to the cap.
Kept speculative_set(double alpha, double cap_ratio, int64_t c) {
  const int64_t sinks = std::min(kSinkTokens, c);
  const int64_t heavy = count(0, c, Kind::kHeavy);
  const double dc = static_cast<double>(c);
  const double total = kSinkShare + kRecencyShare + (heavy > 0 ? kHeavyShare : 0.0) + kUniformShare;
  const double floor_w = kUniformShare / total / dc;
  const double sink_w = kSinkShare / total / static_cast<double>(sinks) + floor_w;
  const double heavy_w = heavy > 0 ? kHeavyShare / total / static_cast<double>(heavy) + floor_w : 0.0;
  const double recent1 = kRecencyShare / total * one_minus_r_pow(1.0) / one_minus_r_pow(dc);  // distance 1
  const double top = std::max({sink_w, heavy_w, recent1 + floor_w});
  const double threshold = top * std::exp(-alpha);
  if (floor_w >= threshold && cap_ratio >= 1.0) return keep_all(c);
  // Recent tokens whose recency weight clears the threshold: distance d with recent1 r^(d-1) >= threshold - floor.
  int64_t recent = c;
  if (floor_w < threshold) {
    const double ratio = (threshold - floor_w) / recent1;
    recent = ratio > 1.0
                 ? 0
                 : std::min<int64_t>(c, 1 + static_cast<int64_t>(std::floor(-std::log2(ratio) * kRecencyHalfLife)));
  }
  Kept k{c, sink_w >= threshold ? sinks : 0, c - recent, heavy_w >= threshold ? 1.0 : 0.0,
         floor_w >= threshold ? 1.0 : 0.0};
  if (k.window < k.prefix) k.window = k.prefix;
  // Trim to the cap: the oldest recent tokens, then heavy hitters, then sinks.
  const double cap = std::ceil(cap_ratio * dc);
  const auto selected = [&] { return k.expected(0, c, Kind::kAll); };
  if (selected() <= cap) return k;
  // What stays when no recent token does: the sinks and the selected heavy hitters anywhere past them.
  const double fixed =
      static_cast<double>(k.prefix) + k.heavy_frac * static_cast<double>(count(k.prefix, c, Kind::kHeavy));
  k.ordinary_frac = 0.0;
  if (fixed <= cap) {  // room for the newest cap - fixed recent tokens (and the heavy hitters among them)
    int64_t lo = k.window, hi = c;
    while (lo < hi) {  // the oldest start whose window still fits
      const int64_t mid = lo + (hi - lo) / 2;
      Kept t = k;
      t.window = mid;
      if (t.expected(0, c, Kind::kAll) <= cap)
        hi = mid;
      else
        lo = mid + 1;
    }
    k.window = lo;
    return k;
  }
  k.window = c;
  const double all_heavy = static_cast<double>(count(k.prefix, c, Kind::kHeavy));
  if (static_cast<double>(k.prefix) <= cap) {
    k.heavy_frac = all_heavy > 0 ? std::min(1.0, (cap - static_cast<double>(k.prefix)) / all_heavy) : 0.0;
  } else {
    k.heavy_frac = 0.0;
    k.prefix = static_cast<int64_t>(cap);
  }
  return k;
}

// A RetentionSpec with its kind resolved once (retention_quality asks for a kept set at every decode step).
enum class Policy : uint8_t { kFull, kH2o, kStreaming, kSnapKv, kSpeculative };
struct Resolved {
  Policy policy = Policy::kFull;
  RetentionSpec spec;
};

Policy policy_of(const std::string& kind) {
  if (kind == "h2o") return Policy::kH2o;
  if (kind == "streaming") return Policy::kStreaming;
  if (kind == "snapkv") return Policy::kSnapKv;
  if (kind == "speculative") return Policy::kSpeculative;
  return Policy::kFull;
}

Kept kept_set(const Resolved& r, int64_t c) {
  const RetentionSpec& spec = r.spec;
  if (r.policy == Policy::kStreaming) {
    if (spec.sink_tokens + spec.window_tokens >= c) return keep_all(c);
    return Kept{c, spec.sink_tokens, c - spec.window_tokens, 0.0, 0.0};
  }
  if (r.policy == Policy::kSpeculative) return speculative_set(spec.alpha, spec.cap_ratio, c);
  if (r.policy == Policy::kH2o) {
    const int64_t window = c - std::min(spec.recent_tokens, c);
    if (spec.heavy_tokens >= window) return keep_all(c);
    // The budget goes to the sinks, then the heavy hitters, then ordinary tokens (quality.h).
    const int64_t prefix = std::min(kSinkTokens, spec.heavy_tokens);
    const int64_t left = spec.heavy_tokens - prefix;
    const int64_t heavy = count(prefix, window, Kind::kHeavy);
    const int64_t ordinary = count(prefix, window, Kind::kOrdinary);
    const double heavy_frac = heavy > 0 ? std::min(1.0, static_cast<double>(left) / static_cast<double>(heavy)) : 1.0;
    const int64_t left_ordinary = std::max<int64_t>(0, left - heavy);
    const double ordinary_frac =
        ordinary > 0 ? std::min(1.0, static_cast<double>(left_ordinary) / static_cast<double>(ordinary)) : 1.0;
    return Kept{c, prefix, window, heavy_frac, ordinary_frac};
  }
  return keep_all(c);
}

// Attention mass a query with a cache of k.c tokens puts on the kept ones.
double attention_kept(const Kept& k) {
  if (k.all()) return 1.0;
  const int64_t c = k.c;
  const int64_t sinks = std::min(kSinkTokens, c);
  const int64_t heavy = count(0, c, Kind::kHeavy);
  const double dc = static_cast<double>(c);

  const double sink_part = k.expected(0, sinks, Kind::kAll) / static_cast<double>(sinks);
  // The middle's ordinary tokens are all of it but its heavy hitters (recency(kOrdinary), each sum taken once).
  const double middle_heavy = recency(c, k.prefix, k.window, Kind::kHeavy);
  const double middle_ordinary = k.window > k.prefix ? recency(c, k.prefix, k.window, Kind::kAll) - middle_heavy : 0.0;
  const double recency_part = (recency(c, 0, k.prefix, Kind::kAll) + recency(c, k.window, c, Kind::kAll) +
                               k.heavy_frac * middle_heavy + k.ordinary_frac * middle_ordinary) /
                              one_minus_r_pow(dc);
  const double heavy_part = heavy > 0 ? k.expected(0, c, Kind::kHeavy) / static_cast<double>(heavy) : 0.0;
  const double uniform_part = k.expected(0, c, Kind::kAll) / dc;

  const double heavy_share = heavy > 0 ? kHeavyShare : 0.0;
  const double mass =
      kSinkShare * sink_part + kRecencyShare * recency_part + heavy_share * heavy_part + kUniformShare * uniform_part;
  return std::clamp(mass / (kSinkShare + kRecencyShare + heavy_share + kUniformShare), 0.0, 1.0);
}

// Expected share of the early facts kept at cache size k.c (prompt_tokens: the prompt they were planted in).
double early_facts_kept(const Kept& k, int64_t prompt_tokens) {
  if (k.all()) return 1.0;
  const int64_t end = (prompt_tokens * kEarlyPercent + 99) / 100;  // ceil(10 % of the prompt), >= 1
  const int64_t begin = end > kSinkTokens ? kSinkTokens : 0;
  const int64_t heavy = count(begin, end, Kind::kHeavy);
  const int64_t ordinary = count(begin, end, Kind::kOrdinary);
  const double heavy_share = heavy > 0 ? (ordinary > 0 ? kFactHeavyShare : 1.0) : 0.0;
  double kept = 0.0;
  if (heavy > 0) kept += heavy_share * k.expected(begin, end, Kind::kHeavy) / static_cast<double>(heavy);
  if (ordinary > 0)
    kept += (1.0 - heavy_share) * k.expected(begin, end, Kind::kOrdinary) / static_cast<double>(ordinary);
  return std::clamp(kept, 0.0, 1.0);
}

void check(const RetentionSpec& spec, int64_t prompt_tokens, int64_t output_tokens) {
  static const std::vector<std::string> kKinds = {"full", "h2o", "streaming", "snapkv", "speculative"};
  if (std::find(kKinds.begin(), kKinds.end(), spec.kind) == kKinds.end()) {
    throw Error("retention: unknown kind '" + spec.kind + "'" + did_you_mean(spec.kind, kKinds) + " (expected " +
                join(kKinds) + ")");
  }
  if (prompt_tokens < 1 || output_tokens < 1) {
    throw Error("retention: prompt_tokens and output_tokens must be >= 1 (got " + std::to_string(prompt_tokens) +
                " and " + std::to_string(output_tokens) + ")");
  }
  if (spec.heavy_tokens < 0 || spec.recent_tokens < 0 || spec.sink_tokens < 0 || spec.window_tokens < 0) {
    throw Error("retention: token budgets must be >= 0");
  }
  if (!(spec.alpha >= 0) || !(spec.cap_ratio > 0 && spec.cap_ratio <= 1)) {
    throw Error("retention: speculative alpha must be >= 0 and cap_ratio in (0, 1]");
  }
}

}  // namespace

double speculative_selected_tokens(double alpha, double cap_ratio, int64_t c) {
  if (c <= 0) return 0.0;
  return speculative_set(alpha, cap_ratio, c).expected(0, c, Kind::kAll);
}

RetentionQuality retention_quality(const RetentionSpec& spec, int64_t prompt_tokens, int64_t output_tokens) {
  check(spec, prompt_tokens, output_tokens);
  RetentionQuality q;
  if (spec.kind == "full") return q;
  // SnapKV keeps, of the prompt, its observation window and the budget's rest by the window's attention (the
  // sinks, then heavy hitters, then ordinary tokens, as for H2O), and every generated token: at step j that is H2O's
  // kept set with a recent window of observation + j tokens.
  Resolved fixed{policy_of(spec.kind), spec};
  const bool snap = fixed.policy == Policy::kSnapKv;
  if (snap && prompt_tokens <= spec.heavy_tokens) return q;
  Resolved h2o{Policy::kH2o, RetentionSpec{}};
  h2o.spec.heavy_tokens = spec.heavy_tokens - std::min(kSnapKvObservationTokens, spec.heavy_tokens);
  const auto at_step = [&](int64_t j) -> const Resolved& {
    if (!snap) return fixed;
    h2o.spec.recent_tokens = std::min(kSnapKvObservationTokens, spec.heavy_tokens) + j;
    return h2o;
  };
  double sum = 0.0;
  for (int64_t j = 0; j < output_tokens; ++j) sum += attention_kept(kept_set(at_step(j), prompt_tokens + j));
  q.attention = std::clamp(sum / static_cast<double>(output_tokens), 0.0, 1.0);
  q.early_facts = early_facts_kept(kept_set(at_step(output_tokens), prompt_tokens + output_tokens), prompt_tokens);
  return q;
}

}  // namespace kvsim::cache
