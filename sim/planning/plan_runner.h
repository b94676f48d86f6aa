// kvsim plan's runs (internal to sim/planning/plan*.cc): the scenario of one configuration at one rate, whether it
// sustains that rate within the SLOs, and the highest rate one replica sustains.
#pragma once

#include <algorithm>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>
#include <nlohmann/json.hpp>

#include "sim/core/yaml.h"
#include "sim/metrics/error_bars.h"
#include "sim/planning/plan.h"
#include "sim/run.h"
#include "sim/scenario.h"

namespace kvsim::sim {

struct Runner {
  const PlanRequest& req;
  const PlanTraffic& traffic;

  int64_t expected_requests(double rate) const {
    return std::max<int64_t>(1, static_cast<int64_t>(rate * req.duration_s));
  }
  bool trace_arrivals() const { return traffic.arrivals.process == "trace"; }

  std::string base_yaml(const std::string& gpu, int64_t tp, const std::string& policy,
                        const std::vector<std::string>& knobs, double gpu_usd_per_hour) const {
    YAML::Node n;
    n["model"] = req.model;
    n["hardware"] = gpu;
    // The runs' cost per million tokens uses the plan's price (--gpu-price or the catalog's).
    if (gpu_usd_per_hour > 0) n["cost"]["gpu_hour_usd"] = gpu_usd_per_hour;
    n["cluster"]["tensor_parallel"] = tp;
    n["cluster"]["router"] = "least-outstanding";
    n["cache"]["policy"] = policy;
    // A serving context (vLLM users set --max-model-len) as long as the workload needs (plan_traffic.h).
    n["engine"]["max_model_len"] = traffic.context_cap;
    yaml::Source source;
    for (const std::string& k : knobs) yaml::apply_override(n, k, source);  // engine.KEY=VALUE
    // The v0 engine is the one that runs without chunked prefill.
    if (std::find(knobs.begin(), knobs.end(), "engine.chunked_prefill=false") != knobs.end()) {
      n["engine"]["version"] = "v0";
    }
    YAML::Emitter e;
    e << n;
    return e.c_str();
  }

  // `whole`: the target-rate check (plan_workload_yaml). `prefill` > 0: disaggregated, `prefill` of the `replicas`
  // computing prompts (of the base's tensor parallelism) and the rest generating (of `decode_tp`).
  Scenario scenario(const std::string& base, double rate, int64_t replicas, int64_t seed, bool whole = false,
                    int64_t prefill = 0, int64_t decode_tp = 0) const {
    YAML::Node n = YAML::Load(base);
    n["workload"] = plan_workload_yaml(req, traffic, rate, seed, whole);
    std::vector<std::string> o = req.overrides;
    if (prefill > 0) {
      const int64_t tp = n["cluster"]["tensor_parallel"].as<int64_t>();
      n["cluster"] = pools_yaml({prefill, tp}, {replicas - prefill, decode_tp > 0 ? decode_tp : tp});
    } else {
      o.push_back(fmt::format("cluster.replicas={}", replicas));
    }
    o.push_back(fmt::format("seed={}", seed));
    // A trace replayed whole counts every request: its busiest minute may be its first.
    const bool all = whole && trace_arrivals();
    o.push_back(fmt::format("slo.warmup_requests={}", all ? 0 : expected_requests(rate) / 10));
    return parse_scenario(n, "<kvsim plan>", o);
  }

  // Whether the configuration sustains `rate` with `replicas` on `seed`; `summary` gets the run's.
  bool sustains(const std::string& base, double rate, int64_t replicas, int64_t seed,
                nlohmann::ordered_json* summary = nullptr, bool whole = false, int64_t prefill = 0,
                int64_t decode_tp = 0) const {
    const RunResult r = run_scenario(scenario(base, rate, replicas, seed, whole, prefill, decode_tp), "");
    if (summary) *summary = r.summary;
    const auto& j = r.summary;
    if (j["rejected"].get<int64_t>() > 0 || j["completed"].get<int64_t>() == 0) return false;
    // The queue does not grow over the arrivals: at the last one, few requests wait for admission.
    const int64_t arrived = j["completed"].get<int64_t>();
    if (j["waiting_at_last_arrival"].get<int64_t>() > std::max<int64_t>(2 * replicas, arrived / 20)) return false;
    for (const PlanSlo& s : req.slo) {
      if (!j.contains(s.summary_key)) return false;
      double v = j[s.summary_key].get<double>();
      // --confidence: the pessimistic end of the prediction interval must meet the SLO.
      if (req.confidence > 0) {
        v = metrics::prediction_interval(metrics::builtin_error_model(), s.summary_key, metrics::load_regime(j), v, v,
                                         req.confidence)
                .high;
      }
      if (v > s.limit_ms) return false;
    }
    return true;
  }

  // The highest rate one replica sustains on `seed`: doubling, then bisection to 1/256 of the bracket.
  double replica_rate(const std::string& base, int64_t seed) const {
    double lo = 0, hi = 0.25;
    while (sustains(base, hi, 1, seed)) {
      lo = hi;
      hi *= 2;
      if (hi > 4096) return lo;  // beyond any one replica: the search stops rather than simulate millions
    }
    for (int i = 0; i < 8; ++i) {
      const double mid = (lo + hi) / 2;
      (sustains(base, mid, 1, seed) ? lo : hi) = mid;
    }
    return lo;
  }
};

// Disaggregated candidates of one configuration (plan_disaggregated.cc): P prefill replicas of its `tp` and D decode
// replicas of any of `decode_tps`, the fewest GPUs that sustain the target rate on every check seed, and among those
// splits the lowest p99 TPOT. Sets `c`'s replicas, split and decode tp, and returns the summaries of its
// check runs; empty when no split within --max-gpus serves the rate, `why` then says so.
std::vector<nlohmann::ordered_json> search_disaggregated(const Runner& run, const std::string& base, int64_t tp,
                                                         const std::vector<int64_t>& decode_tps, int64_t check_seeds,
                                                         PlanCandidate& c, std::string& why);

}  // namespace kvsim::sim
