#include "sim/serving/memory_plan.h"

#include <gtest/gtest.h>

#include "models/model_spec.h"
#include "tests/sim/test_util.h"

namespace kvsim::sim {
namespace {

using testing::error_of;
using testing::scenario_from;

const char* const kBase = R"(
model: opt-13b
hardware: a100-sxm4-40gb
dtype: fp16
engine: {version: v0, max_model_len: 2048}
workload: {requests: 1, prompt_tokens: 10, output_tokens: 10}
)";

// vLLM paper (Kwon et al., SOSP 2023) Table 1: OPT-13B, 12 GB for KV (the slot count works out in GiB), 800 KiB
// per token, block size 16 -> 15.7K token slots.
TEST(MemoryPlan, VllmTable1Opt13bSlots) {
  const MemoryPlan p = plan_memory(scenario_from(kBase, {"engine.kv_cache_bytes=12GiB"}));
  EXPECT_EQ(p.block_bytes, 16u * 800u * 1024u);
  EXPECT_NEAR(static_cast<double>(p.kv_capacity_tokens()), 15.7e3, 15.7e3 * 0.01);
}

// Table 1: OPT-175B on 8 GPUs with 264 GB of KV in total -> 60.1K slots.
TEST(MemoryPlan, VllmTable1Opt175bSlots) {
  const MemoryPlan p = plan_memory(scenario_from(R"(
model: opt-175b
hardware: a100-sxm4-80gb
dtype: fp16
cluster: {tensor_parallel: 8}
engine: {version: v0, max_model_len: 2048, kv_cache_bytes: 33GiB}
workload: {requests: 1, prompt_tokens: 10, output_tokens: 10}
)"));
  EXPECT_NEAR(static_cast<double>(p.kv_capacity_tokens()), 60.1e3, 60.1e3 * 0.01);
}

TEST(MemoryPlan, DerivedCapacityFollowsVllmFormula) {
  const Scenario s = scenario_from(kBase);
  const MemoryPlan p = plan_memory(s);
  const uint64_t usable = static_cast<uint64_t>(0.9 * static_cast<double>(s.hardware.gpu.hbm_bytes));
  EXPECT_NEAR(static_cast<double>(p.usable_bytes), static_cast<double>(usable), 1.0);
  EXPECT_EQ(p.num_gpu_blocks, static_cast<int64_t>((p.usable_bytes - p.static_bytes()) / p.block_bytes));
  EXPECT_LE(p.static_bytes() + p.kv_cache_bytes, p.usable_bytes);
  // Less memory utilisation, fewer blocks.
  const MemoryPlan q = plan_memory(scenario_from(kBase, {"engine.gpu_memory_utilization=0.8"}));
  EXPECT_LT(q.num_gpu_blocks, p.num_gpu_blocks);
}

TEST(MemoryPlan, WeightsThatDoNotFitNameBothNumbersAndTensorParallelism) {
  const std::string e = error_of([] {
    plan_memory(scenario_from(R"(
model: llama-2-70b
hardware: l4-24gb
engine: {max_model_len: 4096}
workload: {requests: 1, prompt_tokens: 10, output_tokens: 10}
)"));
  });
  EXPECT_NE(e.find("llama-2-70b needs 128."), std::string::npos) << e;
  EXPECT_NE(e.find("GiB usable"), std::string::npos) << e;
  EXPECT_NE(e.find("cluster.tensor_parallel >= 8"), std::string::npos) << e;
}

TEST(MemoryPlan, MaxModelLenMustFitBothSidesOfTheLimit) {
  // 2048 tokens need exactly 128 blocks of 16.
  EXPECT_NO_THROW(plan_memory(scenario_from(kBase, {"engine.num_gpu_blocks=128"})));
  const std::string e = error_of([] { plan_memory(scenario_from(kBase, {"engine.num_gpu_blocks=127"})); });
  EXPECT_NE(e.find("engine.max_model_len 2048 needs 128 KV blocks but only 127 fit"), std::string::npos) << e;
}

// The T4 testbed of FlexGen/H2O has 208 GB of DRAM: 190 GiB of swap space fits, 200 GiB does not.
TEST(MemoryPlan, SwapSpaceMustFitInHostMemory) {
  const char* const t4 = R"(
model: opt-6.7b
hardware: t4-16gb
engine: {version: v0, max_model_len: 512}
cache: {preemption: swap}
workload: {requests: 1, prompt_tokens: 10, output_tokens: 10}
)";
  EXPECT_NO_THROW(plan_memory(scenario_from(t4, {"cache.swap_space_bytes=190GiB"})));
  const std::string e = error_of([&] { plan_memory(scenario_from(t4, {"cache.swap_space_bytes=200GiB"})); });
  EXPECT_NE(e.find("cache.swap_space_bytes 200.00 GiB x 1 GPUs per server = 200.00 GiB exceeds"), std::string::npos)
      << e;
}

TEST(MemoryPlan, SlidingWindowGroupsCapBlocks) {
  const Scenario s = scenario_from(R"(
model: gpt-oss-20b
hardware: h100-sxm5-80gb
engine: {max_model_len: 32768}
workload: {requests: 1, prompt_tokens: 10, output_tokens: 10}
)");
  const MemoryPlan p = plan_memory(s);
  EXPECT_EQ(p.full_groups, 1);
  EXPECT_EQ(p.sliding_groups, 1);
  // 128-token window with blocks of 16: at most 9 blocks in the sliding group.
  EXPECT_EQ(p.blocks_for_tokens(16), 2);
  EXPECT_EQ(p.blocks_for_tokens(160), 10 + 9);
  EXPECT_EQ(p.blocks_for_tokens(10000), 625 + 9);
}

}  // namespace
}  // namespace kvsim::sim
