// Disaggregated serving in a Cluster (cluster.h): the prefill and decode pools on the cluster topology's GPUs, and
// each request's KV from its prefill replica to its decode replica as flows over the topology's links (NVLink within a
// node; PCIe, the GPUs' NICs and the fabric between nodes), sharing them by max-min fairness with every other flow.
//
// A request's path: the prefill pool's router sends it to a prefill replica, which computes its prompt and holds the
// KV. The decode pool's router picks a decode replica, which queues the request and, in its turn, allocates blocks for
// the prompt; only then does the KV move (vLLM's NixlConnector: the decode side reads the prefill side's blocks into
// its own). A decode replica without free blocks leaves the request queued while the prefill side keeps holding its KV
// (back-pressure). Once the last byte is there the prefill side frees its blocks, and the decode replica computes the
// prompt's last token (its logits) in its next iteration: the first token the user sees.
// kv_transfer.mode after_prefill sends the request to the decode pool when its prefill ends; layerwise when the
// iteration computing its last chunk starts, the layers of that chunk streaming out as they are computed, so the KV is
// whole on the decode side at the later of the flow's end and the prefill's end plus one layer's share of the chunk.
#include <algorithm>
#include <cmath>

#include "models/model_spec.h"
#include "models/state_space.h"
#include "sim/serving/cluster.h"

namespace kvsim::serving {

hw::FabricSpec Cluster::fabric() const {
  const sim::KvTransferConfig& k = scenario_.cluster.kv_transfer;
  return {k.bisection_bytes_per_s, k.latency_us * 1e3};
}

void Cluster::build_network() {
  const sim::Scenario& s = scenario_;
  gpus_ = sim::pool_gpus(s);
  // Each node is of its pool's GPU (pools of different GPUs never share one); storage nodes of the scenario's.
  const int per_node = static_cast<int>(s.hardware.gpus_per_node);
  std::vector<const hw::HardwareProfile*> node_gpu(static_cast<size_t>(sim::pool_nodes(s) + sim::storage_nodes(s)),
                                                   &s.hardware);
  if (s.cluster.disaggregated()) {
    for (size_t r = 0; r < gpus_.size(); ++r) {
      const sim::PoolConfig& pool =
          r < static_cast<size_t>(s.cluster.prefill->replicas) ? *s.cluster.prefill : *s.cluster.decode;
      for (int g : gpus_[r]) node_gpu[static_cast<size_t>(g / per_node)] = &sim::pool_hardware(s, pool);
    }
  }
  std::vector<hw::NodeGroup> groups;
  for (const hw::HardwareProfile* gpu : node_gpu) {
    if (!groups.empty() && groups.back().gpu == gpu) {
      ++groups.back().nodes;
    } else {
      groups.push_back({gpu, sim::pool_node(s, *gpu), 1});
    }
  }
  topo_ = hw::build_cluster_topology(groups, fabric());
  flows_ = std::make_unique<engine::FlowEngine>(queue_, topo_.shared_links());
}

std::vector<SwapRoute> Cluster::network_swap_routes(size_t replica) const {
  std::vector<SwapRoute> routes;
  for (int g : gpus_[replica]) {
    routes.push_back({hw::route_hops(topo_, topo_.dram_near_gpu(g), topo_.gpu(g)),
                      hw::route_hops(topo_, topo_.gpu(g), topo_.dram_near_gpu(g))});
  }
  return routes;
}

void Cluster::build_disaggregated(const Pool& prefill, const Pool& decode) {
  const sim::Scenario& s = scenario_;
  const sim::KvTransferConfig& k = s.cluster.kv_transfer;
  build_network();
  prefill_count_ = static_cast<size_t>(s.cluster.prefill->replicas);
  decode_tp_ = s.cluster.decode->tensor_parallel;
  decode_state_bytes_ = models::state_bytes_per_sequence(s.model, s.dtype, static_cast<int>(decode_tp_));
  for (size_t r = 0; r < gpus_.size(); ++r) {
    add_replica(r < prefill_count_ ? prefill : decode, flows_.get(), network_swap_routes(r));
    KvHandoff hooks;
    if (r < prefill_count_) {
      hooks.prefilled = [this](const metrics::RequestRecord& record, SimTime now) { on_prefilled(record, now); };
      if (k.mode == "layerwise") {
        hooks.last_chunk = [this](const metrics::RequestRecord& record, int64_t chunk, SimTime start) {
          on_last_chunk(record, chunk, start);
        };
      }
    } else {
      hooks.admitted = [this](uint64_t id, int64_t tokens, SimTime now) { on_decode_admitted(id, tokens, now); };
    }
    replicas_.back()->set_role(r < prefill_count_ ? Role::kPrefill : Role::kDecode, std::move(hooks));
  }
}

void Cluster::to_decode(Transfer& t, SimTime now) {
  t.decode =
      route_in(prefill_count_, replicas_.size() - prefill_count_, scenario_.cluster.decode->router, next_decode_);
  t.at_decode = true;
  if (t.prefill_end < 0) ++counted_twice_;
  replicas_[t.decode]->submit_prefilled(t.request, t.record, now);
}

void Cluster::on_last_chunk(const metrics::RequestRecord& record, int64_t chunk_tokens, SimTime start) {
  Transfer& t = transfers_.at(record.id);
  t.record = record;
  t.chunk_tokens = chunk_tokens;
  if (!t.at_decode) to_decode(t, start);
}

void Cluster::on_prefilled(const metrics::RequestRecord& record, SimTime now) {
  Transfer& t = transfers_.at(record.id);
  t.record = record;
  t.prefill_end = now;
  if (t.at_decode) --counted_twice_;
  if (t.rejected) {  // the decode side refused it while its prompt was computed: free the KV
    queue_.schedule(now, this, kKvRelease, record.id, engine::kPriorityArrival);
    return;
  }
  if (!t.at_decode) {
    to_decode(t, now);
  } else {
    maybe_arrive(record.id, t);
  }
}

void Cluster::on_decode_admitted(uint64_t id, int64_t tokens, SimTime now) {
  Transfer& t = transfers_.at(id);
  t.admitted = now;
  const int prefill_tp = static_cast<int>(gpus_[t.prefill].size()), decode_tp = static_cast<int>(decode_tp_);
  // What the decode GPUs must hold, summed over them (under MLA each holds the whole latent), split evenly over one
  // flow per pair of ranks (prefill rank i % prefill_tp to decode rank i % decode_tp).
  const double per_gpu =
      (tokens > 0 ? models::kv_bytes_for_sequence(scenario_.model, tokens, scenario_.cache.precision, decode_tp) : 0) +
      decode_state_bytes_;
  t.bytes = static_cast<uint64_t>(std::llround(per_gpu * decode_tp));
  const int n = std::max(prefill_tp, decode_tp);
  const auto per_flow = static_cast<uint64_t>(std::llround(static_cast<double>(t.bytes) / n));
  if (per_flow == 0) {
    t.flows_done = now;
    maybe_arrive(id, t);
    return;
  }
  t.flows_left = n;
  const PairRoutes& routes = routes_between(t.prefill, t.decode);
  t.latency_ns = routes.latency_ns;
  uint64_t first = 0;
  for (int i = 0; i < n; ++i) {
    const uint64_t f = flows_->start(now, routes.hops[static_cast<size_t>(i)], per_flow, [this, id](SimTime done) {
      Transfer& u = transfers_.at(id);
      if (--u.flows_left == 0) {
        u.flows_done = done;
        maybe_arrive(id, u);
      }
    });
    if (i == 0) first = f;
  }
  if (t.chunk_tokens > 0) {
    // Layer-wise: the last layer of the last chunk leaves once computed, at the flow's rate now.
    const double rate = flows_->rate_bytes_per_s(first);
    const double tail_bytes = static_cast<double>(per_flow) * static_cast<double>(t.chunk_tokens) /
                              static_cast<double>(t.record.prompt_tokens) /
                              static_cast<double>(scenario_.model.num_layers);
    if (rate > 0) t.tail_ns = static_cast<SimTime>(std::llround(1e9 * tail_bytes / rate));
  }
}

const Cluster::PairRoutes& Cluster::routes_between(size_t prefill, size_t decode) {
  const size_t decodes = replicas_.size() - prefill_count_;
  if (pair_routes_.empty()) pair_routes_.resize(prefill_count_ * decodes);
  PairRoutes& r = pair_routes_[prefill * decodes + (decode - prefill_count_)];
  if (!r.hops.empty()) return r;
  const std::vector<int>&from = gpus_[prefill], &to = gpus_[decode];
  for (size_t i = 0; i < std::max(from.size(), to.size()); ++i) {
    r.hops.push_back(hw::route_hops(topo_, topo_.gpu(from[i % from.size()]), topo_.gpu(to[i % to.size()])));
  }
  r.latency_ns = static_cast<SimTime>(std::llround(hw::route_latency_ns(topo_, fabric(), r.hops.front())));
  return r;
}

void Cluster::maybe_arrive(uint64_t id, Transfer& t) {
  if (t.flows_left > 0 || t.flows_done < 0 || t.prefill_end < 0) return;
  const SimTime at = std::max(t.flows_done, t.prefill_end + t.tail_ns) + t.latency_ns;
  queue_.schedule(at, this, kKvArrive, id, engine::kPriorityArrival);
}

void Cluster::on_kv_arrived(uint64_t id, SimTime now) {
  const auto it = transfers_.find(id);
  const Transfer& t = it->second;
  replicas_[t.decode]->kv_arrived(id, now);
  replicas_[t.prefill]->release_kv(id, now);
  metrics_.on_kv_transfer(t.bytes, std::max<SimTime>(0, t.admitted - t.prefill_end), now - t.admitted,
                          now - t.prefill_end);
  if (metrics::Timeline* timeline = metrics_.timeline()) {
    timeline->transfer(static_cast<int64_t>(t.decode), t.admitted, now - t.admitted, "KV transfer", t.bytes);
  }
  transfers_.erase(it);
}

void Cluster::drop_transfer(uint64_t id, SimTime now) {
  const auto it = transfers_.find(id);
  if (it == transfers_.end()) return;
  Transfer& t = it->second;
  if (!t.at_decode) {  // refused by the prefill replica on arrival: it never held KV
    transfers_.erase(it);
    return;
  }
  // Refused by the decode replica (its prompt can never fit there): the prefill side frees the KV it holds, now or
  // once its prefill ends.
  t.rejected = true;
  if (t.prefill_end >= 0) queue_.schedule(now, this, kKvRelease, id, engine::kPriorityArrival);
}

}  // namespace kvsim::serving
