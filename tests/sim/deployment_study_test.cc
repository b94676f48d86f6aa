// The scenarios study: its grid holds every preset and combination per deployment scenario, its ranking follows
// goodput, then memory, then retention, and its conclusion follows the winners.
#include <gtest/gtest.h>

#include <set>

#include "sim/cache/presets.h"
#include "sim/planning/deployment_study.h"

namespace kvsim::sim {
namespace {

using Json = nlohmann::ordered_json;

Json summary(double goodput, uint64_t kv_bytes, double retention, int64_t rejected = 0) {
  Json j;
  j["completed"] = 10 - rejected;
  j["rejected"] = rejected;
  j["goodput"] = goodput;
  j["slo_attainment"] = 1.0;
  j["p90_ttft_ms"] = 1.0;
  j["median_tpot_ms"] = 1.0;
  j["peak_kv_hbm_bytes"] = kv_bytes;
  j["peak_kv_host_bytes"] = 0;
  j["retention_attention"] = retention;
  return j;
}

Json not_started() {
  Json j;
  j["error"] = "engine.max_model_len 129024 needs 8064 KV blocks but only 2602 fit";
  return j;
}

StudyPoint point(const std::string& scenario, const std::string& label) {
  StudyPoint p;
  p.group = scenario;
  p.variant = label;
  p.policy = label;
  return p;
}

constexpr uint64_t kGiB = uint64_t{1} << 30;

TEST(DeploymentStudy, EveryScenarioRunsEveryPresetAndTheCombinations) {
  StudyOptions options;
  options.out_dir = "out";
  options.requests = 2;
  const std::vector<StudyPoint> points = deployment_study_grid(options);
  const size_t strategies = cache::presets().size() + 4;
  ASSERT_EQ(deployment_strategies().size(), strategies);
  ASSERT_EQ(points.size(), deployment_scenarios().size() * strategies);
  EXPECT_EQ(deployment_scenarios().size(), 5u);
  std::set<std::string> dirs;
  for (const StudyPoint& p : points) {
    EXPECT_TRUE(dirs.insert(p.dir).second) << p.dir;
    EXPECT_EQ(p.scenario.cache.policy, p.policy) << p.dir;
    EXPECT_EQ(*p.scenario.workload.requests, 2) << p.dir;
    if (p.label() == "h2o+kivi" || p.label() == "streamingllm+kivi" || p.label() == "tiered+kivi") {
      EXPECT_EQ(p.scenario.cache.precision, DType::kInt2) << p.dir;
    }
    if (p.label() == "infinigen-v0") {
      EXPECT_EQ(p.scenario.engine.version, "v0");
      EXPECT_EQ(p.scenario.cache.placement, "offload");
    }
    if (p.group == "multi-turn") {
      EXPECT_TRUE(p.scenario.workload.sessions.enabled());
    }
  }
  for (const DeploymentScenario& s : deployment_scenarios()) {
    for (const cache::Preset& preset : cache::presets()) {
      EXPECT_TRUE(dirs.count("out/" + s.id + "/" + preset.name)) << s.id << " " << preset.name;
    }
  }
}

TEST(DeploymentStudy, RankingIsGoodputThenMemoryThenRetentionAmongEligiblePoints) {
  // "long-context" has a retention floor of 0.9 and takes lossy strategies.
  const std::string id = "long-context";
  const std::vector<StudyPoint> points = {point(id, "vllm"),         point(id, "kivi"),  point(id, "h2o"),
                                          point(id, "streamingllm"), point(id, "quest"), point(id, "flexgen"),
                                          point(id, "tiered")};
  const std::vector<Json> s = {
      summary(1.000, 20 * kGiB, 1.0),   // vllm: the best goodput, but ties with kivi and tiered within 1 %
      summary(0.995, 4 * kGiB, 1.0),    // kivi: tied, least GPU KV: first
      summary(2.0, 1 * kGiB, 0.85),     // h2o: best goodput, below the floor
      not_started(),                    // streamingllm
      summary(1.5, 20 * kGiB, 1.0, 1),  // quest: rejected one request
      summary(0.5, 1 * kGiB, 1.0),      // flexgen: half the goodput: last however little memory it takes
      summary(0.999, 20 * kGiB, 0.995)  // tiered: tied with vllm on goodput and memory, less retention
  };
  const DeploymentRanking r = rank_deployment(points, s, id);
  EXPECT_EQ(r.ranked, (std::vector<size_t>{1, 0, 6, 5}));
  ASSERT_EQ(r.excluded.size(), 3u);
  EXPECT_EQ(r.excluded[0].why, "retention 0.850 < 0.90");
  EXPECT_EQ(r.excluded[1].why, "did not start: engine.max_model_len 129024 needs 8064 KV blocks but only 2602 fit");
  EXPECT_EQ(r.excluded[2].why, "rejected 1 of 10 requests");

  const std::string tie = deployment_verdict(points, s, r);
  EXPECT_NE(tie.find("winner `kivi` (compression)"), std::string::npos) << tie;
  EXPECT_NE(tie.find("runner-up `vllm` (paging)"), std::string::npos) << tie;
  EXPECT_NE(tie.find("goodput within 1 %; the winner peaks at -80.0 % GPU KV memory"), std::string::npos) << tie;

  // Without kivi, vllm wins on retention over tiered (same goodput band, same memory).
  std::vector<Json> s2 = s;
  s2[1] = summary(0.2, 4 * kGiB, 1.0);
  const std::string retention = deployment_verdict(points, s2, rank_deployment(points, s2, id));
  EXPECT_NE(retention.find("the winner keeps +0.005 retention"), std::string::npos) << retention;

  // A clear goodput margin is stated as such.
  std::vector<Json> s3 = s;
  s3[0] = summary(1.2, 20 * kGiB, 1.0);
  const std::string margin = deployment_verdict(points, s3, rank_deployment(points, s3, id));
  EXPECT_NE(margin.find("winner `vllm`"), std::string::npos) << margin;
  EXPECT_NE(margin.find("the winner has +20.6 % goodput"), std::string::npos) << margin;

  // A runner-up with the winner's very numbers is named beside it, and the next different one is the runner-up.
  std::vector<Json> s4 = s;
  s4[6] = summary(0.995, 4 * kGiB, 1.0);
  const std::string alike = deployment_verdict(points, s4, rank_deployment(points, s4, id));
  EXPECT_NE(alike.find("(`tiered` the same); runner-up `vllm`"), std::string::npos) << alike;

  // Nothing eligible: no winner.
  const std::vector<Json> none = {not_started(), not_started(), not_started(), not_started(),
                                  not_started(), not_started(), not_started()};
  EXPECT_EQ(deployment_verdict(points, none, rank_deployment(points, none, id)), "no strategy ranked");
}

// A lossless scenario ranks only strategies that keep every token in a KV of at least 8 bits.
TEST(DeploymentStudy, LosslessScenariosExcludeEvictionAndNarrowKv) {
  const std::string id = "reasoning";
  std::vector<StudyPoint> points = {point(id, "vllm"), point(id, "kivi"), point(id, "quest")};
  points[1].scenario.cache.precision = DType::kInt2;
  const std::vector<Json> s = {summary(1.0, 20 * kGiB, 1.0), summary(1.5, 4 * kGiB, 1.0),
                               summary(1.5, 20 * kGiB, 0.999)};
  const DeploymentRanking r = rank_deployment(points, s, id);
  EXPECT_EQ(r.ranked, (std::vector<size_t>{0}));
  ASSERT_EQ(r.excluded.size(), 2u);
  EXPECT_EQ(r.excluded[0].why, "lossy: int2 KV");
  EXPECT_EQ(r.excluded[1].why, "lossy: retention 0.999");
  // The same points where lossy strategies may run: kivi wins.
  for (StudyPoint& p : points) p.group = "long-context";
  EXPECT_EQ(rank_deployment(points, s, "long-context").ranked, (std::vector<size_t>{1, 2, 0}));
}

TEST(DeploymentStudy, TheConclusionFollowsTheWinners) {
  StudyOptions options;
  options.requests = 1;
  const std::vector<StudyPoint> points = deployment_study_grid(options);
  // Every point ran; in each scenario one strategy has twice the goodput of the rest.
  auto with_winner = [&](auto winner_of) {
    std::vector<Json> s;
    for (const StudyPoint& p : points) s.push_back(summary(p.label() == winner_of(p.group) ? 2.0 : 1.0, kGiB, 1.0));
    return deployment_study_markdown(points, s);
  };
  const std::string one = with_winner([](const std::string&) { return std::string("vllm"); });
  EXPECT_NE(one.find("Yes, on this grid: the survey's conclusion (no single technique dominates) is **refuted**: `vllm` "
                     "(long-context, datacenter, edge, multi-turn, reasoning) wins all 5 scenarios"),
            std::string::npos)
      << one;
  EXPECT_NE(one.find("- edge devices: `vllm` (paging) wins; outside what the survey recommends (eviction, "
                     "compression, combination)"),
            std::string::npos)
      << one;
  const std::string two =
      with_winner([](const std::string& group) { return std::string(group == "edge" ? "kivi" : "vllm"); });
  EXPECT_NE(two.find("that **holds**: 2 different strategies win the 5 scenarios that ranked one: `kivi` (edge); "
                     "`vllm` (long-context, datacenter, multi-turn, reasoning)"),
            std::string::npos)
      << two;
  for (const DeploymentScenario& sc : deployment_scenarios()) {
    EXPECT_NE(two.find("## " + sc.name + " (`" + sc.id + "`)"), std::string::npos) << sc.id;
  }
}

}  // namespace
}  // namespace kvsim::sim
