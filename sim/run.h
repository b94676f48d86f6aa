// Running one scenario end to end: plan memory, build the cost model, replay the workload through the cluster,
// and write the outputs (summary.json, requests.csv, memory.csv, scenario.resolved.yaml), each atomically.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "models/cost_model.h"
#include "sim/scenario.h"
#include "sim/serving/memory_plan.h"

namespace kvsim::sim {

struct RunResult {
  nlohmann::ordered_json summary;
  MemoryPlan plan;
  uint64_t events = 0;
  int64_t analytic_steps = 0;  // iterations advanced in closed form (engine.fast_forward: analytic)
  int64_t cohort_iterations = 0;  // iterations started from a decode cohort's sums, not sequence by sequence
};

models::ExecConfig exec_config(const Scenario& s);

// A default vLLM V1 server of `model` on `hardware` (catalog names or paths) in `dtype` over `tp` GPUs, every other
// setting defaulted: what `kvsim cost` and validation's cost cases price (exec_config of it), so both see the same
// engine terms. `engine` "static": the FlexGen family's eager PyTorch engine instead, with its defaults.
Scenario server_scenario(const std::string& model, const std::string& hardware, DType dtype, int64_t tp, bool eager,
                         const std::string& engine = "v1");

// Runs `s`; when `out_dir` is not empty, writes the output files there (creating the folder).
// `force`: replace files in `out_dir` that no earlier kvsim run wrote (sim/core/input_file.h's output rules).
RunResult run_scenario(const Scenario& s, const std::string& out_dir, bool force = false);

}  // namespace kvsim::sim
