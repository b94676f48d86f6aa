// timeline.json: valid Chrome / Perfetto trace events (ph, ts, dur, pid, tid), one complete event per iteration on
// each replica's track, transfers on its pcie track.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "sim/run.h"
#include "tests/sim/test_util.h"

namespace kvsim::sim {
namespace {

TEST(Timeline, OneEventPerIterationAndTransfersOnThePcieTrack) {
  const char* const yaml = R"(
model: opt-13b
hardware: a100-sxm4-40gb
dtype: fp16
engine: {version: v0, max_model_len: 2048, num_gpu_blocks: 300}
cache: {policy: vllm-swap}
cluster: {replicas: 2}
output: {timeline: true}
workload: {requests: 60, arrival: {rate: 20}, prompt_tokens: 300, output_tokens: 200}
)";
  const std::string dir = testing::temp_dir("timeline");
  const RunResult r = run_scenario(testing::scenario_from(yaml), dir);
  std::ifstream in(dir + "/timeline.json");
  const auto j = nlohmann::json::parse(in);
  int64_t iterations = 0, swaps = 0;
  const double end_us = r.summary["duration"].get<double>() * 1e6;
  for (const auto& e : j.at("traceEvents")) {
    ASSERT_TRUE(e.contains("ph") && e.contains("pid") && e.contains("tid") && e.contains("name"));
    if (e["ph"] != "X") continue;
    ASSERT_TRUE(e.contains("ts") && e.contains("dur"));
    EXPECT_GE(e["ts"].get<double>(), 0);
    EXPECT_GT(e["dur"].get<double>(), 0);
    EXPECT_LE(e["ts"].get<double>() + e["dur"].get<double>(), end_us + 1);
    EXPECT_LT(e["pid"].get<int>(), 2);
    if (e["tid"] == 1) {
      ++iterations;
      // Every sequence of a batch computes at least one token, swapped-in ones included.
      EXPECT_GE(e["args"]["tokens"].get<int64_t>(), e["args"]["batch"].get<int64_t>()) << e.dump();
    }
    if (e["name"] == "swap") ++swaps;
  }
  EXPECT_EQ(iterations, r.summary["num_iterations"].get<int64_t>());
  EXPECT_GT(r.summary["num_preemptions"].get<int64_t>(), 0);
  EXPECT_GT(swaps, 0);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace kvsim::sim
