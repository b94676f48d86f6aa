// vllm bench serve's per-second peaks in summary.json (sim/metrics/per_second.h): a case checked by hand, the
// client's delivery delay moving tokens into the next second, and the bounds a whole run must meet.
#include <gtest/gtest.h>

#include <cmath>

#include "sim/metrics/collector.h"
#include "sim/metrics/per_second.h"
#include "sim/run.h"
#include "tests/sim/test_util.h"

namespace kvsim::metrics {
namespace {

SimTime ms(int64_t v) { return v * kNsPerMs; }

RequestRecord record(uint64_t id, SimTime arrival, SimTime first, SimTime finish, int64_t output_tokens) {
  RequestRecord r;
  r.id = id;
  r.arrival_ns = arrival;
  r.first_token_ns = first;
  r.finish_ns = finish;
  r.prompt_tokens = 10;
  r.output_tokens = output_tokens;
  return r;
}

// Buckets start at the first arrival, 200 ms: [0.2, 1.2) s is bucket 0, [1.2, 2.2) s bucket 1, [3.2, 4.2) s bucket 3.
// A (0.2 - 1.0 s) and B (1.1 - 1.5 s) never overlap, but both are active in bucket 0; C (3.3 - 3.4 s) is alone.
// Tokens: bucket 0 gets 1 + 1 (A) + 0, bucket 1 gets 1 + 1 (B, at 1.3 and 1.5 s), bucket 3 gets 3 (C) -> peak 3.
TEST(PerSecondPeaks, HandCheckedThreeRequests) {
  Collector c(CollectorConfig{}, nullptr, nullptr);
  c.on_arrival(ms(200));
  c.on_output_tokens(ms(500), 1);
  c.on_output_tokens(ms(1000), 1);
  c.on_complete(record(0, ms(200), ms(500), ms(1000), 2));
  c.on_arrival(ms(1100));
  c.on_output_tokens(ms(1300), 1);
  c.on_output_tokens(ms(1500), 1);
  c.on_complete(record(1, ms(1100), ms(1300), ms(1500), 2));
  c.on_arrival(ms(3300));
  c.on_output_tokens(ms(3350), 2);
  c.on_output_tokens(ms(3400), 1);
  c.on_complete(record(2, ms(3300), ms(3350), ms(3400), 3));
  const auto j = c.summary(ms(3400));
  EXPECT_DOUBLE_EQ(j["max_output_tokens_per_s"].get<double>(), 3.0);
  EXPECT_EQ(j["max_concurrent_requests"].get<int64_t>(), 2);  // A and B share bucket 0
  EXPECT_EQ(j["max_requests_in_system"].get<int64_t>(), 1);   // but never the same instant
}

TEST(PerSecondPeaks, BucketEdgesAndTheClientsDelay) {
  PerSecondPeaks p;
  p.start(ms(1000));
  p.add_tokens(ms(1999), 4);  // bucket 0, the last nanoseconds of it
  p.add_tokens(ms(2000), 3);  // bucket 1 starts exactly one second after the origin
  EXPECT_DOUBLE_EQ(p.max_output_tokens_per_s(), 4.0);
  p.add_tokens(ms(2999), 2);
  EXPECT_DOUBLE_EQ(p.max_output_tokens_per_s(), 5.0);
  // A request counts in both buckets it touches, its end's included.
  p.add_request(ms(1500), ms(2000));
  p.add_request(ms(2000), ms(2000));
  p.add_request(ms(3000), ms(4500));
  EXPECT_EQ(p.max_concurrent_requests(), 2);
  EXPECT_EQ(p.buckets(), 5);  // delta array: through bucket 3, plus its closing entry

  // The API server's delivery delay is the client's: 150 ms moves a token at 1.1 s (bucket 0) into bucket 1.
  CollectorConfig config;
  config.frontend_delivery_ns = ms(150);
  Collector c(config, nullptr, nullptr);
  c.on_arrival(0);
  c.on_output_tokens(ms(500), 2);
  c.on_output_tokens(ms(900), 2);  // 1.05 s at the client
  c.on_output_tokens(ms(1100), 1);
  EXPECT_DOUBLE_EQ(c.summary(ms(1300))["max_output_tokens_per_s"].get<double>(), 3.0);
}

// A whole run: the peak second holds at least the mean second's tokens and at most all of them; every instant's
// requests are active in that instant's second, so the bucketed peak is at least the instantaneous one.
TEST(PerSecondPeaks, RunPeaksBoundTheMeans) {
  const auto j = sim::run_scenario(testing::scenario_from(R"(
model: llama-3.1-8b
hardware: h100-sxm5-80gb
seed: 3
workload:
  requests: 300
  arrival: {process: poisson, rate: 20}
  prompt_tokens: {dist: uniform, min: 100, max: 2000}
  output_tokens: {dist: uniform, min: 20, max: 400}
)"),
                                   "")
                     .summary;
  const double total = j["total_output_tokens"].get<double>();
  const double seconds = std::floor(j["duration"].get<double>()) + 1;
  const double peak = j["max_output_tokens_per_s"].get<double>();
  EXPECT_GE(peak, total / seconds);
  EXPECT_LE(peak, total);
  EXPECT_GT(peak, j["output_throughput"].get<double>());  // the rate ramps up and down around a busier middle
  EXPECT_GE(j["max_concurrent_requests"].get<int64_t>(), j["max_requests_in_system"].get<int64_t>());
  EXPECT_LE(j["max_concurrent_requests"].get<int64_t>(), 300);
  EXPECT_GE(j["max_requests_in_system"].get<double>(), j["mean_requests_in_system"].get<double>());
  // The per-GPU names carry the same numbers as the names they replace.
  for (const char* key : {"weights_bytes", "peak_hbm_bytes", "peak_kv_hbm_bytes", "peak_kv_host_bytes"}) {
    EXPECT_EQ(j[key], j[std::string(key) + "_per_gpu"]) << key;
  }
}

}  // namespace
}  // namespace kvsim::metrics
