// kvsim report: one self-contained page (inline SVG, nothing fetched) for run, compare and sweep folders.
#include <gtest/gtest.h>

#include <fmt/format.h>
#include <filesystem>
#include <fstream>

#include "sim/planning/report.h"
#include "sim/run.h"
#include "sim/planning/sweep.h"
#include "tests/sim/test_util.h"

namespace kvsim::sim {
namespace {

namespace fs = std::filesystem;

int count(const std::string& s, const std::string& what) {
  int n = 0;
  for (size_t p = s.find(what); p != std::string::npos; p = s.find(what, p + 1)) ++n;
  return n;
}

void expect_self_contained(const std::string& html) {
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_EQ(count(html, "<script"), 0);
  EXPECT_EQ(count(html, "src="), 0);
  EXPECT_EQ(count(html, "href="), 0);
  // Every svg is closed and every coordinate a number.
  EXPECT_EQ(count(html, "<svg"), count(html, "</svg>"));
  EXPECT_EQ(count(html, "nan"), 0);
  EXPECT_EQ(count(html, "inf\""), 0);
}

TEST(Report, RunCompareAndSweepFoldersRender) {
  const std::string dir = testing::temp_dir("report");
  const char* const yaml = R"(
model: llama-3.1-8b
hardware: h100-sxm5-80gb
workload: {requests: 100, arrival: {rate: 4}, dataset: sharegpt}
)";
  // A compare folder: policy/rate-R/.
  for (const std::string policy : {"vllm", "orca-max"}) {
    for (const double rate : {1.0, 4.0}) {
      run_scenario(
          testing::scenario_from(yaml, {"cache.policy=" + policy, fmt::format("workload.arrival.rate={}", rate)}),
          fmt::format("{}/compare/{}/rate-{}", dir, policy, rate));
    }
  }
  const std::string compare = render_report(dir + "/compare");
  expect_self_contained(compare);
  EXPECT_NE(compare.find("Throughput and latency against the request rate"), std::string::npos);
  EXPECT_NE(compare.find("Latency CDF: time per output token"), std::string::npos);
  EXPECT_EQ(compare.find("Pareto front"), std::string::npos);  // one price for every point: no front
  EXPECT_NE(compare.find("KV memory per tier over time"), std::string::npos);
  EXPECT_GE(count(compare, "<svg"), 4);
  // A sweep folder with prices: the cost Pareto front.
  {
    std::ofstream g(dir + "/grid.yaml");
    g << yaml << "sweep:\n  cluster.replicas: [1, 2]\n  workload.arrival.rate: [2, 8]\n";
  }
  SweepOptions o;
  o.out_dir = dir + "/sweep";
  run_sweep(load_sweep(dir + "/grid.yaml"), o);
  const std::string sweep = render_report(o.out_dir);
  expect_self_contained(sweep);
  EXPECT_NE(sweep.find("Sweep of 4 points"), std::string::npos);
  EXPECT_NE(sweep.find("Pareto front"), std::string::npos);
  EXPECT_NE(testing::error_of([&] { render_report(dir + "/grid.yaml"); }).find("not a folder of kvsim outputs"),
            std::string::npos);
  fs::create_directories(dir + "/empty");
  EXPECT_NE(testing::error_of([&] { render_report(dir + "/empty"); }).find("no summary.json"), std::string::npos);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace kvsim::sim
