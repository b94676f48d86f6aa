#include "hw/transfer.h"

#include <algorithm>
#include <charconv>
#include <string>

namespace kvsim::hw {

namespace {

// The measured gather curve for a method and granularity. cpu_staged is measured per host thread count
// ("cpu_staged/<granularity>/threads<N>"): the engine gathers with its whole pool, so the largest count; profiles from
// before the split have one "cpu_staged/<granularity>" curve.
const Curve* measured_gather_curve(const MeasuredProfile& measured, const char* method, const char* granularity) {
  const std::string key = std::string(method) + "/" + granularity;
  const Curve* best = nullptr;
  if (method == std::string_view("cpu_staged")) {
    const std::string prefix = key + "/threads";
    int64_t most = 0;
    for (auto it = measured.gather.lower_bound(prefix); it != measured.gather.end() && it->first.starts_with(prefix);
         ++it) {
      int64_t threads = 0;
      const char* begin = it->first.data() + prefix.size();
      const char* end = it->first.data() + it->first.size();
      const auto [ptr, ec] = std::from_chars(begin, end, threads);
      if (ec != std::errc() || ptr != end || threads < 1 || it->second.empty()) continue;
      if (threads > most) most = threads, best = &it->second;
    }
    if (best != nullptr) return best;
  }
  const auto it = measured.gather.find(key);
  return it == measured.gather.end() || it->second.empty() ? nullptr : &it->second;
}

}  // namespace

TransferCost pcie_copy_time(const HardwareProfile& hw, CopyDirection direction, uint64_t bytes_per_copy, int64_t copies,
                            bool pinned) {
  TransferCost cost;
  if (copies <= 0 || bytes_per_copy == 0) return cost;
  const bool h2d = direction == CopyDirection::kHostToDevice;
  double bytes_per_s = 0, latency_ns = hw.pcie.latency_ns;
  if (hw.measured) {
    // The curve's name (no string built per call: this runs every iteration).
    const char* key = h2d ? (pinned ? "pcie/h2d_pinned" : "pcie/h2d_pageable")
                          : (pinned ? "pcie/d2h_pinned" : "pcie/d2h_pageable");
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

TransferCost gather_time(const HardwareProfile& hw, GatherMethod method, uint64_t row_bytes, int64_t rows) {
  TransferCost cost;
  if (rows <= 0 || row_bytes == 0) return cost;
  const uint64_t bytes = row_bytes * static_cast<uint64_t>(rows);
  const char* granularity = row_bytes <= 512 ? "token_head" : (row_bytes <= 8192 ? "token_layer" : "block");
  const char* name =
      method == GatherMethod::kPerRow ? "per_row" : (method == GatherMethod::kCpuStaged ? "cpu_staged" : "zero_copy");
  if (hw.measured) {
    if (const Curve* bw = measured_gather_curve(*hw.measured, name, granularity)) {
      cost.time_ns = transfer_time_ns(bytes, bw->at(static_cast<double>(bytes)));
      cost.source = "measured";
      return cost;
    }
  }
  cost.source = "datasheet";
  switch (method) {
    case GatherMethod::kPerRow:
      return pcie_copy_time(hw, CopyDirection::kHostToDevice, row_bytes, rows);
    case GatherMethod::kCpuStaged: {
      // Reading the rows and writing the staging buffer both cross one socket's DRAM; each row is one random access,
      // the rows spread over the socket's cores.
      const double socket_bytes_per_s =
          hw.host.dram_bytes_per_s / static_cast<double>(std::max<int64_t>(1, hw.host.sockets));
      const int64_t cores = std::max<int64_t>(1, hw.host.cpu_cores / std::max<int64_t>(1, hw.host.sockets));
      cost.time_ns = transfer_time_ns(2 * bytes, socket_bytes_per_s) + rows * kHostGatherRowNs / cores +
                     pcie_copy_time(hw, CopyDirection::kHostToDevice, bytes, 1).time_ns;
      return cost;
    }
    case GatherMethod::kZeroCopy:
      cost.time_ns = transfer_time_ns(bytes, hw.pcie.h2d_bytes_per_s * kPcieDatasheetEfficiency * kZeroCopyShareOfDma);
      return cost;
  }
  return cost;
}

}  // namespace kvsim::hw
