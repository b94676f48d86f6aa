// The prefix-aware router on Mooncake's conversation trace (FAST'25), where every request starts with the same hash
// block: bounded by the load limit it beats round-robin on throughput and prefix-cache hits; keyed by affinity alone
// (the limit lifted) it piles every request onto one replica.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "sim/run.h"
#include "tests/sim/test_util.h"

namespace kvsim::sim {
namespace {

const std::string kTrace = std::string(KVSIM_TEST_SHARED_DATA_DIR) + "/mooncake-fast25/conversation_trace.jsonl";

// The trace's first 600 requests (about 200 s at 3 req/s), sped up 1.5x, on four replicas: busy, with KV room for
// a few minutes of conversation history per replica (qwen2.5-7b keeps 56 KiB per token), the time in which most of
// the trace's turns come back. (Under heavier load recompute preemptions re-admit requests that find their own
// blocks, which the hit rate counts too.)
std::string scenario_yaml() {
  return "model: qwen2.5-7b\nhardware: h100-sxm5-80gb\nseed: 1\ncluster: {replicas: 4}\n"
         "workload: {trace: " +
         kTrace + ", requests: 600, rate_scale: 1.5}\n";
}

struct Outcome {
  double request_throughput, output_throughput, hit_rate;
  int64_t completed;
};

Outcome run_with(const std::vector<std::string>& overrides) {
  const RunResult r = run_scenario(testing::scenario_from(scenario_yaml(), overrides), "");
  return {r.summary["request_throughput"].get<double>(), r.summary["output_throughput"].get<double>(),
          r.summary["prefix_cache_hit_rate"].get<double>(), r.summary["completed"].get<int64_t>()};
}

TEST(PrefixRouterMooncake, BoundedAffinityBeatsRoundRobinOnThroughputAndHits) {
  if (!std::filesystem::exists(kTrace)) GTEST_SKIP() << kTrace << " is absent";
  const Outcome rr = run_with({"cluster.router=round-robin"});
  const Outcome aware = run_with({"cluster.router=prefix-aware"});
  const Outcome unbounded = run_with(
      {"cluster.router=prefix-aware", "cluster.prefix_balance_abs=1099511627776", "cluster.prefix_cache_threshold=0"});
  EXPECT_EQ(rr.completed, 600);
  EXPECT_EQ(aware.completed, 600);
  EXPECT_GT(aware.request_throughput, rr.request_throughput);
  EXPECT_GT(aware.output_throughput, rr.output_throughput);
  EXPECT_GT(aware.hit_rate, rr.hit_rate + 0.05) << "round-robin " << rr.hit_rate;
  // Affinity alone: one replica serves everything, at most about a quarter of the cluster's throughput.
  EXPECT_LT(unbounded.request_throughput, 0.5 * rr.request_throughput);
}

}  // namespace
}  // namespace kvsim::sim
