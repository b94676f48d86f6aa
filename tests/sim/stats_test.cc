#include "sim/metrics/stats.h"

#include "sim/core/error.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

namespace kvsim::metrics {
namespace {

TEST(Stats, MatchesNumpyLinearPercentiles) {
  // numpy: np.percentile([1,2,3,4,10], [50, 90, 95, 99]) = [3, 7.6, 8.8, 9.76]; mean 4, std (ddof=0) 3.1623
  std::vector<double> v = {10, 2, 4, 1, 3};
  const Stats s = compute_stats(v);
  EXPECT_DOUBLE_EQ(s.mean, 4.0);
  EXPECT_DOUBLE_EQ(s.median, 3.0);
  EXPECT_NEAR(s.p90, 7.6, 1e-12);
  EXPECT_NEAR(s.p95, 8.8, 1e-12);
  EXPECT_NEAR(s.p99, 9.76, 1e-12);
  EXPECT_NEAR(s.std, 3.16227766, 1e-8);
}

TEST(Stats, WeightedSamplesEqualExpandedSamples) {
  std::vector<std::pair<double, int64_t>> w = {{5.0, 3}, {1.0, 2}, {9.0, 1}};
  std::vector<double> expanded = {5, 5, 5, 1, 1, 9};
  const Stats a = compute_stats(w), b = compute_stats(expanded);
  EXPECT_DOUBLE_EQ(a.mean, b.mean);
  EXPECT_DOUBLE_EQ(a.median, b.median);
  EXPECT_DOUBLE_EQ(a.p90, b.p90);
  EXPECT_DOUBLE_EQ(a.p95, b.p95);
  EXPECT_DOUBLE_EQ(a.p99, b.p99);
  EXPECT_DOUBLE_EQ(a.std, b.std);
}

TEST(Stats, EmptyIsZero) {
  std::vector<double> v;
  EXPECT_EQ(compute_stats(v).p99, 0.0);
}

// Lognormal latencies (median 20 ms, a long tail) with run-length duplicates, as ITLs arrive.
std::vector<std::pair<double, int64_t>> latency_like(int64_t n, uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::lognormal_distribution<double> dist(std::log(20.0), 1.2);
  std::uniform_int_distribution<int64_t> repeat(1, 40);
  std::vector<std::pair<double, int64_t>> out;
  for (int64_t i = 0; i < n; ++i) out.emplace_back(dist(gen), repeat(gen));
  return out;
}

TEST(LatencySamples, ExactBelowTheLimitMatchesComputeStats) {
  auto samples = latency_like(5000, 1);
  LatencySamples kept(5000);
  for (const auto& [v, c] : samples) kept.add(v, c);
  ASSERT_TRUE(kept.exact());
  const Stats a = kept.stats(), b = compute_stats(samples);
  EXPECT_EQ(a.mean, b.mean);
  EXPECT_EQ(a.median, b.median);
  EXPECT_EQ(a.p90, b.p90);
  EXPECT_EQ(a.p99, b.p99);
  EXPECT_EQ(a.std, b.std);
}

TEST(LatencySamples, SketchPercentilesStayWithinTheRelativeErrorBound) {
  for (const double a : {1e-4, 1e-3, 1e-2}) {
    auto samples = latency_like(200'000, 7);
    LatencySamples sketch(1000, a);
    for (const auto& [v, c] : samples) sketch.add(v, c);
    ASSERT_FALSE(sketch.exact());
    const Stats got = sketch.stats(), want = compute_stats(samples);
    for (const auto& [g, w] : {std::pair{got.median, want.median}, {got.p90, want.p90}, {got.p99, want.p99}}) {
      EXPECT_LE(std::abs(g - w), a * w * (1 + 1e-9)) << "a=" << a << " exact " << w << " sketch " << g;
    }
    // A histogram of relative width 2a is not exact: with a = 1e-2 the percentiles must move (a histogram that
    // silently kept every sample would pass the bound above trivially).
    if (a == 1e-2) {
      EXPECT_NE(got.p90, want.p90);
    }
    EXPECT_NEAR(got.mean, want.mean, 1e-9 * want.mean);  // running sums stay exact
    EXPECT_NEAR(got.std, want.std, 1e-9 * want.std);
  }
}

// percentiles() is numpy's percentile at any q, exact below the limit and within the relative error once folded, and
// agrees with stats() where they meet.
TEST(LatencySamples, PercentilesAtAnyQMatchNumpyAndStats) {
  LatencySamples small;
  for (int v = 1; v <= 100; ++v) small.add(v);  // numpy.percentile(range(1, 101), q) = 1 + 0.99 q
  const std::vector<double> q{0, 1, 50, 99.5, 99.9, 100};
  const std::vector<double> got = small.percentiles(q);
  for (size_t i = 0; i < q.size(); ++i) EXPECT_NEAR(got[i], 1 + 0.99 * q[i], 1e-12) << q[i];
  for (const size_t limit : {size_t{1} << 20, size_t{1000}}) {
    auto samples = latency_like(50'000, 11);
    LatencySamples s(limit, 1e-3);
    for (const auto& [v, c] : samples) s.add(v, c);
    const std::vector<double> p = s.percentiles({50, 90, 95, 99});
    const Stats st = s.stats();
    EXPECT_EQ(p[0], st.median);
    EXPECT_EQ(p[1], st.p90);
    EXPECT_EQ(p[2], st.p95);
    EXPECT_EQ(p[3], st.p99);
    const Stats exact = compute_stats(samples);
    EXPECT_LE(std::abs(p[3] - exact.p99), 1e-3 * exact.p99 * (1 + 1e-9)) << "limit " << limit;
  }
  EXPECT_EQ(LatencySamples().percentiles({0, 50, 100}), (std::vector<double>{0, 0, 0}));
}

TEST(LatencySamples, MemoryStopsGrowingOnceFolded) {
  LatencySamples s(1000, 1e-3);
  std::mt19937_64 gen(3);
  std::uniform_real_distribution<double> dist(5.0, 500.0);  // two decades: ln(100) / ln((1+a)/(1-a)) buckets
  for (int i = 0; i < 2'000'000; ++i) s.add(dist(gen));
  EXPECT_FALSE(s.exact());
  EXPECT_LE(s.entries(), static_cast<size_t>(std::log(100.0) / std::log(1.001 / 0.999)) + 2);
  EXPECT_EQ(s.count(), 2'000'000);
  EXPECT_LE(s.max(), 500.0);
}

TEST(LatencySamples, ZeroLimitSketchesFromTheStartAndKeepsExtremesExact) {
  LatencySamples s(0, 1e-2);
  s.add(0.0, 3);
  s.add(7.0);
  s.add(1000.0);
  EXPECT_FALSE(s.exact());
  const Stats st = s.stats();
  EXPECT_EQ(st.median, 0.0);  // ranks 0..2 are the zeros
  EXPECT_NEAR(st.p99, 1000 - 0.04 * (1000 - 7), 1e-2 * 1000);
  EXPECT_LE(st.p99, 1000.0);  // clamped to the exact max
  EXPECT_EQ(s.max(), 1000.0);
}

TEST(LatencySamples, AFallingSeriesStaysWithinTheBound) {
  // Values arriving in decreasing order (a backlog draining) grow the histogram downwards.
  LatencySamples s(10, 1e-3);
  std::vector<std::pair<double, int64_t>> all;
  for (int i = 200'000; i > 0; --i) {
    const double v = 0.01 * i;
    s.add(v);
    all.emplace_back(v, 1);
  }
  const Stats got = s.stats(), want = compute_stats(all);
  EXPECT_LE(std::abs(got.median - want.median), 1e-3 * want.median);
  EXPECT_LE(std::abs(got.p99 - want.p99), 1e-3 * want.p99);
  EXPECT_THROW(s.add(std::nan("")), Error);
  EXPECT_THROW(s.add(-1.0), Error);
}

}  // namespace
}  // namespace kvsim::metrics
