// The cache-policy axes beyond vLLM, H2O and InfiniGen (DESIGN.md "KV-cache policies"): swap vs recompute by block
// size, Quest's page selection, KIVI's quantised KV, StreamingLLM's window, SnapKV's compression, FlexGen's CPU
// attention and weight streaming, the tiered prefix store, the adaptive rule and the static engine. Each test is a
// relation the papers state or the model must keep.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <sstream>

#include "models/cost_model.h"
#include "models/model_spec.h"
#include "sim/cache/cache_policy.h"
#include "sim/cache/presets.h"
#include "sim/run.h"
#include "sim/serving/memory_plan.h"
#include "sim/serving/replica.h"
#include "tests/sim/test_util.h"

namespace kvsim::sim {
namespace {

using testing::error_of;
using testing::scenario_from;

const char* const kOneRequest = R"(
model: llama-3.1-8b
hardware: h100-sxm5-80gb
check_invariants: true
engine: {max_model_len: 40960}
workload: {requests: 1, arrival: {process: all-at-once}, prompt_tokens: 10000, output_tokens: 100}
)";

double num(const RunResult& r, const char* key) { return r.summary[key].get<double>(); }

// vLLM paper Fig. 19: swapping pays one copy per block per layer, so its cost per preempted sequence falls as blocks
// grow; recomputing re-runs the prefill, which does not depend on the block size.
TEST(Preemption, SwapCostFallsWithBlockSizeAndRecomputeCostDoesNot) {
  constexpr int64_t kTokens = 2000;
  SimTime last_swap = 0, recompute = 0;
  for (int64_t block : {8, 16, 32, 64, 128}) {
    const Scenario s =
        scenario_from(kOneRequest, {"cache.policy=vllm-swap", fmt::format("cache.block_size={}", block)});
    const MemoryPlan plan = plan_memory(s);
    const int64_t blocks = plan.blocks_for_tokens(kTokens);
    const SimTime swap = serving::swap_copy_ns(s.hardware, plan, blocks, hw::CopyDirection::kDeviceToHost) +
                         serving::swap_copy_ns(s.hardware, plan, blocks, hw::CopyDirection::kHostToDevice);
    if (last_swap > 0) {
      EXPECT_LT(swap, last_swap) << "block size " << block;
    }
    last_swap = swap;
    const models::CostModel cost(s.model, s.hardware, exec_config(s));
    models::BatchShape prefill;
    prefill.add_sequence(0, kTokens, true, 0);
    const SimTime r = cost.iteration_ns(prefill);
    if (recompute > 0) {
      EXPECT_EQ(r, recompute) << "block size " << block;
    }
    recompute = r;
  }
}

// Quest keeps the full KV: no capacity gain over vLLM; at long context a decode step reads only its budget (plus
// page bounds), so TPOT falls; it skips tokens, so its attention proxy is below 1 while every early fact stays.
TEST(Quest, SavesBandwidthNotCapacity) {
  const RunResult vllm = run_scenario(scenario_from(kOneRequest, {"workload.prompt_tokens=32000"}), "");
  const RunResult quest =
      run_scenario(scenario_from(kOneRequest, {"workload.prompt_tokens=32000", "cache.policy=quest"}), "");
  EXPECT_EQ(quest.summary["kv_capacity_tokens"], vllm.summary["kv_capacity_tokens"]);
  EXPECT_EQ(quest.summary["peak_kv_hbm_bytes"], vllm.summary["peak_kv_hbm_bytes"]);
  EXPECT_LT(num(quest, "mean_tpot_ms"), num(vllm, "mean_tpot_ms"));
  EXPECT_LT(num(quest, "retention_attention"), 1.0);
  EXPECT_EQ(num(quest, "retention_early_facts"), 1.0);
  // Below the budget Quest reads everything: the same TPOT as vLLM.
  const RunResult short_vllm = run_scenario(scenario_from(kOneRequest, {"workload.prompt_tokens=1000"}), "");
  const RunResult short_quest =
      run_scenario(scenario_from(kOneRequest, {"workload.prompt_tokens=1000", "cache.policy=quest"}), "");
  EXPECT_EQ(num(short_quest, "mean_tpot_ms"), num(short_vllm, "mean_tpot_ms"));
}

// KIVI-2 stores 2-bit KV with an fp16 scale and zero point per 32 elements (3 bits per element instead of 16): the
// pool holds 16/3 times the tokens; each sequence's 128-token full-precision window costs back part of that.
TEST(Kivi, Int2RaisesCapacityByTheBytesRatioLessTheResidualWindow) {
  const MemoryPlan full = plan_memory(scenario_from(kOneRequest));
  const Scenario kivi_s = scenario_from(kOneRequest, {"cache.policy=kivi"});
  const MemoryPlan kivi = plan_memory(kivi_s);
  EXPECT_EQ(kivi_s.cache.precision, DType::kInt2);
  EXPECT_EQ(kivi_s.cache.residual_tokens, 128);
  const double ratio = static_cast<double>(kivi.kv_capacity_tokens()) / static_cast<double>(full.kv_capacity_tokens());
  EXPECT_NEAR(ratio, 16.0 / 3.0, 0.01 * 16.0 / 3.0);
  // Sequences of 4096 tokens that fit: the window's 128 tokens cost (16 - 3) / 3 x 128 = 555 quantised tokens more.
  const auto fit = [](const MemoryPlan& p) {
    return static_cast<double>(p.num_gpu_blocks) /
           static_cast<double>(p.blocks_for_tokens(4096) + p.residual_extra_blocks);
  };
  const double expected = 16.0 / 3.0 * 4096.0 / (4096.0 + 128.0 * 13.0 / 3.0);
  EXPECT_NEAR(fit(kivi) / fit(full), expected, 0.02 * expected);
  EXPECT_LT(fit(kivi) / fit(full), 16.0 / 3.0);
  // A run keeps every token (retention 1) and says quantisation's accuracy cost is not modelled.
  const RunResult r = run_scenario(kivi_s, "");
  EXPECT_EQ(r.summary["completed"].get<int64_t>(), 1);
  EXPECT_EQ(num(r, "retention_attention"), 1.0);
  EXPECT_NE(r.summary["notes"].dump().find("quantisation is not modelled"), std::string::npos);
  // Any axis goes on top of a preset: vllm with int4 KV gets KIVI's residual default too.
  const Scenario int4 = scenario_from(kOneRequest, {"cache.precision=int4"});
  EXPECT_EQ(int4.cache.residual_tokens, 128);
  EXPECT_GT(plan_memory(int4).kv_capacity_tokens(), 3 * full.kv_capacity_tokens());
}

// StreamingLLM keeps 4 sinks and a window: once the prompt outgrows them, the early facts are gone; a full cache keeps
// them all; H2O's heavy hitters keep some.
TEST(StreamingLlm, LosesEarlyFactsH2oKeepsSomeFullKeepsAll) {
  const RunResult full = run_scenario(scenario_from(kOneRequest), "");
  const RunResult streaming = run_scenario(scenario_from(kOneRequest, {"cache.policy=streamingllm"}), "");
  const RunResult h2o = run_scenario(scenario_from(kOneRequest, {"cache.policy=h2o"}), "");
  EXPECT_EQ(num(full, "retention_early_facts"), 1.0);
  EXPECT_EQ(num(streaming, "retention_early_facts"), 0.0);
  EXPECT_GT(num(h2o, "retention_early_facts"), 0.0);
  EXPECT_LT(num(h2o, "retention_early_facts"), 1.0);
  // Its memory is the fixed rolling buffer of 4 + 2044 tokens.
  EXPECT_EQ(streaming.summary["peak_kv_hbm_bytes"].get<uint64_t>(),
            static_cast<uint64_t>(streaming.plan.blocks_for_tokens(2048)) * streaming.plan.block_bytes);
  // A prompt that fits in sinks + window loses nothing.
  const RunResult short_one =
      run_scenario(scenario_from(kOneRequest, {"cache.policy=streamingllm", "workload.prompt_tokens=1500"}), "");
  EXPECT_EQ(num(short_one, "retention_early_facts"), 1.0);
}

// SnapKV holds the whole prompt while prefilling, then keeps its budget of it plus every generated token: the
// blocks it no longer needs go back to the pool at once.
TEST(SnapKv, HoldsTheWholePromptThenShrinksToItsBudget) {
  const Scenario s = scenario_from(kOneRequest, {"cache.retention=snapkv", "cache.budget_tokens=1024"});
  const MemoryPlan plan = plan_memory(s);
  auto policy = cache::builtin_policies().make(cache::implementation_for(s.cache), s, plan);
  cache::SeqKv seq;
  const cache::AdmissionKv a = cache::admission_kv(s.cache, s.engine.max_model_len, 10000, 100);
  seq.compress_after = a.compress_after;
  seq.keep_prompt = a.keep_prompt;
  ASSERT_EQ(seq.compress_after, 10000);
  ASSERT_TRUE(policy->grow(seq, 10000));
  EXPECT_EQ(policy->used_blocks(), plan.blocks_for_tokens(10000));
  ASSERT_TRUE(policy->grow(seq, 10001));
  EXPECT_EQ(policy->used_blocks(), plan.blocks_for_tokens(1025));
  EXPECT_EQ(policy->stored_tokens(), 1025);
  EXPECT_EQ(policy->check({&seq}), "");
  policy->release(seq);
  EXPECT_EQ(policy->used_blocks(), 0);
  EXPECT_EQ(policy->blocks_allocated(), policy->blocks_freed());
  // End to end: the peak is the prompt's, the proxy loses some early facts and attention.
  const RunResult r = run_scenario(s, "");
  EXPECT_EQ(r.summary["peak_kv_hbm_bytes"].get<uint64_t>(),
            static_cast<uint64_t>(plan.blocks_for_tokens(10000)) * plan.block_bytes);
  EXPECT_LT(num(r, "retention_early_facts"), 1.0);
  EXPECT_LT(num(r, "retention_attention"), 1.0);
}

// FlexGen computes decode attention on the CPU where the KV lives: no KV crosses PCIe towards the GPU, the prefill's
// KV goes to the host once, and the GPU holds none of it. Decode time follows host DRAM bandwidth.
TEST(FlexGen, KvOnTheCpuMovesNoKvOverPcieDuringDecode) {
  const Scenario s = scenario_from(kOneRequest, {"cache.policy=flexgen", "workload.prompt_tokens=2000"});
  EXPECT_EQ(s.cache.weights_share.gpu, 1.0);  // an 8B model fits on an H100
  const RunResult r = run_scenario(s, "");
  ASSERT_EQ(r.summary["completed"].get<int64_t>(), 1);
  EXPECT_EQ(r.summary["pcie_h2d_bytes"].get<uint64_t>(), 0u);
  const uint64_t token_bytes = r.plan.token_layer_bytes * 32;
  EXPECT_EQ(r.summary["pcie_d2h_bytes"].get<uint64_t>(), 2099u * token_bytes);
  EXPECT_EQ(r.summary["peak_kv_hbm_bytes"].get<uint64_t>(), 0u);
  EXPECT_GE(r.summary["peak_kv_host_bytes"].get<uint64_t>(), 2099u * token_bytes);
  // Decode follows host DRAM bandwidth: at half the bandwidth each step takes longer by one more pass of the CPU over
  // the KV at the full rate (14,000-14,099 tokens of context in 32 layers; CPU attention is memory-bound here; the
  // engine's Python time per layer object, which would hide part of it, set aside).
  Scenario fast =
      scenario_from(kOneRequest, {"cache.policy=flexgen", "workload.prompt_tokens=14000", "engine.cpu_op_us=0"});
  Scenario slow = fast;
  slow.hardware.host.dram_bytes_per_s /= 2;
  const double pass_ms = 14049.5 * static_cast<double>(token_bytes) /
                         (fast.hardware.host.dram_bytes_per_s * models::Efficiency{}.host_memory) * 1e3;
  const double extra_ms = num(run_scenario(slow, ""), "mean_tpot_ms") - num(run_scenario(fast, ""), "mean_tpot_ms");
  EXPECT_NEAR(extra_ms, pass_ms, 0.01 * pass_ms);
}

// OPT-30B (60 GB of fp16 weights) on a 16 GB T4: FlexGen keeps a share of the weights on the GPU and streams the
// rest over PCIe every forward pass; vLLM cannot load it at all.
TEST(FlexGen, StreamsTheWeightsThatDoNotFit) {
  const char* const t4 = R"(
model: opt-30b
hardware: t4-16gb
check_invariants: true
cache: {policy: flexgen}
engine: {max_num_seqs: 8}
workload: {requests: 8, arrival: {process: all-at-once}, prompt_tokens: 512, output_tokens: 32}
)";
  const Scenario s = scenario_from(t4);
  EXPECT_GT(s.cache.weights_share.gpu, 0.0);
  EXPECT_LT(s.cache.weights_share.gpu, 0.3);
  const RunResult r = run_scenario(s, "");
  EXPECT_EQ(r.summary["completed"].get<int64_t>(), 8);
  EXPECT_GE(r.summary["pcie_h2d_bytes"].get<uint64_t>(),
            r.summary["num_iterations"].get<uint64_t>() * r.plan.streamed_weights_bytes);
  EXPECT_LT(r.summary["peak_hbm_bytes"].get<uint64_t>(), r.plan.usable_bytes);
  EXPECT_NE(error_of([&] { run_scenario(scenario_from(t4, {"cache.policy=vllm"}), ""); }).find("weights_percent"),
            std::string::npos);
}

// The static engine of FlexGen-based systems forms a batch only when the last one has finished: with 8 requests
// at once and room for 4, the second four's first tokens come after the first four's last.
TEST(StaticEngine, RunsEachBatchToCompletion) {
  const std::string dir = testing::temp_dir("static-engine");
  const Scenario s = scenario_from(
      kOneRequest, {"engine.version=static", "engine.max_num_seqs=4", "workload.requests=8",
                    "workload.prompt_tokens=1000", "workload.output_tokens={dist: uniform, min: 10, max: 200}"});
  run_scenario(s, dir);
  std::istringstream csv(testing::read_file(dir + "/requests.csv"));
  std::string line;
  std::getline(csv, line);                       // header
  std::vector<std::pair<double, double>> spans;  // (first token, finish) in seconds
  while (std::getline(csv, line)) {
    std::vector<std::string> f;
    std::stringstream ls(line);
    for (std::string x; std::getline(ls, x, ',');) f.push_back(x);
    ASSERT_EQ(f[2], "completed");
    spans.emplace_back(std::stod(f[3]) + std::stod(f[6]) / 1e3, std::stod(f[9]));
  }
  ASSERT_EQ(spans.size(), 8u);
  std::sort(spans.begin(), spans.end());
  double first_batch_end = 0;
  for (int i = 0; i < 4; ++i) first_batch_end = std::max(first_batch_end, spans[i].second);
  for (int i = 4; i < 8; ++i) EXPECT_GE(spans[i].first, first_batch_end);
  std::filesystem::remove_all(dir);
}

// The tiered placement demotes prefix blocks evicted from the GPU to host memory, then disk, and loads them back on
// a prefix hit; without it, an evicted prefix must be recomputed.
TEST(Tiered, EvictedPrefixBlocksComeBackFromHostMemory) {
  const auto make = [](const std::string& placement, const std::string& host_blocks) {
    return scenario_from(kOneRequest, {"engine.num_gpu_blocks=20", "engine.max_model_len=256",
                                       "cache.placement=" + placement, "cache.prefix_caching=true",
                                       "cache.host_kv_bytes=" + host_blocks, "cache.disk_kv_bytes=" + host_blocks});
  };
  for (const std::string placement : {"gpu", "tiered"}) {
    Scenario s = make(placement, "1GiB");
    const MemoryPlan plan = plan_memory(s);
    s = make(placement, std::to_string(4 * plan.block_bytes));  // 4 blocks of host memory, 4 of disk
    auto policy = cache::builtin_policies().make(cache::implementation_for(s.cache), s, plan);
    cache::SeqKv a, b;
    a.prefix_id = 1;
    a.prefix_tokens = b.prefix_tokens = 128;  // 8 blocks of 16
    b.prefix_id = 2;
    for (cache::SeqKv* q : {&a, &b}) {
      EXPECT_EQ(policy->acquire_cached_prefix(*q), 0);
      ASSERT_TRUE(policy->grow(*q, 128));
      policy->on_computed(*q, 128);
    }
    policy->release(a);  // prefix 1: 8 cached blocks
    cache::SeqKv c;      // 10 private blocks: 8 + 10 in use, 2 of prefix 1 may stay cached
    ASSERT_TRUE(policy->grow(c, 160));
    EXPECT_EQ(policy->check({&b, &c}), "");
    policy->release(b);
    policy->release(c);
    const cache::TierMoves before = policy->take_tier_moves();
    cache::SeqKv d;
    d.prefix_id = 1;
    d.prefix_tokens = 128;
    const int64_t hit = policy->acquire_cached_prefix(d);
    const cache::TierMoves moves = policy->take_tier_moves();
    if (placement == "gpu") {
      EXPECT_EQ(hit, 0);  // block 0 was evicted first and is gone
      EXPECT_EQ(before.demoted, 0);
    } else {
      // 6 blocks of prefix 1 left the GPU: the first 2 fell through host memory to disk, the next 4 are in host
      // memory; all 8 come back.
      EXPECT_EQ(before.demoted, 6);
      EXPECT_EQ(hit, 128);
      EXPECT_EQ(moves.disk_loads, 2);
      EXPECT_EQ(moves.host_loads, 4);
    }
    EXPECT_EQ(policy->check({&d}), "");
    policy->release(d);
  }
}

// End to end: 12 system prompts of 2,000 tokens (125 blocks each) taken in turn, and a GPU pool that caches about
// four: the GPU-only cache always finds the next prompt evicted, the tiered store loads it back from host memory.
TEST(Tiered, RaisesThePrefixHitRateUnderPressure) {
  const char* const shared = R"(
model: llama-3.1-8b
hardware: h100-sxm5-80gb
check_invariants: true
engine: {num_gpu_blocks: 600, max_model_len: 4096}
workload:
  requests: 300
  shared_prefix_tokens: 2000
  shared_prefix_count: 12
  arrival: {process: poisson, rate: 4}
  prompt_tokens: {dist: uniform, min: 50, max: 150}
  output_tokens: {dist: fixed, value: 64}
)";
  const RunResult gpu = run_scenario(scenario_from(shared), "");
  const RunResult tiered = run_scenario(scenario_from(shared, {"cache.policy=tiered"}), "");
  EXPECT_EQ(tiered.summary["completed"].get<int64_t>() + tiered.summary["rejected"].get<int64_t>(), 300);
  EXPECT_GT(tiered.summary["tier_host_load_blocks"].get<int64_t>(), 0);
  EXPECT_GT(num(tiered, "prefix_cache_hit_rate"), 0.8);
  EXPECT_LT(num(gpu, "prefix_cache_hit_rate"), 0.2);
  EXPECT_LT(num(tiered, "mean_ttft_ms"), num(gpu, "mean_ttft_ms"));
}

// The adaptive rule: a long prompt arriving while the pool is under pressure is compressed; short prompts, or any
// prompt arriving to a lightly used pool, keep everything.
TEST(Adaptive, CompressesOnlyLongPromptsUnderPressure) {
  const Scenario s = scenario_from(kOneRequest, {"cache.policy=adaptive"});
  const auto& c = s.cache;
  EXPECT_GT(cache::admission_kv(c, 40960, 10000, 100, 0.6).compress_after, 0);
  EXPECT_EQ(cache::admission_kv(c, 40960, 10000, 100, 0.1).compress_after, 0);
  EXPECT_EQ(cache::admission_kv(c, 40960, 1000, 100, 0.9).compress_after, 0);
  // A run where every arrival counts as under pressure compresses every long prompt.
  const RunResult all =
      run_scenario(scenario_from(kOneRequest, {"cache.policy=adaptive", "cache.adaptive_pressure=0"}), "");
  EXPECT_LT(num(all, "retention_early_facts"), 1.0);
  const RunResult none = run_scenario(scenario_from(kOneRequest, {"cache.policy=adaptive"}), "");
  EXPECT_EQ(num(none, "retention_early_facts"), 1.0);
}

// The invalid combinations the issue names, and others, fail with the keys involved.
TEST(PolicyAxes, NonsensicalCombinationsNameTheirKeys) {
  const auto err = [](std::vector<std::string> o) { return error_of([&] { scenario_from(kOneRequest, o); }); };
  EXPECT_NE(err({"cache.policy=tiered", "cache.host_kv_bytes=0"}).find("cache.host_kv_bytes: placement 'tiered'"),
            std::string::npos);
  EXPECT_NE(err({"cache.heavy_ratio=0.6", "cache.recent_ratio=0.5"}).find("cache.recent_ratio"), std::string::npos);
  EXPECT_NE(err({"cache.policy=infinigen", "cache.partial_weight_ratio=0"}).find("cache.partial_weight_ratio"),
            std::string::npos);
  EXPECT_NE(err({"cache.selection=speculative"}).find("cache.selection: selection 'speculative'"), std::string::npos);
  EXPECT_NE(err({"cache.compute_attention_on=cpu"}).find("cache.compute_attention_on"), std::string::npos);
  EXPECT_NE(err({"cache.residual_tokens=64"}).find("cache.residual_tokens"), std::string::npos);
  EXPECT_NE(err({"cache.retention=snapkv", "cache.layout=budget"})
                .find("cache.retention: retention 'snapkv' with "
                      "layout 'budget'"),
            std::string::npos);
  EXPECT_NE(err({"cache.policy=streamingllm", "cache.prefix_caching=true"}).find("cache.prefix_caching"),
            std::string::npos);
  EXPECT_NE(err({"cache.policy=quest", "cache.token_budget=8"}).find("cache.token_budget"), std::string::npos);
  EXPECT_NE(err({"cache.policy=tiered", "cache.prefix_caching=false"}).find("cache.prefix_caching"), std::string::npos);
  EXPECT_NE(err({"engine.version=static", "engine.chunked_prefill=true"}).find("engine.chunked_prefill"),
            std::string::npos);
}

// Presets run outside what their paper evaluated say so; inside it, they do not.
TEST(PolicyAxes, ExtrapolationNotesNameWhatIsOutsideThePaper) {
  const auto notes = [](std::vector<std::string> o) {
    return run_scenario(scenario_from(kOneRequest, o), "").summary.value("notes", nlohmann::ordered_json()).dump();
  };
  const std::string gqa = notes({"cache.policy=h2o"});
  EXPECT_NE(gqa.find("GQA"), std::string::npos);
  EXPECT_EQ(gqa.find("continuous batching"), std::string::npos);  // the preset runs its static engine
  const std::string v0 = notes({"cache.policy=h2o", "engine.version=v0"});
  EXPECT_NE(v0.find("continuous batching"), std::string::npos);
  const std::string opt =
      notes({"cache.policy=h2o", "model=opt-6.7b", "engine.max_model_len=2048", "workload.prompt_tokens=1000"});
  EXPECT_EQ(opt.find("extrapolation"), std::string::npos);
  EXPECT_EQ(notes({}).find("extrapolation"), std::string::npos);  // vllm is its own paper's engine
}

}  // namespace
}  // namespace kvsim::sim
