// KV layouts and the presets built on them, against the relations the vLLM paper reports (Kwon et al., SOSP 2023):
// paging keeps nearly every allocated slot holding a real token; reservation wastes most of it and batches less.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include "sim/cache/cache_policy.h"
#include "sim/cache/presets.h"
#include "sim/run.h"
#include "sim/serving/memory_plan.h"
#include "tests/sim/test_util.h"

namespace kvsim::sim {
namespace {

// The vLLM paper's Fig. 2 setting, as shipped in bench/scenarios (OPT-13B on one A100-40GB, ShareGPT-like lengths,
// a rate that keeps the KV pool full).
const std::string kShareGpt = std::string(KVSIM_TEST_SOURCE_DIR) + "/bench/scenarios/sharegpt_opt13b.yaml";

RunResult run_with(const std::string& policy) {
  return run_scenario(load_scenario(kShareGpt, {"cache.policy=" + policy, "check_invariants=true"}), "");
}

// Fig. 2: share of KV memory holding real token states: vLLM 96.3 %, Orca-Oracle 38.2 %, Orca-Max 20.4 %.
TEST(Layouts, PagingKeepsAllocatedSlotsFullAndReservationDoesNot) {
  const double vllm = run_with("vllm").summary["kv_token_utilization"].get<double>();
  const double oracle = run_with("orca-oracle").summary["kv_token_utilization"].get<double>();
  const double pow2 = run_with("orca-pow2").summary["kv_token_utilization"].get<double>();
  const double max = run_with("orca-max").summary["kv_token_utilization"].get<double>();
  EXPECT_GE(vllm, 0.90);
  EXPECT_LT(max, 0.35);
  EXPECT_GT(vllm, oracle);
  EXPECT_GT(oracle, pow2);
  EXPECT_GT(pow2, max);
}

// At equal memory, vLLM batches more requests and so completes the overload faster than Orca and HF static.
TEST(Layouts, PagingBatchesMoreAtEqualMemory) {
  const RunResult vllm = run_with("vllm"), oracle = run_with("orca-oracle"), max = run_with("orca-max"),
                  hf = run_with("hf-static");
  const auto running = [](const RunResult& r) { return r.summary["mean_running_requests"].get<double>(); };
  const auto throughput = [](const RunResult& r) { return r.summary["request_throughput"].get<double>(); };
  EXPECT_GT(running(vllm), running(oracle));
  EXPECT_GT(running(oracle), running(max));
  EXPECT_DOUBLE_EQ(running(max), running(hf));  // both reserve max_model_len
  EXPECT_GT(throughput(vllm), 1.5 * throughput(max));
}

// vLLM paper Fig. 12: the request rate a system sustains before its normalized latency explodes is several times
// higher with paging than with Orca (Max). Sweep the rate and find where mean TTFT first exceeds 10x its value at
// the lowest rate.
TEST(Layouts, PagingSustainsAHigherRateBeforeLatencyExplodes) {
  const auto knee = [](const std::string& policy) {
    double base = 0;
    for (double rate : {0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0}) {
      const RunResult r = run_scenario(
          load_scenario(kShareGpt, {"cache.policy=" + policy, fmt::format("workload.arrival.rate={}", rate),
                                    "workload.requests=300"}),
          "");
      const double ttft = r.summary["mean_ttft_ms"].get<double>();
      if (base == 0) base = ttft;
      if (ttft > 10 * base) return rate;
    }
    return 1e9;
  };
  const double vllm = knee("vllm"), max = knee("orca-max"), oracle = knee("orca-oracle");
  EXPECT_GE(vllm, 2 * max);
  EXPECT_GE(vllm, oracle);
  EXPECT_GE(oracle, max);
  EXPECT_LT(vllm, 1e9);  // the sweep reaches vLLM's knee too
}

TEST(Layouts, PresetsSetAxesAndExplicitKeysOverrideThem) {
  const char* const base =
      "model: opt-13b\nhardware: a100-sxm4-40gb\nengine: {max_model_len: 2048}\n"
      "workload: {requests: 1, prompt_tokens: 10, output_tokens: 10}\n";
  const Scenario swap = testing::scenario_from(base, {"cache.policy=vllm-swap"});
  EXPECT_EQ(swap.engine.version, "v0");
  EXPECT_EQ(swap.cache.preemption, "swap");
  EXPECT_EQ(swap.cache.layout, "paged");
  const Scenario orca = testing::scenario_from(base, {"cache.policy=orca-max"});
  EXPECT_EQ(orca.cache.layout, "reserve");
  EXPECT_FALSE(orca.cache.prefix_caching);
  EXPECT_EQ(testing::scenario_from(base, {"cache.policy=orca-max", "cache.layout=oracle"}).cache.layout, "oracle");
  EXPECT_NE(testing::error_of([&] {
              testing::scenario_from(base, {"cache.policy=orca-maxx"});
            }).find("(did you mean 'orca-max'?)"),
            std::string::npos);
}

TEST(Layouts, ReservationsFollowTheirDefinitions) {
  EXPECT_EQ(cache::reserved_tokens("paged", 100, 50, 2048), 0);
  EXPECT_EQ(cache::reserved_tokens("reserve", 100, 50, 2048), 2048);
  EXPECT_EQ(cache::reserved_tokens("oracle", 100, 50, 2048), 150);
  // Pow2 over-reserves the output only: "if the true output length is 25, it reserves 32 positions for outputs"
  // (vLLM paper sec. 6.1).
  EXPECT_EQ(cache::reserved_tokens("pow2", 100, 25, 2048), 132);
  EXPECT_EQ(cache::reserved_tokens("pow2", 100, 32, 2048), 132);  // exactly a power of two
  EXPECT_EQ(cache::reserved_tokens("pow2", 100, 33, 2048), 164);
  EXPECT_EQ(cache::reserved_tokens("pow2", 1500, 600, 2048), 2048);  // capped at max_model_len
}

// Contiguous storage (FasterTransformer, Orca): a reservation needs one hole large enough, not just enough free
// blocks; holes coalesce when their neighbours are released; the extents and holes always tile the pool.
TEST(Layouts, ContiguousReservationsFragmentAndCoalesce) {
  Scenario s = load_scenario(kShareGpt, {"cache.policy=orca-oracle"});
  ASSERT_EQ(s.cache.allocation, "contiguous");
  ASSERT_EQ(cache::implementation_for(s.cache), "contiguous_pool");
  MemoryPlan plan = plan_memory(s);
  plan.num_gpu_blocks = 12;
  auto policy = cache::builtin_policies().make(cache::implementation_for(s.cache), s, plan);
  const int64_t block = plan.block_size;
  cache::SeqKv a, b, c, d;
  for (cache::SeqKv* q : {&a, &b, &c}) {
    q->reserved_tokens = 4 * block;
    ASSERT_TRUE(policy->grow(*q, 1));
  }
  EXPECT_EQ(a.extent, 0);
  EXPECT_EQ(b.extent, 4);
  EXPECT_EQ(c.extent, 8);
  EXPECT_EQ(policy->check({&a, &b, &c}), "");
  policy->release(a);
  policy->release(c);
  EXPECT_EQ(policy->free_blocks(), 8);
  d.reserved_tokens = 6 * block;
  EXPECT_EQ(policy->blocks_needed(d, 1), 6);
  EXPECT_FALSE(policy->grow(d, 1));  // 8 blocks free, in two holes of 4: the external fragmentation
  EXPECT_EQ(d.blocks, 0);
  EXPECT_EQ(policy->check({&b}), "");
  policy->release(b);  // the three holes coalesce into one
  ASSERT_TRUE(policy->grow(d, 6 * block));
  EXPECT_EQ(d.extent, 0);
  EXPECT_EQ(policy->stored_tokens(), 6 * block);
  // Growing past the reservation extends in place when the next blocks are free ...
  ASSERT_TRUE(policy->grow(d, 8 * block));
  EXPECT_EQ(d.extent, 0);
  EXPECT_EQ(d.blocks, 8);
  // ... and moves the extent when they are not and a hole elsewhere fits; fails, changing nothing, when none does.
  cache::SeqKv e;
  e.reserved_tokens = 2 * block;
  ASSERT_TRUE(policy->grow(e, 1));
  EXPECT_EQ(e.extent, 8);
  policy->release(d);
  d = {};
  d.reserved_tokens = 3 * block;
  ASSERT_TRUE(policy->grow(d, 1));  // blocks 0-2; hole 3-7 and 10-11
  ASSERT_TRUE(policy->grow(d, 5 * block));
  EXPECT_EQ(d.extent, 0);  // extended into 3-4
  EXPECT_FALSE(policy->grow(d, 10 * block));
  EXPECT_EQ(d.extent, 0);
  EXPECT_EQ(d.blocks, 5);
  EXPECT_EQ(policy->check({&d, &e}), "");
  policy->release(d);
  policy->release(e);
  EXPECT_EQ(policy->used_blocks(), 0);
  EXPECT_EQ(policy->blocks_allocated(), policy->blocks_freed());
  EXPECT_EQ(policy->check({}), "");
}

// The same Orca (Oracle) load stored contiguously admits fewer requests than in blocks: holes between reservations
// go unused. Orca (Max)'s reservations are all max_model_len, so its holes always fit the next one and contiguity
// changes nothing. Invariants (extents tile the pool) are checked throughout.
TEST(Layouts, ContiguityCostsVariableReservationsOnly) {
  auto running = [](const std::string& policy, const std::string& allocation) {
    return run_scenario(load_scenario(kShareGpt, {"cache.policy=" + policy, "cache.allocation=" + allocation,
                                                  "check_invariants=true"}),
                        "")
        .summary["mean_running_requests"]
        .get<double>();
  };
  EXPECT_LT(running("orca-oracle", "contiguous"), 0.97 * running("orca-oracle", "blocks"));
  EXPECT_DOUBLE_EQ(running("orca-max", "contiguous"), running("orca-max", "blocks"));
}

TEST(Layouts, AllocationDefaultsAndErrors) {
  EXPECT_EQ(load_scenario(kShareGpt, {"cache.policy=vllm"}).cache.allocation, "blocks");
  EXPECT_EQ(load_scenario(kShareGpt, {"cache.policy=orca-pow2"}).cache.allocation, "contiguous");
  EXPECT_EQ(load_scenario(kShareGpt, {"cache.policy=h2o"}).cache.allocation, "blocks");
  const std::string e = testing::error_of([] { load_scenario(kShareGpt, {"cache.allocation=contiguous"}); });
  EXPECT_NE(e.find("cache.allocation"), std::string::npos) << e;
  EXPECT_NE(e.find("found layout 'paged'"), std::string::npos) << e;
}

}  // namespace
}  // namespace kvsim::sim
