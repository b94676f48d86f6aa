// FlexGen (Sheng et al., ICML 2023) as kvsim models it: weights, KV (by layer) and activations placed by percentages
// on the GPU, host memory and disk; CPU attention for the KV layers off the GPU; the block schedule of several GPU
// batches per layer; every transfer channel overlapped with compute, a layer taking the longest of them (sec. 4.3).
#include <gtest/gtest.h>

#include <cmath>

#include "models/cost_model.h"
#include "models/flexgen_placement.h"
#include "models/memory_footprint.h"
#include "sim/run.h"
#include "sim/serving/memory_plan.h"
#include "tests/sim/test_util.h"

namespace kvsim::sim {
namespace {

using testing::error_of;
using testing::scenario_from;

// 8 requests of 4096 + 64 tokens at once on an 8B model: everything fits on the GPU, so each placement is a choice.
const char* const kBatch = R"(
model: llama-3.1-8b
hardware: h100-sxm5-80gb
check_invariants: true
engine: {max_model_len: 8192}
cache: {policy: flexgen, disk_kv_bytes: 1TiB}
workload: {requests: 8, arrival: {process: all-at-once}, prompt_tokens: 4096, output_tokens: 64}
)";

double num(const RunResult& r, const char* key) { return r.summary[key].get<double>(); }
uint64_t bytes(const RunResult& r, const char* key) { return r.summary[key].get<uint64_t>(); }

// The KV splits by layer: kv_percent [g, c, d] puts g of every block's bytes in HBM, c in host memory and d on disk,
// and the peaks follow those shares of the same blocks.
TEST(FlexGen, KvPercentSplitsEveryBlockAmongTheTiers) {
  const RunResult r = run_scenario(scenario_from(kBatch, {"cache.kv_percent=[25, 50, 25]"}), "");
  ASSERT_EQ(r.summary["completed"].get<int64_t>(), 8);
  const double kv = static_cast<double>(bytes(r, "peak_kv_hbm_bytes") + bytes(r, "peak_kv_host_bytes") +
                                        bytes(r, "peak_kv_disk_bytes"));
  EXPECT_NEAR(static_cast<double>(bytes(r, "peak_kv_hbm_bytes")) / kv, 0.25, 1e-6);
  EXPECT_NEAR(static_cast<double>(bytes(r, "peak_kv_host_bytes")) / kv, 0.50, 1e-6);
  EXPECT_NEAR(static_cast<double>(bytes(r, "peak_kv_disk_bytes")) / kv, 0.25, 1e-6);
  // 8 sequences x 4160 tokens (oracle layout: prompt + output reserved) in blocks of 16.
  const uint64_t all = 8ull * (4160 / 16) * r.plan.block_bytes;
  EXPECT_NEAR(kv, static_cast<double>(all), 8.0);
  // Only the off-GPU layers' new KV crosses PCIe: 3/4 of every token's KV, once.
  const uint64_t token_bytes = r.plan.token_layer_bytes * 32;
  EXPECT_NEAR(static_cast<double>(bytes(r, "pcie_d2h_bytes")), 0.75 * 8 * 4159 * static_cast<double>(token_bytes),
              0.001 * 8 * 4159 * static_cast<double>(token_bytes));
}

// The pool holds as many blocks as its tightest tier allows for that tier's share of each block.
TEST(FlexGen, CapacityIsSetByTheTightestTier) {
  const Scenario host_bound = scenario_from(kBatch, {"cache.kv_percent=[50, 50, 0]", "cache.host_kv_bytes=8GiB"});
  const MemoryPlan p = plan_memory(host_bound);
  EXPECT_EQ(p.num_gpu_blocks, static_cast<int64_t>((8ull << 30) / (p.block_bytes / 2)));
  // Twice the host share needs twice the host bytes per block: half the blocks.
  const MemoryPlan all_host = plan_memory(scenario_from(kBatch, {"cache.host_kv_bytes=8GiB"}));
  EXPECT_NEAR(static_cast<double>(all_host.num_gpu_blocks), static_cast<double>(p.num_gpu_blocks) / 2, 1.0);
  // A disk tier that cannot hold one max_model_len sequence says so.
  EXPECT_NE(error_of([] {
              plan_memory(scenario_from(kBatch, {"cache.kv_percent=[0, 0, 100]", "cache.disk_kv_bytes=512MiB"}));
            }).find("max_model_len"),
            std::string::npos);
}

// Keeping KV layers on the GPU takes their attention off the CPU: with host DRAM the bottleneck of decode, a larger
// GPU share makes decode faster (8,000-token prompts, the engine's Python time per layer object set aside).
TEST(FlexGen, KvLayersOnTheGpuRelieveTheCpu) {
  const std::vector<std::string> base = {"workload.prompt_tokens=8000", "engine.cpu_op_us=0"};
  std::vector<std::string> split = base;
  split.push_back("cache.kv_percent=[50, 50, 0]");
  const double cpu_only = num(run_scenario(scenario_from(kBatch, base), ""), "mean_tpot_ms");
  const double half = num(run_scenario(scenario_from(kBatch, split), ""), "mean_tpot_ms");
  EXPECT_LT(half, 0.8 * cpu_only);
}

// Disk-resident KV layers are read every decode step: the disk's rate sets the step's time once it is the longest
// channel, and a slower disk slows decode in proportion.
TEST(FlexGen, DiskKvReadsSetTheStepTimeWhenTheDiskIsTheLongestChannel) {
  const std::vector<std::string> disk = {"cache.kv_percent=[0, 0, 100]", "cache.disk_bytes_per_s=2e9"};
  const RunResult fast = run_scenario(scenario_from(kBatch, disk), "");
  EXPECT_EQ(bytes(fast, "peak_kv_host_bytes"), 0u);
  EXPECT_GT(bytes(fast, "peak_kv_disk_bytes"), 0u);
  std::vector<std::string> slower = disk;
  slower.back() = "cache.disk_bytes_per_s=1e9";
  const RunResult slow = run_scenario(scenario_from(kBatch, slower), "");
  EXPECT_NEAR(num(slow, "mean_tpot_ms") / num(fast, "mean_tpot_ms"), 2.0, 0.1);
  // With the KV in host memory instead the disk plays no part.
  const RunResult host = run_scenario(scenario_from(kBatch), "");
  EXPECT_LT(num(host, "mean_tpot_ms"), 0.5 * num(fast, "mean_tpot_ms"));
}

// Weights off the GPU stream every forward pass, the disk share first from disk: halving the disk rate slows a
// pass whose disk channel is the longest, and PCIe carries all the off-GPU weights either way.
TEST(FlexGen, WeightsOnDiskStreamThroughHostMemory) {
  const std::vector<std::string> w = {"cache.weights_percent=[0, 50, 50]", "cache.disk_bytes_per_s=1e9"};
  const RunResult r = run_scenario(scenario_from(kBatch, w), "");
  ASSERT_EQ(r.summary["completed"].get<int64_t>(), 8);
  // FlexGen homes whole tensors (models/flexgen_placement.h): the disk holds the layers' tensors whose midpoints fall
  // in the first half, and every layer tensor and both embedding objects stream.
  const Scenario s = scenario_from(kBatch, w);
  const models::FlexGenWeightPlacement fp = models::flexgen_weight_placement(s.model, 0.0, 0.5, 0.5);
  const double layers = models::layer_weight_bytes_per_gpu(s.model, s.weight_dtype);
  EXPECT_NEAR(static_cast<double>(r.plan.disk_weights_bytes), fp.layer_disk * layers, 1.0);
  EXPECT_GT(fp.layer_disk, 0.3);
  EXPECT_LT(fp.layer_disk, 0.7);
  EXPECT_NEAR(static_cast<double>(r.plan.streamed_weights_bytes), layers + fp.embed_off_gpu_elems * 2.0, 1.0);
  EXPECT_GE(bytes(r, "pcie_h2d_bytes"), r.summary["num_iterations"].get<uint64_t>() * r.plan.streamed_weights_bytes);
  std::vector<std::string> slower = w;
  slower.back() = "cache.disk_bytes_per_s=0.5e9";
  EXPECT_NEAR(num(run_scenario(scenario_from(kBatch, slower), ""), "mean_tpot_ms") / num(r, "mean_tpot_ms"), 2.0, 0.1);
  // All on the host: no disk channel, faster still.
  EXPECT_LT(num(run_scenario(scenario_from(kBatch, {"cache.weights_percent=[0, 100, 0]"}), ""), "mean_tpot_ms"),
            num(r, "mean_tpot_ms"));
}

// Activations kept in host memory cross PCIe each way in every layer: one hidden vector per token per layer.
TEST(FlexGen, OffloadedActivationsCrossPcieEveryLayer) {
  const RunResult gpu = run_scenario(scenario_from(kBatch), "");
  const RunResult cpu = run_scenario(scenario_from(kBatch, {"cache.activations_percent=[0, 100, 0]"}), "");
  // Tokens computed: 8 prompts of 4096, then 63 decode steps of 8 (the prefill produced the first token).
  const uint64_t tokens = 8ull * 4096 + 8ull * 63;
  const uint64_t per_token = 4096ull * 2 * 32;  // hidden 4096 x bf16 x 32 layers
  EXPECT_EQ(bytes(cpu, "pcie_h2d_bytes") - bytes(gpu, "pcie_h2d_bytes"), tokens * per_token);
  EXPECT_EQ(bytes(cpu, "pcie_d2h_bytes") - bytes(gpu, "pcie_d2h_bytes"), tokens * per_token);
}

// The block schedule: num_gpu_batches GPU batches go through a layer per weight fetch. With the weights streamed,
// 4 GPU batches of 2 fetch each layer once per step where 4 blocks of 2 (the same 8 requests in four static batches)
// fetch it four times; and a GPU batch's prefill transient is that of gpu_batch_size sequences only.
TEST(FlexGen, TheBlockScheduleFetchesWeightsOncePerBlock) {
  const std::vector<std::string> streamed = {"cache.weights_percent=[0, 100, 0]",
                                             "engine.max_model_len=4160"};
  std::vector<std::string> block = streamed;
  block.insert(block.end(), {"cache.gpu_batch_size=2", "cache.num_gpu_batches=4"});
  std::vector<std::string> small = streamed;
  small.push_back("cache.gpu_batch_size=2");
  const Scenario sb = scenario_from(kBatch, block), ss = scenario_from(kBatch, small);
  EXPECT_EQ(sb.engine.max_num_seqs, 8);
  EXPECT_EQ(ss.engine.max_num_seqs, 2);
  const RunResult rb = run_scenario(sb, ""), rs = run_scenario(ss, "");
  ASSERT_EQ(rb.summary["completed"].get<int64_t>(), 8);
  ASSERT_EQ(rs.summary["completed"].get<int64_t>(), 8);
  EXPECT_EQ(rs.summary["num_iterations"].get<uint64_t>(), 4 * rb.summary["num_iterations"].get<uint64_t>());
  EXPECT_LT(num(rb, "duration"), 0.5 * num(rs, "duration"));
  // The prefill transient: one GPU batch of 2 in both, a quarter of the whole batch's without the schedule.
  const auto transient = [&](int64_t rows) {
    return static_cast<double>(
        models::prefill_transient_bytes(sb.model, rows, 4096, sb.engine.prefill_score_bytes, sb.dtype, 1));
  };
  EXPECT_DOUBLE_EQ(transient(8), 4.0 * transient(2));
}

// Under the block schedule the compute runs once per GPU batch: a layer's weights are read from HBM by each of them,
// so a decode step that is compute-side bound costs more in 4 GPU batches than in one.
TEST(FlexGen, EachGpuBatchRereadsTheLayerWeights) {
  const models::ModelSpec m = testing::scenario_from(kBatch).model;
  const hw::HardwareProfile h = testing::scenario_from(kBatch).hardware;
  models::ExecConfig one;
  models::ExecConfig four = one;
  four.gpu_batch_size = 2;
  models::BatchShape b;
  for (int i = 0; i < 8; ++i) b.add_sequence(1024, 1, true, 0);
  b.decode_only = true;
  const SimTime t1 = models::CostModel(m, h, one).forward_ns(b), t4 = models::CostModel(m, h, four).forward_ns(b);
  EXPECT_GT(t4, 3 * t1);  // weight reads dominate a decode step of 8: four GPU batches read them four times
  EXPECT_LT(t4, 5 * t1);
}

// A layer takes the longest of its compute and its channels (FlexGen sec. 4.3): activations loaded on the H2D engine
// and stored on the D2H engine overlap each other instead of adding up.
TEST(FlexGen, ChannelsOverlapEachOtherAndCompute) {
  const Scenario s = scenario_from(kBatch);
  models::ExecConfig c;
  c.act_offload_ratio = 1.0;
  const models::CostModel cost(s.model, s.hardware, c);
  models::BatchShape b;
  for (int i = 0; i < 64; ++i) b.add_sequence(0, 512, true, 0);
  const auto ops = cost.ops(b);
  SimTime load = 0, store = 0, compute = 0, once = 0;
  for (const auto& op : ops) {
    if (op.name == "act_load")
      load = op.time_ns;
    else if (op.name == "act_store")
      store = op.time_ns;
    else if (op.name == "embedding" || op.name == "lm_head")
      once += op.time_ns;
    else if (!op.overlapped)
      compute += op.time_ns;
  }
  ASSERT_GT(load, 0);
  ASSERT_GT(store, 0);
  EXPECT_EQ(cost.forward_ns(b), std::max({compute, load, store}) * s.model.num_layers + once);
}

TEST(FlexGen, NonsensicalPlacementsNameTheirKeys) {
  const auto err = [](std::vector<std::string> o) { return error_of([&] { scenario_from(kBatch, o); }); };
  EXPECT_NE(
      err({"cache.kv_percent=[50, 40, 0]"}).find("cache.kv_percent: the percentages [gpu, cpu, disk] must sum to 100"),
      std::string::npos);
  EXPECT_NE(err({"cache.weights_percent=[50, 50]"}).find("cache.weights_percent: expected three percentages"),
            std::string::npos);
  EXPECT_NE(err({"cache.activations_percent=[120, -20, 0]"}).find("cache.activations_percent"), std::string::npos);
  EXPECT_NE(err({"cache.kv_percent=[100, 0, 0]"}).find("cache.kv_percent: attention on the CPU needs KV layers"),
            std::string::npos);
  EXPECT_NE(err({"cache.kv_percent=[0, 0, 100]", "cache.disk_kv_bytes=0"}).find("cache.disk_kv_bytes"),
            std::string::npos);
  EXPECT_NE(err({"cache.policy=vllm", "cache.kv_percent=[50, 50, 0]"}).find("cache.kv_percent: KV layers kept"),
            std::string::npos);
  EXPECT_NE(err({"cache.policy=vllm", "cache.weights_percent=[50, 50, 0]"}).find("cache.weights_percent"),
            std::string::npos);
  EXPECT_NE(err({"engine.version=v0", "cache.gpu_batch_size=4"}).find("cache.gpu_batch_size: FlexGen's block schedule"),
            std::string::npos);
  EXPECT_NE(err({"cache.num_gpu_batches=4"}).find("cache.num_gpu_batches needs cache.gpu_batch_size"),
            std::string::npos);
  EXPECT_NE(err({"engine.max_num_seqs=16", "cache.gpu_batch_size=4", "cache.num_gpu_batches=2"})
                .find("engine.max_num_seqs is 16"),
            std::string::npos);
}

// The resolved scenario carries the placement, so a run folder reproduces it.
TEST(FlexGen, ResolvedScenarioRoundTripsThePlacement) {
  const Scenario s = scenario_from(
      kBatch, {"cache.kv_percent=[25, 50, 25]", "cache.weights_percent=[35, 40, 25]",
               "cache.activations_percent=[0, 100, 0]", "cache.gpu_batch_size=4", "cache.num_gpu_batches=2"});
  const Scenario back = parse_scenario(scenario_to_yaml(s), "resolved", {});
  EXPECT_EQ(back.cache.kv_share, s.cache.kv_share);
  EXPECT_EQ(back.cache.weights_share, s.cache.weights_share);
  EXPECT_EQ(back.cache.activations_share, s.cache.activations_share);
  EXPECT_EQ(back.cache.gpu_batch_size, 4);
  EXPECT_EQ(back.cache.num_gpu_batches, 2);
  EXPECT_EQ(back.engine.max_num_seqs, 8);
}

}  // namespace
}  // namespace kvsim::sim
