#include "sim/serving/cluster.h"

namespace kvsim::serving {

namespace {
constexpr uint32_t kArrival = 1;
}

Cluster::Cluster(const sim::Scenario& scenario, const sim::MemoryPlan& plan, const models::CostModel& cost,
                 metrics::Collector& metrics, traces::RequestSource& source)
    : scenario_(scenario), source_(source) {
  for (int64_t r = 0; r < scenario.cluster.replicas; ++r) {
    replicas_.push_back(std::make_unique<Replica>(r, scenario, plan, cost, queue_, metrics));
  }
}

void Cluster::pull_next() {
  pending_ = source_.next();
  if (pending_) queue_.schedule(pending_->arrival_ns, this, kArrival, 0, engine::kPriorityArrival);
}

// Round-robin; the other routers of DESIGN.md plug in here.
size_t Cluster::route() {
  const size_t r = next_replica_;
  next_replica_ = (next_replica_ + 1) % replicas_.size();
  return r;
}

void Cluster::on_event(SimTime now, uint32_t, uint64_t) {
  const traces::Request request = *pending_;
  replicas_[route()]->submit(request, now);
  pull_next();
}

SimTime Cluster::run() {
  pull_next();
  while (queue_.step()) {
  }
  for (const auto& r : replicas_) r->check_end_state();
  return queue_.now();
}

}  // namespace kvsim::serving
