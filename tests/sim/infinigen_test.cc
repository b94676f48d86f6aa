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
// selected rows (sized for the cap). With alpha wide open every step fetches the cap.
TEST(InfiniGen, GpuHoldsPartialKeysAndTheFetchDoubleBuffer) {
  const RunResult r = run_scenario(testing::scenario_from(kOneRequest, {"cache.alpha=1e6"}), "");
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
// every new token go to the host once. Alpha wide open: the cap is selected.
TEST(InfiniGen, PcieBytesFollowTheSelection) {
  const RunResult r = run_scenario(testing::scenario_from(kOneRequest, {"cache.alpha=1e6"}), "");
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
// bytes than the cap alone, more as alpha widens, and the cap's traffic once alpha admits everything. Unset, alpha is
// the scripts' 4.
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
  EXPECT_EQ(h2d({}), a4);
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

// InfiniGen's released loop (engine.overlap: false, its scripts' setting) fetches a layer's selected KV on the
// compute's timeline; its design (overlap: true) overlaps the fetch with the layer's compute. Per layer the released
// loop is slower by the shorter of the two: by the fetch time when the compute is the longer.
TEST(InfiniGen, TheReleasedLoopPaysTheFetchOnTheComputesTimeline) {
  const Scenario released = testing::scenario_from(kOneRequest, {"engine.cpu_op_us=0"});
  const Scenario designed = testing::scenario_from(kOneRequest, {"engine.cpu_op_us=0", "engine.overlap=true"});
  ASSERT_FALSE(released.engine.overlap);  // the default, as the scripts run it
  ASSERT_TRUE(released.engine.sync_per_layer);
  const models::CostModel serial(released.model, released.hardware, exec_config(released));
  const models::CostModel overlapped(designed.model, designed.hardware, exec_config(designed));
  for (const int64_t seqs : {1, 16}) {
    models::BatchShape b;
    for (int64_t i = 0; i < seqs; ++i) {
      b.partial_key_tokens += 10000;
      b.fetch_tokens += 2000;
      b.offload_tokens += 1;
      b.add_sequence(2000, 1, true, 0);
    }
    const models::CostModel::LayerTimes t = serial.layer_times(b);
    ASSERT_GT(t.h2d, 0);
    const SimTime io = t.h2d + t.d2h + t.disk;
    const SimTime shorter = std::min(t.compute, std::max({t.h2d, t.d2h, t.disk})) + io -
                            std::max({t.h2d, t.d2h, t.disk});
    EXPECT_EQ(serial.iteration_ns(b) - overlapped.iteration_ns(b), shorter * released.model.num_layers) << seqs;
  }
  // End to end: the released loop's decode steps are slower.
  EXPECT_GT(run_scenario(released, "").summary["mean_tpot_ms"].get<double>(),
            run_scenario(designed, "").summary["mean_tpot_ms"].get<double>());
}

// The host KV is pageable as released: with a profile that measured both curves, the prompts' KV reaches the host at
// the pageable rate and the prefill is slower than with host_kv_pinned: true, by the 10,000 tokens' KV of 32 layers at
// the difference of the two rates (the released loop copies on the compute's timeline); a datasheet profile says it
// cannot tell.
TEST(InfiniGen, PageableHostKvIsSlowerThanPinnedWhereMeasured) {
  Scenario pageable = testing::scenario_from(kOneRequest);
  ASSERT_FALSE(pageable.cache.host_kv_pinned);
  const RunResult datasheet = run_scenario(pageable, "");
  EXPECT_NE(datasheet.summary["notes"].dump().find("priced at the pinned rate"), std::string::npos);
  hw::MeasuredProfile m;
  m.bandwidth["pcie/d2h_pinned"] = hw::Curve{{1e3, 1e9}, {20e9, 20e9}, true};
  m.bandwidth["pcie/d2h_pageable"] = hw::Curve{{1e3, 1e9}, {0.2e9, 0.2e9}, true};
  pageable.hardware.measured = m;
  Scenario pinned = pageable;
  pinned.cache.host_kv_pinned = true;
  const RunResult slow = run_scenario(pageable, ""), fast = run_scenario(pinned, "");
  const double bytes = 32.0 * 10000.0 * static_cast<double>(slow.plan.token_layer_bytes);
  const double expected_ms = (bytes / 0.2e9 - bytes / 20e9) * 1e3;
  EXPECT_NEAR(slow.summary["mean_ttft_ms"].get<double>() - fast.summary["mean_ttft_ms"].get<double>(), expected_ms,
              0.01 * expected_ms);
  EXPECT_EQ(slow.summary["notes"].dump().find("priced at the pinned rate"), std::string::npos);
  EXPECT_NE(testing::error_of([] { testing::scenario_from(kOneRequest, {"cache.policy=vllm", "cache.host_kv_pinned=true"}); })
                .find("cache.host_kv_pinned: only used with cache.placement: offload"),
            std::string::npos);
}

}  // namespace
}  // namespace kvsim::sim
