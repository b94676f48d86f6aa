// kvsim plan: the cheapest configuration that serves a rate within an SLO (sim/planning/plan.h).
#include <algorithm>

#include <unistd.h>

#include <fmt/format.h>

#include "apps/commands.h"
#include "apps/progress.h"
#include "sim/planning/plan.h"
#include "sim/planning/plan_prices.h"

namespace kvsim::app {

int cmd_plan(const PlanArgs& args, std::ostream& out, std::ostream& err) {
  sim::PlanRequest r;
  r.model = args.model;
  r.rate = args.rate;
  r.slo = sim::parse_plan_slo(args.slo);
  if (!args.workload.empty()) r.trace = args.workload;
  r.arrival = args.arrival;
  r.confidence = args.confidence;
  if (!args.dataset.empty()) r.dataset = args.dataset;
  if (!args.gpus.empty()) r.gpus = args.gpus;
  if (!args.policies.empty()) r.policies = args.policies;
  r.max_gpus = args.max_gpus;
  r.disaggregated = args.disaggregated;
  r.duration_s = args.duration_s;
  r.seeds = args.seeds;
  r.jobs = args.jobs;
  r.overrides = args.overrides;
  r.gpu_usd_per_hour = sim::parse_gpu_prices(args.gpu_price, r.gpus);
  r.require_price = args.require_price;
  r.max_num_seqs = args.max_num_seqs;
  for (const std::string& c : args.chunked_prefill) r.chunked_prefill.push_back(c == "on");
  ProgressLine bar(err, "kvsim plan", args.progress, ::isatty(STDERR_FILENO) != 0);
  if (bar.enabled()) {
    r.progress = [&bar](int64_t done, int64_t total, const std::string& what) { bar.update(done, total, what); };
  }
  const sim::PlanResult p = sim::run_plan(r);
  if (args.format == "json") {
    out << p.to_json().dump(2) << "\n";
    return p.best ? 0 : 1;
  }
  out << fmt::format("kvsim plan: {} at {} req/s, SLO {}\n", r.model, r.rate, args.slo);
  for (const std::string& line : p.searched) out << "  " << line << "\n";
  const double level = r.confidence > 0 ? r.confidence : 0.9;
  out << fmt::format("{:<16} {:>3} {:>8} {:<14} {:>17} {:>9} {:>9} {:>21} {:>19} {:>8}  {}\n", "gpu", "tp", "replicas",
                     "policy", "req/s per replica", "$/GPU-h", "$/hour", "p90 TTFT ms [interval]",
                     "p99 TPOT ms [intv.]", "retain", "bound / why not");
  // The policy column: the policy, a disaggregated split ("1P:3D") and the engine knobs searched.
  const auto label = [](const sim::PlanCandidate& c) {
    std::string l = c.policy;
    if (c.disaggregated) {
      l += c.feasible ? fmt::format(" {}P:{}D", c.prefill_replicas, c.replicas - c.prefill_replicas) : " P:D";
      if (c.feasible && c.decode_tp != c.tp) l += fmt::format(" (decode tp {})", c.decode_tp);
    }
    return c.knobs.empty() ? l : l + " " + c.knobs;
  };
  for (const auto& c : p.candidates) {
    const std::string range =
        c.replica_rate > 0 ? fmt::format("{:.3g}-{:.3g}", c.replica_rate, c.replica_rate_max) : "-";
    const bool priced = c.gpu_usd_per_hour > 0;
    // The fleet's cost (replicas x tp x $/GPU-hour); an unpriced GPU shows "unpriced", never $0.00.
    const std::string gpu_h = priced ? fmt::format("{:.4g}", c.gpu_usd_per_hour) : "unpriced";
    if (c.feasible) {
      out << fmt::format("{:<16} {:>3} {:>8} {:<14} {:>17} {:>9} {:>9} {:>21} {:>19} {:>8.3f}  {}{}\n", c.gpu, c.tp,
                         c.replicas, label(c), range, gpu_h,
                         priced ? fmt::format("{:.2f}", c.usd_per_hour) : "unpriced",
                         fmt::format("{:.4g} [{:.3g}-{:.3g}]", c.ttft_p90_ms, c.ttft_p90_low_ms, c.ttft_p90_high_ms),
                         fmt::format("{:.4g} [{:.3g}-{:.3g}]", c.tpot_p99_ms, c.tpot_p99_low_ms, c.tpot_p99_high_ms),
                         c.retention_attention, c.why, c.pareto ? " [Pareto]" : "");
    } else {
      out << fmt::format("{:<16} {:>3} {:>8} {:<14} {:>17} {:>9} {:>9} {:>21} {:>19} {:>8}  {}\n", c.gpu, c.tp, "-",
                         label(c), range, gpu_h, "-", "-", "-", "-", c.why);
    }
  }
  if (p.best) {
    const auto& b = p.candidates[*p.best];
    out << fmt::format("cheapest: {} x {} {} (tp {}, {} GPUs) with {}: ${:.2f}/hour, ${:.3f} per million tokens\n",
                       b.replicas, b.gpu, b.tp > 1 ? "groups" : "GPUs", b.tp, b.gpus(), label(b), b.usd_per_hour,
                       b.usd_per_million_tokens);
  } else {
    const bool unpriced =
        std::any_of(p.candidates.begin(), p.candidates.end(), [](const sim::PlanCandidate& c) { return c.feasible; });
    out << (unpriced ? "no priced configuration serves this rate within the SLO and --max-gpus (see the unpriced)\n"
                     : "no configuration serves this rate within the SLO and --max-gpus\n");
  }
  for (const auto& n : p.notes) out << "note: " << n << "\n";
  out << "[Pareto]: no other configuration is both cheaper and lower in p99 TPOT; req/s per replica spans the seeds\n";
  out << fmt::format(
      "[interval]: {:.0f} % prediction interval: the seeds' spread widened by kvsim's error against measured "
      "runs in the load regime (kvsim validate --error-model); {}\n",
      100 * level,
      r.confidence > 0 ? "every SLO was met at the interval's pessimistic end (--confidence)"
                       : "the SLOs were met by the prediction (--confidence 0.9 sizes against the "
                         "interval's pessimistic end)");
  return p.best ? 0 : 1;
}

}  // namespace kvsim::app
