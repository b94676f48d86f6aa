// The Hugging Face transformers engine model (engine.version: hf): generate() pads a static batch to its longest
// prompt, computes finished sequences until the longest output ends and returns the batch at once; eager kernels and
// Python per step; its DynamicCache grows by concatenation.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "sim/run.h"
#include "tests/sim/test_util.h"

namespace kvsim::sim {
namespace {

using testing::error_of;
using testing::scenario_from;

std::string trace_with(const std::string& name, const std::vector<std::pair<int, int>>& lengths) {
  const std::string dir = testing::temp_dir(name);
  std::filesystem::create_directories(dir);
  std::ofstream f(dir + "/t.csv");
  f << "arrival_s,prompt_tokens,output_tokens\n";
  for (const auto& [p, o] : lengths) f << "0," << p << "," << o << "\n";
  return dir + "/t.csv";
}

std::string scenario_text(const std::string& trace) {
  return "model: llama-3.1-8b\nhardware: h100-sxm5-80gb\ncheck_invariants: true\ncache: {policy: hf-transformers}\n"
         "engine: {max_num_seqs: 4, max_model_len: 8192, max_num_batched_tokens: 32768}\nworkload: {trace: " +
         trace + "}\n";
}

TEST(HfEngine, ABatchIsPaddedAndReturnedTogether) {
  const std::string mixed = trace_with("hf-mixed", {{100, 10}, {200, 20}, {300, 30}, {400, 40}});
  const std::string dir = testing::temp_dir("hf-out");
  const RunResult r = run_scenario(scenario_from(scenario_text(mixed)), dir);
  ASSERT_EQ(r.summary["completed"].get<int64_t>(), 4);
  // One prefill and 39 decode steps: the longest output sets them for everyone.
  EXPECT_EQ(r.summary["num_iterations"].get<int64_t>(), 40);
  // Every request finishes at the batch's end and got its first token at the prefill's.
  std::ifstream in(dir + "/requests.csv");
  std::string line;
  std::getline(in, line);
  std::set<std::string> finishes, ttfts;
  while (std::getline(in, line)) {
    std::vector<std::string> f;
    std::stringstream ss(line);
    for (std::string x; std::getline(ss, x, ',');) f.push_back(x);
    ttfts.insert(f[6]);
    finishes.insert(f[9]);
  }
  EXPECT_EQ(finishes.size(), 1u);
  EXPECT_EQ(ttfts.size(), 1u);
  // Padding: the prefill costs what four 400-token prompts cost.
  const std::string same = trace_with("hf-same", {{400, 10}, {400, 20}, {400, 30}, {400, 40}});
  const RunResult s = run_scenario(scenario_from(scenario_text(same)), "");
  EXPECT_DOUBLE_EQ(r.summary["mean_ttft_ms"].get<double>(), s.summary["mean_ttft_ms"].get<double>());
  // FasterTransformer's static engine (framework native) returns each request when it ends instead.
  const RunResult st = run_scenario(
      scenario_from(scenario_text(mixed), {"cache.policy=orca-oracle", "engine.version=static", "engine.framework=native"}),
      "");
  EXPECT_LT(st.summary["mean_e2el_ms"].get<double>(), r.summary["mean_e2el_ms"].get<double>());
  std::filesystem::remove_all(dir);
}

// DynamicCache's concatenation reads and rewrites the cache every step: at long contexts it decodes slower than a
// StaticCache; and eager Python per step makes hf slower per token than vLLM's graphed decode.
TEST(HfEngine, DynamicCacheConcatenationCostsBandwidth) {
  const std::string longp = trace_with("hf-long", {{7000, 64}, {7000, 64}, {7000, 64}, {7000, 64}});
  const RunResult dyn = run_scenario(scenario_from(scenario_text(longp)), "");
  const RunResult stat =
      run_scenario(scenario_from(scenario_text(longp), {"engine.hf_cache=static", "cache.layout=reserve"}), "");
  EXPECT_GT(dyn.summary["mean_tpot_ms"].get<double>(), 1.2 * stat.summary["mean_tpot_ms"].get<double>());
  // The same batch on a native static engine (FasterTransformer-like: graphed kernels, no Python per step) decodes
  // faster, by the Python time per step (1 ms) and per layer (32 x 50 us); hf's eager launches hide behind this
  // long-context step's GPU time.
  const RunResult fast = run_scenario(
      scenario_from(scenario_text(longp), {"cache.policy=orca-oracle", "engine.version=static", "engine.framework=native"}),
      "");
  EXPECT_GT(stat.summary["mean_tpot_ms"].get<double>(), fast.summary["mean_tpot_ms"].get<double>() + 2.5);
}

TEST(HfEngine, NonsensicalSettingsNameTheirKeys) {
  const std::string t = trace_with("hf-bad", {{10, 2}});
  EXPECT_NE(error_of([&] {
              scenario_from(scenario_text(t), {"cache.policy=vllm", "engine.hf_cache=static"});
            }).find("engine.hf_cache: only used with engine.version: hf"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              scenario_from(scenario_text(t), {"engine.hf_cache=static"});
            }).find("cache.layout: engine.hf_cache: static keeps its KV in a StaticCache"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              scenario_from(scenario_text(t), {"cache.prefix_caching=true"});
            }).find("cache.prefix_caching: Hugging Face generate() has no prefix cache"),
            std::string::npos);
}

}  // namespace
}  // namespace kvsim::sim
