// What `kvsim calibrate` measured on a machine: fitted curves (bandwidth vs transfer size, gather cost per method and
// granularity, GEMM throughput per shape, decode/prefill attention throughput, launch and CPU overheads), the
// held-out check of each fit, and the raw samples they came from. Stored under `measured:` in a hardware profile
// with `source: measured`; the cost model prefers these curves to the datasheet roofline where they exist.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kvsim::hw {

// y(x) from samples with strictly increasing x, interpolated piecewise-linearly in log2(x) when log_x (bandwidth vs
// size) or in x otherwise, and clamped to the end values outside the sampled range.
struct Curve {
  std::vector<double> x, y;
  bool log_x = true;

  bool empty() const { return x.empty(); }
  double at(double xq) const;
  bool operator==(const Curve&) const = default;
};

// Fit a curve to raw (x, y) samples, several per x allowed: the median y at each distinct x, then, when `monotone`
// (bandwidth never falls with size in the fit; noise does not make it), the closest non-decreasing sequence in
// weighted least squares: isotonic regression by pool-adjacent-violators (Barlow et al., "Statistical Inference under
// Order Restrictions", 1972, ch. 1), each median weighted by its number of samples. A dip pools with the sizes before
// it into their weighted mean, so one high median lifts only its neighbours, not every larger size as a running
// maximum would. Non-decreasing input comes back unchanged.
Curve fit_curve(std::vector<std::pair<double, double>> samples, bool log_x, bool monotone);

// Isotonic (non-decreasing) regression of `y` with weights `w` (> 0, same length) by pool-adjacent-violators: each
// pooled block takes the weighted mean of its values. What fit_curve applies to the medians when `monotone`.
std::vector<double> isotonic_non_decreasing(const std::vector<double>& y, const std::vector<double>& w);

// Held-out check: fit (the same fit as fit_curve) on every other distinct x, predict the rest.
struct HeldOut {
  std::string curve;              // e.g. "bandwidth/pcie/h2d_pinned"
  int64_t points = 0;             // predicted points
  double mean_abs_rel_error = 0;  // mean |predicted - measured| / measured
  double max_abs_rel_error = 0;
  bool operator==(const HeldOut&) const = default;
};
HeldOut held_out_check(const std::string& name, const std::vector<std::pair<double, double>>& samples, bool log_x,
                       bool monotone);

// One raw measurement as a suite reported it.
struct RawSample {
  std::string suite;                     // "pcie", "hbm", "gather", "gemm", "attention", "launch", "host"
  std::string series;                    // e.g. "h2d_pinned", "copy", "cpu_staged/token_head", "bf16/qkv_proj"
  std::map<std::string, double> params;  // e.g. {bytes: 1048576} or {m: 1, n: 6144, k: 4096}
  double value = 0;
  std::string unit;  // "bytes_per_s" | "ns" | "flops_per_s"
  bool operator==(const RawSample&) const = default;
};

struct GemmPoint {
  std::string dtype;  // "bf16", "fp16", "fp8"
  int64_t m = 0, n = 0, k = 0;
  double flops_per_s = 0;
  bool operator==(const GemmPoint&) const = default;
};

// Decode attention of one block size: KV bytes read per second vs context length, per batch (sequences decoded
// together; the kernel reads more bytes per second with more sequences in flight). Key kAnyBatch holds one curve for
// every batch: profiles written before batches were kept apart, and imports that measured no batch split. Assigning
// one Curve stores it so (block size -> that curve at any batch).
inline constexpr int64_t kAnyBatch = 0;
struct DecodeAttentionCurves : std::map<int64_t, Curve> {
  DecodeAttentionCurves() = default;
  DecodeAttentionCurves& operator=(Curve any_batch) {
    clear();
    emplace(kAnyBatch, std::move(any_batch));
    return *this;
  }
  bool operator==(const DecodeAttentionCurves&) const = default;
};

struct MeasuredProfile {
  std::string device;          // cudaDeviceProp::name, or the host CPU for a host-only run
  std::string driver_version;  // "" when no GPU
  std::string cuda_version;
  std::string date;                 // ISO 8601 UTC
  std::string command;              // the kvsim calibrate command line
  std::vector<std::string> suites;  // suites that ran
  // False for a partial profile: written while calibration is still running, or after it was stopped.
  bool complete = true;
  // What failed during calibration, one line each, e.g.
  // "gemm: bf16/llama-3.1-8b/qkv_proj/tp1 m=16384: cudaMalloc...: out of memory".
  std::vector<std::string> failures;

  // Bytes copied per second vs transfer size in bytes. Keys: "pcie/h2d_pinned", "pcie/d2h_pinned",
  // "pcie/h2d_pageable", "pcie/d2h_pageable", "pcie/duplex_pinned" (both directions together, summed),
  // "hbm/copy", "hbm/read", "hbm/write".
  std::map<std::string, Curve, std::less<>> bandwidth;
  // Bytes delivered to the GPU per second vs total bytes gathered. Keys "<method>/<granularity>", methods
  // per_row | memcpy2d | batched | cpu_staged | zero_copy, granularities token_head | token_layer | block;
  // cpu_staged per host thread count, "cpu_staged/<granularity>/threads<N>" (older profiles: no /threads<N>).
  std::map<std::string, Curve, std::less<>> gather;
  std::vector<GemmPoint> gemm;
  // Paged decode attention: block size -> batch -> KV bytes read per second vs context length.
  std::map<int64_t, DecodeAttentionCurves> decode_attention;
  // Prefill attention: FLOP/s vs tokens per sequence, and which kernel measured it ("sdpa-flash" | "kvsim-simple").
  Curve prefill_attention;
  std::string prefill_attention_kernel;
  // Why the prefill curve is not from a production kernel, e.g. "PyTorch unavailable: No module named 'torch'; curve
  // from kvsim's simple kernel, slower than production flash kernels"; empty when it is.
  std::string prefill_attention_note;
  // Host DRAM memcpy bytes per second vs number of threads (log_x = false).
  Curve host_memcpy;
  double pcie_latency_ns = 0;  // per-copy fixed cost at small sizes
  double launch_ns = 0;        // empty kernel launch
  double graph_replay_ns = 0;  // one CUDA-graph launch
  double pinned_alloc_bytes_per_s = 0;

  std::vector<HeldOut> held_out;
  std::vector<RawSample> samples;
  // Imported measurements (kvsim calibrate --import): where they came from (a folder, a repository and commit).
  std::string origin;
  // The analytical operator model's parameters fitted on these measurements, per family (models/operator_model.h:
  // gemm, elementwise, attention_decode, attention_prefill, allreduce), by parameter name; empty = none fitted.
  std::map<std::string, std::map<std::string, double>> operator_model;

  bool operator==(const MeasuredProfile&) const = default;

  // Achieved FLOP/s of a GEMM of this shape: interpolated in log(m) among points of the same dtype and (n, k); for an
  // (n, k) never measured, the efficiency of the nearest measured (n, k) in log space at this m. nullopt without
  // gemm points for the dtype.
  std::optional<double> gemm_flops_per_s(const std::string& dtype, int64_t m, int64_t n, int64_t k,
                                         double peak_flops) const;
  // Decode attention KV bytes/s at `context` for the nearest measured block size (in log2), interpolated linearly in
  // log2(batch) between the two measured batches around `batch` (clamped to the smallest and largest), each curve
  // read at `context`. A block size's kAnyBatch curve serves every batch when it has no per-batch curve. nullopt
  // when no curve was measured.
  std::optional<double> decode_attention_bytes_per_s(double context, int64_t block_size, double batch) const;
  // Bandwidth of a curve at `bytes`; nullopt when the key was not measured.
  std::optional<double> bandwidth_at(std::string_view key, double bytes) const;
};

}  // namespace kvsim::hw
