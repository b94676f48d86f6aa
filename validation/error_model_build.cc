#include "validation/error_model_build.h"

#include "sim/run.h"
#include "sim/scenario.h"

namespace kvsim::validation {

metrics::ErrorModel build_error_model(const std::vector<Case>& cases) {
  metrics::ErrorModel model;
  for (const Case& c : cases) {
    if (c.kind != "measured" || c.command != "run") continue;
    const sim::RunResult run = sim::run_scenario(sim::parse_scenario(c.scenario_text.fresh(), c.scenario_name, {}), "");
    const std::string regime = metrics::load_regime(run.summary);
    const auto add = [&](const std::string& metric, double measured) {
      if (metrics::error_family(metric).empty()) return;
      const auto it = run.summary.find(metric);
      if (it == run.summary.end() || !it->is_number() || !(it->get<double>() > 0) || !(measured > 0)) return;
      model.residuals.push_back(metrics::Residual{c.name, metric, regime, measured, it->get<double>()});
    };
    for (const Expectation& e : c.expect) {
      if (e.value) add(e.metric, *e.value);
    }
    for (const auto& [metric, value] : c.reference) add(metric, value);
  }
  return model;
}

Coverage interval_coverage(const metrics::ErrorModel& model, double level) {
  Coverage cov;
  for (const metrics::Residual& r : model.residuals) {
    const metrics::Interval in =
        metrics::prediction_interval(model, r.metric, r.regime, r.predicted, r.predicted, level);
    ++cov.values;
    if (r.measured >= in.low && r.measured <= in.high) ++cov.inside;
    const metrics::Interval loo =
        metrics::prediction_interval(model, r.metric, r.regime, r.predicted, r.predicted, level, r.case_name);
    if (loo.residuals == 0) continue;
    ++cov.values_loo;
    if (r.measured >= loo.low && r.measured <= loo.high) ++cov.inside_loo;
  }
  return cov;
}

}  // namespace kvsim::validation
