// Builds the error model of sim/metrics/error_bars.h from the validation cases: every case of kind `measured` and
// command `run` is run once, and each of its measured values of a latency or throughput key (its `expect` values
// and its `reference` values) gives one residual, tagged with the run's load regime. Also measures how well the
// intervals do: the share of measured values inside their interval at a level, with every case's own residuals in
// the model (in sample) and left out of it (leave-one-out: the honest figure).
#pragma once

#include <string>
#include <vector>

#include "sim/metrics/error_bars.h"
#include "validation/case.h"

namespace kvsim::validation {

metrics::ErrorModel build_error_model(const std::vector<Case>& cases);

struct Coverage {
  int64_t values = 0, inside = 0;          // in sample
  int64_t values_loo = 0, inside_loo = 0;  // leave-one-out (values with any residual left to use)
  double share() const { return values ? static_cast<double>(inside) / static_cast<double>(values) : 0; }
  double share_loo() const {
    return values_loo ? static_cast<double>(inside_loo) / static_cast<double>(values_loo) : 0;
  }
};
// Each residual's measured value against the interval around its prediction at `level`.
Coverage interval_coverage(const metrics::ErrorModel& model, double level);

}  // namespace kvsim::validation
