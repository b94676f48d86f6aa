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
};

models::ExecConfig exec_config(const Scenario& s);

// Runs `s`; when `out_dir` is not empty, writes the output files there (creating the folder).
RunResult run_scenario(const Scenario& s, const std::string& out_dir);

}  // namespace kvsim::sim
