#include "hw/hardware_loader.h"

#include <algorithm>

#include <gtest/gtest.h>

#include "sim/core/error.h"
#include "sim/core/units.h"
#include "tests/test_support.h"

namespace kvsim::hw {
namespace {

const std::vector<std::string> kExpectedNames = {"a100-pcie-80gb", "a100-sxm4-40gb", "a100-sxm4-80gb", "a10g-24gb", "a40-48gb",
                                                 "h100-pcie-80gb", "h100-sxm5-80gb", "h200-sxm-141gb", "l4-24gb",
                                                 "l40s-48gb",      "rtx-4090-24gb",  "rtx-a6000-48gb", "t4-16gb"};

HardwareProfile parse(const std::string& text) {
  auto source = std::make_shared<yaml::Source>();
  source->file = "test.yaml";
  return parse_hardware_yaml(yaml::load_string(text, source->file), source);
}

std::string error_of(const std::string& text) {
  return testing::error_of([&] { parse(text); });
}

const char* kMinimal = R"(source: measured
gpu:
  model: x
  hbm_bytes: 16GiB
  hbm_bytes_per_s: 1e12
  fp16_flops: 1e14
  fp32_flops: 1e13
  sm_count: 10
pcie:
  gen: 4
  lanes: 16
  h2d_bytes_per_s: 25e9
  d2h_bytes_per_s: 25e9
  bidir_bytes_per_s: 40e9
host:
  dram_bytes: 64GiB
  dram_bytes_per_s: 100e9
)";

std::string with(std::string base, const std::string& from, const std::string& to) {
  const size_t at = base.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  return base.replace(at, from.size(), to);
}

TEST(HardwareCatalog, HasExactlyTheShippedNames) { EXPECT_EQ(hardware_catalog_names(), kExpectedNames); }

TEST(HardwareCatalog, EveryProfileLoadsAndIsSane) {
  for (const auto& name : hardware_catalog_names()) {
    SCOPED_TRACE(name);
    const HardwareProfile h = load_hardware(name);
    EXPECT_EQ(h.name, name);
    EXPECT_EQ(h.source, "datasheet");
    EXPECT_FALSE(h.citations.empty());
    EXPECT_GT(h.peak_flops(DType::kBf16), 0);
    EXPECT_GT(h.peak_flops(DType::kFp16), 0);
    EXPECT_GE(h.peak_flops(DType::kFp8), h.peak_flops(DType::kFp16));
    EXPECT_GT(h.gpu.fp32_flops, 0);
    EXPECT_LT(h.gpu.fp32_flops, h.peak_flops(DType::kFp16));
    EXPECT_GE(h.gpu.hbm_bytes, 15 * kGiB);  // T4 reports exactly 15,360 MiB
    EXPECT_LE(h.gpu.hbm_bytes, 141 * kGiB);
    EXPECT_GT(h.gpu.hbm_bytes_per_s, 2.5e11);
    EXPECT_LE(h.pcie.bidir_bytes_per_s, h.pcie.h2d_bytes_per_s + h.pcie.d2h_bytes_per_s);
    EXPECT_GE(h.pcie.bidir_bytes_per_s, h.pcie.h2d_bytes_per_s);
    EXPECT_LE(h.pcie.h2d_bytes_per_s, pcie_theoretical_bytes_per_s(h.pcie.gen, h.pcie.lanes) * 1.001);
    EXPECT_GE(h.pcie.latency_ns, 2000);
    EXPECT_LE(h.pcie.latency_ns, 10000);
    EXPECT_GT(h.host.dram_bytes, h.gpu.hbm_bytes);
    EXPECT_GT(h.host.dram_bytes_per_s, 0);
    EXPECT_GE(h.gpus_per_node, 1);
  }
}

TEST(HardwareCatalog, DriverReportedCapacities) {
  // nvidia-smi totals (modal-labs/modal-client PR #2797; NVIDIA/DCGM issue #232; RLinf issue #255).
  EXPECT_EQ(load_hardware("h100-sxm5-80gb").gpu.hbm_bytes, 81559 * kMiB);
  EXPECT_EQ(load_hardware("a100-sxm4-80gb").gpu.hbm_bytes, 81920 * kMiB);
  EXPECT_EQ(load_hardware("a100-sxm4-40gb").gpu.hbm_bytes, 40960 * kMiB);
  EXPECT_EQ(load_hardware("l4-24gb").gpu.hbm_bytes, 23034 * kMiB);
  EXPECT_EQ(load_hardware("t4-16gb").gpu.hbm_bytes, 15360 * kMiB);
  // RTX 4090: the cudaMemGetInfo total of a vLLM 0.19 log (what vLLM multiplies by gpu_memory_utilization).
  EXPECT_EQ(load_hardware("rtx-4090-24gb").gpu.hbm_bytes, 25'250'627'584u);
}

TEST(HardwareCatalog, PublishedLinksAndPeaks) {
  const HardwareProfile h100 = load_hardware("h100-sxm5-80gb");
  EXPECT_DOUBLE_EQ(h100.gpu.nvlink_bytes_per_s, 450e9);  // 900 GB/s total
  EXPECT_DOUBLE_EQ(h100.pcie.h2d_bytes_per_s, 63e9);
  EXPECT_NEAR(h100.pcie.bidir_bytes_per_s / h100.pcie.h2d_bytes_per_s, 83.4 / 55.3, 0.02);  // vLLM blog ratio
  EXPECT_NEAR(h100.gpu.bf16_flops, 989.4e12, 1e12);  // dense, not the 1,979 sparsity figure
  EXPECT_FALSE(load_hardware("rtx-4090-24gb").gpu.p2p);
  EXPECT_EQ(load_hardware("rtx-4090-24gb").gpu.nvlink_bytes_per_s, 0);
  EXPECT_EQ(load_hardware("rtx-a6000-48gb").pcie.gen, 3);          // InfiniGen testbed
  EXPECT_EQ(load_hardware("t4-16gb").host.dram_bytes, 208 * kGB);  // FlexGen testbed
}

TEST(HardwareProfile, PeakFlopsFallbacks) {
  const HardwareProfile a100 = load_hardware("a100-sxm4-80gb");
  EXPECT_EQ(a100.peak_flops(DType::kFp8), a100.gpu.fp16_flops);  // no fp8 unit
  EXPECT_EQ(a100.peak_flops(DType::kInt4), a100.gpu.bf16_flops);
  EXPECT_EQ(a100.peak_flops(DType::kMxfp4), a100.gpu.bf16_flops);
  EXPECT_EQ(a100.peak_flops(DType::kInt2), a100.gpu.bf16_flops);
  EXPECT_EQ(a100.peak_flops(DType::kFp32), a100.gpu.fp32_flops);
  const HardwareProfile h100 = load_hardware("h100-sxm5-80gb");
  EXPECT_EQ(h100.peak_flops(DType::kFp8), h100.gpu.fp8_flops);
  const HardwareProfile t4 = load_hardware("t4-16gb");
  EXPECT_EQ(t4.peak_flops(DType::kBf16), t4.gpu.fp16_flops);  // bf16 cast to fp16 on Turing
}

TEST(HardwareLoader, RoundTripsThroughYaml) {
  for (const auto& name : hardware_catalog_names()) {
    SCOPED_TRACE(name);
    const HardwareProfile h = load_hardware(name);
    auto source = std::make_shared<yaml::Source>();
    source->file = "roundtrip.yaml";
    YAML::Emitter out;
    out << hardware_to_yaml(h);
    HardwareProfile back = parse_hardware_yaml(yaml::load_string(out.c_str(), source->file), source);
    back.file = h.file;
    EXPECT_EQ(back, h);
  }
}

TEST(HardwareLoader, MinimalProfileTakesDefaults) {
  const HardwareProfile h = parse(kMinimal);
  EXPECT_EQ(h.name, "test");
  EXPECT_EQ(h.gpus_per_node, 1);
  EXPECT_EQ(h.host.sockets, 1);
  EXPECT_TRUE(h.gpu.p2p);
  EXPECT_EQ(h.gpu.nvlink_fabric, NvlinkFabric::kNone);
}

TEST(HardwareLoader, UnknownNameSuggestsAndListsValid) {
  try {
    load_hardware("h100");
    FAIL() << "no error";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("unknown hardware 'h100' (did you mean 'h100-sxm5-80gb'?)"), std::string::npos) << m;
    EXPECT_NE(m.find("valid: a100-pcie-80gb"), std::string::npos) << m;
  }
  try {
    load_hardware("l40-48gb");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("did you mean 'l40s-48gb'?"), std::string::npos) << e.what();
  }
}

TEST(HardwareLoader, UnknownKeyNamesPlaceAndSuggests) {
  const std::string m = error_of(with(kMinimal, "  sm_count: 10\n", "  sm_count: 10\n  sm_cuont: 3\n"));
  EXPECT_NE(m.find("test.yaml:9:3: gpu.sm_cuont: unknown key (did you mean 'sm_count'?)"), std::string::npos) << m;
}

TEST(HardwareLoader, WrongTypeNamesPlaceAndKey) {
  const std::string m = error_of(with(kMinimal, "sm_count: 10", "sm_count: many"));
  EXPECT_NE(m.find("test.yaml:8:13: gpu.sm_count: expected an integer in [1 .. 1048576], found 'many'"), std::string::npos) << m;
  const std::string b = error_of(with(kMinimal, "hbm_bytes: 16GiB", "hbm_bytes: [1]"));
  EXPECT_NE(b.find("test.yaml:4:14: gpu.hbm_bytes: expected a byte size"), std::string::npos) << b;
}

TEST(HardwareLoader, NegativeBandwidthNamesPlaceAndKey) {
  const std::string m = error_of(with(kMinimal, "hbm_bytes_per_s: 1e12", "hbm_bytes_per_s: -5"));
  EXPECT_NE(m.find("test.yaml:5:20: gpu.hbm_bytes_per_s: expected a number in [1000000 .. 1000000000000000], found '-5'"), std::string::npos) << m;
  const std::string d = error_of(with(kMinimal, "dram_bytes_per_s: 100e9", "dram_bytes_per_s: -1"));
  EXPECT_NE(d.find("test.yaml:17:21: host.dram_bytes_per_s"), std::string::npos) << d;
}

TEST(HardwareLoader, BidirAboveTwiceOneDirectionIsAnError) {
  EXPECT_NO_THROW(parse(with(kMinimal, "bidir_bytes_per_s: 40e9", "bidir_bytes_per_s: 50e9")));  // exactly 2x
  const std::string m = error_of(with(kMinimal, "bidir_bytes_per_s: 40e9", "bidir_bytes_per_s: 50.1e9"));
  EXPECT_NE(m.find("test.yaml:14:22: pcie.bidir_bytes_per_s:"), std::string::npos) << m;
  EXPECT_NE(m.find("twice one direction"), std::string::npos) << m;
  EXPECT_NE(error_of(with(kMinimal, "bidir_bytes_per_s: 40e9", "bidir_bytes_per_s: 20e9")).find("below one direction"),
            std::string::npos);
}

TEST(HardwareLoader, SourceMustBeDatasheetOrMeasured) {
  const std::string m = error_of(with(kMinimal, "source: measured", "source: measurd"));
  EXPECT_NE(m.find("test.yaml:1:9: source: expected one of datasheet, measured, found 'measurd' (did you mean "
                   "'measured'?)"),
            std::string::npos)
      << m;
  EXPECT_NE(error_of(with(kMinimal, "source: measured", "source: datasheet")).find("citations: required"),
            std::string::npos);
}

TEST(HardwareLoader, PcieAboveTheoreticalIsAnError) {
  const std::string m = error_of(with(kMinimal, "h2d_bytes_per_s: 25e9", "h2d_bytes_per_s: 32e9"));
  EXPECT_NE(m.find("pcie.h2d_bytes_per_s:"), std::string::npos) << m;
  EXPECT_NE(m.find("PCIe gen4 x16"), std::string::npos) << m;
}

TEST(HardwareLoader, NvlinkFabricMustMatchBandwidth) {
  const std::string m = error_of(with(kMinimal, "  sm_count: 10\n", "  sm_count: 10\n  nvlink_bytes_per_s: 1e11\n"));
  EXPECT_NE(m.find("gpu.nvlink_fabric:"), std::string::npos) << m;
}

TEST(HardwareLoader, SecondSocketNeedsSocketLink) {
  const std::string m = error_of(with(kMinimal, "dram_bytes_per_s: 100e9", "dram_bytes_per_s: 100e9\n  sockets: 2"));
  EXPECT_NE(m.find("host.socket_link_bytes_per_s: required"), std::string::npos) << m;
}

TEST(PcieTheoretical, PublishedPerDirectionRates) {
  EXPECT_NEAR(pcie_theoretical_bytes_per_s(3, 16), 15.75e9, 0.01e9);
  EXPECT_NEAR(pcie_theoretical_bytes_per_s(4, 16), 31.5e9, 0.02e9);
  EXPECT_NEAR(pcie_theoretical_bytes_per_s(5, 16), 63.0e9, 0.04e9);
}

}  // namespace
}  // namespace kvsim::hw
