// kvsim plan's screen (plan_runner.h): the mean-value bounds a replica must meet to sustain a rate, checked before
// any simulation. Little's law on the decode phase alone gives the fewest requests decoding at once, N = rate x mean
// decode steps (output - 1: the first token comes from the prefill) x step(N), where step(N) is the cost model's
// decode step of N sequences each holding the prompt a decoding request holds on average (prompts weighted by their
// decode steps, so that long prompts with short outputs count for their short stay). Prefill time and queueing, which
// only add to N, are left out. The screen rejects a rate when N exceeds max_num_seqs, when N such prompts exceed the
// KV pool, or when the step at N exceeds a p90-or-higher TPOT or ITL SLO (each request's mean gap is at least its
// steps'). A finite run may pass a little above the steady state that Little's law describes (Runner::sustains leaves
// the first tenth of the requests out of the percentiles and accepts 5 % of the arrivals still waiting at the last),
// and a seed's lengths differ from the check stream's by sampling noise: the bounds are applied to kScreenShare of the
// rate asked. Only what the uniform decode batch prices from below is screened: vLLM's engines keeping every token of
// full-attention layers on the GPU, with lengths drawn from the stream the means come from (not a trace's windows)
// and nothing clipped.
#include <cmath>

#include <fmt/format.h>

#include "models/cost_model.h"
#include "sim/planning/plan_runner.h"
#include "sim/run.h"

namespace kvsim::sim {

namespace {
// The share of a rate the bounds are applied to: 10 % below it, twice the 5 % backlog a sustained run may end with.
constexpr double kScreenShare = 0.9;
}  // namespace

ReplicaScreen::ReplicaScreen(const Scenario& s, const MemoryPlan& plan, const PlanTraffic& traffic,
                             const std::vector<PlanSlo>& slo)
    : decoding_prompt_tokens_(static_cast<int64_t>(std::floor(traffic.decoding_prompt_tokens))),
      mean_decode_steps_(traffic.mean_decode_steps),
      max_num_seqs_(s.engine.max_num_seqs) {
  const CacheConfig& c = s.cache;
  active_ = (s.engine.version == "v1" || s.engine.version == "v0") && c.retention == "full" && c.selection == "all" &&
            c.placement == "gpu" && s.model.sliding_window == 0 && mean_decode_steps_ > 0 &&
            traffic.arrivals.process != "trace" && traffic.clipped == 0;
  if (!active_) return;
  active_ = !plan.offload && !plan.kv_on_host && plan.sliding_groups == 0 && plan.state_groups == 0;
  // Shared prefixes are held once for many requests: no KV bound then.
  kv_tokens_ = traffic.shares_prefixes ? 0 : plan.kv_capacity_tokens();
  cost_ = std::make_shared<models::CostModel>(s.model, s.hardware, exec_config(s));
  for (const PlanSlo& o : slo) {
    const bool per_token = o.key.starts_with("tpot_") || o.key.starts_with("itl_");
    if (!per_token || o.key.ends_with("_p50_ms")) continue;
    if (step_limit_ms_ == 0 || o.limit_ms < step_limit_ms_) {
      step_limit_ms_ = o.limit_ms;
      step_limit_key_ = o.key;
    }
  }
}

double ReplicaScreen::step_ms(int64_t seqs) const {
  const models::BatchShape b =
      models::BatchShape::uniform(seqs, 1, std::max<int64_t>(1, decoding_prompt_tokens_), true, 0);
  return static_cast<double>(cost_->iteration_ns(b)) / 1e6;
}

std::string ReplicaScreen::check(double rate_req_per_s) const {
  if (!active_ || !(rate_req_per_s > 0)) return "";
  const double rate = kScreenShare * rate_req_per_s;
  // The least fixed point of N = rate x decode steps x step(N), from one sequence up (step grows with N).
  int64_t n = 1;
  for (;;) {
    if (n > max_num_seqs_) {
      return fmt::format(
          "at {:.3g} req/s at least {} requests decode at once (Little's law at {:.0f} % of the rate), "
          "above max_num_seqs {}",
          rate_req_per_s, n, kScreenShare * 100, max_num_seqs_);
    }
    if (kv_tokens_ > 0 && n * (decoding_prompt_tokens_ + 1) > kv_tokens_) {
      return fmt::format(
          "at {:.3g} req/s at least {} requests decode at once (Little's law at {:.0f} % of the rate), "
          "whose prompts alone ({} tokens each on average) exceed the {} tokens of KV",
          rate_req_per_s, n, kScreenShare * 100, decoding_prompt_tokens_, kv_tokens_);
    }
    const double need = rate * mean_decode_steps_ * step_ms(n) / 1e3;
    if (need <= static_cast<double>(n)) break;
    n = static_cast<int64_t>(std::ceil(need));
  }
  if (step_limit_ms_ > 0) {
    const double step = step_ms(n);
    if (step > step_limit_ms_) {
      return fmt::format(
          "at {:.3g} req/s a decode step of the {} requests decoding at once (Little's law at {:.0f} % "
          "of the rate) takes {:.3g} ms, above {} = {:g}",
          rate_req_per_s, n, kScreenShare * 100, step, step_limit_key_, step_limit_ms_);
    }
  }
  return "";
}

}  // namespace kvsim::sim
