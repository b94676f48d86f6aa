// timeline.json's counter tracks (KV per tier, waiting requests) and per-request async spans: valid JSON, each
// counter track forward in time, every "b" closed by an "e" of the same id, cat and name, spans nested in their
// request, and the sampling rule (output.timeline_request_every / timeline_max_requests) taking exactly its ids.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <tuple>

#include <nlohmann/json.hpp>

#include "sim/run.h"
#include "sim/scenario.h"
#include "tests/sim/test_util.h"

namespace kvsim::sim {
namespace {

struct Parsed {
  std::map<std::pair<int, std::string>, std::vector<double>> counters;  // (pid, name) -> ts, in file order
  std::map<uint64_t, std::vector<std::pair<std::string, std::pair<double, double>>>> spans;  // id -> (name, [b, e])
  std::map<std::pair<int, int>, std::vector<double>> complete_ts;                            // (pid, tid) -> X ts
};

// Parses the file and checks what holds for every timeline: begins and ends pair up per (cat, id, name).
Parsed parse(const std::string& file) {
  std::ifstream in(file);
  const auto j = nlohmann::json::parse(in);  // throws on invalid JSON
  Parsed p;
  std::map<std::tuple<std::string, uint64_t, std::string>, std::vector<double>> open;
  for (const auto& e : j.at("traceEvents")) {
    const std::string ph = e.at("ph");
    if (ph == "C") {
      EXPECT_TRUE(e.at("args").is_object() && e["args"].size() == 1) << e.dump();
      EXPECT_GE(e["args"].begin()->get<double>(), 0) << e.dump();
      p.counters[{e.at("pid").get<int>(), e.at("name").get<std::string>()}].push_back(e.at("ts").get<double>());
    } else if (ph == "b" || ph == "e") {
      const auto key =
          std::make_tuple(e.at("cat").get<std::string>(), e.at("id").get<uint64_t>(), e.at("name").get<std::string>());
      if (ph == "b") {
        open[key].push_back(e.at("ts").get<double>());
      } else {
        auto it = open.find(key);
        EXPECT_TRUE(it != open.end() && !it->second.empty()) << "an end without a begin: " << e.dump();
        if (it == open.end() || it->second.empty()) continue;
        const double b = it->second.back();
        it->second.pop_back();
        EXPECT_LE(b, e["ts"].get<double>()) << e.dump();
        p.spans[std::get<1>(key)].push_back({std::get<2>(key), {b, e["ts"].get<double>()}});
      }
    } else if (ph == "X") {
      p.complete_ts[{e.at("pid").get<int>(), e.at("tid").get<int>()}].push_back(e.at("ts").get<double>());
    }
  }
  for (const auto& [key, begins] : open) EXPECT_TRUE(begins.empty()) << "a begin without an end: " << std::get<2>(key);
  return p;
}

TEST(TimelineTracks, CountersForwardInTimeAndRequestSpansNested) {
  // Swap preemption puts KV on the host: the host track must appear.
  const char* const yaml = R"(
model: opt-13b
hardware: a100-sxm4-40gb
dtype: fp16
engine: {version: v0, max_model_len: 2048, num_gpu_blocks: 300}
cache: {policy: vllm-swap}
cluster: {replicas: 2}
output: {timeline: true, memory_interval_ms: 50}
workload: {requests: 80, arrival: {rate: 20}, prompt_tokens: 300, output_tokens: 200}
)";
  const std::string dir = testing::temp_dir("timeline_tracks");
  const RunResult r = run_scenario(testing::scenario_from(yaml), dir);
  const Parsed p = parse(dir + "/timeline.json");
  const double end_us = r.summary["duration"].get<double>() * 1e6;
  std::set<std::string> names;
  for (const auto& [key, ts] : p.counters) {
    names.insert(key.second);
    EXPECT_LT(key.first, 2);
    for (size_t i = 1; i < ts.size(); ++i) EXPECT_LE(ts[i - 1], ts[i]) << key.second << " on replica " << key.first;
    EXPECT_LE(ts.back(), end_us + 1);
  }
  EXPECT_EQ(names, (std::set<std::string>{"KV GPU", "KV host", "waiting requests"}));  // no disk tier here
  // Every iteration of a replica starts after the previous one started.
  for (const auto& [key, ts] : p.complete_ts) {
    if (key.second != 1) continue;
    for (size_t i = 1; i < ts.size(); ++i) EXPECT_LE(ts[i - 1], ts[i]);
  }
  // Every request (default sampling: all of them) has its span and, inside it, queued -> prefill -> decode back to
  // back.
  EXPECT_EQ(p.spans.size(), r.summary["completed"].get<size_t>());
  for (const auto& [id, spans] : p.spans) {
    std::map<std::string, std::pair<double, double>> by;
    for (const auto& [name, be] : spans) by[name] = be;
    ASSERT_TRUE(by.contains("request") && by.contains("queued") && by.contains("prefill")) << id;
    EXPECT_EQ(by["queued"].first, by["request"].first);
    EXPECT_EQ(by["queued"].second, by["prefill"].first);
    EXPECT_LE(by["prefill"].second, by["request"].second);
    if (by.contains("decode")) {
      EXPECT_EQ(by["decode"].first, by["prefill"].second);
      EXPECT_EQ(by["decode"].second, by["request"].second);
    }
  }
  std::filesystem::remove_all(dir);
}

TEST(TimelineTracks, SamplingTakesEveryKthRequestUpToTheCap) {
  const char* const yaml = R"(
model: llama-3.1-8b
hardware: h100-sxm5-80gb
output: {timeline: true, timeline_request_every: 7, timeline_max_requests: 5}
workload: {requests: 100, arrival: {rate: 10}, prompt_tokens: 200, output_tokens: 20}
)";
  const std::string dir = testing::temp_dir("timeline_sampling");
  const Scenario s = testing::scenario_from(yaml);
  const RunResult r = run_scenario(s, dir);
  ASSERT_EQ(r.summary["completed"].get<int64_t>(), 100);
  const Parsed p = parse(dir + "/timeline.json");
  std::set<uint64_t> ids;
  for (const auto& [id, spans] : p.spans) ids.insert(id);
  EXPECT_EQ(ids, (std::set<uint64_t>{0, 7, 14, 21, 28}));
  // The keys round-trip through scenario.resolved.yaml, and a default run's resolved scenario does not name them.
  std::ifstream resolved(dir + "/scenario.resolved.yaml");
  const std::string text((std::istreambuf_iterator<char>(resolved)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("timeline_request_every: 7"), std::string::npos);
  EXPECT_NE(text.find("timeline_max_requests: 5"), std::string::npos);
  const Scenario again = load_scenario(dir + "/scenario.resolved.yaml", {});
  EXPECT_EQ(again.output.timeline_request_every, 7);
  EXPECT_EQ(again.output.timeline_max_requests, 5);
  std::filesystem::remove_all(dir);
  // Range checks name the key.
  EXPECT_NE(testing::error_of([&] {
              testing::scenario_from(yaml, {"output.timeline_request_every=0"});
            }).find("timeline_request_every"),
            std::string::npos);
  EXPECT_NE(testing::error_of([&] {
              testing::scenario_from(yaml, {"output.timeline_max_requests=-1"});
            }).find("timeline_max_requests"),
            std::string::npos);
  // Zero spans: counters and iterations only.
  const std::string dir2 = testing::temp_dir("timeline_nospans");
  run_scenario(testing::scenario_from(yaml, {"output.timeline_max_requests=0"}), dir2);
  EXPECT_TRUE(parse(dir2 + "/timeline.json").spans.empty());
  std::filesystem::remove_all(dir2);
}

}  // namespace
}  // namespace kvsim::sim
