// `kvsim engine-bench`: runs a batch schedule on the mini decode engine (kernels/mini_engine.h) and writes, per
// iteration, what the GPU measured beside what kvsim's cost model predicts for the same batch, so the composition of
// operators (sums per layer, overlap of transfers) is checked on real hardware. `dry_run` predicts only (no GPU).
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "kernels/mini_engine.h"

namespace kvsim::validation {

struct EngineBenchArgs {
  std::string model = "llama-3.1-8b";
  std::string hardware = "h100-sxm5-80gb";
  int device = 0;
  bool dry_run = false;
  bool quick = false;  // fewer repeats
};

struct EngineBenchRow {
  std::string kind;  // prefill | decode | swap | h2o | infinigen
  kernels::MiniIteration iteration;
  double predicted_ms = 0;
  double measured_ms = -1;  // -1: not measured (dry run)
};

// The built-in schedule: prefills, decode batches over a range of sizes and contexts, swap, H2O and InfiniGen
// iterations, for `model`'s shapes.
std::vector<EngineBenchRow> engine_bench_schedule(const std::string& model);

// Predicts every row (and measures it unless dry_run); throws kvsim::Error when measuring without a GPU.
std::vector<EngineBenchRow> run_engine_bench(const EngineBenchArgs& args);
void write_engine_bench_csv(const std::vector<EngineBenchRow>& rows, const EngineBenchArgs& args, std::ostream& out);

}  // namespace kvsim::validation
