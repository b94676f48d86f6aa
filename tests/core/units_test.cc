#include <gtest/gtest.h>

#include "sim/core/error.h"
#include "sim/core/rng.h"
#include "sim/core/time.h"
#include "sim/core/units.h"

namespace kvsim {
namespace {

TEST(Units, ParseBytes) {
  EXPECT_EQ(parse_bytes("1KiB"), 1024u);
  EXPECT_EQ(parse_bytes("1.5 GiB"), 1610612736u);
  EXPECT_EQ(parse_bytes("2TB"), 2'000'000'000'000u);
  EXPECT_EQ(parse_bytes("512B"), 512u);
  EXPECT_FALSE(parse_bytes("12 parsecs"));
  EXPECT_FALSE(parse_bytes("-1GiB"));
  EXPECT_FALSE(parse_bytes("1e30GiB"));  // overflow is rejected, not wrapped
}

TEST(Units, CheckedArithmeticThrowsOnOverflow) {
  EXPECT_EQ(checked_mul(1ull << 31, 1ull << 31, "x"), 1ull << 62);
  EXPECT_THROW(checked_mul(1ull << 33, 1ull << 33, "x"), Error);
  EXPECT_THROW(checked_add(UINT64_MAX, 1, "x"), Error);
}

TEST(Time, TransferTimeRoundsUpAndZeroIsFree) {
  EXPECT_EQ(transfer_time_ns(0, 1e9), 0);
  EXPECT_EQ(transfer_time_ns(1, 1e9), 1);
  EXPECT_EQ(transfer_time_ns(3, 2e9), 2);  // 1.5 ns -> 2 ns
  EXPECT_EQ(transfer_time_ns(1'000'000'000, 1e9), kNsPerS);
}

TEST(Time, SecondsToNsRejectsNegativeAndHuge) {
  EXPECT_EQ(seconds_to_ns(1.5), 1'500'000'000);
  EXPECT_THROW(seconds_to_ns(-1), Error);
  EXPECT_THROW(seconds_to_ns(1e12), Error);
}

TEST(Rng, NamedStreamsAreIndependentAndReproducible) {
  RngStreams a(42), b(42), c(43);
  Rng x = a.stream("workload/arrivals"), y = b.stream("workload/arrivals");
  Rng other = a.stream("workload/lengths"), z = c.stream("workload/arrivals");
  const uint64_t vx = x.next_u64();
  EXPECT_EQ(vx, y.next_u64());
  EXPECT_NE(vx, other.next_u64());
  EXPECT_NE(vx, z.next_u64());
}

TEST(Rng, ExponentialMeanMatchesRate) {
  Rng r(7);
  double sum = 0;
  const int n = 200000;
  for (int i = 0; i < n; ++i) sum += r.exponential(4.0);
  EXPECT_NEAR(sum / n, 0.25, 0.25 * 0.01);
}

TEST(Rng, UniformIntCoversBothEnds) {
  Rng r(1);
  bool lo = false, hi = false;
  for (int i = 0; i < 1000; ++i) {
    const int64_t v = r.uniform_int(3, 5);
    ASSERT_GE(v, 3);
    ASSERT_LE(v, 5);
    lo |= v == 3;
    hi |= v == 5;
  }
  EXPECT_TRUE(lo && hi);
}

TEST(Error, NearestNamePrefersTheLongerSharedPrefixAndFallsBackToAPrefixMatch) {
  EXPECT_EQ(nearest_name("llama-3-8b", {"llama-2-7b", "llama-3.1-8b"}), "llama-3.1-8b");
  EXPECT_EQ(nearest_name("h100", {"a100-sxm4-40gb", "h100-pcie-80gb", "h100-sxm5-80gb"}), "h100-pcie-80gb");
  EXPECT_EQ(nearest_name("x", {"xylophone"}), "");  // one letter is no prefix to go on
}

TEST(Error, NearestNameReadsCaseSeparatorsAndWords) {
  EXPECT_EQ(nearest_name("vLLM", {"h2o", "vllm"}), "vllm");
  EXPECT_EQ(nearest_name("H100_SXM5_80GB", {"h100-pcie-80gb", "h100-sxm5-80gb"}), "h100-sxm5-80gb");
  // Every word typed, in order, beats fewer edits: "a10g-24gb" is 3 edits from "a100-80gb" but holds neither word.
  EXPECT_EQ(nearest_name("a100-80gb", {"a10g-24gb", "a100-sxm4-80gb"}), "a100-sxm4-80gb");
  EXPECT_EQ(nearest_name("H100-SXM", {"a100-sxm4-80gb", "h100-pcie-80gb", "h100-sxm5-80gb"}), "h100-sxm5-80gb");
}

TEST(Error, NearestNameOnlyForCloseTypos) {
  EXPECT_EQ(nearest_name("blok_size", {"block_size", "policy"}), "block_size");
  EXPECT_EQ(nearest_name("zzzzzzzz", {"block_size", "policy"}), "");
}

}  // namespace
}  // namespace kvsim
