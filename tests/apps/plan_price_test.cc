// kvsim plan's prices: an unpriced GPU is never ranked as free, --gpu-price changes the ranking, --require-price
// refuses an unpriced GPU, and a configuration costs its whole fleet (replicas x tp x $/GPU-hour).
#include <gtest/gtest.h>

#include <string>

#include <nlohmann/json.hpp>

#include "sim/core/error.h"
#include "sim/planning/plan.h"
#include "sim/planning/plan_prices.h"
#include "tests/apps/cli_runner.h"

namespace kvsim::app {
namespace {

using testing::cli;

const std::string kLengths = std::string(KVSIM_TEST_SOURCE_DIR) + "/tests/apps/plan_price_lengths.csv";

// One sequence at a time, 16-token prompts and 100-token outputs (tests/sim/plan_test.cc): a replica of
// llama-3.1-8b serves ~1 req/s on an H100 or H200, so 0.5 req/s needs one GPU of either and the plan stays quick.
sim::PlanRequest quick_plan() {
  sim::PlanRequest r;
  r.model = "llama-3.1-8b";
  r.rate = 0.5;
  r.slo = sim::parse_plan_slo("ttft_p90_ms=5000");
  r.gpus = {"h200-sxm-141gb", "h100-sxm5-80gb"};
  r.max_gpus = 1;
  r.duration_s = 40;
  r.seeds = 1;
  r.dataset = "";
  r.overrides = {"engine.max_num_seqs=1", "workload.prompt_tokens=16", "workload.output_tokens=100"};
  return r;
}

sim::PlanCandidate candidate(const std::string& gpu, int64_t replicas, int64_t tp, double gpu_usd_per_hour) {
  sim::PlanCandidate c;
  c.gpu = gpu;
  c.policy = "vllm";
  c.feasible = true;
  c.replicas = replicas;
  c.tp = tp;
  c.gpu_usd_per_hour = gpu_usd_per_hour;
  return c;
}

TEST(PlanPrices, FleetCostIsReplicasTimesTpTimesGpuPrice) {
  sim::PlanResult p;
  p.candidates = {candidate("a", 3, 2, 2.5), candidate("b", 1, 4, 1.0)};
  sim::rank_plan_candidates(p);
  ASSERT_TRUE(p.best.has_value());
  EXPECT_EQ(p.candidates[*p.best].gpu, "b");
  EXPECT_DOUBLE_EQ(p.candidates[0].usd_per_hour, 1 * 4 * 1.0);
  EXPECT_DOUBLE_EQ(p.candidates[1].usd_per_hour, 3 * 2 * 2.5);
}

// The GPU that needs fewer GPUs per sustained rate loses once its price per GPU-hour is high enough.
TEST(PlanPrices, PricingFlipsWhichGpuIsCheapest) {
  sim::PlanResult p;
  p.candidates = {candidate("fast", 1, 1, 3.0), candidate("slow", 2, 1, 2.0)};
  sim::rank_plan_candidates(p);
  EXPECT_EQ(p.candidates[*p.best].gpu, "fast");  // 3 < 2 x 2
  p.candidates = {candidate("fast", 1, 1, 5.0), candidate("slow", 2, 1, 2.0)};
  sim::rank_plan_candidates(p);
  EXPECT_EQ(p.candidates[*p.best].gpu, "slow");  // 5 > 2 x 2
}

TEST(PlanPrices, UnpricedGpuComesAfterThePricedAndIsNeverBest) {
  sim::PlanResult p;
  p.candidates = {candidate("free", 1, 1, 0), candidate("priced", 8, 8, 12.29)};
  sim::rank_plan_candidates(p);
  ASSERT_TRUE(p.best.has_value());
  EXPECT_EQ(p.candidates[*p.best].gpu, "priced");
  EXPECT_EQ(p.candidates.back().gpu, "free");
  EXPECT_FALSE(p.candidates.back().pareto);
  ASSERT_EQ(p.notes.size(), 1u);
  EXPECT_NE(p.notes[0].find("--gpu-price free="), std::string::npos);
  const nlohmann::ordered_json j = p.to_json();
  EXPECT_FALSE(j["candidates"][1]["priced"].get<bool>());
  EXPECT_TRUE(j["candidates"][1]["usd_per_hour"].is_null());
  // Only an unpriced GPU serves: no best, and still not free.
  p.candidates = {candidate("free", 1, 1, 0)};
  p.notes.clear();
  sim::rank_plan_candidates(p);
  EXPECT_FALSE(p.best.has_value());
}

// End to end: the H200 has no catalog price; unpriced it is listed after the H100, priced below the H100 it wins, and
// the H100 wins back when priced lower still. Fleet cost in the JSON = replicas x tp x the price.
TEST(PlanPrices, GpuPriceRanksAnUnpricedGpuAndFlipsTheRanking) {
  sim::PlanRequest r = quick_plan();
  sim::PlanResult p = sim::run_plan(r);
  ASSERT_TRUE(p.best.has_value()) << p.to_json().dump(2);
  EXPECT_EQ(p.candidates[*p.best].gpu, "h100-sxm5-80gb");
  ASSERT_EQ(p.candidates.size(), 2u);
  EXPECT_EQ(p.candidates[1].gpu, "h200-sxm-141gb");
  EXPECT_TRUE(p.candidates[1].feasible);
  EXPECT_EQ(p.candidates[1].gpu_usd_per_hour, 0);

  r.gpu_usd_per_hour = sim::parse_gpu_prices("h200-sxm-141gb=3.5", r.gpus);
  p = sim::run_plan(r);
  ASSERT_TRUE(p.best.has_value());
  EXPECT_EQ(p.candidates[*p.best].gpu, "h200-sxm-141gb");
  const nlohmann::ordered_json j = p.to_json();
  for (const auto& c : j["candidates"]) {
    ASSERT_TRUE(c["feasible"].get<bool>());
    EXPECT_DOUBLE_EQ(c["usd_per_hour"].get<double>(),
                     c["replicas"].get<double>() * c["tp"].get<double>() * c["gpu_usd_per_hour"].get<double>());
    EXPECT_GT(c["usd_per_million_tokens"].get<double>(), 0);
  }
  EXPECT_EQ(j["candidates"][0]["price_source"], "--gpu-price");
  EXPECT_EQ(j["candidates"][1]["price_source"], "catalog");

  r.gpu_usd_per_hour = sim::parse_gpu_prices("h200-sxm-141gb=3.5,h100-sxm5-80gb=2.9", r.gpus);
  p = sim::run_plan(r);
  ASSERT_TRUE(p.best.has_value());
  EXPECT_EQ(p.candidates[*p.best].gpu, "h100-sxm5-80gb");
}

TEST(PlanPrices, TableShowsUnpricedNotZeroDollars) {
  const auto r = cli({"plan", "--model", "llama-3.1-8b", "--rate", "0.5", "--slo", "ttft_p90_ms=5000", "--gpus",
                      "h200-sxm-141gb", "--max-gpus", "1", "--duration", "40", "--seeds", "1", "--workload", kLengths,
                      "--set", "engine.max_num_seqs=1"});
  EXPECT_EQ(r.code, 1) << r.out << r.err;  // no priced configuration
  EXPECT_EQ(r.out.find("$0.00"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("unpriced"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("--gpu-price h200-sxm-141gb="), std::string::npos) << r.out;
}

TEST(PlanPrices, RequirePriceRefusesAnUnpricedGpu) {
  sim::PlanRequest r = quick_plan();
  r.require_price = true;
  try {
    sim::run_plan(r);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("h200-sxm-141gb has no price"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("--gpu-price h200-sxm-141gb="), std::string::npos) << e.what();
  }
}

TEST(PlanPrices, HardwareListsEachPriceWithItsSourceOrUnpriced) {
  const auto table = cli({"hardware"});
  ASSERT_EQ(table.code, 0) << table.err;
  const auto line_of = [&](const std::string& name) {
    const size_t at = table.out.find("\n" + name + " ");
    return at == std::string::npos ? std::string() : table.out.substr(at + 1, table.out.find('\n', at + 1) - at - 1);
  };
  EXPECT_NE(line_of("h100-sxm5-80gb").find("12.29  AWS EC2 on-demand"), std::string::npos) << table.out;
  EXPECT_NE(line_of("h100-sxm5-80gb").find("(2024)"), std::string::npos) << table.out;
  EXPECT_NE(line_of("h200-sxm-141gb").find("unpriced"), std::string::npos) << table.out;
  const auto json = cli({"hardware", "--format", "json"});
  ASSERT_EQ(json.code, 0) << json.err;
  for (const auto& h : nlohmann::json::parse(json.out)) {
    if (h["name"] == "h100-sxm5-80gb") {
      EXPECT_DOUBLE_EQ(h["gpu_hour_usd"].get<double>(), 12.29);
      EXPECT_EQ(h["price_date"], "2024");
    }
    if (h["name"] == "h200-sxm-141gb") {
      EXPECT_TRUE(h["gpu_hour_usd"].is_null());
    }
    // Every price has a source.
    if (!h["gpu_hour_usd"].is_null()) {
      EXPECT_FALSE(h["price_source"].get<std::string>().empty()) << h["name"];
    }
  }
}

}  // namespace
}  // namespace kvsim::app
