// kvsim sweep: a killed sweep resumed gives the uninterrupted sweep's results, shards cover the grid exactly once,
// and a bad grid stops before anything is written.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "sim/core/error.h"
#include "sim/core/interrupt.h"
#include "sim/run.h"
#include "sim/scenario.h"
#include "sim/planning/sweep.h"
#include "tests/sim/test_util.h"

namespace kvsim::sim {
namespace {

namespace fs = std::filesystem;

const char* const kGrid = R"(model: llama-3.1-8b
hardware: h100-sxm5-80gb
workload: {requests: 60, arrival: {rate: 2}, dataset: sharegpt}
sweep:
  cache.policy: [vllm, orca-max, orca-oracle]
  workload.arrival.rate: [1, 8]
  zip:
    cluster.replicas: [1, 2]
    workload.seed_note: [a, b]
)";

std::string write(const std::string& name, const std::string& text) {
  const std::string dir = testing::temp_dir(name);
  fs::create_directories(dir);
  std::ofstream(dir + "/grid.yaml") << text;
  return dir;
}

std::multiset<std::string> lines_of(const std::string& file) {
  std::multiset<std::string> out;
  std::ifstream in(file);
  for (std::string l; std::getline(in, l);) out.insert(l);
  return out;
}

std::string grid_text() {
  std::string t = kGrid;
  // A zip group with a second real key instead of the placeholder.
  t.replace(t.find("workload.seed_note: [a, b]"), 26, "cluster.router: [round-robin, least-kv]");
  return t;
}

TEST(Sweep, TheGridIsTheProductOfItsListsWithZipGroupsMovingTogether) {
  const std::string dir = write("sweep-grid", grid_text());
  const SweepGrid g = load_sweep(dir + "/grid.yaml");
  ASSERT_EQ(g.points.size(), 3u * 2u * 2u);
  EXPECT_EQ(g.points[0].overrides(), (std::vector<std::string>{"cache.policy=vllm", "workload.arrival.rate=1",
                                                               "cluster.replicas=1", "cluster.router=round-robin"}));
  EXPECT_EQ(g.points[1].overrides()[2], "cluster.replicas=2");
  EXPECT_EQ(g.points[1].overrides()[3], "cluster.router=least-kv");
  EXPECT_EQ(g.points[11].overrides()[0], "cache.policy=orca-oracle");
  fs::remove_all(dir);
}

TEST(Sweep, AKilledSweepResumedEqualsAnUninterruptedOne) {
  const std::string dir = write("sweep-resume", grid_text());
  const SweepGrid g = load_sweep(dir + "/grid.yaml");
  SweepOptions whole;
  whole.out_dir = dir + "/whole";
  whole.jobs = 2;
  run_sweep(g, whole);
  // Killed after 5 points, in the middle of writing the 6th line.
  SweepOptions killed;
  killed.out_dir = dir + "/killed";
  killed.progress = [](int64_t done, int64_t) {
    if (done == 5) throw Error("killed");
  };
  EXPECT_THROW(run_sweep(g, killed), Error);
  EXPECT_EQ(lines_of(killed.out_dir + "/results.jsonl").size(), 5u);
  std::ofstream(killed.out_dir + "/results.jsonl", std::ios::app) << R"({"point": 5, "params": {"cache.pol)";
  SweepOptions again = killed;
  again.progress = nullptr;
  EXPECT_THROW(run_sweep(g, again), Error);  // without --resume the results are not overwritten
  again.resume = true;
  const SweepResult r = run_sweep(g, again);
  EXPECT_EQ(r.skipped, 5);
  EXPECT_EQ(r.run, 7);
  EXPECT_EQ(lines_of(again.out_dir + "/results.jsonl"), lines_of(whole.out_dir + "/results.jsonl"));
  fs::remove_all(dir);
}

// Resume matches points by their resolved scenario, not their index: a grid that grew keeps the points it shares
// with the old one (whatever their new index) and runs only the new ones; a grid or base scenario with nothing in
// common is refused, and --force moves the other grid's lines aside.
TEST(Sweep, ResumeMatchesPointsByTheirResolvedScenario) {
  const std::string base = "model: llama-3.1-8b\nhardware: h100-sxm5-80gb\n"
                           "workload: {requests: 20, prompt_tokens: 100, output_tokens: 10}\n";
  const std::string dir = write("sweep-keys", base + "sweep:\n  cache.block_size: [16, 32]\n");
  SweepOptions o;
  o.out_dir = dir + "/out";
  run_sweep(load_sweep(dir + "/grid.yaml"), o);
  std::ofstream(dir + "/grid.yaml") << base << "sweep:\n  cache.block_size: [8, 16, 32, 64]\n";
  o.resume = true;
  SweepResult r = run_sweep(load_sweep(dir + "/grid.yaml"), o);
  EXPECT_EQ(r.skipped, 2);
  EXPECT_EQ(r.run, 2);
  // Each block size once, under its new index.
  std::set<std::pair<int64_t, std::string>> seen;
  std::ifstream in(o.out_dir + "/results.jsonl");
  for (std::string l; std::getline(in, l);) {
    const auto j = nlohmann::json::parse(l);
    seen.emplace(j["point"].get<int64_t>(), j["params"]["cache.block_size"].get<std::string>());
  }
  EXPECT_EQ(seen, (std::set<std::pair<int64_t, std::string>>{{0, "8"}, {1, "16"}, {2, "32"}, {3, "64"}}));
  // Another grid, or the same grid on another base scenario: refused, naming the line.
  std::ofstream(dir + "/grid.yaml") << base << "sweep:\n  cache.block_size: [128, 256]\n";
  const std::string refused = testing::error_of([&] { run_sweep(load_sweep(dir + "/grid.yaml"), o); });
  EXPECT_NE(refused.find("results.jsonl:1: point 1 was made by another grid or base scenario"), std::string::npos)
      << refused;
  std::ofstream(dir + "/grid.yaml") << "model: llama-3.1-8b\nhardware: h100-sxm5-80gb\nseed: 7\n"
                                    << "workload: {requests: 20, prompt_tokens: 100, output_tokens: 10}\n"
                                    << "sweep:\n  cache.block_size: [8, 16, 32, 64]\n";
  EXPECT_NE(testing::error_of([&] { run_sweep(load_sweep(dir + "/grid.yaml"), o); }).find("another grid"),
            std::string::npos);
  o.force = true;
  r = run_sweep(load_sweep(dir + "/grid.yaml"), o);
  EXPECT_EQ(r.skipped, 0);
  EXPECT_EQ(r.run, 4);
  EXPECT_EQ(lines_of(o.out_dir + "/results.other-grid.jsonl").size(), 4u);
  EXPECT_EQ(lines_of(o.out_dir + "/results.jsonl").size(), 4u);
  fs::remove_all(dir);
}

TEST(Sweep, ShardsCoverTheGridExactlyOnce) {
  const std::string dir = write("sweep-shards", grid_text());
  const SweepGrid g = load_sweep(dir + "/grid.yaml");
  std::multiset<int64_t> seen;
  for (int64_t shard : {0, 1}) {
    SweepOptions o;
    o.out_dir = dir + "/shard" + std::to_string(shard);
    o.shard = shard;
    o.shards = 2;
    EXPECT_EQ(run_sweep(g, o).total, 6);
    for (int64_t i : completed_points(o.out_dir + "/results.jsonl")) seen.insert(i);
  }
  ASSERT_EQ(seen.size(), g.points.size());
  for (int64_t i = 0; i < static_cast<int64_t>(g.points.size()); ++i) EXPECT_EQ(seen.count(i), 1u) << i;
  fs::remove_all(dir);
}

TEST(Sweep, BadGridsStopBeforeAnythingIsWritten) {
  std::string bad_zip = grid_text();
  bad_zip.replace(bad_zip.find("[round-robin, least-kv]"), 23, "[round-robin]");
  const std::string d1 = write("sweep-bad-zip", bad_zip);
  EXPECT_EQ(testing::error_of([&] { load_sweep(d1 + "/grid.yaml"); }),
            d1 + "/grid.yaml:9:21: sweep.zip.cluster.router: 1 values, but the group's first list has 2");
  std::string bad_value = grid_text();
  bad_value.replace(bad_value.find("[vllm, orca-max, orca-oracle]"), 29, "[vllm, orca-maxx]");
  const std::string d2 = write("sweep-bad-value", bad_value);
  SweepOptions o;
  o.out_dir = d2 + "/out";
  const std::string e = testing::error_of([&] { run_sweep(load_sweep(d2 + "/grid.yaml"), o); });
  EXPECT_NE(e.find("sweep point 4 (cache.policy=orca-maxx"), std::string::npos) << e;
  EXPECT_NE(e.find("did you mean 'orca-max'?"), std::string::npos) << e;
  EXPECT_FALSE(fs::exists(o.out_dir));
  fs::remove_all(d1);
  fs::remove_all(d2);
}

// Ctrl-C: a run leaves no file behind; a sweep keeps the points it finished and resumes past them.
TEST(Sweep, CtrlCKeepsFinishedPointsAndLeavesNoPartialFiles) {
  const std::string dir = write("sweep-interrupt", grid_text());
  const SweepGrid g = load_sweep(dir + "/grid.yaml");
  SweepOptions o;
  o.out_dir = dir + "/out";
  o.progress = [](int64_t done, int64_t) {
    if (done == 3) set_interrupted(true);
  };
  EXPECT_THROW(run_sweep(g, o), Interrupted);
  EXPECT_EQ(completed_points(o.out_dir + "/results.jsonl").size(), 3u);
  // A run interrupted in its event loop removes its unfinished outputs and the folder it made.
  EXPECT_THROW(run_scenario(parse_scenario(g.base_text.fresh(), "grid", g.points[0].overrides()), dir + "/run"),
               Interrupted);
  EXPECT_FALSE(fs::exists(dir + "/run"));
  set_interrupted(false);
  o.resume = true;
  o.progress = nullptr;
  EXPECT_EQ(run_sweep(g, o).run, 9);
  EXPECT_EQ(completed_points(o.out_dir + "/results.jsonl").size(), 12u);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace kvsim::sim
