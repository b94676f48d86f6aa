// Prediction intervals: how far a prediction of kvsim may be from a measurement, from kvsim's own record against
// measured serving runs. `kvsim validate --error-model FILE` runs every measured case of validation/cases (kind:
// measured, command: run) and keeps, for each measured value (its `expect` values and its `reference` percentiles),
// the residual r = ln(measured / predicted) with the metric's family and the run's load regime. An interval at level
// c around a prediction p is the Student-t prediction interval of the residuals of that family and regime (Hahn and
// Meeker, Statistical Intervals, 1991, ch. 4: mean +- t(c, n - 1) x sd x sqrt(1 + 1/n), on the log scale):
//   [p_low x exp(mean - t sd sqrt(1 + 1/n)), p_high x exp(mean + t sd sqrt(1 + 1/n))]
// where [p_low, p_high] is the spread of the prediction over seeds (one seed: p_low = p_high = p). A regime with
// fewer than kMinResiduals residuals takes every regime's residuals of the family, and says so in the basis.
// Families: ttft (TTFT), decode (TPOT, ITL, E2E latency: decode dominates them), throughput (request and token
// throughput). Percentile errors come from measured percentiles where a case records them.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <yaml-cpp/yaml.h>
#include <nlohmann/json.hpp>

namespace kvsim::metrics {

struct Residual {
  std::string case_name, metric, regime;
  double measured = 0, predicted = 0;
  double log_ratio() const;  // ln(measured / predicted)
};

struct ErrorModel {
  std::string file;  // where it was read from ("" = built in memory)
  std::vector<Residual> residuals;
  bool empty() const { return residuals.empty(); }
};

inline constexpr int64_t kMinResiduals = 4;  // fewer in a regime: the family's residuals of every regime are used

// "ttft", "decode", "throughput", or "" for a key that no interval covers.
std::string error_family(std::string_view summary_key);

// The load regime of a run from its summary.json: "above" saturation (summary.overloaded: the queue grows,
// metrics/overload.h), "near" (requests wait for room in the batch: queueing is at least kNearQueueingShare of the
// mean TTFT, or the KV cache is at least kNearKvUsage full on average, or requests still wait at the last arrival),
// or "below". At low load a request waits only for the running iteration to end: 0.14-0.21 of the mean TTFT in
// every measured case at 5-10 req/s, against 0.37 and 0.53 at 20 req/s, where the batch held 0.67-0.80 of
// max_num_seqs (kvsim's runs of validation/cases/measured-vllm-h100-*): the threshold is set between them.
inline constexpr double kNearQueueingShare = 0.3;
inline constexpr double kNearKvUsage = 0.5;
std::string load_regime(const nlohmann::ordered_json& summary);

struct Interval {
  double low = 0, high = 0;
  int64_t residuals = 0;  // how many residuals made it
  std::string basis;      // "decode near saturation, 12 residuals" / "... all regimes (near: 1), 30 residuals"
};
// `leave_out`: a case whose residuals are not used (leave-one-out checks). An interval from no residual at all is
// [p_low, p_high] with basis "no measured case".
Interval prediction_interval(const ErrorModel& model, const std::string& summary_key, const std::string& regime,
                             double predicted_low, double predicted_high, double level,
                             const std::string& leave_out = "");

// The committed model, validation/fits/error-model.yaml under the data root, read once; empty if it is missing.
const ErrorModel& builtin_error_model();
ErrorModel load_error_model(const std::string& path);  // malformed: kvsim::Error with file:line:col
YAML::Node error_model_to_yaml(const ErrorModel& model, const std::string& command);

// The summary keys that get an interval, in summary.json's order.
const std::vector<std::string>& interval_keys();
// summary["prediction_intervals"] = {level, regime, <key>: [low, high], ..., basis: {<key>: text}} for the keys of
// interval_keys() the summary holds, from one run (no seed spread).
void add_prediction_intervals(nlohmann::ordered_json& summary, const ErrorModel& model, double level);

}  // namespace kvsim::metrics
