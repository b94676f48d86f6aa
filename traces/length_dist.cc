#include "traces/length_dist.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include <fmt/format.h>

#include "sim/core/limits.h"
#include "traces/trace_reader.h"

namespace kvsim::traces {

namespace {
const std::vector<std::string> kDists = {"fixed", "uniform", "normal", "lognormal", "zipf", "empirical"};

// Keys each dist reads besides `dist`, `min` and `max`.
std::vector<std::string> keys_of(const std::string& dist) {
  if (dist == "fixed") return {"value"};
  if (dist == "lognormal" || dist == "normal") return {"mean", "stddev"};
  if (dist == "zipf") return {"s"};
  if (dist == "empirical") return {"file"};
  return {};
}

// zipf's table of cumulative weights is built once per sampler: bound its size.
constexpr int64_t kMaxZipfValues = int64_t{1} << 22;

// Above this a double no longer holds every integer and int64 conversion could overflow; lengths never get near.
constexpr double kMaxExactLength = 9.0e15;
}  // namespace

LengthDist lognormal_lengths(double mean, double stddev, int64_t min, int64_t max) {
  LengthDist d;
  d.dist = "lognormal";
  d.mean = mean;
  d.stddev = stddev;
  d.min = min;
  d.max = max;
  return d;
}

LengthDist parse_length_dist(const yaml::Map& parent, std::string_view key) {
  LengthDist d;
  const YAML::Node node = parent.raw(key);
  if (!node.IsDefined() || node.IsNull()) {
    parent.fail(key,
                "required key is missing (expected an integer >= 1 or {dist: fixed | uniform | normal | lognormal | "
                "zipf | empirical, ...})");
  }
  if (node.IsScalar()) {
    d.value = static_cast<double>(parent.req_int(key, 1, limits::kMaxRequestTokens));
    return d;
  }
  const yaml::Map m = parent.child(key);
  d.dist = m.get_choice("dist", "fixed", kDists);
  const std::vector<std::string> used = keys_of(d.dist);
  const std::vector<std::string> present = m.keys();
  for (const std::string k : {"value", "mean", "stddev", "s", "file"}) {
    if (std::find(used.begin(), used.end(), k) == used.end() &&
        std::find(present.begin(), present.end(), k) != present.end()) {
      m.fail(k, fmt::format("not used by dist '{}' (it reads {})", d.dist,
                            join(used.empty() ? std::vector<std::string>{"min", "max"} : used)));
    }
  }
  // Optional reads first and finish() before complaining about a missing key, so that a typo ('maen') is reported
  // as the unknown key it is, with its did-you-mean.
  const std::optional<int64_t> min = m.opt_int("min", 1, limits::kMaxRequestTokens),
                               max = m.opt_int("max", 1, limits::kMaxRequestTokens);
  const std::optional<int64_t> value = d.dist == "fixed" ? m.opt_int("value", 1, limits::kMaxRequestTokens) : std::nullopt;
  const bool moments = d.dist == "lognormal" || d.dist == "normal";
  const std::optional<double> mean = moments ? m.opt_double("mean", 0, limits::kMaxRequestTokens, true) : std::nullopt;
  const std::optional<double> stddev = moments ? m.opt_double("stddev", 0, limits::kMaxRequestTokens) : std::nullopt;
  const std::optional<double> zipf_s = d.dist == "zipf" ? m.opt_double("s", 0, 100, true) : std::nullopt;
  const std::optional<std::string> file = d.dist == "empirical" ? m.opt_string("file") : std::nullopt;
  m.finish();
  const auto missing = [&](std::string_view k, const char* expected) {
    m.fail(k, fmt::format("required key is missing for dist '{}' (expected {})", d.dist, expected));
  };
  if (d.dist == "uniform" && !min) missing("min", "an integer >= 1");
  if (d.dist == "uniform" && !max) missing("max", "an integer >= 1");
  if (d.dist == "fixed" && !value) missing("value", "an integer >= 1");
  if (moments && !mean) missing("mean", "a number > 0");
  if (moments && !stddev) missing("stddev", "a number >= 0");
  if (d.dist == "zipf" && !zipf_s) missing("s", "an exponent > 0");
  if (d.dist == "zipf" && !max) missing("max", "an integer >= min");
  if (d.dist == "empirical" && (!file || file->empty())) missing("file", "a trace or length-statistics file");
  d.min = min.value_or(1);
  d.max = max.value_or(limits::kMaxRequestTokens);
  if (d.min > d.max) m.fail("min", fmt::format("expected an integer <= max ({}), found '{}'", d.max, d.min));
  d.value = static_cast<double>(value.value_or(0));
  d.mean = mean.value_or(0);
  d.stddev = stddev.value_or(0);
  d.s = zipf_s.value_or(0);
  d.file = file.value_or("");
  if (d.dist == "zipf" && d.max - d.min >= kMaxZipfValues) {
    m.fail("max", fmt::format("zipf takes at most {} values: max - min must be < {}, found {}", kMaxZipfValues,
                              kMaxZipfValues, d.max - d.min));
  }
  return d;
}

YAML::Node length_dist_to_yaml(const LengthDist& d) {
  YAML::Node n(YAML::NodeType::Map);
  n["dist"] = d.dist;
  // Doubles as their shortest round-trip text ("0.1", not "0.10000000000000001").
  if (d.dist == "fixed") n["value"] = static_cast<int64_t>(d.value);
  if (d.dist == "lognormal" || d.dist == "normal") {
    n["mean"] = fmt::format("{}", d.mean);
    n["stddev"] = fmt::format("{}", d.stddev);
  }
  if (d.dist == "zipf") n["s"] = fmt::format("{}", d.s);
  if (d.dist == "empirical") n["file"] = d.file;
  n["min"] = d.min;
  n["max"] = d.max;
  return n;
}

std::string describe_length_dist(const LengthDist& d) {
  const std::string clip = d.max == limits::kMaxRequestTokens ? (d.min == 1 ? "" : fmt::format(", min {}", d.min))
                                              : fmt::format(", clip [{}, {}]", d.min, d.max);
  if (d.dist == "fixed") return fmt::format("fixed {}{}", d.value, clip);
  if (d.dist == "uniform") return fmt::format("uniform [{}, {}]", d.min, d.max);
  if (d.dist == "zipf") return fmt::format("zipf(s {}, [{}, {}])", d.s, d.min, d.max);
  if (d.dist == "empirical") return fmt::format("empirical({}{})", d.file, clip);
  return fmt::format("{}(mean {}, stddev {}{})", d.dist, d.mean, d.stddev, clip);
}

LengthSampler::LengthSampler(LengthDist dist, Rng rng, std::shared_ptr<const EmpiricalLengths> empirical, bool output)
    : dist_(std::move(dist)), rng_(rng), empirical_(std::move(empirical)), output_(output) {
  if (dist_.min < 1 || dist_.min > dist_.max) {
    throw Error(fmt::format("length distribution: need 1 <= min <= max, found min {} max {}", dist_.min, dist_.max));
  }
  if (dist_.dist == "lognormal") {
    kind_ = Kind::kLognormal;
    if (!(dist_.mean > 0) || !(dist_.stddev >= 0)) {
      throw Error(
          fmt::format("lognormal lengths: need mean > 0 and stddev >= 0, found {} and {}", dist_.mean, dist_.stddev));
    }
    const double cv = dist_.stddev / dist_.mean;
    sigma_ = std::sqrt(std::log1p(cv * cv));
    mu_ = std::log(dist_.mean) - sigma_ * sigma_ / 2;
  } else if (dist_.dist == "normal") {
    kind_ = Kind::kNormal;
    if (!(dist_.mean > 0) || !(dist_.stddev >= 0)) {
      throw Error(
          fmt::format("normal lengths: need mean > 0 and stddev >= 0, found {} and {}", dist_.mean, dist_.stddev));
    }
  } else if (dist_.dist == "zipf") {
    kind_ = Kind::kZipf;
    if (!(dist_.s > 0) || dist_.max - dist_.min >= kMaxZipfValues) {
      throw Error(fmt::format("zipf lengths: need s > 0 and at most {} values, found s {} on [{}, {}]", kMaxZipfValues,
                              dist_.s, dist_.min, dist_.max));
    }
    zipf_cdf_.reserve(static_cast<size_t>(dist_.max - dist_.min + 1));
    double sum = 0;
    for (int64_t k = dist_.min; k <= dist_.max; ++k) {
      sum += std::pow(static_cast<double>(k), -dist_.s);
      zipf_cdf_.push_back(sum);
    }
  } else if (dist_.dist == "empirical") {
    kind_ = Kind::kEmpirical;
    if (!empirical_ || empirical_->rows.empty()) {
      throw Error(fmt::format("empirical lengths: no rows loaded from '{}'", dist_.file));
    }
  } else if (dist_.dist == "uniform") {
    kind_ = Kind::kUniform;
  } else if (dist_.dist != "fixed") {
    throw Error(fmt::format("unknown length distribution '{}' (expected one of {})", dist_.dist, join(kDists)));
  }
}

int64_t LengthSampler::clip(double tokens) const {
  const double bounded = std::clamp(tokens, 1.0, kMaxExactLength);
  return std::clamp(static_cast<int64_t>(std::llround(bounded)), dist_.min, dist_.max);
}

int64_t LengthSampler::at(size_t index) const {
  const auto& row = empirical_->rows.at(index);
  return clip(static_cast<double>(output_ ? row.second : row.first));
}

int64_t LengthSampler::sample() {
  switch (kind_) {
    case Kind::kFixed:
      return clip(dist_.value);
    case Kind::kUniform:
      return rng_.uniform_int(dist_.min, dist_.max);
    case Kind::kNormal:
      return clip(rng_.normal(dist_.mean, dist_.stddev));
    case Kind::kZipf: {
      const double u = rng_.uniform() * zipf_cdf_.back();
      const auto it = std::upper_bound(zipf_cdf_.begin(), zipf_cdf_.end(), u);
      return dist_.min + std::min<int64_t>(it - zipf_cdf_.begin(), static_cast<int64_t>(zipf_cdf_.size()) - 1);
    }
    case Kind::kEmpirical:
      return at(draw_row());
    case Kind::kLognormal:
      break;
  }
  return clip(rng_.lognormal(mu_, sigma_));
}

std::shared_ptr<const EmpiricalLengths> load_empirical_lengths(const std::string& path) {
  auto out = std::make_shared<EmpiricalLengths>();
  const std::unique_ptr<TraceSource> source = open_trace(path);
  while (const std::optional<Request> r = source->next()) out->rows.emplace_back(r->prompt_tokens, r->output_tokens);
  if (out->rows.empty()) throw Error(Place{path}, "empirical lengths: the file has no rows");
  return out;
}

LengthModel::LengthModel(const LengthDist& prompt, const LengthDist& output, const RngStreams& rng,
                         const std::string& base_dir) {
  const auto resolve = [&](const std::string& f) { return resolve_workload_file(f, base_dir); };
  std::shared_ptr<const EmpiricalLengths> prompt_rows, output_rows;
  if (prompt.dist == "empirical") prompt_rows = load_empirical_lengths(resolve(prompt.file));
  if (output.dist == "empirical") {
    joint_ = prompt.dist == "empirical" && resolve(prompt.file) == resolve(output.file);
    output_rows = joint_ ? prompt_rows : load_empirical_lengths(resolve(output.file));
  }
  prompt_.emplace(prompt, rng.stream("workload/prompt_tokens"), prompt_rows, false);
  output_.emplace(output, rng.stream("workload/output_tokens"), output_rows, true);
}

std::pair<int64_t, int64_t> LengthModel::sample() {
  if (joint_) {
    const size_t row = prompt_->draw_row();
    return {prompt_->at(row), output_->at(row)};
  }
  const int64_t p = prompt_->sample();
  return {p, output_->sample()};
}

std::string LengthModel::describe() const {
  return fmt::format("prompt {}, output {}{}", describe_length_dist(prompt_->dist()),
                     describe_length_dist(output_->dist()), joint_ ? " (same rows)" : "");
}

}  // namespace kvsim::traces
