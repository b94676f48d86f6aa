// How a forward pass's kernels are launched (vLLM V1: a full CUDA graph for decode-only batches, piecewise graphs for
// prefill and mixed batches up to the largest captured size, eager launches above it) and how launching overlaps
// the GPU's work: each term where it belongs and nowhere else.
#include <gtest/gtest.h>

#include "hw/hardware_loader.h"
#include "models/cost_model.h"
#include "models/model_loader.h"

namespace kvsim::models {
namespace {

ExecConfig v1_config(int max_graph_batch = 256, bool graphs = true) {
  ExecConfig c;
  c.cuda_graphs = graphs;
  c.max_graph_batch = max_graph_batch;
  c.piecewise_graphs = true;
  return c;
}

BatchShape prefill(int64_t tokens) {
  BatchShape b;
  b.add_sequence(0, tokens, true, 0);
  return b;
}

BatchShape mixed(int64_t decodes, int64_t context, int64_t prefill_tokens) {
  BatchShape b;
  for (int64_t i = 0; i < decodes; ++i) b.add_sequence(context, 1, true, 0);
  b.add_sequence(0, prefill_tokens, true, 0);
  return b;
}

TEST(Launch, ModeFollowsVllmV1Dispatch) {
  const CostModel m(load_model("llama-2-7b"), hw::load_hardware("h100-sxm5-80gb"), v1_config(256));
  EXPECT_EQ(m.launch_mode(BatchShape::uniform(64, 1, 500, true, 0)), CostModel::Launch::kFullGraph);
  EXPECT_EQ(m.launch_mode(mixed(64, 500, 100)), CostModel::Launch::kPiecewise);
  EXPECT_EQ(m.launch_mode(prefill(256)), CostModel::Launch::kPiecewise);  // exactly the largest captured size
  EXPECT_EQ(m.launch_mode(prefill(257)), CostModel::Launch::kEager);      // one token above it
  EXPECT_EQ(m.launch_mode(BatchShape::uniform(257, 1, 500, true, 0)), CostModel::Launch::kEager);
  const CostModel eager(load_model("llama-2-7b"), hw::load_hardware("h100-sxm5-80gb"), v1_config(256, false));
  EXPECT_EQ(eager.launch_mode(BatchShape::uniform(8, 1, 500, true, 0)), CostModel::Launch::kEager);
  ExecConfig v0 = v1_config(256);
  v0.piecewise_graphs = false;
  const CostModel paper(load_model("llama-2-7b"), hw::load_hardware("h100-sxm5-80gb"), v0);
  EXPECT_EQ(paper.launch_mode(mixed(8, 500, 100)), CostModel::Launch::kEager);
}

TEST(Launch, CapturedSizesPadAsVllmDoes) {
  const CostModel m(load_model("llama-2-7b"), hw::load_hardware("h100-sxm5-80gb"), v1_config(512));
  EXPECT_EQ(m.padded_tokens(prefill(3)), 4);
  EXPECT_EQ(m.padded_tokens(prefill(9)), 16);  // multiples of 8 below 256
  EXPECT_EQ(m.padded_tokens(prefill(255)), 256);
  EXPECT_EQ(m.padded_tokens(prefill(257)), 272);  // multiples of 16 from 256
  EXPECT_EQ(m.padded_tokens(prefill(513)), 513);  // eager: unpadded
  const CostModel small(load_model("llama-2-7b"), hw::load_hardware("h100-sxm5-80gb"), v1_config(20));
  EXPECT_EQ(small.padded_tokens(prefill(17)), 20);  // never past the largest captured size
}

TEST(Launch, PiecewiseCostsLessThanEagerAndMoreThanOneReplay) {
  const CostModel m(load_model("llama-2-7b"), hw::load_hardware("h100-sxm5-80gb"), v1_config(256));
  const CostModel eager(load_model("llama-2-7b"), hw::load_hardware("h100-sxm5-80gb"), v1_config(256, false));
  const BatchShape b = mixed(16, 500, 128);
  EXPECT_LT(m.launch_ns(b), eager.launch_ns(b));
  EXPECT_GT(m.launch_ns(b), m.launch_ns(BatchShape::uniform(16, 1, 500, true, 0)));
  // 32 layers: 33 piece replays and 2 attention kernels per layer at 5 us.
  EXPECT_EQ(m.launch_ns(b), static_cast<SimTime>((33 + 64) * 5000));
  EXPECT_EQ(eager.launch_ns(b), static_cast<SimTime>(12 * 32 * 5000));
}

TEST(Launch, LaunchesOverlapTheGpuWorkAndTheSerialCpuWorkDoesNot) {
  const CostModel eager(load_model("llama-2-7b"), hw::load_hardware("h100-sxm5-80gb"), v1_config(256, false));
  // A 2,048-token prefill runs far longer on the GPU than its eager launches take: they hide behind it.
  const BatchShape big = prefill(2048);
  ASSERT_GT(eager.forward_ns(big), eager.launch_ns(big));
  EXPECT_EQ(eager.iteration_ns(big), eager.forward_ns(big) + eager.cpu_overhead_ns(big));
  // One decode token on a slow host (50 us per launch): launching 384 kernels takes longer than running them.
  ExecConfig slow_host = v1_config(256, false);
  slow_host.cpu.launch_us = 50;
  const CostModel slow(load_model("llama-2-7b"), hw::load_hardware("h100-sxm5-80gb"), slow_host);
  const BatchShape one = BatchShape::uniform(1, 1, 100, true, 0);
  ASSERT_LT(slow.forward_ns(one), slow.launch_ns(one));
  EXPECT_EQ(slow.iteration_ns(one), slow.launch_ns(one) + slow.cpu_overhead_ns(one));
}

}  // namespace
}  // namespace kvsim::models
