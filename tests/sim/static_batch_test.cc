// The FlexGen family's static batches (engine.version: static, framework: pytorch): a batch is the configured count of
// whole prompts, bounded by memory only (the KV pool and one GPU batch's prefill transient), never by a token budget;
// which limit ended each batch is reported.
#include <gtest/gtest.h>

#include "models/memory_footprint.h"
#include "sim/run.h"
#include "sim/serving/memory_plan.h"
#include "tests/sim/test_util.h"

namespace kvsim::sim {
namespace {

using testing::scenario_from;

// 40 prompts of 2,048 tokens at once under H2O: 16 of them are 32,768 tokens, four times the 8,192-token budget a
// vLLM engine would prefill in one step on this GPU.
const char* const kMany = R"(
model: llama-3.1-8b
hardware: h100-sxm5-80gb
check_invariants: true
cache: {policy: h2o}
engine: {max_model_len: 4096, max_num_seqs: 16}
workload: {requests: 40, arrival: {process: all-at-once}, prompt_tokens: 2048, output_tokens: 32}
)";

double num(const RunResult& r, const char* key) { return r.summary[key].get<double>(); }
int64_t limit(const RunResult& r, const char* name) {
  const auto& l = r.summary["static_batch_limits"];
  return l.contains(name) ? l[name].get<int64_t>() : 0;
}

TEST(StaticBatch, IsTheConfiguredBatchWhenMemoryAllows) {
  const RunResult r = run_scenario(scenario_from(kMany), "");
  ASSERT_EQ(r.summary["completed"].get<int64_t>(), 40);
  EXPECT_EQ(r.summary["static_batches"].get<int64_t>(), 3);  // 16 + 16 + 8
  EXPECT_DOUBLE_EQ(num(r, "mean_static_batch"), 40.0 / 3.0);
  EXPECT_EQ(limit(r, "max_num_seqs"), 2);
  EXPECT_EQ(limit(r, "queue"), 1);
  // One prefill and 31 decode steps per batch.
  EXPECT_EQ(r.summary["num_iterations"].get<int64_t>(), 3 * 32);
  bool noted = false;
  for (const auto& n : r.summary["notes"]) noted = noted || n.get<std::string>().find("static batches: 3") == 0;
  EXPECT_TRUE(noted);
}

// H2O keeps 20 % of the 2,048-token prompt: 410 tokens, 26 blocks of 16 per sequence. A pool of 7 such budgets and 3
// blocks more admits 7.
TEST(StaticBatch, StopsWhereTheKvPoolIsFull) {
  const RunResult r =
      run_scenario(scenario_from(kMany, {"engine.num_gpu_blocks=185", "engine.max_model_len=2560"}), "");
  ASSERT_EQ(r.summary["completed"].get<int64_t>(), 40);
  EXPECT_EQ(r.plan.blocks_for_tokens(410), 26);
  EXPECT_EQ(limit(r, "kv_pool"), 5);  // 7 x 5 + 5
  EXPECT_EQ(r.summary["static_batches"].get<int64_t>(), 6);
}

// The released code allocates each sequence's KV for the whole run: a paged pool admits a batch by its final length
// (100 + 900 tokens: 63 blocks of 16) and never preempts inside it, where admitting by the prompt's 7 blocks would
// take 16 and preempt as they grow.
TEST(StaticBatch, APagedPoolIsPromisedTheFinalLength) {
  const RunResult r = run_scenario(
      scenario_from(kMany, {"cache.policy=vllm", "engine.version=static", "engine.num_gpu_blocks=200",
                            "engine.max_model_len=1024", "workload.prompt_tokens=100", "workload.output_tokens=900"}),
      "");
  ASSERT_EQ(r.summary["completed"].get<int64_t>(), 40);
  EXPECT_EQ(r.summary["num_preemptions"].get<int64_t>(), 0);
  EXPECT_EQ(r.summary["static_batches"].get<int64_t>(), 14);  // 13 of 3 (189 of 200 blocks) and the last one
  EXPECT_EQ(limit(r, "kv_pool"), 13);
}

// Long prompts: one GPU batch of n rows holds n x 32 heads x 8,000^2 scores at 4 B (8.2 GB per row) beside the KV of
// the batch. The batch stops at the largest n whose transient fits the memory the KV leaves; with GPU batches of one
// row (FlexGen's block schedule) the transient is one row's and the batch reaches max_num_seqs.
TEST(StaticBatch, StopsWhereOneGpuBatchsPrefillTransientDoesNotFit) {
  const std::vector<std::string> long_prompts = {"workload.prompt_tokens=8000", "engine.max_model_len=8192"};
  const Scenario s = scenario_from(kMany, long_prompts);
  const MemoryPlan plan = plan_memory(s);
  const int64_t per_seq = plan.blocks_for_tokens(1600);  // 20 % of the prompt
  int64_t expected = 0;
  while (expected < 16) {
    const int64_t n = expected + 1;
    const uint64_t room = plan.spare_gpu_bytes + plan.gpu_kv_bytes(plan.num_gpu_blocks - n * per_seq);
    if (models::prefill_transient_bytes(s.model, n, 8000, 4.0, s.dtype, 1) > room) break;
    expected = n;
  }
  ASSERT_GE(expected, 2);
  ASSERT_LT(expected, 16);
  const RunResult r = run_scenario(s, "");
  ASSERT_EQ(r.summary["completed"].get<int64_t>(), 40);
  EXPECT_EQ(r.summary["static_batches"].get<int64_t>(), (40 + expected - 1) / expected);
  EXPECT_EQ(limit(r, "prefill_transient"), 40 / expected - (40 % expected == 0 ? 1 : 0));

  std::vector<std::string> blocked = long_prompts;
  blocked.insert(blocked.end(), {"cache.gpu_batch_size=1", "cache.num_gpu_batches=16", "engine.max_num_seqs=16"});
  const RunResult b = run_scenario(scenario_from(kMany, blocked), "");
  ASSERT_EQ(b.summary["completed"].get<int64_t>(), 40);
  EXPECT_EQ(limit(b, "max_num_seqs"), 2);
  EXPECT_EQ(limit(b, "prefill_transient"), 0);
}

// The score term is rows x heads x prompt^2 x score_bytes: linear in the GPU batch's rows, quadratic in the prompt.
TEST(StaticBatch, PrefillScoresGrowWithTheSquareOfEachPrompt) {
  const models::ModelSpec m = scenario_from(kMany).model;
  const auto scores = [&](int64_t rows, int64_t prompt) {
    return static_cast<double>(models::prefill_transient_bytes(m, rows, prompt, 4.0, DType::kBf16, 1) -
                               models::prefill_transient_bytes(m, rows, prompt, 0.0, DType::kBf16, 1));
  };
  EXPECT_NEAR(scores(1, 4096), 32.0 * 4096.0 * 4096.0 * 4.0, 1.0);
  EXPECT_NEAR(scores(1, 8192) / scores(1, 4096), 4.0, 1e-9);
  EXPECT_NEAR(scores(3, 4096) / scores(1, 4096), 3.0, 1e-9);
  // Under tensor parallelism each GPU holds its heads' share.
  EXPECT_NEAR(static_cast<double>(models::prefill_transient_bytes(m, 1, 4096, 4.0, DType::kBf16, 4) -
                                  models::prefill_transient_bytes(m, 1, 4096, 0.0, DType::kBf16, 4)),
              scores(1, 4096) / 4.0, 1.0);
}

// InfiniGen's Fig. 14 setting (Lee et al., OSDI 2024; its figure-14 script): OPT-13B on an RTX A6000, one batch of 20
// prompts of 1,920 tokens generating 128, the KV in host memory. The 20 run as one batch.
TEST(StaticBatch, InfiniGensFigure14BatchRunsWhole) {
  const RunResult r = run_scenario(scenario_from(R"(
model: opt-13b
hardware: rtx-a6000-48gb
dtype: fp16
check_invariants: true
cache: {policy: infinigen, alpha: 4}
engine: {max_num_seqs: 20}
workload: {requests: 20, arrival: {process: all-at-once}, prompt_tokens: 1920, output_tokens: 128}
)"),
                                   "");
  ASSERT_EQ(r.summary["completed"].get<int64_t>(), 20);
  EXPECT_EQ(r.summary["static_batches"].get<int64_t>(), 1);
  EXPECT_DOUBLE_EQ(num(r, "mean_static_batch"), 20.0);
}

// A static engine takes no token budget: the key is refused with the reason; FasterTransformer's native runtime keeps
// the vLLM-style activation sizing and the key.
TEST(StaticBatch, TheTokenBudgetKeyIsRefusedUnderPytorch) {
  EXPECT_NE(testing::error_of([] {
              scenario_from(kMany, {"engine.max_num_batched_tokens=4096"});
            }).find("engine.max_num_batched_tokens: the pytorch static engine has no token budget"),
            std::string::npos);
  EXPECT_EQ(
      scenario_from(kMany, {"cache.policy=fastertransformer", "engine.max_num_batched_tokens=4096"}).engine.framework,
      "native");
  EXPECT_NE(testing::error_of([] {
              scenario_from(kMany, {"cache.policy=vllm", "engine.overlap=false"});
            }).find("engine.overlap: only used with engine.version: static"),
            std::string::npos);
}

}  // namespace
}  // namespace kvsim::sim
