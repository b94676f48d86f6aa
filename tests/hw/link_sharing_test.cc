#include "hw/link_sharing.h"

#include <gtest/gtest.h>

#include "sim/core/error.h"

namespace kvsim::hw {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

SharedLink simplex(double cap) { return SharedLink{cap, cap, kInf}; }
FlowDemand over(std::vector<LinkId> links, Direction d = Direction::kForward, double cap = kInf) {
  FlowDemand f;
  for (LinkId l : links) f.hops.push_back(FlowHop{l, d});
  f.max_bytes_per_s = cap;
  return f;
}

// Sum of rates crossing each (link, direction) and each link in both directions.
void expect_conserved(const std::vector<SharedLink>& links, const std::vector<FlowDemand>& flows,
                      const std::vector<double>& rates) {
  for (size_t l = 0; l < links.size(); ++l) {
    double fwd = 0, rev = 0;
    for (size_t f = 0; f < flows.size(); ++f) {
      for (const auto& h : flows[f].hops) {
        if (h.link == l) (h.direction == Direction::kForward ? fwd : rev) += rates[f];
      }
    }
    EXPECT_LE(fwd, links[l].forward_bytes_per_s * (1 + 1e-12));
    EXPECT_LE(rev, links[l].reverse_bytes_per_s * (1 + 1e-12));
    EXPECT_LE(fwd + rev, links[l].duplex_bytes_per_s * (1 + 1e-12));
  }
}

TEST(MaxMin, OneFlowGetsTheWholeLink) {
  const auto r = max_min_rates({simplex(10)}, {over({0})});
  ASSERT_EQ(r.size(), 1u);
  EXPECT_DOUBLE_EQ(r[0], 10);
}

TEST(MaxMin, TwoEqualFlowsSplitTheLink) {
  const std::vector<SharedLink> links = {simplex(10)};
  const std::vector<FlowDemand> flows = {over({0}), over({0})};
  const auto r = max_min_rates(links, flows);
  EXPECT_DOUBLE_EQ(r[0], 5);
  EXPECT_DOUBLE_EQ(r[1], 5);
  expect_conserved(links, flows, r);
}

TEST(MaxMin, FlowBottleneckedElsewhereLeavesTheRestToTheOther) {
  // Classic example: links A (cap 10) and B (cap 4). Flow 0 crosses A and B, flow 1 only A. Flow 0 is held to 4
  // by B; flow 1 takes the 6 left on A, not an equal share of 5.
  const std::vector<SharedLink> links = {simplex(10), simplex(4)};
  const std::vector<FlowDemand> flows = {over({0, 1}), over({0})};
  const auto r = max_min_rates(links, flows);
  EXPECT_DOUBLE_EQ(r[0], 4);
  EXPECT_DOUBLE_EQ(r[1], 6);
  expect_conserved(links, flows, r);
}

TEST(MaxMin, ThreeLinkLine) {
  // Bertsekas & Gallager, Data Networks, Sec. 6.5.2 style: links of capacity 1 in a line, a long flow over all
  // three and one short flow per link: everybody gets 1/2.
  const std::vector<SharedLink> links = {simplex(1), simplex(1), simplex(1)};
  const std::vector<FlowDemand> flows = {over({0, 1, 2}), over({0}), over({1}), over({2})};
  const auto r = max_min_rates(links, flows);
  for (double x : r) EXPECT_DOUBLE_EQ(x, 0.5);
}

TEST(MaxMin, OppositeDirectionsAreIndependentWithoutDuplexCap) {
  const auto r = max_min_rates({simplex(10)}, {over({0}, Direction::kForward), over({0}, Direction::kReverse)});
  EXPECT_DOUBLE_EQ(r[0], 10);
  EXPECT_DOUBLE_EQ(r[1], 10);
}

TEST(MaxMin, DuplexCapOnH100LikePcieLink) {
  // 63 GB/s per direction, 94.5 GB/s both together (1.5x one way: vLLM blog, 83.4 vs ~55 GB/s measured on H100).
  const std::vector<SharedLink> links = {SharedLink{63e9, 63e9, 94.5e9}};
  const std::vector<FlowDemand> flows = {over({0}, Direction::kForward), over({0}, Direction::kReverse)};
  const auto r = max_min_rates(links, flows);
  EXPECT_DOUBLE_EQ(r[0], 94.5e9 / 2);
  EXPECT_DOUBLE_EQ(r[1], 94.5e9 / 2);
  EXPECT_LT(r[0], 63e9);  // not the full one-way rate
  expect_conserved(links, flows, r);
  // Alone, one direction still gets its full rate.
  EXPECT_DOUBLE_EQ(max_min_rates(links, {over({0}, Direction::kReverse)})[0], 63e9);
}

TEST(MaxMin, DuplexLeftoverGoesToTheUncappedDirection) {
  // D2H flow capped at 10 GB/s by itself: H2D gets min(63, 94.5 - 10) = 63.
  const std::vector<SharedLink> links = {SharedLink{63e9, 63e9, 94.5e9}};
  const auto r = max_min_rates(links, {over({0}, Direction::kForward), over({0}, Direction::kReverse, 10e9)});
  EXPECT_DOUBLE_EQ(r[1], 10e9);
  EXPECT_DOUBLE_EQ(r[0], 63e9);
}

TEST(MaxMin, FlowOwnCap) {
  const std::vector<SharedLink> links = {simplex(10)};
  const std::vector<FlowDemand> flows = {over({0}, Direction::kForward, 2), over({0}), over({0})};
  const auto r = max_min_rates(links, flows);
  EXPECT_DOUBLE_EQ(r[0], 2);
  EXPECT_DOUBLE_EQ(r[1], 4);
  EXPECT_DOUBLE_EQ(r[2], 4);
  expect_conserved(links, flows, r);
  // A cap exactly at the fair share is both binding and fair.
  const auto e = max_min_rates(links, {over({0}, Direction::kForward, 5), over({0})});
  EXPECT_DOUBLE_EQ(e[0], 5);
  EXPECT_DOUBLE_EQ(e[1], 5);
}

TEST(MaxMin, LinklessFlowTakesItsCap) {
  EXPECT_DOUBLE_EQ(max_min_rates({}, {over({}, Direction::kForward, 7)})[0], 7);
  EXPECT_THROW(max_min_rates({}, {over({})}), Error);
}

TEST(MaxMin, RejectsBadInput) {
  EXPECT_THROW(max_min_rates({simplex(-1)}, {over({0})}), Error);
  EXPECT_THROW(max_min_rates({simplex(1)}, {over({3})}), Error);
  EXPECT_THROW(max_min_rates({simplex(1)}, {over({0}, Direction::kForward, -1)}), Error);
}

TEST(MaxMin, ZeroCapacityGivesZero) {
  const auto r = max_min_rates({simplex(0), simplex(5)}, {over({0, 1}), over({1})});
  EXPECT_DOUBLE_EQ(r[0], 0);
  EXPECT_DOUBLE_EQ(r[1], 5);
}

TEST(MaxMin, ConservationAndMaxMinPropertyOnAMesh) {
  // Several overlapping flows over links of unequal capacity: no link over capacity, and every flow has a
  // saturated link on which it is among the largest (the max-min optimality condition).
  const std::vector<SharedLink> links = {SharedLink{7, 5, 9}, simplex(3), SharedLink{11, 11, 12}, simplex(2.5)};
  const std::vector<FlowDemand> flows = {over({0, 1}),
                                         over({0, 2}),
                                         over({2, 3}, Direction::kReverse),
                                         over({0}, Direction::kReverse),
                                         over({2}),
                                         over({1, 2, 3}, Direction::kForward, 1)};
  const auto r = max_min_rates(links, flows);
  expect_conserved(links, flows, r);
  for (size_t f = 0; f < flows.size(); ++f) {
    if (r[f] >= flows[f].max_bytes_per_s * (1 - 1e-12)) continue;
    bool bottleneck = false;
    for (const auto& h : flows[f].hops) {
      double dir = 0, both = 0, top_dir = 0, top_both = 0;
      for (size_t g = 0; g < flows.size(); ++g) {
        for (const auto& k : flows[g].hops) {
          if (k.link != h.link) continue;
          both += r[g];
          top_both = std::max(top_both, r[g]);
          if (k.direction == h.direction) dir += r[g], top_dir = std::max(top_dir, r[g]);
        }
      }
      const SharedLink& l = links[h.link];
      const double cap = h.direction == Direction::kForward ? l.forward_bytes_per_s : l.reverse_bytes_per_s;
      if ((dir >= cap * (1 - 1e-9) && r[f] >= top_dir * (1 - 1e-9)) ||
          (both >= l.duplex_bytes_per_s * (1 - 1e-9) && r[f] >= top_both * (1 - 1e-9))) {
        bottleneck = true;
      }
    }
    EXPECT_TRUE(bottleneck) << "flow " << f << " rate " << r[f];
  }
}

}  // namespace
}  // namespace kvsim::hw
