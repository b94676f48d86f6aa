// The cost model with and without measured curves: decode cost is linear in context, and measured curves replace
// the roofline operator by operator when a profile carries them.
#include <gtest/gtest.h>

#include "hw/hardware_loader.h"
#include "hw/transfer.h"
#include "models/cost_model.h"
#include "models/model_loader.h"

namespace kvsim::models {
namespace {

BatchShape decode(int64_t seqs, int64_t context) {
  BatchShape b;
  for (int64_t i = 0; i < seqs; ++i) b.add_sequence(context, 1, true, 0);
  b.decode_only = true;
  return b;
}

OpCost find(const std::vector<OpCost>& ops, const std::string& name) {
  for (const auto& o : ops) {
    if (o.name == name) return o;
  }
  throw std::runtime_error("no op " + name);
}

hw::HardwareProfile measured_h100() {
  hw::HardwareProfile h = hw::load_hardware("h100-sxm5-80gb");
  h.source = "measured";
  hw::MeasuredProfile m;
  m.device = "NVIDIA H100 80GB HBM3 (synthetic test data)";
  // bf16 GEMM throughput of llama-3.1-8b's qkv_proj (n = 6144, k = 4096) at m = 1 and m = 4096.
  m.gemm = {{"bf16", 1, 6144, 4096, 10e12}, {"bf16", 4096, 6144, 4096, 640e12}};
  m.bandwidth["hbm/copy"] = hw::Curve{{1 << 20, 1 << 30}, {0.5e12, 1.4e12}, true};
  m.decode_attention[16] = hw::Curve{{1024, 65536}, {1.5e12, 2.4e12}, true};
  m.bandwidth["pcie/h2d_pinned"] = hw::Curve{{4096, 1 << 30}, {5e9, 50e9}, true};
  h.measured = m;
  return h;
}

TEST(CostModel, DecodeStepGrowsLinearlyWithContextAtFixedBatch) {
  const CostModel m(load_model("llama-3.1-8b"), hw::load_hardware("h100-sxm5-80gb"), ExecConfig{});
  const double t2 = static_cast<double>(m.forward_ns(decode(64, 2048)));
  const double t4 = static_cast<double>(m.forward_ns(decode(64, 4096)));
  const double t8 = static_cast<double>(m.forward_ns(decode(64, 8192)));
  EXPECT_GT(t4, t2);
  EXPECT_NEAR((t8 - t4) / (t4 - t2), 2.0, 0.02);
}

TEST(CostModel, MeasuredCurvesReplaceTheRooflineWhereTheyExist) {
  const CostModel roof(load_model("llama-3.1-8b"), hw::load_hardware("h100-sxm5-80gb"), ExecConfig{});
  const CostModel meas(load_model("llama-3.1-8b"), measured_h100(), ExecConfig{});
  const BatchShape b = decode(32, 8192);
  for (const auto& op : roof.ops(b)) EXPECT_EQ(op.source, "model") << op.name;
  const auto ops = meas.ops(b, true);
  // qkv_proj at m = 32: FLOP/s interpolated linearly in log2(m) between 10 (m = 1) and 640 TFLOP/s (m = 4096).
  const OpCost qkv = find(ops, "qkv_proj");
  EXPECT_EQ(qkv.source, "measured");
  const double rate = 10e12 + (640e12 - 10e12) * 5.0 / 12.0;
  EXPECT_NEAR(static_cast<double>(qkv.time_ns), qkv.flops / rate * 1e9, 2.0);
  EXPECT_NE(qkv.explain.find("measured bf16 GEMM"), std::string::npos) << qkv.explain;
  // o_proj (n = k = 4096) was never measured: the nearest measured shape's efficiency applies.
  EXPECT_EQ(find(ops, "o_proj").source, "measured");
  // The decode kernel's measured KV read rate.
  const OpCost attn = find(ops, "attention");
  EXPECT_EQ(attn.source, "measured");
  EXPECT_EQ(attn.bound, "memory");
  EXPECT_NE(attn.explain.find("measured decode kernel"), std::string::npos) << attn.explain;
  EXPECT_EQ(find(ops, "norm").source, "measured");
  EXPECT_NE(attn.explain.find("measured decode kernel at context 8193, batch 32"), std::string::npos) << attn.explain;
  // Without a decode curve for this block size, the nearest measured one is used.
  ExecConfig c32;
  c32.block_size = 32;
  EXPECT_EQ(find(CostModel(load_model("llama-3.1-8b"), measured_h100(), c32).ops(b), "attention").source, "measured");
  // An fp16 run has no measured GEMM: the operator model, and the explanation says why.
  ExecConfig fp16;
  fp16.dtype = fp16.weight_dtype = fp16.kv_dtype = DType::kFp16;
  const OpCost q16 = find(CostModel(load_model("llama-3.1-8b"), measured_h100(), fp16).ops(b, true), "qkv_proj");
  EXPECT_EQ(q16.source, "model");
  EXPECT_NE(q16.explain.find("no measured GEMM"), std::string::npos) << q16.explain;
}

// A batch of one sequence reads its KV far slower per byte than a full batch (few thread blocks in flight): with
// curves per batch, a batch-1 decode is priced from the batch-1 curve, a batch-64 one from the batch-64 curve.
TEST(CostModel, DecodeAttentionPricedFromTheCurveOfItsBatch) {
  hw::HardwareProfile h = measured_h100();
  h.measured->decode_attention.clear();
  h.measured->decode_attention[16][1] = hw::Curve{{1024, 65536}, {0.3e12, 0.6e12}, true};
  h.measured->decode_attention[16][64] = hw::Curve{{1024, 65536}, {1.5e12, 2.4e12}, true};
  const CostModel meas(load_model("llama-3.1-8b"), h, ExecConfig{});
  const OpCost one = find(meas.ops(decode(1, 65536), true), "attention");
  const OpCost many = find(meas.ops(decode(64, 65536), true), "attention");
  ASSERT_EQ(one.source, "measured");
  ASSERT_EQ(many.source, "measured");
  EXPECT_EQ(one.bound, "memory");
  EXPECT_NE(one.explain.find("batch 1"), std::string::npos) << one.explain;
  // Time per byte read: the batch-1 curve's rate at batch 1, the batch-64 curve's at 64 (the fixed floor is small).
  const double per_byte_one = static_cast<double>(one.time_ns) / one.bytes;
  const double per_byte_many = static_cast<double>(many.time_ns) / many.bytes;
  EXPECT_GT(per_byte_one, 3.0 * per_byte_many);
  EXPECT_NEAR(per_byte_one, 1e9 / 0.6e12, 0.05 * 1e9 / 0.6e12);
  EXPECT_NEAR(per_byte_many, 1e9 / 2.4e12, 0.05 * 1e9 / 2.4e12);
  // The same profile with only a large-batch curve for every batch would price batch 1 four times cheaper per byte.
  hw::HardwareProfile any = measured_h100();
  any.measured->decode_attention.clear();
  any.measured->decode_attention[16] = hw::Curve{{1024, 65536}, {1.5e12, 2.4e12}, true};
  const OpCost one_any =
      find(CostModel(load_model("llama-3.1-8b"), any, ExecConfig{}).ops(decode(1, 65536)), "attention");
  EXPECT_GT(one.time_ns, 3 * one_any.time_ns);
}

// The prefill compute term from kvsim's simple kernel is no production kernel's: --explain says so, with the reason.
TEST(CostModel, ExplainSaysWhenThePrefillKernelIsNotAProductionOne) {
  hw::HardwareProfile h = measured_h100();
  h.measured->prefill_attention = hw::Curve{{128, 8192}, {1e12, 2e12}, true};  // slow: the compute term dominates
  h.measured->prefill_attention_kernel = "kvsim-simple";
  h.measured->prefill_attention_note = "PyTorch unavailable: No module named 'torch'";
  BatchShape prefill;
  prefill.add_sequence(0, 4096, false, 0);
  const OpCost simple = find(CostModel(load_model("llama-3.1-8b"), h, ExecConfig{}).ops(prefill, true), "attention");
  EXPECT_EQ(simple.bound, "compute");
  EXPECT_NE(simple.explain.find("measured kvsim-simple prefill kernel (not a production kernel: PyTorch unavailable: "
                                "No module named 'torch')"),
            std::string::npos)
      << simple.explain;
  h.measured->prefill_attention_kernel = "sdpa-flash";
  h.measured->prefill_attention_note.clear();
  const OpCost flash = find(CostModel(load_model("llama-3.1-8b"), h, ExecConfig{}).ops(prefill, true), "attention");
  EXPECT_NE(flash.explain.find("measured sdpa-flash prefill kernel"), std::string::npos) << flash.explain;
  EXPECT_EQ(flash.explain.find("not a production kernel"), std::string::npos) << flash.explain;
}

TEST(Transfer, PcieCopiesUseTheMeasuredCurveOrTheDatasheet) {
  const hw::HardwareProfile datasheet = hw::load_hardware("h100-sxm5-80gb");
  const auto d = hw::pcie_copy_time(datasheet, hw::CopyDirection::kHostToDevice, 1 << 20, 10);
  EXPECT_EQ(d.source, "datasheet");
  const double per_copy_ns = (1 << 20) / (63e9 * hw::kPcieDatasheetEfficiency) * 1e9 + datasheet.pcie.latency_ns;
  EXPECT_NEAR(static_cast<double>(d.time_ns), 10 * per_copy_ns, 10.0);
  const auto m = hw::pcie_copy_time(measured_h100(), hw::CopyDirection::kHostToDevice, 1 << 30, 1);
  EXPECT_EQ(m.source, "measured");
  EXPECT_NEAR(static_cast<double>(m.time_ns), (1 << 30) / 50e9 * 1e9, 2.0);
  // d2h was not measured: the datasheet applies.
  EXPECT_EQ(hw::pcie_copy_time(measured_h100(), hw::CopyDirection::kDeviceToHost, 1 << 20, 1).source, "datasheet");
}

// InfiniGen-sized gathers (256-byte per-head rows): one copy per row pays the per-call cost thousands of times, so
// gathering on the CPU and sending one bulk copy is far faster; a measured gather curve replaces the model.
TEST(Transfer, GatherMethodsOrderAsTheirMechanismsSay) {
  const hw::HardwareProfile h = hw::load_hardware("rtx-a6000-48gb");  // InfiniGen's testbed (PCIe 3.0 x16)
  const auto per_row = hw::gather_time(h, hw::GatherMethod::kPerRow, 256, 10000);
  const auto staged = hw::gather_time(h, hw::GatherMethod::kCpuStaged, 256, 10000);
  const auto zero = hw::gather_time(h, hw::GatherMethod::kZeroCopy, 256, 10000);
  EXPECT_EQ(per_row.source, "datasheet");
  EXPECT_GT(per_row.time_ns, 10 * staged.time_ns);
  EXPECT_GT(zero.time_ns, hw::pcie_copy_time(h, hw::CopyDirection::kHostToDevice, 256 * 10000, 1).time_ns);
  hw::HardwareProfile m = h;
  m.measured = hw::MeasuredProfile{};
  m.measured->gather["cpu_staged/token_head"] = hw::Curve{{1e5, 1e8}, {2e9, 8e9}, true};
  const auto measured = hw::gather_time(m, hw::GatherMethod::kCpuStaged, 256, 10000);
  EXPECT_EQ(measured.source, "measured");
  EXPECT_EQ(measured.time_ns, transfer_time_ns(2'560'000, m.measured->gather["cpu_staged/token_head"].at(2.56e6)));
}

// cpu_staged is measured with one host thread and with all of them; the engine gathers with its whole pool, so the
// curve of the largest thread count applies (not the first in name order: "threads16" sorts before "threads2").
TEST(Transfer, CpuStagedGatherUsesTheLargestThreadCount) {
  hw::HardwareProfile m = hw::load_hardware("rtx-a6000-48gb");
  m.measured = hw::MeasuredProfile{};
  m.measured->gather["cpu_staged/token_head"] = hw::Curve{{1e5, 1e8}, {1e9, 1e9}, true};  // older form: unused here
  m.measured->gather["cpu_staged/token_head/threads1"] = hw::Curve{{1e5, 1e8}, {2e9, 2e9}, true};
  m.measured->gather["cpu_staged/token_head/threads2"] = hw::Curve{{1e5, 1e8}, {4e9, 4e9}, true};
  m.measured->gather["cpu_staged/token_head/threads16"] = hw::Curve{{1e5, 1e8}, {8e9, 8e9}, true};
  m.measured->gather["cpu_staged/block/threads1"] = hw::Curve{{1e5, 1e8}, {3e9, 3e9}, true};
  const auto staged = hw::gather_time(m, hw::GatherMethod::kCpuStaged, 256, 10000);
  EXPECT_EQ(staged.source, "measured");
  EXPECT_EQ(staged.time_ns, transfer_time_ns(2'560'000, 8e9));
  // One thread count measured: that one.
  EXPECT_EQ(hw::gather_time(m, hw::GatherMethod::kCpuStaged, 32768, 100).time_ns, transfer_time_ns(3'276'800, 3e9));
  // A profile from before the split: the plain key.
  m.measured->gather.erase("cpu_staged/token_head/threads1");
  m.measured->gather.erase("cpu_staged/token_head/threads2");
  m.measured->gather.erase("cpu_staged/token_head/threads16");
  EXPECT_EQ(hw::gather_time(m, hw::GatherMethod::kCpuStaged, 256, 10000).time_ns, transfer_time_ns(2'560'000, 1e9));
  // No cpu_staged curve for this granularity (token_layer): the model, not another granularity's curve.
  EXPECT_EQ(hw::gather_time(m, hw::GatherMethod::kCpuStaged, 4096, 100).source, "datasheet");
}

}  // namespace
}  // namespace kvsim::models
