#include "traces/workload.h"

#include <algorithm>
#include <filesystem>
#include <vector>

#include <fmt/format.h>

#include "sim/core/time.h"
#include "traces/generators.h"
#include "traces/limited_source.h"
#include "traces/shared_prefix.h"
#include "traces/trace_reader.h"

namespace kvsim::traces {

namespace {
const std::vector<std::string> kProcesses = {"poisson", "all-at-once"};

std::string name_of(const yaml::Map& m) { return m.path().empty() ? "workload" : m.path(); }

bool present(const yaml::Map& m, const std::string& key) {
  const std::vector<std::string> keys = m.keys();
  return std::find(keys.begin(), keys.end(), key) != keys.end();
}

// Shortest text that reads back as the same double.
std::string number_text(double v) { return fmt::format("{}", v); }
}  // namespace

WorkloadSpec parse_workload(const yaml::Map& w) {
  WorkloadSpec spec;
  spec.requests = w.opt_int("requests", 1);
  spec.duration_s = w.opt_double("duration_s", 0, 9.2e9, true);  // 9.2e9 s: the int64 ns limit
  spec.trace = w.get_string("trace", "");
  spec.shared_prefix_tokens = w.get_int("shared_prefix_tokens", 0, 0, int64_t{1} << 30);
  spec.shared_prefix_count = w.get_int("shared_prefix_count", 1, 1, int64_t{1} << 30);
  if (!spec.trace.empty()) {
    spec.trace_format = w.get_choice("trace_format", "auto", trace_formats());
    spec.skip_bad_lines = w.get_bool("skip_bad_lines", false);
    for (const std::string key : {"arrival", "prompt_tokens", "output_tokens"}) {
      if (present(w, key)) {
        w.fail(key, fmt::format("not used with {}.trace (arrivals and lengths come from the file)", name_of(w)));
      }
      w.raw(key);  // a valid key for the did-you-mean of finish()
    }
    w.finish();
    return spec;
  }
  if (present(w, "trace_format")) w.fail("trace_format", fmt::format("only used with {}.trace", name_of(w)));
  w.raw("trace_format");

  const yaml::Map arrival = w.child("arrival");
  spec.arrival.process = arrival.get_choice("process", "poisson", kProcesses);
  if (spec.arrival.process == "poisson") {
    spec.arrival.rate = arrival.get_double("rate", 1.0, 0, yaml::kInf, true);
  } else if (present(arrival, "rate")) {
    arrival.fail("rate", "not used by process 'all-at-once' (every request arrives at t = 0)");
  }
  arrival.finish();
  // Lengths are required, but a missing one is reported after finish() so that a typo reads as an unknown key.
  const bool has_prompt = present(w, "prompt_tokens"), has_output = present(w, "output_tokens");
  if (has_prompt) spec.prompt_tokens = parse_length_dist(w, "prompt_tokens");
  if (has_output) spec.output_tokens = parse_length_dist(w, "output_tokens");
  w.raw("prompt_tokens");
  w.raw("output_tokens");
  w.finish();
  if (!has_prompt) spec.prompt_tokens = parse_length_dist(w, "prompt_tokens");  // throws: required key is missing
  if (!has_output) spec.output_tokens = parse_length_dist(w, "output_tokens");
  if (spec.arrival.process == "all-at-once" && !spec.requests) {
    arrival.fail("process",
                 fmt::format("all-at-once needs {}.requests (how many requests arrive at t = 0)", name_of(w)));
  }
  if (!spec.requests && !spec.duration_s) {
    throw Error(w.place(),
                fmt::format("{}: a synthetic workload needs 'requests' or 'duration_s' (or both) to end", name_of(w)));
  }
  return spec;
}

YAML::Node workload_to_yaml(const WorkloadSpec& spec) {
  YAML::Node n(YAML::NodeType::Map);
  if (spec.requests) n["requests"] = *spec.requests;
  if (spec.duration_s) n["duration_s"] = number_text(*spec.duration_s);
  if (spec.shared_prefix_tokens > 0) n["shared_prefix_tokens"] = spec.shared_prefix_tokens;
  if (spec.shared_prefix_count > 1) n["shared_prefix_count"] = spec.shared_prefix_count;
  if (!spec.trace.empty()) {
    n["trace"] = spec.trace;
    n["trace_format"] = spec.trace_format;
    if (spec.skip_bad_lines) n["skip_bad_lines"] = true;
    return n;
  }
  YAML::Node arrival(YAML::NodeType::Map);
  arrival["process"] = spec.arrival.process;
  if (spec.arrival.process == "poisson") arrival["rate"] = number_text(spec.arrival.rate);
  n["arrival"] = arrival;
  n["prompt_tokens"] = length_dist_to_yaml(spec.prompt_tokens);
  n["output_tokens"] = length_dist_to_yaml(spec.output_tokens);
  return n;
}

std::unique_ptr<RequestSource> make_request_source(const WorkloadSpec& spec, const RngStreams& rng,
                                                   const std::string& base_dir) {
  const std::optional<SimTime> duration_ns =
      spec.duration_s ? std::optional<SimTime>(seconds_to_ns(*spec.duration_s)) : std::nullopt;
  if (spec.requests && *spec.requests < 1) {
    throw Error(fmt::format("workload.requests: expected an integer >= 1, found {}", *spec.requests));
  }
  std::unique_ptr<RequestSource> inner;
  if (!spec.trace.empty()) {
    std::filesystem::path path(spec.trace);
    if (!base_dir.empty() && path.is_relative()) path = std::filesystem::path(base_dir) / path;
    inner = open_trace(path.string(), TraceOptions{spec.trace_format, spec.skip_bad_lines});
  } else {
    if (!spec.requests && !duration_ns) {
      throw Error("workload: a synthetic workload needs 'requests' or 'duration_s' (or both) to end");
    }
    LengthSampler prompt(spec.prompt_tokens, rng.stream("workload/prompt_tokens"));
    LengthSampler output(spec.output_tokens, rng.stream("workload/output_tokens"));
    if (spec.arrival.process == "poisson") {
      inner = std::make_unique<PoissonSource>(spec.arrival.rate, rng.stream("workload/arrivals"), std::move(prompt),
                                              std::move(output));
    } else if (spec.arrival.process == "all-at-once") {
      if (!spec.requests) throw Error("workload.arrival.process: all-at-once needs workload.requests");
      inner = std::make_unique<AllAtOnceSource>(std::move(prompt), std::move(output));
    } else {
      throw Error(fmt::format("workload.arrival.process: expected one of {}, found '{}'{}", join(kProcesses),
                              spec.arrival.process, did_you_mean(spec.arrival.process, kProcesses)));
    }
  }
  if (spec.shared_prefix_tokens > 0) {
    inner = std::make_unique<SharedPrefixSource>(std::move(inner), spec.shared_prefix_tokens, spec.shared_prefix_count);
  }
  return std::make_unique<LimitedSource>(std::move(inner), spec.requests, duration_ns);
}

}  // namespace kvsim::traces
