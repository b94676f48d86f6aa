#include "sim/planning/plan.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "hw/hardware_loader.h"
#include "models/model_loader.h"
#include "sim/core/error.h"
#include "sim/core/yaml.h"
#include "sim/planning/plan_prices.h"
#include "sim/run.h"
#include "sim/scenario.h"
#include "sim/serving/memory_plan.h"

namespace kvsim::sim {

namespace {

struct Runner {
  const PlanRequest& req;
  int64_t model_context = 8192;

  int64_t expected_requests(double rate) const {
    return std::max<int64_t>(1, static_cast<int64_t>(rate * req.duration_s));
  }

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
    // A serving context, not the model's full one (vLLM users set --max-model-len): prompts beyond it are clipped;
    // --set engine.max_model_len=N changes it.
    n["engine"]["max_model_len"] = std::min<int64_t>(model_context, 8192);
    yaml::Source source;
    for (const std::string& k : knobs) yaml::apply_override(n, k, source);  // engine.KEY=VALUE
    // The v0 engine is the one that runs without chunked prefill.
    if (std::find(knobs.begin(), knobs.end(), "engine.chunked_prefill=false") != knobs.end()) {
      n["engine"]["version"] = "v0";
    }
    YAML::Node w;
    w["duration_s"] = req.duration_s;
    w["arrival"]["process"] = "poisson";
    w["arrival"]["rate"] = 1.0;
    if (!req.trace.empty()) {
      w["prompt_tokens"]["dist"] = "empirical";
      w["prompt_tokens"]["file"] = req.trace;
      w["output_tokens"]["dist"] = "empirical";
      w["output_tokens"]["file"] = req.trace;
    } else if (!req.dataset.empty()) {
      w["dataset"] = req.dataset;
    }  // else: the lengths come from --set workload.prompt_tokens / output_tokens
    w["clip_to_context"] = true;
    n["workload"] = w;
    YAML::Emitter e;
    e << n;
    return e.c_str();
  }

  Scenario scenario(const std::string& base, double rate, int64_t replicas, int64_t seed) const {
    std::vector<std::string> o = req.overrides;
    o.push_back(fmt::format("workload.arrival.rate={}", rate));
    o.push_back(fmt::format("cluster.replicas={}", replicas));
    o.push_back(fmt::format("seed={}", seed));
    o.push_back(fmt::format("slo.warmup_requests={}", expected_requests(rate) / 10));
    return parse_scenario(YAML::Load(base), "<kvsim plan>", o);
  }

  // Whether the configuration sustains `rate` with `replicas` on `seed`; `summary` gets the run's.
  bool sustains(const std::string& base, double rate, int64_t replicas, int64_t seed,
                nlohmann::ordered_json* summary = nullptr) const {
    const RunResult r = run_scenario(scenario(base, rate, replicas, seed), "");
    if (summary) *summary = r.summary;
    const auto& j = r.summary;
    if (j["rejected"].get<int64_t>() > 0 || j["completed"].get<int64_t>() == 0) return false;
    // The queue does not grow over the arrivals: at the last one, few requests wait for admission.
    const int64_t arrived = j["completed"].get<int64_t>();
    if (j["waiting_at_last_arrival"].get<int64_t>() > std::max<int64_t>(2 * replicas, arrived / 20)) return false;
    for (const PlanSlo& s : req.slo) {
      if (!j.contains(s.summary_key) || j[s.summary_key].get<double>() > s.limit_ms) return false;
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

}  // namespace

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

PlanResult run_plan(const PlanRequest& req) {
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
  const Runner run{req, model.max_position_embeddings};
  for (size_t g = 0; g < req.gpus.size(); ++g) {
    const std::string& gpu = req.gpus[g];
    const hw::HardwareProfile& h = profiles[g];
    std::string price_source;
    const double gpu_usd_per_hour = plan_gpu_usd_per_hour(req, gpu, h.gpu_hour_usd, &price_source);
    for (int64_t tp : {1, 2, 4, 8}) {
      if (tp > req.max_gpus || tp > h.gpus_per_node || model.num_attention_heads % tp != 0) continue;
      std::vector<std::vector<std::string>> knob_sets = {{}};
      const auto cross = [&](const std::vector<std::string>& settings) {
        if (settings.empty()) return;
        std::vector<std::vector<std::string>> next;
        for (const auto& k : knob_sets) {
          for (const std::string& v : settings) {
            next.push_back(k);
            next.back().push_back(v);
          }
        }
        knob_sets = next;
      };
      std::vector<std::string> seqs, chunked;
      for (int64_t n : req.max_num_seqs) seqs.push_back(fmt::format("engine.max_num_seqs={}", n));
      for (bool b : req.chunked_prefill)
        chunked.push_back(fmt::format("engine.chunked_prefill={}", b ? "true" : "false"));
      cross(seqs);
      cross(chunked);
      for (const std::string& policy : req.policies)
        for (const auto& knobs : knob_sets) {
          PlanCandidate c;
          c.gpu = gpu;
          c.tp = tp;
          c.policy = policy;
          c.gpu_usd_per_hour = gpu_usd_per_hour;
          c.price_source = price_source;
          for (const std::string& k : knobs) {
            if (!c.knobs.empty()) c.knobs += ' ';
            c.knobs.append(k, k.find('.') + 1, std::string::npos);
          }
          const std::string base = run.base_yaml(gpu, tp, policy, knobs, gpu_usd_per_hour);
          try {
            plan_memory(run.scenario(base, req.rate, 1, 1));
          } catch (const Error& e) {
            c.why = std::string("does not fit: ") + e.what();
            result.candidates.push_back(c);
            continue;
          }
          double lowest = 1e300, highest = 0;
          for (int64_t seed = 1; seed <= req.seeds; ++seed) {
            const double r = run.replica_rate(base, seed);
            lowest = std::min(lowest, r);
            highest = std::max(highest, r);
          }
          c.replica_rate = lowest;
          c.replica_rate_max = highest;
          if (lowest <= 0) {
            c.why = "cannot meet the SLO even at low load";
            result.candidates.push_back(c);
            continue;
          }
          // Replicas for the target rate, checked on the whole cluster at that rate (every seed).
          int64_t n = static_cast<int64_t>(std::ceil(req.rate / lowest - 1e-9));
          nlohmann::ordered_json at_rate;
          while (n * tp <= req.max_gpus) {
            bool ok = true;
            for (int64_t seed = 1; seed <= req.seeds && ok; ++seed)
              ok = run.sustains(base, req.rate, n, seed, &at_rate);
            if (ok) break;
            ++n;
          }
          if (n * tp > req.max_gpus) {
            c.why = fmt::format("needs more than --max-gpus {} GPUs ({:.3g} req/s per replica)", req.max_gpus, lowest);
            result.candidates.push_back(c);
            continue;
          }
          c.feasible = true;
          c.replicas = n;
          c.usd_per_million_tokens = at_rate.value("usd_per_million_tokens", 0.0);
          c.ttft_p90_ms = at_rate["p90_ttft_ms"].get<double>();
          c.tpot_p99_ms = at_rate["p99_tpot_ms"].get<double>();
          c.retention_attention = at_rate["retention_attention"].get<double>();
          c.why = bound_of(at_rate, h);
          result.candidates.push_back(c);
        }
    }
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

nlohmann::ordered_json PlanResult::to_json() const {
  nlohmann::ordered_json j;
  j["model"] = request.model;
  j["rate"] = request.rate;
  j["duration_s"] = request.duration_s;
  nlohmann::ordered_json slo;
  for (const auto& s : request.slo) slo[s.key] = s.limit_ms;
  j["slo"] = slo;
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
         {"gpus", c.replicas * c.tp},
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
         {"retention_attention", c.retention_attention},
         {"pareto", c.pareto},
         {"why", c.why}});
  }
  j["notes"] = notes;
  return j;
}

}  // namespace kvsim::sim
