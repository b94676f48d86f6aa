// GPU-suite behaviour that holds on every machine: without a usable GPU (no CUDA build, no driver, no device) the
// probe returns nullopt with a reason and every GPU suite throws kvsim::Error instead of crashing; the decode check
// refuses a shape its kernel does not support before any CUDA call, naming the value.
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "kernels/cuda/checks.h"
#include "kernels/suite.h"
#include "sim/core/error.h"

namespace kvsim::kernels {
namespace {

bool has_gpu(std::string* why) { return probe_device(0, why).has_value(); }

TEST(GpuProbe, BuiltWithCudaMatchesTheBuild) {
#if defined(KVSIM_HAVE_CUDA)
  EXPECT_TRUE(built_with_cuda());
#else
  EXPECT_TRUE(!built_with_cuda());
#endif
}

TEST(GpuProbe, WithoutDeviceReturnsNulloptAndAReason) {
  std::string why;
  if (has_gpu(&why)) GTEST_SKIP() << "a CUDA device is present";
  EXPECT_FALSE(why.empty());
  if (built_with_cuda())
    EXPECT_EQ(why.rfind("no CUDA device", 0), 0u) << why;
  else
    EXPECT_EQ(why, "built without CUDA");
}

TEST(GpuProbe, DeviceIndexPastTheLastReturnsNulloptAndAReason) {
  std::string why;
  EXPECT_FALSE(probe_device(4096, &why).has_value());
  EXPECT_FALSE(why.empty());
}

TEST(GpuProbe, NullReasonPointerDoesNotCrash) { (void)probe_device(4096, nullptr); }

TEST(GpuProbe, EverySuiteThrowsKvsimErrorWithoutDevice) {
  std::string why;
  if (has_gpu(&why)) GTEST_SKIP() << "a CUDA device is present";
  SuiteOptions options;
  options.quick = true;
  const std::vector<std::pair<std::string, std::function<void()>>> suites = {
      {"pcie", [&] { run_pcie_suite(options); }},           {"hbm", [&] { run_hbm_suite(options); }},
      {"gather", [&] { run_gather_suite(options); }},       {"gemm", [&] { run_gemm_suite(options); }},
      {"attention", [&] { run_attention_suite(options); }}, {"launch", [&] { run_launch_suite(options); }},
  };
  for (const auto& [name, run] : suites) {
    try {
      run();
      ADD_FAILURE() << name << " suite returned without a device";
    } catch (const Error& e) {
      std::string msg = e.what();
      EXPECT_NE(msg.find(name), std::string::npos) << msg;
      EXPECT_TRUE(msg.find("no CUDA device") != std::string::npos ||
                  msg.find("built without CUDA") != std::string::npos)
          << msg;
    }
  }
}

TEST(GpuProbe, AttentionChecksThrowKvsimErrorWithoutDevice) {
  std::string why;
  if (has_gpu(&why)) GTEST_SKIP() << "a CUDA device is present";
  EXPECT_THROW(check_decode_attention(0, {.batch = 2, .context = 64, .block_size = 16}), Error);
  EXPECT_THROW(check_prefill_attention(0, 64, 2), Error);
}

// check_decode_attention validates the shape before it opens the device, so a CUDA build tests its refusals on any
// host; a build without CUDA throws "built without CUDA" for every shape.
TEST(GpuProbe, DecodeCheckRefusesUnsupportedShapesNamingTheValue) {
  const std::vector<std::pair<DecodeCheckShape, std::string>> cases = {
      {{.batch = 2, .context = 64, .head_dim = 96}, "head_dim must be 64 or 128, got 96"},
      {{.batch = 2, .context = 64, .q_heads = 72, .kv_heads = 8},
       "q_heads / kv_heads must be an integer in 1..8, got 72 / 8 = 9"},
      {{.batch = 2, .context = 64, .q_heads = 30, .kv_heads = 4},
       "q_heads / kv_heads must be an integer in 1..8, got 30 / 4 = 7.5"},
      {{.batch = 2, .context = 64, .q_heads = 8, .kv_heads = 0},
       "q_heads / kv_heads must be an integer in 1..8, got 8 / 0"},
      {{.batch = 2, .context = 64, .block_size = 12},
       "block_size must be a power of two (vLLM uses 8, 16, 32), got 12"},
  };
  for (const auto& [shape, says] : cases) {
    try {
      check_decode_attention(0, shape);
      ADD_FAILURE() << "accepted a shape that should say: " << says;
    } catch (const Error& e) {
      const std::string msg = e.what();
      if (built_with_cuda()) {
        EXPECT_NE(msg.find("paged decode attention: " + says), std::string::npos) << msg;
      } else {
        EXPECT_NE(msg.find("built without CUDA"), std::string::npos) << msg;
      }
    }
  }
}

// The other side of the limits: every group 1..8 (Qwen2.5-7B's 7 included) at head_dim 64 and 128 passes validation;
// without a GPU the check then stops at the device, with one it runs and matches its reference.
TEST(GpuProbe, DecodeCheckAcceptsEveryGroupUpTo8AtHeadDim64And128) {
  const bool gpu = has_gpu(nullptr);
  for (int head_dim : {64, 128}) {
    for (int group = 1; group <= 8; ++group) {
      const DecodeCheckShape shape{
          .batch = 2, .context = 70, .block_size = 16, .q_heads = 2 * group, .kv_heads = 2, .head_dim = head_dim};
      SCOPED_TRACE("group " + std::to_string(group) + ", head_dim " + std::to_string(head_dim));
      try {
        const DecodeCheck c = check_decode_attention(0, shape);
        EXPECT_TRUE(gpu) << "returned without a device";
        EXPECT_LT(c.max_abs_error, 1e-2);
      } catch (const Error& e) {
        const std::string msg = e.what();
        EXPECT_FALSE(gpu) << msg;
        EXPECT_TRUE(msg.find("no CUDA device") != std::string::npos ||
                    msg.find("built without CUDA") != std::string::npos)
            << msg;
      }
    }
  }
}

}  // namespace
}  // namespace kvsim::kernels
