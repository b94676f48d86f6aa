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
  // The state blocks hold at least the state of all 28 Mamba layers, and less than one more block per group.
  const double state = models::state_bytes_per_sequence(s.model, s.dtype);
  const double held = static_cast<double>(p.state_blocks) * static_cast<double>(p.block_bytes);
  EXPECT_GE(held, state);
  EXPECT_LT(held - state, 7.0 * static_cast<double>(p.block_bytes));
  // A sequence's blocks grow only with the attention group's: the state part is the same at any length.
  EXPECT_EQ(p.blocks_for_tokens(0), 0);
  EXPECT_EQ(p.blocks_for_tokens(16), 1 + p.state_blocks);
  EXPECT_EQ(p.blocks_for_tokens(32768), 2048 + p.state_blocks);
  // The state costs short sequences many blocks: 16-token sequences fit far fewer than block count / 1.
  EXPECT_LT(sequences_at(p, 16), p.num_gpu_blocks / 2);
}

}  // namespace
}  // namespace kvsim::sim
