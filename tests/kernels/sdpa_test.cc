// Prefill attention from PyTorch's flash SDPA: the script's output format, and that calibration prefers it to kvsim's
// simple kernel when both measured.
#include "kernels/sdpa.h"

#include <gtest/gtest.h>

#include <sstream>

#include "kernels/calibrate.h"
#include "tests/test_support.h"

namespace kvsim::kernels {
namespace {

TEST(Sdpa, ParsesSamplesAndSkipLines) {
  std::istringstream in(
      "{\"skip\": \"tokens=32768: CUDA out of memory\"}\n"
      "{\"suite\": \"attention\", \"series\": \"prefill/sdpa-flash\", \"params\": {\"tokens\": 1024, \"heads\": 32, "
      "\"head_dim\": 128}, \"value\": 4.5e14, \"unit\": \"flops_per_s\"}\n");
  std::vector<std::string> skipped;
  const auto samples = parse_sample_lines(in, "out", &skipped);
  ASSERT_EQ(samples.size(), 1u);
  EXPECT_EQ(samples[0].series, "prefill/sdpa-flash");
  EXPECT_EQ(samples[0].params.at("tokens"), 1024);
  EXPECT_EQ(samples[0].value, 4.5e14);
  ASSERT_EQ(skipped.size(), 1u);
  EXPECT_EQ(skipped[0], "tokens=32768: CUDA out of memory");
}

TEST(Sdpa, BadLinesNameTheLine) {
  std::istringstream in("{\"skip\": \"x\"}\nnot json\n");
  EXPECT_EQ(testing::error_of([&] { parse_sample_lines(in, "out", nullptr); }),
            "out:2: expected a JSON object, found 'not json'");
  std::istringstream missing("{\"suite\": \"attention\"}\n");
  EXPECT_NE(testing::error_of([&] { parse_sample_lines(missing, "out", nullptr); }).find("out:1: not a sample"),
            std::string::npos);
}

TEST(Sdpa, CalibrationPrefersTheFlashKernelToTheSimpleOne) {
  std::vector<hw::RawSample> samples;
  for (double t : {512.0, 2048.0, 8192.0}) {
    samples.push_back({"attention", "prefill/kvsim-simple", {{"tokens", t}}, 5e13, "flops_per_s"});
    samples.push_back({"attention", "prefill/sdpa-flash", {{"tokens", t}}, 4e14, "flops_per_s"});
  }
  const hw::MeasuredProfile m = fit_measurements(samples);
  EXPECT_EQ(m.prefill_attention_kernel, "sdpa-flash");
  EXPECT_EQ(m.prefill_attention.at(2048), 4e14);
}

// Here the script finds no GPU (and perhaps no PyTorch): calibration goes on with a reason, never a crash.
TEST(Sdpa, RunsOrSaysWhyNot) {
  SuiteOptions options;
  options.quick = true;
  std::string why;
  const auto samples = run_sdpa_prefill(options, &why);
  if (samples.empty()) {
    EXPECT_FALSE(why.empty());
  } else {
    for (const auto& s : samples) EXPECT_EQ(s.series, "prefill/sdpa-flash");
  }
}

}  // namespace
}  // namespace kvsim::kernels
