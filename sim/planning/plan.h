// `kvsim plan`: the cheapest configuration that serves a request rate within an SLO. For every GPU type x tensor
// parallelism x cache policy x engine knobs that fits the model, it finds the highest rate one replica sustains
// (binary search on the rate over duration_s of arrivals: a trace's own, time-scaled, or a named process; sustained =
// on every seed the SLO percentiles hold, past a warm-up of the first tenth of the requests, and the queue does not
// grow: at the last arrival at most 5 % of the requests wait for admission), then the replicas the target rate needs,
// checked by a run of the whole cluster at that rate behind a least-outstanding router (with trace arrivals, a replay
// of the whole trace, every request counted, so that its busiest minute is in the check), and prices the fleet
// (replicas x GPUs per replica x $/GPU-hour, from the catalog or --gpu-price; plan_prices.h). Every run's context
// cap is what the workload needs (plan_traffic.h). It reports the cheapest, the Pareto front of cost against p99 TPOT,
// and why the others lose; a GPU with no price is listed after the priced, never as free.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sim/planning/plan_traffic.h"

namespace kvsim::sim {

struct PlanSlo {
  std::string key;  // ttft_p90_ms | ttft_p99_ms | tpot_p90_ms | tpot_p99_ms | e2el_p99_ms | ...
  double limit_ms = 0;
  std::string summary_key;  // its summary.json key: ttft_p90_ms -> p90_ttft_ms
};
// "ttft_p90_ms=2000,tpot_p99_ms=100"; errors name the bad item.
std::vector<PlanSlo> parse_plan_slo(const std::string& text);

struct PlanRequest {
  std::string model;
  double rate = 1;
  std::vector<PlanSlo> slo;
  std::string dataset = "sharegpt";  // lengths of the synthetic arrivals when there is no trace
  std::string trace;                 // a trace file: its own arrivals time-scaled to each rate, or its lengths
  std::string arrival;               // --arrival: "" (trace arrivals for a timed trace, else poisson) | plan_traffic.h
  std::vector<std::string> gpus = {"h100-sxm5-80gb", "a100-sxm4-80gb", "l4-24gb"};
  std::vector<std::string> policies = {"vllm"};
  // Engine knobs searched with each configuration (empty: the engine's defaults): batch limits and chunked prefill.
  std::vector<int64_t> max_num_seqs;
  std::vector<bool> chunked_prefill;
  // --disaggregated: also split each configuration into prefill and decode pools (cluster.prefill / .decode), the
  // fewest replicas that serve the rate and, among their splits, the lowest p99 TPOT.
  bool disaggregated = false;
  int64_t max_gpus = 8;
  double duration_s = 120;  // of arrivals per run: several lifetimes of a request, so a run reaches steady state
  int64_t seeds = 3;
  int jobs = 0;                                    // --jobs: configurations searched at once (0: the machine's cores)
  std::vector<std::string> overrides;              // --set, applied to every run
  std::map<std::string, double> gpu_usd_per_hour;  // --gpu-price: US$ per GPU-hour by GPU, over the catalog's
  bool require_price = false;                      // --require-price: an unpriced GPU is an error
  // --confidence: > 0 sizes against the pessimistic end of each SLO's prediction interval at this level (seed spread
  // and kvsim's error against measured runs, metrics/error_bars.h); 0 = against the prediction. Intervals are
  // reported at this level, or 0.9 when it is 0.
  double confidence = 0;
  // Called after each step of the search: steps done of the total, and what is being searched.
  std::function<void(int64_t done, int64_t total, const std::string& what)> progress;
};

struct PlanCandidate {
  std::string gpu, policy;
  int64_t tp = 1, replicas = 0;
  bool disaggregated = false;    // split into prefill and decode pools (plan --disaggregated)
  int64_t prefill_replicas = 0;  // ... of the replicas, those computing prompts (tensor parallel `tp`)
  int64_t decode_tp = 0;         // ... the decode replicas' tensor parallelism
  // GPUs of the fleet: replicas x tp, or each pool's replicas x its tp.
  int64_t gpus() const {
    return disaggregated ? prefill_replicas * tp + (replicas - prefill_replicas) * decode_tp : replicas * tp;
  }
  std::string knobs;  // the engine knobs of this candidate ("" = defaults)
  bool feasible = false;
  std::string why;              // infeasible: what stops it; feasible: its bound at the target rate
  double replica_rate = 0;      // req/s one replica sustains (the lowest over seeds)
  double replica_rate_max = 0;  // ... the highest over seeds: [replica_rate, replica_rate_max] spans the seeds
  double gpu_usd_per_hour = 0;  // one GPU-hour; 0 = unpriced (ranked after every priced configuration)
  std::string price_source;     // "catalog" | "--gpu-price" | "" (unpriced)
  double usd_per_hour = 0;      // the fleet: replicas x tp x gpu_usd_per_hour
  double usd_per_million_tokens = 0;
  double ttft_p90_ms = 0, tpot_p99_ms = 0;  // at the target rate, on the whole cluster
  // Their prediction intervals (the seeds' spread widened by kvsim's measured error in the run's load regime).
  double ttft_p90_low_ms = 0, ttft_p90_high_ms = 0, tpot_p99_low_ms = 0, tpot_p99_high_ms = 0;
  std::string regime;  // the load regime at the target rate: below | near | above (saturation)
  double retention_attention = 1;
  bool pareto = false;
};

struct PlanResult {
  PlanRequest request;
  std::vector<PlanCandidate> candidates;  // feasible and priced, cheapest first; feasible unpriced; infeasible
  std::optional<size_t> best;             // the cheapest priced feasible one
  PlanTraffic traffic;                    // the arrivals, context cap and peak minute sized for
  std::vector<std::string> searched;      // the search space, one line per dimension
  std::vector<std::string> notes;         // skipped parallelisms, GPUs with no feasible configuration, ...
  nlohmann::ordered_json to_json() const;
};

PlanResult run_plan(const PlanRequest& request);

}  // namespace kvsim::sim
