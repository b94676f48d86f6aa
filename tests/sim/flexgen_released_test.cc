// FlexGen as its released code runs (FlexLLMGen flex_opt.py): whole tensors homed by the midpoint rule, CPU attention
// at the host's fitted rate, and a loop that synchronises after every GPU batch.
#include <gtest/gtest.h>

#include "models/cost_model.h"
#include "models/flexgen_placement.h"
#include "models/model_loader.h"
#include "sim/run.h"
#include "sim/serving/memory_plan.h"
#include "tests/sim/test_util.h"

namespace kvsim::sim {
namespace {

using testing::scenario_from;

// OPT-30B: attention q, k, v, out (h x h each), MLP fc1, fc2 (h x 4h each): a layer is 12 h^2, plus biases and norms.
TEST(FlexGenReleased, WholeTensorsGoWhereTheirMidpointsFall) {
  const models::ModelSpec m = models::load_model("opt-30b");
  const double h = static_cast<double>(m.hidden_size);
  // 20 % on the GPU (FlexGen Table 2): only the attention's out projection (midpoint 7/8 of the attention object),
  // its bias and the norms at the objects' ends; fc2's midpoint (3/4) stays below 80 %.
  const models::FlexGenWeightPlacement p20 = models::flexgen_weight_placement(m, 0.2, 0.8, 0.0);
  EXPECT_NEAR(p20.layer_gpu, 1.0 / 12.0, 1e-3);
  EXPECT_EQ(p20.layer_disk, 0.0);
  // Both token tables (OutputEmbed holds its own copy) stay in host memory; the learned position table, at the end
  // of the input object, goes to the GPU.
  EXPECT_DOUBLE_EQ(p20.embed_gpu_elems, static_cast<double>(m.max_position_embeddings + 2) * h);
  EXPECT_DOUBLE_EQ(p20.embed_off_gpu_elems, 2.0 * static_cast<double>(m.vocab_size) * h + 2.0 * h);
  // 30 %: fc2 (midpoint 3/4 >= 70 %) joins out_proj: 5 of 12.
  EXPECT_NEAR(models::flexgen_weight_placement(m, 0.3, 0.7, 0.0).layer_gpu, 5.0 / 12.0, 1e-3);
  // All on the GPU, or all on the host.
  const models::FlexGenWeightPlacement all = models::flexgen_weight_placement(m, 1.0, 0.0, 0.0);
  EXPECT_EQ(all.layer_gpu, 1.0);
  EXPECT_EQ(all.embed_off_gpu_elems, 0.0);
  EXPECT_EQ(models::flexgen_weight_placement(m, 0.0, 1.0, 0.0).layer_gpu, 0.0);
  // Disk first: at [0, 50, 50] q and k (midpoints 1/8, 3/8) and fc1 (1/4) are on disk: (2 + 4) of 12.
  EXPECT_NEAR(models::flexgen_weight_placement(m, 0.0, 0.5, 0.5).layer_disk, 6.0 / 12.0, 1e-3);
}

const char* const kTable2 = R"(
model: opt-30b
hardware: t4-16gb
dtype: fp16
engine: {max_model_len: 544, gpu_memory_utilization: 0.98}
cache:
  policy: flexgen
  weights_percent: [20, 80, 0]
  kv_percent: [0, 100, 0]
  activations_percent: [0, 100, 0]
  gpu_batch_size: 48
  num_gpu_batches: 3
  host_kv_bytes: 150GB
workload: {requests: 144, arrival: {process: all-at-once}, prompt_tokens: 512, output_tokens: 32}
)";

// FlexGen Table 2's setting: with 1/12 of each layer on the T4 the whole block of 144 forms; with 20 % of every
// layer there (the percentages taken as shares) the weights alone would take more than the placement leaves.
TEST(FlexGenReleased, TableTwoFormsItsWholeBlock) {
  const Scenario s = scenario_from(kTable2);
  const MemoryPlan p = plan_memory(s);
  const double layers = models::layer_weight_bytes_per_gpu(s.model, s.weight_dtype);
  EXPECT_LT(static_cast<double>(p.weights_bytes), 0.2 * layers);
  const RunResult r = run_scenario(s, "");
  EXPECT_EQ(r.summary["completed"].get<int64_t>(), 144);
  EXPECT_EQ(r.summary["mean_static_batch"].get<double>(), 144.0);
}

// CPU attention runs at the profile's host.attention_flops_per_s (the T4 host's fitted 12.3 GFLOP/s) where it is
// set, and at the cores' peak otherwise.
TEST(FlexGenReleased, CpuAttentionRunsAtTheHostsFittedRate) {
  const Scenario s = scenario_from(kTable2);
  models::ExecConfig c = exec_config(s);
  models::BatchShape b;
  for (int i = 0; i < 48; ++i) b.add_sequence(512, 1, true, 0);
  b.decode_only = true;
  // What the replica fills in for sequences whose KV lives in host memory: one query over 513 keys each.
  b.cpu_attn_tokens = 48;
  b.cpu_attn_pairs = 48.0 * 513;
  b.cpu_kv_read_tokens = 48.0 * 513;
  auto cpu_attention_ns = [&](const hw::HardwareProfile& h) {
    for (const models::OpCost& op : models::CostModel(s.model, h, c).ops(b)) {
      if (op.name == "cpu_attention") return op;
    }
    return models::OpCost{};
  };
  const models::OpCost fitted = cpu_attention_ns(s.hardware);
  ASSERT_EQ(fitted.bound, "host_compute");
  ASSERT_GT(fitted.flops, 0.0);
  EXPECT_NEAR(static_cast<double>(fitted.time_ns) * 1e-9, fitted.flops / 12.3e9, 1e-3);
  hw::HardwareProfile peak = s.hardware;
  peak.host.attention_flops_per_s = 0;
  const models::OpCost roofline = cpu_attention_ns(peak);
  EXPECT_NE(roofline.bound, "host_compute");  // at the cores' peak the host DRAM or PCIe bounds it
  EXPECT_LT(roofline.time_ns, fitted.time_ns / 5);
}

// The released loop issues the next layer's weight copy with its first GPU batch and synchronises after each one, so
// the weight copy hides behind one GPU batch's compute: a step over three GPU batches takes max(one batch, copy) + the
// other two, not max(three batches, copy).
TEST(FlexGenReleased, WeightCopiesOverlapOneGpuBatch) {
  const Scenario s = scenario_from(kTable2);
  const models::ExecConfig c = exec_config(s);
  ASSERT_TRUE(c.overlap_io);
  ASSERT_TRUE(c.sync_per_layer);
  models::BatchShape b;
  for (int i = 0; i < 144; ++i) b.add_sequence(512, 1, true, 0);
  b.decode_only = true;
  // What the replica fills in: every sequence attended on the CPU over its 513 keys.
  b.cpu_attn_tokens = 144;
  b.cpu_attn_pairs = b.cpu_kv_read_tokens = 144.0 * 513;
  const models::CostModel cost(s.model, s.hardware, c);
  const models::CostModel::LayerTimes t = cost.layer_times(b);
  ASSERT_EQ(t.parts, 3);
  ASSERT_GT(t.weights, t.compute / 3);          // the weight copy outlasts one GPU batch
  ASSERT_LT(t.weights, t.compute);              // but not the block
  ASSERT_LT(t.h2d - t.weights, t.compute / 3);  // the activations' copies hide behind their GPU batch
  models::ExecConfig free_running = c;
  free_running.sync_per_layer = false;
  const SimTime synced = cost.pytorch_iteration_ns(b);
  const SimTime unsynced = models::CostModel(s.model, s.hardware, free_running).pytorch_iteration_ns(b);
  const double relaunch = 2.0 * c.cpu.launch_us * 1e3 * static_cast<double>(s.model.num_layers);
  // Free-running, the block hides the weight copy entirely; synchronised, it shows by weights - (one batch + its own
  // activation loads), per layer.
  const double lost = static_cast<double>(t.weights + (t.h2d - t.weights) / 3 - t.compute / 3) * s.model.num_layers;
  EXPECT_NEAR(static_cast<double>(synced - unsynced), lost + relaunch, 0.01 * lost);
}

// Copies made per GPU batch (activations, KV) overlap their own GPU batch whether or not the loop synchronises: with
// no weights streamed, synchronising costs only the relaunch.
TEST(FlexGenReleased, PerBatchCopiesOverlapTheirOwnGpuBatch) {
  const Scenario s = scenario_from(R"(
model: opt-6.7b
hardware: t4-16gb
dtype: fp16
engine: {max_model_len: 544}
cache:
  policy: flexgen
  weights_percent: [100, 0, 0]
  kv_percent: [100, 0, 0]
  compute_attention_on: gpu
  placement: gpu
  activations_percent: [0, 100, 0]
  gpu_batch_size: 4
  num_gpu_batches: 3
workload: {requests: 12, arrival: {process: all-at-once}, prompt_tokens: 512, output_tokens: 32}
)");
  const models::ExecConfig c = exec_config(s);
  ASSERT_TRUE(c.sync_per_layer);
  models::BatchShape b;
  for (int i = 0; i < 12; ++i) b.add_sequence(0, 512, true, 0);
  const models::CostModel cost(s.model, s.hardware, c);
  const models::CostModel::LayerTimes t = cost.layer_times(b);
  ASSERT_EQ(t.parts, 3);
  ASSERT_EQ(t.weights, 0);
  ASSERT_GT(t.h2d + t.d2h, 0);
  models::ExecConfig free_running = c;
  free_running.sync_per_layer = false;
  const SimTime gap =
      cost.pytorch_iteration_ns(b) - models::CostModel(s.model, s.hardware, free_running).pytorch_iteration_ns(b);
  const double relaunch = 2.0 * c.cpu.launch_us * 1e3 * static_cast<double>(s.model.num_layers);
  EXPECT_NEAR(static_cast<double>(gap), relaunch, 10.0 * static_cast<double>(s.model.num_layers));
}

}  // namespace
}  // namespace kvsim::sim
