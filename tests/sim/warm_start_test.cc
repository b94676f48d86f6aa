// A warm start (workload.warmup_requests): the first requests fill the prefix cache and the batch, and are left out
// of every count, rate and latency.
#include <gtest/gtest.h>

#include <filesystem>
#include <sstream>

#include "sim/run.h"
#include "tests/sim/test_util.h"

namespace kvsim::sim {
namespace {

// 50 distinct 2,000-token prompts, repeated: the first 50 requests miss the prefix cache and prefill in full, the
// rest hit it. A cold run's TTFT carries those misses; a warm start leaves them out, as a benchmark that warmed the
// server first measures it.
const char* const kRepeated = R"(
model: llama-3.1-8b
hardware: h100-sxm5-80gb
cache: {prefix_caching: true}
workload:
  requests: 400
  arrival: {process: poisson, rate: 8}
  distinct_prompts: 50
  prompt_tokens: 2000
  output_tokens: 50
)";

TEST(WarmStart, WarmUpRequestsAreServedButLeftOutOfEveryCountRateAndLatency) {
  const RunResult cold = run_scenario(testing::scenario_from(kRepeated), "");
  const std::string dir = testing::temp_dir("warm-start");
  const RunResult warm = run_scenario(testing::scenario_from(kRepeated, {"workload.warmup_requests=50"}), dir);
  EXPECT_FALSE(cold.summary.contains("warmup_requests"));
  EXPECT_EQ(warm.summary["warmup_requests"].get<int64_t>(), 50);
  EXPECT_EQ(cold.summary["completed"].get<int64_t>(), 400);
  EXPECT_EQ(warm.summary["completed"].get<int64_t>(), 350);
  EXPECT_EQ(warm.summary["total_output_tokens"].get<int64_t>(), 350 * 50);
  EXPECT_EQ(warm.summary["total_input_tokens"].get<int64_t>(), 350 * 2000);
  // The same run: only what is counted differs.
  EXPECT_DOUBLE_EQ(warm.summary["duration"].get<double>(), cold.summary["duration"].get<double>());
  EXPECT_LT(warm.summary["mean_ttft_ms"].get<double>(), 0.8 * cold.summary["mean_ttft_ms"].get<double>());
  // Throughput counts from the first counted request's arrival (request 50's, in requests.csv) to the end.
  std::istringstream csv(testing::read_file(dir + "/requests.csv"));
  std::string line;
  double arrival_50 = -1;
  while (std::getline(csv, line)) {
    if (line.rfind("50,", 0) == 0) {
      std::istringstream row(line);
      std::string cell;
      for (int i = 0; i < 4 && std::getline(row, cell, ','); ++i) {
      }
      arrival_50 = std::stod(cell);
    }
  }
  ASSERT_GT(arrival_50, 0);
  const double window_s = warm.summary["duration"].get<double>() - arrival_50;
  EXPECT_NEAR(warm.summary["request_throughput"].get<double>(), 350 / window_s, 1e-9 * 350 / window_s);
  std::filesystem::remove_all(dir);
}

TEST(WarmStart, KeyRoundTripsAndIsChecked) {
  const Scenario s = testing::scenario_from(kRepeated, {"workload.warmup_requests=7"});
  EXPECT_EQ(s.workload.warmup_requests, 7);
  YAML::Emitter e;
  e << scenario_to_yaml(s);
  EXPECT_EQ(testing::scenario_from(e.c_str()).workload.warmup_requests, 7);
  const std::string err = testing::error_of([] { testing::scenario_from(kRepeated, {"workload.warmup_requests=-1"}); });
  EXPECT_NE(err.find("workload.warmup_requests"), std::string::npos) << err;
}

}  // namespace
}  // namespace kvsim::sim
