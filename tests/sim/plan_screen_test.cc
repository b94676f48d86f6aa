// kvsim plan's search: the mean-value screen rejects only rates a replica's simulation fails, the seeds after the
// first search from its answer, and configurations run on threads give the plan a single thread gives.
#include <gtest/gtest.h>

#include <cmath>

#include "models/model_loader.h"
#include "sim/planning/plan.h"
#include "sim/planning/plan_runner.h"
#include "tests/sim/test_util.h"

namespace kvsim::sim {
namespace {

struct PlanSetup {
  PlanRequest req;
  PlanTraffic traffic;
  std::string base;
};

PlanSetup setup(const std::string& slo, const std::vector<std::string>& overrides,
                const std::vector<std::string>& knobs) {
  PlanSetup s;
  s.req.model = "llama-3.1-8b";
  s.req.rate = 4;
  s.req.slo = parse_plan_slo(slo);
  s.req.gpus = {"h100-sxm5-80gb"};
  s.req.duration_s = 60;
  s.req.overrides = overrides;
  s.traffic = resolve_plan_traffic(s.req, models::load_model(s.req.model).max_position_embeddings, 0);
  const Runner run{s.req, s.traffic};
  s.base = run.base_yaml("h100-sxm5-80gb", 1, "vllm", knobs, 0);
  return s;
}

// Over a geometric grid of rates around each configuration's limit (the batch limit, the KV pool, a TPOT SLO), every
// rate the screen rejects fails in simulation too, and the screen does reject some.
TEST(PlanScreen, RejectsOnlyRatesTheSimulationCannotSustain) {
  struct Case {
    const char* slo;
    std::vector<std::string> overrides, knobs;
  };
  for (const Case& c : {Case{"ttft_p90_ms=5000", {}, {"engine.max_num_seqs=4"}},
                        Case{"ttft_p90_ms=20000", {"engine.num_gpu_blocks=400"}, {}}, Case{"tpot_p99_ms=9", {}, {}}}) {
    const PlanSetup s = setup(c.slo, c.overrides, c.knobs);
    const Runner run{s.req, s.traffic};
    const ReplicaScreen screen(run.scenario(s.base, 1, 1, 1), s.traffic, s.req.slo);
    int rejected = 0;
    for (double rate = 0.5; rate <= 128; rate *= 2) {
      const std::string why = screen.check(rate);
      if (why.empty()) continue;
      ++rejected;
      EXPECT_FALSE(run.sustains(s.base, rate, 1, 1)) << c.slo << " at " << rate << " req/s: " << why;
    }
    EXPECT_GT(rejected, 0) << c.slo;
    EXPECT_EQ(screen.check(0.05), "") << c.slo;
  }
}

// A seed searched from another seed's answer finds its own limit to the search's resolution: within 1/256 of the
// answer a search from scratch gives on that seed, up to the noise of sustaining near the limit (1 %).
TEST(PlanScreen, ASeedSearchedFromAHintFindsItsOwnLimit) {
  const PlanSetup s = setup("ttft_p90_ms=2000", {}, {"engine.max_num_seqs=16"});
  const Runner run{s.req, s.traffic};
  const double first = run.replica_rate(s.base, 1);
  const double scratch = run.replica_rate(s.base, 2);
  const double hinted = run.replica_rate(s.base, 2, first);
  ASSERT_GT(first, 0);
  EXPECT_NEAR(hinted, scratch, 0.01 * scratch);
  // Hints far off in either direction still land there.
  EXPECT_NEAR(run.replica_rate(s.base, 2, scratch * 3), scratch, 0.01 * scratch);
  EXPECT_NEAR(run.replica_rate(s.base, 2, scratch / 3), scratch, 0.01 * scratch);
}

TEST(PlanScreen, ThreadsGiveTheSamePlan) {
  PlanRequest r;
  r.model = "llama-3.1-8b";
  r.rate = 6;
  r.slo = parse_plan_slo("ttft_p90_ms=3000,tpot_p99_ms=60");
  r.gpus = {"h100-sxm5-80gb", "a100-sxm4-80gb"};
  r.max_gpus = 2;
  r.duration_s = 30;
  r.seeds = 2;
  r.jobs = 1;
  const std::string one = run_plan(r).to_json().dump();
  r.jobs = 3;
  EXPECT_EQ(run_plan(r).to_json().dump(), one);
}

}  // namespace
}  // namespace kvsim::sim
