// Running a validation case: predict its metrics with the command it names, then hold each expectation against
// them. A case that cannot run (its scenario is invalid, its model does not fit) is a failure with the error.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "validation/case.h"

namespace kvsim::validation {

using Metrics = std::map<std::string, double>;

// run: summary.json's numbers; compare: <policy>.<key> at the first rate, and <policy>.knee_rate over `rates`;
// cost: ops.<name>.time_ms (one layer), total_ms, cpu_overhead_ms; transfer: time_us, bandwidth_gb_s.
Metrics predict(const Case& c);

struct Outcome {
  std::string case_name, metric, source, status;  // status: the case's ("" or known-gap)
  std::string kind;                                // the case's: published | measured
  std::optional<double> reference, predicted;
  std::optional<double> rel_error;  // |predicted - reference| / |reference|
  std::string bound;                // "±5 %", "±0.2 abs", "> other.metric"
  bool pass = false;
  std::string error;  // why the case did not run, or the metric is missing
};

std::vector<Outcome> evaluate(const Case& c, const Metrics& m);
// predict + evaluate, catching the case's own errors into its outcomes.
std::vector<Outcome> run_case(const Case& c);

// The knee of a rate sweep (the vLLM paper's Fig. 12 reading): the highest rate before the mean normalized latency
// first exceeds `factor` times its value at the lowest rate; the last rate when it never does.
double knee_rate(const std::vector<double>& rates, const std::vector<double>& normalized_latency, double factor);

}  // namespace kvsim::validation
