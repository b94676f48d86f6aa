// Cost of a run: GPUs x the hardware's list price per GPU-hour x the run's duration, over the tokens it served.
#include <gtest/gtest.h>

#include "sim/run.h"
#include "tests/sim/test_util.h"

namespace kvsim::sim {
namespace {

const char* const kRun = R"(
model: llama-3.1-8b
hardware: h100-sxm5-80gb
cluster: {replicas: 2}
workload: {requests: 200, arrival: {rate: 10}, prompt_tokens: 500, output_tokens: 100}
)";

TEST(DollarCost, ListPriceTimesGpusTimesDurationOverTokens) {
  const RunResult r = run_scenario(testing::scenario_from(kRun), "");
  const auto& j = r.summary;
  EXPECT_EQ(j["gpus"].get<int64_t>(), 2);
  EXPECT_DOUBLE_EQ(j["usd_per_hour"].get<double>(), 2 * 12.29);  // p5.48xlarge per GPU (hw/catalog)
  const double usd = 2 * 12.29 * j["duration"].get<double>() / 3600;
  EXPECT_NEAR(j["usd_per_million_output_tokens"].get<double>(), usd / (200 * 100 / 1e6), 1e-9);
  EXPECT_NEAR(j["usd_per_million_tokens"].get<double>(), usd / (200 * 600 / 1e6), 1e-9);
  // A scenario's own price wins; tensor parallelism counts every GPU of the group.
  const RunResult tp = run_scenario(
      testing::scenario_from(kRun, {"cost.gpu_hour_usd=2", "cluster.replicas=1", "cluster.tensor_parallel=4"}), "");
  EXPECT_DOUBLE_EQ(tp.summary["usd_per_hour"].get<double>(), 8.0);
  // Without a known price there is no cost to report.
  const RunResult none = run_scenario(testing::scenario_from(kRun, {"hardware=h200-sxm-141gb"}), "");
  EXPECT_FALSE(none.summary.contains("usd_per_hour"));
}

}  // namespace
}  // namespace kvsim::sim
