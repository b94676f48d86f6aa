#include "sim/metrics/stats.h"

#include <gtest/gtest.h>

namespace kvsim::metrics {
namespace {

TEST(Stats, MatchesNumpyLinearPercentiles) {
  // numpy: np.percentile([1,2,3,4,10], [50, 90, 99]) = [3, 7.6, 9.76]; mean 4, std (ddof=0) 3.1623
  std::vector<double> v = {10, 2, 4, 1, 3};
  const Stats s = compute_stats(v);
  EXPECT_DOUBLE_EQ(s.mean, 4.0);
  EXPECT_DOUBLE_EQ(s.median, 3.0);
  EXPECT_NEAR(s.p90, 7.6, 1e-12);
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
  EXPECT_DOUBLE_EQ(a.p99, b.p99);
  EXPECT_DOUBLE_EQ(a.std, b.std);
}

TEST(Stats, EmptyIsZero) {
  std::vector<double> v;
  EXPECT_EQ(compute_stats(v).p99, 0.0);
}

}  // namespace
}  // namespace kvsim::metrics
