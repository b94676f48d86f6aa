// KV-cache capacity against vLLM's own start-up logs: one set of constants (models/memory_footprint.h) must give
// each measured block count within 3 %.
#include <cmath>
#include <string>

#include <gtest/gtest.h>

#include "sim/serving/memory_plan.h"
#include "tests/sim/test_util.h"

namespace kvsim::sim {
namespace {

using testing::scenario_from;

// The engine settings of the measured H100 runs (../shared/data/measured-vllm-h100/README.md, Setup).
std::string h100_run(const std::string& model, const std::string& dtype, int tp) {
  return "model: " + model + "\nhardware: h100-sxm5-80gb\ndtype: " + dtype +
         "\ncluster: {tensor_parallel: " + std::to_string(tp) +
         "}\nengine: {version: v1, gpu_memory_utilization: 0.9, max_num_batched_tokens: 2048, max_num_seqs: 128, "
         "max_model_len: 4096}\ncache: {block_size: 16}\n"
         "workload: {requests: 4, prompt_tokens: 100, output_tokens: 10}\n";
}

void expect_within_3_percent(const MemoryPlan& p, int64_t measured_blocks) {
  EXPECT_NEAR(static_cast<double>(p.num_gpu_blocks), static_cast<double>(measured_blocks),
              0.03 * static_cast<double>(measured_blocks))
      << "predicted " << p.num_gpu_blocks << " blocks, vLLM logged " << measured_blocks;
}

// runs.csv, num_gpu_blocks of every Llama-2-7b row: 7,462 blocks (119,392 tokens), vLLM V1 (~0.15), fp16, tp=1.
TEST(KvCapacity, Llama2_7bOnH100MatchesMeasuredVllmBlocks) {
  const MemoryPlan p = plan_memory(scenario_from(h100_run("llama-2-7b", "fp16", 1)));
  EXPECT_EQ(p.block_bytes, 16u * 32u * 2u * 4096u * 2u);  // 8 MiB: 16 tokens x 32 layers x K and V x 4096 x fp16
  expect_within_3_percent(p, 7462);
}

// runs.csv, num_gpu_blocks of every CodeLlama-34b-Instruct row: 26,602 blocks, bf16, tp=2 (per-GPU pool).
TEST(KvCapacity, CodeLlama34bTp2OnH100MatchesMeasuredVllmBlocks) {
  const MemoryPlan p = plan_memory(scenario_from(h100_run("codellama-34b", "bf16", 2)));
  EXPECT_EQ(p.block_bytes, 16u * 48u * 2u * 4u * 128u * 2u);  // 4 of 8 KV heads per GPU
  expect_within_3_percent(p, 26602);
}

// vLLM 0.19 start-up log, Llama-3.1-8B bf16 on one RTX 4090 (driver total 25,250,627,584 B), utilisation 0.9,
// max_num_seqs 256, max_num_batched_tokens 2048, max_model_len 32768, CUDA graphs on: 2,588 blocks of 16 tokens
// (41,408 tokens). The sampler's fp32 logits over 256 x 128,256 dominate the activation peak here.
TEST(KvCapacity, Llama31_8bOnRtx4090MatchesVllm019Log) {
  const MemoryPlan p = plan_memory(scenario_from(R"(
model: llama-3.1-8b
hardware: rtx-4090-24gb
engine: {version: v1, gpu_memory_utilization: 0.9, max_num_seqs: 256, max_num_batched_tokens: 2048,
         max_model_len: 32768}
cache: {block_size: 16}
workload: {requests: 4, prompt_tokens: 100, output_tokens: 10}
)"));
  EXPECT_EQ(p.hbm_bytes, 25'250'627'584u);
  expect_within_3_percent(p, 2588);
  EXPECT_NEAR(static_cast<double>(p.kv_capacity_tokens()), 41408.0, 0.03 * 41408.0);
}

// REFERENCES.md (llm-d-benchmark, config_explorer/empirical-vllm-memory-results.md): gpt-oss-20b on an H100 at 0.9,
// max_model_len 16000, block 128, vLLM's H100 defaults (8192 batched tokens, 1024 sequences): 50.28 GiB of KV.
// A check, not a fit: that older V1 logged 13.47 GiB of (padded MXFP4) weights and a 7.38 GiB activation peak (about
// 38 B per logit), against kvsim's 12.8 and 6.2 GiB, and the catalog's HBM is nvidia-smi's total (0.47 GiB more
// than the 79.18 GiB the log reports); kvsim lands +4.5 % above.
TEST(KvCapacity, GptOss20bOnH100NearLlmdSplit) {
  const MemoryPlan p = plan_memory(scenario_from(R"(
model: gpt-oss-20b
hardware: h100-sxm5-80gb
engine: {version: v1, gpu_memory_utilization: 0.9, max_model_len: 16000}
cache: {block_size: 128}
workload: {requests: 4, prompt_tokens: 100, output_tokens: 10}
)"));
  const double kv_gib = static_cast<double>(p.kv_cache_bytes) / (1024.0 * 1024.0 * 1024.0);
  EXPECT_NEAR(kv_gib, 50.28, 50.28 * 0.05);
}

// An FP8 checkpoint's config.json sets the scenario's weight_dtype; its embeddings and lm_head stay bf16 (llm-d:
// Llama-3.3-70B-FP8 at tp=2 loads 33.88 GiB per GPU).
TEST(KvCapacity, Fp8CheckpointDefaultsWeightDtypeAndKeepsBf16Embeddings) {
  const std::string config =
      std::string(KVSIM_TEST_SOURCE_DIR) + "/tests/models/fixtures/llama-3.3-70b-fp8.config.json";
  const Scenario s = scenario_from(h100_run(config, "bf16", 2));
  EXPECT_EQ(s.weight_dtype, DType::kFp8);
  EXPECT_NEAR(static_cast<double>(plan_memory(s).weights_bytes) / (1024.0 * 1024.0 * 1024.0), 33.88, 33.88 * 0.005);
}

// The sampler term grows with max_num_seqs (rows of logits), the forward term with max_num_batched_tokens.
TEST(KvCapacity, MoreSequencesOrTokensLeaveFewerBlocks) {
  const std::string base = h100_run("llama-3.1-8b", "bf16", 1);
  const MemoryPlan p = plan_memory(scenario_from(base));
  EXPECT_LT(plan_memory(scenario_from(base, {"engine.max_num_seqs=1024"})).num_gpu_blocks, p.num_gpu_blocks);
  EXPECT_LT(plan_memory(scenario_from(base, {"engine.max_num_batched_tokens=16384"})).num_gpu_blocks, p.num_gpu_blocks);
}

}  // namespace
}  // namespace kvsim::sim
