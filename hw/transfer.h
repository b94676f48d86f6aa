// Time of host<->device copies over PCIe: a per-call latency plus bytes over the bandwidth at that copy size, from
// the profile's measured curve (pinned or pageable, per direction) where it has one, else the link's theoretical
// rate times a documented efficiency.
#pragma once

#include <cstdint>
#include <string>

#include "hw/hardware_profile.h"
#include "sim/core/time.h"

namespace kvsim::hw {

enum class CopyDirection { kHostToDevice, kDeviceToHost };

// Pinned copy-engine transfers reach 55.3 of 63 GB/s on an H100 PCIe Gen5 x16 link (nvbandwidth log,
// REFERENCES.md): 0.88 of the theoretical per-direction rate, used when no measured curve exists.
inline constexpr double kPcieDatasheetEfficiency = 0.88;

struct TransferCost {
  SimTime time_ns = 0;
  std::string source;  // "measured" | "datasheet"
};

// `copies` copies of `bytes_per_copy` each, issued back to back on one stream.
TransferCost pcie_copy_time(const HardwareProfile& hw, CopyDirection direction, uint64_t bytes_per_copy, int64_t copies,
                            bool pinned = true);

// A CPU gather's cost per row (torch's embedding/index_select over host tensors, InfiniGen's select_kv): one random
// DRAM access at a server socket's idle latency, about 100 ns (an assumption: no published gather rate for
// InfiniGen's host; `kvsim calibrate`'s gather suite measures cpu_staged/token_head and replaces it). The rows split
// over one socket's cores, PyTorch's intra-op pool defaulting to the physical cores.
inline constexpr SimTime kHostGatherRowNs = 100;

// How scattered KV rows reach the GPU (kernels/ gather suite): one copy per row; rows gathered by CPU threads into a
// pinned staging buffer and sent in one bulk copy (InfiniGen's path); or a kernel reading mapped host memory.
enum class GatherMethod { kPerRow, kCpuStaged, kZeroCopy };

// Kernel-driven (SM) host-to-device reads reach 35.2 GB/s where copy engines reach 55.3 on an H100
// (NVIDIA/nvbandwidth issue 24 vs the nvbandwidth log, REFERENCES.md): 0.64 of the copy-engine rate.
inline constexpr double kZeroCopyShareOfDma = 35.2 / 55.3;

// Time to deliver `rows` rows of `row_bytes` each, scattered in pinned host memory, to the GPU. Uses the measured
// gather curve "<method>/<granularity>" (granularity from the row size: <= 512 B token_head, <= 8 KiB
// token_layer, else block) at the total size; else: per-row = copies of the datasheet PCIe model; cpu-staged = the
// rows read and written once by the host at a socket's DRAM bandwidth plus kHostGatherRowNs per row over a socket's
// cores, then one bulk copy; zero-copy = the DMA rate times kZeroCopyShareOfDma.
TransferCost gather_time(const HardwareProfile& hw, GatherMethod method, uint64_t row_bytes, int64_t rows);

}  // namespace kvsim::hw
