// KV capacity of sliding-window and hybrid state-space models (issue 18 item 5): sliding-window layer groups hold at
// most the window's blocks per sequence, state layers a fixed number of blocks per running sequence.
#include <string>

#include <gtest/gtest.h>

#include "models/model_spec.h"
#include "models/state_space.h"
#include "sim/serving/memory_plan.h"
#include "tests/sim/test_util.h"

namespace kvsim::sim {
namespace {

using testing::scenario_from;

std::string fixture(const std::string& name) {
  return std::string(KVSIM_TEST_SOURCE_DIR) + "/tests/models/fixtures/" + name + ".config.json";
}

Scenario scenario_for(const std::string& model, const std::string& hardware, int64_t max_model_len) {
  return scenario_from("model: " + fixture(model) + "\nhardware: " + hardware +
                       "\nengine: {max_model_len: " + std::to_string(max_model_len) +
                       "}\nworkload: {requests: 1, prompt_tokens: 10, output_tokens: 10}\n");
}

// Sequences of `tokens` the pool holds at once.
int64_t sequences_at(const MemoryPlan& p, int64_t tokens) { return p.num_gpu_blocks / p.blocks_for_tokens(tokens); }

TEST(HybridCapacity, Gemma2HoldsMoreLongSequencesThanTheSameModelWithAllLayersGlobal) {
  const Scenario hybrid = scenario_for("gemma-2-9b-it", "h100-sxm5-80gb", 8192);
  Scenario global = hybrid;
  global.model.layer_attention.clear();
  global.model.sliding_window = 0;
  const MemoryPlan h = plan_memory(hybrid), g = plan_memory(global);
  EXPECT_EQ(h.full_groups, 1);
  EXPECT_EQ(h.sliding_groups, 1);
  EXPECT_EQ(h.layers_per_group, 21);
  EXPECT_EQ(g.full_groups, 1);
  // A hybrid block holds one group of 21 layers, a global one all 42; the pools have the same bytes.
  EXPECT_EQ(g.block_bytes, 2 * h.block_bytes);
  EXPECT_NEAR(static_cast<double>(h.kv_cache_bytes), static_cast<double>(g.kv_cache_bytes),
              static_cast<double>(g.block_bytes));
  // 4096-token window, blocks of 16: the sliding group stops at 4096 / 16 + 1 blocks per sequence.
  EXPECT_EQ(h.blocks_for_tokens(8192) - h.blocks_for_tokens(4096 + 16), 512 - 257);
  EXPECT_EQ(h.blocks_for_tokens(8192), 512 + 257);
  // At 8K tokens the global model holds each sequence's 8K in both halves of its layers.
  EXPECT_GT(sequences_at(h, 8192), sequences_at(g, 8192));
  EXPECT_NEAR(static_cast<double>(sequences_at(h, 8192)) / static_cast<double>(sequences_at(g, 8192)),
              2.0 * 512 / (512 + 257), 0.05);
  // Below the window both hold the same.
  EXPECT_EQ(sequences_at(h, 1024), sequences_at(g, 1024));
}

TEST(HybridCapacity, JambaStateBlocksAreHeldPerSequenceWhateverItsLength) {
  const Scenario s = scenario_for("jamba-v0.1", "h200-sxm-141gb", 32768);
  const MemoryPlan p = plan_memory(s);
  EXPECT_EQ(p.layers_per_group, 4);
  EXPECT_EQ(p.full_groups, 1);
  EXPECT_EQ(p.state_groups, 7);
  // vLLM raises the block size until one layer's page holds one Mamba layer's state, in multiples of 16 tokens: the
  // smallest such size, so one state page per group per sequence, padded by less than 16 tokens' worth.
  const double layer_token = models::kv_bytes_per_token_layer(s.model, s.cache.precision, 1);
  const double layer_state = models::state_bytes_per_layer(s.model, s.dtype);
  EXPECT_EQ(p.block_size % 16, 0);
  EXPECT_GE(static_cast<double>(p.block_size) * layer_token, layer_state);
  EXPECT_LT(static_cast<double>(p.block_size - 16) * layer_token, layer_state);
  EXPECT_GT(p.block_size, 16);
  EXPECT_EQ(p.state_blocks, p.state_groups);
  // A sequence's blocks grow only with the attention group's: the state part is the same at any length.
  EXPECT_EQ(p.blocks_for_tokens(0), 0);
  EXPECT_EQ(p.blocks_for_tokens(16), 1 + p.state_blocks);
  EXPECT_EQ(p.blocks_for_tokens(32768), (32768 + p.block_size - 1) / p.block_size + p.state_blocks);
  // The state costs short sequences many blocks: 16-token sequences fit far fewer than block count / 1.
  EXPECT_LT(sequences_at(p, 16), p.num_gpu_blocks / 2);
  // A scenario block size above vLLM's raised one is kept; the formula is vLLM's on its own numbers too.
  EXPECT_EQ(hybrid_block_size(1024, layer_token, layer_state), 1024);
  EXPECT_EQ(hybrid_block_size(16, 100.0, 1600.0), 16);  // one 16-token page of 1,600 bytes holds it
  EXPECT_EQ(hybrid_block_size(16, 100.0, 1601.0), 32);  // one byte more: the next multiple of 16
  EXPECT_EQ(hybrid_block_size(24, 100.0, 1601.0), 48);  // lcm(16, 24) = 48-token steps
}

// vLLM 0.10.2 starting Qwen3-Next-80B-A3B-Instruct on two H200s (tp 2, bf16, its start-up log): "Model loading took
// 74.2812 GiB", "Available KV cache memory: 44.59 GiB", "Setting attention block size to 544 tokens", "Padding
// mamba page size by 1.49%", "GPU KV cache size: 973,760 tokens", "Maximum concurrency for 262,144 tokens per
// request: 14.77x". Given the same KV bytes, the plan's geometry gives every one of these.
TEST(HybridCapacity, Qwen3NextMatchesVllmsStartupLog) {
  Scenario s = scenario_for("qwen3-next-80b-a3b", "h200-sxm-141gb", 262144);
  s.cluster.tensor_parallel = 2;
  s.engine.kv_cache_bytes = static_cast<uint64_t>(44.59 * 1073741824.0);
  const MemoryPlan p = plan_memory(s);
  EXPECT_NEAR(static_cast<double>(p.weights_bytes) / 1073741824.0, 74.2812, 0.005 * 74.2812);
  EXPECT_EQ(p.block_size, 544);
  const double page = 544 * models::kv_bytes_per_token_layer(s.model, s.cache.precision, 2);
  EXPECT_NEAR(page / models::state_bytes_per_layer(s.model, s.dtype, 2) - 1, 0.0149, 0.00005);
  // 12 full-attention and 36 Gated DeltaNet layers: groups of 12, one attention and three state groups.
  EXPECT_EQ(p.layers_per_group, 12);
  EXPECT_EQ(p.full_groups, 1);
  EXPECT_EQ(p.state_groups, 3);
  // vLLM reports num_blocks // groups x block_size tokens (44.59 GiB is rounded: +-1 block).
  EXPECT_NEAR(static_cast<double>(p.num_gpu_blocks), 7162, 1);
  EXPECT_NEAR(static_cast<double>(p.num_gpu_blocks / (p.full_groups + p.state_groups) * p.block_size), 973760,
              static_cast<double>(p.block_size));
  EXPECT_NEAR(static_cast<double>(p.num_gpu_blocks) / static_cast<double>(p.blocks_for_tokens(262144)), 14.77, 0.005);
  // The same log: "Hybrid or mamba-based model detected: disabling prefix caching"; asking for it still works.
  EXPECT_FALSE(s.cache.prefix_caching);
  EXPECT_TRUE(scenario_from("model: " + fixture("qwen3-next-80b-a3b") +
                            "\nhardware: h200-sxm-141gb\ncache: {prefix_caching: true}\nworkload: {requests: 1, "
                            "prompt_tokens: 10, output_tokens: 10}\n")
                  .cache.prefix_caching);
  EXPECT_TRUE(scenario_from("model: llama-3.1-8b\nhardware: h200-sxm-141gb\nworkload: {requests: 1, "
                            "prompt_tokens: 10, output_tokens: 10}\n")
                  .cache.prefix_caching);
}

}  // namespace
}  // namespace kvsim::sim
