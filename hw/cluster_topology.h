// Several servers joined by a network (issue: KV across machines): each node is build_node_topology()'s graph, each
// GPU has a NIC on its own rail (the DGX layout: one NIC beside each GPU on its PCIe path, reached with GPUDirect
// RDMA) or shares one with its neighbours (PCIe servers with fewer NICs than GPUs), and the NICs meet in a network
// switch. A fabric with a bisection limit is two halves of the nodes joined by
// one link of that capacity, so that traffic between the halves shares it. Transfers are routed over the graph
// (hw::route) and share links by max-min fairness (link_sharing.h), as within one node.
#pragma once

#include <string>
#include <vector>

#include "hw/hardware_profile.h"
#include "hw/topology.h"

namespace kvsim::hw {

struct NicSpec {
  int per_node = 0;            // NICs of the compute fabric: one per GPU on a DGX, or fewer that GPUs share evenly
  double bytes_per_s = 0;      // each direction (a 400 Gb/s port: 50e9)
  bool gpudirect_rdma = true;  // the NIC reads and writes GPU memory directly (else through host memory)
};

// A server model: its GPU (a hardware catalog name) and its compute-fabric NICs, with where the numbers come from.
struct NodeSpec {
  std::string name;
  std::string gpu;  // hardware catalog name
  int gpus = 0;
  NicSpec nic;
  std::string source;
};

struct FabricSpec {
  // Bytes/s each way across the cut between the first and the second half of the nodes; 0 = non-blocking (one
  // switch of full bisection, as a rail-optimised fat tree is).
  double bisection_bytes_per_s = 0;
  double latency_ns = 0;  // added once per transfer that crosses the network (NIC to NIC)
};

// The node catalog: DGX A100, DGX H100, DGX H200, and a PCIe-only L40S server (cited in cluster_topology.cc).
const std::vector<NodeSpec>& node_catalog();
// nullptr when unknown.
const NodeSpec* find_node(const std::string& name);

// `nodes` nodes of `node.gpus` GPUs of `gpu` (1 <= nodes, nodes x gpus <= 1024). Throws kvsim::Error naming the
// field for a node without NICs (nic.per_node must divide gpus) or a NIC of no bandwidth.
Topology build_cluster_topology(const HardwareProfile& gpu, const NodeSpec& node, int nodes, const FabricSpec& fabric);

// Nanoseconds a transfer over `hops` waits besides moving its bytes: the latency of each link it crosses, and the
// fabric's when it leaves its node.
double route_latency_ns(const Topology& topo, const FabricSpec& fabric, const std::vector<FlowHop>& hops);

// Nodes of several server models (disaggregated pools of different GPUs): `nodes` nodes of each group in order, every
// node with as many GPUs. Peer-to-peer and GPUDirect RDMA hold where every group has them.
struct NodeGroup {
  const HardwareProfile* gpu = nullptr;
  NodeSpec node;
  int nodes = 0;
};
Topology build_cluster_topology(const std::vector<NodeGroup>& groups, const FabricSpec& fabric);

// Seconds to move `bytes` from GPU `from` to GPU `to` while `others` (pairs of GPUs) also move data: the bytes over
// the flow's max-min fair rate among all flows, plus the latency of the links it crosses and of the fabric when it
// leaves its node. Every flow is taken to last as long as this one (a snapshot of the sharing).
double transfer_seconds(const Topology& topo, const FabricSpec& fabric, int from, int to, double bytes,
                        const std::vector<std::pair<int, int>>& others = {});

}  // namespace kvsim::hw
