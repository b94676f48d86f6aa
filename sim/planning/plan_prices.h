// Prices in `kvsim plan`: each GPU's US$ per GPU-hour (the catalog's cited list price, or --gpu-price), and the
// ranking they give. A configuration costs replicas x GPUs per replica x $/GPU-hour; a GPU with no price is never
// ranked as free: its configurations come after every priced one, marked unpriced.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "sim/planning/plan.h"

namespace kvsim::sim {

// "h200-sxm-141gb=3.5,h100-sxm5-80gb=2.9": US$ per GPU-hour by catalog name (or a profile path listed in
// `planned_gpus`). Errors name --gpu-price and the item: a missing '=' or name, a price that is not a number > 0, an
// alias or unknown name (with the entry it usually means), a GPU given twice or not among `planned_gpus`.
std::map<std::string, double> parse_gpu_prices(const std::string& text, const std::vector<std::string>& planned_gpus);

// Refuses --set cost.gpu_hour_usd (one price for every GPU would rank them by GPU count, not cost).
void check_plan_overrides(const std::vector<std::string>& overrides);
// A plan of one GPU type takes --set cost.gpu_hour_usd=X as that GPU's price (as --gpu-price GPU=X would): moves it
// from the overrides to the prices. Several GPU types keep it in the overrides, for check_plan_overrides to refuse.
void apply_set_price(PlanRequest& request);

// The price of one GPU-hour for `gpu`: --gpu-price first, else the catalog's; 0 = unpriced. `source` gets
// "--gpu-price", "catalog" or "".
double plan_gpu_usd_per_hour(const PlanRequest& request, const std::string& gpu, double catalog_usd_per_hour,
                             std::string* source);

// Sorts the candidates (priced feasible ones cheapest first, then unpriced feasible ones by GPU count, then the
// infeasible), sets best (the cheapest priced one) and the Pareto front of fleet cost against p99 TPOT among the
// priced, and notes each unpriced GPU that could serve.
void rank_plan_candidates(PlanResult& result);

}  // namespace kvsim::sim
