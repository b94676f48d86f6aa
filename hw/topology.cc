#include "hw/topology.h"

#include <algorithm>
#include <limits>

#include <fmt/format.h>
#include <boost/graph/dijkstra_shortest_paths.hpp>
#include <boost/property_map/function_property_map.hpp>

#include "sim/core/error.h"

namespace kvsim::hw {

namespace {

Vertex add_vertex(Topology& t, VertexKind kind, int index, std::string name) {
  return boost::add_vertex(VertexInfo{kind, index, std::move(name)}, t.graph);
}

void add_link(Topology& t, LinkKind kind, std::string name, Vertex first, Vertex second, SharedLink cap,
              double latency_ns) {
  const LinkId id = t.links.size();
  t.links.push_back(Link{kind, std::move(name), first, second, cap, latency_ns});
  boost::add_edge(first, second, EdgeInfo{id}, t.graph);
}

SharedLink pcie_capacity(const PcieSpec& p) {
  return SharedLink{p.h2d_bytes_per_s, p.d2h_bytes_per_s, p.bidir_bytes_per_s};
}

// Full duplex: each direction alone at `one_way`, both together at twice that (NVLink, UPI/xGMI).
SharedLink full_duplex(double one_way) { return SharedLink{one_way, one_way, 2 * one_way}; }

std::vector<LinkId> shortest(const Topology& topo, Vertex from, Vertex to) {
  const size_t n = boost::num_vertices(topo.graph);
  if (from >= n || to >= n) throw Error(fmt::format("route: vertex {} or {} not in the topology", from, to));
  if (from == to) return {};
  // Fewest hops first: each hop costs 1, plus at most 1e-3 that grows as the link gets slower, so that among
  // equally short paths the fastest wins (NVLink over PCIe through the root complex) and any path < 1000 hops
  // never trades a hop for speed.
  auto weight = boost::make_function_property_map<boost::graph_traits<TopologyGraph>::edge_descriptor, double>(
      [&](const auto& e) {
        const SharedLink& c = topo.links[topo.graph[e].link].capacity;
        const double speed = std::min(c.forward_bytes_per_s, c.reverse_bytes_per_s);
        return 1.0 + 1e-3 * (speed > 1e9 ? 1e9 / speed : 1.0);
      });
  std::vector<Vertex> pred(n);
  std::vector<double> dist(n, std::numeric_limits<double>::infinity());
  boost::dijkstra_shortest_paths(topo.graph, from,
                                 boost::predecessor_map(pred.data()).distance_map(dist.data()).weight_map(weight));
  if (dist[to] == std::numeric_limits<double>::infinity()) {
    throw Error(fmt::format("route: no path from {} to {}", topo.graph[from].name, topo.graph[to].name));
  }
  std::vector<LinkId> out;
  for (Vertex v = to; v != from; v = pred[v]) {
    // The cheapest edge between pred[v] and v (parallel edges are possible in principle).
    LinkId best = 0;
    double best_w = std::numeric_limits<double>::infinity();
    for (auto [it, end] = boost::out_edges(pred[v], topo.graph); it != end; ++it) {
      if (boost::target(*it, topo.graph) != v) continue;
      if (const double w = get(weight, *it); w < best_w) best_w = w, best = topo.graph[*it].link;
    }
    out.push_back(best);
  }
  std::reverse(out.begin(), out.end());
  return out;
}

}  // namespace

Vertex Topology::gpu(int i) const {
  if (i < 0 || static_cast<size_t>(i) >= gpus.size()) {
    throw Error(fmt::format("topology: no GPU {} (the node has {})", i, gpus.size()));
  }
  return gpus[static_cast<size_t>(i)];
}

Vertex Topology::dram(int socket) const {
  if (socket < 0 || static_cast<size_t>(socket) >= host_dram.size()) {
    throw Error(fmt::format("topology: no socket {} (the node has {})", socket, host_dram.size()));
  }
  return host_dram[static_cast<size_t>(socket)];
}

std::vector<SharedLink> Topology::shared_links() const {
  std::vector<SharedLink> out;
  out.reserve(links.size());
  for (const Link& l : links) out.push_back(l.capacity);
  return out;
}

Topology build_node_topology(const HardwareProfile& profile, int num_gpus) {
  if (num_gpus < 1 || num_gpus > 1024) {
    throw Error(fmt::format("topology: num_gpus must be in [1 .. 1024], found {}", num_gpus));
  }
  Topology t;
  t.p2p = profile.gpu.p2p;
  const HostSpec& host = profile.host;
  const int sockets = static_cast<int>(std::max<int64_t>(1, host.sockets));
  const double dram_per_socket = host.dram_bytes_per_s / sockets;

  std::vector<Vertex> socket(static_cast<size_t>(sockets));
  for (int s = 0; s < sockets; ++s) {
    socket[static_cast<size_t>(s)] = add_vertex(t, VertexKind::kSocket, s, fmt::format("socket{}", s));
    t.host_dram.push_back(add_vertex(t, VertexKind::kHostDram, s, fmt::format("dram{}", s)));
    // DRAM bandwidth is one budget for reads and writes: each direction and both together share it.
    add_link(t, LinkKind::kMemory, fmt::format("dram{}-memory", s), socket[static_cast<size_t>(s)], t.host_dram.back(),
             SharedLink{dram_per_socket, dram_per_socket, dram_per_socket}, 0);
  }
  for (int s = 1; s < sockets; ++s) {
    add_link(t, LinkKind::kSocketLink, fmt::format("socket{}-socket{}", s - 1, s), socket[static_cast<size_t>(s - 1)],
             socket[static_cast<size_t>(s)], full_duplex(host.socket_link_bytes_per_s), 0);
  }

  const int per_switch = static_cast<int>(std::max<int64_t>(1, profile.pcie.gpus_per_switch));
  Vertex current_switch = 0;
  int switches = 0;
  for (int i = 0; i < num_gpus; ++i) {
    // GPUs split evenly over sockets in order (GPUs 0-3 on socket 0 and 4-7 on socket 1 of an 8-GPU, 2-socket node).
    const int s = static_cast<int>(static_cast<int64_t>(i) * sockets / num_gpus);
    const int first_on_socket = (s * num_gpus + sockets - 1) / sockets;
    const Vertex g = add_vertex(t, VertexKind::kGpu, i, fmt::format("gpu{}", i));
    t.gpus.push_back(g);
    t.gpu_socket.push_back(s);
    Vertex upstream = socket[static_cast<size_t>(s)];
    if (per_switch > 1) {
      if ((i - first_on_socket) % per_switch == 0) {
        current_switch = add_vertex(t, VertexKind::kPcieSwitch, switches, fmt::format("pcie-switch{}", switches));
        add_link(t, LinkKind::kPcie, fmt::format("pcie-switch{}-uplink", switches), upstream, current_switch,
                 pcie_capacity(profile.pcie), 0);
        ++switches;
      }
      upstream = current_switch;
    }
    add_link(t, LinkKind::kPcie, fmt::format("gpu{}-pcie", i), upstream, g, pcie_capacity(profile.pcie),
             profile.pcie.latency_ns);
  }

  const double nvlink = profile.gpu.nvlink_bytes_per_s;
  if (nvlink > 0 && num_gpus > 1) {
    if (profile.gpu.nvlink_fabric == NvlinkFabric::kBridge) {
      for (int i = 0; i + 1 < num_gpus; i += 2) {
        add_link(t, LinkKind::kNvlink, fmt::format("nvlink-bridge{}-{}", i, i + 1), t.gpus[static_cast<size_t>(i)],
                 t.gpus[static_cast<size_t>(i + 1)], full_duplex(nvlink), 0);
      }
    } else {
      const Vertex fabric = add_vertex(t, VertexKind::kNvswitch, 0, "nvswitch");
      for (int i = 0; i < num_gpus; ++i) {
        add_link(t, LinkKind::kNvlink, fmt::format("gpu{}-nvlink", i), fabric, t.gpus[static_cast<size_t>(i)],
                 full_duplex(nvlink), 0);
      }
    }
  }
  return t;
}

namespace {
// Concatenates the shortest paths through `stops` in order.
std::vector<LinkId> through(const Topology& topo, std::initializer_list<Vertex> stops) {
  std::vector<LinkId> out;
  const Vertex* prev = nullptr;
  for (const Vertex& v : stops) {
    if (prev) {
      const std::vector<LinkId> leg = shortest(topo, *prev, v);
      out.insert(out.end(), leg.begin(), leg.end());
    }
    prev = &v;
  }
  return out;
}
}  // namespace

std::vector<LinkId> route(const Topology& topo, Vertex from, Vertex to) {
  const size_t n = boost::num_vertices(topo.graph);
  const bool gpu_to_gpu = from < n && to < n && from != to && topo.graph[from].kind == VertexKind::kGpu &&
                          topo.graph[to].kind == VertexKind::kGpu;
  if (gpu_to_gpu && topo.gpus_per_node > 0) {
    const int a = topo.graph[from].index, b = topo.graph[to].index;
    if (a / topo.gpus_per_node != b / topo.gpus_per_node) {
      // Between nodes: out through the source GPU's own NIC, in through the destination GPU's (each GPU's nearest
      // NIC, as NCCL and NIXL pick them); without GPUDirect RDMA the NIC reads and writes pinned host memory.
      const Vertex nic_a = topo.nics.at(static_cast<size_t>(a)), nic_b = topo.nics.at(static_cast<size_t>(b));
      if (topo.gpudirect_rdma) return through(topo, {from, nic_a, nic_b, to});
      return through(topo, {from, topo.dram_near_gpu(a), nic_a, nic_b, topo.dram_near_gpu(b), to});
    }
  }
  if (gpu_to_gpu && !topo.p2p) {
    // No peer-to-peer: the driver stages the copy through pinned host memory near the source GPU.
    const Vertex staging = topo.dram_near_gpu(topo.graph[from].index);
    std::vector<LinkId> out = shortest(topo, from, staging);
    const std::vector<LinkId> rest = shortest(topo, staging, to);
    out.insert(out.end(), rest.begin(), rest.end());
    return out;
  }
  return shortest(topo, from, to);
}

namespace {
std::vector<FlowHop> with_directions(const Topology& topo, Vertex from, const std::vector<LinkId>& links) {
  std::vector<FlowHop> out;
  Vertex at = from;
  for (LinkId id : links) {
    const Link& l = topo.links[id];
    const bool forward = l.first == at;
    out.push_back(FlowHop{id, forward ? Direction::kForward : Direction::kReverse});
    at = forward ? l.second : l.first;
  }
  return out;
}
}  // namespace

std::vector<FlowHop> route_hops(const Topology& topo, Vertex from, Vertex to) {
  return with_directions(topo, from, route(topo, from, to));
}

std::vector<FlowHop> host_route_hops(const Topology& topo, int host_gpu, int gpu, bool to_gpu) {
  const Vertex dram = topo.dram_near_gpu(host_gpu), g = topo.gpu(gpu);
  if (topo.gpus_per_node == 0 || host_gpu / topo.gpus_per_node == gpu / topo.gpus_per_node) {
    return to_gpu ? route_hops(topo, dram, g) : route_hops(topo, g, dram);
  }
  const Vertex nic_host = topo.nics.at(static_cast<size_t>(host_gpu)), nic_gpu = topo.nics.at(static_cast<size_t>(gpu));
  const Vertex staging = topo.dram_near_gpu(gpu);
  if (to_gpu) {
    return with_directions(topo, dram,
                           topo.gpudirect_rdma ? through(topo, {dram, nic_host, nic_gpu, g})
                                               : through(topo, {dram, nic_host, nic_gpu, staging, g}));
  }
  return with_directions(topo, g,
                         topo.gpudirect_rdma ? through(topo, {g, nic_gpu, nic_host, dram})
                                             : through(topo, {g, staging, nic_gpu, nic_host, dram}));
}

}  // namespace kvsim::hw
