// `kvsim calibrate` from the command line: a host-only run writes a measured profile, an existing file is kept
// without --force, and the GEMM shapes come from every catalog model.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "apps/cli.h"
#include "apps/commands.h"
#include "hw/hardware_loader.h"
#include "kernels/suite.h"
#include "tests/apps/cli_runner.h"

namespace kvsim::app {
namespace {

namespace fs = std::filesystem;

using Result = testing::CliResult;
using testing::cli;

class CalibrateCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("kvsim-calibrate-cli-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(CalibrateCli, HostOnlyRunWritesAMeasuredProfile) {
  const std::string out = (dir_ / "box.yaml").string();
  const Result r = cli({"calibrate", "--out", out, "--host-only", "--quick"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("using h100-sxm5-80gb"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("no GPU (--host-only): running the host suite only"), std::string::npos) << r.err;
  EXPECT_NE(r.out.find("wrote " + out), std::string::npos) << r.out;
  const hw::HardwareProfile p = hw::load_hardware(out);
  EXPECT_EQ(p.source, "measured");
  ASSERT_TRUE(p.measured);
  EXPECT_EQ(p.measured->command, "kvsim calibrate --out " + out + " --host-only --quick");
  EXPECT_FALSE(p.measured->host_memcpy.empty());
}

TEST_F(CalibrateCli, ExistingFileNeedsForce) {
  const std::string out = (dir_ / "taken.yaml").string();
  { std::ofstream(out) << "x: 1\n"; }
  const Result r = cli({"calibrate", "--out", out, "--host-only"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find(out + ": already exists; pass --force"), std::string::npos) << r.err;
}

TEST_F(CalibrateCli, UnknownBaseListsTheCatalog) {
  const Result r = cli({"calibrate", "--out", (dir_ / "b.yaml").string(), "--base", "h100-sxm", "--host-only"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("h100-sxm5-80gb"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir_ / "b.yaml"));
}

TEST_F(CalibrateCli, ImportVidurFitsTheOperatorModelAndWritesAProfileThatLoadsBack) {
  const std::string out = (dir_ / "a100-vidur.yaml").string();
  const std::string data = std::string(KVSIM_TEST_SOURCE_DIR) + "/tests/models/fixtures/vidur/acme";
  const Result r = cli({"calibrate", "--import", "vidur", data, "--base", "a100-sxm4-80gb", "--out", out});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("LOMO median"), std::string::npos) << r.out;
  const hw::HardwareProfile p = hw::load_hardware(out);
  EXPECT_EQ(p.source, "measured");
  ASSERT_TRUE(p.measured);
  EXPECT_NE(p.measured->origin.find("Vidur"), std::string::npos);
  EXPECT_EQ(p.measured->operator_model.at("gemm").size(), 4u);
  EXPECT_FALSE(p.measured->gemm.empty());
  EXPECT_EQ(p.gpu, hw::load_hardware("a100-sxm4-80gb").gpu);  // the datasheet numbers stay the base's
}

TEST_F(CalibrateCli, ImportNamesWhatItReadsAndRefusesOthers) {
  const std::string out = (dir_ / "x.yaml").string();
  Result r = cli({"calibrate", "--import", "nccl-tests", "dir", "--base", "a100-sxm4-80gb", "--out", out});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("--import: expected 'vidur DIR', found 'nccl-tests, dir'"), std::string::npos) << r.err;
  const std::string bad = std::string(KVSIM_TEST_SOURCE_DIR) + "/tests/models/fixtures/vidur/bad";
  r = cli({"calibrate", "--import", "vidur", bad, "--base", "a100-sxm4-80gb", "--out", out});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("mlp.csv:3: time_stats.add.median: expected a number"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(out));
  r = cli({"calibrate", "--import", "vidur", bad, "--out", out});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("--base: required with --import"), std::string::npos) << r.err;
}

TEST(CatalogGemmShapes, EveryModelProjectionOnceForEachTp) {
  const auto shapes = catalog_gemm_shapes();
  std::set<std::pair<int64_t, int64_t>> seen;
  for (const auto& s : shapes) {
    EXPECT_TRUE(seen.insert({s.n, s.k}).second) << s.name;  // deduplicated
    EXPECT_GT(s.n, 0);
    EXPECT_GT(s.k, 0);
  }
  // Llama 3.1 8B: 32 query and 8 KV heads of 128, hidden 4096, MLP 14336, vocabulary 128256.
  EXPECT_TRUE(seen.count({6144, 4096}));        // qkv_proj tp1
  EXPECT_TRUE(seen.count({3072, 4096}));        // qkv_proj tp2
  EXPECT_TRUE(seen.count({4096, 4096}));        // o_proj tp1
  EXPECT_TRUE(seen.count({2 * 14336, 4096}));   // gate_up tp1
  EXPECT_TRUE(seen.count({4096, 14336 / 8}));   // down tp8
  EXPECT_TRUE(seen.count({128256 / 2, 4096}));  // lm_head tp2
}

TEST_F(CalibrateCli, RequireGpuWithoutOneExitsTwoBeforeWriting) {
  std::string why;
  if (kernels::probe_device(0, &why)) GTEST_SKIP() << "a GPU is present";
  const std::string out = (dir_ / "g.yaml").string();
  const Result r = cli({"calibrate", "--out", out, "--require-gpu", "--quick"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("--require-gpu: no usable GPU: " + why), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(out));
  EXPECT_EQ(cli({"calibrate", "--out", out, "--require-gpu", "--host-only"}).code, 2);
}

TEST_F(CalibrateCli, RefitAndSanityOfHostOnlyProfiles) {
  const std::string a = (dir_ / "a.yaml").string(), b = (dir_ / "b.yaml").string(), all = (dir_ / "all.yaml").string();
  ASSERT_EQ(cli({"calibrate", "--out", a, "--host-only", "--quick"}).code, 0);
  ASSERT_EQ(cli({"calibrate", "--out", b, "--host-only", "--quick"}).code, 0);
  const Result r = cli({"calibrate", "--refit", a + "," + b, "--out", all});
  ASSERT_EQ(r.code, 0) << r.err;
  const hw::HardwareProfile p = hw::load_hardware(all);
  ASSERT_TRUE(p.measured);
  EXPECT_EQ(p.measured->samples.size(), hw::load_hardware(a).measured->samples.size() * 2);
  EXPECT_EQ(p.measured->suites, (std::vector<std::string>{"host"}));
  // A host-only profile has none of the GPU's measurements: every check is MISSING, and the exit code says so.
  const Result s = cli({"calibrate", "--sanity", all});
  EXPECT_EQ(s.code, 1);
  EXPECT_NE(s.out.find("MISSING hbm_read"), std::string::npos) << s.out;
  EXPECT_NE(s.err.find("8 of 8 checks did not pass"), std::string::npos) << s.err;
  // --sanity writes nothing and takes no --out; --refit measures nothing.
  EXPECT_EQ(cli({"calibrate", "--sanity", all, "--out", (dir_ / "x.yaml").string()}).code, 2);
  EXPECT_EQ(cli({"calibrate", "--refit", a, "--quick", "--out", (dir_ / "x.yaml").string()}).code, 2);
  EXPECT_EQ(cli({"calibrate", "--sanity", "h100-sxm5-80gb"}).code, 2);  // not a measured profile
}

TEST(Cli, VersionSaysWhatThisBuildCanDo) {
  const testing::CliResult r = testing::cli({"--version"});
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(r.out.rfind("kvsim 0.1.0 (CUDA microbenchmarks: ", 0), 0u) << r.out;
  EXPECT_NE(r.out.find(kernels::built_with_cuda() ? "CUDA microbenchmarks: yes" : "CUDA microbenchmarks: no"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("MPI sweeps: "), std::string::npos) << r.out;
}

}  // namespace
}  // namespace kvsim::app
