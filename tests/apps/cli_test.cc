// The command line as a user meets it: exit codes, one-line errors naming the place, no partial outputs.
#include "apps/cli.h"
#include "tests/apps/cli_runner.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "sim/planning/deployment_study.h"
#include "sim/planning/study.h"

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
    std::string file = line.substr(0, bar);
    std::string want = line.substr(bar + 3);
    if (const size_t d = want.find("{dir}"); d != std::string::npos) want.replace(d, 5, kBadDir);
    const std::string out_dir = temp_out("bad");
    // "validate FILE" and "sweep FILE" lines run those commands; the rest are scenarios for kvsim run.
    std::string command = "run";
    if (file.starts_with("validate ") || file.starts_with("sweep ")) {
      command = file.substr(0, file.find(' '));
      file = file.substr(file.find(' ') + 1);
    }
    // "kvsim ARGS..." lines run any command: {dir} is this folder, {out} a fresh output path.
    std::vector<std::string> args;
    if (file.starts_with("kvsim ")) {
      std::istringstream words(file.substr(6));
      for (std::string w; words >> w;) {
        for (const auto& [from, to] : {std::pair<std::string, std::string>{"{dir}", kBadDir}, {"{out}", out_dir}}) {
          if (const size_t at = w.find(from); at != std::string::npos) w.replace(at, from.size(), to);
        }
        args.push_back(w);
      }
    } else if (command == "validate") {
      args = {"validate", "--cases", kBadDir + "/cases/" + file};
    } else {
      args = {command, kBadDir + "/" + file, "-o", out_dir};
    }
    const Result r = cli(args);
    EXPECT_EQ(r.code, 2) << file << ": " << r.err;
    EXPECT_EQ(r.err.rfind(want, 0), 0u) << file << "\n  got:  " << r.err << "  want: " << want;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << file << ": " << r.err;
    EXPECT_FALSE(fs::exists(out_dir)) << file << " left " << out_dir;
    ++cases;
  }
  EXPECT_GE(cases, 80);
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
  for (const char* key :
       {"request_throughput", "output_throughput", "total_token_throughput", "mean_ttft_ms", "median_ttft_ms",
        "std_ttft_ms", "p90_ttft_ms", "p99_ttft_ms", "mean_tpot_ms", "p99_itl_ms", "mean_e2el_ms", "completed",
        "duration", "total_input_tokens", "total_output_tokens", "rejected", "num_preemptions", "mean_running_requests",
        "mean_requests_in_system", "kv_capacity_tokens", "kv_token_utilization", "weights_bytes", "peak_hbm_bytes",
        "peak_kv_hbm_bytes", "peak_kv_host_bytes", "pcie_h2d_bytes", "pcie_d2h_bytes", "retention_attention",
        "retention_early_facts", "slo_attainment", "goodput",
        // vllm bench serve's own names (its result JSON), beside kvsim's
        "failed", "request_goodput", "max_concurrent_requests", "p95_ttft_ms", "model_id", "request_rate",
        "num_prompts"}) {
    EXPECT_TRUE(j.contains(key)) << key;
  }
  EXPECT_EQ(j["completed"].get<int>(), 50);
  EXPECT_EQ(j["num_prompts"].get<int>(), 50);
  EXPECT_EQ(j["failed"], j["rejected"]);
  EXPECT_GE(j["max_concurrent_requests"].get<int>(), 1);
  EXPECT_LE(j["max_concurrent_requests"].get<int>(), 50);
  // Little's law bounds the peak from below: the mean number in the system never exceeds it.
  EXPECT_GE(j["max_concurrent_requests"].get<double>(), j["mean_requests_in_system"].get<double>());
  EXPECT_TRUE(j["model_id"].is_string());
  EXPECT_TRUE(j["request_rate"].is_number() || j["request_rate"] == "inf") << j["request_rate"];
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

std::vector<std::string> split(const std::string& line, char sep) {
  std::vector<std::string> out;
  std::stringstream ss(line);
  std::string item;
  while (std::getline(ss, item, sep)) out.push_back(item);
  if (!line.empty() && line.back() == sep) out.emplace_back();
  return out;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines = split(text, '\n');
  if (!lines.empty() && lines.back().empty()) lines.pop_back();
  return lines;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// One compare runs the colocated scenario and its disaggregated splits side by side: the same requests served, the
// split's GPUs the same, and only the split's summary has KV transfers.
TEST(Cli, CompareRunsColocatedAndDisaggregatedTogether) {
  const std::string dir = temp_out("cmp-disagg");
  const Result r = cli({"compare", "--policies", "vllm", "--rates", "2", "--disaggregated", "1:1,1:3", "--set",
                        "cluster.replicas=2", "--set", "workload.requests=30", "-o", dir, "--format", "json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  ASSERT_TRUE(j.contains("vllm") && j.contains("vllm 1P:1D") && j.contains("vllm 1P:3D")) << r.out;
  EXPECT_FALSE(j["vllm"][0].contains("kv_transfer_count"));
  EXPECT_EQ(j["vllm"][0]["gpus"].get<int64_t>(), 2);
  EXPECT_EQ(j["vllm 1P:1D"][0]["gpus"].get<int64_t>(), 2);
  EXPECT_EQ(j["vllm 1P:3D"][0]["gpus"].get<int64_t>(), 4);
  for (const char* k : {"vllm", "vllm 1P:1D", "vllm 1P:3D"}) EXPECT_EQ(j[k][0]["completed"].get<int64_t>(), 30) << k;
  EXPECT_EQ(j["vllm 1P:1D"][0]["kv_transfer_count"].get<int64_t>(), 30);
  EXPECT_TRUE(fs::exists(dir + "/vllm-1p1d/rate-2/summary.json"));
  fs::remove_all(dir);
}

// A scenario with a KV store beside itself without one (the TTFT the store saves) and split into pools (the store
// kept): session turns on small GPU caches come back to other replicas and load their prefixes.
TEST(Cli, CompareRunsWithAndWithoutTheKvStore) {
  const std::string dir = temp_out("cmp-store");
  fs::create_directories(dir);
  const std::string scenario = dir + "/store.yaml";
  std::ofstream(scenario) << "model: llama-3.1-8b\nhardware: h100-sxm5-80gb\n"
                             "engine: {kv_cache_bytes: 2GiB, max_model_len: 8192}\n"
                             "cluster: {replicas: 4, kv_store: {capacity_bytes: 20GB}}\n"
                             "workload: {requests: 200, arrival: {rate: 6}, dataset: sharegpt, sessions: {turns: 4, "
                             "think_time_s: 1, system_prompt_tokens: 200}}\n";
  const Result r = cli({"compare", scenario, "--policies", "vllm", "--without-kv-store", "--disaggregated", "2:2", "-o",
                        dir + "/out", "--format", "json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  ASSERT_TRUE(j.contains("vllm") && j.contains("vllm no store") && j.contains("vllm 2P:2D")) << r.out;
  EXPECT_GT(j["vllm"]["kv_store_loads"].get<int64_t>(), 0);
  EXPECT_FALSE(j["vllm no store"].contains("kv_store_loads"));
  EXPECT_GT(j["vllm 2P:2D"]["kv_store_loads"].get<int64_t>(), 0);
  // The same requests, served with and without the prefixes the store brought.
  EXPECT_EQ(j["vllm no store"]["completed"], j["vllm"]["completed"]);
  EXPECT_GT(j["vllm"]["kv_store_remote_hit_share"].get<double>(), 0.0);
  EXPECT_NE(j["vllm"]["mean_ttft_ms"].get<double>(), j["vllm no store"]["mean_ttft_ms"].get<double>());
  EXPECT_TRUE(fs::exists(dir + "/out/vllm-no-store/summary.json"));
  // Without a store there is nothing to compare it against.
  const Result none = cli({"compare", "--policies", "vllm", "--rates", "2", "--without-kv-store", "-o", dir + "/x"});
  EXPECT_EQ(none.code, 2);
  EXPECT_NE(none.err.find("--without-kv-store: the scenario has no cluster.kv_store"), std::string::npos) << none.err;
  fs::remove_all(dir);
}

TEST(Cli, CompareCsvHasMemoryAndPcieKeysAndTheTableTheirGib) {
  const std::string dir = temp_out("cmp-csv");
  const Result csv = cli(
      {"compare", "--policies", "vllm,infinigen", "--rates", "1", "--requests", "10", "-o", dir, "--format", "csv"});
  ASSERT_EQ(csv.code, 0) << csv.err;
  const std::vector<std::string> lines = lines_of(csv.out);
  ASSERT_EQ(lines.size(), 3u) << csv.out;
  const std::vector<std::string> header = split(lines[0], ',');
  for (const char* key : {"policy", "rate", "completed", "rejected", "output_throughput", "median_ttft_ms",
                          "p99_ttft_ms", "median_tpot_ms", "p99_tpot_ms", "peak_hbm_bytes", "peak_kv_host_bytes",
                          "pcie_h2d_bytes", "pcie_d2h_bytes", "retention_attention"}) {
    EXPECT_NE(std::find(header.begin(), header.end(), key), header.end()) << key;
  }
  const auto col = [&](const char* key) {
    return static_cast<size_t>(std::find(header.begin(), header.end(), key) - header.begin());
  };
  for (size_t i = 1; i < lines.size(); ++i) {
    const std::vector<std::string> cells = split(lines[i], ',');
    ASSERT_EQ(cells.size(), header.size()) << lines[i];
    EXPECT_EQ(std::stoll(cells[col("completed")]) + std::stoll(cells[col("rejected")]), 10) << lines[i];
    EXPECT_GT(std::stoull(cells[col("peak_hbm_bytes")]), 0u) << lines[i];
    // Only the offloading policy keeps KV in host memory and moves it over PCIe.
    const bool offload = cells[0] == "infinigen";
    EXPECT_EQ(std::stoull(cells[col("peak_kv_host_bytes")]) > 0, offload) << lines[i];
    EXPECT_EQ(std::stoull(cells[col("pcie_h2d_bytes")]) > 0, offload) << lines[i];
  }
  const Result table = cli({"compare", "--policies", "vllm", "--rates", "1", "--requests", "10", "-o", dir});
  ASSERT_EQ(table.code, 0) << table.err;
  const std::vector<std::string> rows = lines_of(table.out);
  ASSERT_GE(rows.size(), 3u);
  for (const char* c : {"ttft_p50", "ttft_p99", "tpot_p50", "tpot_p99", "peak_hbm_gib", "host_kv_gib", "pcie_gib"}) {
    EXPECT_NE(rows[1].find(c), std::string::npos) << c << " in " << rows[1];
  }
  // Every row of the table is as wide as its header.
  EXPECT_EQ(rows[2].size(), rows[1].size()) << rows[1] << "\n" << rows[2];
  fs::remove_all(dir);
}

TEST(Cli, StudyPaperWritesOneRowPerPointAndAWinnerLinePerModel) {
  const std::string dir = temp_out("study");
  const Result r = cli({"compare", "--study", "paper", "--requests", "8", "-o", dir});
  ASSERT_EQ(r.code, 0) << r.err;
  size_t expected_rows = 0;
  for (const sim::StudyModel& m : sim::paper_study_models()) {
    expected_rows += (1 + 2 * sim::kPaperStudySparsityPct.size()) * m.rates.size();
  }
  EXPECT_EQ(sim::paper_study_models().size(), 4u);

  const std::vector<std::string> lines = lines_of(read_text(dir + "/study.csv"));
  ASSERT_EQ(lines.size(), expected_rows + 1);
  const std::vector<std::string> header = split(lines[0], ',');
  const std::vector<std::string> want = {"model",
                                         "tp",
                                         "policy",
                                         "sparsity",
                                         "rate",
                                         "completed",
                                         "rejected",
                                         "output_throughput",
                                         "median_ttft_ms",
                                         "p99_ttft_ms",
                                         "median_tpot_ms",
                                         "p99_tpot_ms",
                                         "peak_hbm_bytes",
                                         "peak_kv_host_bytes",
                                         "pcie_h2d_bytes",
                                         "pcie_d2h_bytes",
                                         "retention_attention",
                                         "retention_early_facts"};
  for (const std::string& key : want) EXPECT_NE(std::find(header.begin(), header.end(), key), header.end()) << key;
  const auto col = [&](const char* key) {
    return static_cast<size_t>(std::find(header.begin(), header.end(), key) - header.begin());
  };
  std::set<std::string> models, settings;
  for (size_t i = 1; i < lines.size(); ++i) {
    const std::vector<std::string> cells = split(lines[i], ',');
    ASSERT_EQ(cells.size(), header.size()) << lines[i];
    EXPECT_EQ(std::stoll(cells[col("completed")]) + std::stoll(cells[col("rejected")]), 8) << lines[i];
    models.insert(cells[col("model")]);
    const std::string policy = cells[col("policy")], sparsity = cells[col("sparsity")];
    settings.insert(policy + "/" + sparsity);
    const std::string label = policy == "vllm" ? policy : policy + "-s" + sparsity;
    EXPECT_TRUE(
        fs::exists(dir + "/" + cells[col("model")] + "/" + label + "/rate-" + cells[col("rate")] + "/summary.json"))
        << lines[i];
  }
  EXPECT_EQ(models, (std::set<std::string>{"llama-3.1-8b", "llama-2-13b", "llama-3.1-70b", "opt-13b"}));
  EXPECT_EQ(settings, (std::set<std::string>{"vllm/100", "h2o/10", "h2o/20", "h2o/50", "infinigen/10", "infinigen/20",
                                             "infinigen/50"}));

  const std::string md = read_text(dir + "/study.md");
  for (const std::string& model : models) {
    EXPECT_NE(md.find("## " + model), std::string::npos) << model;
    EXPECT_NE(md.find("- **" + model + "** (tp"), std::string::npos) << model;  // the winner line
    EXPECT_NE(md.find("Winners for " + model), std::string::npos) << model;
  }
  EXPECT_NE(md.find("synthetic proxy"), std::string::npos);
  EXPECT_NE(md.find("not ranked by retention"), std::string::npos);
  EXPECT_NE(md.find("## The seed study's findings, point by point"), std::string::npos);
  fs::remove_all(dir);
}

TEST(Cli, StudyScenariosRanksEveryStrategyPerDeploymentScenario) {
  const std::string dir = temp_out("study-scenarios");
  const Result r = cli({"compare", "--study", "scenarios", "--requests", "2", "-o", dir});
  ASSERT_EQ(r.code, 0) << r.err;
  const std::vector<std::string> lines = lines_of(read_text(dir + "/study.csv"));
  ASSERT_EQ(lines.size(), sim::deployment_scenarios().size() * sim::deployment_strategies().size() + 1);
  EXPECT_EQ(lines[0].rfind("scenario,strategy,category,policy,model,tp,rate,started,completed,", 0), 0u) << lines[0];
  const std::string md = read_text(dir + "/study.md");
  for (const sim::DeploymentScenario& s : sim::deployment_scenarios()) {
    EXPECT_NE(md.find("## " + s.name), std::string::npos) << s.id;
    EXPECT_NE(r.out.find(s.name + " (" + s.model + " on " + s.hardware + "):"), std::string::npos) << s.id;
  }
  EXPECT_NE(md.find("## Does one strategy win everywhere?"), std::string::npos);
  // A strategy that cannot hold the context does not stop the study: vllm cannot start on the 24 GB GPU.
  EXPECT_NE(r.out.find("  vllm: did not start: engine.max_model_len 129024 needs"), std::string::npos) << r.out;
  fs::remove_all(dir);
}

TEST(Cli, StudyUnknownNameIsOneLineNamingStudyAndNothingIsWritten) {
  const std::string dir = temp_out("study-bad");
  const Result r = cli({"compare", "--study", "nonsense", "-o", dir});
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err, "--study: unknown study 'nonsense'; valid: paper, scenarios\n");
  EXPECT_FALSE(fs::exists(dir));
  const Result typo = cli({"compare", "--study", "papr", "-o", dir});
  EXPECT_EQ(typo.code, 2);
  EXPECT_EQ(typo.err, "--study: unknown study 'papr' (did you mean 'paper'?); valid: paper, scenarios\n");
  // The name is checked before anything else about the command line.
  EXPECT_EQ(cli({"compare", "--study", "nonsense", "--policies", "vllm", "-o", dir}).err,
            "--study: unknown study 'nonsense'; valid: paper, scenarios\n");
}

TEST(Cli, StudyRefusesWhatItSetsItself) {
  const std::string dir = temp_out("study-conflict");
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--policies", "vllm"}, "--policies"},
      {{"--rates", "1"}, "--rates"},
      {{kBadDir + "/../../bench/scenarios/sharegpt_opt13b.yaml"}, "scenario file"}};
  for (const auto& [extra, why] : cases) {
    std::vector<std::string> args = {"compare", "--study", "paper", "-o", dir};
    args.insert(args.end(), extra.begin(), extra.end());
    const Result r = cli(args);
    EXPECT_EQ(r.code, 2) << why;
    EXPECT_EQ(r.err.rfind("--study: ", 0), 0u) << r.err;
    EXPECT_NE(r.err.find(why), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_FALSE(fs::exists(dir)) << why;
  }
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
    EXPECT_EQ(op["source"], "model");
  }
  EXPECT_EQ(names, (std::vector<std::string>{"qkv_proj", "rope", "attention", "o_proj", "gate_up_proj", "act",
                                             "down_proj", "norm", "embedding", "lm_head"}));
  EXPECT_NEAR(j["total_ms"].get<double>(), per_layer * 32 + once, 1e-3);
}

// --engine static prices the FlexGen family's eager PyTorch engine: at batch 1 on an H100 its host time per layer (21
// eager ops) exceeds the GPU's, so the iteration is the host's, per layer and synchronised, plus the step term.
TEST(Cli, CostOfTheStaticEngineShowsItsHostTime) {
  const Result r = cli({"cost", "--model", "llama-3.1-8b", "--hardware", "h100-sxm5-80gb", "--tokens", "1", "--context",
                        "1000", "--phase", "decode", "--engine", "static", "--format", "json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["host_ops_per_layer"].get<int>(), 21);
  const double host_layer_ms = 21 * j["host_op_us"].get<double>() / 1e3;
  ASSERT_GT(host_layer_ms * 32, j["total_ms"].get<double>());
  // 32 layers of host time, two launches per layer after each synchronisation, lm_head and embedding, the step.
  EXPECT_GT(j["iteration_ms"].get<double>(), host_layer_ms * 32 + j["step_us"].get<double>() / 1e3);
  EXPECT_LT(j["iteration_ms"].get<double>(), host_layer_ms * 32 + j["step_us"].get<double>() / 1e3 + 2.0);
  const Result table = cli({"cost", "--model", "llama-3.1-8b", "--hardware", "h100-sxm5-80gb", "--tokens", "1",
                            "--context", "1000", "--phase", "decode", "--engine", "static"});
  EXPECT_NE(table.out.find("host (eager PyTorch): 21 ops per layer"), std::string::npos) << table.out;
}

TEST(Cli, ListsCatalogs) {
  const Result m = cli({"models", "--format", "json"});
  ASSERT_EQ(m.code, 0) << m.err;
  EXPECT_EQ(nlohmann::json::parse(m.out).size(), 15u);
  const Result h = cli({"hardware", "--format", "json"});
  ASSERT_EQ(h.code, 0) << h.err;
  EXPECT_EQ(nlohmann::json::parse(h.out).size(), 13u);
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
