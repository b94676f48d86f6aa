// A cluster of identical replicas behind a router, fed by a request stream. Pulls one arrival at a time from the
// stream (constant memory for any trace), routes it, and runs the event queue until every request is done.
// Replicas fill servers of hardware.gpus_per_node GPUs in order (tensor_parallel GPUs each); their host<->GPU
// traffic crosses the server's topology (hw::build_node_topology), shared by max-min fairness.
#pragma once

#include <memory>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "models/cost_model.h"
#include "sim/engine/event_queue.h"
#include "sim/metrics/collector.h"
#include "sim/scenario.h"
#include "sim/serving/memory_plan.h"
#include "sim/serving/replica.h"
#include "sim/serving/router.h"
#include "traces/request.h"

namespace kvsim::serving {

class Cluster final : public engine::EventHandler {
 public:
  Cluster(const sim::Scenario& scenario, const sim::MemoryPlan& plan, const models::CostModel& cost,
          metrics::Collector& metrics, traces::RequestSource& source);

  // Runs to completion; returns the time of the last event.
  SimTime run();
  void on_event(SimTime now, uint32_t kind, uint64_t payload) override;
  uint64_t events_processed() const { return queue_.events_processed(); }
  // Prefix-aware routing: (prefix block, replica) pairs remembered now (at most the cluster's KV blocks).
  size_t routing_keys() const { return prefix_router_ ? prefix_router_->remembered() : 0; }
  int64_t routing_tokens() const { return prefix_router_ ? prefix_router_->remembered_tokens() : 0; }

 private:
  void pull_next();
  size_t route(const traces::Request& request);
  size_t least_outstanding() const;
  void send(traces::Request request, SimTime now);
  // Closed-loop sessions: a turn waits for its parent to finish, then for its think time.
  void arrive_turn(const traces::Request& request, SimTime now);
  void on_finished(uint64_t id, SimTime t);
  // --check-invariants: every request pulled from the stream is waiting for its parent, scheduled, in a replica,
  // or finished (completed or rejected), and each finishes once.
  void check_requests(SimTime now) const;

  const sim::Scenario& scenario_;
  traces::RequestSource& source_;
  const metrics::Collector& metrics_;
  int64_t pulled_ = 0;                      // requests taken from the stream
  std::unordered_set<uint64_t> in_flight_;  // --check-invariants: pulled and not finished, by id
  engine::EventQueue queue_;
  std::unique_ptr<engine::FlowEngine> flows_;  // swap traffic over every node's links
  std::vector<std::unique_ptr<Replica>> replicas_;
  std::optional<traces::Request> pending_;
  size_t next_replica_ = 0;
  // prefix-aware routing (sim/serving/router.h): what each replica was sent, as much as its KV cache holds, so
  // memory stays bounded on traces of millions of sessions.
  std::unique_ptr<PrefixRouter> prefix_router_;
  std::vector<int64_t> loads_;  // outstanding requests per replica, refreshed per prefix-aware decision
  std::unordered_map<uint64_t, traces::Request> parked_;     // turns waiting for their parent, by parent id
  std::unordered_set<uint64_t> expecting_;                   // submitted requests with a next turn
  std::unordered_map<uint64_t, SimTime> finished_parents_;   // ... that finished before it arrived
  std::unordered_map<uint64_t, traces::Request> scheduled_;  // turns whose send time is set, by id
  // Requests in the API server before the engine queue (engine.frontend_preprocess_ms, the same for every request,
  // so they leave in the order they came): a ring that reuses its slots, so no allocation per request.
  SimTime preprocess_ns_ = 0;
  std::vector<traces::Request> preprocessing_;
  size_t preprocess_head_ = 0, preprocess_count_ = 0;
  SimTime delivery_ns_ = 0, per_token_ns_ = 0;  // the API server's delivery (engine.frontend)
};

}  // namespace kvsim::serving
