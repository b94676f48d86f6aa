// Bandwidth sharing among concurrent transfers as a pure function: links and flows in, max-min fair rates out.
// This is SimGrid's flow-level network model (Velho et al., "On the Validity of Flow-level TCP Network Models for
// Grid and Cloud Simulations", ACM TOMACS 2013): rates change only when a flow starts or ends.
#pragma once

#include <cstddef>
#include <limits>
#include <vector>

namespace kvsim::hw {

using LinkId = size_t;

// A link's two directions: kForward runs from its first endpoint to its second (for PCIe, host to device).
enum class Direction { kForward = 0, kReverse = 1 };

struct SharedLink {
  double forward_bytes_per_s = 0;  // capacity of each direction alone
  double reverse_bytes_per_s = 0;
  // Both directions together (PCIe moves ~1.5x one direction when both run: REFERENCES.md, vLLM blog 83.4 vs
  // ~55 GB/s on H100). Infinity means the directions are independent.
  double duplex_bytes_per_s = std::numeric_limits<double>::infinity();
};

struct FlowHop {
  LinkId link = 0;
  Direction direction = Direction::kForward;
};

struct FlowDemand {
  std::vector<FlowHop> hops;                                         // a hop listed twice counts twice against its link
  double max_bytes_per_s = std::numeric_limits<double>::infinity();  // the flow's own cap (copy engine, latency)
};

// Max-min fair rates (bytes/s) of `flows`, by progressive filling: all unsettled flows grow at one rate until a
// constraint saturates (a direction's capacity, a duplex cap or a flow's own cap); the flows it binds settle at
// that rate and the others continue. Exact up to floating-point rounding; the result never loads any constraint
// beyond its capacity. Throws kvsim::Error on a negative or NaN capacity, an unknown link, or a flow that crosses
// no link and has no cap of its own (its rate would be infinite).
std::vector<double> max_min_rates(const std::vector<SharedLink>& links, const std::vector<FlowDemand>& flows);

}  // namespace kvsim::hw
