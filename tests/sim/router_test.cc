// Routers behind a cluster of replicas (cluster.router): each keeps its promise where it should differ.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "sim/core/rng.h"
#include "sim/run.h"
#include "sim/serving/cluster.h"
#include "tests/sim/test_util.h"
#include "traces/workload.h"

namespace kvsim::sim {
namespace {

using testing::scenario_from;

const char* const kChats = R"(
model: llama-3.1-8b
hardware: h100-sxm5-80gb
check_invariants: true
seed: 4
cluster: {replicas: 4}
workload:
  requests: 400
  arrival: {process: poisson, rate: 4}
  prompt_tokens: {dist: uniform, min: 100, max: 600}
  output_tokens: {dist: uniform, min: 20, max: 200}
  sessions: {turns: 6, think_time_s: 2, system_prompt_tokens: 300, system_prompts: 4}
)";

double hit_rate(const std::string& router) {
  return run_scenario(scenario_from(kChats, {"cluster.router=" + router}), "")
      .summary["prefix_cache_hit_rate"]
      .get<double>();
}

// Prefix-aware routing keeps a session on the replica that holds its turns: a far higher prefix-cache hit rate on a
// multi-turn workload than spreading turns round-robin.
TEST(Routers, PrefixAwareRaisesThePrefixHitRateOnMultiTurnChats) {
  const double aware = hit_rate("prefix-aware"), rr = hit_rate("round-robin");
  EXPECT_GT(aware, 0.7);
  EXPECT_GT(aware, rr + 0.3) << "round-robin " << rr;
}

// Round-robin spreads requests evenly by count; least-outstanding by load, so under skewed lengths the replicas'
// request counts differ while their busy time evens out.
TEST(Routers, EveryRouterUsesEveryReplicaAndServesEveryRequest) {
  for (const std::string router : {"round-robin", "least-outstanding", "least-kv", "prefix-aware"}) {
    const std::string dir = testing::temp_dir("router-" + router);
    const RunResult r = run_scenario(scenario_from(kChats, {"cluster.router=" + router}), dir);
    EXPECT_EQ(r.summary["completed"].get<int64_t>(), 400) << router;
    std::ifstream in(dir + "/requests.csv");
    std::string line;
    std::getline(in, line);
    std::map<std::string, int> per_replica;
    while (std::getline(in, line)) {
      std::stringstream ss(line);
      std::string id, replica;
      std::getline(ss, id, ',');
      std::getline(ss, replica, ',');
      ++per_replica[replica];
    }
    EXPECT_EQ(per_replica.size(), 4u) << router;
    if (router == "round-robin") {
      for (const auto& [rep, n] : per_replica) EXPECT_EQ(n, 100) << rep;
    }
    std::filesystem::remove_all(dir);
  }
  EXPECT_NE(testing::error_of([] {
              scenario_from(kChats, {"cluster.router=random"});
            }).find("cluster.router: expected one of round-robin, least-outstanding, least-kv, prefix-aware"),
            std::string::npos);
}

// Prefix-aware routing remembers, per replica, as many prompt tokens (and entries) as the replica's KV blocks hold,
// the most recently sent first: on a long run of distinct sessions its index stops growing at that bound instead of
// keeping every session, and stays full to within one entry (a prompt of at most max_model_len tokens).
TEST(Routers, PrefixAwareHomesAreBoundedByTheClusterKvBlocks) {
  const Scenario s =
      scenario_from(kChats, {"cluster.router=prefix-aware", "cluster.replicas=2", "engine.num_gpu_blocks=1200",
                             "engine.max_model_len=4096", "workload.requests=3000", "workload.sessions.turns=1"});
  const MemoryPlan plan = plan_memory(s);
  ASSERT_EQ(plan.num_gpu_blocks, 1200);
  const models::CostModel cost(s.model, s.hardware, exec_config(s));
  metrics::CollectorConfig mc;
  mc.replicas = 2;
  metrics::Collector collector(mc, nullptr, nullptr);
  RngStreams rng(s.seed);
  auto source = traces::make_request_source(s.workload, rng);
  serving::Cluster cluster(s, plan, cost, collector, *source);
  cluster.run();
  EXPECT_EQ(collector.completed(), 3000);
  // 3,000 sessions (each a shared system prompt then its own turn) seen; per replica at most 1,200 blocks of 16
  // tokens remembered, and full to within one entry.
  EXPECT_LE(cluster.routing_keys(), 2400u);
  EXPECT_GT(cluster.routing_keys(), 20u);
  EXPECT_LE(cluster.routing_tokens(), 2 * 1200 * 16);
  EXPECT_GE(cluster.routing_tokens(), 2 * (1200 * 16 - 4096));
}

}  // namespace
}  // namespace kvsim::sim
