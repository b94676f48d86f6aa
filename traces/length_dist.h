// Token-length distributions of synthetic workloads (prompt and output lengths): fixed, uniform integer, or lognormal
// given by the mean and standard deviation of the lengths themselves, each rounded to an integer and clipped to
// [min, max]. Parsed from YAML (`{dist: lognormal, mean: 1000, stddev: 500, max: 4096}` or a plain integer).
#pragma once

#include <cstdint>
#include <string>

#include <yaml-cpp/yaml.h>

#include "sim/core/rng.h"
#include "sim/core/yaml.h"

namespace kvsim::traces {

struct LengthDist {
  std::string dist = "fixed";  // fixed | uniform | lognormal
  double value = 0;            // fixed: the length
  double mean = 0;             // lognormal: mean of the lengths (tokens)
  double stddev = 0;           // lognormal: standard deviation of the lengths (tokens)
  int64_t min = 1;             // clip bounds, inclusive; uniform: the range
  int64_t max = INT64_MAX;

  bool operator==(const LengthDist&) const = default;
};

// Reads `parent.key`: an integer (fixed) or a mapping {dist, value | min+max | mean+stddev, optional min/max}.
// Calls finish() on the mapping. Keys that the chosen dist does not use are errors.
LengthDist parse_length_dist(const yaml::Map& parent, std::string_view key);

// Every field the dist uses, written out (re-parses to the same LengthDist).
YAML::Node length_dist_to_yaml(const LengthDist& dist);

// "lognormal(mean 1000, stddev 500, clip [1, 4096])"
std::string describe_length_dist(const LengthDist& dist);

// Draws lengths from one RNG stream. Lognormal: sigma^2 = ln(1 + stddev^2 / mean^2), mu = ln(mean) - sigma^2 / 2,
// so that the samples (before rounding and clipping) have exactly the given mean and standard deviation.
class LengthSampler {
 public:
  LengthSampler(LengthDist dist, Rng rng);
  int64_t sample();
  const LengthDist& dist() const { return dist_; }

 private:
  int64_t clip(double tokens) const;

  LengthDist dist_;
  Rng rng_;
  double mu_ = 0, sigma_ = 0;
};

}  // namespace kvsim::traces
