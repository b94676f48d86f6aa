#include "traces/generators.h"

#include <cmath>

#include <gtest/gtest.h>

#include "tests/traces/test_util.h"
#include "traces/limited_source.h"
#include "traces/trace_reader.h"
#include "traces/workload.h"

namespace kvsim::traces {
namespace {

using testing::collect;
using testing::parse_text;

std::vector<Request> run(const std::string& yaml, uint64_t seed = 1, size_t limit = SIZE_MAX) {
  auto source = make_request_source(parse_text(yaml), RngStreams(seed));
  return collect(*source, limit);
}

TEST(Poisson, MeanInterArrivalIsOneOverRateAndCvIsOne) {
  const double rate = 4.0;
  const auto reqs = run("workload: {requests: 100000, arrival: {rate: 4}, prompt_tokens: 10, output_tokens: 10}\n");
  ASSERT_EQ(reqs.size(), 100000u);
  double sum = 0, sum_sq = 0;
  SimTime prev = 0;
  for (const Request& r : reqs) {
    ASSERT_GE(r.arrival_ns, prev);
    const double gap_s = ns_to_s(r.arrival_ns - prev);
    sum += gap_s;
    sum_sq += gap_s * gap_s;
    prev = r.arrival_ns;
  }
  const double mean = sum / reqs.size();
  const double cv = std::sqrt(sum_sq / reqs.size() - mean * mean) / mean;
  EXPECT_NEAR(mean, 1 / rate, 0.02 / rate);
  EXPECT_NEAR(cv, 1.0, 0.02);
}

TEST(Poisson, IdsCountUpAndLengthsFollowTheSpec) {
  const auto reqs = run("workload: {requests: 100, prompt_tokens: 33, output_tokens: {dist: uniform, min: 2, max: 3}}");
  for (size_t i = 0; i < reqs.size(); ++i) {
    EXPECT_EQ(reqs[i].id, i);
    EXPECT_EQ(reqs[i].prompt_tokens, 33);
    EXPECT_GE(reqs[i].output_tokens, 2);
    EXPECT_LE(reqs[i].output_tokens, 3);
  }
}

TEST(Poisson, SameSeedSameStreamOtherSeedDiffers) {
  const std::string y =
      "workload: {requests: 1000, arrival: {rate: 3}, prompt_tokens: {dist: lognormal, mean: 500, stddev: 200},"
      " output_tokens: {dist: uniform, min: 1, max: 100}}";
  const auto a = run(y, 42), b = run(y, 42), c = run(y, 43);
  ASSERT_EQ(a.size(), b.size());
  bool differs = false;
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].arrival_ns, b[i].arrival_ns);
    EXPECT_EQ(a[i].prompt_tokens, b[i].prompt_tokens);
    EXPECT_EQ(a[i].output_tokens, b[i].output_tokens);
    differs |= a[i].arrival_ns != c[i].arrival_ns || a[i].prompt_tokens != c[i].prompt_tokens ||
               a[i].output_tokens != c[i].output_tokens;
  }
  EXPECT_TRUE(differs);
}

TEST(Poisson, ArrivalsDoNotDependOnTheLengthStreams) {
  // Named streams: changing how lengths are drawn must not shift the arrival times.
  const auto a = run("workload: {requests: 100, prompt_tokens: 5, output_tokens: 5}", 9);
  const auto b = run("workload: {requests: 100, prompt_tokens: {dist: uniform, min: 1, max: 9}, output_tokens: 5}", 9);
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i].arrival_ns, b[i].arrival_ns);
}

TEST(AllAtOnce, EveryRequestArrivesAtZero) {
  const auto reqs =
      run("workload: {requests: 500, arrival: {process: all-at-once}, prompt_tokens: 8, output_tokens: 8}");
  ASSERT_EQ(reqs.size(), 500u);
  for (const Request& r : reqs) EXPECT_EQ(r.arrival_ns, 0);
}

TEST(Bounds, RequestsStopsTheStreamForGood) {
  auto source =
      make_request_source(parse_text("workload: {requests: 3, prompt_tokens: 1, output_tokens: 1}"), RngStreams(1));
  EXPECT_EQ(collect(*source).size(), 3u);
  EXPECT_FALSE(source->next().has_value());
  EXPECT_FALSE(source->next().has_value());
}

TEST(Bounds, DurationStopsAtTheFirstArrivalAfterIt) {
  const auto reqs = run("workload: {duration_s: 100, arrival: {rate: 10}, prompt_tokens: 1, output_tokens: 1}");
  ASSERT_FALSE(reqs.empty());
  EXPECT_LE(reqs.back().arrival_ns, 100 * kNsPerS);
  // The request after the last one kept arrives after 100 s (same seed, longer duration).
  const auto more = run("workload: {duration_s: 200, arrival: {rate: 10}, prompt_tokens: 1, output_tokens: 1}");
  ASSERT_GT(more.size(), reqs.size());
  EXPECT_GT(more[reqs.size()].arrival_ns, 100 * kNsPerS);
  EXPECT_NEAR(static_cast<double>(reqs.size()), 1000, 5 * std::sqrt(1000));
}

TEST(Bounds, BothBoundsTheFirstReachedWins) {
  EXPECT_EQ(run("workload: {requests: 5, duration_s: 1000, prompt_tokens: 1, output_tokens: 1}").size(), 5u);
  const auto by_time = run("workload: {requests: 1000000, duration_s: 10, prompt_tokens: 1, output_tokens: 1}");
  EXPECT_LT(by_time.size(), 100u);
}

TEST(Bounds, ArrivalAtExactlyTheDurationIsKeptOneNanosecondLaterIsNot) {
  const std::string text = "arrival_s,prompt_tokens,output_tokens\n1,1,1\n2,1,1\n2.000000001,1,1\n3,1,1\n";
  LimitedSource limited(open_trace(testing::text_stream(text), "t.csv"), std::nullopt, 2 * kNsPerS);
  EXPECT_EQ(collect(limited).size(), 2u);
  EXPECT_FALSE(limited.next().has_value());
  LimitedSource by_count(open_trace(testing::text_stream(text), "t.csv"), 4, std::nullopt);
  EXPECT_EQ(collect(by_count).size(), 4u);  // exactly all of them: the limit equals the trace length
  EXPECT_EQ(by_count.describe(), "trace t.csv (simple), 4 requests");
}

TEST(Bounds, ReaderEndsForGood) {
  auto r = open_trace(testing::text_stream("arrival_s,prompt_tokens,output_tokens\n1,1,1\n"), "t.csv");
  EXPECT_TRUE(r->next().has_value());
  EXPECT_FALSE(r->next().has_value());
  EXPECT_FALSE(r->next().has_value());
}

}  // namespace
}  // namespace kvsim::traces
