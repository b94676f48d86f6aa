// README.md's "Output files and columns" lists every key of summary.json and every column of requests.csv and
// memory.csv: runs that bring out the optional keys (SLO, prices, a latency sketch, static batches, notes) must
// not write a name the glossary does not explain.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "sim/run.h"
#include "tests/sim/test_util.h"

namespace kvsim::sim {
namespace {

// "{a,b}_{x,y}_ms" -> a_x_ms, a_y_ms, b_x_ms, b_y_ms.
std::vector<std::string> expand(const std::string& pattern) {
  const size_t open = pattern.find('{');
  if (open == std::string::npos) return {pattern};
  const size_t close = pattern.find('}', open);
  std::vector<std::string> out;
  std::stringstream choices(pattern.substr(open + 1, close - open - 1));
  for (std::string c; std::getline(choices, c, ',');) {
    for (const std::string& rest : expand(pattern.substr(close + 1))) out.push_back(pattern.substr(0, open) + c + rest);
  }
  return out;
}

// The names in the first cell of each table row after the line that starts with **<file>**, within the section.
std::map<std::string, std::set<std::string>> glossary() {
  const std::string readme = testing::read_file(std::string(KVSIM_TEST_SOURCE_DIR) + "/README.md");
  const size_t begin = readme.find("\n## Output files and columns\n");
  EXPECT_NE(begin, std::string::npos) << "README.md has no section 'Output files and columns'";
  if (begin == std::string::npos) return {};
  const size_t end = readme.find("\n## ", begin + 1);
  std::stringstream section(readme.substr(begin, end - begin));
  std::map<std::string, std::set<std::string>> names;
  std::string file;
  for (std::string line; std::getline(section, line);) {
    if (line.starts_with("**")) {
      file = line.substr(2, line.find("**", 2) - 2);
    } else if (!file.empty() && line.starts_with("| `")) {
      const std::string cell = line.substr(1, line.find('|', 1) - 1);
      for (size_t at = cell.find('`'); at != std::string::npos; at = cell.find('`', at + 1)) {
        const size_t close = cell.find('`', at + 1);
        for (const std::string& n : expand(cell.substr(at + 1, close - at - 1))) names[file].insert(n);
        at = close;
      }
    }
  }
  return names;
}

std::vector<std::string> csv_header(const std::string& path) {
  std::stringstream first(testing::read_file(path).substr(0, testing::read_file(path).find('\n')));
  std::vector<std::string> columns;
  for (std::string c; std::getline(first, c, ',');) columns.push_back(c);
  return columns;
}

TEST(Glossary, ListsEverySummaryKeyAndCsvColumn) {
  const auto names = glossary();
  ASSERT_TRUE(names.contains("summary.json") && names.contains("requests.csv") && names.contains("memory.csv"));
  const std::string dir = testing::temp_dir("glossary");
  // Every optional key: an SLO, a price, percentiles past the exact limit, the API server's note.
  const RunResult served = run_scenario(testing::scenario_from(R"(
model: llama-3.1-8b
hardware: h100-sxm5-80gb
engine: {frontend: api_server}
slo: {ttft_ms: 500, tpot_ms: 50}
cost: {gpu_hour_usd: 2}
output: {exact_latency_samples: 10}
workload: {requests: 40, arrival: {process: poisson, rate: 10}, prompt_tokens: 512, output_tokens: 64}
)"),
                                        dir);
  // Static batches and their keys.
  const RunResult batched = run_scenario(testing::scenario_from(R"(
model: llama-3.1-8b
hardware: h100-sxm5-80gb
cache: {policy: h2o}
engine: {max_model_len: 4096, max_num_seqs: 16}
workload: {requests: 20, arrival: {process: all-at-once}, prompt_tokens: 2048, output_tokens: 32}
)"),
                                         "");
  // A disaggregated cluster, its KV transfers and a KV store.
  const RunResult split = run_scenario(testing::scenario_from(R"(
model: llama-3.1-8b
hardware: h100-sxm5-80gb
cluster: {prefill: {replicas: 1}, decode: {replicas: 1}, kv_store: {capacity_bytes: 100GB}}
workload: {requests: 5, arrival: {process: all-at-once}, prompt_tokens: 512, output_tokens: 8}
)"),
                                       "");
  ASSERT_TRUE(split.summary.contains("kv_transfer_count"));
  ASSERT_TRUE(split.summary.contains("kv_store_loads"));
  ASSERT_EQ(served.summary["latency_percentiles"], "sketch");
  ASSERT_TRUE(served.summary.contains("usd_per_hour"));
  ASSERT_TRUE(batched.summary.contains("static_batches"));
  int checked = 0;
  for (const auto* summary : {&served.summary, &batched.summary, &split.summary}) {
    for (const auto& [key, value] : summary->items()) {
      EXPECT_TRUE(names.at("summary.json").contains(key)) << "summary.json key '" << key << "' is not in README.md";
      ++checked;
    }
  }
  EXPECT_GT(checked, 100);
  for (const char* file : {"requests.csv", "memory.csv"}) {
    const std::vector<std::string> columns = csv_header(dir + "/" + file);
    EXPECT_GE(columns.size(), 10u) << file;
    for (const std::string& c : columns) {
      EXPECT_TRUE(names.at(file).contains(c)) << file << " column '" << c << "' is not in README.md";
    }
  }
  // The expansion itself: a pattern row stands for each of its names, and no more.
  EXPECT_TRUE(names.at("summary.json").contains("p95_itl_ms"));
  EXPECT_FALSE(names.at("summary.json").contains("p95_itl"));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace kvsim::sim
