// GPU-suite behaviour that holds on every machine: without a usable GPU (no CUDA build, no driver, no device) the
// probe returns nullopt with a reason and every GPU suite throws kvsim::Error instead of crashing.
#include <gtest/gtest.h>

#include <functional>
#include <string>
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
  EXPECT_THROW(check_decode_attention(0, 2, 64, 16, 0), Error);
  EXPECT_THROW(check_prefill_attention(0, 64, 2), Error);
}

}  // namespace
}  // namespace kvsim::kernels
