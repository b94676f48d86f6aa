// The overload warning appears exactly when the queue grows: a light run and the ramp-up of a short steady run say
// nothing, a run well above saturation says overloaded with its evidence; the queue trend's least-squares slope and
// each threshold of the rule, on both sides.
#include <gtest/gtest.h>

#include "sim/metrics/overload.h"
#include "sim/metrics/queue_trend.h"
#include "sim/run.h"
#include "tests/sim/test_util.h"

namespace kvsim::metrics {
namespace {

// One llama-3.1-8b replica on an H100 serves about 23 req/s of these lengths (2,000 requests at 42 req/s complete at
// 24 req/s; at 25 req/s the queue stays empty).
const char* const kServer = R"(
model: llama-3.1-8b
hardware: h100-sxm5-80gb
seed: 7
engine: {max_model_len: 16384}
workload:
  requests: 400
  arrival: {process: poisson, rate: 8}
  prompt_tokens: {dist: lognormal, mean: 1000, stddev: 500, min: 16, max: 8192}
  output_tokens: {dist: lognormal, mean: 200, stddev: 100, min: 2, max: 1024}
)";

nlohmann::ordered_json run(const std::vector<std::string>& overrides) {
  return sim::run_scenario(testing::scenario_from(kServer, overrides), "").summary;
}

TEST(Overload, LowRateRunIsNotOverloadedAndWarnsNothing) {
  const auto j = run({});
  EXPECT_FALSE(j["overloaded"].get<bool>());
  EXPECT_LT(j["waiting_at_last_arrival"].get<int64_t>(), kMinWaitingRequests);
  EXPECT_NEAR(j["queue_growth_req_per_s"].get<double>(), 0.0, 0.1);
  EXPECT_LT(j["queueing_share_of_ttft"].get<double>(), kMinQueueingShareOfTtft);
  EXPECT_EQ(overload_warning(j), "");
}

TEST(Overload, RunWellAboveSaturationIsOverloadedAndWarnsOnce) {
  // 60 req/s, about 2.5x what the replica serves: the queue grows at (1 - 1/2.5) x 60, about 36 req/s.
  const auto j = run({"workload.arrival.rate=60", "workload.requests=800"});
  EXPECT_TRUE(j["overloaded"].get<bool>());
  EXPECT_GT(j["queue_growth_req_per_s"].get<double>(), 0.4 * 60);
  EXPECT_GT(j["waiting_at_last_arrival"].get<int64_t>(), 100);
  EXPECT_GT(j["queueing_share_of_ttft"].get<double>(), 0.9);
  EXPECT_GT(j["mean_queueing_delay_ms"].get<double>(), 0.5 * j["mean_ttft_ms"].get<double>());
  const std::string w = overload_warning(j, "vllm at 60 req/s");
  EXPECT_EQ(w.rfind("warning: overloaded: vllm at 60 req/s: ", 0), 0u) << w;
  EXPECT_EQ(w.find('\n'), std::string::npos);
  EXPECT_NE(w.find("requests waiting at the last arrival"), std::string::npos);
}

TEST(Overload, TwiceTheSustainableRateIsOverloaded) {
  EXPECT_TRUE(run({"workload.arrival.rate=46", "workload.requests=2000"})["overloaded"].get<bool>());
}

TEST(Overload, RampUpOfAShortSteadyRunDoesNotTriggerIt) {
  // Close to saturation and short: the batch fills from empty over most of the arrivals.
  for (const char* rate : {"20", "24"}) {
    const auto j = run({std::string("workload.arrival.rate=") + rate, "workload.requests=100"});
    EXPECT_FALSE(j["overloaded"].get<bool>()) << rate;
    EXPECT_EQ(overload_warning(j), "") << rate;
  }
  // A long steady run just below saturation: a stationary queue.
  EXPECT_FALSE(run({"workload.arrival.rate=21", "workload.requests=2000"})["overloaded"].get<bool>());
}

TEST(QueueTrend, SlopeOfALinearRampIsItsRate) {
  QueueTrend t;
  for (int64_t i = 0; i <= 3000; ++i) t.set(i * 10 * kNsPerMs, i / 2);  // +1 request every 20 ms: 50 req/s
  t.close(30 * kNsPerS);
  EXPECT_NEAR(t.slope_req_per_s(10 * kNsPerS, 30 * kNsPerS), 50.0, 0.5);
  EXPECT_GT(t.bin_ns(), QueueTrend::kFirstBinNs);  // bins merged on the way, the slope survives
}

TEST(QueueTrend, RampThenFlatHasNoSlopeOverTheFlatPart) {
  QueueTrend t;
  for (int64_t i = 0; i < 100; ++i) t.set(i * 10 * kNsPerMs, i);  // fills to 99 in 1 s
  t.set(kNsPerS, 40);                                             // then steady at 40
  t.close(10 * kNsPerS);
  EXPECT_NEAR(t.slope_req_per_s(5 * kNsPerS, 10 * kNsPerS), 0.0, 1e-9);
  EXPECT_NEAR(t.area_req_s(), 49.5 * 0.99 + 0.01 * 0 + 40 * 9.0, 1.0);
  EXPECT_EQ(t.slope_req_per_s(kNsPerS, kNsPerS), 0.0);
}

TEST(Overload, EachThresholdOnBothSides) {
  OverloadEvidence e{.waiting_at_last_arrival = kMinWaitingRequests,
                     .arrival_rate_req_per_s = 10,
                     .queue_growth_req_per_s = 10 * kMinGrowthShareOfArrivals + 0.01,
                     .queueing_share_of_ttft = kMinQueueingShareOfTtft + 0.01};
  EXPECT_TRUE(is_overloaded(e));
  OverloadEvidence f = e;
  f.waiting_at_last_arrival = kMinWaitingRequests - 1;
  EXPECT_FALSE(is_overloaded(f));
  f = e;
  f.queue_growth_req_per_s = 10 * kMinGrowthShareOfArrivals;
  EXPECT_FALSE(is_overloaded(f));
  f = e;
  f.queueing_share_of_ttft = kMinQueueingShareOfTtft;
  EXPECT_FALSE(is_overloaded(f));
  f = e;
  f.arrival_rate_req_per_s = 0;  // every request at once (an offline batch): no arrival window, no trend
  EXPECT_FALSE(is_overloaded(f));
}

TEST(Overload, WarningIsOneLineWithGroupedCounts) {
  nlohmann::ordered_json j;
  j["waiting_at_last_arrival"] = 1244;
  j["queue_growth_req_per_s"] = 3.14;
  j["queueing_share_of_ttft"] = 0.97;
  j["overloaded"] = true;
  EXPECT_EQ(overload_warning(j),
            "warning: overloaded: 1,244 requests waiting at the last arrival, queue growing 3.1 req/s, queueing is "
            "97 % of mean TTFT; results describe a system that does not keep up (lower the rate or add replicas)");
  j["overloaded"] = false;
  EXPECT_EQ(overload_warning(j), "");
}

}  // namespace
}  // namespace kvsim::metrics
