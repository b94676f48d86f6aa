#include "validation/runner.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "hw/hardware_loader.h"
#include "hw/transfer.h"
#include "models/cost_model.h"
#include "models/model_loader.h"
#include "sim/core/limits.h"
#include "sim/core/units.h"
#include "sim/core/yaml.h"
#include "sim/run.h"
#include "sim/scenario.h"

namespace kvsim::validation {

namespace {

yaml::Map args_map(const Case& c) {
  auto source = std::make_shared<yaml::Source>();
  source->file = c.file;
  return yaml::Map(c.args, source, "args");
}

void add_numbers(const nlohmann::ordered_json& j, const std::string& prefix, Metrics& m) {
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it->is_number()) m[prefix + it.key()] = it->get<double>();
  }
}

sim::Scenario scenario_of(const Case& c, const std::vector<std::string>& overrides) {
  return sim::parse_scenario(c.scenario_text.fresh(), c.scenario_name, overrides);
}

Metrics predict_compare(const Case& c) {
  const yaml::Map a = args_map(c);
  const YAML::Node p = a.raw("policies");
  if (!p.IsSequence() || p.size() == 0) a.fail("policies", "expected a list of cache policies");
  std::vector<std::string> policies;
  for (const auto& n : p) policies.push_back(n.as<std::string>());
  const std::vector<double> rates = a.get_double_list("rates", {}, 0, limits::kMaxRate, true);
  const double factor = a.get_double("knee_factor", 10, 1, 1e6, true);
  // Per-policy overrides, as --set would give them: {h2o: [engine.max_num_seqs=4]}.
  std::map<std::string, std::vector<std::string>> per_policy;
  const YAML::Node set = a.raw("set");
  if (set.IsDefined() && !set.IsNull()) {
    if (!set.IsMap()) a.fail("set", "expected a mapping of policy: [key=value, ...]");
    for (const auto& kv : set) {
      const std::string policy = kv.first.as<std::string>();
      if (std::find(policies.begin(), policies.end(), policy) == policies.end()) {
        a.fail("set", fmt::format("'{}' is not one of the case's policies", policy));
      }
      if (!kv.second.IsSequence()) a.fail("set", "expected a list of key=value overrides per policy");
      for (const auto& o : kv.second) per_policy[policy].push_back(o.as<std::string>());
    }
  }
  a.finish();
  Metrics m;
  for (const std::string& policy : policies) {
    std::vector<double> normalized;
    for (size_t i = 0; i < std::max<size_t>(1, rates.size()); ++i) {
      std::vector<std::string> o = {"cache.policy=" + policy};
      for (const std::string& extra : per_policy[policy]) o.push_back(extra);
      if (!rates.empty()) o.push_back(fmt::format("workload.arrival.rate={}", rates[i]));
      const sim::RunResult r = sim::run_scenario(scenario_of(c, o), "");
      if (i == 0) add_numbers(r.summary, policy + ".", m);
      normalized.push_back(r.summary["mean_normalized_latency_ms"].get<double>());
      // Past the knee every higher rate is overloaded too: the rest of the sweep cannot move the knee.
      if (normalized.back() > factor * normalized.front()) break;
    }
    if (!rates.empty()) m[policy + ".knee_rate"] = knee_rate(rates, normalized, factor);
  }
  // Ratios of sustained rates ("vllm.knee_rate/orca-max"): an order check that also says by how much.
  for (const std::string& num : policies) {
    for (const std::string& den : policies) {
      const auto ka = m.find(num + ".knee_rate"), kb = m.find(den + ".knee_rate");
      if (num != den && ka != m.end() && kb != m.end() && kb->second > 0) {
        m[num + ".knee_rate/" + den] = ka->second / kb->second;
      }
    }
  }
  return m;
}

Metrics predict_cost(const Case& c) {
  const yaml::Map a = args_map(c);
  const std::string model_ref = a.req_string("model"), hardware_ref = a.req_string("hardware");
  const models::ModelSpec model = models::load_model(model_ref);
  const hw::HardwareProfile hardware = hw::load_hardware(hardware_ref);
  const int64_t tokens = a.req_int("tokens", 1, limits::kMaxRequestTokens), batch = a.get_int("batch", 1, 1, 1 << 24);
  const int64_t context = a.get_int("context", 0, 0, limits::kMaxPositions), tp = a.get_int("tp", 1, 1, 64);
  const std::string phase = a.get_choice("phase", "prefill", {"prefill", "decode"});
  const bool eager = a.get_bool("eager", false);
  a.finish();
  if (tokens % batch != 0) a.fail("tokens", fmt::format("{} tokens do not divide over batch {}", tokens, batch));
  const models::CostModel cost(model, hardware,
                               sim::exec_config(sim::server_scenario(model_ref, hardware_ref, model.dtype, tp, eager)));
  const models::BatchShape shape =
      models::BatchShape::uniform(batch, tokens / batch, context, phase == "decode", model.sliding_window);
  Metrics m;
  for (const auto& op : cost.ops(shape)) m["ops." + op.name + ".time_ms"] = ns_to_ms(op.time_ns);
  m["total_ms"] = ns_to_ms(cost.forward_ns(shape));
  m["cpu_overhead_ms"] = ns_to_ms(cost.cpu_overhead_ns(shape));
  return m;
}

Metrics predict_transfer(const Case& c) {
  const yaml::Map a = args_map(c);
  const hw::HardwareProfile hardware = hw::load_hardware(a.req_string("hardware"));
  const std::string direction = a.get_choice("direction", "h2d", {"h2d", "d2h"});
  const std::optional<uint64_t> bytes = a.opt_bytes("bytes");
  const bool pinned = a.get_bool("pinned", true);
  const int64_t copies = a.get_int("copies", 1, 1, 1 << 20);
  a.finish();
  if (!bytes || *bytes == 0) a.fail("bytes", "required: the size of one copy (e.g. 32MiB)");
  const hw::TransferCost t = hw::pcie_copy_time(
      hardware, direction == "h2d" ? hw::CopyDirection::kHostToDevice : hw::CopyDirection::kDeviceToHost, *bytes,
      copies, pinned);
  Metrics m;
  m["time_us"] = static_cast<double>(t.time_ns) / 1e3;
  m["bandwidth_gb_s"] = static_cast<double>(*bytes) * static_cast<double>(copies) / static_cast<double>(t.time_ns);
  return m;
}

std::string bound_text(const Expectation& e) {
  if (!e.relation.empty()) return fmt::format("{} {}", e.relation == "greater_than" ? ">" : "<", e.relation_metric);
  if (e.below) return fmt::format("< {:g}", *e.below);
  if (e.tolerance) return fmt::format("±{:g} %", *e.tolerance * 100);
  return fmt::format("±{:g} abs", *e.abs);
}

}  // namespace

double knee_rate(const std::vector<double>& rates, const std::vector<double>& normalized, double factor) {
  for (size_t i = 1; i < std::min(rates.size(), normalized.size()); ++i) {
    if (normalized[i] > factor * normalized[0]) return rates[i - 1];
  }
  return rates.empty() ? 0 : rates.back();
}

Metrics predict(const Case& c) {
  if (c.command == "run") {
    Metrics m;
    add_numbers(sim::run_scenario(scenario_of(c, {}), "").summary, "", m);
    return m;
  }
  if (c.command == "compare") return predict_compare(c);
  if (c.command == "cost") return predict_cost(c);
  if (c.command == "transfer") return predict_transfer(c);
  throw Error(Place{c.file}, fmt::format("command: unknown '{}'", c.command));
}

std::vector<Outcome> evaluate(const Case& c, const Metrics& m) {
  std::vector<Outcome> out;
  for (const Expectation& e : c.expect) {
    Outcome o;
    o.case_name = c.name;
    o.metric = e.metric;
    o.source = c.source;
    o.status = c.status;
    o.kind = c.kind;
    o.bound = bound_text(e);
    o.reference = e.value;
    const auto it = m.find(e.metric);
    if (it == m.end()) {
      o.error = fmt::format("{}: no metric '{}' from command {}", e.place.str(), e.metric, c.command);
      out.push_back(o);
      continue;
    }
    o.predicted = it->second;
    if (e.below) {
      o.reference = *e.below;
      o.pass = it->second < *e.below;
      out.push_back(o);
      continue;
    }
    if (!e.relation.empty()) {
      const auto other = m.find(e.relation_metric);
      if (other == m.end()) {
        o.error = fmt::format("{}: no metric '{}' to compare with", e.place.str(), e.relation_metric);
        out.push_back(o);
        continue;
      }
      o.reference = other->second;
      o.pass = e.relation == "greater_than" ? it->second > other->second : it->second < other->second;
      out.push_back(o);
      continue;
    }
    const double diff = std::abs(it->second - *e.value);
    if (*e.value != 0) o.rel_error = diff / std::abs(*e.value);
    o.pass = e.tolerance ? diff <= *e.tolerance * std::abs(*e.value) : diff <= *e.abs;
    out.push_back(o);
  }
  return out;
}

std::vector<Outcome> run_case(const Case& c) {
  try {
    return evaluate(c, predict(c));
  } catch (const Error& err) {
    std::vector<Outcome> out = evaluate(c, {});
    for (Outcome& o : out) o.error = err.what();
    return out;
  }
}

}  // namespace kvsim::validation
