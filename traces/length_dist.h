// Token-length distributions of synthetic workloads (prompt and output lengths), each rounded to an integer and
// clipped to [min, max]:
//  fixed      `value`
//  uniform    integers in [min, max]
//  normal     `mean`, `stddev` of the lengths
//  lognormal  `mean`, `stddev` of the lengths themselves (not of their logarithm)
//  zipf       P(k) proportional to k^-`s` on [min, max] (a heavy tail of long requests; max required, at most 2^22
//             values)
//  empirical  the lengths of a file (`file`): any trace format, or a length-only statistics CSV such as Vidur's
//             (num_prefill_tokens, num_decode_tokens); prompt and output lengths drawn from the same file come from
//             the same row, so their correlation is the file's
// Parsed from YAML (`{dist: lognormal, mean: 1000, stddev: 500, max: 4096}` or a plain integer).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "sim/core/limits.h"
#include "sim/core/rng.h"
#include "sim/core/yaml.h"

namespace kvsim::traces {

struct LengthDist {
  std::string dist = "fixed";  // fixed | uniform | normal | lognormal | zipf | empirical
  double value = 0;            // fixed: the length
  double mean = 0;             // normal, lognormal: mean of the lengths (tokens)
  double stddev = 0;           // normal, lognormal: standard deviation of the lengths (tokens)
  double s = 0;                // zipf: exponent
  std::string file;            // empirical: the file (relative to the scenario's folder)
  int64_t min = 1;             // clip bounds, inclusive; uniform: the range
  int64_t max = limits::kMaxRequestTokens;

  bool operator==(const LengthDist&) const = default;
};

// A lognormal of lengths with this mean and standard deviation (tokens), clipped to [min, max].
LengthDist lognormal_lengths(double mean, double stddev, int64_t min, int64_t max);

// Reads `parent.key`: an integer (fixed) or a mapping {dist, value | min+max | mean+stddev, optional min/max}.
// Calls finish() on the mapping. Keys that the chosen dist does not use are errors.
LengthDist parse_length_dist(const yaml::Map& parent, std::string_view key);

// Every field the dist uses, written out (re-parses to the same LengthDist).
YAML::Node length_dist_to_yaml(const LengthDist& dist);

// "lognormal(mean 1000, stddev 500, clip [1, 4096])"
std::string describe_length_dist(const LengthDist& dist);

// The (prompt, output) rows of a file, for empirical lengths: loaded once, in memory (O(rows)).
struct EmpiricalLengths {
  std::vector<std::pair<int64_t, int64_t>> rows;
};
// Reads every row of `path` (any trace format, or the length-only `lengths` CSV); errors name the file and line.
std::shared_ptr<const EmpiricalLengths> load_empirical_lengths(const std::string& path);

// Draws lengths from one RNG stream. Lognormal: sigma^2 = ln(1 + stddev^2 / mean^2), mu = ln(mean) - sigma^2 / 2,
// so that the samples (before rounding and clipping) have exactly the given mean and standard deviation.
class LengthSampler {
 public:
  // `empirical` is required for dist empirical (its rows), `output` picks the row's output length instead of the
  // prompt's.
  LengthSampler(LengthDist dist, Rng rng, std::shared_ptr<const EmpiricalLengths> empirical = nullptr,
                bool output = false);
  int64_t sample();
  // Empirical only: the length of row `index` (joint sampling), and the number of rows.
  int64_t at(size_t index) const;
  size_t rows() const { return empirical_ ? empirical_->rows.size() : 0; }
  size_t draw_row() { return static_cast<size_t>(rng_.uniform_int(0, static_cast<int64_t>(rows()) - 1)); }
  const LengthDist& dist() const { return dist_; }

 private:
  int64_t clip(double tokens) const;

  enum class Kind : uint8_t { kFixed, kUniform, kNormal, kLognormal, kZipf, kEmpirical };
  LengthDist dist_;
  Kind kind_ = Kind::kFixed;  // dist_.dist, resolved once
  Rng rng_;
  double mu_ = 0, sigma_ = 0;
  std::vector<double> zipf_cdf_;
  std::shared_ptr<const EmpiricalLengths> empirical_;
  bool output_ = false;
};

// Prompt and output lengths together: independent draws, or one row of the same empirical file for both.
class LengthModel {
 public:
  // Empirical files are opened relative to `base_dir` (when not empty and the path is relative).
  LengthModel(const LengthDist& prompt, const LengthDist& output, const RngStreams& rng,
              const std::string& base_dir = "");
  std::pair<int64_t, int64_t> sample();
  std::string describe() const;

 private:
  std::optional<LengthSampler> prompt_, output_;
  bool joint_ = false;
};

}  // namespace kvsim::traces
