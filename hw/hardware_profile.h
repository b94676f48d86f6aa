// A hardware profile: one GPU type, its PCIe link to the host, NVLink, and the host's DRAM, as datasheets give them
// (`source: datasheet`) or as `kvsim calibrate` measured them (`source: measured`). A plain value, validated at load.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "hw/measured.h"
#include "sim/core/dtype.h"

namespace kvsim::hw {

// kNvswitch: every GPU has nvlink_bytes_per_s to an NVSwitch fabric (HGX/DGX boards); kBridge: 2-way bridges
// join GPUs 0-1, 2-3, ... (RTX A6000); kNone: no NVLink.
enum class NvlinkFabric { kNone, kNvswitch, kBridge };

struct GpuSpec {
  std::string model;           // marketing name, e.g. "NVIDIA H100 SXM5 80GB"
  uint64_t hbm_bytes = 0;      // total memory as the driver reports it (nvidia-smi / cudaMemGetInfo total)
  double hbm_bytes_per_s = 0;  // datasheet peak memory bandwidth
  // Dense (no sparsity) tensor-core peaks; 0 where the GPU has no such unit.
  double fp16_flops = 0;
  double bf16_flops = 0;
  double fp8_flops = 0;
  double int8_ops = 0;
  double fp32_flops = 0;  // non-tensor FP32 (CUDA cores)
  int64_t sm_count = 0;
  // The SM clock at which the datasheet's peaks are quoted (boost); 0 = unknown. With sm_count it bounds how fast
  // small element-wise kernels issue (models/operator_model.h).
  double boost_clock_hz = 0;
  // The SM clock the GPU holds under sustained tensor-core load when its power limit, not its boost, sets it (a 70 W
  // T4); 0 = it holds the boost clock. Peaks quoted at the boost clock scale by sustained / boost.
  double sustained_clock_hz = 0;
  // Resident threads per SM (CUDA C++ Programming Guide, technical specifications per compute capability: 2,048 on
  // 8.0 and 9.0, 1,536 on 8.6 and 8.9, 1,024 on 7.5); 0 = unknown (taken as 2,048). The memory-level parallelism of
  // small element-wise kernels scales with it (models/operator_model.h).
  int64_t max_threads_per_sm = 0;
  uint64_t l2_bytes = 0;
  double nvlink_bytes_per_s = 0;                     // per direction per GPU; 0 = no NVLink
  NvlinkFabric nvlink_fabric = NvlinkFabric::kNone;  // how the GPUs of a node reach each other over NVLink
  bool p2p = true;                                   // peer-to-peer copies allowed (false on GeForce RTX 4090)
  double tdp_w = 0;

  bool operator==(const GpuSpec&) const = default;
};

struct PcieSpec {
  int gen = 0;
  int lanes = 0;
  double h2d_bytes_per_s = 0;  // theoretical per-direction bandwidth of the link
  double d2h_bytes_per_s = 0;
  double bidir_bytes_per_s = 0;  // both directions at once, in total (below 2x one direction in practice)
  double latency_ns = 0;         // per-copy fixed cost (driver + DMA setup)
  int64_t gpus_per_switch = 1;   // GPUs sharing one PCIe switch uplink to the CPU (1 = wired to the root port)

  bool operator==(const PcieSpec&) const = default;
};

struct HostSpec {
  uint64_t dram_bytes = 0;
  double dram_bytes_per_s = 0;
  int64_t cpu_cores = 0;
  int64_t sockets = 1;                 // dram_bytes_per_s is split evenly among sockets
  double socket_link_bytes_per_s = 0;  // per direction between two sockets (UPI / xGMI); needed when sockets > 1
  // Sustained FLOP/s of attention computed on the CPU as the FlexGen family's PyTorch code runs it (fp16 KV upcast,
  // small per-head matmuls), measured or fitted on this host; 0 = the cores' peak (an assumption, models/cost_model).
  double attention_flops_per_s = 0;
  // Host time of one eager PyTorch op as the FlexGen family's Python drives it (dispatch, launch), fitted on runs on
  // this host; 0 = unknown (engine.cpu_op_us then defaults to the GCP T4 VM's fitted value).
  double eager_op_us = 0;

  bool operator==(const HostSpec&) const = default;
};

struct HardwareProfile {
  std::string name;    // catalog name, e.g. "h100-sxm5-80gb"
  std::string source;  // "datasheet" | "measured"
  std::string description;
  std::vector<std::string> citations;  // where each group of numbers comes from
  std::string file;                    // the YAML it was loaded from

  GpuSpec gpu;
  PcieSpec pcie;
  HostSpec host;
  int64_t gpus_per_node = 1;
  // On-demand list price of one GPU-hour in US dollars (the cloud instance's hourly price over its GPUs), 0 =
  // unknown; for cost per million tokens. Scenarios can override it (cost.gpu_hour_usd).
  double gpu_hour_usd = 0;
  // Where that price comes from ("AWS EC2 on-demand, us-east-1: p5.48xlarge ...") and when (as the citation dates
  // it, e.g. "2024"); empty for an unpriced GPU.
  std::string price_source, price_date;

  // Curves from `kvsim calibrate` (only with source: measured).
  std::optional<MeasuredProfile> measured;

  // Dense peak for math in `dtype` (fp8 falls back to fp16 where the GPU has no fp8 unit, as engines upcast;
  // int4 / mxfp4 weights compute in fp16/bf16 after dequantisation).
  double peak_flops(DType dtype) const;

  bool operator==(const HardwareProfile&) const = default;
};

}  // namespace kvsim::hw
