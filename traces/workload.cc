#include "traces/workload.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include <fmt/format.h>

#include "sim/core/limits.h"
#include "sim/core/time.h"
#include "traces/datasets.h"
#include "traces/generators.h"
#include "traces/limited_source.h"
#include "traces/prompt_pool.h"
#include "traces/shared_prefix.h"
#include "traces/trace_reader.h"
#include "traces/transforms.h"

namespace kvsim::traces {

namespace {
std::string name_of(const yaml::Map& m) { return m.path().empty() ? "workload" : m.path(); }

bool present(const yaml::Map& m, const std::string& key) {
  const std::vector<std::string> keys = m.keys();
  return std::find(keys.begin(), keys.end(), key) != keys.end();
}

constexpr double kMaxSeconds = limits::kMaxSeconds;

void parse_trace_keys(const yaml::Map& w, WorkloadSpec& spec) {
  const YAML::Node t = w.raw("trace");
  if (t.IsSequence()) {
    if (t.size() == 0) w.fail("trace", "expected a file or a non-empty list of files");
    for (size_t i = 0; i < t.size(); ++i) {
      if (!t[i].IsScalar() || t[i].Scalar().empty()) w.fail("trace", "expected a list of file names");
      (i == 0 ? spec.trace : spec.merge_with.emplace_back()) = t[i].Scalar();
    }
  } else {
    spec.trace = w.get_string("trace", "");
    if (spec.trace.empty()) w.fail("trace", "expected a file name or a list of them");
  }
  spec.trace_format = w.get_choice("trace_format", "auto", trace_formats());
  spec.skip_bad_lines = w.get_bool("skip_bad_lines", false);
  const yaml::Map window = w.child("window");
  spec.window_start_s = window.get_double("start_s", 0, 0, kMaxSeconds);
  spec.window_end_s = window.opt_double("end_s", 0, kMaxSeconds, true);
  window.finish();
  if (spec.window_end_s && *spec.window_end_s <= spec.window_start_s) {
    window.fail("end_s",
                fmt::format("expected a time after start_s ({} s), found {}", spec.window_start_s, *spec.window_end_s));
  }
  spec.rate_scale = w.get_double("rate_scale", 1.0, 1e-6, 1e6);
  spec.target_rate = w.opt_double("target_rate", limits::kMinRate, limits::kMaxRate);
  if (spec.target_rate && present(w, "rate_scale")) {
    w.fail("target_rate", "set workload.rate_scale or workload.target_rate, not both");
  }
  spec.sample = w.opt_int("sample", 1, int64_t{1} << 40);
  for (const std::string key : {"arrival", "prompt_tokens", "output_tokens", "dataset", "sessions"}) {
    if (present(w, key)) {
      w.fail(key, fmt::format("not used with {}.trace (arrivals and lengths come from the file)", name_of(w)));
    }
    w.raw(key);  // a valid key for the did-you-mean of finish()
  }
}

// workload.sessions, over `base` (an agentic dataset's session shape) when there is one: its keys override the base's.
void parse_sessions(const yaml::Map& w, WorkloadSpec& spec, const std::optional<SessionSpec>& base) {
  if (!present(w, "sessions")) {
    w.raw("sessions");
    if (base) spec.sessions = *base;
    return;
  }
  const yaml::Map m = w.child("sessions");
  SessionSpec s = base.value_or(SessionSpec{});
  if (present(m, "turns")) {
    s.turns = parse_length_dist(m, "turns");
    if (s.turns.dist == "empirical") m.fail("turns", "an empirical file holds token lengths, not turns");
  } else if (!base) {
    m.fail("turns", "required key is missing (turns per session: an integer or a dist)");
  }
  if (present(m, "think_time_s") && present(m, "think_time_ms")) {
    m.fail("think_time_ms", "set think_time_s (exponential mean) or think_time_ms (a distribution), not both");
  }
  if (present(m, "think_time_ms")) {
    s.think_time_ms = parse_length_dist(m, "think_time_ms");
    if (s.think_time_ms->dist == "empirical") m.fail("think_time_ms", "an empirical file holds token lengths");
  } else if (present(m, "think_time_s")) {
    s.think_time_s = m.get_double("think_time_s", 5, 0, 1e7);
    s.think_time_ms.reset();  // the exponential replaces a dataset's tool durations
  }
  m.raw("think_time_s");
  m.raw("think_time_ms");
  if (present(m, "turn_tokens")) {
    s.turn_tokens = parse_length_dist(m, "turn_tokens");
    if (s.turn_tokens->dist == "empirical") m.fail("turn_tokens", "use a parametric dist for the appended tokens");
  }
  m.raw("turn_tokens");
  s.system_prompt_tokens = m.get_int("system_prompt_tokens", s.system_prompt_tokens, 0, int64_t{1} << 30);
  s.system_prompts = m.get_int("system_prompts", s.system_prompts, 1, int64_t{1} << 30);
  m.finish();
  spec.sessions = s;
}
}  // namespace

WorkloadSpec parse_workload(const yaml::Map& w) {
  WorkloadSpec spec;
  spec.requests = w.opt_int("requests", 1, int64_t{1} << 40);  // 1.1e12: beyond any run a machine finishes
  spec.duration_s = w.opt_double("duration_s", 0, kMaxSeconds, true);
  spec.shared_prefix_tokens = w.get_int("shared_prefix_tokens", 0, 0, int64_t{1} << 30);
  spec.shared_prefix_count = w.get_int("shared_prefix_count", 1, 1, int64_t{1} << 30);
  spec.clip_to_context = w.get_bool("clip_to_context", false);
  spec.distinct_prompts = w.get_int("distinct_prompts", 0, 0, int64_t{1} << 30);
  spec.warmup_requests = w.get_int("warmup_requests", 0, 0, int64_t{1} << 40);
  if (present(w, "trace")) {
    if (spec.distinct_prompts > 0) w.fail("distinct_prompts", "a trace brings its own prompts: only for a synthetic workload");
    parse_trace_keys(w, spec);
    w.finish();
    return spec;
  }
  for (const std::string key : {"trace_format", "skip_bad_lines", "window", "rate_scale", "target_rate", "sample"}) {
    if (present(w, key)) w.fail(key, fmt::format("only used with {}.trace", name_of(w)));
    w.raw(key);
  }
  spec.arrival = parse_arrival(w.child("arrival"));
  // Lengths are required, but a missing one is reported after finish() so that a typo reads as an unknown key.
  const bool has_prompt = present(w, "prompt_tokens"), has_output = present(w, "output_tokens");
  if (present(w, "dataset")) {
    spec.dataset = w.get_choice("dataset", "", dataset_names());
    if (has_prompt || has_output) {
      w.fail(has_prompt ? "prompt_tokens" : "output_tokens",
             fmt::format("{}.dataset '{}' sets the lengths: leave out prompt_tokens and output_tokens", name_of(w),
                         spec.dataset));
    }
    const Dataset& d = *find_dataset(spec.dataset);
    spec.prompt_tokens = d.prompt_tokens;
    spec.output_tokens = d.output_tokens;
    parse_sessions(w, spec, d.sessions);
  } else {
    w.raw("dataset");
    parse_sessions(w, spec, std::nullopt);
    if (has_prompt) spec.prompt_tokens = parse_length_dist(w, "prompt_tokens");
    if (has_output) spec.output_tokens = parse_length_dist(w, "output_tokens");
  }
  w.raw("prompt_tokens");
  w.raw("output_tokens");
  w.finish();
  if (spec.dataset.empty()) {
    if (!has_prompt) spec.prompt_tokens = parse_length_dist(w, "prompt_tokens");  // throws: required key is missing
    if (!has_output) spec.output_tokens = parse_length_dist(w, "output_tokens");
  }
  if (spec.arrival.process == "all-at-once" && !spec.requests) {
    w.child("arrival").fail(
        "process", fmt::format("all-at-once needs {}.requests (how many requests arrive at t = 0)", name_of(w)));
  }
  if (spec.arrival.process == "all-at-once" && *spec.requests > limits::kMaxRequestsInSystem) {
    w.fail("requests", fmt::format("all-at-once holds every request at t = 0: at most {} (about 2.3 GB of simulator "
                                   "memory), found {}",
                                   limits::kMaxRequestsInSystem, *spec.requests));
  }
  if (!spec.requests && !spec.duration_s) {
    throw Error(w.place(),
                fmt::format("{}: a synthetic workload needs 'requests' or 'duration_s' (or both) to end", name_of(w)));
  }
  if (spec.sessions.enabled() && spec.shared_prefix_tokens > 0) {
    w.fail("shared_prefix_tokens", "sessions share their own system prompts: use sessions.system_prompt_tokens");
  }
  if (spec.sessions.enabled() && spec.distinct_prompts > 0) {
    w.fail("distinct_prompts", "a session's turns carry their own prompts: leave out distinct_prompts");
  }
  return spec;
}

YAML::Node workload_to_yaml(const WorkloadSpec& spec) {
  YAML::Node n(YAML::NodeType::Map);
  if (spec.requests) n["requests"] = *spec.requests;
  if (spec.duration_s) n["duration_s"] = yaml::number(*spec.duration_s);
  if (spec.shared_prefix_tokens > 0) n["shared_prefix_tokens"] = spec.shared_prefix_tokens;
  if (spec.shared_prefix_count > 1) n["shared_prefix_count"] = spec.shared_prefix_count;
  if (spec.clip_to_context) n["clip_to_context"] = true;
  if (spec.distinct_prompts > 0) n["distinct_prompts"] = spec.distinct_prompts;
  if (spec.warmup_requests > 0) n["warmup_requests"] = spec.warmup_requests;
  if (!spec.trace.empty()) {
    if (spec.merge_with.empty()) {
      n["trace"] = spec.trace;
    } else {
      YAML::Node files;
      files.push_back(spec.trace);
      for (const auto& f : spec.merge_with) files.push_back(f);
      n["trace"] = files;
    }
    n["trace_format"] = spec.trace_format;
    if (spec.skip_bad_lines) n["skip_bad_lines"] = true;
    if (spec.window_start_s > 0 || spec.window_end_s) {
      YAML::Node w(YAML::NodeType::Map);
      w["start_s"] = yaml::number(spec.window_start_s);
      if (spec.window_end_s) w["end_s"] = yaml::number(*spec.window_end_s);
      n["window"] = w;
    }
    if (spec.target_rate) {
      n["target_rate"] = yaml::number(*spec.target_rate);
    } else if (spec.rate_scale != 1.0) {
      n["rate_scale"] = yaml::number(spec.rate_scale);
    }
    if (spec.sample) n["sample"] = *spec.sample;
    return n;
  }
  n["arrival"] = arrival_to_yaml(spec.arrival);
  if (!spec.dataset.empty()) {
    n["dataset"] = spec.dataset;
  } else {
    n["prompt_tokens"] = length_dist_to_yaml(spec.prompt_tokens);
    n["output_tokens"] = length_dist_to_yaml(spec.output_tokens);
  }
  if (spec.sessions.enabled()) {
    YAML::Node s(YAML::NodeType::Map);
    s["turns"] = length_dist_to_yaml(spec.sessions.turns);
    if (spec.sessions.think_time_ms) {
      s["think_time_ms"] = length_dist_to_yaml(*spec.sessions.think_time_ms);
    } else {
      s["think_time_s"] = yaml::number(spec.sessions.think_time_s);
    }
    if (spec.sessions.turn_tokens) s["turn_tokens"] = length_dist_to_yaml(*spec.sessions.turn_tokens);
    s["system_prompt_tokens"] = spec.sessions.system_prompt_tokens;
    s["system_prompts"] = spec.sessions.system_prompts;
    n["sessions"] = s;
  }
  return n;
}

namespace {
// The trace files, merged, windowed and sampled (before rate scaling): built twice when a first pass is needed.
std::unique_ptr<RequestSource> open_traces(const WorkloadSpec& spec, const std::string& base_dir) {
  const TraceOptions options{spec.trace_format, spec.skip_bad_lines};
  std::unique_ptr<RequestSource> s;
  if (spec.merge_with.empty()) {
    s = open_trace(resolve_workload_file(spec.trace, base_dir), options);
  } else {
    std::vector<std::unique_ptr<RequestSource>> inputs;
    inputs.push_back(open_trace(resolve_workload_file(spec.trace, base_dir), options));
    for (const auto& f : spec.merge_with) inputs.push_back(open_trace(resolve_workload_file(f, base_dir), options));
    s = std::make_unique<MergeSource>(std::move(inputs));
  }
  if (spec.window_start_s > 0 || spec.window_end_s) {
    s = std::make_unique<WindowSource>(
        std::move(s), seconds_to_ns(spec.window_start_s),
        spec.window_end_s ? std::optional(seconds_to_ns(*spec.window_end_s)) : std::nullopt);
  }
  return s;
}
}  // namespace

std::unique_ptr<RequestSource> make_request_source(const WorkloadSpec& spec, const RngStreams& rng,
                                                   const std::string& base_dir) {
  const std::optional<SimTime> duration_ns =
      spec.duration_s ? std::optional<SimTime>(seconds_to_ns(*spec.duration_s)) : std::nullopt;
  if (spec.requests && *spec.requests < 1) {
    throw Error(fmt::format("workload.requests: expected an integer >= 1, found {}", *spec.requests));
  }
  std::unique_ptr<RequestSource> inner;
  const int64_t context = spec.clip_to_context ? spec.context_tokens : 0;
  if (!spec.trace.empty()) {
    inner = open_traces(spec, base_dir);
    const bool first_pass = spec.sample || spec.target_rate;
    StreamExtent extent;
    if (first_pass) extent = measure(*open_traces(spec, base_dir));
    if (spec.sample) {
      inner = std::make_unique<SampleSource>(std::move(inner), *spec.sample, extent.requests,
                                             rng.stream("workload/sample"));
    }
    double factor = spec.rate_scale;
    if (spec.target_rate) {
      const double kept = spec.sample ? static_cast<double>(std::min(*spec.sample, extent.requests)) : 0;
      double rate = extent.mean_rate();
      if (spec.sample && extent.requests > 1) rate *= (kept - 1) / static_cast<double>(extent.requests - 1);
      if (!(rate > 0)) throw Error(fmt::format("workload.target_rate: trace {} has no rate to scale", spec.trace));
      factor = *spec.target_rate / rate;
    }
    if (factor != 1.0) inner = std::make_unique<ScaleSource>(std::move(inner), factor);
    inner = std::make_unique<RenumberSource>(std::move(inner));
  } else {
    if (!spec.requests && !duration_ns) {
      throw Error("workload: a synthetic workload needs 'requests' or 'duration_s' (or both) to end");
    }
    if (spec.arrival.process == "all-at-once" && !spec.requests) {
      throw Error("workload.arrival.process: all-at-once needs workload.requests");
    }
    LengthModel lengths(spec.prompt_tokens, spec.output_tokens, rng, base_dir);
    if (spec.sessions.enabled()) {
      inner = std::make_unique<SessionSource>(spec.arrival, spec.sessions, std::move(lengths), rng, context);
    } else {
      inner = std::make_unique<SyntheticSource>(spec.arrival, rng.stream("workload/arrivals"), std::move(lengths));
    }
  }
  if (spec.shared_prefix_tokens > 0) {
    inner = std::make_unique<SharedPrefixSource>(std::move(inner), spec.shared_prefix_tokens, spec.shared_prefix_count);
  }
  if (spec.distinct_prompts > 0 && spec.trace.empty()) {
    inner = std::make_unique<PromptPoolSource>(std::move(inner), spec.distinct_prompts);
  }
  if (context > 0) inner = std::make_unique<ClipSource>(std::move(inner), context);
  return std::make_unique<LimitedSource>(std::move(inner), spec.requests, duration_ns);
}

}  // namespace kvsim::traces
