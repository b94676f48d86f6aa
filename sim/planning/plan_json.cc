// kvsim plan's text inputs and JSON output (sim/planning/plan.h).
#include <algorithm>

#include <fmt/format.h>

#include "sim/core/error.h"
#include "sim/planning/plan.h"

namespace kvsim::sim {

std::vector<PlanSlo> parse_plan_slo(const std::string& text) {
  static const std::vector<std::string> metrics = {"ttft", "tpot", "itl", "e2el"};
  std::vector<PlanSlo> out;
  size_t start = 0;
  while (start < text.size()) {
    const size_t comma = text.find(',', start);
    const std::string item = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    start = comma == std::string::npos ? text.size() : comma + 1;
    const size_t eq = item.find('=');
    const auto bad = [&](const std::string& why) {
      throw Error(Place{"--slo"}, fmt::format("'{}': {} (expected e.g. ttft_p90_ms=2000,tpot_p99_ms=100)", item, why));
    };
    if (eq == std::string::npos) bad("missing '='");
    PlanSlo s;
    s.key = item.substr(0, eq);
    const std::string metric = s.key.substr(0, s.key.find('_'));
    const bool shape = s.key.size() > 8 && s.key.ends_with("_ms") && s.key.find("_p") != std::string::npos;
    const std::string q = shape ? s.key.substr(s.key.find("_p") + 2, s.key.size() - s.key.find("_p") - 5) : "";
    if (!shape || std::find(metrics.begin(), metrics.end(), metric) == metrics.end() ||
        (q != "50" && q != "90" && q != "95" && q != "99")) {
      bad("unknown SLO: expected <ttft|tpot|itl|e2el>_p<50|90|95|99>_ms");
    }
    // summary.json names the 50th percentile median_*, as vllm bench serve does.
    s.summary_key = (q == "50" ? "median" : "p" + q) + "_" + metric + "_ms";
    try {
      size_t used = 0;
      s.limit_ms = std::stod(item.substr(eq + 1), &used);
      if (used != item.size() - eq - 1 || !(s.limit_ms > 0)) bad("expected a number of milliseconds > 0");
    } catch (const std::logic_error&) {
      bad("expected a number of milliseconds > 0");
    }
    out.push_back(s);
  }
  if (out.empty()) throw Error(Place{"--slo"}, "expected at least one SLO, e.g. ttft_p90_ms=2000");
  return out;
}

nlohmann::ordered_json PlanResult::to_json() const {
  nlohmann::ordered_json j;
  j["model"] = request.model;
  j["rate"] = request.rate;
  j["duration_s"] = request.duration_s;
  nlohmann::ordered_json slo;
  for (const auto& s : request.slo) slo[s.key] = s.limit_ms;
  j["slo"] = slo;
  j["arrivals"] = traffic.arrivals.describe();
  if (!request.trace.empty()) j["trace"] = request.trace;
  j["context_cap_tokens"] = traffic.context_cap;
  j["context_cap_source"] = traffic.cap_source;
  j["clipped_requests"] = traffic.clipped;
  j["checked_requests"] = traffic.checked_requests;
  j["peak_minute_rate"] = traffic.peak_minute_rate;
  j["searched"] = searched;
  j["confidence"] = request.confidence;
  j["interval_level"] = request.confidence > 0 ? request.confidence : 0.9;
  j["best"] = best ? nlohmann::ordered_json(*best) : nlohmann::ordered_json();
  j["candidates"] = nlohmann::ordered_json::array();
  for (const auto& c : candidates) {
    const bool priced = c.gpu_usd_per_hour > 0;
    j["candidates"].push_back(
        {{"gpu", c.gpu},
         {"tp", c.tp},
         {"policy", c.policy},
         {"knobs", c.knobs},
         {"feasible", c.feasible},
         {"replicas", c.replicas},
         {"disaggregated", c.disaggregated},
         {"prefill_replicas", c.prefill_replicas},
         {"decode_replicas", c.prefill_replicas > 0 ? c.replicas - c.prefill_replicas : 0},
         {"decode_tp", c.decode_tp},
         {"gpus", c.gpus()},
         {"replica_rate", c.replica_rate},
         {"replica_rate_max", c.replica_rate_max},
         {"priced", c.gpu_usd_per_hour > 0},
         {"price_source", c.price_source},
         // null when unpriced: the configuration is not free, its cost is unknown
         {"gpu_usd_per_hour", priced ? nlohmann::ordered_json(c.gpu_usd_per_hour) : nullptr},
         {"usd_per_hour", priced && c.feasible ? nlohmann::ordered_json(c.usd_per_hour) : nullptr},
         {"usd_per_million_tokens", priced && c.feasible ? nlohmann::ordered_json(c.usd_per_million_tokens) : nullptr},
         {"ttft_p90_ms", c.ttft_p90_ms},
         {"tpot_p99_ms", c.tpot_p99_ms},
         {"ttft_p90_interval_ms",
          c.feasible ? nlohmann::ordered_json({c.ttft_p90_low_ms, c.ttft_p90_high_ms}) : nullptr},
         {"tpot_p99_interval_ms",
          c.feasible ? nlohmann::ordered_json({c.tpot_p99_low_ms, c.tpot_p99_high_ms}) : nullptr},
         {"regime", c.regime},
         {"retention_attention", c.retention_attention},
         {"pareto", c.pareto},
         {"why", c.why}});
  }
  j["notes"] = notes;
  return j;
}

}  // namespace kvsim::sim
