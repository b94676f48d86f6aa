// Calibration without a GPU: fitting synthetic samples builds the expected curves; a host-only run writes a profile
// that loads back as `source: measured`; an existing file is never overwritten without force.
#include "kernels/calibrate.h"

#include <unistd.h>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "hw/hardware_loader.h"
#include "sim/core/error.h"
#include "sim/core/interrupt.h"

namespace kvsim::kernels {
namespace {

namespace fs = std::filesystem;

hw::RawSample sample(std::string suite, std::string series, std::map<std::string, double> params, double value,
                     std::string unit = "bytes_per_s") {
  return hw::RawSample{std::move(suite), std::move(series), std::move(params), value, std::move(unit)};
}

std::vector<hw::RawSample> synthetic_samples() {
  std::vector<hw::RawSample> s;
  for (double bytes = 4096; bytes <= 64 << 20; bytes *= 4) {
    const double bw = 25e9 * bytes / (bytes + 65536);
    s.push_back(sample("pcie", "h2d_pinned", {{"bytes", bytes}}, bw));
    s.push_back(sample("pcie", "h2d_pinned", {{"bytes", bytes}}, bw * 0.9));
    s.push_back(sample("pcie", "h2d_pinned", {{"bytes", bytes}}, bw * 1.1));
  }
  for (double bytes : {4.0, 8.0, 4096.0}) {
    s.push_back(sample("pcie", "latency_h2d", {{"bytes", bytes}}, bytes == 4096 ? 9000 : 2000 + bytes, "ns"));
  }
  for (double bytes : {1 << 20, 1 << 24, 1 << 28}) s.push_back(sample("hbm", "copy", {{"bytes", bytes}}, 3e12));
  s.push_back(sample("hbm", "copy", {{"bytes", 1 << 30}}, 2.9e12));  // noise: the fit stays at 3e12
  s.push_back(sample("pcie", "streams_h2d", {{"bytes", 1 << 20}, {"streams", 4}}, 20e9));
  s.push_back(sample("gather", "cpu_staged/token_head", {{"bytes", 1 << 20}}, 5e9));
  s.push_back(sample("gemm", "bf16/llama-3.1-8b/qkv_proj/tp1", {{"m", 1}, {"n", 6144}, {"k", 4096}}, 1e12));
  s.push_back(sample("gemm", "bf16/llama-3.1-8b/qkv_proj/tp1", {{"m", 16}, {"n", 6144}, {"k", 4096}}, 15e12));
  s.push_back(sample("gemm", "bf16/other/qkv_proj/tp2", {{"m", 16}, {"n", 6144}, {"k", 4096}}, 17e12));
  s.push_back(sample("attention", "decode/bs16", {{"batch", 8}, {"context", 4096}}, 1e12));  // batch too small
  s.push_back(sample("attention", "decode/bs16", {{"batch", 64}, {"context", 4096}}, 2.8e12));
  s.push_back(sample("attention", "decode/bs16", {{"batch", 64}, {"context", 512}}, 2.0e12));
  s.push_back(sample("attention", "prefill/kvsim-simple", {{"tokens", 1024}}, 3e14, "flops_per_s"));
  s.push_back(sample("launch", "launch", {}, 2500, "ns"));
  s.push_back(sample("launch", "launch", {}, 2300, "ns"));
  s.push_back(sample("launch", "launch", {}, 9000, "ns"));
  s.push_back(sample("launch", "graph_replay", {}, 1800, "ns"));
  s.push_back(sample("host", "memcpy", {{"threads", 1}, {"bytes", 1 << 28}}, 10e9));
  s.push_back(sample("host", "memcpy", {{"threads", 2}, {"bytes", 1 << 28}}, 18e9));
  s.push_back(sample("host", "memcpy", {{"threads", 4}, {"bytes", 1 << 28}}, 17e9));
  s.push_back(sample("hbm", "copy", {{"bytes", 1 << 20}}, std::nan("")));  // dropped
  return s;
}

TEST(FitMeasurements, BuildsTheExpectedCurves) {
  const hw::MeasuredProfile m = fit_measurements(synthetic_samples());
  EXPECT_EQ(m.samples.size(), synthetic_samples().size() - 1);
  ASSERT_EQ(m.bandwidth.count("pcie/h2d_pinned"), 1u);
  const hw::Curve& h2d = m.bandwidth.at("pcie/h2d_pinned");
  EXPECT_EQ(h2d.x.size(), 8u);
  EXPECT_NEAR(h2d.at(64 << 20), 25e9 * (64 << 20) / ((64 << 20) + 65536.0), 1e3);  // the median of three
  EXPECT_EQ(m.bandwidth.at("hbm/copy").y.back(), 3e12);
  EXPECT_EQ(m.bandwidth.at("pcie/streams_h2d/streams4").y, std::vector<double>{20e9});
  EXPECT_DOUBLE_EQ(m.pcie_latency_ns, 2006);  // median over the two smallest sizes
  EXPECT_EQ(m.gather.at("cpu_staged/token_head").x, std::vector<double>{1 << 20});
  ASSERT_EQ(m.gemm.size(), 2u);
  EXPECT_EQ(m.gemm[0], (hw::GemmPoint{"bf16", 1, 6144, 4096, 1e12}));
  EXPECT_EQ(m.gemm[1], (hw::GemmPoint{"bf16", 16, 6144, 4096, 16e12}));  // median of two shapes that coincide
  ASSERT_EQ(m.decode_attention.count(16), 1u);
  EXPECT_EQ(m.decode_attention.at(16).x, (std::vector<double>{512, 4096}));
  EXPECT_EQ(m.decode_attention.at(16).y, (std::vector<double>{2.0e12, 2.8e12}));
  EXPECT_EQ(m.prefill_attention_kernel, "kvsim-simple");
  EXPECT_EQ(m.prefill_attention.at(1024), 3e14);
  EXPECT_EQ(m.launch_ns, 2500);
  EXPECT_EQ(m.graph_replay_ns, 1800);
  EXPECT_FALSE(m.host_memcpy.log_x);
  EXPECT_EQ(m.host_memcpy.y, (std::vector<double>{10e9, 18e9, 17e9}));  // threads may not help: not monotone
  // Held-out checks for curves with >= 4 sizes only.
  ASSERT_EQ(m.held_out.size(), 2u);
  EXPECT_EQ(m.held_out[0].curve, "bandwidth/hbm/copy");
  EXPECT_EQ(m.held_out[1].curve, "bandwidth/pcie/h2d_pinned");
  EXPECT_EQ(m.held_out[1].points, 4);
  EXPECT_LT(m.held_out[1].mean_abs_rel_error, 0.2);
}

class CalibrateHostOnly : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / fs::path("kvsim-calibrate-test-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    options_.out_path = (dir_ / "my-box.yaml").string();
    options_.host_only = true;
    options_.quick = true;
    options_.command_line = "kvsim calibrate --out my-box.yaml --host-only --quick";
    options_.suite.host_bytes = 2ull << 20;
    options_.suite.host_max_threads = 2;
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path dir_;
  CalibrateOptions options_;
  hw::HardwareProfile base_ = hw::load_hardware("h100-sxm5-80gb");
};

TEST_F(CalibrateHostOnly, WritesAProfileThatLoadsBack) {
  std::ostringstream log;
  const hw::HardwareProfile p = calibrate(options_, base_, log);
  EXPECT_NE(log.str().find("no GPU (--host-only): running the host suite only\n"), std::string::npos) << log.str();
  EXPECT_EQ(p.source, "measured");
  EXPECT_EQ(p.name, "my-box");
  EXPECT_EQ(p.gpu, base_.gpu);
  ASSERT_TRUE(p.measured);
  EXPECT_EQ(p.measured->suites, std::vector<std::string>{"host"});
  EXPECT_EQ(p.measured->host_memcpy.x, (std::vector<double>{1, 2}));
  EXPECT_EQ(p.measured->command, options_.command_line);

  const hw::HardwareProfile back = hw::load_hardware(options_.out_path);
  EXPECT_EQ(back.source, "measured");
  EXPECT_EQ(back.name, "my-box");
  ASSERT_TRUE(back.measured);
  EXPECT_EQ(*back.measured, *p.measured);
  EXPECT_FALSE(back.measured->host_memcpy.empty());

  std::ifstream in(options_.out_path);
  std::string first;
  std::getline(in, first);
  EXPECT_EQ(first, "# written by: " + options_.command_line);
}

TEST_F(CalibrateHostOnly, RefusesToOverwriteWithoutForce) {
  { std::ofstream(options_.out_path) << "keep me\n"; }
  std::ostringstream log;
  try {
    calibrate(options_, base_, log);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find(options_.out_path), std::string::npos) << what;
    EXPECT_NE(what.find("--force"), std::string::npos) << what;
  }
  EXPECT_EQ(log.str(), "");  // refused before measuring anything
  std::ifstream in(options_.out_path);
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, "keep me");

  options_.force = true;
  EXPECT_EQ(calibrate(options_, base_, log).source, "measured");
  EXPECT_EQ(hw::load_hardware(options_.out_path).source, "measured");
}

TEST_F(CalibrateHostOnly, UnknownSuiteIsAnError) {
  options_.suites = {"hbm", "pcei"};
  std::ostringstream log;
  try {
    calibrate(options_, base_, log);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("unknown suite 'pcei' (did you mean 'pcie'?)"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(options_.out_path));
}

// Ctrl-C in the middle of a suite (the flag raised as the handler would, after the first measurement): calibrate
// stops with Interrupted instead of skipping the suite, and neither a profile nor a stray temporary is left behind.
TEST_F(CalibrateHostOnly, InterruptedMidSuiteLeavesNoFile) {
  options_.suite.progress = [](const std::string&) { set_interrupted(true); };
  std::ostringstream log;
  EXPECT_THROW(calibrate(options_, base_, log), Interrupted);
  set_interrupted(false);
  EXPECT_TRUE(fs::is_empty(dir_)) << fs::directory_iterator(dir_)->path();
  EXPECT_EQ(log.str().find("failed, skipped"), std::string::npos) << log.str();
}

}  // namespace
}  // namespace kvsim::kernels
