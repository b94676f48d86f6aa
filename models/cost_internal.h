// Internal to the cost model's files (models/cost_*.cc): the constants and helpers they share.
#pragma once

#include <algorithm>
#include <string>

#include "sim/core/dtype.h"
#include "sim/core/time.h"
#include "sim/core/units.h"

namespace kvsim::models::detail {
// All-reduce between GPUs without NVLink, staged through host memory over PCIe: ~25 us per call (no P2P). An
// assumption; NVLink all-reduces use the fitted operator model.
constexpr double kAllreduceLatencyPcieUs = 25.0;

// vLLM's custom all-reduce within an NVLink node: ~8 us per call for decode-sized messages (vLLM custom all-reduce
// PR benchmarks on 8xA100/H100; an assumption, no measured profile of it is in kvsim's data), for messages up to its
// buffer (custom_all_reduce.py: max_size 8 MiB) over 2, 4, 6 or 8 GPUs.
constexpr double kCustomAllreduceLatencyUs = 8.0;
constexpr double kCustomAllreduceMaxBytes = 8.0 * 1024 * 1024;

// Host FP32 peak per core for CPU attention. Assumption for a server core with AVX-512 (Intel 64 and IA-32
// Architectures Optimization Reference Manual, Skylake-SP and later: two 512-bit FMA ports): 2 FMA units x 16 fp32
// lanes x 2 FLOPs x ~2.0 GHz all-core AVX-512 clock = 128 GFLOP/s. AVX2 hosts (Zen 2) reach about half; decode
// attention on the host is DRAM-bound at either rate (q_heads / kv_heads FLOPs per KV byte against a ridge near 20).
constexpr double kHostFlopsPerCore = 2.0 * 16 * 2.0 * 2.0e9;

// Dequantising one integer KV element fused into the attention kernel: a multiply by the group's scale and an add of
// its zero point (KIVI sec. 4, fused dequantisation + matmul kernel), on the CUDA cores.
constexpr double kDequantOpsPerElement = 2.0;

// Quest's page score per (query head, page, channel): q x min and q x max, their max, and the sum over channels
// (Tang et al. 2024, sec. 3, criticality upper bound): 4 operations on the CUDA cores.
constexpr double kPageScoreOpsPerChannel = 4.0;

// Quest's top-k over page scores: each fp32 score is written once and read once by the selection (a radix or
// bitonic top-k reads its input once per pass; one pass at these sizes, an assumption).
constexpr double kTopKBytesPerScore = 8.0;

inline bool has_group_metadata(DType kv) { return kv == DType::kInt8 || kv == DType::kInt4 || kv == DType::kInt2; }

inline SimTime roofline_ns(double flops, double flops_per_s, double bytes, double bytes_per_s, std::string* bound) {
  const SimTime c = work_time_ns(flops, flops_per_s);
  const SimTime m = work_time_ns(bytes, bytes_per_s);
  *bound = c >= m ? "compute" : "memory";
  return std::max(c, m);
}
}  // namespace kvsim::models::detail
