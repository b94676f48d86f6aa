// kvsim sweep --merge: the folders of --shard runs merge into the unsharded sweep's results.jsonl, byte for byte; a
// missing, unfinished, overlapping or foreign shard exits 2 naming its folder, writing nothing.
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "tests/apps/cli_runner.h"

namespace kvsim::app {
namespace {

namespace fs = std::filesystem;
using testing::cli;

const char* const kGrid = R"(model: llama-3.1-8b
hardware: h100-sxm5-80gb
workload: {requests: 20, arrival: {rate: 2}, prompt_tokens: 256, output_tokens: 32}
sweep:
  workload.arrival.rate: [1, 2, 4, 8, 16]
)";

std::string read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class SweepMerge : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = (fs::temp_directory_path() / ("kvsim-merge-" + std::to_string(::getpid()))).string();
    fs::remove_all(root_);
    fs::create_directories(root_);
    std::ofstream(root_ + "/grid.yaml") << kGrid;
    std::string other = kGrid;
    other.replace(other.find("16]"), 3, "32]");
    std::ofstream(root_ + "/other.yaml") << other;
  }
  void TearDown() override { fs::remove_all(root_); }
  std::string sweep(const std::string& grid, const std::string& name, const std::string& shard) {
    std::vector<std::string> args = {"sweep", root_ + "/" + grid, "-o", root_ + "/" + name};
    if (!shard.empty()) args.insert(args.end(), {"--shard", shard});
    const auto r = cli(args);
    EXPECT_EQ(r.code, 0) << r.err;
    return root_ + "/" + name;
  }
  testing::CliResult merge(const std::vector<std::string>& dirs, const std::string& out) {
    std::vector<std::string> args = {"sweep", root_ + "/grid.yaml", "--merge"};
    args.insert(args.end(), dirs.begin(), dirs.end());
    args.insert(args.end(), {"-o", root_ + "/" + out});
    return cli(args);
  }
  std::string root_;
};

TEST_F(SweepMerge, ShardsMergeIntoTheUnshardedSweepByteForByteAndRefuseEveryMismatch) {
  const std::string a = sweep("grid.yaml", "a", "0/2"), b = sweep("grid.yaml", "b", "1/2");
  const std::string whole = sweep("grid.yaml", "whole", "");
  const std::string expected = read(whole + "/results.jsonl");
  ASSERT_EQ(std::count(expected.begin(), expected.end(), '\n'), 5);
  ASSERT_NE(read(a + "/results.jsonl"), expected);

  auto r = merge({b, a}, "merged");  // the folders' order does not matter
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("merged 5 points from 2 folders"), std::string::npos) << r.out;
  EXPECT_EQ(read(root_ + "/merged/results.jsonl"), expected);
  // An existing result is kept unless --force.
  r = merge({a, b}, "merged");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("results already exist"), std::string::npos) << r.err;

  // One shard of two: the other's points are missing; the message names the folder given and the shard count.
  r = merge({a}, "only-a");
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err.rfind(a + ": 2 of the grid's 5 points (first: point 1) are in no folder", 0), 0u) << r.err;
  EXPECT_NE(r.err.find("2 shards"), std::string::npos) << r.err;

  // A shard cut short: its folder is named as unfinished.
  const std::string cut = root_ + "/b-cut";
  fs::create_directories(cut);
  const std::string b_text = read(b + "/results.jsonl");
  std::ofstream(cut + "/results.jsonl") << b_text.substr(0, b_text.find('\n') + 1);
  r = merge({a, cut}, "m-cut");
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err.rfind(cut + ": 1 of the grid's 5 points (first: point 3)", 0), 0u) << r.err;
  EXPECT_NE(r.err.find("shard (1/2 by its points) is unfinished"), std::string::npos) << r.err;

  // Overlap: the unsharded folder holds shard a's points too.
  r = merge({a, b, whole}, "m-overlap");
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err.rfind(whole + "/results.jsonl:1: point 0 is also in " + a, 0), 0u) << r.err;

  // Another grid's shard: same indices, another resolved scenario (rate 32, not 16, at point 4).
  const std::string foreign = sweep("other.yaml", "foreign", "0/2");
  r = merge({foreign, b}, "m-foreign");
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err.rfind(foreign + "/results.jsonl:3: point 4 was made by another grid", 0), 0u) << r.err;

  // Not a sweep folder.
  r = merge({a, root_ + "/nowhere"}, "m-none");
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err.rfind(root_ + "/nowhere: not a sweep output folder", 0), 0u) << r.err;

  for (const char* out : {"only-a", "m-cut", "m-overlap", "m-foreign", "m-none"}) {
    EXPECT_FALSE(fs::exists(root_ + "/" + out)) << out << " was written";
  }
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1);
}

}  // namespace
}  // namespace kvsim::app
