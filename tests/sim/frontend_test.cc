// The API server in front of the engine (engine.frontend): its work before the queue and its delivery of streamed
// tokens shift a client's latencies by exactly their amounts, and appear only where a client is measuring.
#include <gtest/gtest.h>

#include "sim/run.h"
#include "tests/sim/test_util.h"

namespace kvsim::sim {
namespace {

using testing::scenario_from;

const char* const kServe = R"(
model: llama-3.1-8b
hardware: h100-sxm5-80gb
seed: 5
workload:
  requests: 200
  arrival: {process: poisson, rate: 4}
  prompt_tokens: {dist: uniform, min: 100, max: 900}
  output_tokens: {dist: uniform, min: 10, max: 200}
)";

TEST(Frontend, ApiServerShiftsClientLatenciesByItsTerms) {
  const auto api =
      run_scenario(scenario_from(kServe, {"engine.frontend_preprocess_ms=7", "engine.frontend_delivery_ms=2",
                                          "engine.frontend_per_token_us=10"}),
                   "")
          .summary;
  const auto none = run_scenario(scenario_from(kServe, {"engine.frontend=none"}), "").summary;
  // The engine sees the same arrivals 7 ms later: its schedule is the same, shifted.
  EXPECT_NEAR(api["mean_ttft_ms"].get<double>() - none["mean_ttft_ms"].get<double>(), 7.0 + 2.0, 1e-6);
  const double mean_output = none["total_output_tokens"].get<double>() / none["completed"].get<double>();
  EXPECT_NEAR(api["mean_e2el_ms"].get<double>() - none["mean_e2el_ms"].get<double>(), 9.0 + 0.010 * mean_output, 1e-6);
  EXPECT_NEAR(api["mean_itl_ms"].get<double>(), none["mean_itl_ms"].get<double>(), 1e-9);  // tokens keep their pace
  bool named = false;
  for (const auto& n : api["notes"])
    named = named || n.get<std::string>().find("frontend_preprocess_ms") != std::string::npos;
  EXPECT_TRUE(named);
}

TEST(Frontend, OnlineEnginesDefaultToTheApiServerOfflineOnesToNone) {
  EXPECT_EQ(scenario_from(kServe).engine.frontend, "api_server");
  EXPECT_GT(scenario_from(kServe).engine.frontend_preprocess_ms, 0);
  const Scenario offline = scenario_from(kServe, {"cache.policy=h2o"});
  EXPECT_EQ(offline.engine.frontend, "none");
  EXPECT_EQ(offline.engine.frontend_preprocess_ms, 0);
  EXPECT_EQ(offline.engine.frontend_delivery_ms, 0);
  EXPECT_THROW(scenario_from(kServe, {"engine.frontend=none", "engine.frontend_delivery_ms=3"}), Error);
}

}  // namespace
}  // namespace kvsim::sim
