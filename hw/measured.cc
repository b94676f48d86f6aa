#include "hw/measured.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace kvsim::hw {

namespace {

double median_of(std::vector<double> v) {
  if (v.empty()) return 0;
  const size_t mid = v.size() / 2;
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(mid), v.end());
  const double upper = v[mid];
  if (v.size() % 2 == 1) return upper;
  const double lower = *std::max_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(mid));
  return 0.5 * (lower + upper);
}

struct Median {
  double x, y;
  double samples;  // how many samples the median is of: its weight in the isotonic fit
};

// Distinct x (sorted) with the median y of the samples at each; non-finite samples and, for log_x, x <= 0 dropped.
std::vector<Median> medians_by_x(std::vector<std::pair<double, double>> samples, bool log_x) {
  std::erase_if(samples, [&](const auto& s) {
    return !std::isfinite(s.first) || !std::isfinite(s.second) || (log_x && s.first <= 0);
  });
  std::sort(samples.begin(), samples.end());
  std::vector<Median> out;
  for (size_t i = 0; i < samples.size();) {
    size_t j = i;
    std::vector<double> ys;
    while (j < samples.size() && samples[j].first == samples[i].first) ys.push_back(samples[j++].second);
    const auto count = static_cast<double>(ys.size());
    out.push_back(Median{samples[i].first, median_of(std::move(ys)), count});
    i = j;
  }
  return out;
}

Curve curve_from_medians(const std::vector<Median>& points, bool log_x, bool monotone) {
  Curve c;
  c.log_x = log_x;
  std::vector<double> weights;
  for (const auto& p : points) {
    c.x.push_back(p.x);
    c.y.push_back(p.y);
    weights.push_back(p.samples);
  }
  if (monotone) c.y = isotonic_non_decreasing(c.y, weights);
  return c;
}

double log_distance(int64_t n, int64_t k, int64_t n2, int64_t k2) {
  const double dn = std::log2(static_cast<double>(n)) - std::log2(static_cast<double>(n2));
  const double dk = std::log2(static_cast<double>(k)) - std::log2(static_cast<double>(k2));
  return dn * dn + dk * dk;
}

}  // namespace

double Curve::at(double xq) const {
  if (x.empty()) return 0;
  if (std::isnan(xq) || xq <= x.front()) return y.front();
  if (xq >= x.back()) return y.back();
  const size_t hi = static_cast<size_t>(std::upper_bound(x.begin(), x.end(), xq) - x.begin());
  const size_t lo = hi - 1;
  const double x0 = log_x ? std::log2(x[lo]) : x[lo];
  const double x1 = log_x ? std::log2(x[hi]) : x[hi];
  const double xv = log_x ? std::log2(xq) : xq;
  const double t = x1 > x0 ? (xv - x0) / (x1 - x0) : 0.0;
  return y[lo] + t * (y[hi] - y[lo]);
}

std::vector<double> isotonic_non_decreasing(const std::vector<double>& y, const std::vector<double>& w) {
  // A stack of pooled blocks, each non-decreasing in mean from the one below; a new value below the top pools with it
  // (and, while the pooled mean is still below the next block's, with that one too).
  struct Block {
    double sum_wy, sum_w, mean;
    size_t count;
  };
  std::vector<Block> blocks;
  blocks.reserve(y.size());
  for (size_t i = 0; i < y.size(); ++i) {
    const double wi = i < w.size() && w[i] > 0 ? w[i] : 1.0;
    blocks.push_back(Block{wi * y[i], wi, y[i], 1});
    while (blocks.size() >= 2 && blocks[blocks.size() - 2].mean > blocks.back().mean) {
      const Block top = blocks.back();
      blocks.pop_back();
      Block& below = blocks.back();
      below.sum_wy += top.sum_wy;
      below.sum_w += top.sum_w;
      below.count += top.count;
      below.mean = below.sum_wy / below.sum_w;
    }
  }
  std::vector<double> out;
  out.reserve(y.size());
  for (const auto& b : blocks) out.insert(out.end(), b.count, b.mean);
  return out;
}

Curve fit_curve(std::vector<std::pair<double, double>> samples, bool log_x, bool monotone) {
  return curve_from_medians(medians_by_x(std::move(samples), log_x), log_x, monotone);
}

HeldOut held_out_check(const std::string& name, const std::vector<std::pair<double, double>>& samples, bool log_x,
                       bool monotone) {
  HeldOut h;
  h.curve = name;
  const auto points = medians_by_x(samples, log_x);
  std::vector<Median> train, test;
  for (size_t i = 0; i < points.size(); ++i) (i % 2 == 0 ? train : test).push_back(points[i]);
  if (train.empty() || test.empty()) return h;
  const Curve fit = curve_from_medians(train, log_x, monotone);
  double sum = 0;
  for (const auto& [x, y, n] : test) {
    if (y == 0) continue;
    const double err = std::abs(fit.at(x) - y) / std::abs(y);
    sum += err;
    h.max_abs_rel_error = std::max(h.max_abs_rel_error, err);
    ++h.points;
  }
  if (h.points > 0) h.mean_abs_rel_error = sum / static_cast<double>(h.points);
  return h;
}

std::optional<double> MeasuredProfile::gemm_flops_per_s(const std::string& dtype, int64_t m, int64_t n, int64_t k,
                                                        double peak_flops) const {
  if (m < 1 || n < 1 || k < 1) return std::nullopt;
  const double peak = peak_flops > 0 ? peak_flops : 1.0;  // without a peak, efficiency is relative to 1 FLOP/s
  const GemmPoint* nearest = nullptr;
  double best = std::numeric_limits<double>::infinity();
  for (const auto& p : gemm) {
    if (p.dtype != dtype || p.n < 1 || p.k < 1 || p.m < 1 || p.flops_per_s <= 0) continue;
    const double d = log_distance(n, k, p.n, p.k);
    if (d < best) best = d, nearest = &p;
  }
  if (nearest == nullptr) return std::nullopt;
  // FLOP/s linear in log2(m), like every measured curve (Curve::at).
  std::vector<std::pair<double, double>> by_m;
  for (const auto& p : gemm) {
    if (p.dtype == dtype && p.n == nearest->n && p.k == nearest->k && p.flops_per_s > 0) {
      by_m.emplace_back(static_cast<double>(p.m), p.flops_per_s);
    }
  }
  if (by_m.empty()) return std::nullopt;
  // For an unmeasured (n, k), the nearest shape's efficiency (flops / peak) at this m times the peak: its FLOP/s.
  const double efficiency = fit_curve(std::move(by_m), true, false).at(static_cast<double>(m)) / peak;
  return efficiency * peak;
}

std::optional<double> MeasuredProfile::decode_attention_bytes_per_s(double context, int64_t block_size,
                                                                    double batch) const {
  // A curve is usable under a measured batch (>= 1) or kAnyBatch.
  const auto usable = [](const auto& entry) { return !entry.second.empty() && entry.first >= kAnyBatch; };
  const DecodeAttentionCurves* nearest = nullptr;
  double best = std::numeric_limits<double>::infinity();
  const double want = std::log2(static_cast<double>(std::max<int64_t>(block_size, 1)));
  for (const auto& [bs, curves] : decode_attention) {
    if (bs < 1 || std::none_of(curves.begin(), curves.end(), usable)) continue;
    const double d = std::abs(std::log2(static_cast<double>(bs)) - want);
    if (d < best) best = d, nearest = &curves;
  }
  if (nearest == nullptr) return std::nullopt;
  // The largest measured batch <= `batch` and the smallest above it (no allocation: this runs every step); the
  // batch-independent curve only where no batch was measured apart. A NaN batch reads as the smallest.
  const Curve *lo = nullptr, *hi = nullptr;
  double lo_batch = 0, hi_batch = 0;
  for (const auto& [b, curve] : *nearest) {
    if (b <= kAnyBatch || curve.empty()) continue;
    if (static_cast<double>(b) <= batch) {
      lo = &curve, lo_batch = static_cast<double>(b);
    } else {
      hi = &curve, hi_batch = static_cast<double>(b);
      break;
    }
  }
  if (lo == nullptr && hi == nullptr) return nearest->at(kAnyBatch).at(context);
  if (lo == nullptr) return hi->at(context);
  if (hi == nullptr || lo_batch == batch) return lo->at(context);
  const double t = (std::log2(batch) - std::log2(lo_batch)) / (std::log2(hi_batch) - std::log2(lo_batch));
  const double y0 = lo->at(context);
  return y0 + t * (hi->at(context) - y0);
}

std::optional<double> MeasuredProfile::bandwidth_at(std::string_view key, double bytes) const {
  const auto it = bandwidth.find(key);
  if (it == bandwidth.end() || it->second.empty()) return std::nullopt;
  return it->second.at(bytes);
}

}  // namespace kvsim::hw
