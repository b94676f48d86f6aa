// The operator model against Vidur's measured profiles (shared/data/vidur-profiles): fitted on the A100, its errors on
// A100 models left out of the fit and on the A40 predicted from the A40's datasheet alone; the shipped defaults are
// what that fit gives. Targets (issue: median <= 10 %, p95 <= 25 % per family over 1-16K tokens) are asserted where
// the model meets them; where it does not, the measured error is bounded and the cause is shown.
#include <algorithm>
#include <filesystem>
#include <iostream>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "hw/hardware_loader.h"
#include "models/operator_fit.h"

namespace kvsim::models {
namespace {

const std::string kData = std::string(KVSIM_TEST_SHARED_DATA_DIR) + "/vidur-profiles";

GpuRates rates(const std::string& gpu) {
  const hw::HardwareProfile h = hw::load_hardware(gpu);
  return gpu_rates(h.gpu, h.peak_flops(DType::kFp16));
}

struct Fixture {
  std::vector<OpSample> a100, a40;
  OperatorParams fit;
  std::vector<ErrorStats> lomo, check;
};

const Fixture& data() {
  static const Fixture f = [] {
    Fixture x;
    x.a100 = read_vidur_profiles(kData + "/compute/a100");
    for (auto& s : read_vidur_profiles(kData + "/network/a100_dgx")) x.a100.push_back(std::move(s));
    x.a40 = read_vidur_profiles(kData + "/compute/a40");
    x.fit = fit_all(x.a100, rates("a100-sxm4-80gb"), fitted_operator_params());
    x.lomo = leave_one_model_out(x.a100, rates("a100-sxm4-80gb"), fitted_operator_params());
    x.check = errors(x.fit, rates("a40-48gb"), x.a40);
    for (const auto& [name, v] :
         {std::pair{"A100 leave-one-model-out", &x.lomo}, {"A40 from its datasheet", &x.check}}) {
      for (const ErrorStats& e : *v) {
        std::cout << fmt::format("{:<26} {:<18} n={:<6} median {:5.1f} %  p95 {:5.1f} %\n", name, e.family, e.samples,
                                 100 * e.median, 100 * e.p95);
      }
    }
    return x;
  }();
  return f;
}

const ErrorStats& of(const std::vector<ErrorStats>& v, const std::string& family) {
  for (const auto& e : v) {
    if (e.family == family) return e;
  }
  throw std::runtime_error(family);
}

void shipped_defaults_are_the_a100_fit() {
  // Fitting again from the shipped values finds no better parameters: the errors of both agree within 0.5 points
  // per family (the minimum is flat in some directions, so the values themselves may drift a little).
  const GpuRates g = rates("a100-sxm4-80gb");
  const std::vector<ErrorStats> shipped = errors(fitted_operator_params(), g, data().a100);
  const std::vector<ErrorStats> refit = errors(data().fit, g, data().a100);
  ASSERT_EQ(shipped.size(), refit.size());
  for (size_t i = 0; i < refit.size(); ++i) {
    EXPECT_NEAR(shipped[i].median, refit[i].median, 0.005) << refit[i].family;
    EXPECT_NEAR(shipped[i].p95, refit[i].p95, 0.005) << refit[i].family;
  }
}

void medians_meet_the_target_on_models_left_out() {
  for (const char* f : {"gemm", "elementwise", "attention_decode", "attention_prefill", "allreduce"}) {
    EXPECT_LE(of(data().lomo, f).median, 0.10) << f;
  }
  EXPECT_LE(of(data().lomo, "gemm").p95, 0.25);
}

void gemm_carries_to_the_a40_through_its_datasheet() {
  EXPECT_LE(of(data().check, "gemm").median, 0.10);
  // Known gap: p95 27 % (target 25 %), concentrated at M 129-512 where cuBLAS picks split-K / stream-K kernels per
  // GPU; bounded here so that it cannot grow unseen.
  EXPECT_LE(of(data().check, "gemm").p95, 0.28);
}

void elementwise_misses_are_the_profilers_microsecond_steps() {
  // The A40 median meets the target through its datasheet alone: the floor in SM clocks (the A40's 1.74 GHz against
  // the A100's 1.41) and the issue rate per resident thread (1,536 per SM against 2,048). Before both it was 19.5 %.
  EXPECT_LE(of(data().check, "elementwise").median, 0.10);
  // Known gap: element-wise p95 33 % on A100 models left out, 55 % on the A40. Cause: Vidur's times are whole
  // microseconds for almost every element-wise sample, and most of them last a few microseconds, so one step of the
  // timer is a 20-50 % error there. Shown: the share of whole-microsecond samples, and the errors of the samples long
  // enough (>= 20 us) for a step to be below 5 %.
  int64_t whole = 0, n = 0;
  std::vector<OpSample> long_a100, long_a40;
  for (const OpSample& s : data().a100) {
    if (s.family != "elementwise") continue;
    ++n;
    const double us = s.seconds * 1e6;
    if (std::abs(us - std::round(us)) < 1e-6) ++whole;
    if (us >= 20) long_a100.push_back(s);
  }
  for (const OpSample& s : data().a40) {
    if (s.family == "elementwise" && s.seconds >= 20e-6) long_a40.push_back(s);
  }
  EXPECT_GE(static_cast<double>(whole) / static_cast<double>(n), 0.9);
  const ErrorStats a100 = of(errors(data().fit, rates("a100-sxm4-80gb"), long_a100), "elementwise");
  const ErrorStats a40 = of(errors(data().fit, rates("a40-48gb"), long_a40), "elementwise");
  std::cout << fmt::format(
      "element-wise >= 20 us: A100 median {:.1f} % p95 {:.1f} %; A40 median {:.1f} % p95 {:.1f} %\n", 100 * a100.median,
      100 * a100.p95, 100 * a40.median, 100 * a40.p95);
  EXPECT_LE(a100.median, 0.10);
  EXPECT_LE(a100.p95, 0.25);
  EXPECT_LE(a40.median, 0.10);
  // The whole family, bounded at today's values.
  EXPECT_LE(of(data().lomo, "elementwise").p95, 0.34);
  EXPECT_LE(of(data().check, "elementwise").p95, 0.56);
}

void decode_rows_follow_a_closed_formula() {
  // Known gap: decode attention p95 27 % (A100, every other row held out). Vidur's decode rows follow
  //   t = 0.5 us + 0.4 us x batch + (KV bytes + 12 MB) / 1.6 TB/s
  // to within rounding (the query and output bytes aside): a per-sequence term kvsim's form lacks. Adding it
  // (decode_seq_ns) fits these rows exactly but made the held-out CodeLlama-34B H100 runs worse (mean E2E +16.9 %
  // at codegen 10 req/s, past its 15 % bound; general 20 req/s saturated), so it is not in the model; and a fit to a
  // closed formula is no evidence either way (the prefill rows are the same).
  std::vector<double> dev;
  for (const OpSample& s : data().a100) {
    if (s.family != "attention_decode") continue;
    const double formula = 0.5e-6 + 0.4e-6 * s.tokens + (s.kv_bytes + 12e6) / 1.6e12;
    dev.push_back(std::abs(formula / s.seconds - 1));
  }
  ASSERT_GT(dev.size(), 1000u);
  std::sort(dev.begin(), dev.end());
  EXPECT_LT(dev[dev.size() / 2], 0.005);
  EXPECT_LT(dev[dev.size() * 95 / 100], 0.02);
  EXPECT_LE(of(data().lomo, "attention_decode").p95, 0.28);
}

// One test, so the fit (about 15 s in a release build) runs once per process.
TEST(VidurFit, TheA100FitAndItsErrorsOnModelsAndAGpuLeftOut) {
  if (!std::filesystem::exists(kData)) GTEST_SKIP() << "no " << kData;
  {
    SCOPED_TRACE("the shipped defaults are the A100 fit");
    shipped_defaults_are_the_a100_fit();
  }
  {
    SCOPED_TRACE("medians meet the target on models left out");
    medians_meet_the_target_on_models_left_out();
  }
  {
    SCOPED_TRACE("GEMM carries to the A40 through its datasheet");
    gemm_carries_to_the_a40_through_its_datasheet();
  }
  {
    SCOPED_TRACE("element-wise misses are the profiler's microsecond steps");
    elementwise_misses_are_the_profilers_microsecond_steps();
  }
  {
    SCOPED_TRACE("decode rows follow a closed formula");
    decode_rows_follow_a_closed_formula();
  }
}

}  // namespace
}  // namespace kvsim::models
