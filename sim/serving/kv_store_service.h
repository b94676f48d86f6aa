// A cluster-wide KV store at work (sim/scenario.h KvStoreConfig): prefix blocks written to the DRAM of its nodes and
// loaded back into any replica's GPUs, each transfer a set of flows over the cluster topology (one per
// tensor-parallel rank, each from the DRAM beside the same-numbered GPU of the block's home, so through that GPU's
// NIC rail between nodes and over PCIe within one), sharing every link by max-min fairness with the other flows.
// A replica prices a load with load_estimate_ns (the flows' max-min share if they started now, plus the route's
// latency) against recomputing the blocks, as Mooncake's Conductor prices a prefix reuse (Qin et al., FAST 2025,
// sec. 5.1: TTFT with the KV cache transferred versus recomputed).
// A block enters the store when its write has landed, and is found from then on; a block the store holds or is
// writing already is not written again (the store is content-addressed: a block's identity is its key).
#pragma once

#include <memory>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "hw/topology.h"
#include "sim/engine/event_queue.h"
#include "sim/engine/flow_engine.h"
#include "sim/metrics/collector.h"
#include "sim/scenario.h"
#include "sim/serving/kv_store.h"
#include "sim/serving/replica.h"

namespace kvsim::serving {

class KvStoreService final : public engine::EventHandler, public KvStoreClient {
 public:
  // `gpus`: each replica's GPUs in `topo`, whose first pool_nodes(scenario) nodes serve and whose next
  // storage_nodes(scenario) nodes are storage nodes. `replicas` are told when their loads arrive.
  KvStoreService(const sim::Scenario& scenario, int64_t block_size, engine::EventQueue& queue,
                 engine::FlowEngine& flows, const hw::Topology& topo, const std::vector<std::vector<int>>& gpus,
                 const std::vector<std::unique_ptr<Replica>>& replicas, metrics::Collector& metrics);

  int64_t match(const std::vector<uint64_t>& keys) override;
  SimTime load_estimate_ns(int64_t replica, const std::vector<uint64_t>& keys, int64_t blocks) override;
  void load(int64_t replica, uint64_t id, const std::vector<uint64_t>& keys, int64_t blocks, SimTime recompute_ns,
            bool first, SimTime now) override;
  void write(int64_t replica, const std::vector<uint64_t>& keys, SimTime now) override;
  void on_event(SimTime now, uint32_t kind, uint64_t payload) override;

  const KvStore& store() const { return store_; }
  // Throws kvsim::Error when the store's books disagree or a transfer is left unfinished at the end of a run.
  void check_end_state() const;

 private:
  // One replica's routes to or from one home: one per rank, and the first one's latency.
  struct Routes {
    std::vector<std::vector<hw::FlowHop>> hops;
    SimTime latency_ns = 0;
  };
  struct Load {
    int64_t replica = 0;
    int flows_left = 0;
    SimTime start = 0, done = 0, latency_ns = 0, recompute_ns = 0;
    uint64_t bytes = 0;
    bool first = false;
  };
  int home_of_writer(int64_t replica, uint64_t key) const;
  const Routes& routes(int64_t replica, int home, bool to_gpu);
  // Blocks per home of the first `blocks` keys (each found in the store), the homes in first-seen order; `use`: the
  // blocks become the most recently used (a load reads them; pricing one does not).
  std::vector<std::pair<int, int64_t>> by_home(const std::vector<uint64_t>& keys, int64_t blocks, bool use);
  uint64_t rank_bytes(int64_t replica, int64_t blocks) const;  // one rank's share of `blocks` blocks

  const sim::Scenario& scenario_;
  int64_t block_size_;
  uint64_t block_bytes_;  // one block over a whole replica, one copy
  engine::EventQueue& queue_;
  engine::FlowEngine& flows_;
  const hw::Topology& topo_;
  const std::vector<std::vector<int>>& gpus_;
  const std::vector<std::unique_ptr<Replica>>& replicas_;
  metrics::Collector& metrics_;
  int serving_nodes_ = 0, storage_nodes_ = 0, gpus_per_node_ = 0;
  KvStore store_;
  std::unordered_map<uint64_t, Routes> routes_;  // by (replica x homes + home) x 2 + direction
  std::unordered_map<uint64_t, Load> loads_;     // by request id
  std::unordered_set<uint64_t> writing_;         // keys whose write is under way
  int64_t writes_in_flight_ = 0;
};

}  // namespace kvsim::serving
