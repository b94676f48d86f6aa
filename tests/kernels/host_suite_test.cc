// The host suite on any machine: positive memcpy bandwidth for 1, 2, 4 .. N threads, labelled as calibrate reads it.
#include <gtest/gtest.h>

#include "kernels/suite.h"

namespace kvsim::kernels {
namespace {

TEST(HostSuite, PositiveBandwidthForEachThreadCount) {
  SuiteOptions o;
  o.quick = true;
  o.host_bytes = 4ull << 20;  // tiny: the test checks the plumbing, not the DRAM
  o.host_max_threads = 3;
  std::vector<std::string> lines;
  o.progress = [&](const std::string& line) { lines.push_back(line); };
  const auto samples = run_host_suite(o);
  ASSERT_EQ(samples.size(), 3u);
  const double threads[] = {1, 2, 3};  // powers of two below N, then N
  for (size_t i = 0; i < samples.size(); ++i) {
    const auto& s = samples[i];
    EXPECT_EQ(s.suite, "host");
    EXPECT_EQ(s.series, "memcpy");
    EXPECT_EQ(s.unit, "bytes_per_s");
    EXPECT_EQ(s.params.at("threads"), threads[i]);
    EXPECT_EQ(s.params.at("bytes"), 4 << 20);
    EXPECT_GT(s.value, 1e8);  // any machine copies faster than 100 MB/s
  }
  EXPECT_EQ(lines.size(), 3u);
}

TEST(HostSuite, DefaultsToHardwareConcurrency) {
  SuiteOptions o;
  o.quick = true;
  o.host_bytes = 1ull << 20;
  const auto samples = run_host_suite(o);
  ASSERT_FALSE(samples.empty());
  EXPECT_EQ(samples.front().params.at("threads"), 1);
  EXPECT_GE(samples.back().params.at("threads"), 1);
}

}  // namespace
}  // namespace kvsim::kernels
