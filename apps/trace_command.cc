// kvsim trace stats / trace gen: look at a trace file, or write a generated workload as one.
#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "apps/commands.h"
#include "sim/core/atomic_file.h"
#include "sim/core/input_file.h"
#include "sim/core/error.h"
#include "sim/core/rng.h"
#include "sim/core/yaml.h"
#include "traces/simple_csv.h"
#include "traces/trace_reader.h"
#include "traces/trace_stats.h"
#include "traces/workload.h"

namespace kvsim::app {

namespace {
void print_stats_table(const std::string& name, const std::string& format, const traces::TraceStats& s,
                       std::ostream& out) {
  out << fmt::format("{} ({}): {} requests over {:.3f} s, {:.4g} req/s, inter-arrival CV {:.3f}\n", name, format,
                     s.requests, s.duration_s(), s.mean_rate(), s.interarrival_cv());
  out << fmt::format("  {:<14} {:>10} {:>10} {:>8} {:>8} {:>8} {:>8} {:>8}\n", "tokens", "mean", "stddev", "min", "p50",
                     "p90", "p99", "max");
  for (const auto& [label, h] : {std::pair{"prompt", &s.prompt}, std::pair{"output", &s.output}}) {
    out << fmt::format("  {:<14} {:>10.2f} {:>10.2f} {:>8} {:>8} {:>8} {:>8} {:>8}\n", label, h->mean(), h->stddev(),
                       h->count() ? h->min() : 0, h->percentile(50), h->percentile(90), h->percentile(99),
                       h->count() ? h->max() : 0);
  }
  if (s.sessions + s.prefixed + s.hashed > 0) {
    out << fmt::format("  requests in sessions {}, with a shared prefix {}, with prefix-block hashes {}\n", s.sessions,
                       s.prefixed, s.hashed);
  }
  out << "  percentiles from a log-linear histogram: within 0.8 % above 2,048 tokens, exact below\n";
}
}  // namespace

int cmd_trace_stats(const TraceStatsArgs& args, std::ostream& out) {
  const std::unique_ptr<traces::TraceSource> source =
      traces::open_trace(args.file, traces::TraceOptions{args.trace_format, args.skip_bad_lines});
  const traces::TraceStats s = traces::compute_trace_stats(*source);
  if (args.format == "json") {
    nlohmann::ordered_json j;
    j["file"] = args.file;
    j["format"] = source->format();
    const nlohmann::ordered_json stats = s.to_json();
    for (auto it = stats.begin(); it != stats.end(); ++it) j[it.key()] = it.value();
    j["clamped_prompt_rows"] = source->clamped_prompt_rows();
    j["clamped_output_rows"] = source->clamped_output_rows();
    j["skipped_rows"] = source->skipped_rows();
    out << j.dump(2) << "\n";
  } else {
    print_stats_table(args.file, source->format(), s, out);
    if (source->skipped_rows() > 0) {
      out << fmt::format("  {} bad rows skipped; the first: {}\n", source->skipped_rows(), source->first_skipped());
    }
    if (source->clamped_prompt_rows() + source->clamped_output_rows() > 0) {
      out << fmt::format("  rows with 0 tokens read as 1: {} prompt, {} output\n", source->clamped_prompt_rows(),
                         source->clamped_output_rows());
    }
  }
  return 0;
}

int cmd_trace_gen(const TraceGenArgs& args, std::ostream& out) {
  // The options become a `workload` document, validated like a scenario's (so --set can reach every key).
  YAML::Node root;
  YAML::Node w = root["workload"];
  if (args.requests) w["requests"] = *args.requests;
  if (args.duration_s) w["duration_s"] = fmt::format("{}", *args.duration_s);
  w["arrival"]["process"] = args.arrival;
  if (args.rate) w["arrival"]["rate"] = fmt::format("{}", *args.rate);
  if (args.cv) w["arrival"]["cv"] = fmt::format("{}", *args.cv);
  if (args.shape) w["arrival"]["shape"] = fmt::format("{}", *args.shape);
  if (!args.dataset.empty()) w["dataset"] = args.dataset;
  if (!args.prompt_tokens.empty()) w["prompt_tokens"] = yaml::load_string(args.prompt_tokens, "--prompt-tokens");
  if (!args.output_tokens.empty()) w["output_tokens"] = yaml::load_string(args.output_tokens, "--output-tokens");
  auto source_info = std::make_shared<yaml::Source>();
  source_info->file = "kvsim trace gen";
  for (const auto& o : args.overrides) yaml::apply_override(root, o, *source_info);
  const yaml::Map top(root, source_info);
  const traces::WorkloadSpec spec = traces::parse_workload(top.child("workload"));
  top.finish();
  if (!spec.trace.empty()) throw Error("kvsim trace gen: workload.trace is for replaying; generate with an arrival");
  const auto source = traces::make_request_source(spec, RngStreams(args.seed));
  const bool sessions = spec.sessions.enabled() || spec.shared_prefix_tokens > 0;
  check_may_write(args.out, args.force);
  AtomicFile file(args.out);
  const int64_t n = args.format == "jsonl" ? traces::write_simple_jsonl(*source, file.stream())
                                           : traces::write_simple_csv(*source, file.stream(), sessions);
  file.commit();
  out << fmt::format("wrote {} requests to {} ({}): {}\n", n, args.out, args.format, source->describe());
  return 0;
}

}  // namespace kvsim::app
