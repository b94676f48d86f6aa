// An analytical model of GPU kernel times with the right shape and few parameters: GEMMs as a smooth maximum of a
// compute and a weight-read bandwidth term plus a per-kernel floor; element-wise kernels bounded by HBM bandwidth and
// by the rate the SMs issue them, plus a floor; paged decode attention at an efficiency that grows with the KV
// tokens in flight; causal prefill attention at an efficiency that grows with the chunk; collectives as latency +
// bytes / link bandwidth. Its parameters are fitted on measured kernel times of one GPU (models/operator_fit.h: Vidur's
// A100 profiles by default) and carried to any other GPU through its datasheet numbers only (peak FLOP/s, memory
// bandwidth, SM count and clock, NVLink bandwidth): the model a GPU nobody has measured gets.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "hw/hardware_profile.h"

namespace kvsim::models {

// Defaults: fitted on Vidur's A100-80GB profiles (shared/data/vidur-profiles, MIT) by
//   kvsim calibrate --import vidur vidur-profiles/compute/a100 --also vidur-profiles/network/a100_dgx
//     --base a100-sxm4-80gb --out a100-vidur.yaml
// (README, Validation: the fit's leave-one-model-out errors and its errors on the A40).
struct OperatorParams {
  // GEMM: t = floor + (tc^p + tm^p)^(1/p); tc = FLOPs / (gemm_compute x peak), tm = bytes / (gemm_memory x HBM).
  double gemm_compute = 0.7372;
  double gemm_memory = 0.8410;
  double gemm_ridge_p = 1.406;
  double gemm_floor_us = 5.732;
  // Element-wise kernels, by class: tb = bytes / (elem_memory x HBM) the HBM bound; the issue bound ts = bytes /
  // (issue x SMs x clock x threads), threads = resident threads per SM / 2,048 (bytes in flight grow with the threads
  // resident, Little's law); floor = elem_floor_kclk thousand SM clocks (a launch, ramp and tail cost in cycles).
  //   row reductions (RMSNorm / LayerNorm), point-wise (rope, activation): t = floor + (tb^q + ts^q)^(1/q)
  //   row gathers (embedding): t = floor + ts; for at most 16 rows, rows x elem_gather_row_kclk thousand clocks
  //     (PyTorch's embedding is index_select, whose small-index kernel walks up to 16 indices in series)
  //   residual add (streams): t = elem_stream_floor_share x floor + tb
  double elem_memory = 0.972;
  double elem_issue_norm = 5.961;
  double elem_issue_pointwise = 8.284;
  double elem_issue_gather = 2.091;
  double elem_gather_row_kclk = 0.8633;
  double elem_ridge_q = 1.673;
  double elem_floor_kclk = 4.161;
  double elem_stream_floor_share = 0.5053;
  // Paged decode attention (FlashInfer / FlashAttention class): KV bytes / (decode_memory x B / (B + decode_half_mb)
  // x HBM), B = KV bytes (MB) read per layer over the batch: the kernel splits its work over (sequence, KV head, KV
  // chunk), so the bytes in flight, not the tokens, set how well it fills the GPU; plus a floor.
  double decode_memory = 0.7476;
  double decode_half_mb = 24.33;
  double decode_floor_us = 0.0;
  // Causal prefill attention: FLOPs / (prefill_compute x c / (c + prefill_half_tokens) x peak), c = new tokens per
  // sequence, plus a floor.
  double prefill_compute = 0.3846;
  double prefill_half_tokens = 24;
  double prefill_floor_us = 10.0;
  // All-reduce within a node (ring volume 2 (n - 1) / n of the message): latency per call (allreduce_latency_us for 2
  // GPUs, allreduce_latency_many_us for more), bytes at allreduce_bandwidth x NVLink per direction.
  double allreduce_latency_us = 42.3;
  double allreduce_latency_many_us = 41.28;
  double allreduce_bandwidth = 1.062;

  // Where the values came from: "fitted: <data> (<command>)" or "default".
  std::string origin = "default";

  // The parameters of one op family, by name, in the order of family_params().
  std::vector<double> get(std::string_view family) const;
  void set(std::string_view family, const std::vector<double>& values);
  bool operator==(const OperatorParams&) const = default;
};

// Families and the names of their parameters (as written in a profile's measured.operator_model).
const std::vector<std::string>&
operator_families();  // gemm, elementwise, attention_decode, attention_prefill, allreduce
const std::vector<std::string>& family_params(std::string_view family);
// The physical range [low, high] of each of a family's parameters (a fit stays inside it).
std::vector<std::pair<double, double>> family_ranges(std::string_view family);

// The parameters fitted on Vidur's A100-80GB profiles (shared/data/vidur-profiles, MIT), the defaults of every
// datasheet profile. Reproduce: kvsim calibrate --import vidur DIR/compute/a100 --network DIR/network/a100_dgx ...
const OperatorParams& fitted_operator_params();

// The datasheet numbers the model reads, from a hardware profile.
struct GpuRates {
  double peak_flops = 0;  // dense tensor peak for the math dtype
  double memory_bytes_per_s = 0;
  double issue_per_s = 0;   // SMs x clock (0 = unknown: element-wise kernels are bandwidth-bound only)
  double clock_hz = 0;      // SM boost clock (0 = unknown: floors in clocks are read at kReferenceClockHz)
  double thread_share = 1;  // resident threads per SM / 2,048
  double nvlink_bytes_per_s = 0;
};
// The clock at which floors in SM clocks are read when a profile gives none: the A100's boost clock (1,410 MHz,
// A100 whitepaper), that of the GPU the defaults were fitted on.
inline constexpr double kReferenceClockHz = 1.41e9;
GpuRates gpu_rates(const hw::GpuSpec& gpu, double peak_flops);

enum class ElementKind : uint8_t { kNorm, kPointwise, kGather, kStream };

// Times in seconds.
// A GEMM's two regimes before the ridge's smoothing and the floor: FLOPs over the compute rate, bytes (weights, input
// and output rows) over the memory rate. The larger names its bound.
struct GemmTerms {
  double compute_s = 0, memory_s = 0;
  bool compute_bound() const { return compute_s >= memory_s; }
};
GemmTerms gemm_terms(const OperatorParams& p, const GpuRates& g, double m, double n, double k, double weight_bytes,
                     double act_bytes);
double gemm_seconds(const OperatorParams& p, const GpuRates& g, double m, double n, double k, double weight_bytes,
                    double act_bytes);
// An element-wise kernel's floor (elem_floor_kclk thousand SM clocks) on this GPU.
double elementwise_floor_seconds(const OperatorParams& p, const GpuRates& g);
// `bytes` read and written by one kernel over `rows` tokens.
double elementwise_seconds(const OperatorParams& p, const GpuRates& g, double bytes, double rows, ElementKind kind);
double decode_attention_seconds(const OperatorParams& p, const GpuRates& g, double kv_bytes);
double prefill_attention_seconds(const OperatorParams& p, const GpuRates& g, double flops, double tokens_per_seq);
double allreduce_seconds(const OperatorParams& p, const GpuRates& g, double message_bytes, int gpus);

}  // namespace kvsim::models
