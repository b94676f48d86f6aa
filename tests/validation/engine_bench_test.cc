// kvsim engine-bench: the mini decode engine's schedule predicted by the cost model (a dry run, everywhere) and,
// where a GPU is, measured.
#include <gtest/gtest.h>

#include <sstream>

#include "kernels/suite.h"
#include "tests/apps/cli_runner.h"
#include "validation/engine_bench.h"

namespace kvsim::validation {
namespace {

TEST(EngineBench, DryRunPredictsEveryIterationAndScalesWithTheBatch) {
  EngineBenchArgs a;
  a.dry_run = true;
  const auto rows = run_engine_bench(a);
  ASSERT_GE(rows.size(), 15u);
  double last_decode = 0;
  for (const EngineBenchRow& r : rows) {
    EXPECT_GT(r.predicted_ms, 0) << r.kind;
    EXPECT_LT(r.measured_ms, 0) << r.kind;  // not measured
    if (r.kind == "decode" && r.iteration.decode_context.front() == 4096) {
      EXPECT_GT(r.predicted_ms, last_decode);  // more sequences of 4K context: more KV read
      last_decode = r.predicted_ms;
    }
  }
  // Swapping 512 blocks costs more than 32; InfiniGen's gathered fetch more than the plain decode of the rows.
  std::ostringstream csv;
  write_engine_bench_csv(rows, a, csv);
  EXPECT_EQ(csv.str().rfind("model,hardware,kind,decode_seqs,mean_context,prefill_tokens,swap_blocks", 0), 0u);
  const auto cli = app::testing::cli({"engine-bench", "--dry-run"});
  EXPECT_EQ(cli.code, 0);
  EXPECT_EQ(cli.out, csv.str());
}

TEST(EngineBench, MeasuringWithoutAGpuSaysSo) {
  std::string why;
  if (kernels::probe_device(0, &why)) GTEST_SKIP() << "a GPU is present";
  const auto cli = app::testing::cli({"engine-bench"});
  EXPECT_EQ(cli.code, 2);
  EXPECT_NE(cli.err.find("mini engine"), std::string::npos) << cli.err;
}

}  // namespace
}  // namespace kvsim::validation
