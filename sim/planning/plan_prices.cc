#include "sim/planning/plan_prices.h"

#include <algorithm>
#include <set>
#include <stdexcept>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "hw/hardware_loader.h"
#include "sim/core/error.h"

namespace kvsim::sim {

namespace {

constexpr const char* kExample = "expected NAME=USD_PER_GPU_HOUR, e.g. h100-sxm5-80gb=2.9";

std::string trim(const std::string& s) {
  const size_t a = s.find_first_not_of(" \t");
  if (a == std::string::npos) return "";
  return s.substr(a, s.find_last_not_of(" \t") - a + 1);
}

// A price in US$ per GPU-hour in (0 .. 1e6], or -1 for anything else (text that is not wholly a number included).
double usd_per_gpu_hour(const std::string& value) {
  try {
    size_t used = 0;
    const double usd = std::stod(value, &used);
    return used == value.size() && usd > 0 && usd <= 1e6 ? usd : -1;
  } catch (const std::logic_error&) {
    return -1;
  }
}

// 0 feasible and priced, 1 feasible and unpriced, 2 infeasible.
int tier(const PlanCandidate& c) { return !c.feasible ? 2 : c.gpu_usd_per_hour > 0 ? 0 : 1; }

}  // namespace

std::map<std::string, double> parse_gpu_prices(const std::string& text, const std::vector<std::string>& planned_gpus) {
  std::map<std::string, double> out;
  if (text.empty()) return out;
  const std::vector<std::string> catalog = hw::hardware_catalog_names();
  size_t start = 0;
  while (start <= text.size()) {
    const size_t comma = text.find(',', start);
    const std::string item = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    start = comma == std::string::npos ? text.size() + 1 : comma + 1;
    const auto bad = [&](const std::string& why) {
      throw Error(Place{"--gpu-price"}, fmt::format("'{}': {}", item, why));
    };
    const size_t eq = item.find('=');
    if (eq == std::string::npos) bad(std::string("missing '=': ") + kExample);
    const std::string name = trim(item.substr(0, eq)), value = trim(item.substr(eq + 1));
    if (name.empty()) bad(std::string("missing the GPU's catalog name: ") + kExample);
    const double usd = usd_per_gpu_hour(value);
    if (usd < 0)
      bad(fmt::format("expected a price in US$ per GPU-hour in (0 .. 1000000], found '{}'", value));
    const bool planned = std::find(planned_gpus.begin(), planned_gpus.end(), name) != planned_gpus.end();
    if (!planned && std::find(catalog.begin(), catalog.end(), name) == catalog.end()) {
      std::string hint;
      for (const auto& [alias, entry] : hw::gpu_aliases()) {
        if (alias == name) hint = fmt::format(" (did you mean '{}'?)", entry);
      }
      bad(fmt::format("unknown hardware '{}'{}: give the catalog name (kvsim hardware lists them)", name, hint));
    }
    if (!planned) {
      bad(fmt::format("{} is not among the planned GPUs ({}): add it to --gpus", name, fmt::join(planned_gpus, ",")));
    }
    if (!out.emplace(name, usd).second) bad(fmt::format("{} is priced twice", name));
  }
  return out;
}

void apply_set_price(PlanRequest& request) {
  if (request.gpus.size() != 1) return;
  auto& o = request.overrides;
  for (auto it = o.begin(); it != o.end(); ++it) {
    if (trim(it->substr(0, it->find('='))) != "cost.gpu_hour_usd") continue;
    const std::string value = trim(it->substr(it->find('=') + 1));
    const double usd = usd_per_gpu_hour(value);
    if (usd < 0) {
      throw Error(Place{"--set"}, fmt::format("'{}': expected a price in US$ per GPU-hour in (0 .. 1000000]", *it));
    }
    if (!request.gpu_usd_per_hour.emplace(request.gpus.front(), usd).second) {
      throw Error(Place{"--set"}, fmt::format("'{}': {} is priced by --gpu-price too: give one price", *it,
                                              request.gpus.front()));
    }
    o.erase(it);
    return;
  }
}

void check_plan_overrides(const std::vector<std::string>& overrides) {
  for (const std::string& o : overrides) {
    const std::string key = trim(o.substr(0, o.find('=')));
    if (key == "cost" || key == "cost.gpu_hour_usd") {
      throw Error(Place{"--set"},
                  fmt::format("'{}': plan prices each GPU type on its own: use --gpu-price NAME=USD_PER_GPU_HOUR "
                              "(e.g. --gpu-price h100-sxm5-80gb=2.9); one cost.gpu_hour_usd for every GPU would rank "
                              "them by GPU count, not cost (it prices a plan of one GPU type)",
                              o));
    }
  }
}

double plan_gpu_usd_per_hour(const PlanRequest& request, const std::string& gpu, double catalog_usd_per_hour,
                             std::string* source) {
  const auto it = request.gpu_usd_per_hour.find(gpu);
  if (it != request.gpu_usd_per_hour.end()) {
    *source = "--gpu-price";
    return it->second;
  }
  *source = catalog_usd_per_hour > 0 ? "catalog" : "";
  return catalog_usd_per_hour > 0 ? catalog_usd_per_hour : 0;
}

void rank_plan_candidates(PlanResult& result) {
  auto& cs = result.candidates;
  for (PlanCandidate& c : cs) {
    // The fleet: every replica's GPUs, each priced per hour.
    c.usd_per_hour = c.feasible ? c.gpu_usd_per_hour * static_cast<double>(c.gpus()) : 0;
  }
  std::stable_sort(cs.begin(), cs.end(), [](const PlanCandidate& a, const PlanCandidate& b) {
    if (tier(a) != tier(b)) return tier(a) < tier(b);
    if (a.usd_per_hour != b.usd_per_hour) return a.usd_per_hour < b.usd_per_hour;
    return a.gpus() < b.gpus();
  });
  result.best.reset();
  std::set<std::string> unpriced;
  for (size_t i = 0; i < cs.size(); ++i) {
    cs[i].pareto = false;
    if (tier(cs[i]) == 1) unpriced.insert(cs[i].gpu);
    if (tier(cs[i]) != 0) continue;
    if (!result.best) result.best = i;
    cs[i].pareto = std::none_of(cs.begin(), cs.end(), [&](const PlanCandidate& o) {
      return tier(o) == 0 && o.usd_per_hour <= cs[i].usd_per_hour && o.tpot_p99_ms <= cs[i].tpot_p99_ms &&
             (o.usd_per_hour < cs[i].usd_per_hour || o.tpot_p99_ms < cs[i].tpot_p99_ms);
    });
  }
  for (const std::string& gpu : unpriced) {
    result.notes.push_back(fmt::format(
        "{} serves the rate but has no price (the catalog cites none): it is listed after the priced configurations, "
        "unranked; rank it with --gpu-price {}=USD_PER_GPU_HOUR",
        gpu, gpu));
  }
}

}  // namespace kvsim::sim
