#include "sim/serving/cluster.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "hw/topology.h"
#include "sim/core/error.h"
#include "sim/core/interrupt.h"
#include "sim/core/limits.h"

namespace kvsim::serving {

namespace {
constexpr uint32_t kArrival = 1;
constexpr uint32_t kSendTurn = 2;  // payload: the turn's request id
constexpr uint32_t kEnqueue = 3;   // the oldest request in the API server reaches the engine queue
}  // namespace

Cluster::Cluster(const sim::Scenario& scenario, const sim::MemoryPlan& plan, const models::CostModel& cost,
                 metrics::Collector& metrics, traces::RequestSource& source)
    : Cluster(scenario, metrics, source) {
  const int64_t tp = scenario.cluster.tensor_parallel;
  const int64_t per_node = std::max<int64_t>(1, scenario.hardware.gpus_per_node / tp);
  const int64_t replicas = scenario.cluster.replicas;
  const int64_t nodes = (replicas + per_node - 1) / per_node;
  if (scenario.cluster.router == "prefix-aware" && replicas > 1) {
    prefix_router_ = std::make_unique<PrefixRouter>(static_cast<size_t>(replicas), scenario.cluster,
                                                    plan.num_gpu_blocks * plan.block_size, plan.num_gpu_blocks);
    loads_.resize(static_cast<size_t>(replicas));
  }
  if (scenario.cluster.kv_store) {  // over the cluster topology, whose network the store's transfers cross
    build_network();
    const Pool pool{&scenario, plan, &cost};
    for (size_t r = 0; r < gpus_.size(); ++r) add_replica(pool, flows_.get(), network_swap_routes(r));
    start_kv_store(plan.block_size);
    return;
  }
  // One topology per server; the flow engine sees all their links side by side.
  std::vector<hw::SharedLink> links;
  std::vector<std::vector<SwapRoute>> routes(static_cast<size_t>(replicas));
  for (int64_t node = 0; node < nodes; ++node) {
    const int64_t here = std::min(per_node, replicas - node * per_node);
    // The whole server, so replicas on GPUs 0, 1, ... share switches and sockets as they would in it.
    const int node_gpus = static_cast<int>(std::max(scenario.hardware.gpus_per_node, per_node * tp));
    const hw::Topology topo = hw::build_node_topology(scenario.hardware, node_gpus);
    const size_t offset = links.size();
    for (const hw::SharedLink& l : topo.shared_links()) links.push_back(l);
    auto shifted = [offset](std::vector<hw::FlowHop> hops) {
      for (auto& h : hops) h.link += offset;
      return hops;
    };
    for (int64_t j = 0; j < here; ++j) {
      for (int64_t g = 0; g < tp; ++g) {
        const int gpu = static_cast<int>(j * tp + g);
        routes[static_cast<size_t>(node * per_node + j)].push_back(
            {shifted(hw::route_hops(topo, topo.dram_near_gpu(gpu), topo.gpu(gpu))),
             shifted(hw::route_hops(topo, topo.gpu(gpu), topo.dram_near_gpu(gpu)))});
      }
    }
  }
  flows_ = std::make_unique<engine::FlowEngine>(queue_, std::move(links));
  const Pool pool{&scenario, plan, &cost};
  for (int64_t r = 0; r < replicas; ++r) add_replica(pool, flows_.get(), std::move(routes[static_cast<size_t>(r)]));
}

Cluster::Cluster(const sim::Scenario& scenario, const Pool& prefill, const Pool& decode, metrics::Collector& metrics,
                 traces::RequestSource& source)
    : Cluster(scenario, metrics, source) {
  build_disaggregated(prefill, decode);
  if (scenario.cluster.kv_store) start_kv_store(prefill.plan.block_size);
}

void Cluster::start_kv_store(int64_t block_size) {
  kv_store_ =
      std::make_unique<KvStoreService>(scenario_, block_size, queue_, *flows_, topo_, gpus_, replicas_, metrics_);
  const cache::StoreWrites writes =
      scenario_.cluster.kv_store->write == "computed" ? cache::StoreWrites::kComputed : cache::StoreWrites::kEvicted;
  for (auto& r : replicas_) r->set_kv_store(kv_store_.get(), writes, scenario_.cluster.kv_store->load == "priced");
}

Cluster::Cluster(const sim::Scenario& scenario, metrics::Collector& metrics, traces::RequestSource& source)
    : scenario_(scenario), source_(source), metrics_(metrics) {
  preprocess_ns_ = static_cast<SimTime>(std::llround(scenario.engine.frontend_preprocess_ms * kNsPerMs));
  delivery_ns_ = static_cast<SimTime>(std::llround(scenario.engine.frontend_delivery_ms * kNsPerMs));
  per_token_ns_ = static_cast<SimTime>(std::llround(scenario.engine.frontend_per_token_us * kNsPerUs));
}

void Cluster::add_replica(const Pool& pool, engine::FlowEngine* flows, std::vector<SwapRoute> routes) {
  const auto r = static_cast<int64_t>(replicas_.size());
  replicas_.push_back(
      std::make_unique<Replica>(r, *pool.scenario, pool.plan, *pool.cost, queue_, metrics_, flows, std::move(routes)));
  // A session's user reads the last token when the API server has delivered it (engine.frontend).
  replicas_.back()->set_on_finished([this](uint64_t id, SimTime t, int64_t tokens) {
    if (prefill_count_ > 0) drop_transfer(id, t);
    on_finished(id, tokens > 0 ? t + delivery_ns_ + per_token_ns_ * tokens : t);
  });
}

void Cluster::pull_next() {
  pending_ = source_.next();
  if (!pending_) return;
  ++pulled_;
  if (scenario_.check_invariants && !in_flight_.insert(pending_->id).second) {
    throw Error(fmt::format("invariant violated at t={:.9f} s: request {} comes twice from the workload",
                            ns_to_s(queue_.now()), pending_->id));
  }
  queue_.schedule(pending_->arrival_ns, this, kArrival, 0, engine::kPriorityArrival);
}

namespace {
// The replica of [first, first + count) scoring highest by `score` (the first on ties, so routing is deterministic).
template <typename Score>
size_t argmax(const std::vector<std::unique_ptr<Replica>>& replicas, size_t first, size_t count, Score score) {
  size_t best = first;
  for (size_t i = first + 1; i < first + count; ++i) {
    if (score(*replicas[i]) > score(*replicas[best])) best = i;
  }
  return best;
}
}  // namespace

size_t Cluster::route_in(size_t first, size_t count, const std::string& router, size_t& next_rr) const {
  if (count == 1) return first;
  if (router == "least-outstanding") {
    return argmax(replicas_, first, count, [](const Replica& r) { return -r.outstanding(); });
  }
  if (router == "least-kv") return argmax(replicas_, first, count, [](const Replica& r) { return r.free_kv_blocks(); });
  const size_t r = first + next_rr;
  next_rr = (next_rr + 1) % count;
  return r;
}

// The routers of sim/scenario.h (ClusterConfig). Ties go to the lowest index, so routing is deterministic.
size_t Cluster::route(const traces::Request& request) {
  if (prefill_count_ > 0) return route_in(0, prefill_count_, scenario_.cluster.prefill->router, next_prefill_);
  if (scenario_.cluster.router == "prefix-aware" && replicas_.size() > 1) {
    for (size_t i = 0; i < replicas_.size(); ++i) loads_[i] = replicas_[i]->outstanding();
    return prefix_router_->route(request, loads_);
  }
  return route_in(0, replicas_.size(), scenario_.cluster.router, next_replica_);
}

void Cluster::submit(const traces::Request& request, SimTime now) {
  const size_t r = route(request);
  if (prefill_count_ > 0) {
    Transfer t;
    t.request = request;
    t.prefill = r;
    transfers_.emplace(request.id, std::move(t));
  }
  replicas_[r]->submit(request, now);
}

void Cluster::send(traces::Request request, SimTime now) {
  request.arrival_ns = now;  // latencies count from when the user sent it
  if (request.has_next_turn) expecting_.insert(request.id);
  if (preprocess_ns_ > 0) {
    if (preprocess_count_ == preprocessing_.size()) {  // full: unroll into a ring twice the size
      std::vector<traces::Request> bigger(std::max<size_t>(16, 2 * preprocessing_.size()));
      for (size_t i = 0; i < preprocess_count_; ++i) {
        bigger[i] = std::move(preprocessing_[(preprocess_head_ + i) % preprocessing_.size()]);
      }
      preprocessing_ = std::move(bigger);
      preprocess_head_ = 0;
    }
    preprocessing_[(preprocess_head_ + preprocess_count_++) % preprocessing_.size()] = std::move(request);
    queue_.schedule(now + preprocess_ns_, this, kEnqueue, 0, engine::kPriorityArrival);
    return;
  }
  submit(request, now);
}

void Cluster::arrive_turn(const traces::Request& request, SimTime now) {
  const auto parent = static_cast<uint64_t>(request.parent_id);
  const auto done = finished_parents_.find(parent);
  if (done == finished_parents_.end()) {
    parked_.emplace(parent, request);
    return;
  }
  const SimTime at = std::max(now, done->second + request.think_time_ns);
  finished_parents_.erase(done);
  if (at == now) {
    send(request, now);
  } else {
    scheduled_.emplace(request.id, request);
    queue_.schedule(at, this, kSendTurn, request.id, engine::kPriorityArrival);
  }
}

void Cluster::on_finished(uint64_t id, SimTime t) {
  last_finish_ns_ = std::max(last_finish_ns_, t);
  if (scenario_.check_invariants && in_flight_.erase(id) == 0) {
    throw Error(fmt::format("invariant violated at t={:.9f} s ({} ns): request {} finished twice, or was never sent",
                            ns_to_s(t), t, id));
  }
  const auto child = parked_.find(id);
  if (child != parked_.end()) {
    const traces::Request& r = child->second;
    const SimTime at = std::max({t, r.arrival_ns, t + r.think_time_ns});
    scheduled_.emplace(r.id, r);
    queue_.schedule(at, this, kSendTurn, r.id, engine::kPriorityArrival);
    parked_.erase(child);
    expecting_.erase(id);
    return;
  }
  if (expecting_.erase(id) > 0) finished_parents_.emplace(id, t);
}

void Cluster::on_event(SimTime now, uint32_t kind, uint64_t payload) {
  if (kind == kKvArrive) {
    on_kv_arrived(payload, now);
    return;
  }
  if (kind == kKvRelease) {
    const auto it = transfers_.find(payload);
    replicas_[it->second.prefill]->release_kv(payload, now);
    transfers_.erase(it);
    return;
  }
  if (kind == kEnqueue) {
    traces::Request& r = preprocessing_[preprocess_head_];
    preprocess_head_ = (preprocess_head_ + 1) % preprocessing_.size();
    --preprocess_count_;
    submit(r, now);
    return;
  }
  if (kind == kSendTurn) {
    auto it = scheduled_.find(payload);
    traces::Request r = std::move(it->second);
    scheduled_.erase(it);
    send(std::move(r), now);
    return;
  }
  const int64_t in_system = pulled_ - (metrics_.completed() + metrics_.rejected());
  if (in_system > limits::kMaxRequestsInSystem) {
    throw Error(
        fmt::format("overload: {} requests arrived and not finished at t = {:.3f} s, more than the {} kvsim "
                    "holds (about 2.3 GB): the arrivals outpace the service; lower workload.arrival.rate or "
                    "workload.requests, or add replicas",
                    in_system, ns_to_s(now), limits::kMaxRequestsInSystem));
  }
  const traces::Request request = *pending_;
  if (request.parent_id >= 0) {
    arrive_turn(request, now);
  } else {
    send(request, now);
  }
  pull_next();
}

void Cluster::check_requests(SimTime now) const {
  // The request not yet arrived (pending_) was pulled too.
  const int64_t held =
      (pending_ ? 1 : 0) + static_cast<int64_t>(parked_.size() + scheduled_.size() + preprocess_count_);
  int64_t in_replicas = -counted_twice();
  for (const auto& r : replicas_) in_replicas += r->outstanding();
  const int64_t finished = metrics_.completed() + metrics_.rejected();
  if (pulled_ != held + in_replicas + finished || static_cast<int64_t>(in_flight_.size()) != held + in_replicas) {
    throw Error(fmt::format(
        "invariant violated at t={:.9f} s ({} ns): {} requests pulled from the workload, but {} finished, {} not yet "
        "sent (arriving, or waiting for a previous turn), {} in replicas, {} tracked as in flight: a request was lost",
        ns_to_s(now), now, pulled_, finished, held, in_replicas, in_flight_.size()));
  }
}

SimTime Cluster::run() {
  pull_next();
  // Ctrl-C is polled every 4,096 events (a few microseconds of simulation), never inside an event.
  for (uint64_t n = 0; queue_.step(); ++n) {
    if ((n & 4095) == 0) throw_if_interrupted();
    if (scenario_.check_invariants) check_requests(queue_.now());
  }
  if (!in_flight_.empty()) {
    std::vector<uint64_t> ids(in_flight_.begin(), in_flight_.end());
    std::sort(ids.begin(), ids.end());
    throw Error(fmt::format("invariant violated at the end (t={:.9f} s): {} requests never finished, first request {}",
                            ns_to_s(queue_.now()), ids.size(), ids.front()));
  }
  for (const auto& r : replicas_) r->check_end_state();
  if (kv_store_) {
    kv_store_->check_end_state();
    metrics_.on_store_end(kv_store_->store().peak_blocks(), kv_store_->store().evicted_blocks());
  }
  if (!parked_.empty() || !scheduled_.empty()) {
    throw Error(fmt::format("{} session turns never sent: their previous turn never finished",
                            parked_.size() + scheduled_.size()));
  }
  // The run ends with its last request: writes to a KV store still under way then are background traffic.
  return kv_store_ ? std::max<SimTime>(last_finish_ns_, 0) : queue_.now();
}

}  // namespace kvsim::serving
