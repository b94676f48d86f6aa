// Agentic sessions (traces/sessions.h, traces/datasets.h): a coding agent's runs of tool-using calls. The
// codex-swe-bench-pro dataset reproduces the published figures it was built on, and one it was not (the ending
// context); sessions' keys override a dataset's shape; the spec round-trips through the resolved YAML.
#include <algorithm>
#include <cmath>
#include <map>
#include <vector>

#include <gtest/gtest.h>

#include "tests/traces/test_util.h"
#include "traces/datasets.h"
#include "traces/workload.h"

namespace kvsim::traces {
namespace {

using testing::collect;
using testing::error_of;
using testing::parse_text;

double quantile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  return v[static_cast<size_t>(q * static_cast<double>(v.size() - 1))];
}

double mean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return s / static_cast<double>(v.size());
}

// Published (Inferact codex_swebenchpro_traces card; vLLM blog 2026-05-06): first call mean 12,367 tokens; 33 calls
// per run (P50 30, P90 57); tool gaps P50 5.2 s and P99 81.4 s; 2,242 tokens of context growth per call. The ending
// context (mean 84,482 tokens) was not fitted: it follows only if the generator stacks the turns right.
TEST(AgenticSessions, CodexSweBenchProReproducesItsPublishedFigures) {
  const auto reqs = collect(*make_request_source(
      parse_text("workload: {duration_s: 4000, arrival: {rate: 1}, dataset: codex-swe-bench-pro}"), RngStreams(3)));
  std::map<uint64_t, const Request*> by_id;
  std::map<uint64_t, int64_t> turns, last_prompt;
  std::vector<double> first, gaps_s, growth;
  for (const Request& r : reqs) {
    by_id[r.id] = &r;
    ++turns[r.session_id];
    last_prompt[r.session_id] = r.prompt_tokens;
    if (r.parent_id < 0) {
      first.push_back(static_cast<double>(r.prompt_tokens));
      continue;
    }
    const Request& p = *by_id.at(static_cast<uint64_t>(r.parent_id));
    gaps_s.push_back(static_cast<double>(r.think_time_ns) / 1e9);
    growth.push_back(static_cast<double>(r.prompt_tokens - p.prompt_tokens));  // the answer and the tool's output
    EXPECT_GE(r.prompt_tokens, p.prompt_tokens + p.output_tokens + 1);
  }
  // Sessions still open at the end of the window are cut short: count the ones opened in the first half only.
  std::vector<double> per_run, ending;
  for (const auto& [session, n] : turns) {
    const Request& opener = *std::find_if(reqs.begin(), reqs.end(),
                                          [&](const Request& r) { return r.session_id == session && r.parent_id < 0; });
    if (opener.arrival_ns > 2000 * int64_t{1'000'000'000}) continue;
    per_run.push_back(static_cast<double>(n));
    ending.push_back(static_cast<double>(last_prompt[session]));
  }
  ASSERT_GT(per_run.size(), 1500u);
  EXPECT_NEAR(mean(first), 12367, 0.01 * 12367);
  EXPECT_NEAR(quantile(per_run, 0.5), 30, 2);
  EXPECT_NEAR(mean(per_run), 33, 0.05 * 33);
  EXPECT_NEAR(quantile(per_run, 0.9), 57, 0.1 * 57);
  EXPECT_NEAR(quantile(gaps_s, 0.5), 5.2, 0.05 * 5.2);
  EXPECT_NEAR(quantile(gaps_s, 0.99), 81.4, 0.1 * 81.4);
  EXPECT_NEAR(mean(growth), 2242, 0.03 * 2242);
  EXPECT_NEAR(mean(ending), 84482, 0.06 * 84482);
}

// workload.sessions' keys override an agentic dataset's shape key by key; the agentic keys work without a dataset.
TEST(AgenticSessions, SessionKeysOverrideTheDatasetShape) {
  const WorkloadSpec base = parse_text("workload: {requests: 10, arrival: {rate: 1}, dataset: codex-swe-bench-pro}");
  ASSERT_TRUE(base.sessions.enabled());
  ASSERT_TRUE(base.sessions.think_time_ms);
  ASSERT_TRUE(base.sessions.turn_tokens);
  const WorkloadSpec fewer =
      parse_text("workload: {requests: 10, arrival: {rate: 1}, dataset: codex-swe-bench-pro, sessions: {turns: 5}}");
  EXPECT_EQ(fewer.sessions.turns.value, 5);
  EXPECT_EQ(fewer.sessions.think_time_ms, base.sessions.think_time_ms);  // the rest of the shape stays
  EXPECT_EQ(fewer.sessions.turn_tokens, base.sessions.turn_tokens);
  const WorkloadSpec human = parse_text(
      "workload: {requests: 10, arrival: {rate: 1}, dataset: codex-swe-bench-pro, sessions: {think_time_s: 30}}");
  EXPECT_FALSE(human.sessions.think_time_ms);  // an exponential think time replaces the tool durations
  EXPECT_EQ(human.sessions.think_time_s, 30);
  EXPECT_EQ(human.sessions.turns, base.sessions.turns);
  // Without a dataset, turns stay required and the agentic keys work on any lengths.
  const WorkloadSpec own = parse_text(
      "workload: {requests: 10, arrival: {rate: 1}, prompt_tokens: 4000, output_tokens: 200, sessions: {turns: 8, "
      "think_time_ms: {dist: uniform, min: 100, max: 300}, turn_tokens: 500}}");
  const auto reqs = collect(*make_request_source(own, RngStreams(1)));
  ASSERT_EQ(reqs.size(), 10u);
  std::map<int64_t, int64_t> depth;  // request id -> its turn in the session
  for (const Request& r : reqs) {
    const auto id = static_cast<int64_t>(r.id);
    if (r.parent_id < 0) {
      EXPECT_EQ(r.prompt_tokens, 4000);
      depth[id] = 0;
      continue;
    }
    depth[id] = depth.at(r.parent_id) + 1;
    EXPECT_EQ(r.prompt_tokens, 4000 + depth[id] * (200 + 500)) << r.id;  // each turn: the answer, then 500 appended
    EXPECT_GE(r.think_time_ns, 100'000'000);
    EXPECT_LE(r.think_time_ns, 300'000'000);
  }
  EXPECT_NE(error_of([] {
              parse_text(
                  "workload: {requests: 10, arrival: {rate: 1}, prompt_tokens: 1, output_tokens: 1, "
                  "sessions: {think_time_ms: 5}}");
            }).find("workload.sessions.turns: required key is missing"),
            std::string::npos);
  const std::string both = error_of([] {
    parse_text(
        "workload: {requests: 10, arrival: {rate: 1}, dataset: codex-swe-bench-pro, "
        "sessions: {think_time_s: 1, think_time_ms: 5}}");
  });
  EXPECT_EQ(both.rfind("s.yaml:1:", 0), 0u) << both;
  EXPECT_NE(both.find("workload.sessions.think_time_ms: set think_time_s (exponential mean) or think_time_ms"),
            std::string::npos)
      << both;
}

// The resolved scenario writes the shape out in full, and reading it back gives the same spec.
TEST(AgenticSessions, TheShapeRoundTripsThroughTheResolvedYaml) {
  for (const char* text :
       {"workload: {requests: 10, arrival: {rate: 1}, dataset: codex-swe-bench-pro}",
        "workload: {requests: 10, arrival: {rate: 1}, dataset: codex-swe-bench-pro, sessions: {think_time_s: 4}}",
        "workload: {requests: 10, arrival: {rate: 1}, prompt_tokens: 40, output_tokens: 2, sessions: {turns: 3, "
        "think_time_ms: {dist: lognormal, mean: 900, stddev: 2000}, turn_tokens: {dist: uniform, min: 1, max: 9}}}"}) {
    const WorkloadSpec spec = parse_text(text);
    YAML::Emitter e;
    e << YAML::Flow << workload_to_yaml(spec);
    const WorkloadSpec again = parse_text(std::string("workload: ") + e.c_str());
    EXPECT_EQ(again.sessions, spec.sessions) << text;
    EXPECT_EQ(again.prompt_tokens, spec.prompt_tokens) << text;
  }
}

}  // namespace
}  // namespace kvsim::traces
