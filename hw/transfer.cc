#include "hw/transfer.h"

namespace kvsim::hw {

TransferCost pcie_copy_time(const HardwareProfile& hw, CopyDirection direction, uint64_t bytes_per_copy,
                            int64_t copies, bool pinned) {
  TransferCost cost;
  if (copies <= 0 || bytes_per_copy == 0) return cost;
  const bool h2d = direction == CopyDirection::kHostToDevice;
  const std::string key = std::string("pcie/") + (h2d ? "h2d" : "d2h") + (pinned ? "_pinned" : "_pageable");
  double bytes_per_s = 0, latency_ns = hw.pcie.latency_ns;
  if (hw.measured) {
    if (auto bw = hw.measured->bandwidth_at(key, static_cast<double>(bytes_per_copy))) bytes_per_s = *bw;
    if (hw.measured->pcie_latency_ns > 0) latency_ns = hw.measured->pcie_latency_ns;
  }
  cost.source = bytes_per_s > 0 ? "measured" : "datasheet";
  if (bytes_per_s <= 0) {
    bytes_per_s = (h2d ? hw.pcie.h2d_bytes_per_s : hw.pcie.d2h_bytes_per_s) * kPcieDatasheetEfficiency;
  }
  // A measured curve already includes the per-call cost at each size; the datasheet path adds it explicitly.
  const SimTime per_copy = transfer_time_ns(bytes_per_copy, bytes_per_s) +
                           (cost.source == "datasheet" ? static_cast<SimTime>(latency_ns) : 0);
  cost.time_ns = per_copy * copies;
  return cost;
}

}  // namespace kvsim::hw
