// Cost-model switches of the KV-cache policies: KIVI's quantised KV with a full-precision residual window, Quest's
// page selection, FlexGen's CPU attention and weight streaming. Each test checks a relation the paper implies, or a
// conservation that a wrong sum would break.
#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "hw/hardware_loader.h"
#include "hw/transfer.h"
#include "models/cost_model.h"
#include "models/model_loader.h"
#include "sim/core/error.h"

namespace kvsim::models {
namespace {

constexpr const char* kModel = "llama-3.1-8b";  // 32 layers, 32 query heads, 8 KV heads, head_dim 128
constexpr const char* kGpu = "h100-sxm5-80gb";

CostModel make(const ExecConfig& c, const hw::HardwareProfile& hw = hw::load_hardware(kGpu)) {
  return CostModel(load_model(kModel), hw, c);
}

BatchShape decode(int64_t seqs, int64_t context) {
  BatchShape b;
  for (int64_t i = 0; i < seqs; ++i) b.add_sequence(context, 1, true, 0);
  b.decode_only = true;
  return b;
}

const OpCost* find(const std::vector<OpCost>& ops, const std::string& name) {
  for (const auto& o : ops) {
    if (o.name == name) return &o;
  }
  return nullptr;
}

OpCost op(const std::vector<OpCost>& ops, const std::string& name) {
  if (const OpCost* o = find(ops, name)) return *o;
  throw std::runtime_error("no op " + name);
}

// q and output rows of a decode attention op on one GPU: 2 x tokens x 32 heads x 128 x 2 B.
double qo_bytes(double tokens) { return 2.0 * tokens * 32 * 128 * 2; }

// One token's K and V in one layer at bf16: 2 x 8 heads x 128 x 2 B.
constexpr double kBf16TokenLayerBytes = 2.0 * 8 * 128 * 2;

// --- KIVI ---

TEST(CostPolicies, KiviInt2DecodeReadsThreeSixteenthsOfBf16AndIsFaster) {
  ExecConfig bf16;
  ExecConfig int2;
  int2.kv_dtype = DType::kInt2;
  const BatchShape b = decode(32, 32768);
  const OpCost full = op(make(bf16).ops(b), "attention"), kivi = op(make(int2).ops(b), "attention");
  const double full_kv = full.bytes - qo_bytes(32), kivi_kv = kivi.bytes - qo_bytes(32);
  EXPECT_DOUBLE_EQ(full_kv, 32.0 * 32769 * kBf16TokenLayerBytes);
  // 2 bits + 1 bit of group scale and zero point per element, against 16.
  EXPECT_NEAR(kivi_kv / full_kv, 3.0 / 16, 1e-12);
  EXPECT_EQ(kivi.bound, "memory");  // the dequantisation does not make long-context decode compute-bound
  EXPECT_LT(kivi.time_ns, full.time_ns);
  EXPECT_LT(static_cast<double>(kivi.time_ns) / static_cast<double>(full.time_ns), 0.25);
}

TEST(CostPolicies, KiviResidualWindowAddsExactlyItsFullPrecisionBytes) {
  ExecConfig c;
  c.kv_dtype = DType::kInt2;
  c.kv_residual_tokens = 128;
  const CostModel m = make(c);
  BatchShape b = decode(16, 32768);
  const double no_residual = op(m.ops(b), "attention").bytes;
  b.residual_tokens = 16.0 * std::min<int64_t>(32769, c.kv_residual_tokens);
  const double with_residual = op(m.ops(b), "attention").bytes;
  const double quant_token = kBf16TokenLayerBytes * 3 / 16;
  // R tokens per sequence per layer move from int2 (+ metadata) to bf16.
  EXPECT_NEAR(with_residual - no_residual, 16.0 * 128 * (kBf16TokenLayerBytes - quant_token), 1e-3);
  // Limit: a residual covering every token read reads exactly what bf16 KV reads.
  b.residual_tokens = b.kv_read_tokens;
  EXPECT_DOUBLE_EQ(op(m.ops(b), "attention").bytes, op(make(ExecConfig{}).ops(b), "attention").bytes);
  // And it cannot read more than that: the residual is capped at the tokens read.
  b.residual_tokens = 2 * b.kv_read_tokens;
  EXPECT_DOUBLE_EQ(op(m.ops(b), "attention").bytes, op(make(ExecConfig{}).ops(b), "attention").bytes);
  // Full-precision KV has no residual to tell apart: the field is ignored.
  EXPECT_DOUBLE_EQ(op(make(ExecConfig{}).ops(b), "attention").bytes,
                   op(make(ExecConfig{}).ops(decode(16, 32768)), "attention").bytes);
}

TEST(CostPolicies, KiviDequantisesEveryQuantisedElementOnTheCudaCores) {
  ExecConfig bf16;
  ExecConfig int4;
  int4.kv_dtype = DType::kInt4;
  int4.kv_residual_tokens = 64;
  BatchShape b = decode(8, 4096);
  b.residual_tokens = 8.0 * 64;
  const double quant_elements = (8.0 * 4097 - 8.0 * 64) * 2 * 8 * 128;  // K and V, 8 KV heads x 128
  const double extra = op(make(int4).ops(b), "attention").flops - op(make(bf16).ops(b), "attention").flops;
  EXPECT_DOUBLE_EQ(extra, 2.0 * quant_elements);  // scale and zero point
  // A profile without an FP32 peak charges no dequantisation, and says so.
  hw::HardwareProfile no_fp32 = hw::load_hardware(kGpu);
  no_fp32.gpu.fp32_flops = 0;
  const OpCost plain = op(make(int4, no_fp32).ops(b, true), "attention");
  EXPECT_DOUBLE_EQ(plain.flops, op(make(bf16).ops(b), "attention").flops);
  EXPECT_NE(plain.explain.find("not charged"), std::string::npos) << plain.explain;
  // fp8 has no group scale and zero point: no dequantisation term either.
  ExecConfig fp8;
  fp8.kv_dtype = DType::kFp8;
  EXPECT_DOUBLE_EQ(op(make(fp8).ops(b), "attention").flops, op(make(bf16).ops(b), "attention").flops);
}

// --- Quest ---

// A decode batch as the simulator builds it under Quest: each sequence attends to min(c, budget) tokens in the
// sparse layers, its whole context's page bounds are scanned, and the dense layers read the rest.
BatchShape quest_decode(int64_t seqs, int64_t context, int64_t budget) {
  BatchShape b;
  for (int64_t i = 0; i < seqs; ++i) {
    const int64_t kept = std::min(context, budget);
    b.add_sequence(kept, 1, true, 0);
    b.page_scan_tokens += static_cast<double>(context);
    b.dense_extra_tokens += static_cast<double>(context - kept);
  }
  b.decode_only = true;
  return b;
}

TEST(CostPolicies, QuestReadsTheBudgetPlusPageBoundsAndTheDenseLayersReadAll) {
  ExecConfig c;
  c.page_selection = true;  // page_size 16, dense_layers 2 (Quest's defaults)
  const BatchShape q = quest_decode(8, 32768, 2048), full = decode(8, 32768);
  const std::vector<OpCost> quest_ops = make(c).ops(q);
  const double quest = op(quest_ops, "attention").bytes + op(quest_ops, "page_select").bytes - qo_bytes(8);
  const double dense = op(make(ExecConfig{}).ops(full), "attention").bytes - qo_bytes(8);
  // Per sequence, in token-layer units: 2 dense layers read the whole context; 30 read the budget plus the page
  // bounds (a page's per-channel key min and max are as large as one token's K and V: 32768 / 16 = 2048 tokens' worth)
  // and the top-k over the pages' fp32 scores (32 query heads x 8 bytes per page: 1/16 of a page's bounds).
  const double expected = (2.0 + 30.0 * (2048.0 + 32768.0 / 16 * (1.0 + 1.0 / 16)) / 32768) / 32;
  EXPECT_NEAR(quest / dense, expected, 0.01 * expected);
  EXPECT_LT(quest / dense, 0.2);
  EXPECT_LT(op(quest_ops, "attention").time_ns + op(quest_ops, "page_select").time_ns,
            op(make(ExecConfig{}).ops(full), "attention").time_ns);
  EXPECT_EQ(op(quest_ops, "page_select").bound, "memory");
}

TEST(CostPolicies, QuestWithEveryLayerDenseReadsWhatFullAttentionReads) {
  ExecConfig c;
  c.page_selection = true;
  c.dense_layers = 32;
  const BatchShape q = quest_decode(8, 32768, 2048), full = decode(8, 32768);
  const std::vector<OpCost> quest_ops = make(c).ops(q);
  const OpCost dense = op(make(ExecConfig{}).ops(full), "attention");
  EXPECT_DOUBLE_EQ(op(quest_ops, "attention").bytes, dense.bytes);
  EXPECT_DOUBLE_EQ(op(quest_ops, "attention").flops, dense.flops);
  EXPECT_DOUBLE_EQ(op(quest_ops, "page_select").bytes, 0.0);
  // More dense layers than the model has: capped, same answer.
  c.dense_layers = 40;
  EXPECT_DOUBLE_EQ(op(make(c).ops(q), "attention").bytes, dense.bytes);
  // No dense layers: attention reads only the budget, and every layer scans the bounds.
  c.dense_layers = 0;
  const std::vector<OpCost> sparse = make(c).ops(q);
  EXPECT_DOUBLE_EQ(op(sparse, "attention").bytes - qo_bytes(8), 8.0 * 2049 * kBf16TokenLayerBytes);
  EXPECT_DOUBLE_EQ(op(sparse, "page_select").bytes, 8.0 * 32768 / 16 * (2 * 8 * 128 * 2 + 32 * 8));
}

TEST(CostPolicies, QuestOffLeavesTheOpListAlone) {
  const std::vector<OpCost> ops = make(ExecConfig{}).ops(quest_decode(4, 8192, 1024));
  EXPECT_EQ(find(ops, "page_select"), nullptr);
  // The dense-layer extra is a Quest quantity: without page selection it is not charged.
  EXPECT_DOUBLE_EQ(op(ops, "attention").bytes - qo_bytes(4), 4.0 * 1025 * kBf16TokenLayerBytes);
}

// --- FlexGen: CPU attention ---

BatchShape cpu_decode(int64_t seqs, int64_t context) {
  BatchShape b;
  for (int64_t i = 0; i < seqs; ++i) b.add_cpu_sequence(context, 1, true);
  b.decode_only = true;
  return b;
}

double pcie_bytes(const std::vector<OpCost>& ops) {
  double sum = 0;
  for (const auto& o : ops) sum += o.pcie_bytes;
  return sum;
}

TEST(CostPolicies, CpuAttentionMovesOnlyQkvAndOutputRowsOverPcie) {
  ExecConfig c;
  c.cpu_attention = true;
  const CostModel m = make(c);
  const BatchShape shortctx = cpu_decode(16, 4096), longctx = cpu_decode(16, 32768);
  EXPECT_EQ(longctx.num_seqs, 16);
  EXPECT_EQ(longctx.num_tokens, 16);
  EXPECT_EQ(longctx.num_sampled, 16);
  EXPECT_DOUBLE_EQ(longctx.kv_read_tokens, 0.0);
  // q (32 x 128), k and v (8 x 128 each) down, the output (32 x 128) up, at bf16, per token per layer.
  const double rows = 16.0 * (4096 + 2 * 1024 + 4096) * 2;
  const std::vector<OpCost> ops = m.ops(longctx);
  EXPECT_DOUBLE_EQ(pcie_bytes(ops), rows);
  EXPECT_DOUBLE_EQ(pcie_bytes(m.ops(shortctx)), rows);  // independent of the context: no KV crosses
  ASSERT_NE(find(ops, "kv_fetch"), nullptr);            // runs for offload_tokens, none here
  EXPECT_DOUBLE_EQ(op(ops, "kv_fetch").bytes, 0.0);
  // The GPU's attention kernel sees none of it.
  EXPECT_DOUBLE_EQ(op(ops, "attention").bytes, 0.0);
  EXPECT_DOUBLE_EQ(op(ops, "attention").flops, 0.0);
  const OpCost cpu = op(ops, "cpu_attention");
  EXPECT_FALSE(cpu.overlapped);
  EXPECT_DOUBLE_EQ(cpu.bytes - cpu.pcie_bytes, 16.0 * 32769 * kBf16TokenLayerBytes);
  EXPECT_EQ(cpu.bound, "host_memory");
}

TEST(CostPolicies, CpuAttentionTimeScalesWithHostDramBandwidth) {
  ExecConfig c;
  c.cpu_attention = true;
  hw::HardwareProfile hw = hw::load_hardware(kGpu);
  const BatchShape b = cpu_decode(16, 32768);
  const double t1 = static_cast<double>(op(make(c, hw).ops(b), "cpu_attention").time_ns);
  hw.host.dram_bytes_per_s /= 2;
  const double t2 = static_cast<double>(op(make(c, hw).ops(b), "cpu_attention").time_ns);
  EXPECT_NEAR(t2 / t1, 2.0, 0.02);  // the fixed PCIe copies dilute it slightly
  // Host memory at the assumed efficiency bounds it from below.
  const double dram_ns = 16.0 * 32769 * kBf16TokenLayerBytes / (hw.host.dram_bytes_per_s * 0.75) * 1e9;
  EXPECT_GT(t2, dram_ns);
  // A profile without host cores cannot run it.
  hw.host.cpu_cores = 0;
  EXPECT_THROW(make(c, hw), Error);
}

TEST(CostPolicies, GpuAttentionIgnoresCpuAttendedSequences) {
  ExecConfig c;
  c.cpu_attention = true;
  const CostModel m = make(c);
  BatchShape gpu_only = decode(4, 8192);
  BatchShape mixed = gpu_only;
  for (int i = 0; i < 12; ++i) mixed.add_cpu_sequence(30000, 1, true);
  EXPECT_DOUBLE_EQ(op(m.ops(mixed), "attention").bytes, op(m.ops(gpu_only), "attention").bytes);
  EXPECT_DOUBLE_EQ(op(m.ops(mixed), "attention").flops, op(m.ops(gpu_only), "attention").flops);
  EXPECT_GT(op(m.ops(mixed), "cpu_attention").time_ns, 0);
  EXPECT_EQ(op(m.ops(gpu_only), "cpu_attention").time_ns, 0);
  // The linear layers still compute every token.
  EXPECT_DOUBLE_EQ(op(m.ops(mixed), "qkv_proj").flops, 4.0 * op(m.ops(gpu_only), "qkv_proj").flops);
}

// --- FlexGen: weight offload ---

TEST(CostPolicies, HalfTheWeightsOnHostMakeSmallDecodePcieBound) {
  ExecConfig c;
  c.weight_gpu_ratio = 0.5;
  const CostModel m = make(c);
  const BatchShape b = decode(1, 128);
  const std::vector<OpCost> ops = m.ops(b);
  const OpCost fetch = op(ops, "weight_fetch");
  EXPECT_TRUE(fetch.overlapped);
  const double layer_bytes = layer_weight_bytes_per_gpu(m.model(), DType::kBf16) / 32;
  EXPECT_NEAR(fetch.pcie_bytes, 0.5 * layer_bytes, 1.0);
  const double pcie_ns = 0.5 * layer_bytes / (m.hardware().pcie.h2d_bytes_per_s * hw::kPcieDatasheetEfficiency) * 1e9;
  EXPECT_NEAR(static_cast<double>(fetch.time_ns), pcie_ns, 0.01 * pcie_ns);
  // Each layer waits for its weights: the forward pass is the copy time per layer plus embedding and lm_head.
  const SimTime once = op(ops, "embedding").time_ns + op(ops, "lm_head").time_ns;
  EXPECT_EQ(m.forward_ns(b), fetch.time_ns * 32 + once);
  // About 20x slower than with all weights resident (3.3 TB/s HBM against ~55 GB/s PCIe for half of them).
  EXPECT_GT(m.forward_ns(b), 10 * make(ExecConfig{}).forward_ns(b));
}

TEST(CostPolicies, AllWeightsResidentFetchesNone) {
  const std::vector<OpCost> ops = make(ExecConfig{}).ops(decode(1, 128));
  EXPECT_EQ(find(ops, "weight_fetch"), nullptr);
  EXPECT_EQ(find(ops, "cpu_attention"), nullptr);
  EXPECT_EQ(find(ops, "kv_fetch"), nullptr);
  // None on the GPU: every layer streams all its weights.
  ExecConfig none;
  none.weight_gpu_ratio = 0.0;
  const CostModel m = make(none);
  EXPECT_NEAR(op(m.ops(decode(1, 128)), "weight_fetch").bytes * 32, layer_weight_bytes_per_gpu(m.model(), DType::kBf16),
              32.0);
  ExecConfig bad;
  bad.weight_gpu_ratio = 1.5;
  EXPECT_THROW(make(bad), Error);
}

TEST(CostPolicies, WeightAndKvCopiesQueueOnOneCopyStream) {
  // CPU attention sends the new KV of GPU-attended host-resident sequences (offload_tokens) to the host in kv_fetch;
  // with weight streaming, both transfers sit beside the layer's compute and a layer takes their sum.
  ExecConfig c;
  c.cpu_attention = true;
  c.weight_gpu_ratio = 0.8;
  const CostModel m = make(c);
  BatchShape b = decode(1, 128);
  b.offload_tokens = 200000;  // a large prefill's KV going to the host
  const std::vector<OpCost> ops = m.ops(b);
  const OpCost kv = op(ops, "kv_fetch"), w = op(ops, "weight_fetch");
  EXPECT_DOUBLE_EQ(kv.pcie_bytes, 200000 * kBf16TokenLayerBytes);
  const SimTime once = op(ops, "embedding").time_ns + op(ops, "lm_head").time_ns;
  EXPECT_EQ(m.forward_ns(b), (kv.time_ns + w.time_ns) * 32 + once);
}

TEST(CostPolicies, ExplainSaysWhereEachPolicyCostComesFrom) {
  ExecConfig c;
  c.kv_dtype = DType::kInt4;
  c.page_selection = true;
  c.cpu_attention = true;
  c.weight_gpu_ratio = 0.5;
  BatchShape b = quest_decode(4, 8192, 1024);
  b.residual_tokens = 4 * 32;
  b.add_cpu_sequence(20000, 1, true);
  const CostModel m = make(c);
  const std::vector<OpCost> ops = m.ops(b, true);
  for (const char* name : {"attention", "page_select", "cpu_attention", "kv_fetch", "weight_fetch"}) {
    EXPECT_FALSE(op(ops, name).explain.empty()) << name;
  }
  EXPECT_NE(op(ops, "attention").explain.find("residual"), std::string::npos) << op(ops, "attention").explain;
  EXPECT_NE(op(ops, "attention").explain.find("dense layers"), std::string::npos) << op(ops, "attention").explain;
  // explain changes only the text, never the costs.
  const std::vector<OpCost> quiet = m.ops(b);
  ASSERT_EQ(quiet.size(), ops.size());
  for (size_t i = 0; i < ops.size(); ++i) EXPECT_EQ(quiet[i].time_ns, ops[i].time_ns) << ops[i].name;
}

}  // namespace
}  // namespace kvsim::models
