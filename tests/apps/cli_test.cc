// The command line as a user meets it: exit codes, one-line errors naming the place, no partial outputs.
#include "apps/cli.h"
#include "tests/apps/cli_runner.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

namespace kvsim::app {
namespace {

namespace fs = std::filesystem;

using Result = testing::CliResult;
using testing::cli;

std::string temp_out(const std::string& name) {
  const fs::path p = fs::temp_directory_path() / ("kvsim-cli-" + name + "-" + std::to_string(::getpid()));
  fs::remove_all(p);
  return p.string();
}

const std::string kBadDir = std::string(KVSIM_TEST_SOURCE_DIR) + "/tests/bad_inputs";

TEST(Cli, EveryBadInputGivesExitTwoOneLineAndNoOutputs) {
  std::ifstream expected(kBadDir + "/expected.txt");
  std::string line;
  int cases = 0;
  while (std::getline(expected, line)) {
    if (line.empty() || line[0] == '#') continue;
    const size_t bar = line.find(" | ");
    const std::string file = line.substr(0, bar);
    std::string want = line.substr(bar + 3);
    if (const size_t d = want.find("{dir}"); d != std::string::npos) want.replace(d, 5, kBadDir);
    const std::string out_dir = temp_out("bad");
    const Result r = cli({"run", kBadDir + "/" + file, "-o", out_dir});
    EXPECT_EQ(r.code, 2) << file << ": " << r.err;
    EXPECT_EQ(r.err.rfind(want, 0), 0u) << file << "\n  got:  " << r.err << "  want: " << want;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << file << ": " << r.err;
    EXPECT_FALSE(fs::exists(out_dir)) << file << " left " << out_dir;
    ++cases;
  }
  EXPECT_GE(cases, 10);
}

TEST(Cli, SetErrorsNameSet) {
  const Result r = cli({"run", "--set", "cache.block_size=0", "-o", temp_out("set")});
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err, "--set: cache.block_size: expected an integer in [1 .. 4096], found '0'\n");
}

TEST(Cli, RunWritesEveryOutputAndJsonHasVllmKeys) {
  const std::string dir = temp_out("run");
  const Result r = cli({"run", "--set", "workload.requests=50", "-o", dir, "--format", "json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  for (const char* key : {"request_throughput",
                          "output_throughput",
                          "total_token_throughput",
                          "mean_ttft_ms",
                          "median_ttft_ms",
                          "std_ttft_ms",
                          "p90_ttft_ms",
                          "p99_ttft_ms",
                          "mean_tpot_ms",
                          "p99_itl_ms",
                          "mean_e2el_ms",
                          "completed",
                          "duration",
                          "total_input_tokens",
                          "total_output_tokens",
                          "rejected",
                          "num_preemptions",
                          "mean_running_requests",
                          "mean_requests_in_system",
                          "kv_capacity_tokens",
                          "kv_token_utilization",
                          "weights_bytes",
                          "peak_hbm_bytes",
                          "peak_kv_hbm_bytes",
                          "peak_kv_host_bytes",
                          "pcie_h2d_bytes",
                          "pcie_d2h_bytes",
                          "retention_attention",
                          "retention_early_facts",
                          "slo_attainment",
                          "goodput"}) {
    EXPECT_TRUE(j.contains(key)) << key;
  }
  EXPECT_EQ(j["completed"].get<int>(), 50);
  for (const char* f : {"summary.json", "requests.csv", "memory.csv", "scenario.resolved.yaml"}) {
    EXPECT_TRUE(fs::exists(dir + "/" + f)) << f;
  }
  // No temporary files are left beside the outputs.
  for (const auto& e : fs::directory_iterator(dir)) {
    EXPECT_EQ(e.path().string().find(".tmp."), std::string::npos) << e.path();
  }
  fs::remove_all(dir);
}

TEST(Cli, CompareJsonKeysPoliciesAndListsRates) {
  const std::string dir = temp_out("cmp");
  const Result r = cli({"compare", "--rates", "0.5,1", "--set", "workload.requests=20", "-o", dir, "--format", "json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  ASSERT_TRUE(j.contains("vllm"));
  ASSERT_EQ(j["vllm"].size(), 2u);
  EXPECT_EQ(j["vllm"][0]["request_rate"].get<double>(), 0.5);
  EXPECT_EQ(j["vllm"][1]["request_rate"].get<double>(), 1.0);
  fs::remove_all(dir);
}

TEST(Cli, CostReportsEveryOpAndATotal) {
  const Result r = cli({"cost", "--model", "llama-3.1-8b", "--hardware", "h100-sxm5-80gb", "--tokens", "32", "--batch",
                        "32", "--context", "4096", "--phase", "decode", "--format", "json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  std::vector<std::string> names;
  double per_layer = 0, once = 0;
  for (const auto& op : j["ops"]) {
    names.push_back(op["name"]);
    (op["name"] == "embedding" || op["name"] == "lm_head" ? once : per_layer) += op["time_ms"].get<double>();
    EXPECT_EQ(op["source"], "roofline");
  }
  EXPECT_EQ(names, (std::vector<std::string>{"qkv_proj", "rope", "attention", "o_proj", "gate_up_proj", "act",
                                             "down_proj", "norm", "embedding", "lm_head"}));
  EXPECT_NEAR(j["total_ms"].get<double>(), per_layer * 32 + once, 1e-3);
}

TEST(Cli, ListsCatalogs) {
  const Result m = cli({"models", "--format", "json"});
  ASSERT_EQ(m.code, 0) << m.err;
  EXPECT_EQ(nlohmann::json::parse(m.out).size(), 14u);
  const Result h = cli({"hardware", "--format", "json"});
  ASSERT_EQ(h.code, 0) << h.err;
  EXPECT_EQ(nlohmann::json::parse(h.out).size(), 12u);
}

TEST(Cli, UnknownPolicyNamesTheOptionAndTheNearestPolicy) {
  const Result r = cli({"compare", "--policies", "vllm,orca-maxx", "-o", temp_out("policies")});
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err.rfind("--policies: unknown policy 'orca-maxx' (did you mean 'orca-max'?); valid: vllm,", 0), 0u)
      << r.err;
}

TEST(Cli, UnknownSubcommandOrOptionIsExitTwo) {
  EXPECT_EQ(cli({"frobnicate"}).code, 2);
  EXPECT_EQ(cli({"run", "--no-such-flag"}).code, 2);
}

}  // namespace
}  // namespace kvsim::app
