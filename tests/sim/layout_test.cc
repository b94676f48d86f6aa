// KV layouts and the presets built on them, against the relations the vLLM paper reports (Kwon et al., SOSP 2023):
// paging keeps nearly every allocated slot holding a real token; reservation wastes most of it and batches less.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include "sim/cache/presets.h"
#include "sim/run.h"
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
  EXPECT_EQ(cache::reserved_tokens("pow2", 100, 50, 2048), 256);
  EXPECT_EQ(cache::reserved_tokens("pow2", 100, 28, 2048), 128);     // exactly a power of two
  EXPECT_EQ(cache::reserved_tokens("pow2", 1500, 100, 2048), 2048);  // capped at max_model_len
}

}  // namespace
}  // namespace kvsim::sim
