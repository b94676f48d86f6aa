#include "sim/metrics/error_bars.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>

#include <fmt/format.h>
#include <boost/math/distributions/students_t.hpp>

#include "sim/core/error.h"
#include "sim/core/input_file.h"
#include "sim/core/paths.h"
#include "sim/core/yaml.h"

namespace kvsim::metrics {

double Residual::log_ratio() const { return std::log(measured / predicted); }

std::string error_family(std::string_view key) {
  if (key.find("ttft") != std::string_view::npos) return "ttft";
  for (std::string_view m : {"tpot", "itl", "e2el"}) {
    if (key.find(m) != std::string_view::npos) return "decode";
  }
  if (key == "request_throughput" || key == "output_throughput" || key == "total_token_throughput") {
    return "throughput";
  }
  return "";
}

namespace {

double number_or(const nlohmann::ordered_json& j, const char* key, double fallback) {
  const auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<double>() : fallback;
}

const char* regime_words(const std::string& regime) {
  if (regime == "above") return "above saturation";
  if (regime == "near") return "near saturation";
  return "below saturation";
}

}  // namespace

std::string load_regime(const nlohmann::ordered_json& summary) {
  const auto over = summary.find("overloaded");
  if (over != summary.end() && over->is_boolean() && over->get<bool>()) return "above";
  if (number_or(summary, "queueing_share_of_ttft", 0) >= kNearQueueingShare ||
      number_or(summary, "mean_kv_block_usage", 0) >= kNearKvUsage ||
      number_or(summary, "waiting_at_last_arrival", 0) > 0) {
    return "near";
  }
  return "below";
}

Interval prediction_interval(const ErrorModel& model, const std::string& key, const std::string& regime,
                             double predicted_low, double predicted_high, double level, const std::string& leave_out) {
  const std::string family = error_family(key);
  std::vector<double> same, all;
  for (const Residual& r : model.residuals) {
    if (r.case_name == leave_out || error_family(r.metric) != family || family.empty()) continue;
    all.push_back(r.log_ratio());
    if (r.regime == regime) same.push_back(r.log_ratio());
  }
  Interval out{predicted_low, predicted_high, 0, ""};
  const bool pooled = static_cast<int64_t>(same.size()) < kMinResiduals;
  const std::vector<double>& use = pooled ? all : same;
  if (use.size() < 2) {
    out.basis = fmt::format("{}: no measured case", family.empty() ? key : family);
    return out;
  }
  const auto n = static_cast<double>(use.size());
  double mean = 0;
  for (double r : use) mean += r / n;
  double var = 0;
  for (double r : use) var += (r - mean) * (r - mean) / (n - 1);
  const boost::math::students_t t(n - 1);
  const double half = boost::math::quantile(t, (1 + level) / 2) * std::sqrt(var) * std::sqrt(1 + 1 / n);
  out.low = predicted_low * std::exp(mean - half);
  out.high = predicted_high * std::exp(mean + half);
  out.residuals = static_cast<int64_t>(use.size());
  out.basis = pooled ? fmt::format("{} errors of every regime ({}: {}), {} residuals", family, regime_words(regime),
                                   same.size(), use.size())
                     : fmt::format("{} errors {}, {} residuals", family, regime_words(regime), use.size());
  return out;
}

ErrorModel load_error_model(const std::string& path) {
  auto source = std::make_shared<yaml::Source>();
  source->file = path;
  // Not recorded as an input: `kvsim validate --error-model` rewrites the file every run reads.
  const auto in = open_input_stream(path, false);
  std::string text, line;
  for (int64_t n = 1; read_line(*in, line, path, n); ++n) text += line + "\n";
  const YAML::Node root = yaml::load_string(text, path);
  if (!root.IsMap()) throw Error(Place{path}, "expected a mapping {generated_by, residuals}");
  const yaml::Map m(root, source, "");
  m.get_string("generated_by", "");
  ErrorModel model;
  model.file = path;
  const YAML::Node list = m.raw("residuals");
  if (!list.IsSequence()) m.fail("residuals", "expected a list of {case, metric, regime, measured, predicted}");
  for (size_t i = 0; i < list.size(); ++i) {
    if (!list[i].IsMap()) {
      throw Error(yaml::place_of_node(list[i], *source), fmt::format("residuals[{}]: expected a mapping", i));
    }
    const yaml::Map e(list[i], source, fmt::format("residuals[{}]", i));
    Residual r;
    r.case_name = e.req_string("case");
    r.metric = e.req_string("metric");
    if (error_family(r.metric).empty()) e.fail("metric", "expected a latency or throughput key of summary.json");
    r.regime = e.get_choice("regime", "below", {"below", "near", "above"});
    r.measured = e.get_double("measured", 0, 0, 1e300, true);
    r.predicted = e.get_double("predicted", 0, 0, 1e300, true);
    e.finish();
    model.residuals.push_back(r);
  }
  m.finish();
  return model;
}

YAML::Node error_model_to_yaml(const ErrorModel& model, const std::string& command) {
  YAML::Node n;
  n["generated_by"] = command;
  n["residuals"] = YAML::Node(YAML::NodeType::Sequence);
  for (const Residual& r : model.residuals) {
    YAML::Node e;
    e.SetStyle(YAML::EmitterStyle::Flow);
    e["case"] = r.case_name;
    e["metric"] = r.metric;
    e["regime"] = r.regime;
    e["measured"] = yaml::number(r.measured);
    e["predicted"] = yaml::number(r.predicted);
    n["residuals"].push_back(e);
  }
  return n;
}

const ErrorModel& builtin_error_model() {
  static const ErrorModel model = [] {
    const auto path = std::filesystem::path(data_root()) / "validation" / "fits" / "error-model.yaml";
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) return ErrorModel{};
    return load_error_model(path.string());
  }();
  return model;
}

const std::vector<std::string>& interval_keys() {
  static const std::vector<std::string> keys = {
      "request_throughput", "output_throughput", "mean_ttft_ms", "median_ttft_ms", "p90_ttft_ms",
      "p95_ttft_ms",        "p99_ttft_ms",       "mean_tpot_ms", "p90_tpot_ms",    "p99_tpot_ms",
      "mean_itl_ms",        "p99_itl_ms",        "mean_e2el_ms", "p90_e2el_ms",    "p99_e2el_ms"};
  return keys;
}

void add_prediction_intervals(nlohmann::ordered_json& summary, const ErrorModel& model, double level) {
  if (model.empty()) return;
  nlohmann::ordered_json j;
  j["level"] = level;
  const std::string regime = load_regime(summary);
  j["regime"] = regime;
  nlohmann::ordered_json basis;
  for (const std::string& key : interval_keys()) {
    const auto it = summary.find(key);
    if (it == summary.end() || !it->is_number()) continue;
    const double p = it->get<double>();
    const Interval iv = prediction_interval(model, key, regime, p, p, level);
    j[key] = {iv.low, iv.high};
    basis[key] = iv.basis;
  }
  j["basis"] = basis;
  summary["prediction_intervals"] = j;
}

}  // namespace kvsim::metrics
