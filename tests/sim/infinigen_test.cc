// InfiniGen (Lee et al., OSDI 2024) as kvsim models it: the full KV in host memory, partial keys and a fetch double
// buffer on the GPU, the selected rows of every layer gathered on the CPU and copied while the previous layer computes.
#include <gtest/gtest.h>

#include <cmath>

#include <fmt/format.h>

#include "models/cost_model.h"
#include "sim/run.h"
#include "tests/sim/test_util.h"

namespace kvsim::sim {
namespace {

const char* const kOneRequest = R"(
model: llama-3.1-8b
hardware: h100-sxm5-80gb
check_invariants: true
cache: {policy: infinigen}
engine: {max_model_len: 16384}
workload: {requests: 1, arrival: {process: all-at-once}, prompt_tokens: 10000, output_tokens: 100}
)";

// GPU KV = partial keys of every token (0.2 of the key columns = a tenth of K+V) + a double buffer of one layer's
// selected rows.
TEST(InfiniGen, GpuHoldsPartialKeysAndTheFetchDoubleBuffer) {
  const RunResult r = run_scenario(testing::scenario_from(kOneRequest), "");
  ASSERT_EQ(r.summary["completed"].get<int64_t>(), 1);
  const MemoryPlan& p = r.plan;
  EXPECT_EQ(p.block_bytes, static_cast<uint64_t>(std::ceil(16.0 * 32 * 4096 * 0.2 / 2)));  // 16 tokens x 32 layers
  const uint64_t buffer_bytes = 2 * 2020 * p.token_layer_bytes;  // 0.2 x 10100 tokens, K and V of one layer, twice
  const int64_t buffer_blocks = static_cast<int64_t>((buffer_bytes + p.block_bytes - 1) / p.block_bytes);
  EXPECT_EQ(r.summary["peak_kv_hbm_bytes"].get<uint64_t>(),
            static_cast<uint64_t>(632 + buffer_blocks) * p.block_bytes);  // 632 blocks hold 10099 tokens
  // The full KV sits in the host pool.
  EXPECT_EQ(r.summary["peak_kv_host_bytes"].get<uint64_t>(), 10099ull * p.token_layer_bytes * 32);
  ASSERT_TRUE(r.summary.contains("notes"));
  // It skips tokens at each step but evicts none: attention retention below 1, early facts kept.
  EXPECT_GT(r.summary["retention_attention"].get<double>(), 0.8);
  EXPECT_LT(r.summary["retention_attention"].get<double>(), 1.0);
  EXPECT_EQ(r.summary["retention_early_facts"].get<double>(), 1.0);
}

// PCIe bytes per decode step = selected (token, head) rows x head_dim x 2 B x 2 (K and V) x layers; the prefill and
// every new token go to the host once.
TEST(InfiniGen, PcieBytesFollowTheSelection) {
  const RunResult r = run_scenario(testing::scenario_from(kOneRequest), "");
  const uint64_t token_all_layers = r.plan.token_layer_bytes * 32;  // 8 kv heads x 128 x 2 B x 2 x 32 layers
  ASSERT_EQ(r.plan.token_layer_bytes, 8u * 128 * 2 * 2);
  uint64_t fetched = 0;
  for (int64_t cached = 10000; cached < 10099; ++cached) {  // the 99 decode steps after the prefill's first token
    fetched += static_cast<uint64_t>(std::ceil(0.2 * static_cast<double>(cached)));
  }
  EXPECT_EQ(r.summary["pcie_h2d_bytes"].get<uint64_t>(), fetched * token_all_layers);
  EXPECT_EQ(r.summary["pcie_d2h_bytes"].get<uint64_t>(), 10099ull * token_all_layers);
}

// Slowing host DRAM slows a decode step only when the CPU gather, not the layer's compute, is the longer.
TEST(InfiniGen, SlowHostMemorySlowsOnlyGatherBoundSteps) {
  const Scenario s = testing::scenario_from(kOneRequest);
  hw::HardwareProfile slow = s.hardware;
  slow.host.dram_bytes_per_s /= 50;
  const models::ExecConfig c = exec_config(s);
  const models::CostModel fast_model(s.model, s.hardware, c), slow_model(s.model, slow, c);
  auto decode = [](int64_t seqs, int64_t context) {
    models::BatchShape b;
    for (int64_t i = 0; i < seqs; ++i) {
      const auto selected = static_cast<int64_t>(std::ceil(0.2 * static_cast<double>(context)));
      b.partial_key_tokens += static_cast<double>(context);
      b.fetch_tokens += static_cast<double>(selected);
      b.offload_tokens += 1;
      b.add_sequence(selected, 1, true, 0);
    }
    b.decode_only = true;
    return b;
  };
  const models::BatchShape small = decode(1, 512), large = decode(64, 16384);
  EXPECT_EQ(slow_model.forward_ns(small), fast_model.forward_ns(small));
  EXPECT_GT(slow_model.forward_ns(large), fast_model.forward_ns(large));
}

// A host pool too small for every sequence evicts instead of refusing: the second of two 10,100-token requests in a
// 16,384-token pool keeps only the room left, host memory never exceeds the pool, and the evicted early facts are
// lost while the first request keeps all of its own.
TEST(InfiniGen, AFullHostPoolEvictsAndNeverOverflows) {
  const Scenario s =
      testing::scenario_from(kOneRequest, {"workload.requests=2",
                                           fmt::format("cache.host_kv_bytes={}", 16384ull * 8 * 128 * 2 * 2 * 32)});
  const RunResult r = run_scenario(s, "");
  EXPECT_EQ(r.summary["completed"].get<int64_t>(), 2);
  EXPECT_LE(r.summary["peak_kv_host_bytes"].get<uint64_t>(), s.cache.host_kv_bytes);
  EXPECT_EQ(r.summary["peak_kv_host_bytes"].get<uint64_t>(), 16384ull * r.plan.token_layer_bytes * 32);
  EXPECT_LT(r.summary["retention_early_facts"].get<double>(), 1.0);
  EXPECT_GT(r.summary["retention_early_facts"].get<double>(), 0.4);  // the first request lost nothing
}

TEST(InfiniGen, NonsensicalCombinationsNameTheirKeys) {
  using testing::error_of;
  using testing::scenario_from;
  EXPECT_NE(
      error_of([] {
        scenario_from(kOneRequest, {"cache.selection=all"});
      }).find("cache.placement: with the KV in host memory each step must either fetch only the tokens it selects"),
      std::string::npos);
  EXPECT_NE(error_of([] { scenario_from(kOneRequest, {"cache.host_kv_bytes=0"}); }).find("no capacity"),
            std::string::npos);
  EXPECT_NE(
      error_of([] { scenario_from(kOneRequest, {"engine.version=v1"}); }).find("set engine.version: static or v0"),
      std::string::npos);
}

// With cache.alpha each decode step fetches the tokens within alpha of the top score, capped by max_kv_ratio: fewer
// bytes than the cap alone, more as alpha widens, and the cap's traffic once alpha admits everything (also what an
// unset alpha fetches).
TEST(InfiniGen, AlphaThresholdFetchesUnderTheCap) {
  using testing::scenario_from;
  const auto h2d = [](std::vector<std::string> o) {
    return run_scenario(scenario_from(kOneRequest, o), "").summary["pcie_h2d_bytes"].get<uint64_t>();
  };
  const uint64_t cap = h2d({"cache.alpha=1e6"}), a4 = h2d({"cache.alpha=4"}), a8 = h2d({"cache.alpha=8"}),
                 wide = h2d({"cache.alpha=1000"});
  EXPECT_LT(a4, a8);
  EXPECT_LT(a8, cap);
  EXPECT_EQ(wide, cap);
  EXPECT_EQ(h2d({}), cap);
  const RunResult r = run_scenario(scenario_from(kOneRequest, {"cache.alpha=4"}), "");
  EXPECT_LT(
      r.summary["retention_attention"].get<double>(),
      run_scenario(scenario_from(kOneRequest, {"cache.alpha=8"}), "").summary["retention_attention"].get<double>());
  EXPECT_NE(r.summary["notes"].dump().find("alpha 4"), std::string::npos);
  EXPECT_NE(testing::error_of([] {
              scenario_from(kOneRequest, {"cache.policy=vllm", "cache.alpha=4"});
            }).find("cache.alpha: cache.alpha is the threshold of speculative selection"),
            std::string::npos);
}

}  // namespace
}  // namespace kvsim::sim
