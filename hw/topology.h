// One server as a graph (Boost.Graph): GPUs, PCIe switches, CPU sockets (root complexes), each socket's DRAM and an
// NVSwitch fabric, joined by links with per-direction and duplex capacities. Transfers are routed over it and the
// links they cross are shared by max-min fairness (link_sharing.h).
#pragma once

#include <string>
#include <vector>

#include <boost/graph/adjacency_list.hpp>

#include "hw/hardware_profile.h"
#include "hw/link_sharing.h"

namespace kvsim::hw {

enum class VertexKind { kGpu, kPcieSwitch, kSocket, kHostDram, kNvswitch, kNic, kNetworkSwitch };
enum class LinkKind { kPcie, kNvlink, kMemory, kSocketLink, kNetwork };

struct VertexInfo {
  VertexKind kind = VertexKind::kGpu;
  int index = 0;     // GPU number, socket number, switch number
  std::string name;  // "gpu0", "pcie-switch1", "socket0", "dram0", "nvswitch"
};

struct Link {
  LinkKind kind = LinkKind::kPcie;
  std::string name;              // "gpu0-pcie"
  size_t first = 0, second = 0;  // endpoints; Direction::kForward runs first -> second (host side -> GPU side)
  SharedLink capacity;
  double latency_ns = 0;  // fixed per-transfer cost of crossing it
};

struct EdgeInfo {
  LinkId link = 0;
};

using TopologyGraph = boost::adjacency_list<boost::vecS, boost::vecS, boost::undirectedS, VertexInfo, EdgeInfo>;
using Vertex = boost::graph_traits<TopologyGraph>::vertex_descriptor;

struct Topology {
  TopologyGraph graph;
  std::vector<Link> links;        // indexed by LinkId
  std::vector<Vertex> gpus;       // gpus[i] is GPU i
  std::vector<Vertex> host_dram;  // host_dram[s] is socket s's DRAM
  std::vector<int> gpu_socket;    // gpu_socket[i]: the socket GPU i hangs off
  bool p2p = true;                // GPU-to-GPU copies may bypass host memory
  // Several nodes (hw/cluster_topology.h): GPU i is on node i / gpus_per_node, and nics[i] is its rail's NIC. A
  // transfer between nodes leaves through the source GPU's NIC and enters through the destination GPU's, straight
  // from GPU memory with GPUDirect RDMA or staged through host memory without it.
  int gpus_per_node = 0;  // 0: one node
  std::vector<Vertex> nics;
  bool gpudirect_rdma = true;

  Vertex gpu(int i) const;
  Vertex dram(int socket) const;
  Vertex dram_near_gpu(int i) const { return dram(gpu_socket.at(static_cast<size_t>(i))); }
  const VertexInfo& info(Vertex v) const { return graph[v]; }
  // The capacities of every link, indexed by LinkId, for max_min_rates().
  std::vector<SharedLink> shared_links() const;
};

// One server of `num_gpus` GPUs of `profile` (1 <= num_gpus <= 1024): GPUs split evenly over the host sockets in
// order, each on its own PCIe link (or pcie.gpus_per_switch GPUs behind a switch whose uplink has the same
// capacity), each socket with its DRAM (dram_bytes_per_s / sockets, reads and writes together), sockets joined by
// socket links, and NVLink through an NVSwitch or 2-way bridges where the GPU has it.
Topology build_node_topology(const HardwareProfile& profile, int num_gpus);

// Links crossed from `from` to `to`, fewest hops first, ties broken towards the faster links (Dijkstra). Without
// p2p (GeForce), GPU-to-GPU goes through the source GPU's socket DRAM. Empty when from == to; throws kvsim::Error
// when there is no path.
std::vector<LinkId> route(const Topology& topo, Vertex from, Vertex to);

// The same path with the direction each link is crossed in: a flow for max_min_rates().
std::vector<FlowHop> route_hops(const Topology& topo, Vertex from, Vertex to);

// Between the host memory beside GPU `host_gpu` (its socket's DRAM) and GPU `gpu`, towards the GPU when `to_gpu`:
// within one node the route above; between nodes through the NIC of `host_gpu`'s rail and `gpu`'s own NIC (as a
// rail-optimised store sends, so that the ranks of one transfer use different NICs), and, without GPUDirect RDMA,
// through the pinned host memory beside `gpu`.
std::vector<FlowHop> host_route_hops(const Topology& topo, int host_gpu, int gpu, bool to_gpu);

}  // namespace kvsim::hw
