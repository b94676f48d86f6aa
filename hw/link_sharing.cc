#include "hw/link_sharing.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "sim/core/error.h"

namespace kvsim::hw {

namespace {

// One capacity constraint: sum over flows of (uses x rate) <= capacity.
struct Constraint {
  double capacity = 0;
  std::vector<std::pair<size_t, double>> uses;  // (flow, how many times the flow crosses it)
};

void check_capacity(double v, size_t link, const char* what) {
  if (std::isnan(v) || v < 0) throw Error(fmt::format("link {}: {} must be >= 0, found {}", link, what, v));
}

}  // namespace

std::vector<double> max_min_rates(const std::vector<SharedLink>& links, const std::vector<FlowDemand>& flows) {
  // Constraints 3*l, 3*l+1, 3*l+2: link l forward, reverse, duplex.
  std::vector<Constraint> cons(3 * links.size());
  for (size_t l = 0; l < links.size(); ++l) {
    check_capacity(links[l].forward_bytes_per_s, l, "forward_bytes_per_s");
    check_capacity(links[l].reverse_bytes_per_s, l, "reverse_bytes_per_s");
    check_capacity(links[l].duplex_bytes_per_s, l, "duplex_bytes_per_s");
    cons[3 * l].capacity = links[l].forward_bytes_per_s;
    cons[3 * l + 1].capacity = links[l].reverse_bytes_per_s;
    cons[3 * l + 2].capacity = links[l].duplex_bytes_per_s;
  }
  auto add_use = [&](size_t c, size_t f) {
    auto& uses = cons[c].uses;
    if (!uses.empty() && uses.back().first == f) {
      uses.back().second += 1;
    } else {
      auto it = std::find_if(uses.begin(), uses.end(), [&](const auto& u) { return u.first == f; });
      if (it == uses.end()) {
        uses.emplace_back(f, 1.0);
      } else {
        it->second += 1;
      }
    }
  };
  for (size_t f = 0; f < flows.size(); ++f) {
    if (std::isnan(flows[f].max_bytes_per_s) || flows[f].max_bytes_per_s < 0) {
      throw Error(fmt::format("flow {}: max_bytes_per_s must be >= 0, found {}", f, flows[f].max_bytes_per_s));
    }
    if (flows[f].hops.empty() && std::isinf(flows[f].max_bytes_per_s)) {
      throw Error(fmt::format("flow {} crosses no link and has no rate cap: its rate would be infinite", f));
    }
    for (const FlowHop& hop : flows[f].hops) {
      if (hop.link >= links.size()) {
        throw Error(fmt::format("flow {}: link {} does not exist ({} links)", f, hop.link, links.size()));
      }
      add_use(3 * hop.link + static_cast<size_t>(hop.direction), f);
      add_use(3 * hop.link + 2, f);
    }
  }

  std::vector<double> rate(flows.size(), 0.0);
  std::vector<bool> settled(flows.size(), false);
  size_t remaining = flows.size();
  while (remaining > 0) {
    // The common level all unsettled flows can reach next: the tightest constraint or flow cap.
    // Per constraint: the level its unsettled flows could share, or infinity when none is unsettled.
    std::vector<double> share(cons.size(), std::numeric_limits<double>::infinity());
    double level = std::numeric_limits<double>::infinity();
    for (size_t i = 0; i < cons.size(); ++i) {
      double fixed = 0, weight = 0;
      for (const auto& [f, n] : cons[i].uses) {
        if (settled[f]) {
          fixed += n * rate[f];
        } else {
          weight += n;
        }
      }
      if (weight > 0) share[i] = std::max(0.0, cons[i].capacity - fixed) / weight;
      level = std::min(level, share[i]);
    }
    for (size_t f = 0; f < flows.size(); ++f) {
      if (!settled[f]) level = std::min(level, flows[f].max_bytes_per_s);
    }
    // Settle every flow that a constraint at this level binds. A relative tolerance absorbs rounding so that
    // constraints reached at the same level settle together.
    const double tol = 1e-12 * std::max(1.0, level);
    std::vector<size_t> now;
    for (size_t i = 0; i < cons.size(); ++i) {
      if (!(share[i] <= level + tol)) continue;
      for (const auto& use : cons[i].uses) {
        if (!settled[use.first]) now.push_back(use.first);
      }
    }
    for (size_t f = 0; f < flows.size(); ++f) {
      if (!settled[f] && flows[f].max_bytes_per_s <= level + tol) now.push_back(f);
    }
    for (size_t f : now) {
      if (settled[f]) continue;
      settled[f] = true;
      rate[f] = std::min(level, flows[f].max_bytes_per_s);
      --remaining;
    }
  }
  return rate;
}

}  // namespace kvsim::hw
