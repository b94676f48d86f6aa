#include "hw/cluster_topology.h"

#include <fmt/format.h>

#include "sim/core/error.h"

namespace kvsim::hw {

namespace {

// 400 Gb/s and 200 Gb/s ports, bytes per second each way.
constexpr double kNdr400BytesPerS = 400e9 / 8;
constexpr double kHdr200BytesPerS = 200e9 / 8;

Vertex add_vertex(Topology& t, VertexKind kind, int index, std::string name) {
  return boost::add_vertex(VertexInfo{kind, index, std::move(name)}, t.graph);
}

void add_link(Topology& t, Link link) {
  const LinkId id = t.links.size();
  const size_t a = link.first, b = link.second;
  t.links.push_back(std::move(link));
  boost::add_edge(a, b, EdgeInfo{id}, t.graph);
}

SharedLink full_duplex(double one_way) { return SharedLink{one_way, one_way, 2 * one_way}; }

// Copies one node's graph into `t` as node `n`: names prefixed "node{n}/", GPU and socket numbers made global.
// Returns each of its GPUs' PCIe upstream (the switch or socket its own PCIe link leads to).
std::vector<Vertex> append_node(Topology& t, const Topology& node, int n) {
  const size_t base = boost::num_vertices(t.graph);
  const int gpus = static_cast<int>(node.gpus.size()), sockets = static_cast<int>(node.host_dram.size());
  for (size_t v = 0; v < boost::num_vertices(node.graph); ++v) {
    VertexInfo info = node.graph[v];
    if (info.kind == VertexKind::kGpu) info.index += n * gpus;
    if (info.kind == VertexKind::kSocket || info.kind == VertexKind::kHostDram) info.index += n * sockets;
    info.name = fmt::format("node{}/{}", n, info.name);
    boost::add_vertex(info, t.graph);
  }
  std::vector<Vertex> upstream(static_cast<size_t>(gpus));
  for (const Link& l : node.links) {
    Link copy = l;
    copy.name = fmt::format("node{}/{}", n, l.name);
    copy.first += base;
    copy.second += base;
    if (l.kind == LinkKind::kPcie && node.graph[l.second].kind == VertexKind::kGpu) {
      upstream[static_cast<size_t>(node.graph[l.second].index)] = copy.first;
    }
    add_link(t, std::move(copy));
  }
  for (Vertex g : node.gpus) t.gpus.push_back(g + base);
  for (Vertex d : node.host_dram) t.host_dram.push_back(d + base);
  for (int s : node.gpu_socket) t.gpu_socket.push_back(s + n * sockets);
  return upstream;
}

}  // namespace

const std::vector<NodeSpec>& node_catalog() {
  static const std::vector<NodeSpec> kNodes = {
      // NVIDIA DGX A100 datasheet: "8x Single-Port Mellanox ConnectX-6 VPI 200Gb/s HDR InfiniBand" for the compute
      // fabric (plus storage ports not modelled), 8 A100 SXM4 behind NVSwitch.
      {"dgx-a100", "a100-sxm4-80gb", 8, NicSpec{8, kHdr200BytesPerS, true},
       "NVIDIA DGX A100 datasheet: 8 x single-port ConnectX-6 200 Gb/s HDR InfiniBand (compute)"},
      // NVIDIA DGX H100 datasheet and user guide: "4x OSFP ports serving 8x single-port NVIDIA ConnectX-7 VPI, up to
      // 400Gb/s InfiniBand/Ethernet"; MLPerf Inference v3.1 XE9680 (an HGX H100 server): "8x 400Gb Infiniband".
      {"dgx-h100", "h100-sxm5-80gb", 8, NicSpec{8, kNdr400BytesPerS, true},
       "NVIDIA DGX H100 datasheet: 8 x single-port ConnectX-7 400 Gb/s (compute)"},
      // NVIDIA DGX H200 datasheet: the same 8 single-port ConnectX-7 at 400 Gb/s; MLPerf Inference v4.1 NVIDIA
      // H200-SXM-141GBx8 system description: "10x 400Gbe Infiniband" (8 compute + 2 storage).
      {"dgx-h200", "h200-sxm-141gb", 8, NicSpec{8, kNdr400BytesPerS, true},
       "NVIDIA DGX H200 datasheet: 8 x single-port ConnectX-7 400 Gb/s (compute)"},
      // A PCIe-only server, as the catalog's L40S is (AWS g6e.48xlarge, hw/catalog/l40s-48gb.yaml): AWS lists 400
      // Gbps of network bandwidth for the instance, taken here as 4 x 100 Gb/s EFA cards, each shared by two GPUs,
      // with no GPUDirect RDMA (AWS enables it on its P4d/P5 instances), so a transfer between servers is staged
      // through host memory.
      {"g6e-48xlarge", "l40s-48gb", 8, NicSpec{4, 100e9 / 8, false},
       "AWS EC2 G6e: g6e.48xlarge, 8 x L40S, 400 Gbps network bandwidth (taken as 4 x 100 Gb/s, no GPUDirect RDMA)"},
  };
  return kNodes;
}

const NodeSpec* find_node(const std::string& name) {
  for (const NodeSpec& n : node_catalog()) {
    if (n.name == name) return &n;
  }
  return nullptr;
}

Topology build_cluster_topology(const HardwareProfile& gpu, const NodeSpec& node, int nodes, const FabricSpec& fabric) {
  return build_cluster_topology({NodeGroup{&gpu, node, nodes}}, fabric);
}

Topology build_cluster_topology(const std::vector<NodeGroup>& groups, const FabricSpec& fabric) {
  int nodes = 0;
  for (const NodeGroup& g : groups) nodes += g.nodes;
  const int gpus = groups.empty() ? 0 : groups.front().node.gpus;
  if (groups.empty() || nodes < 1 || gpus < 1 || static_cast<int64_t>(nodes) * gpus > 1024) {
    throw Error(
        fmt::format("cluster topology: need 1 <= nodes and 1 <= nodes x gpus <= 1024, found {} x {}", nodes, gpus));
  }
  for (const NodeGroup& g : groups) {
    const NodeSpec& node = g.node;
    // Nodes are numbered alike: as many GPUs and host sockets in each.
    if (g.nodes < 1 || node.gpus != gpus || g.gpu->host.sockets != groups.front().gpu->host.sockets) {
      throw Error(
          fmt::format("cluster topology: node '{}': expected at least one node of {} GPUs and {} sockets, as "
                      "the others, found {} of {} GPUs and {} sockets",
                      node.name, gpus, groups.front().gpu->host.sockets, g.nodes, node.gpus, g.gpu->host.sockets));
    }
    if (nodes > 1 && (node.nic.per_node < 1 || node.gpus % node.nic.per_node != 0)) {
      throw Error(
          fmt::format("node '{}': nic.per_node: expected NICs that the {} GPUs share evenly (a divisor of {}) "
                      "for a run over {} nodes, found {}",
                      node.name, node.gpus, node.gpus, nodes, node.nic.per_node));
    }
    if (nodes > 1 && !(node.nic.bytes_per_s > 0)) {
      throw Error(fmt::format("node '{}': nic.bytes_per_s: expected > 0, found {}", node.name, node.nic.bytes_per_s));
    }
  }
  if (!(fabric.bisection_bytes_per_s >= 0) || !(fabric.latency_ns >= 0)) {
    throw Error("fabric: bisection_bytes_per_s and latency_ns must be >= 0");
  }
  Topology t;
  t.p2p = true;
  t.gpudirect_rdma = true;
  t.gpus_per_node = nodes > 1 ? gpus : 0;
  std::vector<std::vector<Vertex>> upstream;
  std::vector<const NodeGroup*> group_of;  // per node
  for (const NodeGroup& g : groups) {
    const Topology one = build_node_topology(*g.gpu, gpus);
    // Within a node GPUs talk peer to peer only where every node's GPUs do (a mixed cluster takes the weaker).
    t.p2p = t.p2p && one.p2p;
    t.gpudirect_rdma = t.gpudirect_rdma && g.node.nic.gpudirect_rdma;
    for (int k = 0; k < g.nodes; ++k) {
      upstream.push_back(append_node(t, one, static_cast<int>(upstream.size())));
      group_of.push_back(&g);
    }
  }
  if (nodes == 1) return t;

  // The switch (or the two halves of a fabric with a bisection limit).
  const bool halves = fabric.bisection_bytes_per_s > 0;
  const Vertex left = add_vertex(t, VertexKind::kNetworkSwitch, 0, halves ? "fabric-a" : "fabric");
  const Vertex right = halves ? add_vertex(t, VertexKind::kNetworkSwitch, 1, "fabric-b") : left;
  if (halves) {
    add_link(t,
             Link{LinkKind::kNetwork, "fabric-bisection", left, right, full_duplex(fabric.bisection_bytes_per_s), 0});
  }
  for (int n = 0; n < nodes; ++n) {
    const NodeSpec& node = group_of[static_cast<size_t>(n)]->node;
    const HardwareProfile& gpu = *group_of[static_cast<size_t>(n)]->gpu;
    const Vertex leaf = n < nodes / 2 || !halves ? left : right;
    const int per_nic = node.gpus / node.nic.per_node;  // GPUs sharing each NIC (1 on a DGX)
    for (int i = 0; i < node.nic.per_node; ++i) {
      const Vertex nic = add_vertex(t, VertexKind::kNic, n * node.nic.per_node + i, fmt::format("node{}/nic{}", n, i));
      for (int k = 0; k < per_nic; ++k) t.nics.push_back(nic);
      // The NIC sits on its first GPU's PCIe path (that GPU's switch, or its root port's socket): GPU to NIC crosses
      // the GPU's PCIe link and the NIC's, never host memory.
      add_link(t, Link{LinkKind::kPcie, fmt::format("node{}/nic{}-pcie", n, i),
                       upstream[static_cast<size_t>(n)][static_cast<size_t>(i * per_nic)], nic,
                       SharedLink{gpu.pcie.h2d_bytes_per_s, gpu.pcie.d2h_bytes_per_s, gpu.pcie.bidir_bytes_per_s}, 0});
      add_link(t, Link{LinkKind::kNetwork, fmt::format("node{}/nic{}-port", n, i), nic, leaf,
                       full_duplex(node.nic.bytes_per_s), 0});
    }
  }
  return t;
}

double transfer_seconds(const Topology& topo, const FabricSpec& fabric, int from, int to, double bytes,
                        const std::vector<std::pair<int, int>>& others) {
  if (from == to) return 0;
  std::vector<FlowDemand> flows;
  const auto flow = [&](int a, int b) { return FlowDemand{route_hops(topo, topo.gpu(a), topo.gpu(b))}; };
  flows.push_back(flow(from, to));
  for (const auto& [a, b] : others) flows.push_back(flow(a, b));
  const double rate = max_min_rates(topo.shared_links(), flows)[0];
  return bytes / rate + route_latency_ns(topo, fabric, flows[0].hops) * 1e-9;
}

double route_latency_ns(const Topology& topo, const FabricSpec& fabric, const std::vector<FlowHop>& hops) {
  double latency_ns = 0;
  bool crosses_network = false;
  for (const FlowHop& h : hops) {
    latency_ns += topo.links[h.link].latency_ns;
    crosses_network = crosses_network || topo.links[h.link].kind == LinkKind::kNetwork;
  }
  return crosses_network ? latency_ns + fabric.latency_ns : latency_ns;
}

}  // namespace kvsim::hw
