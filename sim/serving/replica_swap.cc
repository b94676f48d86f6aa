// Swap traffic of a Replica (replica.h): the paper engine's block copies over PCIe, timed alone or as flows that share
// the node's links with the other replicas.
#include <functional>
#include <utility>

#include "sim/serving/replica.h"

namespace kvsim::serving {

SimTime swap_copy_ns(const hw::HardwareProfile& hardware, const sim::MemoryPlan& plan, int64_t blocks,
                     hw::CopyDirection direction) {
  const int64_t copies = blocks * plan.layers_per_group * 2;
  const uint64_t bytes_per_copy = plan.block_bytes / static_cast<uint64_t>(plan.layers_per_group * 2);
  return hw::pcie_copy_time(hardware, direction, bytes_per_copy, copies).time_ns;
}

SimTime Replica::swap_time_ns(int64_t blocks, hw::CopyDirection direction) const {
  return swap_copy_ns(scenario_.hardware, plan_, blocks, direction);
}

void Replica::start_swap_flows(SimTime now, SimTime compute_ns, std::function<void(SimTime)> trace) {
  // Each GPU of the group moves its own shard (block_bytes is per GPU); a flow is capped at the rate one stream of
  // block-sized copies reaches alone (per-call latency included), and shares the links with every other flow of the
  // node.
  const uint64_t swap_bytes = static_cast<uint64_t>(swap_in_blocks_ + swap_out_blocks_) * plan_.block_bytes;
  auto landed = [this, compute_ns, start = now, swap_bytes, trace = std::move(trace)](SimTime t) {
    if (--flows_pending_ > 0) return;
    metrics_.add_swap_stall(t - start);
    if (trace) {
      metrics_.timeline()->transfer(id_, start, t - start, "swap", swap_bytes);
      trace(t);
    }
    queue_.schedule(t + compute_ns, this, kIterationEnd, 0, engine::kPriorityIteration);
  };
  for (const auto& [blocks, direction] : {std::pair{swap_in_blocks_, hw::CopyDirection::kHostToDevice},
                                          std::pair{swap_out_blocks_, hw::CopyDirection::kDeviceToHost}}) {
    if (blocks == 0) continue;
    const uint64_t bytes = static_cast<uint64_t>(blocks) * plan_.block_bytes;
    const SimTime alone_ns = swap_time_ns(blocks, direction);
    const double cap = static_cast<double>(bytes) / (static_cast<double>(alone_ns) / 1e9);
    for (const SwapRoute& r : routes_) {
      const bool in = direction == hw::CopyDirection::kHostToDevice;
      ++flows_pending_;
      flows_->start(now, in ? r.host_to_gpu : r.gpu_to_host, bytes, landed, cap);
    }
  }
}

}  // namespace kvsim::serving
