// A cluster of identical replicas behind a router, fed by a request stream. Pulls one arrival at a time from the
// stream (constant memory for any trace), routes it, and runs the event queue until every request is done.
// Replicas fill servers of hardware.gpus_per_node GPUs in order (tensor_parallel GPUs each); their host<->GPU
// traffic crosses the server's topology (hw::build_node_topology), shared by max-min fairness.
#pragma once

#include <memory>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "hw/cluster_topology.h"
#include "hw/topology.h"
#include "models/cost_model.h"
#include "sim/engine/event_queue.h"
#include "sim/metrics/collector.h"
#include "sim/scenario.h"
#include "sim/serving/kv_store_service.h"
#include "sim/serving/memory_plan.h"
#include "sim/serving/replica.h"
#include "sim/serving/router.h"
#include "traces/request.h"

namespace kvsim::serving {

// One pool of identical replicas: its scenario (the cluster's, with the pool's tensor_parallel), memory plan and
// cost model.
struct Pool {
  const sim::Scenario* scenario = nullptr;
  sim::MemoryPlan plan;
  const models::CostModel* cost = nullptr;
};

class Cluster final : public engine::EventHandler {
 public:
  Cluster(const sim::Scenario& scenario, const sim::MemoryPlan& plan, const models::CostModel& cost,
          metrics::Collector& metrics, traces::RequestSource& source);
  // Disaggregated (scenario.cluster.prefill and .decode): the prefill pool's replicas, then the decode pool's, on the
  // GPUs sim::pool_gpus gives, joined by the cluster topology (hw::build_cluster_topology).
  Cluster(const sim::Scenario& scenario, const Pool& prefill, const Pool& decode, metrics::Collector& metrics,
          traces::RequestSource& source);

  // Runs to completion; returns the time of the last event.
  SimTime run();
  void on_event(SimTime now, uint32_t kind, uint64_t payload) override;
  uint64_t events_processed() const { return queue_.events_processed(); }
  // Iterations the replicas advanced in closed form (engine.fast_forward: analytic).
  int64_t analytic_steps() const { return replica_total(&Replica::analytic_steps); }
  // Iterations the replicas started from a decode cohort's sums.
  int64_t cohort_iterations() const { return replica_total(&Replica::cohort_iterations); }
  // Prefix-aware routing: (prefix block, replica) pairs remembered now (at most the cluster's KV blocks).
  size_t routing_keys() const { return prefix_router_ ? prefix_router_->remembered() : 0; }
  int64_t routing_tokens() const { return prefix_router_ ? prefix_router_->remembered_tokens() : 0; }

 private:
  // The sum over the replicas of one of their counters.
  int64_t replica_total(int64_t (Replica::*count)() const) const {
    int64_t n = 0;
    for (const auto& r : replicas_) n += ((*r).*count)();
    return n;
  }
  // The parts both constructors share: the API server's timings.
  Cluster(const sim::Scenario& scenario, metrics::Collector& metrics, traces::RequestSource& source);
  void pull_next();
  size_t route(const traces::Request& request);
  // The replica of [first, first + count) that `router` picks (round-robin, least-outstanding or least-kv).
  size_t route_in(size_t first, size_t count, const std::string& router, size_t& next_rr) const;
  void add_replica(const Pool& pool, engine::FlowEngine* flows, std::vector<SwapRoute> routes);
  void submit(const traces::Request& request, SimTime now);  // to a replica (the prefill pool's when disaggregated)

  // Disaggregated serving (cluster_kv_transfer.cc): each request from its prefill replica to its decode replica.
  struct Transfer {
    traces::Request request;
    metrics::RequestRecord record;  // the prefill side's, once it starts its last chunk or finishes
    size_t prefill = 0, decode = 0;
    bool at_decode = false;    // submitted to the decode replica
    bool rejected = false;     // the decode replica refused it (its prompt can never fit there)
    SimTime prefill_end = -1;  // the prompt's last chunk ended (its KV is whole on the prefill side)
    SimTime admitted = -1;     // the decode replica allocated its blocks and the transfer started
    SimTime flows_done = -1;   // its last byte arrived
    SimTime tail_ns = 0;       // layer-wise: the last layer's KV after the prefill ends
    SimTime latency_ns = 0;    // the route's links, and the fabric's when it leaves the node
    int64_t chunk_tokens = 0;  // layer-wise: the prompt's last chunk, whose layers stream out as computed
    int flows_left = 0;
    uint64_t bytes = 0;
  };
  static constexpr uint32_t kKvArrive = 4;   // payload: request id; its KV is whole on the decode side
  static constexpr uint32_t kKvRelease = 5;  // payload: request id; the prefill side frees its KV (a dropped request)
  // The cluster topology of a networked run (sim::networked): its nodes, their swap routes and the flow engine.
  void build_network();
  std::vector<SwapRoute> network_swap_routes(size_t replica) const;
  hw::FabricSpec fabric() const;
  void start_kv_store(int64_t block_size);  // every replica shares it
  void build_disaggregated(const Pool& prefill, const Pool& decode);
  void on_last_chunk(const metrics::RequestRecord& record, int64_t chunk_tokens, SimTime start);
  void on_prefilled(const metrics::RequestRecord& record, SimTime now);
  void to_decode(Transfer& t, SimTime now);
  void on_decode_admitted(uint64_t id, int64_t tokens, SimTime now);
  void maybe_arrive(uint64_t id, Transfer& t);
  void on_kv_arrived(uint64_t id, SimTime now);
  // The request left (completed or rejected) while its prefill side may still hold its KV.
  void drop_transfer(uint64_t id, SimTime now);
  // Requests counted by both pools now: sent to a decode replica while their prefill runs (layer-wise).
  int64_t counted_twice() const { return counted_twice_; }
  int64_t counted_twice_ = 0;
  void send(traces::Request request, SimTime now);
  // Closed-loop sessions: a turn waits for its parent to finish, then for its think time.
  void arrive_turn(const traces::Request& request, SimTime now);
  void on_finished(uint64_t id, SimTime t);
  // --check-invariants: every request pulled from the stream is waiting for its parent, scheduled, in a replica,
  // or finished (completed or rejected), and each finishes once.
  void check_requests(SimTime now) const;

  const sim::Scenario& scenario_;
  traces::RequestSource& source_;
  metrics::Collector& metrics_;
  int64_t pulled_ = 0;                      // requests taken from the stream
  std::unordered_set<uint64_t> in_flight_;  // --check-invariants: pulled and not finished, by id
  engine::EventQueue queue_;
  std::unique_ptr<engine::FlowEngine> flows_;  // swap traffic over every node's links
  std::vector<std::unique_ptr<Replica>> replicas_;
  size_t prefill_count_ = 0;                   // disaggregated: replicas_[0, prefill_count_) prefill
  size_t next_prefill_ = 0, next_decode_ = 0;  // round-robin positions in each pool
  hw::Topology topo_;                          // disaggregated: the GPUs of every node and the network
  std::vector<std::vector<int>> gpus_;         // disaggregated: each replica's GPUs in topo_
  int64_t decode_tp_ = 1;
  double decode_state_bytes_ = 0;                     // a sequence's recurrent state on one decode GPU (hybrid models)
  std::unordered_map<uint64_t, Transfer> transfers_;  // by request id
  // The flows' routes from a prefill replica to a decode replica (one per pair of ranks) and the first one's latency,
  // found once per pair: index prefill x decode replicas + (decode - prefill replicas).
  struct PairRoutes {
    std::vector<std::vector<hw::FlowHop>> hops;
    SimTime latency_ns = 0;
  };
  std::vector<PairRoutes> pair_routes_;
  std::unique_ptr<KvStoreService> kv_store_;  // cluster.kv_store
  SimTime last_finish_ns_ = 0;                // the latest time a request finished (completed or rejected)
  const PairRoutes& routes_between(size_t prefill, size_t decode);
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
