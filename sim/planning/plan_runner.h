// kvsim plan's runs (internal to sim/planning/plan*.cc): the scenario of one configuration at one rate, whether it
// sustains that rate within the SLOs, and the highest rate one replica sustains.
#pragma once

#include <algorithm>
#include <memory>
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
#include "sim/serving/memory_plan.h"

namespace kvsim::models {
class CostModel;
}

namespace kvsim::sim {

// The mean-value screen of one configuration (plan_screen.cc): check(rate) is "" when one replica may sustain
// `rate_req_per_s`, else why it cannot (the fewest requests decoding at once by Little's law exceed max_num_seqs or
// the KV pool, or their decode step a p90+ TPOT/ITL SLO). Meant to reject only what the simulation would; inactive
// (never rejects) for engines, policies and traffic it does not bound.
class ReplicaScreen {
 public:
  // `plan`: the configuration's memory plan (plan_memory(s)).
  ReplicaScreen(const Scenario& s, const MemoryPlan& plan, const PlanTraffic& traffic, const std::vector<PlanSlo>& slo);
  std::string check(double rate_req_per_s) const;

 private:
  double step_ms(int64_t seqs) const;  // a decode step of `seqs` sequences holding the decoding prompt each
  int64_t decoding_prompt_tokens_;
  double mean_decode_steps_;
  int64_t max_num_seqs_;
  bool active_ = false;
  int64_t kv_tokens_ = 0;  // 0: no KV bound
  double step_limit_ms_ = 0;
  std::string step_limit_key_;
  std::shared_ptr<const models::CostModel> cost_;
};

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

  // The highest rate one replica sustains on `seed`, to 1/256 of the rate. Without a hint: doubling from 0.25 req/s,
  // then bisection of the bracket [r, 2r] 8 times. With `hint_req_per_s` (another seed's answer): steps of 1.25x from
  // it to a bracket [r, 1.25 r], then 6 bisections (the same resolution in fewer runs: seeds differ by a few percent).
  // A rate the screen rejects fails without a run.
  double replica_rate(const std::string& base, int64_t seed, double hint_req_per_s = 0,
                      const ReplicaScreen* screen = nullptr) const {
    const auto ok = [&](double rate) {
      return (screen == nullptr || screen->check(rate).empty()) && sustains(base, rate, 1, seed);
    };
    constexpr double kMaxReqPerS = 4096;  // beyond any one replica: the search stops rather than simulate millions
    constexpr double kMinReqPerS = 0.25 / 256;
    double lo = 0, hi = 0.25;
    int bisections = 8;
    if (hint_req_per_s > 0) {
      constexpr double kStep = 1.25;
      bisections = 6;
      if (ok(hint_req_per_s)) {
        for (lo = hint_req_per_s;; lo = hi) {
          hi = lo * kStep;
          if (hi > kMaxReqPerS) return lo;
          if (!ok(hi)) break;
        }
      } else {
        for (hi = hint_req_per_s;; hi = lo) {
          lo = hi / kStep;
          if (lo < kMinReqPerS) return 0;
          if (ok(lo)) break;
        }
      }
    } else {
      for (; ok(hi); hi *= 2) {
        lo = hi;
        if (hi * 2 > kMaxReqPerS) return lo;
      }
    }
    for (int i = 0; i < bisections; ++i) {
      const double mid = (lo + hi) / 2;
      (ok(mid) ? lo : hi) = mid;
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
