#include "models/operator_model.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "sim/core/error.h"

namespace kvsim::models {

namespace {
// The p-norm of two times: max(a, b) when p is large, a + b at p = 1; a smooth ridge between the two regimes.
double smooth_max(double a, double b, double p) { return std::pow(std::pow(a, p) + std::pow(b, p), 1.0 / p); }

struct Family {
  std::string name;
  std::vector<std::string> params;
  std::vector<double OperatorParams::*> fields;
};

// The physical range of a parameter, by its name's role: an efficiency (a share of a datasheet rate, up to 1.5 for
// rates a datasheet understates, e.g. NVLink all-reduce bus bandwidth), a smoothing exponent (1 = sum of the
// regimes, large = their max), a floor or latency in us, a half-saturation point, an issue rate.
std::pair<double, double> range_of(const std::string& param) {
  if (param.find("efficiency") != std::string::npos || param == "bandwidth") return {0.01, 1.5};
  if (param.rfind("ridge", 0) == 0) return {1.0, 50.0};
  if (param.find("_us") != std::string::npos) return {0.0, 1000.0};
  if (param.rfind("issue", 0) == 0) return {0.01, 1000.0};
  if (param.find("_kclk") != std::string::npos) return {0.0, 100.0};
  if (param.find("_share") != std::string::npos) return {0.0, 1.0};
  return {0.0, 1e6};  // half_mb, half_tokens
}

const std::vector<Family>& families() {
  using P = OperatorParams;
  static const std::vector<Family> f = {
      {"gemm",
       {"compute_efficiency", "memory_efficiency", "ridge_p", "floor_us"},
       {&P::gemm_compute, &P::gemm_memory, &P::gemm_ridge_p, &P::gemm_floor_us}},
      {"elementwise",
       {"memory_efficiency", "issue_norm", "issue_pointwise", "issue_gather", "gather_row_kclk", "ridge_q",
        "floor_kclk", "stream_floor_share"},
       {&P::elem_memory, &P::elem_issue_norm, &P::elem_issue_pointwise, &P::elem_issue_gather, &P::elem_gather_row_kclk,
        &P::elem_ridge_q, &P::elem_floor_kclk, &P::elem_stream_floor_share}},
      {"attention_decode",
       {"memory_efficiency", "half_mb", "floor_us"},
       {&P::decode_memory, &P::decode_half_mb, &P::decode_floor_us}},
      {"attention_prefill",
       {"compute_efficiency", "half_tokens", "floor_us"},
       {&P::prefill_compute, &P::prefill_half_tokens, &P::prefill_floor_us}},
      {"allreduce",
       {"latency_us", "latency_many_us", "bandwidth"},
       {&P::allreduce_latency_us, &P::allreduce_latency_many_us, &P::allreduce_bandwidth}},
  };
  return f;
}

const Family& family(std::string_view name) {
  for (const Family& f : families()) {
    if (f.name == name) return f;
  }
  throw Error(fmt::format("unknown operator family '{}'", name));
}
}  // namespace

const std::vector<std::string>& operator_families() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> n;
    for (const Family& f : families()) n.push_back(f.name);
    return n;
  }();
  return names;
}

const std::vector<std::string>& family_params(std::string_view name) { return family(name).params; }

std::vector<std::pair<double, double>> family_ranges(std::string_view name) {
  std::vector<std::pair<double, double>> r;
  for (const std::string& p : family(name).params) r.push_back(range_of(p));
  return r;
}

std::vector<double> OperatorParams::get(std::string_view name) const {
  std::vector<double> v;
  for (const auto field : family(name).fields) v.push_back(this->*field);
  return v;
}

void OperatorParams::set(std::string_view name, const std::vector<double>& values) {
  const Family& f = family(name);
  if (values.size() != f.fields.size()) {
    throw Error(
        fmt::format("operator family '{}' takes {} parameters, found {}", name, f.fields.size(), values.size()));
  }
  for (size_t i = 0; i < values.size(); ++i) this->*f.fields[i] = values[i];
}

GpuRates gpu_rates(const hw::GpuSpec& gpu, double peak_flops) {
  GpuRates g;
  // A power-limited GPU runs its SMs at the sustained clock: compute peaks and clock-counted floors follow it.
  const double clock = gpu.sustained_clock_hz > 0 ? gpu.sustained_clock_hz : gpu.boost_clock_hz;
  g.peak_flops = gpu.sustained_clock_hz > 0 ? peak_flops * gpu.sustained_clock_hz / gpu.boost_clock_hz : peak_flops;
  g.memory_bytes_per_s = gpu.hbm_bytes_per_s;
  g.issue_per_s = static_cast<double>(gpu.sm_count) * clock;
  g.clock_hz = clock;
  g.thread_share = gpu.max_threads_per_sm > 0 ? static_cast<double>(gpu.max_threads_per_sm) / 2048.0 : 1.0;
  g.nvlink_bytes_per_s = gpu.nvlink_bytes_per_s;
  return g;
}

GemmTerms gemm_terms(const OperatorParams& p, const GpuRates& g, double m, double n, double k, double weight_bytes,
                     double act_bytes) {
  return {2.0 * m * n * k / (p.gemm_compute * g.peak_flops),
          (k * n * weight_bytes + m * (k + n) * act_bytes) / (p.gemm_memory * g.memory_bytes_per_s)};
}

double gemm_seconds(const OperatorParams& p, const GpuRates& g, double m, double n, double k, double weight_bytes,
                    double act_bytes) {
  const GemmTerms t = gemm_terms(p, g, m, n, k, weight_bytes, act_bytes);
  return p.gemm_floor_us * 1e-6 + smooth_max(t.compute_s, t.memory_s, p.gemm_ridge_p);
}

// The SM clock that counts in clocks are read at.
static double clock_of(const GpuRates& g) { return g.clock_hz > 0 ? g.clock_hz : kReferenceClockHz; }

double elementwise_floor_seconds(const OperatorParams& p, const GpuRates& g) {
  return p.elem_floor_kclk * 1e3 / clock_of(g);
}

double elementwise_seconds(const OperatorParams& p, const GpuRates& g, double bytes, double rows, ElementKind kind) {
  const double floor = elementwise_floor_seconds(p, g);
  const double tb = bytes / (p.elem_memory * g.memory_bytes_per_s);
  if (kind == ElementKind::kStream) return p.elem_stream_floor_share * floor + tb;
  if (kind == ElementKind::kGather) {
    if (rows <= 16) return floor + rows * p.elem_gather_row_kclk * 1e3 / clock_of(g);
    return floor + (g.issue_per_s > 0 ? bytes / (p.elem_issue_gather * g.issue_per_s) : tb);
  }
  const double issue = kind == ElementKind::kNorm ? p.elem_issue_norm : p.elem_issue_pointwise;
  const double ts = g.issue_per_s > 0 ? bytes / (issue * g.issue_per_s * g.thread_share) : 0.0;
  return floor + smooth_max(tb, ts, p.elem_ridge_q);
}

double decode_attention_seconds(const OperatorParams& p, const GpuRates& g, double kv_bytes) {
  if (kv_bytes <= 0) return 0;
  const double occupancy = kv_bytes / (kv_bytes + p.decode_half_mb * 1e6);
  return p.decode_floor_us * 1e-6 + kv_bytes / (p.decode_memory * occupancy * g.memory_bytes_per_s);
}

double prefill_attention_seconds(const OperatorParams& p, const GpuRates& g, double flops, double tokens_per_seq) {
  if (flops <= 0) return 0;
  const double occupancy = tokens_per_seq / (tokens_per_seq + p.prefill_half_tokens);
  return p.prefill_floor_us * 1e-6 + flops / (p.prefill_compute * occupancy * g.peak_flops);
}

double allreduce_seconds(const OperatorParams& p, const GpuRates& g, double message_bytes, int gpus) {
  if (gpus < 2) return 0;
  const double n = gpus;
  const double latency_us = gpus == 2 ? p.allreduce_latency_us : p.allreduce_latency_many_us;
  return latency_us * 1e-6 + 2.0 * (n - 1) / n * message_bytes / (p.allreduce_bandwidth * g.nvlink_bytes_per_s);
}

const OperatorParams& fitted_operator_params() {
  static const OperatorParams p = [] {
    OperatorParams f;
    f.origin = "fitted on Vidur's A100 profiles";
    return f;
  }();
  return p;
}

}  // namespace kvsim::models
