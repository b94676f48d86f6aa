#include "traces/length_dist.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include <fmt/format.h>

namespace kvsim::traces {

namespace {
const std::vector<std::string> kDists = {"fixed", "uniform", "lognormal"};

// Keys each dist reads besides `dist`, `min` and `max`.
std::vector<std::string> keys_of(const std::string& dist) {
  if (dist == "fixed") return {"value"};
  if (dist == "lognormal") return {"mean", "stddev"};
  return {};
}

// Above this a double no longer holds every integer and int64 conversion could overflow; lengths never get near.
constexpr double kMaxExactLength = 9.0e15;
}  // namespace

LengthDist parse_length_dist(const yaml::Map& parent, std::string_view key) {
  LengthDist d;
  const YAML::Node node = parent.raw(key);
  if (!node.IsDefined() || node.IsNull()) {
    parent.fail(key, "required key is missing (expected an integer >= 1 or {dist: fixed | uniform | lognormal, ...})");
  }
  if (node.IsScalar()) {
    d.value = static_cast<double>(parent.req_int(key, 1));
    return d;
  }
  const yaml::Map m = parent.child(key);
  d.dist = m.get_choice("dist", "fixed", kDists);
  const std::vector<std::string> used = keys_of(d.dist);
  const std::vector<std::string> present = m.keys();
  for (const std::string k : {"value", "mean", "stddev"}) {
    if (std::find(used.begin(), used.end(), k) == used.end() &&
        std::find(present.begin(), present.end(), k) != present.end()) {
      m.fail(k, fmt::format("not used by dist '{}' (it reads {})", d.dist,
                            join(used.empty() ? std::vector<std::string>{"min", "max"} : used)));
    }
  }
  // Optional reads first and finish() before complaining about a missing key, so that a typo ('maen') is reported
  // as the unknown key it is, with its did-you-mean.
  const std::optional<int64_t> min = m.opt_int("min", 1), max = m.opt_int("max", 1);
  const std::optional<int64_t> value = d.dist == "fixed" ? m.opt_int("value", 1) : std::nullopt;
  const std::optional<double> mean = d.dist == "lognormal" ? m.opt_double("mean", 0, yaml::kInf, true) : std::nullopt;
  const std::optional<double> stddev = d.dist == "lognormal" ? m.opt_double("stddev", 0) : std::nullopt;
  m.finish();
  const auto missing = [&](std::string_view k, const char* expected) {
    m.fail(k, fmt::format("required key is missing for dist '{}' (expected {})", d.dist, expected));
  };
  if (d.dist == "uniform" && !min) missing("min", "an integer >= 1");
  if (d.dist == "uniform" && !max) missing("max", "an integer >= 1");
  if (d.dist == "fixed" && !value) missing("value", "an integer >= 1");
  if (d.dist == "lognormal" && !mean) missing("mean", "a number > 0");
  if (d.dist == "lognormal" && !stddev) missing("stddev", "a number >= 0");
  d.min = min.value_or(1);
  d.max = max.value_or(INT64_MAX);
  if (d.min > d.max) m.fail("min", fmt::format("expected an integer <= max ({}), found '{}'", d.max, d.min));
  d.value = static_cast<double>(value.value_or(0));
  d.mean = mean.value_or(0);
  d.stddev = stddev.value_or(0);
  return d;
}

YAML::Node length_dist_to_yaml(const LengthDist& d) {
  YAML::Node n(YAML::NodeType::Map);
  n["dist"] = d.dist;
  // Doubles as their shortest round-trip text ("0.1", not "0.10000000000000001").
  if (d.dist == "fixed") n["value"] = static_cast<int64_t>(d.value);
  if (d.dist == "lognormal") {
    n["mean"] = fmt::format("{}", d.mean);
    n["stddev"] = fmt::format("{}", d.stddev);
  }
  n["min"] = d.min;
  n["max"] = d.max;
  return n;
}

std::string describe_length_dist(const LengthDist& d) {
  const std::string clip = d.max == INT64_MAX ? (d.min == 1 ? "" : fmt::format(", min {}", d.min))
                                              : fmt::format(", clip [{}, {}]", d.min, d.max);
  if (d.dist == "fixed") return fmt::format("fixed {}{}", d.value, clip);
  if (d.dist == "uniform") return fmt::format("uniform [{}, {}]", d.min, d.max);
  return fmt::format("lognormal(mean {}, stddev {}{})", d.mean, d.stddev, clip);
}

LengthSampler::LengthSampler(LengthDist dist, Rng rng) : dist_(std::move(dist)), rng_(rng) {
  if (dist_.min < 1 || dist_.min > dist_.max) {
    throw Error(fmt::format("length distribution: need 1 <= min <= max, found min {} max {}", dist_.min, dist_.max));
  }
  if (dist_.dist == "lognormal") {
    if (!(dist_.mean > 0) || !(dist_.stddev >= 0)) {
      throw Error(
          fmt::format("lognormal lengths: need mean > 0 and stddev >= 0, found {} and {}", dist_.mean, dist_.stddev));
    }
    const double cv = dist_.stddev / dist_.mean;
    sigma_ = std::sqrt(std::log1p(cv * cv));
    mu_ = std::log(dist_.mean) - sigma_ * sigma_ / 2;
  } else if (dist_.dist != "fixed" && dist_.dist != "uniform") {
    throw Error(fmt::format("unknown length distribution '{}' (expected one of {})", dist_.dist, join(kDists)));
  }
}

int64_t LengthSampler::clip(double tokens) const {
  const double bounded = std::clamp(tokens, 1.0, kMaxExactLength);
  return std::clamp(static_cast<int64_t>(std::llround(bounded)), dist_.min, dist_.max);
}

int64_t LengthSampler::sample() {
  if (dist_.dist == "fixed") return clip(dist_.value);
  if (dist_.dist == "uniform") return rng_.uniform_int(dist_.min, dist_.max);
  return clip(rng_.lognormal(mu_, sigma_));
}

}  // namespace kvsim::traces
