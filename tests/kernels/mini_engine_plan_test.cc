// The mini decode engine's buffer plan (kernels/mini_engine.h), host-side: the split-K scratch is the largest any
// iteration needs, also when a later, smaller batch takes more splits than the largest batch.
#include <gtest/gtest.h>

#include "kernels/mini_engine.h"

namespace kvsim::kernels {
namespace {

MiniEngineModel small_model() {
  MiniEngineModel m;
  m.name = "test";
  m.hidden = 1024;
  m.intermediate = 2048;
  m.layers = 2;
  m.q_heads = 8;
  m.kv_heads = 2;
  m.vocab = 1000;
  return m;
}

// A split rule of the kernel's kind (kernels/cuda/decode_attention.cu decode_splits fills whole waves of CTAs, so the
// split count can fall as the batch grows), here with 64 sequences taking 1 split and 17 taking 7.
size_t scratch_bytes(int64_t batch, int64_t /*max_context*/) {
  const int64_t splits = batch >= 64 ? 1 : 7;
  return static_cast<size_t>(batch * 8 * splits * (128 + 1) * 4);
}

TEST(MiniEnginePlan, ScratchCoversASplitKIterationLargerThanTheFirst) {
  MiniIteration big, small;
  big.decode_context.assign(64, 4096);
  small.decode_context.assign(17, 4096);
  const MiniEngineSizes z = mini_engine_sizes(small_model(), {big, small}, 16, scratch_bytes);
  EXPECT_EQ(z.max_decode, 64);
  EXPECT_GE(z.decode_workspace_bytes, scratch_bytes(17, 4096));  // 17 x 7 rows, not the 64 x 1 of the largest batch
  EXPECT_GT(scratch_bytes(17, 4096), scratch_bytes(64, 4096));
}

TEST(MiniEnginePlan, SizesAreTheLargestOverIterations) {
  MiniIteration a, b;
  a.decode_context = {100, 17};  // 7 + 2 blocks of 16
  a.prefill_tokens = {300};
  a.swap_in_blocks = 5;
  b.decode_context = {1000};  // 63 blocks
  b.gather_rows = 40;
  b.evict_tokens = 11;
  const MiniEngineSizes z = mini_engine_sizes(small_model(), {a, b}, 16, nullptr);
  EXPECT_EQ(z.max_tokens, 302);
  EXPECT_EQ(z.max_decode, 2);
  EXPECT_EQ(z.max_blocks_per_seq, 63);
  EXPECT_EQ(z.total_blocks, 63);
  EXPECT_EQ(z.max_swap, 5);
  EXPECT_EQ(z.max_gather, 40);
  EXPECT_EQ(z.max_evict, 11 * 8);
  EXPECT_EQ(z.max_prefill, 300);
  EXPECT_EQ(z.decode_workspace_bytes, 16u);  // no scratch function: the floor
}

}  // namespace
}  // namespace kvsim::kernels
