// The `workload` section of a scenario: a synthetic generator (an arrival process with length distributions or a
// named dataset, optionally as multi-turn sessions) or one or more trace files (any format of traces/trace_reader.h,
// merged by time), bounded by a request count and/or a duration, with transforms (time window, rate scaling,
// sampling, clipping to the model's context). Parsing validates everything with file:line:col;
// make_request_source() turns the spec into a constant-memory stream.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "sim/core/rng.h"
#include "sim/core/yaml.h"
#include "traces/arrival.h"
#include "traces/length_dist.h"
#include "traces/request.h"
#include "traces/sessions.h"

namespace kvsim::traces {

struct WorkloadSpec {
  std::optional<int64_t> requests;   // stop after N requests
  std::optional<double> duration_s;  // stop at the first arrival after this time (an arrival at exactly it is kept)
  ArrivalSpec arrival;
  LengthDist prompt_tokens, output_tokens;
  std::string dataset;  // a named dataset (traces/datasets.h) that set prompt_tokens and output_tokens
  SessionSpec sessions;
  std::string trace;                    // path; when set, arrivals and lengths come from the file
  std::vector<std::string> merge_with;  // more trace files merged with it by arrival time
  std::string trace_format = "auto";    // auto | simple | jsonl | azure | burstgpt | mooncake | lengths
  bool skip_bad_lines = false;          // skip (and count) trace rows that fail to parse instead of stopping
  // Transforms of a trace: keep arrivals in [window_start_s, window_end_s) shifted to 0; multiply the rate by
  // rate_scale, or scale it to target_rate (req/s, measured over a first pass); keep `sample` requests uniformly.
  double window_start_s = 0;
  std::optional<double> window_end_s;
  double rate_scale = 1.0;
  std::optional<double> target_rate;
  std::optional<int64_t> sample;
  // Clip prompt + output to the model's context (engine.max_model_len) instead of rejecting longer requests; the
  // scenario fills context_tokens.
  bool clip_to_context = false;
  int64_t context_tokens = 0;
  // Every request's prompt starts with the same N tokens, added to its sampled length, as vLLM benchmark_serving's
  // random dataset does with --random-prefix-len. Drives prefix caching.
  int64_t shared_prefix_tokens = 0;
  // How many distinct shared prefixes (system prompts of different applications or tenants) there are: request i
  // carries prefix (i mod count) + 1.
  int64_t shared_prefix_count = 1;
  // A pool of this many distinct prompts, request i repeating prompt (i mod N) whole (0 = every prompt distinct):
  // benchmark clients that cycle a fixed prompt set (inference-perf's shared-prefix generator). Synthetic only.
  int64_t distinct_prompts = 0;
  // A warm start: the first N requests (by id) are sent and served, filling the prefix cache and the batch as a server
  // that was already running has them, and left out of every count, rate and latency of the summary (a benchmark's
  // warm-up phase); throughput counts from the first counted request's arrival.
  int64_t warmup_requests = 0;

  bool operator==(const WorkloadSpec&) const = default;
};

// Reads the `workload` mapping and calls finish() on it and its children. A synthetic workload needs lengths
// (prompt_tokens and output_tokens, or dataset) and at least one of requests / duration_s (all-at-once needs
// requests); a trace workload takes no arrival or length keys. Trace paths are kept as written: relative paths are
// resolved by make_request_source().
WorkloadSpec parse_workload(const yaml::Map& workload);

// The spec fully resolved (every default written); parse_workload() of it gives the same spec.
YAML::Node workload_to_yaml(const WorkloadSpec& spec);

// The request stream. RNG streams: "workload/arrivals", "workload/prompt_tokens", "workload/output_tokens",
// "workload/sessions/...", "workload/sample". Relative paths (traces, empirical length files) are opened relative
// to `base_dir` (the scenario file's folder), or to the current directory when base_dir is empty. Throws
// kvsim::Error for a spec that parse_workload() would have rejected.
std::unique_ptr<RequestSource> make_request_source(const WorkloadSpec& spec, const RngStreams& rng,
                                                   const std::string& base_dir = "");

}  // namespace kvsim::traces
