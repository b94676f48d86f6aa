// Validation cases (`validation/cases/*.yaml`): a named configuration, the command that predicts it, and the
// reference values with their tolerances. The format is a public interface:
//   name: vllm-opt13b-kv-slots
//   source: "Kwon et al., SOSP 2023, Table 1"
//   kind: published                 # published | measured
//   command: run                    # run | compare | cost | transfer
//   scenario: { ... }               # any scenario document (or scenario_file: path, relative to the case)
//   args: { ... }                   # cost: model, hardware, tokens, batch, context, tp, phase
//                                   # compare: policies [, rates, knee_factor, set: {policy: [key=value]}];
//                                   # transfer: hardware, direction, bytes, pinned, copies
//   expect:
//     - metric: kv_capacity_tokens  # a summary.json key; cost: ops.<name>.time_ms / total_ms;
//       value: 15700                # compare: <policy>.<key> and <policy>.knee_rate; transfer: bandwidth_gb_s
//       tolerance: 0.05             # relative; or abs: an absolute bound; or relation: greater_than:<metric>;
//                                   # or, alone, below: 30 (a published upper bound)
//   status: known-gap               # optional, with reason: run and reported, never failing the command
//   reason: "..."
//   fast: true                      # part of `kvsim validate --quick`
//   reference_file: bench.json      # measured: a vLLM benchmark_serving result; an expectation without `value`
//                                   # takes the file's value of its metric (or of `reference_key`)
//   reference: {p90_ttft_ms: 34.1}  # measured: more measured values (summary.json keys), checked by no bound: the
//                                   # residuals of validation/error_model.h (prediction intervals) use them
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "sim/core/error.h"
#include "sim/core/yaml.h"

namespace kvsim::validation {

struct Expectation {
  std::string metric;
  std::optional<double> value;      // the reference
  std::optional<double> tolerance;  // relative: |predicted - value| <= tolerance x |value|
  std::optional<double> abs;        // absolute: |predicted - value| <= abs
  std::optional<double> below;      // a published upper bound: predicted < below (no error computed)
  std::string relation;             // greater_than | less_than (against relation_metric), "" = none
  std::string relation_metric;
  Place place;  // of the entry, for messages
};

struct Case {
  std::string file;
  std::string name, source, kind, command;
  YAML::Node scenario;           // the scenario document (empty for cost and transfer)
  yaml::Document scenario_text;  // the same as text, parsed afresh for each run (errors keep their places)
  std::string scenario_name;     // what errors in the scenario are reported against
  YAML::Node args;
  std::vector<Expectation> expect;
  std::string status;  // "" or "known-gap"
  std::string reason;
  bool fast = false;
  std::vector<std::pair<std::string, double>> reference;  // `reference:`, in file order
};

const std::vector<std::string>& case_commands();  // run, compare, cost, transfer

// Reads one case file; malformed cases throw kvsim::Error with file:line:col, the key, what was expected and found.
Case load_case(const std::string& path);
// Every *.yaml under each folder (sorted by path), or the files named.
std::vector<Case> load_cases(const std::vector<std::string>& dirs_or_files);

}  // namespace kvsim::validation
