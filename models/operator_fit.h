// Fitting the operator model (models/operator_model.h) to measured kernel times, and the errors that say how well it
// predicts: per op family, median and 95th percentile of |predicted / measured - 1| on the fitting GPU with each model
// left out of the fit in turn, and on another GPU with the fitted parameters and only its datasheet numbers.
#pragma once

#include <string>
#include <vector>

#include "models/operator_model.h"
#include "models/vidur_profiles.h"

namespace kvsim::models {

// The model's time for one sample, in seconds.
double predict_seconds(const OperatorParams& p, const GpuRates& g, const OpSample& s);

// Least squares on log(predicted / measured) over the family's samples (Nelder-Mead over the logs of the
// parameters, from `start`); the other families' parameters are kept.
OperatorParams fit_family(const std::vector<OpSample>& samples, const GpuRates& g, const std::string& family,
                          const OperatorParams& start);
// Every family that has samples.
OperatorParams fit_all(const std::vector<OpSample>& samples, const GpuRates& g, const OperatorParams& start);

struct ErrorStats {
  std::string family;
  int64_t samples = 0;
  double median = 0;  // of |predicted / measured - 1|
  double p95 = 0;
};
// The errors of `p` on `samples`, per family (families without samples are left out).
std::vector<ErrorStats> errors(const OperatorParams& p, const GpuRates& g, const std::vector<OpSample>& samples);
// Leave-one-model-out: each model's samples predicted by parameters fitted on the others; families whose samples
// all come from one model (attention, collectives) are split instead by alternating sizes (fit on even-indexed
// samples in their file order, predict the odd ones).
std::vector<ErrorStats> leave_one_model_out(const std::vector<OpSample>& samples, const GpuRates& g,
                                            const OperatorParams& start);

}  // namespace kvsim::models
