// kvsim plan's screen (plan_runner.h): the mean-value bounds a replica must meet to sustain a rate, checked before
// any simulation. Little's law on the decode phase alone gives the fewest requests decoding at once, N = rate x mean
// output x step(N), where step(N) is the cost model's decode step of N sequences that hold only their prompts (the
// least a running request holds; prefill time and queueing, which only add to N, are left out). Every term is a lower
// bound of what the simulation would see, so the screen rejects only configurations that cannot sustain the rate:
// N above max_num_seqs, N prompts beyond the KV pool, or a step at N above a p90-or-higher TPOT or ITL SLO (each
// request's mean gap is at least its steps'; the percentiles of those are at least the typical step).
#include <cmath>

#include <fmt/format.h>

#include "models/cost_model.h"
#include "sim/planning/plan_runner.h"
#include "sim/run.h"
#include "sim/serving/memory_plan.h"

namespace kvsim::sim {

ReplicaScreen::ReplicaScreen(const Scenario& s, const PlanTraffic& traffic, const std::vector<PlanSlo>& slo)
    : prompt_tokens_(static_cast<int64_t>(std::floor(traffic.mean_prompt_tokens))),
      output_tokens_(traffic.mean_output_tokens),
      max_num_seqs_(s.engine.max_num_seqs),
      window_(s.model.sliding_window) {
  // Engines and policies whose steps the uniform decode batch prices from below and whose requests hold every token:
  // vLLM's engines keeping the full KV on the GPU. Others (static batches, dropped or offloaded tokens) are not
  // screened.
  const CacheConfig& c = s.cache;
  active_ = (s.engine.version == "v1" || s.engine.version == "v0") && c.retention == "full" && c.selection == "all" &&
            c.placement != "offload" && output_tokens_ > 0;
  if (!active_) return;
  const MemoryPlan plan = plan_memory(s);
  active_ = !plan.offload && !plan.kv_on_host;
  // Shared prefixes are held once for many requests: no KV bound then.
  kv_tokens_ = traffic.shares_prefixes ? 0 : plan.kv_capacity_tokens();
  cost_ = std::make_shared<models::CostModel>(s.model, s.hardware, exec_config(s));
  for (const PlanSlo& o : slo) {
    const bool per_token = o.key.starts_with("tpot_") || o.key.starts_with("itl_");
    if (per_token && !o.key.starts_with("tpot_p50") && !o.key.starts_with("itl_p50")) {
      step_limit_ms_ = step_limit_ms_ > 0 ? std::min(step_limit_ms_, o.limit_ms) : o.limit_ms;
      step_limit_key_ = o.key;
    }
  }
}

double ReplicaScreen::step_ms(int64_t seqs) const {
  const models::BatchShape b =
      models::BatchShape::uniform(seqs, 1, std::max<int64_t>(1, prompt_tokens_), true, window_);
  return static_cast<double>(cost_->iteration_ns(b)) / 1e6;
}

std::string ReplicaScreen::check(double rate) const {
  if (!active_ || !(rate > 0)) return "";
  // The least fixed point of N = rate x output x step(N), from one sequence up (step grows with N).
  int64_t n = 1;
  for (;;) {
    if (n > max_num_seqs_) {
      return fmt::format("at {:.3g} req/s at least {} requests decode at once (Little's law), above max_num_seqs {}",
                         rate, n, max_num_seqs_);
    }
    if (kv_tokens_ > 0 && n * (prompt_tokens_ + 1) > kv_tokens_) {
      return fmt::format(
          "at {:.3g} req/s at least {} requests decode at once (Little's law), whose prompts alone "
          "({} tokens each) exceed the {} tokens of KV",
          rate, n, prompt_tokens_, kv_tokens_);
    }
    const double need = rate * output_tokens_ * step_ms(n) / 1e3;
    if (need <= static_cast<double>(n)) break;
    n = static_cast<int64_t>(std::ceil(need));
  }
  if (step_limit_ms_ > 0) {
    const double step = step_ms(n);
    if (step > step_limit_ms_) {
      return fmt::format("at {:.3g} req/s a decode step of its {} requests takes {:.3g} ms, above {} = {:g}", rate, n,
                         step, step_limit_key_, step_limit_ms_);
    }
  }
  return "";
}

}  // namespace kvsim::sim
