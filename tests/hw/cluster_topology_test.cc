// Nodes joined by a network: routes between nodes leave through the source GPU's NIC and enter through the
// destination's (GPUDirect RDMA: no host memory on the way), a transfer takes its bytes over the bottleneck's max-min
// share plus the latency, and that share moves when another flow starts on a link it crosses.
#include "hw/cluster_topology.h"

#include <algorithm>

#include <gtest/gtest.h>

#include "hw/hardware_loader.h"
#include "sim/core/error.h"
#include "tests/test_support.h"

namespace kvsim::hw {
namespace {

using testing::error_of;

std::vector<LinkKind> kinds(const Topology& t, int from, int to) {
  std::vector<LinkKind> out;
  for (LinkId id : route(t, t.gpu(from), t.gpu(to))) out.push_back(t.links[id].kind);
  return out;
}

Topology dgx(const std::string& name, int nodes, FabricSpec fabric = {}) {
  const NodeSpec& n = *find_node(name);
  return build_cluster_topology(load_hardware(n.gpu), n, nodes, fabric);
}

TEST(ClusterTopology, TwoDgxH100NodesShape) {
  const Topology t = dgx("dgx-h100", 2);
  EXPECT_EQ(t.gpus.size(), 16u);
  EXPECT_EQ(t.nics.size(), 16u);
  EXPECT_EQ(t.host_dram.size(), 4u);
  EXPECT_EQ(t.gpu_socket[9], 2);  // node 1's first socket
  // Per node 19 links (2 memory, 1 socket link, 8 PCIe, 8 NVLink); per GPU a NIC's PCIe link and its port.
  EXPECT_EQ(t.links.size(), 2u * 19 + 16u * 2);
  // One node alone is the single-node graph, names aside.
  EXPECT_EQ(dgx("dgx-h100", 1).links.size(), build_node_topology(load_hardware("h100-sxm5-80gb"), 8).links.size());
}

TEST(ClusterTopology, WithinANodeNvlinkBetweenNodesNicToNicWithoutHostMemory) {
  const Topology t = dgx("dgx-h100", 2);
  EXPECT_EQ(kinds(t, 0, 1), (std::vector<LinkKind>{LinkKind::kNvlink, LinkKind::kNvlink}));
  const std::vector<LinkKind> rdma{LinkKind::kPcie,    LinkKind::kPcie, LinkKind::kNetwork,
                                   LinkKind::kNetwork, LinkKind::kPcie, LinkKind::kPcie};
  EXPECT_EQ(kinds(t, 0, 9), rdma);
  // Each GPU's own NIC: GPU 0 leaves by node0/nic0, GPU 9 enters by node1/nic1.
  const auto path = route(t, t.gpu(0), t.gpu(9));
  EXPECT_EQ(t.links[path[2]].name, "node0/nic0-port");
  EXPECT_EQ(t.links[path[3]].name, "node1/nic1-port");
  // Without GPUDirect RDMA the NICs read and write pinned host memory on both sides.
  NodeSpec staged = *find_node("dgx-h100");
  staged.nic.gpudirect_rdma = false;
  const Topology s = build_cluster_topology(load_hardware("h100-sxm5-80gb"), staged, 2, {});
  int memory = 0;
  for (LinkKind k : kinds(s, 0, 9)) memory += k == LinkKind::kMemory ? 1 : 0;
  EXPECT_EQ(memory, 4);  // into and out of DRAM on each side
}

// One request's KV (8,192 tokens of Llama-3.1-70B in bf16: 2 x 8 KV heads x 128 x 2 bytes x 80 layers = 327,680 bytes
// a token) between two DGX H100s: its bytes over a 400 Gb/s port (the bottleneck: PCIe Gen5 is faster one way) plus
// the latencies of the links crossed (each GPU's PCIe link) and of the fabric. A second flow out of the same NIC
// halves the rate; one coming the other way meets the GPUs' PCIe links in both directions at once, where PCIe's
// duplex limit binds; flows on other rails change nothing; and two flows across a fabric whose bisection is one port
// halve again.
TEST(ClusterTopology, TransferTimeIsBytesOverTheBottleneckShareAndMovesWithOtherFlows) {
  const HardwareProfile h100 = load_hardware("h100-sxm5-80gb");
  const double bytes = 8192.0 * 327680, port = 400e9 / 8;
  const double latency_s = 5e-6 + 2 * h100.pcie.latency_ns * 1e-9;
  const FabricSpec fabric{0, 5000};
  const Topology t = dgx("dgx-h100", 2, fabric);
  ASSERT_GT(h100.pcie.d2h_bytes_per_s, port);
  ASSERT_GT(h100.pcie.h2d_bytes_per_s, port);
  const double alone = transfer_seconds(t, fabric, 0, 9, bytes);
  EXPECT_NEAR(alone, bytes / port + latency_s, 1e-12);
  EXPECT_NEAR(alone, 0.0537, 0.0001);  // 2.68 GB at 50 GB/s
  EXPECT_NEAR(transfer_seconds(t, fabric, 0, 9, bytes, {{0, 10}}), 2 * bytes / port + latency_s, 1e-12);
  const double both_ways = std::min(port, h100.pcie.bidir_bytes_per_s / 2);
  EXPECT_NEAR(transfer_seconds(t, fabric, 0, 9, bytes, {{9, 0}}), bytes / both_ways + latency_s, 1e-12);
  EXPECT_NEAR(transfer_seconds(t, fabric, 0, 9, bytes, {{2, 11}}), alone, 1e-12);  // other rails
  // Four nodes; the fabric's bisection is one port: two flows from the first half to the second share it.
  const FabricSpec thin{port, 0};
  const Topology q = dgx("dgx-h100", 4, thin);
  const double pcie_s = 2 * h100.pcie.latency_ns * 1e-9;
  EXPECT_NEAR(transfer_seconds(q, thin, 0, 16, bytes), bytes / port + pcie_s, 1e-12);
  EXPECT_NEAR(transfer_seconds(q, thin, 0, 16, bytes, {{8, 24}}), 2 * bytes / port + pcie_s, 1e-12);
  EXPECT_NEAR(transfer_seconds(q, thin, 0, 8, bytes, {{16, 24}}), bytes / port + pcie_s, 1e-12);  // within a half
  EXPECT_EQ(transfer_seconds(q, thin, 3, 3, bytes), 0);
}

TEST(ClusterTopology, CatalogNodesAndBadInputs) {
  EXPECT_EQ(find_node("dgx-h100")->nic.bytes_per_s, 50e9);
  EXPECT_EQ(find_node("dgx-h200")->nic.bytes_per_s, 50e9);
  EXPECT_EQ(find_node("dgx-a100")->nic.bytes_per_s, 25e9);
  EXPECT_EQ(find_node("dgx-b300"), nullptr);
  for (const NodeSpec& n : node_catalog()) EXPECT_FALSE(n.source.empty()) << n.name;
  NodeSpec bare = *find_node("dgx-h100");
  bare.nic.per_node = 0;
  EXPECT_NO_THROW(build_cluster_topology(load_hardware("h100-sxm5-80gb"), bare, 1, {}));  // one node needs none
  EXPECT_EQ(error_of([&] { build_cluster_topology(load_hardware("h100-sxm5-80gb"), bare, 2, {}); }),
            "node 'dgx-h100': nic.per_node: expected NICs that the 8 GPUs share evenly (a divisor of 8) for a run "
            "over 2 nodes, found 0");
  bare.nic.per_node = 3;
  EXPECT_NE(error_of([&] { build_cluster_topology(load_hardware("h100-sxm5-80gb"), bare, 2, {}); }).find("found 3"),
            std::string::npos);
  bare.nic.per_node = 8;
  bare.nic.bytes_per_s = 0;
  EXPECT_NE(error_of([&] {
              build_cluster_topology(load_hardware("h100-sxm5-80gb"), bare, 2, {});
            }).find("nic.bytes_per_s: expected > 0"),
            std::string::npos);
}

// A PCIe server with half as many NICs as GPUs (AWS g6e.48xlarge: 8 L40S, 4 x 100 Gb/s, no GPUDirect RDMA): GPUs 0
// and 1 leave through one NIC, so their transfers share its port, while GPUs 0 and 2 use two; without GPUDirect RDMA
// each route is staged through host memory on both sides.
TEST(ClusterTopology, GpusSharingANicShareItsPort) {
  const Topology t = dgx("g6e-48xlarge", 2);
  EXPECT_EQ(t.nics.size(), 16U);
  EXPECT_EQ(t.nics[0], t.nics[1]);
  EXPECT_NE(t.nics[1], t.nics[2]);
  const double bytes = 1e9;
  const double alone = transfer_seconds(t, {}, 0, 8, bytes);
  EXPECT_NEAR(alone, bytes / 12.5e9, 1e-3 * alone);  // one 100 Gb/s port is the bottleneck
  EXPECT_NEAR(transfer_seconds(t, {}, 0, 8, bytes, {{1, 9}}), 2 * alone, 1e-3 * alone);
  EXPECT_NEAR(transfer_seconds(t, {}, 0, 8, bytes, {{2, 10}}), alone, 1e-3 * alone);
  const auto route_kinds = kinds(t, 0, 8);
  EXPECT_EQ(std::count(route_kinds.begin(), route_kinds.end(), LinkKind::kNetwork), 2);
  bool host = false;
  for (const FlowHop& h : route_hops(t, t.gpu(0), t.gpu(8))) {
    const Link& l = t.links[h.link];
    host = host || t.graph[l.first].kind == VertexKind::kHostDram || t.graph[l.second].kind == VertexKind::kHostDram;
  }
  EXPECT_TRUE(host);
}

}  // namespace
}  // namespace kvsim::hw
