// Transfers as flows over shared links, driven by events (SimGrid's flow-level model): a flow moves bytes over a
// route; whenever a flow starts or ends, every active flow's rate is recomputed by hw::max_min_rates, and the next
// completion is one event at its exact finish time, so a flow's end moves when another flow starts or ends.
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <vector>

#include "hw/link_sharing.h"
#include "sim/engine/event_queue.h"

namespace kvsim::engine {

class FlowEngine final : public EventHandler {
 public:
  using Done = std::function<void(SimTime now)>;

  FlowEngine(EventQueue& queue, std::vector<hw::SharedLink> links);

  // Start moving `bytes` over `hops` at `now` (>= the queue's time); `done` runs when the last byte arrives.
  // Returns the flow's id.
  uint64_t start(SimTime now, std::vector<hw::FlowHop> hops, uint64_t bytes, Done done,
                 double max_bytes_per_s = std::numeric_limits<double>::infinity());

  void on_event(SimTime now, uint32_t kind, uint64_t payload) override;

  size_t active() const { return flows_.size(); }
  double rate_bytes_per_s(uint64_t id) const;  // 0 when finished or unknown
  // The rates flows over `routes` would get if they all started now beside the active ones (max-min fair, as start
  // would give them), in the order of `routes`; nothing starts.
  std::vector<double> rates_if_started(const std::vector<std::vector<hw::FlowHop>>& routes) const;

 private:
  struct Flow {
    hw::FlowDemand demand;
    double remaining_bytes = 0;
    double rate = 0;
    Done done;
  };

  void advance(SimTime now);     // move every flow's bytes up to now at its current rate
  void reschedule(SimTime now);  // recompute rates and schedule the earliest completion

  EventQueue& queue_;
  std::vector<hw::SharedLink> links_;
  std::map<uint64_t, Flow> flows_;  // ordered by id: completions at one instant run in start order
  uint64_t next_id_ = 1;
  uint64_t generation_ = 0;  // completion events from before the last reschedule are stale
  SimTime updated_ = 0;
};

}  // namespace kvsim::engine
