#include "sim/planning/plan.h"

#include <algorithm>
#include <cmath>
#include <mutex>
#include <optional>
#include <thread>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <yaml-cpp/yaml.h>

#include "hw/hardware_loader.h"
#include "models/model_loader.h"
#include "sim/core/error.h"
#include "sim/core/parallel.h"
#include "sim/core/yaml.h"
#include "sim/metrics/error_bars.h"
#include "sim/planning/plan_prices.h"
#include "sim/planning/plan_runner.h"
#include "sim/run.h"
#include "sim/scenario.h"
#include "sim/serving/memory_plan.h"

namespace kvsim::sim {

namespace {

std::string bound_of(const nlohmann::ordered_json& j, const hw::HardwareProfile& h) {
  const double duration = std::max(1e-9, j["duration"].get<double>());
  const double pcie = static_cast<double>(j["pcie_h2d_bytes"].get<uint64_t>() + j["pcie_d2h_bytes"].get<uint64_t>()) /
                      duration / static_cast<double>(std::max<int64_t>(1, j["gpus"].get<int64_t>()));
  if (j["num_preemptions"].get<int64_t>() > 0 || j["mean_kv_block_usage"].get<double>() > 0.8) {
    return fmt::format("memory-bound (KV {:.0f} % full, {} preemptions)", j["mean_kv_block_usage"].get<double>() * 100,
                       j["num_preemptions"].get<int64_t>());
  }
  if (pcie > 0.3 * h.pcie.h2d_bytes_per_s) return fmt::format("PCIe-bound ({:.1f} GB/s per GPU)", pcie / 1e9);
  return fmt::format("compute-bound (KV {:.0f} % full)", j["mean_kv_block_usage"].get<double>() * 100);
}

// The engine knobs searched with each configuration: the cross product of --max-num-seqs and --chunked-prefill.
std::vector<std::vector<std::string>> knob_sets(const PlanRequest& req) {
  std::vector<std::vector<std::string>> sets = {{}};
  const auto cross = [&](const std::vector<std::string>& settings) {
    if (settings.empty()) return;
    std::vector<std::vector<std::string>> next;
    for (const auto& k : sets) {
      for (const std::string& v : settings) {
        next.push_back(k);
        next.back().push_back(v);
      }
    }
    sets = next;
  };
  std::vector<std::string> seqs, chunked;
  for (int64_t n : req.max_num_seqs) seqs.push_back(fmt::format("engine.max_num_seqs={}", n));
  for (bool b : req.chunked_prefill) chunked.push_back(fmt::format("engine.chunked_prefill={}", b ? "true" : "false"));
  cross(seqs);
  cross(chunked);
  return sets;
}

// engine.max_model_len from --set (0 = none); a malformed value is left for the scenario to reject by name.
int64_t cap_override(const std::vector<std::string>& overrides) {
  int64_t cap = 0;
  for (const std::string& o : overrides) {
    const size_t eq = o.find('=');
    if (eq == std::string::npos || o.substr(0, eq) != "engine.max_model_len") continue;
    try {
      cap = std::stoll(o.substr(eq + 1));
    } catch (const std::logic_error&) {
    }
  }
  return cap;
}

// The seeds' spread of p90 TTFT and p99 TPOT at the target rate, widened by kvsim's error in the regime.
void set_intervals(PlanCandidate& c, const std::vector<nlohmann::ordered_json>& seeds, double level) {
  const auto spread = [&](const char* key, double& low, double& high) {
    double lo = 1e300, hi = 0;
    for (const auto& j : seeds) {
      lo = std::min(lo, j[key].get<double>());
      hi = std::max(hi, j[key].get<double>());
    }
    const metrics::Interval in =
        metrics::prediction_interval(metrics::builtin_error_model(), key, c.regime, lo, hi, level);
    low = in.low;
    high = in.high;
  };
  c.regime = metrics::load_regime(seeds.back());
  spread("p90_ttft_ms", c.ttft_p90_low_ms, c.ttft_p90_high_ms);
  spread("p99_tpot_ms", c.tpot_p99_low_ms, c.tpot_p99_high_ms);
}

// A candidate that served the rate: its results at the target rate from the last check run, the seeds' intervals at
// `level`, and its bound.
void set_feasible(PlanCandidate& c, const std::vector<nlohmann::ordered_json>& checks, const hw::HardwareProfile& h,
                  double level) {
  const nlohmann::ordered_json& at_rate = checks.back();
  c.feasible = true;
  c.usd_per_million_tokens = at_rate.value("usd_per_million_tokens", 0.0);
  c.ttft_p90_ms = at_rate["p90_ttft_ms"].get<double>();
  c.tpot_p99_ms = at_rate["p99_tpot_ms"].get<double>();
  c.retention_attention = at_rate["retention_attention"].get<double>();
  set_intervals(c, checks, level);
  c.why = bound_of(at_rate, h);
}

struct Trial {
  size_t gpu = 0;
  int64_t tp = 1;
  std::string policy;
  std::vector<std::string> knobs;
};

std::string joined(const std::vector<std::string>& items, const std::string& empty) {
  if (items.empty()) return empty;
  return fmt::format("{}", fmt::join(items, ", "));
}

}  // namespace

PlanResult run_plan(const PlanRequest& request) {
  PlanRequest req = request;
  apply_set_price(req);
  if (!(req.rate > 0)) throw Error(Place{"--rate"}, fmt::format("expected a rate > 0 req/s, found {}", req.rate));
  check_plan_overrides(req.overrides);
  std::vector<hw::HardwareProfile> profiles;
  for (const std::string& gpu : req.gpus) {
    profiles.push_back(hw::load_hardware(gpu));
    std::string source;
    if (req.require_price && plan_gpu_usd_per_hour(req, gpu, profiles.back().gpu_hour_usd, &source) <= 0) {
      throw Error(Place{"--require-price"},
                  fmt::format("{} has no price (the catalog cites none): give one with --gpu-price {}=USD_PER_GPU_HOUR "
                              "or leave it out of --gpus",
                              gpu, gpu));
    }
  }
  const models::ModelSpec model = models::load_model(req.model);
  PlanResult result;
  result.request = req;
  result.traffic = resolve_plan_traffic(req, model.max_position_embeddings, cap_override(req.overrides));
  const PlanTraffic& traffic = result.traffic;
  const Runner run{req, traffic};

  // The search space, and why a parallelism is left out.
  const auto knobs = knob_sets(req);
  std::vector<Trial> trials;
  std::vector<std::string> gpu_lines;
  std::vector<std::vector<int64_t>> gpu_tps(req.gpus.size());  // the parallelisms that apply, per GPU
  for (size_t g = 0; g < req.gpus.size(); ++g) {
    std::vector<std::string> tps, skipped;
    for (int64_t tp : {1, 2, 4, 8}) {
      if (tp > req.max_gpus) {
        skipped.push_back(fmt::format("tp {} > --max-gpus {}", tp, req.max_gpus));
      } else if (tp > profiles[g].gpus_per_node) {
        skipped.push_back(fmt::format("tp {}: a node holds {} GPUs", tp, profiles[g].gpus_per_node));
      } else if (model.num_attention_heads % tp != 0) {
        skipped.push_back(fmt::format("tp {}: {} heads do not split", tp, model.num_attention_heads));
      } else {
        tps.push_back(std::to_string(tp));
        gpu_tps[g].push_back(tp);
        for (const std::string& policy : req.policies)
          for (const auto& k : knobs) trials.push_back(Trial{g, tp, policy, k});
      }
    }
    gpu_lines.push_back(fmt::format("{} (tp {}{}{})", req.gpus[g], joined(tps, "none"), skipped.empty() ? "" : "; ",
                                    joined(skipped, "")));
  }
  result.searched.push_back("gpus: " + joined(gpu_lines, "none"));
  result.searched.push_back(
      fmt::format("replicas: 1 up to --max-gpus {} GPUs per configuration (--max-gpus to change)", req.max_gpus));
  result.searched.push_back("policies: " + joined(req.policies, "none"));
  if (req.disaggregated) {
    result.searched.push_back(
        "disaggregated: each configuration also as P prefill replicas of its tp + D decode replicas of any tp above "
        "(engine v1, KV over the cluster topology), fewest GPUs first up to --max-gpus, the lowest p99 TPOT among "
        "the splits of the first size that serves the rate");
  }
  std::vector<std::string> seqs, chunked;
  for (int64_t n : req.max_num_seqs) seqs.push_back(std::to_string(n));
  for (bool b : req.chunked_prefill) chunked.push_back(b ? "on" : "off");
  result.searched.push_back("max_num_seqs: " + joined(seqs, "the engine's default"));
  result.searched.push_back("chunked prefill: " + joined(chunked, "the engine's default"));
  result.searched.push_back(fmt::format("context cap (engine.max_model_len): {} tokens, {}; {} of {} requests longer",
                                        traffic.context_cap, traffic.cap_source, traffic.clipped,
                                        traffic.checked_requests));
  if (run.trace_arrivals()) {
    result.searched.push_back(fmt::format(
        "arrivals: {}'s own ({} requests over {:.0f} s, {:.3g} req/s), time-scaled to each rate; searched on "
        "stretches of max({}, rate x {} s) requests x {} seeds at different offsets, checked on the whole trace at "
        "{:g} req/s ({:.0f} s)",
        req.trace, traffic.trace_requests, traffic.trace_span_s, traffic.trace_mean_rate, kMinSearchRequests,
        req.duration_s, req.seeds, req.rate, traffic.check_span_s));
  } else {
    result.searched.push_back(fmt::format(
        "arrivals: {} ({}), {} s x {} seeds per rate", traffic.arrivals.describe(),
        req.trace.empty() ? "lengths of " + (req.dataset.empty() ? std::string("--set workload") : req.dataset)
                          : "lengths of " + req.trace,
        req.duration_s, req.seeds));
  }
  const double mean_checked = traffic.check_span_s > 0 ? req.rate : 0;
  result.searched.push_back(fmt::format("sized for: {:g} req/s mean, {:.3g} req/s in the busiest minute ({:.2f} x)",
                                        req.rate, traffic.peak_minute_rate,
                                        mean_checked > 0 ? traffic.peak_minute_rate / mean_checked : 1.0));
  if (traffic.clipped > 0) {
    result.notes.push_back(
        fmt::format("{} of {} requests are longer than the context cap of {} tokens ({}) and are "
                    "clipped to it",
                    traffic.clipped, traffic.checked_requests, traffic.context_cap, traffic.cap_source));
  }

  const int64_t check_seeds = run.trace_arrivals() ? 1 : req.seeds;  // a trace replayed whole is one run
  const int64_t steps = static_cast<int64_t>(trials.size()) * (req.seeds + 1);
  std::mutex mutex;  // the progress callback
  int64_t done = 0;
  const auto progress = [&](const Trial& t, int64_t add) {
    std::lock_guard<std::mutex> lock(mutex);
    done += add;
    if (req.progress) req.progress(done, steps, fmt::format("{} tp {} {}", req.gpus[t.gpu], t.tp, t.policy));
  };
  // One configuration: its candidates (the disaggregated split first, when asked), seeds + 1 progress steps.
  const auto evaluate = [&](const Trial& t) {
    std::vector<PlanCandidate> out;
    int64_t reported = 0;
    const std::string& gpu = req.gpus[t.gpu];
    const hw::HardwareProfile& h = profiles[t.gpu];
    PlanCandidate c;
    c.gpu = gpu;
    c.tp = t.tp;
    c.policy = t.policy;
    c.gpu_usd_per_hour = plan_gpu_usd_per_hour(req, gpu, h.gpu_hour_usd, &c.price_source);
    for (const std::string& k : t.knobs) {
      if (!c.knobs.empty()) c.knobs += ' ';
      c.knobs.append(k, k.find('.') + 1, std::string::npos);
    }
    progress(t, 0);
    const std::string base = run.base_yaml(gpu, t.tp, t.policy, t.knobs, c.gpu_usd_per_hour);
    const auto finish = [&](const std::string& why) {
      c.why = why;
      out.push_back(c);
      progress(t, req.seeds + 1 - reported);
      return out;
    };
    std::optional<ReplicaScreen> screen;
    try {
      const Scenario one = run.scenario(base, req.rate, 1, 1);
      screen.emplace(one, plan_memory(one), traffic, req.slo);
    } catch (const Error& e) {
      return finish(std::string("does not fit: ") + e.what());
    }
    if (req.disaggregated) {
      // The same configuration split into prefill and decode pools, beside the colocated one.
      PlanCandidate d = c;
      d.disaggregated = true;
      std::string why;
      std::vector<nlohmann::ordered_json> checks;
      try {
        checks = search_disaggregated(run, base, t.tp, gpu_tps[t.gpu], check_seeds, d, why);
      } catch (const Error& e) {
        why = std::string("cannot be disaggregated: ") + e.what();
      }
      if (checks.empty()) {
        d.why = why;
      } else {
        set_feasible(d, checks, h, req.confidence > 0 ? req.confidence : 0.9);
      }
      out.push_back(d);
    }
    // Screened: the least a replica must sustain to serve the rate within --max-gpus, checked by the mean-value
    // bounds before any run.
    const int64_t most_replicas = req.max_gpus / t.tp;
    if (const std::string why = screen->check(req.rate / static_cast<double>(most_replicas)); !why.empty()) {
      return finish(fmt::format("needs more than --max-gpus {} GPUs: {} (screened, not simulated)", req.max_gpus, why));
    }
    // The first seed searches from scratch, the others from its answer.
    double lowest = 1e300, highest = 0, first = 0;
    for (int64_t seed = 1; seed <= req.seeds; ++seed) {
      const double r = run.replica_rate(base, seed, first, &*screen);
      if (seed == 1) first = r;
      lowest = std::min(lowest, r);
      highest = std::max(highest, r);
      ++reported;
      progress(t, 1);
    }
    c.replica_rate = lowest;
    c.replica_rate_max = highest;
    if (lowest <= 0) return finish("cannot meet the SLO even at low load");
    // Replicas for the target rate, checked on the whole cluster at that rate (every seed).
    int64_t n = static_cast<int64_t>(std::ceil(req.rate / lowest - 1e-9));
    nlohmann::ordered_json at_rate;
    std::vector<nlohmann::ordered_json> seeds_at_rate;
    while (n * t.tp <= req.max_gpus) {
      bool ok = true;
      seeds_at_rate.clear();
      for (int64_t seed = 1; seed <= check_seeds && ok; ++seed) {
        ok = run.sustains(base, req.rate, n, seed, &at_rate, true);
        seeds_at_rate.push_back(at_rate);
      }
      if (ok) break;
      ++n;
    }
    if (n * t.tp > req.max_gpus) {
      return finish(fmt::format("needs more than --max-gpus {} GPUs ({:.3g} req/s per replica)", req.max_gpus, lowest));
    }
    c.replicas = n;
    set_feasible(c, seeds_at_rate, h, req.confidence > 0 ? req.confidence : 0.9);
    return finish(c.why);
  };
  // Configurations on --jobs threads; their candidates are kept in the search's order, whatever finishes first.
  std::vector<std::vector<PlanCandidate>> outcomes(trials.size());
  const int jobs = req.jobs > 0 ? req.jobs : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  parallel_for(trials.size(), jobs, [&](size_t k) { outcomes[k] = evaluate(trials[k]); });
  for (auto& o : outcomes) result.candidates.insert(result.candidates.end(), o.begin(), o.end());
  if (req.progress) req.progress(steps, steps, "done");
  // Why each GPU type without a feasible configuration lost, in one line.
  for (const std::string& gpu : req.gpus) {
    std::vector<std::string> whys;
    bool any = false;
    for (const PlanCandidate& c : result.candidates) {
      if (c.gpu != gpu) continue;
      any = any || c.feasible;
      const std::string why = c.why.starts_with("does not fit") ? "does not fit" : c.why;
      whys.push_back(fmt::format("tp {}{}: {}", c.tp, c.knobs.empty() ? "" : " " + c.knobs, why));
    }
    if (!any)
      result.notes.push_back(fmt::format("{}: no configuration serves {:g} req/s: {}", gpu, req.rate,
                                         joined(whys, "no parallelism applies (see gpus above)")));
  }
  rank_plan_candidates(result);
  const auto& cs = result.candidates;
  if (result.best && cs[*result.best].retention_attention < 1.0) {
    result.notes.push_back(fmt::format(
        "the cheapest, {}, drops or skips tokens: it keeps {:.2f} of the attention mass under kvsim's synthetic "
        "proxy (an assumption, not a measurement of quality)",
        cs[*result.best].policy, cs[*result.best].retention_attention));
  }
  return result;
}

}  // namespace kvsim::sim
