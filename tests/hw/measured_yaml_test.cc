// The `measured:` section of a hardware profile: a measured profile round-trips through YAML exactly, and malformed or
// impossible profiles are rejected with file:line:col and the key.
#include <gtest/gtest.h>

#include "hw/hardware_loader.h"
#include "hw/measured_yaml.h"
#include "sim/core/error.h"
#include "tests/test_support.h"

namespace kvsim::hw {
namespace {

HardwareProfile parse(const std::string& text) {
  auto source = std::make_shared<yaml::Source>();
  source->file = "test.yaml";
  return parse_hardware_yaml(yaml::load_string(text, source->file), source);
}

std::string error_of(const std::string& text) {
  return testing::error_of([&] { parse(text); });
}

std::string with(std::string base, const std::string& from, const std::string& to) {
  const size_t at = base.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  return base.replace(at, from.size(), to);
}

// Line numbers below refer to this text.
const char* kProfile = R"(source: measured
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
measured:
  device: NVIDIA H100 80GB HBM3
  suites: [pcie, host]
  bandwidth:
    pcie/h2d_pinned: {bytes: [4096, 65536, 1048576], bytes_per_s: [2e9, 20e9, 25e9]}
  gemm:
    - {dtype: bf16, m: 1, n: 4096, k: 4096, flops_per_s: 1e12}
  host_memcpy: {threads: [1, 2], bytes_per_s: [10e9, 18e9]}
  pcie_latency_ns: 2500
)";

MeasuredProfile full_measured() {
  MeasuredProfile m;
  m.device = "NVIDIA H100 80GB HBM3";
  m.driver_version = "550.54.15";
  m.cuda_version = "12.4";
  m.date = "2025-01-31T12:34:56Z";
  m.command = "kvsim calibrate --out h100: measured.yaml --quick";
  m.suites = {"pcie", "hbm", "host"};
  m.complete = false;
  m.failures = {"gemm: bf16/llama-3.1-8b/qkv_proj/tp1 m=16384: cudaMalloc...: out of memory",
                "attention: decode bs16 batch 256: [x] {y}: '#' quoted"};
  m.bandwidth["pcie/h2d_pinned"] = Curve{{4096, 65536, 1 << 20}, {1.0 / 3 * 1e10, 2.0e10 + 0.1, 25.123456789e9}, true};
  m.bandwidth["hbm/copy"] = Curve{{1 << 20, 1 << 30}, {1e12, 3.0000000000000004e12}, true};
  m.gather["cpu_staged/token_head"] = Curve{{4096, 8192}, {1.5e9, 1.7e9}, true};
  m.gather["cpu_staged/token_head/threads1"] = Curve{{4096, 8192}, {0.5e9, 0.7e9}, true};
  m.gather["cpu_staged/token_head/threads16"] = Curve{{4096, 8192}, {2.5e9, 2.7e9}, true};
  m.gather["zero_copy/block"] = Curve{{4096}, {3e9}, true};
  m.gemm = {{"bf16", 1, 6144, 4096, 1.234567e12}, {"fp8", 16384, 4096, 14336, 1.5e15}};
  m.decode_attention[16][1] = Curve{{1024, 4096}, {0.3e12, 0.5e12}, true};
  m.decode_attention[16][32] = Curve{{1024, 4096}, {2.1e12, 2.9e12}, true};
  m.decode_attention[64][kAnyBatch] = Curve{{2048}, {1.9e12}, true};  // both forms under one block size
  m.decode_attention[64][8] = Curve{{2048}, {1.1e12}, true};
  m.decode_attention[128] = Curve{{1024}, {2.5e12}, true};  // batch-independent
  m.prefill_attention = Curve{{128, 1024, 8192}, {1e14, 4e14, 6.1e14}, true};
  m.prefill_attention_kernel = "kvsim-simple";
  m.prefill_attention_note =
      "PyTorch unavailable: No module named 'torch'; curve from kvsim's simple kernel, slower than production flash "
      "kernels";
  m.host_memcpy = Curve{{1, 2, 4}, {9.87e9, 1.7e10, 2.2e10}, false};
  m.pcie_latency_ns = 2345.6789;
  m.launch_ns = 2100.5;
  m.graph_replay_ns = 1e-300;
  m.pinned_alloc_bytes_per_s = 0.1;
  m.held_out = {{"bandwidth/pcie/h2d_pinned", 1, 0.0123, 0.0456}};
  m.samples = {{"pcie", "h2d_pinned", {{"bytes", 4096}}, 1.0 / 3 * 1e10, "bytes_per_s"},
               {"launch", "graph_replay", {}, 1e-300, "ns"},
               {"host", "memcpy", {{"threads", 1}, {"bytes", 268435456}}, 9.87e9, "bytes_per_s"}};
  return m;
}

TEST(MeasuredYaml, ProfileRoundTripsExactly) {
  HardwareProfile h = load_hardware("h100-sxm5-80gb");
  h.source = "measured";
  h.name = "h100-measured";
  h.measured = full_measured();
  YAML::Emitter out;
  out << hardware_to_yaml(h);
  HardwareProfile back = parse(out.c_str());
  back.file = h.file;
  EXPECT_EQ(back, h);
  ASSERT_TRUE(back.measured);
  EXPECT_EQ(*back.measured, *h.measured);
  // And again: the written text is a fixed point.
  YAML::Emitter again;
  again << hardware_to_yaml(back);
  EXPECT_EQ(std::string(again.c_str()), std::string(out.c_str()));
}

TEST(MeasuredYaml, CompleteProfileWritesNoStatusKeys) {
  MeasuredProfile m = full_measured();
  YAML::Emitter partial;
  partial << measured_to_yaml(m);
  const std::string text = partial.c_str();
  EXPECT_NE(text.find("complete: false"), std::string::npos) << text;
  EXPECT_NE(text.find("failures:\n  - "), std::string::npos) << text;
  EXPECT_NE(text.find("prefill_attention_note: "), std::string::npos) << text;
  m.complete = true;
  m.failures.clear();
  m.prefill_attention_note.clear();
  YAML::Emitter complete;
  complete << measured_to_yaml(m);
  for (const char* key : {"complete", "failures", "prefill_attention_note"}) {
    EXPECT_EQ(std::string(complete.c_str()).find(key), std::string::npos) << key;
  }
}

TEST(MeasuredYaml, DecodeAttentionPerBatchForm) {
  const HardwareProfile h = parse(with(kProfile, "  pcie_latency_ns",
                                       "  decode_attention:\n"
                                       "    16:\n"
                                       "      batches:\n"
                                       "        1: {context: [1024, 4096], bytes_per_s: [0.3e12, 0.5e12]}\n"
                                       "        64: {context: [1024, 4096], bytes_per_s: [2.1e12, 2.9e12]}\n"
                                       "  complete: false\n"
                                       "  failures: [\"gemm: m=16384: out of memory\"]\n"
                                       "  pcie_latency_ns"));
  ASSERT_TRUE(h.measured);
  const MeasuredProfile& m = *h.measured;
  EXPECT_FALSE(m.complete);
  EXPECT_EQ(m.failures, std::vector<std::string>{"gemm: m=16384: out of memory"});
  ASSERT_EQ(m.decode_attention.at(16).size(), 2u);
  EXPECT_EQ(m.decode_attention.at(16).at(1).y, (std::vector<double>{0.3e12, 0.5e12}));
  EXPECT_DOUBLE_EQ(*m.decode_attention_bytes_per_s(4096, 16, 1), 0.5e12);
  EXPECT_DOUBLE_EQ(*m.decode_attention_bytes_per_s(4096, 16, 64), 2.9e12);
  EXPECT_DOUBLE_EQ(*m.decode_attention_bytes_per_s(4096, 16, 8), 1.7e12);  // log2 8 is halfway from 1 to 64
}

// Profiles written before batches were kept apart: one curve per block size, used for every batch.
TEST(MeasuredYaml, DecodeAttentionOldFormLoadsAsAnyBatch) {
  const HardwareProfile h = parse(with(kProfile, "  pcie_latency_ns",
                                       "  decode_attention:\n"
                                       "    16: {context: [1024, 4096], bytes_per_s: [2.1e12, 2.9e12]}\n"
                                       "  pcie_latency_ns"));
  ASSERT_TRUE(h.measured);
  const MeasuredProfile& m = *h.measured;
  EXPECT_TRUE(m.complete);
  ASSERT_EQ(m.decode_attention.at(16).size(), 1u);
  EXPECT_EQ(m.decode_attention.at(16).at(kAnyBatch).x, (std::vector<double>{1024, 4096}));
  for (double batch : {1.0, 8.0, 256.0}) EXPECT_DOUBLE_EQ(*m.decode_attention_bytes_per_s(4096, 16, batch), 2.9e12);
  // And it is written back in the same form.
  YAML::Emitter out;
  out << measured_to_yaml(m);
  EXPECT_NE(std::string(out.c_str()).find("decode_attention:\n  16:\n    context: [1024, 4096]"), std::string::npos)
      << out.c_str();
}

TEST(MeasuredYaml, RejectsBadDecodeBatch) {
  const auto decode = [](const std::string& entry) {
    return error_of(
        with(kProfile, "  pcie_latency_ns", "  decode_attention:\n    16:\n" + entry + "  pcie_latency_ns"));
  };
  std::string e = decode("      batches:\n        0: {context: [1], bytes_per_s: [1]}\n");
  EXPECT_NE(e.find("test.yaml:29:"), std::string::npos) << e;
  EXPECT_NE(e.find("measured.decode_attention.16.batches.0: expected a batch size (an integer >= 1) as the key, found "
                   "'0'; a curve for every batch is written without batches: 16: {context: [...], bytes_per_s: [...]}"),
            std::string::npos)
      << e;
  e = decode("      batches:\n        one: {context: [1], bytes_per_s: [1]}\n");
  EXPECT_NE(e.find("measured.decode_attention.16.batches.one: expected a batch size"), std::string::npos) << e;
  e = decode("      batches:\n        8: {context: [2, 1], bytes_per_s: [1, 1]}\n");
  EXPECT_NE(e.find("test.yaml:29:"), std::string::npos) << e;
  EXPECT_NE(e.find("measured.decode_attention.16.batches.8.context[1]: non-monotone"), std::string::npos) << e;
  e = decode("      batches: {}\n");
  EXPECT_NE(e.find("measured.decode_attention.16.batches: expected a mapping of batch sizes"), std::string::npos) << e;
  e = decode("      batchs:\n        8: {context: [1], bytes_per_s: [1]}\n");
  EXPECT_NE(e.find("measured.decode_attention.16.context: required key is missing"), std::string::npos) << e;
}

TEST(MeasuredYaml, GatherCurveNames) {
  const auto gather = [](const std::string& name) {
    return with(kProfile, "  gemm:", "  gather:\n    " + name + ": {bytes: [4096], bytes_per_s: [1e9]}\n  gemm:");
  };
  const HardwareProfile h = parse(gather("cpu_staged/block/threads64"));
  EXPECT_EQ(h.measured->gather.count("cpu_staged/block/threads64"), 1u);
  EXPECT_EQ(parse(gather("per_row/token_layer")).measured->gather.count("per_row/token_layer"), 1u);
  std::string e = error_of(gather("cpu_staged/block/threads0"));
  EXPECT_NE(e.find("test.yaml:24:"), std::string::npos) << e;
  EXPECT_NE(e.find("measured.gather.cpu_staged/block/threads0: unexpected suffix '/threads0' "
                   "(expected /threads<N>, N an integer >= 1)"),
            std::string::npos)
      << e;
  e = error_of(gather("cpu_staged/block/streams4"));
  EXPECT_NE(e.find("unexpected suffix '/streams4' (expected /threads<N>"), std::string::npos) << e;
  e = error_of(gather("cpu_staged/block/threads4x"));
  EXPECT_NE(e.find("unexpected suffix '/threads4x'"), std::string::npos) << e;
  e = error_of(gather("zero_copy/block/threads4"));
  EXPECT_NE(e.find("unexpected suffix '/threads4': only cpu_staged curves carry one"), std::string::npos) << e;
  e = error_of(gather("cpu_stagd/block"));
  EXPECT_NE(e.find("unknown gather method 'cpu_stagd' (did you mean 'cpu_staged'?)"), std::string::npos) << e;
  e = error_of(gather("cpu_staged/tokenhead/threads4"));
  EXPECT_NE(e.find("unknown gather granularity 'tokenhead' (did you mean 'token_head'?)"), std::string::npos) << e;
}

TEST(MeasuredYaml, ShortestNumberForm) {
  EXPECT_EQ(yaml::number(0.1).Scalar(), "0.1");
  EXPECT_EQ(yaml::number(25e9).Scalar(), "25000000000");
  EXPECT_EQ(yaml::number(1e-300).Scalar(), "1e-300");
}

TEST(MeasuredYaml, ReadsEverySection) {
  const HardwareProfile h = parse(kProfile);
  ASSERT_TRUE(h.measured);
  const MeasuredProfile& m = *h.measured;
  EXPECT_EQ(m.device, "NVIDIA H100 80GB HBM3");
  EXPECT_EQ(m.suites, (std::vector<std::string>{"pcie", "host"}));
  EXPECT_DOUBLE_EQ(*m.bandwidth_at("pcie/h2d_pinned", 1 << 30), 25e9);
  EXPECT_TRUE(m.bandwidth.at("pcie/h2d_pinned").log_x);
  EXPECT_FALSE(m.host_memcpy.log_x);
  EXPECT_EQ(m.gemm.size(), 1u);
  EXPECT_EQ(m.pcie_latency_ns, 2500);
  EXPECT_TRUE(m.prefill_attention.empty());
}

TEST(MeasuredYaml, RejectsNegativeBandwidth) {
  const std::string e = error_of(with(kProfile, "[2e9, 20e9, 25e9]", "[2e9, -20e9, 25e9]"));
  EXPECT_NE(e.find("test.yaml:22:"), std::string::npos) << e;
  EXPECT_NE(e.find("measured.bandwidth.pcie/h2d_pinned.bytes_per_s[1]"), std::string::npos) << e;
  EXPECT_NE(e.find("'-20e9'"), std::string::npos) << e;
}

TEST(MeasuredYaml, RejectsZeroBandwidthAndZeroCapacity) {
  EXPECT_NE(error_of(with(kProfile, "[10e9, 18e9]", "[0, 18e9]")).find("test.yaml:25:"), std::string::npos);
  const std::string e = error_of(with(kProfile, "hbm_bytes: 16GiB", "hbm_bytes: 0"));
  EXPECT_NE(e.find("test.yaml:4:"), std::string::npos) << e;
  EXPECT_NE(e.find("gpu.hbm_bytes"), std::string::npos) << e;
}

TEST(MeasuredYaml, RejectsNonMonotoneSizes) {
  const std::string e = error_of(with(kProfile, "[4096, 65536, 1048576]", "[4096, 1048576, 65536]"));
  EXPECT_NE(e.find("test.yaml:22:"), std::string::npos) << e;
  EXPECT_NE(e.find("bytes[2]: non-monotone sizes"), std::string::npos) << e;
  const std::string dup = error_of(with(kProfile, "threads: [1, 2]", "threads: [2, 2]"));
  EXPECT_NE(dup.find("measured.host_memcpy.threads[1]: non-monotone"), std::string::npos) << dup;
}

TEST(MeasuredYaml, RejectsLengthMismatch) {
  const std::string e = error_of(with(kProfile, "[2e9, 20e9, 25e9]", "[2e9, 20e9]"));
  EXPECT_NE(e.find("test.yaml:22:"), std::string::npos) << e;
  EXPECT_NE(e.find("measured.bandwidth.pcie/h2d_pinned.bytes_per_s: has 2 values but bytes has 3"), std::string::npos)
      << e;
}

TEST(MeasuredYaml, RejectsMeasuredOnDatasheetProfile) {
  const std::string e = error_of(with(kProfile, "source: measured", "source: datasheet\ncitations: [x]"));
  EXPECT_NE(e.find("test.yaml:20:"), std::string::npos) << e;  // the `measured:` value, one line lower
  EXPECT_NE(e.find("measured: only a profile with source: measured"), std::string::npos) << e;
}

TEST(MeasuredYaml, RejectsUnknownKeysWithSuggestion) {
  std::string e = error_of(with(kProfile, "pcie_latency_ns:", "pcie_latncy_ns:"));
  EXPECT_NE(e.find("test.yaml:26:3: measured.pcie_latncy_ns: unknown key (did you mean 'pcie_latency_ns'?)"),
            std::string::npos)
      << e;
  e = error_of(with(kProfile, "flops_per_s: 1e12}", "flops_per_s: 1e12, mm: 3}"));
  EXPECT_NE(e.find("measured.gemm[0].mm: unknown key"), std::string::npos) << e;
  e = error_of(with(kProfile, "{bytes: [4096", "{bytez: [4096"));
  EXPECT_NE(e.find("test.yaml:22:"), std::string::npos) << e;
}

TEST(MeasuredYaml, RejectsBadGemmAndBlockSize) {
  std::string e = error_of(with(kProfile, "dtype: bf16", "dtype: bf61"));
  EXPECT_NE(e.find("measured.gemm[0].dtype"), std::string::npos) << e;
  e = error_of(with(kProfile, "  pcie_latency_ns",
                    "  decode_attention:\n    sixteen: {context: [1], bytes_per_s: [1]}\n"
                    "  pcie_latency_ns"));
  EXPECT_NE(e.find("measured.decode_attention.sixteen: expected a block size"), std::string::npos) << e;
}

}  // namespace
}  // namespace kvsim::hw
