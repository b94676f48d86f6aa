// kvsim plan on cases with a known answer.
#include <gtest/gtest.h>

#include "sim/metrics/collector.h"

#include "sim/core/error.h"
#include "sim/planning/plan.h"
#include "tests/sim/test_util.h"

namespace kvsim::sim {
namespace {

// One sequence at a time (max_num_seqs 1), 16-token prompts and 100-token outputs: a replica serves a request in
// about 100 decode steps of ~7-8 ms (weights read, kernel floors, the engine's CPU), so it sustains ~1 req/s. 1.8
// req/s is more than one H100 can serve and less than two can: the plan takes two.
TEST(Plan, ARateOneGpuCannotServeButTwoCanTakesTwo) {
  PlanRequest r;
  r.model = "llama-3.1-8b";
  r.rate = 1.8;
  r.slo = parse_plan_slo("ttft_p90_ms=5000");
  r.gpus = {"h100-sxm5-80gb"};
  r.max_gpus = 4;
  r.duration_s = 200;
  r.seeds = 2;
  r.dataset = "";
  r.overrides = {"engine.max_num_seqs=1", "workload.prompt_tokens=16", "workload.output_tokens=100"};
  const PlanResult p = run_plan(r);
  ASSERT_TRUE(p.best.has_value()) << p.to_json().dump(2);
  const PlanCandidate& best = p.candidates[*p.best];
  EXPECT_EQ(best.replicas * best.tp, 2);
  const auto tp1 =
      std::find_if(p.candidates.begin(), p.candidates.end(), [](const PlanCandidate& c) { return c.tp == 1; });
  ASSERT_NE(tp1, p.candidates.end());
  EXPECT_TRUE(tp1->feasible);
  EXPECT_EQ(tp1->replicas, 2);
  EXPECT_GT(tp1->replica_rate, 0.9);
  EXPECT_LT(tp1->replica_rate_max, 1.8);
  EXPECT_DOUBLE_EQ(best.usd_per_hour, 2 * 12.29);
}

// Engine knobs multiply the candidates; a batch limit of 8 sequences cannot hold the requests decoding at 5 req/s
// (mean output ~340 tokens at ~7 ms a step: ~12 at once), which the screen says without a run, while 256 serves it.
TEST(Plan, EngineKnobsAreSearchedWithEachConfiguration) {
  PlanRequest r;
  r.model = "llama-3.1-8b";
  r.rate = 5;
  r.slo = parse_plan_slo("ttft_p90_ms=3000");
  r.gpus = {"h100-sxm5-80gb"};
  r.max_gpus = 1;
  r.duration_s = 40;
  r.seeds = 1;
  r.max_num_seqs = {8, 256};
  r.chunked_prefill = {true, false};
  const PlanResult p = run_plan(r);
  ASSERT_EQ(p.candidates.size(), 4u);
  double small = -1, large = 0;
  std::string small_why;
  for (const PlanCandidate& c : p.candidates) {
    if (c.knobs == "max_num_seqs=8 chunked_prefill=true") {
      small = c.replica_rate;
      small_why = c.why;
    }
    if (c.knobs == "max_num_seqs=256 chunked_prefill=true") large = c.replica_rate;
  }
  EXPECT_EQ(small, 0);
  EXPECT_NE(small_why.find("above max_num_seqs 8 (screened, not simulated)"), std::string::npos) << small_why;
  EXPECT_GT(large, r.rate);
}

TEST(Plan, SloTextIsCheckedWithItsItem) {
  EXPECT_EQ(parse_plan_slo("ttft_p90_ms=2000,tpot_p99_ms=100").size(), 2u);
  EXPECT_EQ(testing::error_of([] { parse_plan_slo("ttft_p97_ms=2"); }),
            "--slo: 'ttft_p97_ms=2': unknown SLO: expected <ttft|tpot|itl|e2el>_p<50|90|95|99>_ms (expected e.g. "
            "ttft_p90_ms=2000,tpot_p99_ms=100)");
}

// Every quantile an SLO may name is a summary.json key a run writes (the median as vllm bench serve names it).
TEST(Plan, SloQuantilesNameSummaryKeys) {
  const auto slos = parse_plan_slo("ttft_p50_ms=500,tpot_p95_ms=60,e2el_p90_ms=9000,itl_p99_ms=80");
  ASSERT_EQ(slos.size(), 4u);
  EXPECT_EQ(slos[0].summary_key, "median_ttft_ms");
  EXPECT_EQ(slos[1].summary_key, "p95_tpot_ms");
  EXPECT_EQ(slos[2].summary_key, "p90_e2el_ms");
  EXPECT_EQ(slos[3].summary_key, "p99_itl_ms");
  metrics::CollectorConfig config;
  metrics::Collector c(config, nullptr, nullptr);
  const auto summary = c.summary(1);
  for (const auto& s : slos) EXPECT_TRUE(summary.contains(s.summary_key)) << s.summary_key;
}

}  // namespace
}  // namespace kvsim::sim
