// The mini decode engine on a real GPU (labelled gpu; skips without a device): every iteration is measured, and the
// cost model's composition of its operators lands within 2x of the measurement on a datasheet profile.
#include <gtest/gtest.h>

#include "kernels/suite.h"
#include "validation/engine_bench.h"

namespace kvsim::validation {
namespace {

TEST(GpuEngineBench, EveryIterationIsMeasuredAndNearItsPrediction) {
  std::string why;
  if (!kernels::probe_device(0, &why)) GTEST_SKIP() << why;
  EngineBenchArgs a;
  a.quick = true;
  for (const EngineBenchRow& r : run_engine_bench(a)) {
    EXPECT_GT(r.measured_ms, 0) << r.kind;
    EXPECT_LT(r.predicted_ms / r.measured_ms, 2.0) << r.kind;
    EXPECT_GT(r.predicted_ms / r.measured_ms, 0.5) << r.kind;
  }
}

}  // namespace
}  // namespace kvsim::validation
