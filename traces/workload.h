// The `workload` section of a scenario: a synthetic generator (Poisson or all-at-once arrivals with token-length
// distributions) or a trace file (simple or Azure CSV), bounded by a request count and/or a duration. Parsing
// validates everything with file:line:col; make_request_source() turns the spec into a constant-memory stream.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include <yaml-cpp/yaml.h>

#include "sim/core/rng.h"
#include "sim/core/yaml.h"
#include "traces/length_dist.h"
#include "traces/request.h"

namespace kvsim::traces {

struct ArrivalSpec {
  std::string process = "poisson";  // poisson | all-at-once
  double rate = 1.0;                // poisson: requests per second

  bool operator==(const ArrivalSpec&) const = default;
};

struct WorkloadSpec {
  std::optional<int64_t> requests;   // stop after N requests
  std::optional<double> duration_s;  // stop at the first arrival after this time (an arrival at exactly it is kept)
  ArrivalSpec arrival;
  LengthDist prompt_tokens, output_tokens;
  std::string trace;                  // path; when set, arrivals and lengths come from the file
  std::string trace_format = "auto";  // auto | simple | jsonl | azure | burstgpt | mooncake
  bool skip_bad_lines = false;        // skip (and count) trace rows that fail to parse instead of stopping
  // Every request's prompt starts with the same N tokens, added to its sampled length, as vLLM benchmark_serving's
  // random dataset does with --random-prefix-len. Drives prefix caching.
  int64_t shared_prefix_tokens = 0;
  // How many distinct shared prefixes (system prompts of different applications or tenants) there are: request i
  // carries prefix (i mod count) + 1.
  int64_t shared_prefix_count = 1;

  bool operator==(const WorkloadSpec&) const = default;
};

// Reads the `workload` mapping (keys: requests, duration_s, arrival.{process, rate}, prompt_tokens, output_tokens,
// trace, trace_format) and calls finish() on it and its children. A synthetic workload needs prompt_tokens,
// output_tokens and at least one of requests / duration_s (all-at-once needs requests); a trace workload takes no
// arrival or length keys. The trace path is kept as written: relative paths are resolved by make_request_source().
WorkloadSpec parse_workload(const yaml::Map& workload);

// The spec fully resolved (every default written); parse_workload() of it gives the same spec.
YAML::Node workload_to_yaml(const WorkloadSpec& spec);

// The request stream. RNG streams: "workload/arrivals", "workload/prompt_tokens", "workload/output_tokens".
// A relative `spec.trace` is opened relative to `base_dir` (the scenario file's folder), or to the current
// directory when base_dir is empty. Throws kvsim::Error for a spec that parse_workload() would have rejected.
std::unique_ptr<RequestSource> make_request_source(const WorkloadSpec& spec, const RngStreams& rng,
                                                   const std::string& base_dir = "");

}  // namespace kvsim::traces
