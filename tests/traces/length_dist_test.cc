#include "traces/length_dist.h"

#include <cmath>

#include <gtest/gtest.h>

#include "tests/traces/test_util.h"

namespace kvsim::traces {
namespace {

using testing::error_of;
using testing::parse_text;

struct Moments {
  double mean = 0, stddev = 0;
  int64_t min = INT64_MAX, max = INT64_MIN;
};

Moments sample_moments(const LengthDist& d, int n, uint64_t seed = 7) {
  LengthSampler s(d, RngStreams(seed).stream("workload/prompt_tokens"));
  double sum = 0, sum_sq = 0;
  Moments m;
  for (int i = 0; i < n; ++i) {
    const auto v = static_cast<double>(s.sample());
    sum += v;
    sum_sq += v * v;
    m.min = std::min<int64_t>(m.min, static_cast<int64_t>(v));
    m.max = std::max<int64_t>(m.max, static_cast<int64_t>(v));
  }
  m.mean = sum / n;
  m.stddev = std::sqrt(sum_sq / n - m.mean * m.mean);
  return m;
}

TEST(LengthDist, LognormalMatchesMeanAndStddevOfLengths) {
  for (const auto& [mean, stddev] : {std::pair{1000.0, 500.0}, std::pair{200.0, 300.0}, std::pair{4000.0, 1000.0}}) {
    LengthDist d;
    d.dist = "lognormal";
    d.mean = mean;
    d.stddev = stddev;
    const Moments m = sample_moments(d, 200'000);
    EXPECT_NEAR(m.mean, mean, 0.03 * mean) << mean << "/" << stddev;
    EXPECT_NEAR(m.stddev, stddev, 0.03 * stddev) << mean << "/" << stddev;
  }
}

TEST(LengthDist, ClippingHoldsAtBothSides) {
  LengthDist d;
  d.dist = "lognormal";
  d.mean = 1000;
  d.stddev = 2000;
  d.min = 100;
  d.max = 2000;
  const Moments m = sample_moments(d, 50'000);
  EXPECT_EQ(m.min, 100);  // reached: many draws fall below 100 and are raised to it
  EXPECT_EQ(m.max, 2000);
}

TEST(LengthDist, UniformCoversItsInclusiveRange) {
  LengthDist d;
  d.dist = "uniform";
  d.min = 10;
  d.max = 20;
  const Moments m = sample_moments(d, 10'000);
  EXPECT_EQ(m.min, 10);
  EXPECT_EQ(m.max, 20);
  EXPECT_NEAR(m.mean, 15, 0.2);
  d.max = 10;  // min == max is one value
  const Moments one = sample_moments(d, 100);
  EXPECT_EQ(one.min, 10);
  EXPECT_EQ(one.max, 10);
}

TEST(LengthDist, FixedIsClippedToo) {
  LengthDist d;
  d.value = 5000;
  d.max = 4096;
  EXPECT_EQ(sample_moments(d, 10).max, 4096);
}

TEST(LengthDist, PlainIntegerIsFixed) {
  const WorkloadSpec s = parse_text("workload: {requests: 1, prompt_tokens: 512, output_tokens: {value: 7}}\n");
  EXPECT_EQ(s.prompt_tokens.dist, "fixed");
  EXPECT_EQ(s.prompt_tokens.value, 512);
  EXPECT_EQ(s.output_tokens.value, 7);
}

TEST(LengthDist, ParsesLognormalWithClip) {
  const WorkloadSpec s = parse_text(
      "workload:\n  requests: 1\n  prompt_tokens: {dist: lognormal, mean: 1000, stddev: 500, max: 4096}\n"
      "  output_tokens: {dist: uniform, min: 1, max: 256}\n");
  EXPECT_EQ(s.prompt_tokens.dist, "lognormal");
  EXPECT_EQ(s.prompt_tokens.mean, 1000);
  EXPECT_EQ(s.prompt_tokens.stddev, 500);
  EXPECT_EQ(s.prompt_tokens.min, 1);
  EXPECT_EQ(s.prompt_tokens.max, 4096);
  EXPECT_EQ(s.output_tokens.max, 256);
}

TEST(LengthDist, ErrorsNamePlaceAndKey) {
  const std::string head = "workload:\n  requests: 1\n  output_tokens: 8\n";
  EXPECT_EQ(error_of([&] { parse_text(head + "  prompt_tokens: {dist: lognormal, stddev: 5}\n"); }),
            "s.yaml:4:18: workload.prompt_tokens.mean: required key is missing for dist 'lognormal' (expected a "
            "number > 0)");
  EXPECT_EQ(error_of([&] { parse_text(head + "  prompt_tokens: {dist: lognormal, meen: 5, stddev: 5}\n"); }),
            "s.yaml:4:36: workload.prompt_tokens.meen: unknown key (did you mean 'mean'?)");
  EXPECT_EQ(error_of([&] { parse_text(head + "  prompt_tokens: {dist: uniform, min: 9, max: 8}\n"); }),
            "s.yaml:4:39: workload.prompt_tokens.min: expected an integer <= max (8), found '9'");
  EXPECT_EQ(
      error_of([&] { parse_text(head + "  prompt_tokens: {dist: lognormel, value: 3}\n"); }),
      "s.yaml:4:25: workload.prompt_tokens.dist: expected one of fixed, uniform, normal, lognormal, zipf, empirical, "
      "found 'lognormel' (did you mean 'lognormal'?)");
  EXPECT_EQ(error_of([&] { parse_text(head + "  prompt_tokens: {dist: normal, value: 3}\n"); }),
            "s.yaml:4:40: workload.prompt_tokens.value: not used by dist 'normal' (it reads mean, stddev)");
  EXPECT_EQ(error_of([&] { parse_text(head + "  prompt_tokens: {dist: zipf, s: 1.2}\n"); }),
            "s.yaml:4:18: workload.prompt_tokens.max: required key is missing for dist 'zipf' (expected an integer >= "
            "min)");
  EXPECT_EQ(error_of([&] { parse_text(head + "  prompt_tokens: {dist: fixed, value: 3, mean: 4}\n"); }),
            "s.yaml:4:48: workload.prompt_tokens.mean: not used by dist 'fixed' (it reads value)");
  EXPECT_EQ(error_of([&] { parse_text(head + "  prompt_tokens: 0\n"); }),
            "s.yaml:4:18: workload.prompt_tokens: expected an integer in [1 .. 1099511627776], found '0'");
  EXPECT_EQ(error_of([&] { parse_text(head + "  prompt_tokens: {value: 3, min: 0}\n"); }),
            "s.yaml:4:34: workload.prompt_tokens.min: expected an integer in [1 .. 1099511627776], found '0'");
  EXPECT_EQ(error_of([&] { parse_text("workload:\n  requests: 1\n  output_tokens: 8\n"); }),
            "s.yaml:2:3: workload.prompt_tokens: required key is missing (expected an integer >= 1 or {dist: fixed | "
            "uniform | normal | lognormal | zipf | empirical, ...})");
}

}  // namespace
}  // namespace kvsim::traces
