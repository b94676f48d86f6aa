// The operator model's shape: monotone where the kernels are, floors at tiny shapes, decode attention linear in the
// KV it reads, parameters carried across GPUs by datasheet numbers only; and Vidur's profiles read with their shapes.
#include "models/operator_model.h"

#include <gtest/gtest.h>

#include "hw/hardware_loader.h"
#include "models/cost_model.h"
#include "models/model_loader.h"
#include "models/operator_fit.h"
#include "models/vidur_profiles.h"
#include "tests/test_support.h"

namespace kvsim::models {
namespace {

GpuRates rates(const std::string& gpu) {
  const hw::HardwareProfile h = hw::load_hardware(gpu);
  return gpu_rates(h.gpu, h.peak_flops(DType::kFp16));
}

TEST(OperatorModel, GemmIsMonotoneInEveryDimension) {
  const OperatorParams& p = fitted_operator_params();
  const GpuRates g = rates("a100-sxm4-80gb");
  for (double m = 1; m <= 16384; m *= 2) {
    EXPECT_LT(gemm_seconds(p, g, m, 4096, 4096, 2, 2), gemm_seconds(p, g, 2 * m, 4096, 4096, 2, 2)) << m;
    EXPECT_LT(gemm_seconds(p, g, m, 4096, 4096, 2, 2), gemm_seconds(p, g, m, 8192, 4096, 2, 2)) << m;
    EXPECT_LT(gemm_seconds(p, g, m, 4096, 4096, 2, 2), gemm_seconds(p, g, m, 4096, 8192, 2, 2)) << m;
  }
}

// A power-limited GPU computes at its sustained clock: the T4 profile's 900 MHz (an MLPerf run's report, not fitted)
// brings the A100-fitted model's 4096^3 fp16 GEMM to within 15 % of the ~24 TFLOPS cuBLAS sustains on a T4 (NVIDIA
// developer forum, "About GPU peak performance"), where the 1,590 MHz boost clock would predict twice that.
TEST(OperatorModel, APowerLimitedGpuComputesAtItsSustainedClock) {
  const OperatorParams& p = fitted_operator_params();
  hw::HardwareProfile t4 = hw::load_hardware("t4-16gb");
  const double flop = 2.0 * 4096.0 * 4096.0 * 4096.0;
  const auto tflops = [&](const hw::HardwareProfile& h) {
    return flop / gemm_seconds(p, gpu_rates(h.gpu, h.peak_flops(DType::kFp16)), 4096, 4096, 4096, 2, 2) / 1e12;
  };
  EXPECT_NEAR(tflops(t4), 24.0, 0.15 * 24.0);
  const auto compute_s = [&](const hw::HardwareProfile& h) {
    return gemm_terms(p, gpu_rates(h.gpu, h.peak_flops(DType::kFp16)), 4096, 4096, 4096, 2, 2).compute_s;
  };
  const double sustained = compute_s(t4);
  t4.gpu.sustained_clock_hz = 0;
  EXPECT_NEAR(sustained / compute_s(t4), 1590.0 / 900.0, 1e-9);
  EXPECT_GT(tflops(t4), 40.0);
}

TEST(OperatorModel, FloorsHoldAtTinyShapes) {
  const OperatorParams& p = fitted_operator_params();
  const GpuRates g = rates("h100-sxm5-80gb");
  // A 1 x 64 x 64 GEMM and a 256-byte norm are all floor: within 1 % of it, never below.
  const double gemm = gemm_seconds(p, g, 1, 64, 64, 2, 2);
  EXPECT_GE(gemm, p.gemm_floor_us * 1e-6);
  EXPECT_LT(gemm, 1.01 * p.gemm_floor_us * 1e-6);
  // Element-wise floors are in SM clocks: the H100's 1.83 GHz clock gives a shorter floor than the A100's 1.41 GHz.
  const double floor_s = p.elem_floor_kclk * 1e3 / g.clock_hz;
  const double norm = elementwise_seconds(p, g, 256, 1, ElementKind::kNorm);
  EXPECT_GE(norm, floor_s);
  EXPECT_LT(norm, 1.01 * floor_s);
  const GpuRates a100 = rates("a100-sxm4-80gb");
  EXPECT_NEAR(elementwise_seconds(p, a100, 256, 1, ElementKind::kNorm) / norm, 1.83 / 1.41, 0.02);
  // A residual add pays a share of the floor; an embedding of up to 16 rows walks its rows in series.
  EXPECT_NEAR(elementwise_seconds(p, g, 256, 1, ElementKind::kStream), p.elem_stream_floor_share * floor_s,
              0.01 * floor_s);
  const double one = elementwise_seconds(p, g, 16384, 1, ElementKind::kGather);
  const double sixteen = elementwise_seconds(p, g, 16 * 16384, 16, ElementKind::kGather);
  EXPECT_NEAR(sixteen - one, 15 * p.elem_gather_row_kclk * 1e3 / g.clock_hz, 1e-9);
  // Fewer resident threads per SM (A40: 1,536) issue a norm's bytes more slowly at the same SMs and clock.
  GpuRates fewer = g;
  fewer.thread_share = 0.75;
  EXPECT_GT(elementwise_seconds(p, fewer, 64e6, 16384, ElementKind::kNorm),
            elementwise_seconds(p, g, 64e6, 16384, ElementKind::kNorm));
  // A big GEMM is far above its floor and near its roofline: within 20 % of FLOPs / (efficiency x peak).
  const double big = gemm_seconds(p, g, 8192, 8192, 8192, 2, 2);
  EXPECT_NEAR(big, 2.0 * 8192.0 * 8192 * 8192 / (p.gemm_compute * g.peak_flops), 0.2 * big);
}

TEST(OperatorModel, DecodeStepGrowsLinearlyWithTotalContextAtFixedBatch) {
  const CostModel m(load_model("llama-3.1-8b"), hw::load_hardware("h100-sxm5-80gb"), ExecConfig{});
  const auto step = [&](int64_t context) {
    return static_cast<double>(m.forward_ns(BatchShape::uniform(32, 1, context, true, 0)));
  };
  // Equal steps of context add equal time: the kernel's efficiency term is bytes / (bytes + half), so its time is
  // affine in the KV bytes read; only the query and output rows it also moves (constant in the context) bend it, by
  // less than 0.1 %.
  const double d1 = step(2000) - step(1000), d2 = step(3000) - step(2000), d3 = step(9000) - step(8000);
  EXPECT_GT(d1, 0);
  EXPECT_NEAR(d1, d2, 1e-3 * d1);
  EXPECT_NEAR(d1, d3, 1e-3 * d1);
}

TEST(OperatorModel, CarriesToAnotherGpuThroughItsDatasheetOnly) {
  const OperatorParams& p = fitted_operator_params();
  // A memory-bound GEMV takes the HBM ratio longer on the A40 (696 vs 2,039 GB/s), its floor aside.
  const double a100 = gemm_seconds(p, rates("a100-sxm4-80gb"), 1, 16384, 16384, 2, 2) - p.gemm_floor_us * 1e-6;
  const double a40 = gemm_seconds(p, rates("a40-48gb"), 1, 16384, 16384, 2, 2) - p.gemm_floor_us * 1e-6;
  EXPECT_NEAR(a40 / a100, 2039.0 / 696.0, 0.01);
}

TEST(OperatorParams, FamiliesRoundTripByName) {
  OperatorParams p;
  for (const std::string& f : operator_families()) {
    std::vector<double> v = p.get(f);
    ASSERT_EQ(v.size(), family_params(f).size()) << f;
    for (double& x : v) x *= 2;
    p.set(f, v);
    EXPECT_EQ(p.get(f), v) << f;
  }
  EXPECT_THROW(p.set("gemm", {1.0}), Error);
  EXPECT_THROW(p.get("gemv"), Error);
}

std::string fixtures() { return std::string(KVSIM_TEST_SOURCE_DIR) + "/tests/models/fixtures/vidur"; }

TEST(VidurProfiles, ReadsOperatorShapesFromTheColumns) {
  const std::vector<OpSample> s = read_vidur_profiles(fixtures() + "/acme");
  // Two rows within 16K tokens (the 32,768-token row is skipped) x 10 operators.
  ASSERT_EQ(s.size(), 20u);
  const auto find = [&](const std::string& op, double tokens) {
    for (const auto& o : s) {
      if (o.op == op && o.tokens == tokens) return o;
    }
    throw std::runtime_error(op);
  };
  const OpSample qkv = find("attn_pre_proj", 4096);
  EXPECT_EQ(qkv.family, "gemm");
  EXPECT_EQ(qkv.model, "acme/tiny-7b");
  EXPECT_EQ(qkv.m, 4096);
  EXPECT_EQ(qkv.k, 4096);
  EXPECT_EQ(qkv.n, (32 + 2 * 8) * 128 / 2);  // tensor parallel 2
  EXPECT_DOUBLE_EQ(qkv.seconds, 1.857e-3);
  EXPECT_EQ(find("mlp_up_proj", 1).n, 2 * 11008);  // gated: gate and up fused
  EXPECT_EQ(find("mlp_down_proj", 4096).k, 11008 / 2);
  const OpSample act = find("mlp_act", 1);
  EXPECT_EQ(act.family, "elementwise");
  EXPECT_DOUBLE_EQ(act.bytes, 3.0 * 11008 * 2);  // gate and up read, product written, fp16
  EXPECT_EQ(find("add", 1).kind, ElementKind::kStream);
  EXPECT_EQ(find("emb", 1).kind, ElementKind::kGather);
}

TEST(VidurProfiles, MalformedFilesNameTheLineAndColumn) {
  const std::string e = testing::error_of([] { read_vidur_profiles(fixtures() + "/bad"); });
  EXPECT_NE(e.find("bad/mlp.csv:3"), std::string::npos) << e;
  EXPECT_NE(e.find("time_stats.add.median: expected a number, found 'fast'"), std::string::npos) << e;
  EXPECT_NE(testing::error_of([] { read_vidur_profiles(fixtures() + "/nowhere"); }).find("no such file"),
            std::string::npos);
}

TEST(OperatorFit, RecoversParametersFromTheirOwnPredictions) {
  // Samples the model itself generated with known parameters: the fit must find them again.
  OperatorParams truth;
  truth.set("gemm", {0.6, 0.9, 2.0, 4.0});
  const GpuRates g = rates("a100-sxm4-80gb");
  std::vector<OpSample> samples;
  for (double m = 1; m <= 8192; m *= 2) {
    for (double n : {4096.0, 11008.0}) {
      OpSample s;
      s.family = "gemm";
      s.op = "gemm";
      s.model = std::to_string(static_cast<int>(n));
      s.m = m;
      s.n = n;
      s.k = 4096;
      s.seconds = gemm_seconds(truth, g, m, n, 4096, 2, 2);
      samples.push_back(s);
    }
  }
  const OperatorParams fit = fit_family(samples, g, "gemm", OperatorParams{});
  const std::vector<double> want = truth.get("gemm"), got = fit.get("gemm");
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(got[i], want[i], 0.02 * want[i]) << i;
  for (const ErrorStats& e : errors(fit, g, samples)) EXPECT_LT(e.p95, 1e-3);
}

}  // namespace
}  // namespace kvsim::models
