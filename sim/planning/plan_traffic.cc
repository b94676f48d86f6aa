#include "sim/planning/plan_traffic.h"

#include <algorithm>
#include <cmath>
#include <deque>

#include <fmt/format.h>

#include "sim/core/error.h"
#include "sim/core/rng.h"
#include "sim/planning/plan.h"
#include "sim/scenario.h"
#include "traces/workload.h"

namespace kvsim::sim {

std::string PlanArrivals::describe() const {
  if (process == "gamma") return fmt::format("gamma cv {:g}", cv);
  if (process == "weibull") return fmt::format("weibull shape {:g}", shape);
  return process;
}

PlanArrivals parse_plan_arrivals(const std::string& text, bool have_trace) {
  PlanArrivals a;
  if (text.empty()) {
    a.process = have_trace ? "trace" : "poisson";
    return a;
  }
  const std::string name = text.substr(0, text.find(':'));
  const std::string arg = text.find(':') == std::string::npos ? "" : text.substr(text.find(':') + 1);
  const auto bad = [&](const std::string& why) {
    throw Error(Place{"--arrival"},
                fmt::format("'{}': {} (expected trace, poisson, gamma:CV or weibull:SHAPE)", text, why));
  };
  const auto number = [&](double lo, double hi) {
    try {
      size_t used = 0;
      const double v = std::stod(arg, &used);
      if (used == arg.size() && v >= lo && v <= hi) return v;
    } catch (const std::logic_error&) {
    }
    bad(fmt::format("expected a number in [{:g}, {:g}] after '{}:'", lo, hi, name));
    return 0.0;
  };
  a.process = name;
  if (name == "trace" || name == "poisson") {
    if (!arg.empty()) bad(fmt::format("'{}' takes no parameter", name));
    if (name == "trace" && !have_trace) bad("trace arrivals need a trace: give one with --workload FILE");
  } else if (name == "gamma") {
    a.cv = number(0.01, 100);  // the coefficient of variation of the inter-arrival times (1 = Poisson)
  } else if (name == "weibull") {
    a.shape = number(0.01, 100);  // < 1 bursty, > 1 regular
  } else {
    bad("unknown arrival process");
  }
  return a;
}

YAML::Node plan_workload_yaml(const PlanRequest& req, const PlanTraffic& traffic, double rate, int64_t seed,
                              bool whole) {
  YAML::Node w;
  if (traffic.arrivals.process == "trace") {
    w["trace"] = req.trace;
    // Scaled by the whole trace's mean, so that a busy part of it runs faster than `rate`: its bursts are kept.
    w["rate_scale"] = rate / traffic.trace_mean_rate;
    if (!whole) {
      const auto n = static_cast<int64_t>(traffic.trace_arrivals_ns.size());
      const int64_t k =
          std::min(n, std::max(kMinSearchRequests, static_cast<int64_t>(std::ceil(rate * req.duration_s))));
      const int64_t first = (n - k) * (seed - 1) / std::max<int64_t>(1, req.seeds);
      if (first > 0) w["window"]["start_s"] = ns_to_s(traffic.trace_arrivals_ns[static_cast<size_t>(first)]);
      w["requests"] = k;
    }
  } else {
    w["duration_s"] = req.duration_s;
    w["arrival"]["process"] = traffic.arrivals.process;
    w["arrival"]["rate"] = rate;
    if (traffic.arrivals.process == "gamma") w["arrival"]["cv"] = traffic.arrivals.cv;
    if (traffic.arrivals.process == "weibull") w["arrival"]["shape"] = traffic.arrivals.shape;
    if (!req.trace.empty()) {
      w["prompt_tokens"]["dist"] = "empirical";
      w["prompt_tokens"]["file"] = req.trace;
      w["output_tokens"]["dist"] = "empirical";
      w["output_tokens"]["file"] = req.trace;
    } else if (!req.dataset.empty()) {
      w["dataset"] = req.dataset;
    }  // else: the lengths come from --set workload.prompt_tokens / output_tokens
  }
  w["clip_to_context"] = true;
  return w;
}

double TrafficScan::mean_rate() const {
  if (requests < 2 || last_ns <= first_ns) return 0;
  return static_cast<double>(requests - 1) / span_s();
}

TrafficScan scan_traffic(traces::RequestSource& source, int64_t cap_tokens, SimTime window_ns, bool keep_arrivals) {
  TrafficScan s;
  std::deque<SimTime> window;  // arrivals within window_ns of the latest: at most the busiest window's count
  while (const auto r = source.next()) {
    if (s.requests == 0) s.first_ns = r->arrival_ns;
    s.last_ns = r->arrival_ns;
    ++s.requests;
    const int64_t tokens = r->prompt_tokens + r->output_tokens;
    const auto steps = static_cast<double>(std::max<int64_t>(0, r->output_tokens - 1));
    s.decode_steps += steps;
    s.prompt_decode_steps += static_cast<double>(r->prompt_tokens) * steps;
    s.shares_prefixes = s.shares_prefixes || r->prefix_id != 0 || r->session_id != 0 || !r->block_hashes.empty();
    s.longest_tokens = std::max(s.longest_tokens, tokens);
    if (cap_tokens > 0 && tokens > cap_tokens) ++s.over_cap;
    window.push_back(r->arrival_ns);
    if (keep_arrivals) s.arrivals_ns.push_back(r->arrival_ns);
    while (window.front() <= r->arrival_ns - window_ns) window.pop_front();
    s.peak_window_requests = std::max(s.peak_window_requests, static_cast<int64_t>(window.size()));
  }
  return s;
}

namespace {

constexpr SimTime kMinuteNs = 60 * kNsPerS;

TrafficScan scan(const PlanRequest& req, YAML::Node workload, int64_t cap_tokens, bool keep_arrivals = false) {
  YAML::Node n;
  n["model"] = req.model;
  n["hardware"] = req.gpus.front();
  workload["clip_to_context"] = false;  // the scan sees the lengths as recorded
  n["workload"] = workload;
  std::vector<std::string> overrides;
  for (const std::string& o : req.overrides) {
    if (o.starts_with("workload.")) overrides.push_back(o);
  }
  const Scenario s = parse_scenario(n, "<kvsim plan>", overrides);
  const RngStreams rng(1);
  const auto source = traces::make_request_source(s.workload, rng);
  return scan_traffic(*source, cap_tokens, kMinuteNs, keep_arrivals);
}

// vLLM's max_model_len need not be a round number; rounding up to 1,024 keeps the cap readable.
int64_t round_up_1k(int64_t tokens) { return (tokens + 1023) / 1024 * 1024; }

}  // namespace

PlanTraffic resolve_plan_traffic(const PlanRequest& req, int64_t model_context, int64_t cap_override) {
  PlanTraffic t;
  bool timed_trace = false;
  double trace_span_s = 0, trace_mean_rate = 0;
  std::vector<SimTime> arrivals;
  if (!req.trace.empty()) {
    YAML::Node raw;
    raw["trace"] = req.trace;
    TrafficScan recorded = scan(req, raw, 0, true);
    timed_trace = recorded.requests > 1 && recorded.last_ns > recorded.first_ns;
    trace_span_s = recorded.span_s();
    trace_mean_rate = recorded.mean_rate();
    t.trace_requests = recorded.requests;
    arrivals = std::move(recorded.arrivals_ns);
    if (req.arrival == "trace" && !timed_trace) {
      throw Error(Place{"--arrival"},
                  fmt::format("trace arrivals need a trace with arrival times; {} has {} request(s) "
                              "over {} s: give --arrival poisson to draw its lengths only",
                              req.trace, recorded.requests, trace_span_s));
    }
  }
  t.arrivals = parse_plan_arrivals(req.arrival, !req.trace.empty());
  if (req.arrival.empty() && !timed_trace) t.arrivals.process = "poisson";
  if (t.arrivals.process == "trace") {
    t.trace_span_s = trace_span_s;
    t.trace_mean_rate = trace_mean_rate;
    t.trace_arrivals_ns = std::move(arrivals);
  }
  const TrafficScan check =
      scan(req, plan_workload_yaml(req, t, req.rate, 1, true), cap_override > 0 ? cap_override : model_context);
  t.checked_requests = check.requests;
  t.check_span_s = check.span_s();
  if (check.requests > 0) t.mean_decode_steps = check.decode_steps / static_cast<double>(check.requests);
  if (check.decode_steps > 0) t.decoding_prompt_tokens = check.prompt_decode_steps / check.decode_steps;
  t.shares_prefixes = check.shares_prefixes;
  t.peak_minute_rate =
      check.span_s() >= 60 ? static_cast<double>(check.peak_window_requests) / 60.0 : check.mean_rate();
  if (cap_override > 0) {
    t.context_cap = cap_override;
    t.cap_source = "--set engine.max_model_len";
  } else if (check.longest_tokens > model_context) {
    t.context_cap = model_context;
    t.cap_source = fmt::format("the model's context (the longest request holds {} tokens)", check.longest_tokens);
  } else {
    t.context_cap = std::min(model_context, round_up_1k(std::max<int64_t>(1, check.longest_tokens)));
    t.cap_source = fmt::format("the workload's longest request ({} tokens)", check.longest_tokens);
  }
  t.clipped = check.over_cap;
  if (cap_override <= 0 && check.longest_tokens <= model_context) t.clipped = 0;
  return t;
}

}  // namespace kvsim::sim
