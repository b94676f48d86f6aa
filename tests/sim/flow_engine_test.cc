// Event-driven link sharing: finish times follow max-min fair rates and move when other flows start or end.
#include "sim/engine/flow_engine.h"

#include <gtest/gtest.h>

#include "hw/hardware_loader.h"
#include "hw/topology.h"

namespace kvsim::engine {
namespace {

constexpr double kGBps = 1e9;

TEST(FlowEngine, AFlowAloneMovesAtTheLinkRate) {
  EventQueue q;
  FlowEngine f(q, {hw::SharedLink{10 * kGBps, 10 * kGBps}});
  SimTime end = -1;
  f.start(0, {{0, hw::Direction::kForward}}, 10'000'000'000ull, [&](SimTime t) { end = t; });
  q.run();
  EXPECT_EQ(end, kNsPerS);
}

TEST(FlowEngine, AFlowsFinishMovesWhenAnotherStartsAndEnds) {
  // A: 10 GB alone for 0.5 s (5 GB), then shares with B at 5 GB/s each; B (2.5 GB) ends at 1.0 s, A then runs alone:
  // A has 5 - 2.5 = 2.5 GB left at 1.0 s -> ends at 1.25 s (it would have ended at 1.0 s alone).
  EventQueue q;
  FlowEngine f(q, {hw::SharedLink{10 * kGBps, 10 * kGBps}});
  SimTime a_end = -1, b_end = -1;
  f.start(0, {{0, hw::Direction::kForward}}, 10'000'000'000ull, [&](SimTime t) { a_end = t; });
  struct Starter final : EventHandler {
    FlowEngine* f;
    SimTime* b_end;
    void on_event(SimTime now, uint32_t, uint64_t) override {
      f->start(now, {{0, hw::Direction::kForward}}, 2'500'000'000ull, [this](SimTime t) { *b_end = t; });
    }
  } starter;
  starter.f = &f;
  starter.b_end = &b_end;
  q.schedule(kNsPerS / 2, &starter, 0, 0, kPriorityArrival);
  q.run();
  EXPECT_NEAR(static_cast<double>(b_end), 1.0e9, 2.0);
  EXPECT_NEAR(static_cast<double>(a_end), 1.25e9, 2.0);
  EXPECT_EQ(f.active(), 0u);
}

TEST(FlowEngine, HostToDeviceAndDeviceToHostTogetherRespectTheDuplexCap) {
  // H100-like PCIe: 63 GB/s each way, 94.5 GB/s both ways together (1.5x one direction).
  EventQueue q;
  FlowEngine f(q, {hw::SharedLink{63 * kGBps, 63 * kGBps, 94.5 * kGBps}});
  SimTime h2d_end = -1, d2h_end = -1;
  const uint64_t a = f.start(0, {{0, hw::Direction::kForward}}, 47'250'000'000ull, [&](SimTime t) { h2d_end = t; });
  const uint64_t b = f.start(0, {{0, hw::Direction::kReverse}}, 47'250'000'000ull, [&](SimTime t) { d2h_end = t; });
  EXPECT_NEAR(f.rate_bytes_per_s(a), 47.25 * kGBps, 1.0);
  EXPECT_NEAR(f.rate_bytes_per_s(b), 47.25 * kGBps, 1.0);
  q.run();
  EXPECT_NEAR(static_cast<double>(h2d_end), 1e9, 2.0);
  EXPECT_NEAR(static_cast<double>(d2h_end), 1e9, 2.0);
}

TEST(FlowEngine, TwoGpusBehindOneSwitchSwappingAtOnceEachGetHalf) {
  // DGX A100 pairs two GPUs behind one PCIe switch uplink (hw catalog: gpus_per_switch 2).
  const hw::HardwareProfile a100 = hw::load_hardware("a100-sxm4-80gb");
  ASSERT_EQ(a100.pcie.gpus_per_switch, 2);
  const hw::Topology t = hw::build_node_topology(a100, 8);  // GPUs 0 and 1 share the first switch
  EventQueue q;
  FlowEngine f(q, t.shared_links());
  const auto hops0 = hw::route_hops(t, t.dram_near_gpu(0), t.gpu(0));
  const auto hops1 = hw::route_hops(t, t.dram_near_gpu(1), t.gpu(1));
  const uint64_t a = f.start(0, hops0, 1ull << 30, nullptr);
  const double alone = f.rate_bytes_per_s(a);
  const uint64_t b = f.start(0, hops1, 1ull << 30, nullptr);
  EXPECT_NEAR(f.rate_bytes_per_s(a), alone / 2, alone * 1e-9);
  EXPECT_NEAR(f.rate_bytes_per_s(b), alone / 2, alone * 1e-9);
  q.run();
}

}  // namespace
}  // namespace kvsim::engine
