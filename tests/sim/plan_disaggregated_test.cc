// kvsim plan --disaggregated: prefill:decode splits searched beside the colocated configurations.
#include <gtest/gtest.h>

#include <algorithm>

#include "sim/planning/plan.h"

namespace kvsim::sim {
namespace {

const PlanCandidate* find(const PlanResult& p, int64_t tp, bool disaggregated) {
  const auto it = std::find_if(p.candidates.begin(), p.candidates.end(),
                               [&](const PlanCandidate& c) { return c.tp == tp && c.disaggregated == disaggregated; });
  return it == p.candidates.end() ? nullptr : &*it;
}

// Long prompts (arXiv summarization) and a p99 inter-token SLO of 30 ms: colocated, every decode step that carries a
// prefill chunk breaks it, so tp 1 needs three replicas to keep the chunks rare enough; split into one prefill and one
// decode replica, decode steps run alone and two GPUs serve the rate. The plan says so, and ranks the split cheapest.
TEST(PlanDisaggregated, ASplitWinsAnItlSloOnLongPromptsWithFewerGpus) {
  PlanRequest r;
  r.model = "llama-3.1-8b";
  r.rate = 2;
  r.slo = parse_plan_slo("itl_p99_ms=30");
  r.gpus = {"h100-sxm5-80gb"};
  r.dataset = "arxiv-summarization";
  r.max_gpus = 4;
  r.duration_s = 60;
  r.seeds = 1;
  r.disaggregated = true;
  const PlanResult p = run_plan(r);
  const PlanCandidate* colocated = find(p, 1, false);
  const PlanCandidate* split = find(p, 1, true);
  ASSERT_TRUE(colocated && split);
  ASSERT_TRUE(colocated->feasible && split->feasible) << p.to_json().dump(2);
  EXPECT_EQ(split->replicas, 2);
  EXPECT_EQ(split->prefill_replicas, 1);
  EXPECT_GT(colocated->replicas, split->replicas);
  ASSERT_TRUE(p.best.has_value());
  EXPECT_TRUE(p.candidates[*p.best].disaggregated);
  EXPECT_EQ(p.to_json()["candidates"][*p.best]["decode_replicas"].get<int64_t>(), 1);
  // Each pool has its own parallelism: from tp 2, prefill on two GPUs and decode on one is the cheapest split (three
  // GPUs, priced as three).
  const PlanCandidate* tp2 = find(p, 2, true);
  ASSERT_TRUE(tp2 && tp2->feasible);
  EXPECT_EQ(tp2->decode_tp, 1);
  EXPECT_EQ(tp2->gpus(), 3);
  EXPECT_DOUBLE_EQ(tp2->usd_per_hour, 3 * 12.29);
  // tp 4 cannot be split within 4 GPUs, and says why.
  const PlanCandidate* tp4 = find(p, 4, true);
  ASSERT_TRUE(tp4);
  EXPECT_FALSE(tp4->feasible);
  EXPECT_NE(tp4->why.find("2 replicas, one of tp 4"), std::string::npos) << tp4->why;
}

// Without --disaggregated nothing is split.
TEST(PlanDisaggregated, OffByDefault) {
  PlanRequest r;
  r.model = "llama-3.1-8b";
  r.rate = 2;
  r.slo = parse_plan_slo("ttft_p90_ms=3000");
  r.gpus = {"h100-sxm5-80gb"};
  r.max_gpus = 2;
  r.duration_s = 30;
  r.seeds = 1;
  const PlanResult p = run_plan(r);
  EXPECT_TRUE(
      std::none_of(p.candidates.begin(), p.candidates.end(), [](const PlanCandidate& c) { return c.disaggregated; }));
}

}  // namespace
}  // namespace kvsim::sim
