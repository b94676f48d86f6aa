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
TransferCost pcie_copy_time(const HardwareProfile& hw, CopyDirection direction, uint64_t bytes_per_copy,
                            int64_t copies, bool pinned = true);

}  // namespace kvsim::hw
