// kvsim plan --disaggregated (plan_runner.h): a configuration split into prefill and decode pools.
#include <limits>
#include <tuple>

#include "sim/planning/plan_runner.h"

namespace kvsim::sim {

std::vector<nlohmann::ordered_json> search_disaggregated(const Runner& run, const std::string& base, int64_t tp,
                                                         const std::vector<int64_t>& decode_tps, int64_t check_seeds,
                                                         PlanCandidate& c, std::string& why) {
  const PlanRequest& req = run.req;
  // Every split within --max-gpus, fewest GPUs first (the fleet's cost); at the first GPU count where some split
  // sustains the rate on every seed, the one with the lowest p99 TPOT on its worst seed wins (ties: the first found,
  // fewer replicas and fewer prefill replicas first).
  struct Split {
    int64_t gpus, prefill, decode, decode_tp;
  };
  std::vector<Split> splits;
  for (int64_t dtp : decode_tps) {
    for (int64_t p = 1; p * tp + dtp <= req.max_gpus; ++p) {
      for (int64_t d = 1; p * tp + d * dtp <= req.max_gpus; ++d) splits.push_back({p * tp + d * dtp, p, d, dtp});
    }
  }
  std::stable_sort(splits.begin(), splits.end(), [](const Split& a, const Split& b) {
    return std::tie(a.gpus, a.decode, a.prefill) < std::tie(b.gpus, b.decode, b.prefill);
  });
  std::vector<nlohmann::ordered_json> best;
  double best_tpot = std::numeric_limits<double>::infinity();
  for (size_t i = 0; i < splits.size(); ++i) {
    const Split& s = splits[i];
    if (!best.empty() && s.gpus > c.gpus()) break;  // a cheaper size served the rate
    std::vector<nlohmann::ordered_json> seeds;
    bool ok = true;
    double worst_tpot = 0;
    for (int64_t seed = 1; seed <= check_seeds && ok; ++seed) {
      nlohmann::ordered_json at_rate;
      ok = run.sustains(base, req.rate, s.prefill + s.decode, seed, &at_rate, true, s.prefill, s.decode_tp);
      worst_tpot = std::max(worst_tpot, at_rate["p99_tpot_ms"].get<double>());
      seeds.push_back(std::move(at_rate));
    }
    if (ok && worst_tpot < best_tpot) {
      best_tpot = worst_tpot;
      best = std::move(seeds);
      c.replicas = s.prefill + s.decode;
      c.prefill_replicas = s.prefill;
      c.decode_tp = s.decode_tp;
    }
  }
  if (!best.empty()) {
    c.replica_rate = c.replica_rate_max = 0;  // no single replica serves requests alone
    return best;
  }
  why = splits.empty()
            ? fmt::format("a split needs 2 replicas, one of tp {}: more than --max-gpus {}", tp, req.max_gpus)
            : fmt::format("no prefill:decode split within --max-gpus {} serves {:g} req/s", req.max_gpus, req.rate);
  return {};
}

}  // namespace kvsim::sim
