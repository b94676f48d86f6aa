// Fitting and interpolation of measured curves: a known synthetic bandwidth curve is recovered from noisy samples,
// the monotone fit is isotonic regression (an outlier lifts only its neighbours), lookups clamp at the ends and fall
// back to the nearest measured shape, and decode attention interpolates between measured batches in log2(batch).
#include "hw/measured.h"

#include <algorithm>
#include <cmath>
#include <random>

#include <gtest/gtest.h>

namespace kvsim::hw {
namespace {

// A copy engine's bandwidth vs size: a fixed per-copy cost ahead of a peak rate gives peak * s / (s + s_half).
double synthetic_bw(double bytes) {
  constexpr double kPeak = 25e9, kHalf = 64 * 1024;
  return kPeak * bytes / (bytes + kHalf);
}

std::vector<std::pair<double, double>> noisy_samples(double noise) {
  std::mt19937_64 rng(7);  // fixed: the test must be reproducible
  std::uniform_real_distribution<double> jitter(-noise, noise);
  std::vector<std::pair<double, double>> out;
  for (double log2_bytes = 10; log2_bytes <= 30; log2_bytes += 0.5) {
    const double bytes = std::round(std::exp2(log2_bytes));
    for (int r = 0; r < 7; ++r) out.emplace_back(bytes, synthetic_bw(bytes) * (1 + jitter(rng)));
  }
  return out;
}

TEST(Measured, FitCurve_RecoversSyntheticBandwidthCurve) {
  const auto samples = noisy_samples(0.02);
  const Curve c = fit_curve(samples, true, true);
  ASSERT_EQ(c.x.size(), 41u);
  for (size_t i = 0; i < c.x.size(); ++i) EXPECT_NEAR(c.y[i] / synthetic_bw(c.x[i]), 1.0, 0.03) << c.x[i];
  // Between samples the log-linear interpolation stays close to the smooth truth.
  for (double b = 1500; b < 1e9; b *= 1.7) EXPECT_NEAR(c.at(b) / synthetic_bw(b), 1.0, 0.05) << b;
}

TEST(Measured, HeldOutCheck_SmallErrorOnSmoothCurve) {
  const HeldOut h = held_out_check("bandwidth/pcie/h2d_pinned", noisy_samples(0.02), true, true);
  EXPECT_EQ(h.curve, "bandwidth/pcie/h2d_pinned");
  EXPECT_EQ(h.points, 20);  // 41 distinct sizes: 21 fitted, 20 predicted
  EXPECT_LT(h.mean_abs_rel_error, 0.03);
  EXPECT_LT(h.max_abs_rel_error, 0.08);
  EXPECT_GE(h.max_abs_rel_error, h.mean_abs_rel_error);
}

TEST(Measured, HeldOutCheck_ExactOnLogLinearData) {
  std::vector<std::pair<double, double>> s;
  for (int i = 0; i < 9; ++i) s.emplace_back(std::exp2(i), 10.0 + 3.0 * i);  // odd count: no extrapolation
  const HeldOut h = held_out_check("x", s, true, false);
  EXPECT_EQ(h.points, 4);
  EXPECT_NEAR(h.max_abs_rel_error, 0, 1e-12);
}

TEST(Measured, FitCurve_MedianPerDistinctSizeSorted) {
  const Curve c = fit_curve({{4096, 3}, {1024, 1}, {1024, 100}, {1024, 2}, {2048, 5}, {2048, 7}}, true, false);
  EXPECT_EQ(c.x, (std::vector<double>{1024, 2048, 4096}));
  EXPECT_EQ(c.y, (std::vector<double>{2, 6, 3}));
  EXPECT_TRUE(c.log_x);
}

TEST(Measured, FitCurve_MonotoneFitNeverFalls) {
  const Curve raw = fit_curve({{1, 1}, {2, 5}, {4, 4}, {8, 6}, {16, 5.5}}, true, false);
  EXPECT_EQ(raw.y, (std::vector<double>{1, 5, 4, 6, 5.5}));
  // Each dip pools with the size before it: (5 + 4) / 2 and (6 + 5.5) / 2.
  const Curve mono = fit_curve({{1, 1}, {2, 5}, {4, 4}, {8, 6}, {16, 5.5}}, true, true);
  EXPECT_EQ(mono.y, (std::vector<double>{1, 4.5, 4.5, 5.75, 5.75}));
  double last = 0;
  for (double x = 0.5; x < 40; x *= 1.1) {
    EXPECT_GE(mono.at(x), last) << x;
    last = mono.at(x);
  }
}

// One high median in the middle: a running maximum would carry 10 to every larger size; pool-adjacent-violators
// pools it with the following sizes until their mean no longer falls: (10 + 3 + 4 + 5) / 4 = 5.5 from x = 3 on.
TEST(Measured, FitCurve_OutlierDoesNotLiftEveryLargerSize) {
  const Curve c = fit_curve({{1, 1}, {2, 2}, {3, 10}, {4, 3}, {5, 4}, {6, 5}}, false, true);
  EXPECT_EQ(c.x, (std::vector<double>{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(c.y, (std::vector<double>{1, 2, 5.5, 5.5, 5.5, 5.5}));
  EXPECT_LT(c.y.back(), 10);
  // Through a curve's medians: three samples at x = 3 (median 10) and one at each other size.
  const Curve m = fit_curve({{1, 1}, {2, 2}, {3, 10}, {3, 11}, {3, 9}, {4, 3}, {5, 4}, {6, 5}}, false, true);
  // Weighted: (3 x 10 + 3 + 4 + 5) / 6 = 7, still above 5: one block from x = 3 to 6.
  EXPECT_EQ(m.y, (std::vector<double>{1, 2, 7, 7, 7, 7}));
}

TEST(Measured, Isotonic_PropertiesOnRandomSeries) {
  std::mt19937_64 rng(11);  // fixed: the test must be reproducible
  std::uniform_real_distribution<double> value(0, 100);
  std::uniform_int_distribution<int> weight(1, 5);
  for (int trial = 0; trial < 200; ++trial) {
    std::vector<double> y(1 + trial % 17), w(y.size());
    for (size_t i = 0; i < y.size(); ++i) y[i] = value(rng), w[i] = weight(rng);
    const std::vector<double> fit = isotonic_non_decreasing(y, w);
    ASSERT_EQ(fit.size(), y.size());
    // Non-decreasing, and each pooled block (a run of equal values) holds the weighted mean of its inputs, so the
    // weighted sum is kept.
    double sum_in = 0, sum_out = 0;
    for (size_t i = 0; i < y.size(); ++i) {
      if (i > 0) {
        EXPECT_GE(fit[i], fit[i - 1]) << trial << " " << i;
      }
      sum_in += w[i] * y[i];
      sum_out += w[i] * fit[i];
    }
    EXPECT_NEAR(sum_out, sum_in, 1e-9 * sum_in) << trial;
    for (size_t i = 0; i < y.size();) {
      size_t j = i;
      double wy = 0, ws = 0;
      while (j < y.size() && fit[j] == fit[i]) wy += w[j] * y[j], ws += w[j], ++j;
      EXPECT_NEAR(fit[i], wy / ws, 1e-9 * std::abs(fit[i]) + 1e-12) << trial << " " << i;
      i = j;
    }
    // Already non-decreasing input comes back unchanged, exactly.
    std::sort(y.begin(), y.end());
    EXPECT_EQ(isotonic_non_decreasing(y, w), y) << trial;
  }
}

TEST(Measured, Isotonic_WeightedMeanOfAPooledBlock) {
  // 8 (weight 3) then 2 (weight 1) violate: one block at (3 x 8 + 2) / 4 = 6.5.
  EXPECT_EQ(isotonic_non_decreasing({1, 8, 2}, {1, 3, 1}), (std::vector<double>{1, 6.5, 6.5}));
  // Equal weights: the plain mean, 5.
  EXPECT_EQ(isotonic_non_decreasing({1, 8, 2}, {1, 1, 1}), (std::vector<double>{1, 5, 5}));
  // A pooled block that then falls below an earlier one pools again: 4, then (6 + 1) / 2 = 3.5 < 4, all three 11/3.
  const std::vector<double> twice = isotonic_non_decreasing({4, 6, 1}, {1, 1, 1});
  for (double v : twice) EXPECT_DOUBLE_EQ(v, 11.0 / 3);
  EXPECT_TRUE(isotonic_non_decreasing({}, {}).empty());
}

TEST(Measured, CurveAt_InterpolatesInLogOrLinearX) {
  Curve c{{1024, 4096}, {1, 3}, true};
  EXPECT_DOUBLE_EQ(c.at(2048), 2);  // halfway in log2
  c.log_x = false;
  EXPECT_DOUBLE_EQ(c.at(2560), 2);  // halfway in x
  EXPECT_DOUBLE_EQ(c.at(1024), 1);
  EXPECT_DOUBLE_EQ(c.at(4096), 3);
}

TEST(Measured, CurveAt_ClampsAtBothEnds) {
  const Curve c{{1024, 4096, 16384}, {1, 3, 4}, true};
  EXPECT_DOUBLE_EQ(c.at(1023), 1);
  EXPECT_DOUBLE_EQ(c.at(0), 1);
  EXPECT_DOUBLE_EQ(c.at(-5), 1);
  EXPECT_DOUBLE_EQ(c.at(16385), 4);
  EXPECT_DOUBLE_EQ(c.at(1e30), 4);
  EXPECT_DOUBLE_EQ(Curve{}.at(5), 0);
  EXPECT_DOUBLE_EQ((Curve{{8}, {2}, true}).at(1e9), 2);
}

MeasuredProfile gemm_profile() {
  MeasuredProfile p;
  p.gemm = {{"bf16", 1, 4096, 4096, 1e12},  {"bf16", 16, 4096, 4096, 16e12}, {"bf16", 256, 4096, 4096, 256e12},
            {"bf16", 1, 4096, 8192, 2e12},  {"bf16", 16, 4096, 8192, 20e12}, {"bf16", 256, 4096, 8192, 300e12},
            {"fp16", 1, 4096, 4096, 0.5e12}};
  return p;
}

TEST(Measured, GemmLookup_InterpolatesInLogM) {
  const MeasuredProfile p = gemm_profile();
  EXPECT_DOUBLE_EQ(*p.gemm_flops_per_s("bf16", 1, 4096, 4096, 1e15), 1e12);
  EXPECT_DOUBLE_EQ(*p.gemm_flops_per_s("bf16", 4, 4096, 4096, 1e15), 8.5e12);  // log2 4 is halfway from 1 to 16
  EXPECT_DOUBLE_EQ(*p.gemm_flops_per_s("bf16", 64, 4096, 4096, 1e15), 136e12);
  EXPECT_DOUBLE_EQ(*p.gemm_flops_per_s("bf16", 8192, 4096, 4096, 1e15), 256e12);  // clamped
  EXPECT_DOUBLE_EQ(*p.gemm_flops_per_s("fp16", 300, 4096, 4096, 1e15), 0.5e12);
  EXPECT_FALSE(p.gemm_flops_per_s("fp8", 1, 4096, 4096, 1e15));
  EXPECT_FALSE(MeasuredProfile{}.gemm_flops_per_s("bf16", 1, 4096, 4096, 1e15));
}

TEST(Measured, GemmLookup_FallsBackToNearestShape) {
  const MeasuredProfile p = gemm_profile();
  // (14336, 4096) is nearest to (4096, 4096) in log space; (4096, 16384) nearest to (4096, 8192).
  EXPECT_DOUBLE_EQ(*p.gemm_flops_per_s("bf16", 16, 14336, 4096, 1e15), 16e12);
  EXPECT_DOUBLE_EQ(*p.gemm_flops_per_s("bf16", 16, 4096, 16384, 1e15), 20e12);
  EXPECT_DOUBLE_EQ(*p.gemm_flops_per_s("bf16", 4, 4096, 16384, 1e15), 11e12);
}

TEST(Measured, DecodeAttention_NearestBlockSize) {
  MeasuredProfile p;
  EXPECT_FALSE(p.decode_attention_bytes_per_s(4096, 16, 64));
  p.decode_attention[16] = Curve{{1024, 8192}, {1e12, 2e12}, true};  // one curve for every batch
  p.decode_attention[32] = Curve{{1024, 8192}, {1.5e12, 2.5e12}, true};
  EXPECT_EQ(p.decode_attention[16].count(kAnyBatch), 1u);
  EXPECT_DOUBLE_EQ(*p.decode_attention_bytes_per_s(8192, 16, 64), 2e12);
  EXPECT_DOUBLE_EQ(*p.decode_attention_bytes_per_s(8192, 20, 64), 2e12);
  EXPECT_DOUBLE_EQ(*p.decode_attention_bytes_per_s(8192, 128, 64), 2.5e12);
  EXPECT_DOUBLE_EQ(*p.decode_attention_bytes_per_s(100, 8, 64), 1e12);
  // A batch-independent curve serves every batch.
  EXPECT_DOUBLE_EQ(*p.decode_attention_bytes_per_s(8192, 16, 1), 2e12);
  EXPECT_DOUBLE_EQ(*p.decode_attention_bytes_per_s(8192, 16, 1000), 2e12);
}

MeasuredProfile decode_by_batch() {
  MeasuredProfile p;
  p.decode_attention[16][1] = Curve{{1024, 8192}, {0.2e12, 0.4e12}, true};
  p.decode_attention[16][64] = Curve{{1024, 8192}, {1.6e12, 2.8e12}, true};
  return p;
}

TEST(Measured, DecodeAttention_InterpolatesInLogBatch) {
  const MeasuredProfile p = decode_by_batch();
  EXPECT_DOUBLE_EQ(*p.decode_attention_bytes_per_s(8192, 16, 1), 0.4e12);
  EXPECT_DOUBLE_EQ(*p.decode_attention_bytes_per_s(1024, 16, 1), 0.2e12);
  EXPECT_DOUBLE_EQ(*p.decode_attention_bytes_per_s(8192, 16, 64), 2.8e12);
  // Clamped to the largest measured batch above it, and to the smallest below.
  EXPECT_DOUBLE_EQ(*p.decode_attention_bytes_per_s(8192, 16, 256), 2.8e12);
  EXPECT_DOUBLE_EQ(*p.decode_attention_bytes_per_s(8192, 16, 0.5), 0.4e12);
  EXPECT_DOUBLE_EQ(*p.decode_attention_bytes_per_s(8192, 16, std::nan("")), 0.4e12);
  // Batch 8 is halfway from 1 to 64 in log2: the mean of the two curves at this context.
  EXPECT_DOUBLE_EQ(*p.decode_attention_bytes_per_s(8192, 16, 8), 1.6e12);
  EXPECT_NEAR(*p.decode_attention_bytes_per_s(2896.309375740099, 16, 8), 0.5 * (0.3e12 + 2.2e12), 1e3);  // 2^11.5
  // Monotone in batch between the two.
  double last = 0;
  for (double b = 1; b <= 64; b *= 1.5) {
    EXPECT_GT(*p.decode_attention_bytes_per_s(4096, 16, b), last) << b;
    last = *p.decode_attention_bytes_per_s(4096, 16, b);
  }
}

TEST(Measured, DecodeAttention_PerBatchCurvesWinOverTheAnyBatchOne) {
  MeasuredProfile p = decode_by_batch();
  p.decode_attention[16][kAnyBatch] = Curve{{1024}, {9e12}, true};
  EXPECT_DOUBLE_EQ(*p.decode_attention_bytes_per_s(8192, 16, 1), 0.4e12);
  EXPECT_DOUBLE_EQ(*p.decode_attention_bytes_per_s(8192, 16, 64), 2.8e12);
  // Three measured batches: 8 is bracketed by 1 and 32, not by 1 and 64.
  p.decode_attention[16][32] = Curve{{1024, 8192}, {1.0e12, 1.9e12}, true};
  EXPECT_DOUBLE_EQ(*p.decode_attention_bytes_per_s(8192, 16, 32), 1.9e12);
  EXPECT_NEAR(*p.decode_attention_bytes_per_s(8192, 16, 8), 0.4e12 + 0.6 * (1.9e12 - 0.4e12), 1);
  EXPECT_NEAR(*p.decode_attention_bytes_per_s(8192, 16, 45.254833995939045), 0.5 * (1.9e12 + 2.8e12), 1);
}

TEST(Measured, BandwidthAt_MissingKeyIsNullopt) {
  MeasuredProfile p;
  p.bandwidth["hbm/copy"] = Curve{{1 << 20, 1 << 30}, {1e12, 3e12}, true};
  EXPECT_DOUBLE_EQ(*p.bandwidth_at("hbm/copy", 1 << 30), 3e12);
  EXPECT_FALSE(p.bandwidth_at("pcie/h2d_pinned", 1 << 20));
}

}  // namespace
}  // namespace kvsim::hw
