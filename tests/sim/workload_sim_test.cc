// Workloads through the simulator: multi-turn sessions sent closed-loop and found in the prefix cache, Mooncake's
// prefix hashes feeding prefix caching, and clipping to the context.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "sim/core/rng.h"
#include "sim/run.h"
#include "tests/sim/test_util.h"
#include "traces/workload.h"

namespace kvsim::sim {
namespace {

using testing::scenario_from;

const char* const kSessions = R"(
model: llama-3.1-8b
hardware: h100-sxm5-80gb
check_invariants: true
seed: 3
workload:
  requests: 600
  arrival: {process: poisson, rate: 1}
  prompt_tokens: {dist: uniform, min: 50, max: 400}
  output_tokens: {dist: uniform, min: 20, max: 200}
  sessions: {turns: 5, think_time_s: 2, system_prompt_tokens: 1000, system_prompts: 2}
)";

struct Row {
  double arrival_s = 0, finish_s = 0;
};

std::map<uint64_t, Row> read_requests(const std::string& dir) {
  std::ifstream in(dir + "/requests.csv");
  std::string line;
  std::getline(in, line);
  std::map<uint64_t, Row> rows;
  while (std::getline(in, line)) {
    std::vector<std::string> f;
    std::stringstream ss(line);
    for (std::string x; std::getline(ss, x, ',');) f.push_back(x);
    rows[std::stoull(f[0])] = Row{std::stod(f[3]), std::stod(f[9])};
  }
  return rows;
}

// A turn is sent a think time after its parent's last token, never before: the closed loop of a chat user.
TEST(Sessions, EachTurnIsSentAThinkTimeAfterItsParentFinished) {
  const Scenario s = scenario_from(kSessions);
  const std::string dir = testing::temp_dir("sessions");
  const RunResult r = run_scenario(s, dir);
  ASSERT_EQ(r.summary["completed"].get<int64_t>(), 600);
  const auto rows = read_requests(dir);
  auto source = traces::make_request_source(s.workload, RngStreams(s.seed));
  int64_t children = 0;
  while (auto q = source->next()) {
    if (q->parent_id < 0) continue;
    ++children;
    const Row& parent = rows.at(static_cast<uint64_t>(q->parent_id));
    const Row& child = rows.at(q->id);
    EXPECT_NEAR(child.arrival_s, parent.finish_s + ns_to_s(q->think_time_ns), 2e-9) << q->id;
  }
  EXPECT_GT(children, 400);
  std::filesystem::remove_all(dir);
}

// Later turns find their session's earlier turns (and the shared system prompts) in the prefix cache.
TEST(Sessions, LaterTurnsHitThePrefixCache) {
  const RunResult on = run_scenario(scenario_from(kSessions), "");
  const RunResult off = run_scenario(scenario_from(kSessions, {"cache.prefix_caching=false"}), "");
  EXPECT_GT(on.summary["prefix_cache_hit_rate"].get<double>(), 0.7);
  EXPECT_EQ(off.summary["prefix_cache_hit_rate"].get<double>(), 0.0);
  EXPECT_LT(on.summary["mean_ttft_ms"].get<double>(), 0.7 * off.summary["mean_ttft_ms"].get<double>());
}

// An agentic run (traces/datasets.h codex-swe-bench-pro: 33 calls, each resending the whole context plus a tool's
// output) finds nearly all of each call's prompt in the prefix cache while the KV holds the runs, up to what its
// requests allow (a call can reuse at most its parent's prompt and answer); when the runs outgrow the KV, the tool
// gaps let other runs evict them and the hit rate falls.
TEST(AgenticSessions, CallsHitTheCacheUntilTheRunsOutgrowTheKv) {
  const char* const yaml = R"(
model: llama-3.1-8b
hardware: h100-sxm5-80gb
seed: 5
workload: {duration_s: 3600, arrival: {rate: 0.004}, dataset: codex-swe-bench-pro}
)";
  const Scenario light = scenario_from(yaml);
  double reusable = 0, prompts = 0;
  {
    auto source = traces::make_request_source(light.workload, RngStreams(light.seed));
    std::map<uint64_t, int64_t> context;  // request id -> its prompt and answer
    while (auto q = source->next()) {
      context[q->id] = q->prompt_tokens + q->output_tokens;
      prompts += static_cast<double>(q->prompt_tokens);
      if (q->parent_id >= 0) reusable += static_cast<double>(context.at(static_cast<uint64_t>(q->parent_id)));
    }
  }
  const double ideal = reusable / prompts;
  const RunResult lo = run_scenario(light, "");
  ASSERT_EQ(lo.summary["num_preemptions"].get<int64_t>(), 0);
  const double hit = lo.summary["prefix_cache_hit_rate"].get<double>();
  EXPECT_GT(ideal, 0.9);
  EXPECT_LE(hit, ideal + 1e-9);
  EXPECT_GT(hit, ideal - 0.02);
  const RunResult hi = run_scenario(scenario_from(yaml, {"workload.arrival.rate=0.04", "workload.duration_s=600"}), "");
  EXPECT_LT(hi.summary["prefix_cache_hit_rate"].get<double>(), hit - 0.3);
}

// Mooncake's hash ids: requests that share leading ids share those 512-token blocks in the prefix cache.
TEST(Mooncake, SharedHashIdsAreFoundInThePrefixCache) {
  const std::string dir = testing::temp_dir("mooncake");
  std::filesystem::create_directories(dir);
  {
    std::ofstream f(dir + "/t.jsonl");
    f << R"({"timestamp": 0, "input_length": 2048, "output_length": 8, "hash_ids": [1, 2, 3, 4]})"
         "\n"
      << R"({"timestamp": 5000, "input_length": 2100, "output_length": 8, "hash_ids": [1, 2, 3, 9, 10]})"
         "\n"
      << R"({"timestamp": 10000, "input_length": 2048, "output_length": 8, "hash_ids": [7, 2, 3, 4]})"
         "\n";
  }
  const std::string yaml =
      "model: llama-3.1-8b\nhardware: h100-sxm5-80gb\ncheck_invariants: true\nworkload: {trace: " + dir + "/t.jsonl}\n";
  const RunResult r = run_scenario(scenario_from(yaml), "");
  // The second request reuses 3 of its hash blocks (1,536 tokens of 2,100); the third none (its first id differs,
  // and hashes are chained); the first had nothing to find.
  const double looked_up = 2048 + 2100 + 2048;
  EXPECT_NEAR(r.summary["prefix_cache_hit_rate"].get<double>(), 1536 / looked_up, 1e-9);
  std::filesystem::remove_all(dir);
}

// clip_to_context shortens what would not fit instead of rejecting it.
TEST(Workload, ClipToContextShortensInsteadOfRejecting) {
  const char* const yaml = R"(
model: llama-3.1-8b
hardware: h100-sxm5-80gb
engine: {max_model_len: 4096}
workload: {requests: 20, arrival: {process: all-at-once}, prompt_tokens: 5000, output_tokens: 100}
)";
  EXPECT_EQ(run_scenario(scenario_from(yaml), "").summary["rejected"].get<int64_t>(), 20);
  const RunResult clipped = run_scenario(scenario_from(yaml, {"workload.clip_to_context=true"}), "");
  EXPECT_EQ(clipped.summary["rejected"].get<int64_t>(), 0);
  EXPECT_EQ(clipped.summary["total_input_tokens"].get<int64_t>(), 20 * (4096 - 100));
}

}  // namespace
}  // namespace kvsim::sim
