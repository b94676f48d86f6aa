// The traffic `kvsim plan` sizes a fleet for, resolved once before the search:
//  - the arrivals: a trace's own arrivals, time-scaled to each searched rate so that its bursts are kept (the default
//    when --workload is a trace with timestamps), or a named process (poisson, gamma:CV, weibull:SHAPE) drawing the
//    lengths of the trace or the dataset;
//  - the context cap (engine.max_model_len) the workload needs: its longest request, up to the model's context, so
//    that nothing is clipped unless the model itself cannot hold it, and then how many are clipped is said;
//  - the busiest minute of the traffic at the target rate, the load the fleet must absorb.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "sim/core/time.h"
#include "traces/request.h"

namespace kvsim::sim {

struct PlanRequest;

struct PlanArrivals {
  std::string process = "poisson";  // trace | poisson | gamma | weibull
  double cv = 1, shape = 1;
  std::string describe() const;  // "trace", "poisson", "gamma cv 2"
};
// "" = the default (trace arrivals for a trace with timestamps, else poisson); "trace", "poisson", "gamma:CV",
// "weibull:SHAPE". Errors name --arrival.
PlanArrivals parse_plan_arrivals(const std::string& text, bool have_trace);

// What one pass over a request stream finds: its count and span, the longest request (prompt + output), how many
// exceed a cap, and the most requests that arrive within any `window_ns` (a sliding window over the arrivals).
struct TrafficScan {
  int64_t requests = 0;
  SimTime first_ns = 0, last_ns = 0;
  int64_t longest_tokens = 0;
  int64_t over_cap = 0;  // requests with prompt + output > cap
  int64_t peak_window_requests = 0;
  // Summed over the requests: decode steps (output - 1) and prompt x decode steps (a request holds its prompt through
  // its decode: their ratio is the prompt a decoding request holds on average).
  double decode_steps = 0, prompt_decode_steps = 0;
  bool shares_prefixes = false;      // some request has a shared prefix, a session or block hashes
  std::vector<SimTime> arrivals_ns;  // every arrival, when asked for
  double span_s() const { return ns_to_s(last_ns - first_ns); }
  double mean_rate() const;  // req/s over the span; 0 below two requests
};
TrafficScan scan_traffic(traces::RequestSource& source, int64_t cap_tokens, SimTime window_ns,
                         bool keep_arrivals = false);

struct PlanTraffic {
  PlanArrivals arrivals;
  double trace_span_s = 0, trace_mean_rate = 0;  // of the trace as recorded (trace arrivals only)
  int64_t trace_requests = 0;
  std::vector<SimTime> trace_arrivals_ns;     // trace arrivals only: every arrival as recorded, for the search windows
  int64_t context_cap = 0;                    // engine.max_model_len of every run
  std::string cap_source;                     // why that cap
  int64_t checked_requests = 0, clipped = 0;  // in the target-rate check's stream: requests longer than the cap
  double peak_minute_rate = 0;                // req/s in the busiest 60 s of the check's arrivals
  double check_span_s = 0;
  // The check stream's mean decode steps per request (output - 1), the prompt a decoding request holds on average
  // (prompts weighted by their decode steps), and whether its requests share prefixes (the screen of plan_runner.h).
  double mean_decode_steps = 0, decoding_prompt_tokens = 0;
  bool shares_prefixes = false;
};

// The workload section of one plan run at `rate` req/s. `whole`: the target-rate check, which replays the whole
// trace (trace arrivals) or duration_s of the process. Otherwise one search run: duration_s of the process, or with
// trace arrivals max(kMinSearchRequests, rate x duration_s) consecutive requests of the trace, time-scaled, from
// request (seed - 1) / seeds of the way into the trace (so that the seeds see different parts, bursts and lulls,
// and no window falls into a silence).
inline constexpr int64_t kMinSearchRequests = 100;
YAML::Node plan_workload_yaml(const PlanRequest& req, const PlanTraffic& traffic, double rate, int64_t seed,
                              bool whole);

// Resolves arrivals, cap and peak over the target-rate check's stream. `model_context` is the model's
// max_position_embeddings; `cap_override` an engine.max_model_len from --set (0 = none).
PlanTraffic resolve_plan_traffic(const PlanRequest& req, int64_t model_context, int64_t cap_override);

}  // namespace kvsim::sim
