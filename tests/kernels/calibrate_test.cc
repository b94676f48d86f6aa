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
#include "sim/core/input_file.h"
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
  s.push_back(sample("hbm", "copy", {{"bytes", 1 << 30}}, 2.9e12));  // noise: pooled with the sizes before it
  s.push_back(sample("pcie", "streams_h2d", {{"bytes", 1 << 20}, {"streams", 4}}, 20e9));
  s.push_back(sample("gather", "cpu_staged/token_head", {{"bytes", 1 << 20}, {"threads", 1}}, 2e9));
  s.push_back(sample("gather", "cpu_staged/token_head", {{"bytes", 1 << 20}, {"threads", 16}}, 5e9));
  s.push_back(sample("gather", "per_row/token_head", {{"bytes", 1 << 20}}, 0.1e9));
  s.push_back(sample("gemm", "bf16/llama-3.1-8b/qkv_proj/tp1", {{"m", 1}, {"n", 6144}, {"k", 4096}}, 1e12));
  s.push_back(sample("gemm", "bf16/llama-3.1-8b/qkv_proj/tp1", {{"m", 16}, {"n", 6144}, {"k", 4096}}, 15e12));
  s.push_back(sample("gemm", "bf16/other/qkv_proj/tp2", {{"m", 16}, {"n", 6144}, {"k", 4096}}, 17e12));
  s.push_back(sample("attention", "decode/bs16", {{"batch", 8}, {"context", 4096}}, 1e12));
  s.push_back(sample("attention", "decode/bs16", {{"batch", 64}, {"context", 4096}}, 2.8e12));
  s.push_back(sample("attention", "decode/bs16", {{"batch", 64}, {"context", 512}}, 2.0e12));
  s.push_back(sample("attention", "prefill/kvsim-simple", {{"tokens", 1024}}, 3e14, "flops_per_s"));
  s.push_back(sample("launch", "launch_host", {}, 2500, "ns"));
  s.push_back(sample("launch", "launch_host", {}, 2300, "ns"));
  s.push_back(sample("launch", "launch_host", {}, 9000, "ns"));
  s.push_back(sample("launch", "empty_kernel", {}, 1500, "ns"));     // the GPU-side interval: not the launch cost
  s.push_back(sample("launch", "launch_latency", {}, 7000, "ns"));   // waited for: not the launch cost either
  s.push_back(sample("launch", "graph_replay", {}, 1800, "ns"));
  s.push_back(sample("launch", "graph_per_kernel", {}, 18, "ns"));   // a share of one replay, not a replay
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
  // 3, 3, 3, 2.9 TB/s: isotonic regression pools the last dip with the sizes before it, (3 x 3 + 2.9) / 4.
  EXPECT_DOUBLE_EQ(m.bandwidth.at("hbm/copy").y.back(), 2.975e12);
  EXPECT_DOUBLE_EQ(m.bandwidth.at("hbm/copy").y.front(), 2.975e12);
  EXPECT_EQ(m.bandwidth.at("pcie/streams_h2d/streams4").y, std::vector<double>{20e9});
  EXPECT_DOUBLE_EQ(m.pcie_latency_ns, 2006);  // median over the two smallest sizes
  // cpu_staged per host thread count; other methods by series alone.
  EXPECT_EQ(m.gather.count("cpu_staged/token_head"), 0u);
  EXPECT_EQ(m.gather.at("cpu_staged/token_head/threads1").y, std::vector<double>{2e9});
  EXPECT_EQ(m.gather.at("cpu_staged/token_head/threads16").y, std::vector<double>{5e9});
  EXPECT_EQ(m.gather.at("per_row/token_head").y, std::vector<double>{0.1e9});
  ASSERT_EQ(m.gemm.size(), 2u);
  EXPECT_EQ(m.gemm[0], (hw::GemmPoint{"bf16", 1, 6144, 4096, 1e12}));
  EXPECT_EQ(m.gemm[1], (hw::GemmPoint{"bf16", 16, 6144, 4096, 16e12}));  // median of two shapes that coincide
  ASSERT_EQ(m.decode_attention.count(16), 1u);
  ASSERT_EQ(m.decode_attention.at(16).size(), 2u);  // batches 8 and 64, no batch filter
  EXPECT_EQ(m.decode_attention.at(16).at(64).x, (std::vector<double>{512, 4096}));
  EXPECT_EQ(m.decode_attention.at(16).at(64).y, (std::vector<double>{2.0e12, 2.8e12}));
  EXPECT_EQ(m.decode_attention.at(16).at(8).y, (std::vector<double>{1e12}));
  EXPECT_EQ(m.prefill_attention_kernel, "kvsim-simple");
  EXPECT_EQ(m.prefill_attention_note,
            "no production prefill kernel measured; curve from kvsim's simple kernel, slower than production flash "
            "kernels");
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

// The attention suite measures every batch (quick: 1, 32, 128) at each context: each batch keeps its own curve, and
// the lookup reads batch 1 from batch 1's samples, not from the large batches'.
TEST(FitMeasurements, DecodeAttentionKeepsEveryBatch) {
  std::vector<hw::RawSample> s;
  for (double context : {128.0, 1024.0, 8192.0}) {
    for (double batch : {1.0, 32.0}) {
      const double rate = (batch == 1 ? 0.2e12 : 2.0e12) * (1 + context / 8192);
      s.push_back(
          sample("attention", "decode/bs16", {{"batch", batch}, {"context", context}, {"block_size", 16}}, rate));
    }
  }
  s.push_back(sample("attention", "decode/bs32", {{"context", 1024}}, 1.5e12));  // no batch: one curve for every batch
  const hw::MeasuredProfile m = fit_measurements(s);
  ASSERT_EQ(m.decode_attention.at(16).size(), 2u);
  EXPECT_EQ(m.decode_attention.at(16).at(1).x, (std::vector<double>{128, 1024, 8192}));
  EXPECT_DOUBLE_EQ(m.decode_attention.at(16).at(1).y.back(), 0.4e12);
  EXPECT_DOUBLE_EQ(m.decode_attention.at(16).at(32).y.back(), 4.0e12);
  EXPECT_DOUBLE_EQ(*m.decode_attention_bytes_per_s(8192, 16, 1), 0.4e12);
  EXPECT_DOUBLE_EQ(*m.decode_attention_bytes_per_s(8192, 16, 32), 4.0e12);
  EXPECT_EQ(m.decode_attention.at(32).count(hw::kAnyBatch), 1u);
  EXPECT_DOUBLE_EQ(*m.decode_attention_bytes_per_s(1024, 32, 1), 1.5e12);
}

TEST(FitMeasurements, PrefillPrefersTheProductionKernel) {
  std::vector<hw::RawSample> s = {sample("attention", "prefill/kvsim-simple", {{"tokens", 1024}}, 1e14, "flops_per_s"),
                                  sample("attention", "prefill/kvsim-simple", {{"tokens", 4096}}, 2e14, "flops_per_s"),
                                  sample("attention", "prefill/sdpa-flash", {{"tokens", 1024}}, 4e14, "flops_per_s")};
  const hw::MeasuredProfile m = fit_measurements(s);
  EXPECT_EQ(m.prefill_attention_kernel, "sdpa-flash");
  EXPECT_EQ(m.prefill_attention.y, std::vector<double>{4e14});
  EXPECT_EQ(m.prefill_attention_note, "");
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
  void TearDown() override {
    fs::remove_all(dir_);
    clear_inputs();  // the profiles loaded here are gone: their inodes may come back as the next test's output
  }

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
// stops with Interrupted instead of skipping the suite, and leaves only a partial profile (complete: false) of what
// it measured, no stray temporary.
TEST_F(CalibrateHostOnly, InterruptedMidSuiteLeavesOnlyAPartialProfile) {
  options_.suite.progress = [](const std::string&) { set_interrupted(true); };
  std::ostringstream log;
  EXPECT_THROW(calibrate(options_, base_, log), Interrupted);
  set_interrupted(false);
  const std::vector<fs::path> files(fs::directory_iterator(dir_), fs::directory_iterator{});
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(files[0], fs::path(options_.out_path));
  const hw::HardwareProfile back = hw::load_hardware(options_.out_path);
  ASSERT_TRUE(back.measured);
  EXPECT_FALSE(back.measured->complete);
  EXPECT_EQ(log.str().find("failed, skipped"), std::string::npos) << log.str();
}

// PCIe's per-copy cost comes from copies back to back (per_copy_*), not from one copy waited for (latency_*);
// profiles from before per_copy existed named the back-to-back figure latency_*, which then stands in.
TEST(FitMeasurements, PcieCopyCostFromBackToBackCopiesAndOldLatencyAsFallback) {
  std::vector<hw::RawSample> s;
  for (double bytes : {4.0, 16.0, 256.0}) {
    s.push_back(sample("pcie", "per_copy_h2d", {{"bytes", bytes}}, 2000, "ns"));
    s.push_back(sample("pcie", "latency_h2d", {{"bytes", bytes}}, 9000, "ns"));
  }
  EXPECT_EQ(fit_measurements(s).pcie_latency_ns, 2000);
  std::erase_if(s, [](const hw::RawSample& x) { return x.series == "per_copy_h2d"; });
  EXPECT_EQ(fit_measurements(s).pcie_latency_ns, 9000);
}

// Old profiles have only empty_kernel: it stands in for the launch cost.
TEST(FitMeasurements, LaunchCostFallsBackToTheEmptyKernelInterval) {
  EXPECT_EQ(fit_measurements({sample("launch", "empty_kernel", {}, 2100, "ns")}).launch_ns, 2100);
}

}  // namespace
}  // namespace kvsim::kernels
