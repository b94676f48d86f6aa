// kvsim report: one self-contained page (inline SVG, nothing fetched) for run, compare and sweep folders.
#include <gtest/gtest.h>

#include <fmt/format.h>
#include <filesystem>
#include <fstream>
#include <regex>

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

// No number in scientific notation anywhere in the page's text (coordinates are plain decimals too).
void expect_readable_numbers(const std::string& html) {
  static const std::regex kScientific(R"([0-9][eE][-+]?[0-9])");
  std::smatch m;
  EXPECT_FALSE(std::regex_search(html, m, kScientific)) << "scientific notation: ..." << m.prefix().str().substr(
                                                              std::max<size_t>(m.prefix().length(), 60) - 60)
                                                        << m.str();
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
  EXPECT_NE(compare.find("Latency and throughput against the request rate"), std::string::npos);
  EXPECT_NE(compare.find("Time per output token (TPOT)"), std::string::npos);
  EXPECT_EQ(compare.find("Pareto front"), std::string::npos);  // one price for every point: no front
  EXPECT_NE(compare.find("KV cache use per replica"), std::string::npos);
  // Three rate charts, four latency CDFs (TTFT, TPOT, ITL, E2E) and one KV panel for the one replica of the last run.
  EXPECT_EQ(count(compare, "<svg class=\"chart\""), 8);
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
  // Two configurations (1 and 2 replicas): two lines in each of the three rate charts.
  EXPECT_NE(sweep.find("Configurations</th><td>2: replicas=1; replicas=2"), std::string::npos);
  // Both configurations at the highest rate are labelled; the front is listed, and the cheaper fleet is always on it.
  EXPECT_EQ(count(sweep, "class=\"point-label\""), 2);
  const int front = count(sweep, "<tr><td>replicas=");
  EXPECT_GE(front, 1);
  EXPECT_NE(sweep.find("<tr><td>replicas=1</td>"), std::string::npos);
  EXPECT_EQ(count(sweep, "<path class=\"series\""), 3 * 2 + (front > 1 ? 1 : 0));  // and the front's line
  EXPECT_NE(sweep.find("class=\"point-label\" x=\"70.0\""), std::string::npos);  // the cheapest, at the left edge
  expect_readable_numbers(sweep);
  EXPECT_NE(testing::error_of([&] { render_report(dir + "/grid.yaml"); }).find("not a folder of kvsim outputs"),
            std::string::npos);
  fs::create_directories(dir + "/empty");
  EXPECT_NE(testing::error_of([&] { render_report(dir + "/empty"); }).find("no summary.json"), std::string::npos);
  fs::remove_all(dir);
}

// A run's page names what was run, draws one CDF per latency metric on a log axis with the scenario's SLO lines, and
// one KV panel per replica.
TEST(Report, RunPageHasHeaderSloLinesAndOnePanelPerReplica) {
  const std::string dir = testing::temp_dir("report_run_page");
  const char* const yaml = R"(
model: llama-3.1-8b
hardware: h100-sxm5-80gb
cluster: {replicas: 3, router: least-outstanding}
cache: {policy: vllm}
slo: {ttft_ms: 300, tpot_ms: 40}
workload: {requests: 150, arrival: {rate: 12}, dataset: sharegpt}
)";
  run_scenario(testing::scenario_from(yaml), dir + "/run");
  const std::string html = render_report(dir + "/run");
  expect_self_contained(html);
  expect_readable_numbers(html);
  for (const char* want : {"<th>Model</th><td>llama-3.1-8b</td>", "<th>GPU</th><td>h100-sxm5-80gb</td>",
                           "<th>Tensor parallel</th><td>1</td>", "<th>Cache policy</th><td>vllm</td>",
                           "<th>Replicas and router</th><td>3 behind least-outstanding</td>",
                           "<th>SLO</th><td>TTFT 300 ms, TPOT 40 ms</td>", "<th>Workload</th><td>poisson 12 req/s"}) {
    EXPECT_NE(html.find(want), std::string::npos) << want;
  }
  EXPECT_EQ(count(html, "(log scale)"), 4);  // TTFT, TPOT, ITL, E2E
  EXPECT_EQ(count(html, "<line class=\"ref\""), 3);  // TTFT's SLO; TPOT's on the TPOT and ITL panels
  EXPECT_NE(html.find("SLO TTFT 300 ms"), std::string::npos);
  EXPECT_NE(html.find("Inter-token latency (ITL"), std::string::npos);
  EXPECT_EQ(count(html, "<div class=\"multiples\">"), 1);
  EXPECT_EQ(count(html, ">replica 0</text>") + count(html, ">replica 1</text>") + count(html, ">replica 2</text>"), 3);
  EXPECT_EQ(count(html, "<svg class=\"chart\""), 4 + 3);
  // The ITL CDF in summary.json is the distribution its percentile keys summarise: rising, and equal to them where
  // they meet.
  const auto summary = nlohmann::json::parse(testing::read_file(dir + "/run/summary.json"));
  const auto& q = summary["itl_cdf_ms"]["percentiles"];
  const auto& ms = summary["itl_cdf_ms"]["ms"];
  ASSERT_EQ(q.size(), 103u);
  ASSERT_EQ(ms.size(), q.size());
  for (size_t i = 1; i < ms.size(); ++i) EXPECT_LE(ms[i - 1].get<double>(), ms[i].get<double>()) << i;
  EXPECT_EQ(ms[50].get<double>(), summary["median_itl_ms"].get<double>());
  EXPECT_EQ(ms[90].get<double>(), summary["p90_itl_ms"].get<double>());
  EXPECT_EQ(ms[99].get<double>(), summary["p99_itl_ms"].get<double>());
  EXPECT_EQ(ms[102].get<double>(), summary["max_itl_ms"].get<double>());
  EXPECT_LT(ms[0].get<double>(), ms[102].get<double>());
  // Without SLOs: no reference lines, and the header says so.
  run_scenario(testing::scenario_from(std::regex_replace(std::string(yaml), std::regex("slo: [^\n]*\n"), "")),
               dir + "/noslo");
  const std::string plain = render_report(dir + "/noslo");
  EXPECT_EQ(count(plain, "<line class=\"ref\""), 0);
  EXPECT_NE(plain.find("<th>SLO</th><td>none</td>"), std::string::npos);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace kvsim::sim
