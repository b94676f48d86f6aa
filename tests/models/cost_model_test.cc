// Properties of the roofline cost model that would catch real bugs: what scales with what, and by how much.
#include "models/cost_model.h"

#include <gtest/gtest.h>

#include "hw/hardware_loader.h"
#include "models/model_loader.h"

namespace kvsim::models {
namespace {

CostModel make(const std::string& model, const std::string& hw, int tp = 1, bool graphs = true) {
  ExecConfig c;
  c.tp = tp;
  c.cuda_graphs = graphs;
  return CostModel(load_model(model), hw::load_hardware(hw), c);
}

BatchShape decode(int64_t seqs, int64_t context, int64_t window = 0) {
  BatchShape b;
  for (int64_t i = 0; i < seqs; ++i) b.add_sequence(context, 1, true, window);
  b.decode_only = true;
  return b;
}

OpCost op(const std::vector<OpCost>& ops, const std::string& name) {
  for (const auto& o : ops) {
    if (o.name == name) return o;
  }
  throw std::runtime_error("no op " + name);
}

TEST(CostModel, DecodeAttentionReadsEveryKvByteOfTheContext) {
  const CostModel m = make("llama-3.1-8b", "h100-sxm5-80gb");
  const auto ops = m.ops(decode(32, 4096));
  // 32 sequences x (4096 cached + 1 new) tokens x 4 KiB per token per layer (8 kv heads x 128 x 2 x 2 B).
  EXPECT_NEAR(op(ops, "attention").bytes - 2.0 * 32 * 32 * 128 * 2, 32.0 * 4097 * 4096, 1.0);
  EXPECT_EQ(op(ops, "attention").bound, "memory");
  // Twice the context: a little under twice the attention time (the kernel's efficiency grows with the bytes in
  // flight: time is affine in them, (bytes + half) / (efficiency x bandwidth)).
  const double t1 = static_cast<double>(op(ops, "attention").time_ns);
  const double t2 = static_cast<double>(op(m.ops(decode(32, 8192)), "attention").time_ns);
  const double b1 = 32.0 * 4097 * 4096, b2 = 32.0 * 8193 * 4096, half = m.operator_params().decode_half_mb * 1e6;
  EXPECT_NEAR(t2 / t1, (b2 + half) / (b1 + half), 0.01);
  EXPECT_LT(t2 / t1, 2.0);
}

TEST(CostModel, PrefillAttentionCostsCausalFlops) {
  const CostModel m = make("llama-3.1-8b", "h100-sxm5-80gb");
  BatchShape b;
  b.add_sequence(0, 4096, true, 0);
  // n (n + 1) / 2 query-key pairs x 4 FLOPs x 32 heads x 128 head_dim.
  EXPECT_DOUBLE_EQ(op(m.ops(b), "attention").flops, 4.0 * 32 * 128 * 4096.0 * 4097.0 / 2.0);
}

TEST(CostModel, SmallDecodeIsBoundByReadingTheWeights) {
  const CostModel m = make("llama-3.1-8b", "h100-sxm5-80gb");
  const SimTime t = m.forward_ns(decode(1, 128));
  // 8.03B parameters less the 0.525B embedding table (a lookup reads one row) x 2 B at the GEMMs' fitted weight-read
  // efficiency (0.841 of 3.35 TB/s) = 5.3 ms; the kernels' floors (4 GEMMs and 4 element-wise kernels per layer, about
  // 33 us a layer) add about 1 ms, attention little at this size.
  const double weights_ms = (8.03e9 - 128256.0 * 4096) * 2 / (m.operator_params().gemm_memory * 3.35e12) * 1e3;
  EXPECT_GT(ns_to_ms(t), weights_ms);
  EXPECT_LT(ns_to_ms(t), weights_ms + 32 * 0.034 + 0.5);
  EXPECT_EQ(op(m.ops(decode(1, 128)), "qkv_proj").bound, "memory");
}

TEST(CostModel, LargePrefillIsComputeBoundNearTwoFlopsPerParameter) {
  const CostModel m = make("llama-3.1-8b", "h100-sxm5-80gb");
  BatchShape b;
  b.add_sequence(0, 8192, true, 0);
  EXPECT_EQ(op(m.ops(b), "gate_up_proj").bound, "compute");
  const double linear_ms = 2.0 * 8192 * 7.5e9 / (0.7 * m.hardware().peak_flops(DType::kBf16)) * 1e3;
  EXPECT_GT(ns_to_ms(m.forward_ns(b)), linear_ms);
}

TEST(CostModel, TensorParallelismSplitsWorkAndAddsAllreduces) {
  const CostModel one = make("llama-3.1-70b", "h100-sxm5-80gb", 1);
  const CostModel four = make("llama-3.1-70b", "h100-sxm5-80gb", 4);
  BatchShape b;
  b.add_sequence(0, 4096, true, 0);
  EXPECT_NEAR(op(four.ops(b), "gate_up_proj").flops * 4, op(one.ops(b), "gate_up_proj").flops, 1.0);
  const std::vector<OpCost> single = one.ops(b);
  EXPECT_EQ(std::count_if(single.begin(), single.end(), [](const OpCost& o) { return o.name == "allreduce"; }), 0);
  const OpCost ar = op(four.ops(decode(8, 1024)), "allreduce");
  EXPECT_EQ(ar.bound, "latency");  // decode-sized messages are latency-bound
  EXPECT_LT(four.forward_ns(b), one.forward_ns(b));
}

TEST(CostModel, CudaGraphsPadDecodeBatchesAndCutLaunchOverhead) {
  const CostModel graphs = make("llama-3.1-8b", "h100-sxm5-80gb", 1, true);
  const CostModel eager = make("llama-3.1-8b", "h100-sxm5-80gb", 1, false);
  EXPECT_EQ(graphs.padded_tokens(decode(3, 100)), 4);
  EXPECT_EQ(graphs.padded_tokens(decode(17, 100)), 24);
  EXPECT_EQ(graphs.padded_tokens(decode(600, 100)), 600);  // above the largest captured size: eager, unpadded
  EXPECT_EQ(eager.padded_tokens(decode(17, 100)), 17);
  EXPECT_LT(graphs.launch_ns(decode(8, 100)), eager.launch_ns(decode(8, 100)));
  EXPECT_EQ(graphs.cpu_overhead_ns(decode(8, 100)), eager.cpu_overhead_ns(decode(8, 100)));  // launches apart
}

TEST(CostModel, SlidingWindowLayersReadAtMostTheWindow) {
  const CostModel m = make("gpt-oss-20b", "h100-sxm5-80gb");
  const BatchShape shortctx = decode(16, 1000, 128), longctx = decode(16, 100000, 128);
  EXPECT_DOUBLE_EQ(shortctx.kv_read_tokens_window, 16 * 128.0);
  EXPECT_DOUBLE_EQ(longctx.kv_read_tokens_window, 16 * 128.0);
  // Half the layers are capped: attention grows about half as fast as the context.
  const double a = op(m.ops(shortctx), "attention").bytes, b = op(m.ops(longctx), "attention").bytes;
  const double expected = (100001.0 + 128) / (1001.0 + 128);
  EXPECT_NEAR(b / a, expected, 0.02 * expected);  // q and o traffic, the same in both, dilutes the ratio slightly
  EXPECT_GT(op(m.ops(longctx), "experts").bytes, 0.0);
}

TEST(CostModel, WindowedPairsMatchBruteForce) {
  BatchShape b;
  b.add_sequence(100, 60, false, 128);
  double pairs = 0;
  for (int i = 1; i <= 60; ++i) pairs += std::min(100 + i, 128);
  EXPECT_DOUBLE_EQ(b.attn_pairs_window, pairs);
}

}  // namespace
}  // namespace kvsim::models
