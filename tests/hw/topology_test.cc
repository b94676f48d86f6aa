#include "hw/topology.h"

#include <gtest/gtest.h>

#include "hw/hardware_loader.h"
#include "sim/core/error.h"

namespace kvsim::hw {
namespace {

std::vector<LinkKind> kinds(const Topology& t, const std::vector<LinkId>& path) {
  std::vector<LinkKind> out;
  for (LinkId id : path) out.push_back(t.links[id].kind);
  return out;
}

TEST(Topology, H100NodeShape) {
  const Topology t = build_node_topology(load_hardware("h100-sxm5-80gb"), 8);
  EXPECT_EQ(t.gpus.size(), 8u);
  EXPECT_EQ(t.host_dram.size(), 2u);
  EXPECT_EQ(t.gpu_socket[0], 0);
  EXPECT_EQ(t.gpu_socket[7], 1);
  // 2 memory + 1 socket link + 8 PCIe + 8 NVLink
  EXPECT_EQ(t.links.size(), 19u);
}

TEST(Topology, GpuToHostOverPcie) {
  const Topology t = build_node_topology(load_hardware("h100-sxm5-80gb"), 8);
  const auto path = route(t, t.gpu(0), t.dram_near_gpu(0));
  EXPECT_EQ(kinds(t, path), (std::vector<LinkKind>{LinkKind::kPcie, LinkKind::kMemory}));
  const auto hops = route_hops(t, t.gpu(0), t.dram(0));
  ASSERT_EQ(hops.size(), 2u);
  EXPECT_EQ(hops[0].direction, Direction::kReverse);  // device to host
  EXPECT_EQ(hops[1].direction, Direction::kForward);  // socket into DRAM
  const auto back = route_hops(t, t.dram(0), t.gpu(0));
  EXPECT_EQ(back[1].direction, Direction::kForward);  // host to device
  // GPU 7 sits on socket 1: its far DRAM is across the socket link.
  EXPECT_EQ(kinds(t, route(t, t.gpu(7), t.dram(0))),
            (std::vector<LinkKind>{LinkKind::kPcie, LinkKind::kSocketLink, LinkKind::kMemory}));
}

TEST(Topology, GpuToGpuOverNvlinkWhenPresent) {
  const Topology t = build_node_topology(load_hardware("h100-sxm5-80gb"), 8);
  EXPECT_EQ(kinds(t, route(t, t.gpu(0), t.gpu(7))), (std::vector<LinkKind>{LinkKind::kNvlink, LinkKind::kNvlink}));
  EXPECT_EQ(kinds(t, route(t, t.gpu(1), t.gpu(2))), (std::vector<LinkKind>{LinkKind::kNvlink, LinkKind::kNvlink}));
  // RTX A6000: a 2-way bridge joins GPUs 0 and 1; 1 and 2 share no bridge and go over PCIe.
  const Topology a = build_node_topology(load_hardware("rtx-a6000-48gb"), 4);
  EXPECT_EQ(kinds(a, route(a, a.gpu(0), a.gpu(1))), (std::vector<LinkKind>{LinkKind::kNvlink}));
  EXPECT_EQ(kinds(a, route(a, a.gpu(1), a.gpu(2))), (std::vector<LinkKind>{LinkKind::kPcie, LinkKind::kPcie}));
}

TEST(Topology, GpuToGpuThroughHostWithoutP2p) {
  // RTX 4090: no NVLink, no P2P: the copy is staged through the source socket's DRAM.
  const Topology t = build_node_topology(load_hardware("rtx-4090-24gb"), 8);
  EXPECT_EQ(kinds(t, route(t, t.gpu(0), t.gpu(1))),
            (std::vector<LinkKind>{LinkKind::kPcie, LinkKind::kMemory, LinkKind::kMemory, LinkKind::kPcie}));
  // With P2P allowed (L40S), GPUs talk through the root complex without touching DRAM.
  const Topology l = build_node_topology(load_hardware("l40s-48gb"), 8);
  EXPECT_EQ(kinds(l, route(l, l.gpu(0), l.gpu(1))), (std::vector<LinkKind>{LinkKind::kPcie, LinkKind::kPcie}));
}

TEST(Topology, PcieSwitchSharesOneUplink) {
  // DGX A100: two GPUs per PCIe switch; both GPUs' host copies share the switch uplink.
  const HardwareProfile a100 = load_hardware("a100-sxm4-80gb");
  const Topology t = build_node_topology(a100, 8);
  const auto p0 = route(t, t.gpu(0), t.dram(0));
  const auto p1 = route(t, t.gpu(1), t.dram(0));
  ASSERT_EQ(p0.size(), 3u);
  EXPECT_EQ(p0[1], p1[1]);  // the shared uplink
  EXPECT_NE(p0[0], p1[0]);
  const auto rates = max_min_rates(t.shared_links(), {FlowDemand{route_hops(t, t.gpu(0), t.dram(0))},
                                                      FlowDemand{route_hops(t, t.gpu(1), t.dram(0))}});
  EXPECT_DOUBLE_EQ(rates[0], a100.pcie.d2h_bytes_per_s / 2);
  EXPECT_DOUBLE_EQ(rates[1], a100.pcie.d2h_bytes_per_s / 2);
}

TEST(Topology, SocketDramIsSharedByItsGpus) {
  // Eight H100s copying to socket 0's DRAM at once: four local GPUs at 63 GB/s would need 252 GB/s of the socket's
  // 307.2 GB/s; with all eight the DRAM link and the socket link bound them.
  const HardwareProfile h = load_hardware("h100-sxm5-80gb");
  const Topology t = build_node_topology(h, 8);
  std::vector<FlowDemand> flows;
  for (int i = 0; i < 8; ++i) flows.push_back(FlowDemand{route_hops(t, t.gpu(i), t.dram(0))});
  const auto r = max_min_rates(t.shared_links(), flows);
  double total = 0;
  for (double x : r) total += x;
  EXPECT_LE(total, h.host.dram_bytes_per_s / 2 * (1 + 1e-12));
  EXPECT_LT(r[0], h.pcie.d2h_bytes_per_s);
}

TEST(Topology, SingleGpuAndErrors) {
  const Topology t = build_node_topology(load_hardware("t4-16gb"), 1);
  EXPECT_EQ(t.links.size(), 2u);
  EXPECT_TRUE(route(t, t.gpu(0), t.gpu(0)).empty());
  EXPECT_THROW(t.gpu(1), Error);
  EXPECT_THROW(build_node_topology(load_hardware("t4-16gb"), 0), Error);
}

}  // namespace
}  // namespace kvsim::hw
