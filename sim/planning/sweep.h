// `kvsim sweep`: a scenario plus a `sweep:` mapping of dotted keys to lists of values, run point by point.
//   sweep:
//     cache.policy: [vllm, h2o]            # dimensions multiply (cartesian product), in the file's order
//     workload.arrival.rate: [1, 2, 4]
//     zip:                                  # a group whose lists move together (equal lengths): one dimension
//       model: [llama-3.1-8b, llama-3.1-70b]
//       cluster.tensor_parallel: [1, 4]
// Every finished point is appended at once to DIR/results.jsonl as one JSON object {point, key, params, summary} (or
// {point, key, params, error} when the point cannot run, e.g. its model does not fit), so a killed sweep loses
// nothing. `key` is a hash of the point's resolved scenario: resume skips the points whose resolved scenario is
// already there, whatever their index, and refuses a folder holding points of another grid or base scenario unless
// forced (which moves those lines to results.other-grid.jsonl). Shards (I/N) run every N-th point, for batch schedulers; jobs run points on
// threads. Every point's scenario is validated before the first runs, so bad input stops the sweep with nothing
// written.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <yaml-cpp/yaml.h>
#include <nlohmann/json.hpp>

#include "sim/core/yaml.h"

namespace kvsim::sim {

struct SweepPoint {
  int64_t index = 0;
  std::vector<std::pair<std::string, std::string>> params;  // dotted key, value as YAML text
  std::vector<std::string> overrides() const;               // "key=value"
  nlohmann::ordered_json params_json() const;
};

struct SweepGrid {
  yaml::Document base_text;  // the scenario without `sweep`, re-read for each point so that errors keep their places
  std::string file;
  std::vector<SweepPoint> points;
};

// Reads a grid file; errors name file:line:col and the key.
SweepGrid load_sweep(const std::string& path);

struct SweepOptions {
  std::string out_dir;
  int jobs = 1;
  int64_t shard = 0, shards = 1;
  bool resume = false;
  bool force = false;  // with resume: move lines of another grid aside instead of refusing
  std::function<void(int64_t done, int64_t total)> progress;  // after every point; may be empty
  // The file in out_dir this process appends to, and others whose points count as done on resume (MPI ranks each
  // append to their own file, which rank 0 gathers into results.jsonl).
  std::string results_file = "results.jsonl";
  std::vector<std::string> also_done;
};

struct SweepResult {
  int64_t total = 0;    // points of this shard
  int64_t skipped = 0;  // already in results.jsonl (resume)
  int64_t run = 0, failed = 0;
};

SweepResult run_sweep(const SweepGrid& grid, const SweepOptions& options);

// The point indices results.jsonl holds (lines that do not parse, such as one cut by a kill, are dropped from the
// file).
std::vector<int64_t> completed_points(const std::string& results_file);

// The hash results.jsonl records for a resolved scenario: FNV-1a 64 of its resolved YAML, as 16 hex digits.
std::string scenario_key(const YAML::Node& resolved);

// Most points a grid may have: each is validated before the first runs.
inline constexpr int64_t kMaxSweepPoints = int64_t{1} << 20;

// Gathers `parts` (files in out_dir) into out_dir/results.jsonl: its own lines first, then every part's point not
// already there; the parts are removed. Returns the points results.jsonl holds.
int64_t gather_results(const std::string& out_dir, const std::vector<std::string>& parts);

}  // namespace kvsim::sim
