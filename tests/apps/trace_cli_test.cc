// kvsim trace gen / trace stats as a user runs them: a generated trace reads back with its rate, burstiness and
// means; bad files exit 2 with their line; --skip-bad-lines counts instead.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "tests/apps/cli_runner.h"

namespace kvsim::app {
namespace {

namespace fs = std::filesystem;
using testing::cli;

std::string temp_path(const std::string& name) {
  return (fs::temp_directory_path() / ("kvsim-trace-cli-" + std::to_string(::getpid()) + "-" + name)).string();
}

TEST(TraceCli, GeneratedTraceReadsBackWithItsRateBurstinessAndMeans) {
  const std::string file = temp_path("gen.csv");
  const auto gen = cli({"trace", "gen", "--arrival", "gamma", "--rate", "4", "--cv", "2", "--dataset", "sharegpt",
                        "--requests", "20000", "--seed", "7", "-o", file});
  ASSERT_EQ(gen.code, 0) << gen.err;
  EXPECT_NE(gen.out.find("wrote 20000 requests"), std::string::npos);
  const auto stats = cli({"trace", "stats", file, "--format", "json"});
  ASSERT_EQ(stats.code, 0) << stats.err;
  const auto j = nlohmann::json::parse(stats.out);
  EXPECT_EQ(j["requests"].get<int64_t>(), 20000);
  EXPECT_EQ(j["format"].get<std::string>(), "simple");
  EXPECT_NEAR(j["mean_rate"].get<double>(), 4.0, 0.2);
  EXPECT_NEAR(j["interarrival_cv"].get<double>(), 2.0, 0.15);
  EXPECT_NEAR(j["prompt_tokens"]["mean"].get<double>(), 161.31, 0.05 * 161.31);
  EXPECT_NEAR(j["output_tokens"]["mean"].get<double>(), 337.99, 0.05 * 337.99);
  // Sessions go into the extra columns, and the table form prints.
  const std::string sessions = temp_path("sessions.csv");
  ASSERT_EQ(cli({"trace", "gen", "--requests", "50", "--dataset", "alpaca", "--set", "workload.sessions.turns=3", "-o",
                 sessions})
                .code,
            0);
  std::ifstream in(sessions);
  std::string header;
  std::getline(in, header);
  EXPECT_EQ(header, "arrival_s,prompt_tokens,output_tokens,session_id,prefix_id,prefix_tokens");
  const auto table = cli({"trace", "stats", sessions});
  EXPECT_EQ(table.code, 0);
  EXPECT_NE(table.out.find("requests in sessions 50"), std::string::npos);
  fs::remove(file);
  fs::remove(sessions);
}

TEST(TraceCli, BadRowsExitTwoWithTheLineOrAreSkippedAndCounted) {
  const std::string file = temp_path("bad.csv");
  {
    std::ofstream f(file);
    f << "arrival_s,prompt_tokens,output_tokens\n0,10,2\n1,abc,2\n2,5,5\n";
  }
  const auto bad = cli({"trace", "stats", file});
  EXPECT_EQ(bad.code, 2);
  EXPECT_EQ(bad.err, file + ":3: prompt_tokens: expected a non-negative integer, found 'abc'\n");
  const auto skip = cli({"trace", "stats", file, "--skip-bad-lines", "--format", "json"});
  ASSERT_EQ(skip.code, 0) << skip.err;
  const auto j = nlohmann::json::parse(skip.out);
  EXPECT_EQ(j["requests"].get<int64_t>(), 2);
  EXPECT_EQ(j["skipped_rows"].get<int64_t>(), 1);
  // kvsim run on the same file: stops at the bad row, or with --skip-bad-lines serves the rest and says so.
  const std::string scenario = temp_path("bad.yaml");
  {
    std::ofstream f(scenario);
    f << "model: llama-3.1-8b\nhardware: h100-sxm5-80gb\nworkload: {trace: " << file << "}\n";
  }
  const std::string out_dir = temp_path("run-out");
  EXPECT_EQ(cli({"run", scenario, "-o", out_dir}).code, 2);
  EXPECT_FALSE(fs::exists(out_dir));
  ASSERT_EQ(cli({"run", scenario, "--skip-bad-lines", "-o", out_dir, "--format", "json"}).code, 0);
  std::ifstream summary(out_dir + "/summary.json");
  const auto run = nlohmann::json::parse(summary);
  EXPECT_EQ(run["completed"].get<int64_t>(), 2);
  EXPECT_NE(run["workload"].get<std::string>().find("1 bad rows skipped"), std::string::npos);
  fs::remove_all(out_dir);
  fs::remove(scenario);
  EXPECT_EQ(cli({"trace", "gen", "--requests", "5", "--dataset", "sharegpt", "--set", "workload.arival.rate=3", "-o",
                 temp_path("x.csv")})
                .code,
            2);
  EXPECT_FALSE(fs::exists(temp_path("x.csv")));
  fs::remove(file);
}

}  // namespace
}  // namespace kvsim::app
