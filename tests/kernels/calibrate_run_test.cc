// A calibration run end to end with stand-in suites (CalibrateOptions::fake_suites, no GPU needed): a suite that fails
// leaves the others' curves; a shape that fails is recorded and its suite goes on; a run stopped between suites keeps
// a profile marked partial; --require-gpu without a GPU fails before measuring; --refit pools several profiles.
#include <filesystem>
#include <sstream>

#include <gtest/gtest.h>

#include "hw/hardware_loader.h"
#include "kernels/calibrate.h"
#include "sim/core/error.h"
#include "sim/core/input_file.h"
#include "sim/core/interrupt.h"

namespace kvsim::kernels {
namespace {

namespace fs = std::filesystem;

class CalibrateRun : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("kvsim_calibrate_run_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    set_interrupted(false);
    clear_inputs();  // the profiles loaded here are gone: their inodes may come back as another test's output
    fs::remove_all(dir_);
  }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  static CalibrateOptions options(const std::string& out) {
    CalibrateOptions o;
    o.out_path = out;
    o.command_line = "kvsim calibrate (test)";
    o.fake_device = DeviceInfo{"Fake GPU", "13.0", "13.0", 80ull << 30, 79ull << 30, 132, 9, 0, 50ull << 20};
    return o;
  }
  static std::vector<hw::RawSample> bandwidth(const std::string& suite, const std::string& series, double bytes_per_s) {
    std::vector<hw::RawSample> out;
    for (double bytes = 1 << 20; bytes <= (1 << 26); bytes *= 4) {
      out.push_back(hw::RawSample{suite, series, {{"bytes", bytes}}, bytes_per_s, "bytes_per_s"});
    }
    return out;
  }
  fs::path dir_;
};

TEST_F(CalibrateRun, AFailedSuiteKeepsTheOthersAndIsRecorded) {
  CalibrateOptions o = options(path("p.yaml"));
  o.suites = {"pcie", "hbm", "gemm"};
  o.fake_suites = [](const std::string& suite, const SuiteOptions& so) -> std::vector<hw::RawSample> {
    if (suite == "gemm") throw Error("cudaMalloc(&ptr_, bytes): cudaErrorMemoryAllocation: out of memory");
    if (suite == "pcie") so.failed("pcie 2 GiB: cudaHostAlloc: out of memory");  // one shape lost, the suite goes on
    return bandwidth(suite, suite == "pcie" ? "h2d_pinned" : "read", suite == "pcie" ? 50e9 : 3e12);
  };
  std::ostringstream log;
  const hw::HardwareProfile p = calibrate(o, hw::load_hardware("h100-sxm5-80gb"), log);
  const hw::MeasuredProfile& m = *p.measured;
  EXPECT_TRUE(m.complete);
  EXPECT_EQ(m.suites, (std::vector<std::string>{"pcie", "hbm"}));
  ASSERT_EQ(m.failures.size(), 2u);
  EXPECT_EQ(m.failures[0], "pcie: pcie 2 GiB: cudaHostAlloc: out of memory");
  EXPECT_NE(m.failures[1].find("gemm: cudaMalloc"), std::string::npos) << m.failures[1];
  EXPECT_TRUE(m.bandwidth.count("pcie/h2d_pinned"));
  EXPECT_TRUE(m.bandwidth.count("hbm/read"));
  EXPECT_NE(log.str().find("gemm: failed, skipped"), std::string::npos) << log.str();
  // What is on disk says the same.
  const hw::HardwareProfile back = hw::load_hardware(path("p.yaml"));
  ASSERT_TRUE(back.measured);
  EXPECT_EQ(back.measured->failures, m.failures);
  EXPECT_TRUE(back.measured->complete);
}

TEST_F(CalibrateRun, ASuiteThatFailsMidwayKeepsWhatItMeasuredAndSaysSo) {
  CalibrateOptions o = options(path("p.yaml"));
  o.suites = {"hbm", "gemm"};
  o.fake_suites = [](const std::string& suite, const SuiteOptions& so) -> std::vector<hw::RawSample> {
    auto got = bandwidth("hbm", "read", 3e12);
    if (suite == "gemm") {
      so.sample(hw::RawSample{"gemm", "bf16/x", {{"m", 1}, {"n", 4096}, {"k", 4096}}, 2e12, "flops_per_s"});
      throw Error("an illegal memory access was encountered");  // the context is gone: the suite ends
    }
    return got;
  };
  std::ostringstream log;
  const hw::MeasuredProfile m = *calibrate(o, hw::load_hardware("h100-sxm5-80gb"), log).measured;
  EXPECT_EQ(m.suites, (std::vector<std::string>{"hbm", "gemm (failed)"}));
  ASSERT_EQ(m.gemm.size(), 1u);
  EXPECT_EQ(m.gemm[0].flops_per_s, 2e12);
  ASSERT_EQ(m.failures.size(), 1u);
  EXPECT_NE(m.failures[0].find("gemm: an illegal memory access"), std::string::npos) << m.failures[0];
}

TEST_F(CalibrateRun, StoppedBetweenSuitesLeavesAPartialProfileOfWhatRan) {
  CalibrateOptions o = options(path("p.yaml"));
  o.suites = {"pcie", "hbm", "gemm"};
  o.fake_suites = [](const std::string& suite, const SuiteOptions&) -> std::vector<hw::RawSample> {
    if (suite == "hbm") {
      set_interrupted(true);  // Ctrl-C during the second suite
      throw_if_interrupted();
    }
    return bandwidth(suite, "h2d_pinned", 50e9);
  };
  std::ostringstream log;
  EXPECT_THROW(calibrate(o, hw::load_hardware("h100-sxm5-80gb"), log), Interrupted);
  set_interrupted(false);
  const hw::HardwareProfile back = hw::load_hardware(path("p.yaml"));
  ASSERT_TRUE(back.measured);
  EXPECT_FALSE(back.measured->complete);
  EXPECT_EQ(back.measured->suites, (std::vector<std::string>{"pcie"}));
  EXPECT_TRUE(back.measured->bandwidth.count("pcie/h2d_pinned"));
  EXPECT_NE(back.description.find("partial"), std::string::npos) << back.description;
}

TEST_F(CalibrateRun, StoppedMidSuiteKeepsTheSamplesAlreadyMeasured) {
  CalibrateOptions o = options(path("p.yaml"));
  o.suites = {"pcie", "hbm"};
  o.fake_suites = [](const std::string& suite, const SuiteOptions& so) -> std::vector<hw::RawSample> {
    auto got = bandwidth(suite, suite == "pcie" ? "h2d_pinned" : "read", suite == "pcie" ? 50e9 : 3e12);
    if (suite == "hbm") {
      so.sample(got[0]);  // two sizes measured, then the timeout's SIGINT
      so.sample(got[1]);
      set_interrupted(true);
      throw_if_interrupted();
    }
    return got;
  };
  std::ostringstream log;
  EXPECT_THROW(calibrate(o, hw::load_hardware("h100-sxm5-80gb"), log), Interrupted);
  set_interrupted(false);
  const hw::HardwareProfile back = hw::load_hardware(path("p.yaml"));
  ASSERT_TRUE(back.measured);
  EXPECT_FALSE(back.measured->complete);
  EXPECT_EQ(back.measured->suites, (std::vector<std::string>{"pcie", "hbm (partial)"}));
  EXPECT_EQ(back.measured->samples.size(), 4u + 2u);
  EXPECT_TRUE(back.measured->bandwidth.count("hbm/read"));
  EXPECT_NE(log.str().find("marked partial"), std::string::npos) << log.str();
}

TEST_F(CalibrateRun, RequireGpuWithoutAGpuFailsBeforeMeasuring) {
  CalibrateOptions o = options(path("p.yaml"));
  o.fake_device.reset();
  o.require_gpu = true;
  bool ran = false;
  o.fake_suites = [&](const std::string&, const SuiteOptions&) {
    ran = true;
    return std::vector<hw::RawSample>{};
  };
  std::ostringstream log;
  try {
    calibrate(o, hw::load_hardware("h100-sxm5-80gb"), log);
    FAIL() << "a run that requires a GPU went on without one";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--require-gpu"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("no usable GPU"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(ran);
  EXPECT_FALSE(fs::exists(path("p.yaml")));
}

TEST_F(CalibrateRun, RequireGpuTurnsAFailedMeasurementIntoAnErrorAfterWriting) {
  CalibrateOptions o = options(path("p.yaml"));
  o.suites = {"hbm"};
  o.require_gpu = true;
  o.fake_suites = [](const std::string& suite, const SuiteOptions& so) {
    so.failed("hbm 8 GiB: out of memory");
    return bandwidth(suite, "read", 3e12);
  };
  std::ostringstream log;
  EXPECT_THROW(calibrate(o, hw::load_hardware("h100-sxm5-80gb"), log), Error);
  EXPECT_TRUE(fs::exists(path("p.yaml")));  // what was measured is kept
}

TEST_F(CalibrateRun, RefitPoolsTheSamplesOfOneRunPerSuite) {
  for (const std::string suite : {"pcie", "hbm"}) {
    CalibrateOptions o = options(path(suite + ".yaml"));
    o.suites = {suite};
    o.fake_suites = [](const std::string& s, const SuiteOptions&) {
      return bandwidth(s, s == "pcie" ? "h2d_pinned" : "read", s == "pcie" ? 50e9 : 3e12);
    };
    std::ostringstream log;
    calibrate(o, hw::load_hardware("h100-sxm5-80gb"), log);
  }
  CalibrateOptions o = options(path("all.yaml"));
  std::ostringstream log;
  const hw::HardwareProfile p = refit_profiles({path("pcie.yaml"), path("hbm.yaml")}, o, std::nullopt, log);
  const hw::MeasuredProfile& m = *p.measured;
  EXPECT_EQ(m.suites, (std::vector<std::string>{"pcie", "hbm"}));
  EXPECT_EQ(m.device, "Fake GPU");
  EXPECT_DOUBLE_EQ(*m.bandwidth_at("pcie/h2d_pinned", 1 << 22), 50e9);
  EXPECT_DOUBLE_EQ(*m.bandwidth_at("hbm/read", 1 << 22), 3e12);
  EXPECT_EQ(m.samples.size(), 8u);
  EXPECT_EQ(hw::load_hardware(path("all.yaml")).measured->samples.size(), 8u);
  // A profile that is not a measured one is refused by name.
  EXPECT_THROW(refit_profiles({"h100-sxm5-80gb"}, options(path("x.yaml")), std::nullopt, log), Error);
}

}  // namespace
}  // namespace kvsim::kernels
