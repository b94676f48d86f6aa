// kvsim plan's search: the mean-value screen rejects only rates a replica's simulation fails, the seeds after the
// first search from its answer, and configurations run on threads give the plan a single thread gives.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <utility>

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

// A plan request of one GPU type and the base scenario of one configuration of it.
PlanSetup setup(const std::string& slo, const std::vector<std::string>& overrides,
                const std::vector<std::string>& knobs, const std::string& model = "llama-3.1-8b",
                const std::string& policy = "vllm") {
  PlanSetup s;
  s.req.model = model;
  s.req.rate = 4;
  s.req.slo = parse_plan_slo(slo);
  s.req.gpus = {"h100-sxm5-80gb"};
  s.req.duration_s = 60;
  s.req.overrides = overrides;
  s.traffic = resolve_plan_traffic(s.req, models::load_model(s.req.model).max_position_embeddings, 0);
  const Runner run{s.req, s.traffic};
  s.base = run.base_yaml("h100-sxm5-80gb", 1, policy, knobs, 0);
  return s;
}

// The screen of a set-up's configuration.
ReplicaScreen screen_of(const PlanSetup& s) {
  const Runner run{s.req, s.traffic};
  const Scenario one = run.scenario(s.base, 1, 1, 1);
  return ReplicaScreen(one, plan_memory(one), s.traffic, s.req.slo);
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
    const ReplicaScreen screen = screen_of(s);
    int rejected = 0;
    for (double rate = 0.5; rate <= 128; rate *= 1.25) {
      const std::string why = screen.check(rate);
      if (why.empty()) continue;
      ++rejected;
      EXPECT_FALSE(run.sustains(s.base, rate, 1, 1)) << c.slo << " at " << rate << " req/s: " << why;
    }
    EXPECT_GT(rejected, 0) << c.slo;
    EXPECT_EQ(screen.check(0.05), "") << c.slo;
  }
}

// A decoding request holds the prompt of a request weighted by its decode steps: with long prompts of short outputs
// and short prompts of long outputs, far less than the mean prompt. The screen bounds with that weighted prompt.
TEST(PlanScreen, ADecodingRequestHoldsThePromptWeightedByItsDecodeSteps) {
  const std::string dir = testing::temp_dir("plan-screen-lengths");
  std::filesystem::create_directories(dir);
  {
    std::ofstream out(dir + "/lengths.csv");
    out << "arrival_s,prompt_tokens,output_tokens\n";
    for (int i = 0; i < 50; ++i) out << i << ",4000,10\n" << i << ",100,1000\n";
  }
  PlanRequest r;
  r.model = "llama-3.1-8b";
  r.rate = 1;
  r.slo = parse_plan_slo("ttft_p90_ms=5000");
  r.gpus = {"h100-sxm5-80gb"};
  r.trace = dir + "/lengths.csv";
  r.arrival = "poisson";
  r.duration_s = 100;
  const PlanTraffic t = resolve_plan_traffic(r, 131072, 0);
  // The stream draws the two kinds at some share a of the first: mean decode steps 9 a + 999 (1 - a), and a decoding
  // request holds (4000 x 9 a + 100 x 999 (1 - a)) / that, ~145 tokens at a = 0.57, where the mean prompt is ~2,300.
  const double a = (999 - t.mean_decode_steps) / 990;
  ASSERT_GT(a, 0.2);
  ASSERT_LT(a, 0.8);
  EXPECT_NEAR(t.decoding_prompt_tokens, (4000 * 9 * a + 100 * 999 * (1 - a)) / t.mean_decode_steps, 1e-6);
  EXPECT_LT(t.decoding_prompt_tokens, 200);
  std::filesystem::remove_all(dir);
}

// What the uniform decode batch does not bound from below is not screened: a sliding-window model (its windowed
// reads) and a policy that drops tokens (nor, by construction, trace arrivals: the search's windows are not the
// check stream).
TEST(PlanScreen, InactiveWhereItCannotBound) {
  for (const auto& [model, policy] : {std::pair{"gpt-oss-20b", "vllm"}, std::pair{"llama-3.1-8b", "h2o"}}) {
    EXPECT_EQ(screen_of(setup("tpot_p99_ms=1", {}, {}, model, policy)).check(1000), "") << model << " " << policy;
  }
  // The same SLO on a full-attention model with vllm is screened.
  const std::string why = screen_of(setup("tpot_p99_ms=1", {}, {})).check(0.5);
  EXPECT_NE(why.find("above tpot_p99_ms = 1"), std::string::npos) << why;
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
