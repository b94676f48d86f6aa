// kvsim plan --disaggregated (plan_runner.h): a configuration split into prefill and decode pools.
#include <limits>

#include "sim/planning/plan_runner.h"

namespace kvsim::sim {

std::vector<nlohmann::ordered_json> search_disaggregated(const Runner& run, const std::string& base, int64_t tp,
                                                         int64_t check_seeds, PlanCandidate& c, std::string& why) {
  const PlanRequest& req = run.req;
  // Fewest replicas first (the fleet's cost), two at the least: one per pool. Within a size every split is checked,
  // and the lowest p99 TPOT on the worst seed wins (ties: fewer prefill replicas).
  for (int64_t n = 2; n * tp <= req.max_gpus; ++n) {
    std::vector<nlohmann::ordered_json> best;
    double best_tpot = std::numeric_limits<double>::infinity();
    for (int64_t p = 1; p < n; ++p) {
      std::vector<nlohmann::ordered_json> seeds;
      bool ok = true;
      double worst_tpot = 0;
      for (int64_t seed = 1; seed <= check_seeds && ok; ++seed) {
        nlohmann::ordered_json at_rate;
        ok = run.sustains(base, req.rate, n, seed, &at_rate, true, p);
        worst_tpot = std::max(worst_tpot, at_rate["p99_tpot_ms"].get<double>());
        seeds.push_back(std::move(at_rate));
      }
      if (ok && worst_tpot < best_tpot) {
        best_tpot = worst_tpot;
        best = std::move(seeds);
        c.replicas = n;
        c.prefill_replicas = p;
      }
    }
    if (!best.empty()) {
      c.replica_rate = c.replica_rate_max = 0;  // no single replica serves requests alone
      c.ttft_p90_ms = best.back()["p90_ttft_ms"].get<double>();
      c.tpot_p99_ms = best.back()["p99_tpot_ms"].get<double>();
      return best;
    }
  }
  why = 2 * tp > req.max_gpus
            ? fmt::format("a split needs 2 replicas of tp {}: more than --max-gpus {}", tp, req.max_gpus)
            : fmt::format("no prefill:decode split within --max-gpus {} serves {:g} req/s", req.max_gpus, req.rate);
  return {};
}

}  // namespace kvsim::sim
