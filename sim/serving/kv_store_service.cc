#include "sim/serving/kv_store_service.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "hw/cluster_topology.h"
#include "models/model_spec.h"
#include "sim/core/error.h"

namespace kvsim::serving {

namespace {
constexpr uint32_t kLoaded = 1;  // payload: request id; its blocks are on its replica's GPUs

// One block's bytes over a whole replica (one copy of what its ranks hold; under MLA each rank holds the whole).
uint64_t block_bytes(const sim::Scenario& s, int64_t block_size) {
  return static_cast<uint64_t>(std::llround(models::kv_bytes_for_sequence(s.model, block_size, s.cache.precision, 1)));
}

int64_t blocks_per_home(const sim::Scenario& s, int64_t block_size) {
  const sim::KvStoreConfig& k = *s.cluster.kv_store;
  const int homes = k.location == "storage_nodes" ? static_cast<int>(k.storage_nodes) : sim::pool_nodes(s);
  return std::max<int64_t>(
      1, static_cast<int64_t>(k.capacity_bytes / static_cast<uint64_t>(homes) / block_bytes(s, block_size)));
}
}  // namespace

KvStoreService::KvStoreService(const sim::Scenario& scenario, int64_t block_size, engine::EventQueue& queue,
                               engine::FlowEngine& flows, const hw::Topology& topo,
                               const std::vector<std::vector<int>>& gpus,
                               const std::vector<std::unique_ptr<Replica>>& replicas, metrics::Collector& metrics)
    : scenario_(scenario),
      block_size_(block_size),
      block_bytes_(block_bytes(scenario, block_size)),
      queue_(queue),
      flows_(flows),
      topo_(topo),
      gpus_(gpus),
      replicas_(replicas),
      metrics_(metrics),
      serving_nodes_(sim::pool_nodes(scenario)),
      storage_nodes_(sim::storage_nodes(scenario)),
      gpus_per_node_(static_cast<int>(scenario.hardware.gpus_per_node)),
      store_(storage_nodes_ > 0 ? storage_nodes_ : serving_nodes_, blocks_per_home(scenario, block_size)) {
  metrics_.on_store_capacity(static_cast<uint64_t>(store_.homes()) * static_cast<uint64_t>(store_.blocks_per_home()) *
                             block_bytes_);
}

uint64_t KvStoreService::rank_bytes(int64_t replica, int64_t blocks) const {
  const int tp = static_cast<int>(gpus_[static_cast<size_t>(replica)].size());
  return static_cast<uint64_t>(std::llround(
      models::kv_bytes_for_sequence(scenario_.model, blocks * block_size_, scenario_.cache.precision, tp)));
}

int KvStoreService::home_of_writer(int64_t replica, uint64_t key) const {
  if (storage_nodes_ == 0) return gpus_[static_cast<size_t>(replica)].front() / gpus_per_node_;
  // Striped over the storage nodes by key (Mooncake Store places objects across its nodes).
  return static_cast<int>(((key * 0x9E3779B97F4A7C15ull) >> 32) % static_cast<uint64_t>(storage_nodes_));
}

const KvStoreService::Routes& KvStoreService::routes(int64_t replica, int home, bool to_gpu) {
  const uint64_t key =
      (static_cast<uint64_t>(replica) * static_cast<uint64_t>(store_.homes()) + static_cast<uint64_t>(home)) * 2 +
      (to_gpu ? 1 : 0);
  Routes& r = routes_[key];
  if (!r.hops.empty()) return r;
  const int node = storage_nodes_ > 0 ? serving_nodes_ + home : home;
  for (int g : gpus_[static_cast<size_t>(replica)]) {
    r.hops.push_back(hw::host_route_hops(topo_, node * gpus_per_node_ + g % gpus_per_node_, g, to_gpu));
  }
  const hw::FabricSpec fabric{0, scenario_.cluster.kv_transfer.latency_us * 1e3};
  r.latency_ns = static_cast<SimTime>(std::llround(hw::route_latency_ns(topo_, fabric, r.hops.front())));
  return r;
}

int64_t KvStoreService::match(const std::vector<uint64_t>& keys) {
  int64_t n = 0;
  while (n < static_cast<int64_t>(keys.size()) && store_.contains(keys[static_cast<size_t>(n)])) ++n;
  return n;
}

std::vector<std::pair<int, int64_t>> KvStoreService::by_home(const std::vector<uint64_t>& keys, int64_t blocks,
                                                             bool use) {
  std::vector<std::pair<int, int64_t>> homes;
  for (int64_t i = 0; i < blocks; ++i) {
    const uint64_t key = keys[static_cast<size_t>(i)];
    const int h = use ? store_.find(key) : store_.home_of(key);
    if (h < 0) throw Error(fmt::format("internal error: KV store block {:#x} not found", keys[static_cast<size_t>(i)]));
    const auto it = std::find_if(homes.begin(), homes.end(), [h](const auto& p) { return p.first == h; });
    if (it == homes.end()) {
      homes.emplace_back(h, 1);
    } else {
      ++it->second;
    }
  }
  return homes;
}

SimTime KvStoreService::load_estimate_ns(int64_t replica, const std::vector<uint64_t>& keys, int64_t blocks) {
  const auto homes = by_home(keys, blocks, false);
  std::vector<std::vector<hw::FlowHop>> all;
  std::vector<std::pair<uint64_t, SimTime>> flow;  // bytes and latency of each flow in `all`
  for (const auto& [home, n] : homes) {
    const Routes& r = routes(replica, home, true);
    for (const auto& hops : r.hops) {
      all.push_back(hops);
      flow.emplace_back(rank_bytes(replica, n), r.latency_ns);
    }
  }
  const std::vector<double> rates = flows_.rates_if_started(all);
  SimTime worst = 0;
  for (size_t i = 0; i < all.size(); ++i) {
    if (!(rates[i] > 0)) return kSimTimeMax;
    worst = std::max(
        worst, static_cast<SimTime>(std::ceil(static_cast<double>(flow[i].first) / rates[i] * 1e9)) + flow[i].second);
  }
  return worst;
}

void KvStoreService::load(int64_t replica, uint64_t id, const std::vector<uint64_t>& keys, int64_t blocks,
                          SimTime recompute_ns, bool first, SimTime now) {
  Load& l = loads_[id];
  l.replica = replica;
  l.first = first;
  l.start = now;
  l.recompute_ns = recompute_ns;
  for (const auto& [home, n] : by_home(keys, blocks, true)) {
    const Routes& r = routes(replica, home, true);
    const uint64_t bytes = rank_bytes(replica, n);
    l.latency_ns = std::max(l.latency_ns, r.latency_ns);
    for (const auto& hops : r.hops) {
      ++l.flows_left;
      l.bytes += bytes;
      flows_.start(now, hops, bytes, [this, id](SimTime done) {
        Load& u = loads_.at(id);
        u.done = std::max(u.done, done);
        if (--u.flows_left == 0) queue_.schedule(u.done + u.latency_ns, this, kLoaded, id, engine::kPriorityArrival);
      });
    }
  }
  if (l.flows_left == 0) queue_.schedule(now, this, kLoaded, id, engine::kPriorityArrival);
}

void KvStoreService::on_event(SimTime now, uint32_t kind, uint64_t payload) {
  if (kind != kLoaded) return;
  const auto it = loads_.find(payload);
  const Load l = it->second;
  loads_.erase(it);
  metrics_.on_store_load(l.bytes, now - l.start, l.recompute_ns, l.first);
  if (metrics::Timeline* timeline = metrics_.timeline()) {
    timeline->transfer(l.replica, l.start, now - l.start, "KV store load", l.bytes);
  }
  replicas_[static_cast<size_t>(l.replica)]->store_arrived(payload, now);
}

void KvStoreService::write(int64_t replica, const std::vector<uint64_t>& keys, SimTime now) {
  std::unordered_map<int, std::vector<uint64_t>> homes;
  for (uint64_t k : keys) {
    if (store_.find(k) >= 0 || !writing_.insert(k).second) continue;  // held (now recently used) or on its way
    homes[home_of_writer(replica, k)].push_back(k);
  }
  for (auto& [where, batch] : homes) {
    const int home = where;  // a copy: clang before 16 cannot capture a structured binding
    const Routes& r = routes(replica, home, false);
    // One copy of each block, each rank writing its share (under MLA every rank holds the whole latent, and the
    // store keeps it once).
    const uint64_t bytes = block_bytes_ * batch.size() / r.hops.size();
    auto left = std::make_shared<int>(static_cast<int>(r.hops.size()));
    auto shared = std::make_shared<std::vector<uint64_t>>(std::move(batch));
    ++writes_in_flight_;
    for (const auto& hops : r.hops) {
      metrics_.on_store_write(bytes);
      flows_.start(now, hops, bytes, [this, left, shared, home](SimTime) {
        if (--*left > 0) return;
        for (uint64_t k : *shared) {
          writing_.erase(k);
          store_.put(k, home);
        }
        --writes_in_flight_;
      });
    }
  }
}

void KvStoreService::check_end_state() const {
  if (const std::string problem = store_.check(); !problem.empty()) {
    throw Error(fmt::format("invariant violated: KV store: {}", problem));
  }
  if (!loads_.empty() || writes_in_flight_ != 0 || !writing_.empty()) {
    throw Error(fmt::format("invariant violated: KV store: {} loads and {} writes unfinished at the end of the run",
                            loads_.size(), writes_in_flight_));
  }
}

}  // namespace kvsim::serving
