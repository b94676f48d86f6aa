// The sanity checks of a measured profile (kernels/sanity.h) on synthetic H100 numbers: healthy ones pass; each
// failure mode (slow HBM read, PCIe above its link, weights read from L2, a slow decode kernel) fails its own check
// and no other; a check without samples is MISSING, never a pass.
#include "kernels/sanity.h"

#include <gtest/gtest.h>

#include <map>

#include "hw/hardware_loader.h"
#include "kernels/fit.h"

namespace kvsim::kernels {
namespace {

std::vector<hw::RawSample> healthy_h100() {
  std::vector<hw::RawSample> s;
  auto add = [&](const char* suite, const char* series, std::map<std::string, double> params, double value,
                 const char* unit = "bytes_per_s") {
    s.push_back(hw::RawSample{suite, series, params, value, unit});
  };
  for (double gib : {0.25, 1.0, 4.0}) add("hbm", "read", {{"bytes", gib * (1 << 30)}}, 3.0e12);
  for (double mib : {64.0, 256.0, 1024.0}) {
    add("pcie", "h2d_pinned", {{"bytes", mib * (1 << 20)}}, 53e9);
    add("pcie", "d2h_pinned", {{"bytes", mib * (1 << 20)}}, 54e9);
    add("pcie", "duplex_pinned", {{"bytes", mib * (1 << 20)}}, 80e9);
  }
  add("launch", "launch_host", {}, 2600, "ns");
  add("gemm", "bf16/llama-3.1-70b/gate_up_proj/tp1", {{"m", 8192}, {"n", 57344}, {"k", 8192}}, 720e12, "flops_per_s");
  add("gemm", "bf16/llama-3.1-70b/gate_up_proj/tp1", {{"m", 1}, {"n", 57344}, {"k", 8192}}, 2.6e12, "flops_per_s");
  for (double batch : {1.0, 32.0, 128.0}) {
    for (double context : {512.0, 8192.0, 32768.0}) {
      add("attention", "decode/bs16", {{"batch", batch}, {"context", context}, {"block_size", 16}},
          batch < 32 ? 1.2e12 : 2.7e12);
    }
  }
  return s;
}

hw::HardwareProfile profile_of(const std::vector<hw::RawSample>& samples) {
  hw::HardwareProfile p = hw::load_hardware("h100-sxm5-80gb");
  p.source = "measured";
  p.measured = fit_measurements(samples);
  return p;
}

std::map<std::string, SanityCheck> by_name(const std::vector<SanityCheck>& checks) {
  std::map<std::string, SanityCheck> out;
  for (const auto& c : checks) out[c.name] = c;
  return out;
}

TEST(Sanity, HealthyH100NumbersPassEveryCheck) {
  const auto checks = sanity_checks(profile_of(healthy_h100()));
  ASSERT_EQ(checks.size(), 8u);
  for (const auto& c : checks)
    EXPECT_TRUE(c.passed) << c.name << " = " << c.value << " not in [" << c.low << ", " << c.high << "]";
  const std::string table = format_sanity(checks);
  EXPECT_EQ(table.find("FAIL"), std::string::npos) << table;
}

TEST(Sanity, EachFailureModeFailsItsOwnCheck) {
  struct Case {
    std::string series, check;
    double value;
  };
  for (const Case& k :
       {Case{"read", "hbm_read", 2.0e12}, Case{"h2d_pinned", "pcie_h2d_pinned", 70e9},
        Case{"m1", "gemm_m1_bytes_of_read", 3.4e12}, Case{"decode", "decode_attention_of_read", 2.0e12}}) {
    auto samples = healthy_h100();
    for (auto& s : samples) {
      if (k.series == "m1" && s.suite == "gemm" && s.params.at("m") == 1) s.value = k.value;
      if (k.series == "decode" && s.suite == "attention" && s.params.at("batch") >= 32) s.value = k.value;
      if (s.series == k.series) s.value = k.value;
    }
    if (k.series == "read") {  // slower reads must not make the decode ratio or the m = 1 ratio fail instead
      for (auto& s : samples) {
        if (s.suite == "attention") s.value *= 2.0 / 3.0;
        if (s.suite == "gemm" && s.params.at("m") == 1) s.value = 1.8e12;
      }
    }
    for (const auto& [name, c] : by_name(sanity_checks(profile_of(samples)))) {
      EXPECT_EQ(c.passed, name != k.check) << k.series << ": " << name << " = " << c.value;
    }
  }
}

TEST(Sanity, AMissingMeasurementIsNotAPass) {
  auto samples = healthy_h100();
  std::erase_if(samples, [](const hw::RawSample& s) { return s.suite == "launch"; });
  const auto checks = by_name(sanity_checks(profile_of(samples)));
  EXPECT_FALSE(checks.at("launch").measured);
  EXPECT_FALSE(checks.at("launch").passed);
  EXPECT_NE(format_sanity(sanity_checks(profile_of(samples))).find("MISSING launch"), std::string::npos);
}

}  // namespace
}  // namespace kvsim::kernels
