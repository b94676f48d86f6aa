#include "models/operator_fit.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <set>

#include "sim/core/percentile.h"

namespace kvsim::models {

namespace {

double abs_error(const OperatorParams& p, const GpuRates& g, const OpSample& s) {
  return std::abs(predict_seconds(p, g, s) / s.seconds - 1);
}

// Median and p95 of each family's errors, in the order of operator_families(); families without errors left out.
std::vector<ErrorStats> summarize(std::map<std::string, std::vector<double>>& by_family) {
  std::vector<ErrorStats> out;
  for (const std::string& family : operator_families()) {
    const auto it = by_family.find(family);
    if (it == by_family.end()) continue;
    std::vector<double>& e = it->second;
    std::sort(e.begin(), e.end());
    out.push_back(
        {family, static_cast<int64_t>(e.size()), percentile_of_sorted(e, 0.5), percentile_of_sorted(e, 0.95)});
  }
  return out;
}

// Nelder-Mead (Nelder and Mead, Computer Journal 1965) with the standard coefficients, minimising f over x.
std::vector<double> nelder_mead(const std::function<double(const std::vector<double>&)>& f, std::vector<double> x0,
                                int iterations) {
  const size_t n = x0.size();
  std::vector<std::vector<double>> simplex{x0};
  for (size_t i = 0; i < n; ++i) {
    std::vector<double> x = x0;
    x[i] += x[i] != 0 ? 0.2 * std::abs(x[i]) : 0.2;
    simplex.push_back(x);
  }
  std::vector<double> values;
  for (const auto& x : simplex) values.push_back(f(x));
  for (int it = 0; it < iterations; ++it) {
    std::vector<size_t> order(n + 1);
    for (size_t i = 0; i <= n; ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return values[a] < values[b]; });
    std::vector<std::vector<double>> s2;
    std::vector<double> v2;
    for (size_t i : order) {
      s2.push_back(simplex[i]);
      v2.push_back(values[i]);
    }
    simplex = std::move(s2);
    values = std::move(v2);
    if (std::abs(values[n] - values[0]) <= 1e-12 * (1 + std::abs(values[0]))) break;
    std::vector<double> centroid(n, 0.0);
    for (size_t i = 0; i < n; ++i) {
      for (size_t j = 0; j < n; ++j) centroid[j] += simplex[i][j] / static_cast<double>(n);
    }
    const auto along = [&](double t) {
      std::vector<double> x(n);
      for (size_t j = 0; j < n; ++j) x[j] = centroid[j] + t * (simplex[n][j] - centroid[j]);
      return x;
    };
    const std::vector<double> reflected = along(-1.0);
    const double fr = f(reflected);
    if (fr < values[0]) {
      const std::vector<double> expanded = along(-2.0);
      const double fe = f(expanded);
      if (fe < fr) {
        simplex[n] = expanded;
        values[n] = fe;
      } else {
        simplex[n] = reflected;
        values[n] = fr;
      }
    } else if (fr < values[n - 1]) {
      simplex[n] = reflected;
      values[n] = fr;
    } else {
      const std::vector<double> contracted = fr < values[n] ? along(-0.5) : along(0.5);
      const double fc = f(contracted);
      if (fc < std::min(fr, values[n])) {
        simplex[n] = contracted;
        values[n] = fc;
      } else {
        for (size_t i = 1; i <= n; ++i) {
          for (size_t j = 0; j < n; ++j) simplex[i][j] = simplex[0][j] + 0.5 * (simplex[i][j] - simplex[0][j]);
          values[i] = f(simplex[i]);
        }
      }
    }
  }
  return simplex[static_cast<size_t>(std::min_element(values.begin(), values.end()) - values.begin())];
}

std::vector<OpSample> of_family(const std::vector<OpSample>& samples, const std::string& family) {
  std::vector<OpSample> out;
  for (const OpSample& s : samples) {
    if (s.family == family) out.push_back(s);
  }
  return out;
}

}  // namespace

double predict_seconds(const OperatorParams& p, const GpuRates& g, const OpSample& s) {
  if (s.family == "gemm") return gemm_seconds(p, g, s.m, s.n, s.k, 2.0, 2.0);
  if (s.family == "elementwise") return elementwise_seconds(p, g, s.bytes, s.m, s.kind);
  if (s.family == "attention_decode") return decode_attention_seconds(p, g, s.kv_bytes);
  if (s.family == "attention_prefill") return prefill_attention_seconds(p, g, s.flops, s.tokens_per_seq);
  if (s.family == "allreduce") return allreduce_seconds(p, g, s.message_bytes, s.gpus);
  return 0;
}

OperatorParams fit_family(const std::vector<OpSample>& all, const GpuRates& g, const std::string& family,
                          const OperatorParams& start) {
  const std::vector<OpSample> samples = of_family(all, family);
  if (samples.empty()) return start;
  std::vector<double> x0;
  // Parameters are fitted in log space (all positive); a zero start (a floor) starts from a small value instead.
  for (double v : start.get(family)) x0.push_back(std::log(std::max(v, 1e-3)));
  OperatorParams p = start;
  const std::vector<std::pair<double, double>> ranges = family_ranges(family);
  const auto loss = [&](const std::vector<double>& x) {
    std::vector<double> v;
    double outside = 0;  // a penalty that grows with the distance out of the physical range
    for (size_t i = 0; i < x.size(); ++i) {
      const double value = std::exp(x[i]);
      const auto [lo, hi] = ranges[i];
      if (value > hi) outside += std::log(value / hi);
      if (lo > 0 && value < lo) outside += std::log(lo / value);
      v.push_back(std::clamp(value, lo, hi));
    }
    p.set(family, v);
    double sum = 0;
    for (const OpSample& s : samples) {
      const double r = std::log(predict_seconds(p, g, s) / s.seconds);
      sum += std::isfinite(r) ? r * r : 1e6;
    }
    return sum / static_cast<double>(samples.size()) + 1e3 * outside * outside;
  };
  std::vector<double> x = nelder_mead(loss, x0, 3000);
  x = nelder_mead(loss, x, 3000);  // a restart escapes a collapsed simplex
  std::vector<double> v;
  for (size_t i = 0; i < x.size(); ++i) v.push_back(std::clamp(std::exp(x[i]), ranges[i].first, ranges[i].second));
  p.set(family, v);
  return p;
}

OperatorParams fit_all(const std::vector<OpSample>& samples, const GpuRates& g, const OperatorParams& start) {
  OperatorParams p = start;
  for (const std::string& family : operator_families()) p = fit_family(samples, g, family, p);
  return p;
}

std::vector<ErrorStats> errors(const OperatorParams& p, const GpuRates& g, const std::vector<OpSample>& samples) {
  std::map<std::string, std::vector<double>> by_family;
  for (const OpSample& s : samples) by_family[s.family].push_back(abs_error(p, g, s));
  return summarize(by_family);
}

std::vector<ErrorStats> leave_one_model_out(const std::vector<OpSample>& samples, const GpuRates& g,
                                            const OperatorParams& start) {
  std::map<std::string, std::vector<double>> by_family;
  for (const std::string& family : operator_families()) {
    const std::vector<OpSample> fam = of_family(samples, family);
    std::set<std::string> models;
    for (const OpSample& s : fam) models.insert(s.model);
    if (models.size() >= 2) {
      for (const std::string& left_out : models) {
        std::vector<OpSample> train, test;
        for (const OpSample& s : fam) (s.model == left_out ? test : train).push_back(s);
        const OperatorParams p = fit_family(train, g, family, start);
        for (const OpSample& s : test) by_family[family].push_back(abs_error(p, g, s));
      }
    } else if (fam.size() >= 2) {
      std::vector<OpSample> train, test;
      for (size_t i = 0; i < fam.size(); ++i) (i % 2 == 0 ? train : test).push_back(fam[i]);
      const OperatorParams p = fit_family(train, g, family, start);
      for (const OpSample& s : test) by_family[family].push_back(abs_error(p, g, s));
    }
  }
  return summarize(by_family);
}

}  // namespace kvsim::models
