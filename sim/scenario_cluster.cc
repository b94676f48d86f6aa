// The cluster section of a scenario: colocated replicas, or the prefill and decode pools of disaggregated serving
// with how their KV moves (scenario.h ClusterConfig).
#include <algorithm>

#include <fmt/format.h>

#include "hw/cluster_topology.h"
#include "sim/core/error.h"
#include "sim/core/units.h"
#include "sim/scenario_sections.h"

namespace kvsim::sim {

const std::vector<std::string>& router_names() {
  static const std::vector<std::string> r = {"round-robin", "least-outstanding", "least-kv", "prefix-aware"};
  return r;
}

const std::vector<std::string>& kv_transfer_modes() {
  static const std::vector<std::string> m = {"after_prefill", "layerwise"};
  return m;
}

namespace {

void check_heads(const yaml::Map& m, const Scenario& s, int64_t tp) {
  if (s.model.num_attention_heads % tp != 0) {
    m.fail("tensor_parallel", fmt::format("{} attention heads of {} do not split evenly over {} GPUs",
                                          s.model.num_attention_heads, s.model.name, tp));
  }
}

PoolConfig parse_pool(const yaml::Map& m, const Scenario& s) {
  PoolConfig p;
  p.replicas = m.get_int("replicas", 1, 1, 1 << 20);
  p.tensor_parallel = m.get_int("tensor_parallel", 1, 1, 64);
  p.router = m.get_choice("router", p.router, {"round-robin", "least-outstanding", "least-kv"});
  check_heads(m, s, p.tensor_parallel);
  if (m.has("hardware")) {
    p.hardware_ref = m.get_string("hardware", "");
    p.hardware = std::make_shared<const hw::HardwareProfile>(load_hardware_ref(m, "hardware", p.hardware_ref, s.file));
    // Node indices are shared by the pools' servers (and a KV store's): each holds as many GPUs.
    if (p.hardware->gpus_per_node != s.hardware.gpus_per_node || p.hardware->host.sockets != s.hardware.host.sockets) {
      m.fail("hardware", fmt::format("{} comes {} to a server of {} sockets and {} (the scenario's hardware) {} to {}: "
                                     "pools of different GPUs need servers of as many GPUs and sockets",
                                     p.hardware->name, p.hardware->gpus_per_node, p.hardware->host.sockets,
                                     s.hardware.name, s.hardware.gpus_per_node, s.hardware.host.sockets));
    }
  }
  m.finish();
  return p;
}

// The network keys of cluster.kv_transfer: the node model, its NICs and the fabric.
void parse_network(const yaml::Map& t, KvTransferConfig& k) {
  if (t.has("node")) {
    k.node = t.get_string("node", "");
    if (!hw::find_node(k.node)) {
      std::vector<std::string> names;
      for (const hw::NodeSpec& n : hw::node_catalog()) names.push_back(n.name);
      t.fail("node", fmt::format("unknown node '{}'; the catalog has {}", k.node, fmt::join(names, ", ")));
    }
  }
  k.nic_bytes_per_s = t.get_double("nic_gbps", 0, 0, 1e5) * 1e9 / 8;
  k.gpudirect_rdma = t.get_bool("gpudirect_rdma", true);
  k.bisection_bytes_per_s = t.get_double("bisection_gbps", 0, 0, 1e9) * 1e9 / 8;
  k.latency_us = t.get_double("latency_us", 0, 0, 1e6);
}

KvStoreConfig parse_kv_store(const yaml::Map& m) {
  KvStoreConfig k;
  const std::optional<uint64_t> capacity = m.opt_bytes("capacity_bytes");
  if (!capacity || *capacity == 0) m.fail_expected("capacity_bytes", "a byte size above 0 (e.g. 512GiB)");
  k.capacity_bytes = *capacity;
  k.location = m.get_choice("location", k.location, {"serving_nodes", "storage_nodes"});
  if (k.location == "storage_nodes") {
    k.storage_nodes = m.get_int("storage_nodes", 1, 1, 1024);
    k.storage_dram_bytes = m.opt_bytes("storage_dram_bytes").value_or(0);
  } else {
    for (const char* key : {"storage_nodes", "storage_dram_bytes"}) {
      if (m.has(key)) m.fail(key, "applies with location: storage_nodes only");
    }
  }
  k.write = m.get_choice("write", k.write, {"evicted", "computed"});
  k.load = m.get_choice("load", k.load, {"priced", "always"});
  m.finish();
  return k;
}

// A run over more than one node needs NICs to join them.
void check_nics(const yaml::Map& t, const Scenario& s) {
  const int nodes = pool_nodes(s) + storage_nodes(s);
  if (nodes < 2) return;
  std::vector<const hw::HardwareProfile*> gpus = {&s.hardware};
  if (s.cluster.disaggregated()) {
    gpus = {&pool_hardware(s, *s.cluster.prefill), &pool_hardware(s, *s.cluster.decode)};
    if (storage_nodes(s) > 0) gpus.push_back(&s.hardware);
  }
  for (const hw::HardwareProfile* gpu : gpus) {
    if (pool_node(s, *gpu).nic.bytes_per_s <= 0) {
      t.fail("nic_gbps", fmt::format("the cluster fills {} nodes of {} GPUs, and the node catalog has no NIC for {} "
                                     "servers: set each GPU's NIC speed in Gb/s (e.g. 400)",
                                     nodes, s.hardware.gpus_per_node, gpu->name));
    }
  }
}

YAML::Node pool_to_yaml(const PoolConfig& p) {
  YAML::Node n;
  n["replicas"] = p.replicas;
  n["tensor_parallel"] = p.tensor_parallel;
  n["router"] = p.router;
  if (!p.hardware_ref.empty()) n["hardware"] = p.hardware_ref;
  return n;
}

}  // namespace

std::vector<std::vector<int>> pool_gpus(const Scenario& s) {
  const int per_node = static_cast<int>(s.hardware.gpus_per_node);
  std::vector<std::vector<int>> gpus;
  int next = 0;
  const auto place = [&](const PoolConfig& pool, bool fresh_node) {
    const int tp = static_cast<int>(pool.tensor_parallel);
    for (int64_t r = 0; r < pool.replicas; ++r) {
      if ((fresh_node && r == 0 && next % per_node != 0) || next % per_node + tp > per_node) {
        next = (next / per_node + 1) * per_node;
      }
      std::vector<int> group;
      for (int g = 0; g < tp; ++g) group.push_back(next++);
      gpus.push_back(std::move(group));
    }
  };
  if (!s.cluster.disaggregated()) {
    place({s.cluster.replicas, s.cluster.tensor_parallel}, false);
    return gpus;
  }
  place(*s.cluster.prefill, false);
  place(*s.cluster.decode, s.cluster.kv_transfer.separate_nodes || mixed_pools(s));
  return gpus;
}

const hw::HardwareProfile& pool_hardware(const Scenario& s, const PoolConfig& pool) {
  return pool.hardware ? *pool.hardware : s.hardware;
}

bool mixed_pools(const Scenario& s) {
  return s.cluster.disaggregated() &&
         pool_hardware(s, *s.cluster.prefill).name != pool_hardware(s, *s.cluster.decode).name;
}

int pool_nodes(const Scenario& s) {
  const int per_node = static_cast<int>(s.hardware.gpus_per_node);
  return pool_gpus(s).back().back() / per_node + 1;
}

bool networked(const Scenario& s) { return s.cluster.disaggregated() || s.cluster.kv_store.has_value(); }

int storage_nodes(const Scenario& s) {
  const auto& k = s.cluster.kv_store;
  return k && k->location == "storage_nodes" ? static_cast<int>(k->storage_nodes) : 0;
}

hw::NodeSpec pool_node(const Scenario& s) { return pool_node(s, s.hardware); }

hw::NodeSpec pool_node(const Scenario& s, const hw::HardwareProfile& gpu) {
  const KvTransferConfig& k = s.cluster.kv_transfer;
  hw::NodeSpec node;
  // kv_transfer.node names the scenario's servers; a pool of another GPU is on that GPU's catalog node.
  if (const hw::NodeSpec* n = !k.node.empty() && gpu.name == s.hardware.name ? hw::find_node(k.node) : nullptr) {
    node = *n;
  } else {
    for (const hw::NodeSpec& candidate : hw::node_catalog()) {
      if (candidate.gpu == gpu.name) node = candidate;
    }
  }
  if (node.name.empty()) {
    node.name = gpu.name + " server";
    node.gpu = gpu.name;
    node.source = "no catalog node";
  }
  const int catalog_gpus = node.gpus;
  node.gpus = static_cast<int>(gpu.gpus_per_node);
  if (k.nic_bytes_per_s > 0) {
    node.nic.bytes_per_s = k.nic_bytes_per_s;
    node.source += "; NICs from cluster.kv_transfer.nic_gbps";
  }
  // The catalog's NICs as they are where its node has this many GPUs, else (or with nic_gbps) one per GPU.
  const bool as_catalog = k.nic_bytes_per_s == 0 && catalog_gpus == node.gpus && node.nic.per_node > 0 &&
                          node.gpus % node.nic.per_node == 0;
  node.nic.per_node = node.nic.bytes_per_s > 0 ? (as_catalog ? node.nic.per_node : node.gpus) : 0;
  node.nic.gpudirect_rdma = node.nic.gpudirect_rdma && k.gpudirect_rdma;
  return node;
}

void parse_cluster(const yaml::Map& cluster, Scenario& s) {
  if (cluster.has("prefill") || cluster.has("decode")) {
    if (!cluster.has("prefill") || !cluster.has("decode")) {
      cluster.fail(cluster.has("prefill") ? "decode" : "prefill",
                   "a disaggregated cluster needs both pools: cluster.prefill and cluster.decode");
    }
    for (const char* key : {"replicas", "tensor_parallel", "router"}) {
      if (cluster.has(key)) {
        cluster.fail(key, fmt::format("set per pool in a disaggregated cluster (cluster.prefill.{0}, "
                                      "cluster.decode.{0})",
                                      key));
      }
    }
    s.cluster.prefill = parse_pool(cluster.child("prefill"), s);
    s.cluster.decode = parse_pool(cluster.child("decode"), s);
    s.cluster.replicas = s.cluster.prefill->replicas + s.cluster.decode->replicas;
    s.cluster.tensor_parallel = s.cluster.decode->tensor_parallel;
    s.cluster.router = s.cluster.decode->router;
    const yaml::Map t = cluster.child("kv_transfer");
    KvTransferConfig& k = s.cluster.kv_transfer;
    k.mode = t.get_choice("mode", k.mode, kv_transfer_modes());
    k.separate_nodes = t.get_bool("separate_nodes", false);
    parse_network(t, k);
    for (const auto& [key, pool] :
         {std::pair{"prefill", &*s.cluster.prefill}, std::pair{"decode", &*s.cluster.decode}}) {
      const hw::HardwareProfile& gpu = pool_hardware(s, *pool);
      if (pool->tensor_parallel > gpu.gpus_per_node) {
        cluster.child(key).fail("tensor_parallel", fmt::format("{} GPUs do not fit one node of {} ({} GPUs)",
                                                               pool->tensor_parallel, gpu.name, gpu.gpus_per_node));
      }
    }
    if (cluster.has("kv_store")) s.cluster.kv_store = parse_kv_store(cluster.child("kv_store"));
    check_nics(t, s);
    t.finish();
  } else {
    s.cluster.replicas = cluster.get_int("replicas", 1, 1, 1 << 20);
    s.cluster.tensor_parallel = cluster.get_int("tensor_parallel", 1, 1, 64);
    s.cluster.router = cluster.get_choice("router", "round-robin", router_names());
    check_heads(cluster, s, s.cluster.tensor_parallel);
    if (cluster.has("kv_store")) {
      s.cluster.kv_store = parse_kv_store(cluster.child("kv_store"));
      if (s.cluster.tensor_parallel > s.hardware.gpus_per_node) {
        cluster.fail("tensor_parallel",
                     fmt::format("{} GPUs do not fit one node of {} ({} GPUs), as a KV store's "
                                 "cluster topology needs",
                                 s.cluster.tensor_parallel, s.hardware.name, s.hardware.gpus_per_node));
      }
      // A colocated cluster with a store: kv_transfer describes the network only.
      const yaml::Map t = cluster.child("kv_transfer");
      for (const char* key : {"mode", "separate_nodes"}) {
        if (t.has(key)) t.fail(key, "applies to a disaggregated cluster (cluster.prefill, cluster.decode) only");
      }
      parse_network(t, s.cluster.kv_transfer);
      check_nics(t, s);
      t.finish();
    } else if (cluster.has("kv_transfer")) {
      cluster.fail("kv_transfer",
                   "applies to a disaggregated cluster (cluster.prefill, cluster.decode) or one with "
                   "a KV store (cluster.kv_store)");
    }
  }
  s.cluster.prefix_balance_abs = cluster.get_int("prefix_balance_abs", kSglangBalanceAbsThreshold, 0, int64_t{1} << 40);
  s.cluster.prefix_balance_rel = cluster.get_double("prefix_balance_rel", kSglangBalanceRelThreshold, 1, 1e6);
  s.cluster.prefix_cache_threshold = cluster.get_double("prefix_cache_threshold", kSglangCacheThreshold, 0, 1);
  cluster.finish();
}

void check_kv_store(const yaml::Map& cluster, const Scenario& s) {
  if (!s.cluster.kv_store) return;
  const KvStoreConfig& k = *s.cluster.kv_store;
  const yaml::Map m = cluster.child("kv_store");
  if (s.engine.version != "v1" || !s.engine.chunked_prefill) {
    m.fail("capacity_bytes",
           "a KV store loads prefix blocks as vLLM V1's KV connectors do: it needs engine v1 with "
           "chunked prefill");
  }
  if (!s.cache.prefix_caching || s.cache.placement == "offload") {
    m.fail("capacity_bytes",
           "a KV store shares prefix blocks: it needs cache.prefix_caching: true and the KV on the "
           "GPUs (placement gpu or tiered)");
  }
  if (s.model.num_sliding_layers() > 0 || s.model.num_state_layers() > 0) {
    m.fail("capacity_bytes", fmt::format("{} keeps per-group caches (sliding-window or state-space layers), whose "
                                         "blocks kvsim's prefix cache does not share",
                                         s.model.name));
  }
  // What the serving GPUs keep in each node's DRAM already: per GPU, the swap space and a tiered host pool, on the
  // fullest node.
  std::vector<int64_t> per_node(static_cast<size_t>(pool_nodes(s)), 0);
  for (const auto& group : pool_gpus(s)) {
    for (int g : group) ++per_node[static_cast<size_t>(g / s.hardware.gpus_per_node)];
  }
  const int64_t gpus = *std::max_element(per_node.begin(), per_node.end());
  const uint64_t per_gpu = (s.cache.preemption == "swap" ? s.cache.swap_space_bytes : 0) +
                           (s.cache.placement == "tiered" ? s.cache.host_kv_bytes : 0);
  // The smallest DRAM of the serving nodes (pools of different GPUs are on servers of different models).
  uint64_t dram = s.hardware.host.dram_bytes;
  if (s.cluster.disaggregated()) {
    for (const PoolConfig* pool : {&*s.cluster.prefill, &*s.cluster.decode}) {
      dram = std::min(dram, pool_hardware(s, *pool).host.dram_bytes);
    }
  }
  const uint64_t serving_use = per_gpu * static_cast<uint64_t>(gpus);
  const bool storage = k.location == "storage_nodes";
  const int nodes = storage ? static_cast<int>(k.storage_nodes) : pool_nodes(s);
  const uint64_t node_dram = storage ? (k.storage_dram_bytes > 0 ? k.storage_dram_bytes : s.hardware.host.dram_bytes)
                                     : (dram > serving_use ? dram - serving_use : 0);
  const uint64_t share = k.capacity_bytes / static_cast<uint64_t>(nodes);
  if (share > node_dram) {
    m.fail("capacity_bytes",
           fmt::format(
               "{} over {} {} is {} per node, more than the {} of DRAM each has for it ({}{})",
               format_bytes(k.capacity_bytes), nodes, storage ? "storage nodes" : "serving nodes", format_bytes(share),
               format_bytes(node_dram),
               storage ? (k.storage_dram_bytes > 0 ? "cluster.kv_store.storage_dram_bytes"
                                                   : fmt::format("hardware {}'s host.dram_bytes", s.hardware.name))
                       : fmt::format("{} of {}'s host memory", format_bytes(dram), s.hardware.name),
               storage || serving_use == 0 ? ""
                                           : fmt::format(", less {} of swap space and host KV tiers of its {} GPUs",
                                                         format_bytes(serving_use), gpus)));
  }
}

YAML::Node pools_yaml(const PoolConfig& prefill, const PoolConfig& decode) {
  YAML::Node cl;
  cl["prefill"] = pool_to_yaml(prefill);
  cl["decode"] = pool_to_yaml(decode);
  return cl;
}

namespace {
YAML::Node network_to_yaml(const KvTransferConfig& k) {
  YAML::Node t;
  if (!k.node.empty()) t["node"] = k.node;
  if (k.nic_bytes_per_s > 0) t["nic_gbps"] = yaml::number(k.nic_bytes_per_s * 8 / 1e9);
  t["gpudirect_rdma"] = k.gpudirect_rdma;
  if (k.bisection_bytes_per_s > 0) t["bisection_gbps"] = yaml::number(k.bisection_bytes_per_s * 8 / 1e9);
  t["latency_us"] = yaml::number(k.latency_us);
  return t;
}
}  // namespace

YAML::Node cluster_to_yaml(const ClusterConfig& c) {
  YAML::Node cl;
  if (c.disaggregated()) {
    cl = pools_yaml(*c.prefill, *c.decode);
    YAML::Node t = network_to_yaml(c.kv_transfer);
    t["mode"] = c.kv_transfer.mode;
    t["separate_nodes"] = c.kv_transfer.separate_nodes;
    cl["kv_transfer"] = t;
  } else {
    cl["replicas"] = c.replicas;
    cl["tensor_parallel"] = c.tensor_parallel;
    cl["router"] = c.router;
  }
  if (c.kv_store) {
    const KvStoreConfig& k = *c.kv_store;
    YAML::Node n;
    n["capacity_bytes"] = k.capacity_bytes;
    n["location"] = k.location;
    if (k.location == "storage_nodes") {
      n["storage_nodes"] = k.storage_nodes;
      if (k.storage_dram_bytes > 0) n["storage_dram_bytes"] = k.storage_dram_bytes;
    }
    n["write"] = k.write;
    n["load"] = k.load;
    cl["kv_store"] = n;
    if (!c.disaggregated()) cl["kv_transfer"] = network_to_yaml(c.kv_transfer);
  }
  const ClusterConfig defaults;
  if (c.router == "prefix-aware" || c.prefix_balance_abs != defaults.prefix_balance_abs ||
      c.prefix_balance_rel != defaults.prefix_balance_rel ||
      c.prefix_cache_threshold != defaults.prefix_cache_threshold) {
    cl["prefix_balance_abs"] = c.prefix_balance_abs;
    cl["prefix_balance_rel"] = yaml::number(c.prefix_balance_rel);
    cl["prefix_cache_threshold"] = yaml::number(c.prefix_cache_threshold);
  }
  return cl;
}

Scenario disaggregate(const Scenario& s, int64_t prefill, int64_t decode) {
  if (s.cluster.disaggregated()) throw Error("--disaggregated: the scenario is disaggregated already");
  YAML::Node doc = scenario_to_yaml(s);
  YAML::Node cluster = pools_yaml({prefill, s.cluster.tensor_parallel}, {decode, s.cluster.tensor_parallel});
  if (s.cluster.kv_store) {  // the store stays, on the same network
    cluster["kv_store"] = doc["cluster"]["kv_store"];
    cluster["kv_transfer"] = doc["cluster"]["kv_transfer"];
  }
  doc["cluster"] = cluster;
  // The summary's file names are the run's, and a relative model or trace path resolves as in the original.
  return parse_scenario(yaml::load_string(YAML::Dump(doc), s.file), s.file, {});
}

Scenario without_kv_store(const Scenario& s) {
  if (!s.cluster.kv_store) throw Error("--without-kv-store: the scenario has no cluster.kv_store");
  YAML::Node doc = scenario_to_yaml(s);
  doc["cluster"].remove("kv_store");
  if (!s.cluster.disaggregated()) doc["cluster"].remove("kv_transfer");
  return parse_scenario(yaml::load_string(YAML::Dump(doc), s.file), s.file, {});
}

}  // namespace kvsim::sim
