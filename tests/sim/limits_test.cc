// Absurd sizes are handled without overflow: 1 PiB of HBM runs (its KV capacity is what the arithmetic says), a
// 1e12-token prompt is refused per request while the next one is served, and 1e15 requests are refused up front
// (tests/bad_inputs/requests_absurd.yaml gives the message).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>

#include "sim/core/error.h"
#include "sim/run.h"
#include "tests/sim/test_util.h"

namespace kvsim::sim {
namespace {

TEST(Limits, OnePebibyteOfHbmRunsWithoutOverflow) {
  const std::string dir = testing::temp_dir("limits-pib");
  std::filesystem::create_directories(dir);
  {
    std::ifstream in(std::string(KVSIM_TEST_SOURCE_DIR) + "/hw/catalog/h100-sxm5-80gb.yaml");
    std::stringstream text;
    text << in.rdbuf();
    std::ofstream(dir + "/petabyte.yaml")
        << std::regex_replace(text.str(), std::regex("hbm_bytes: 81559MiB"), "hbm_bytes: 1PiB");
  }
  const Scenario s = testing::scenario_from("model: llama-3.1-8b\nhardware: " + dir +
                                            "/petabyte.yaml\ncheck_invariants: true\n"
                                            "workload: {requests: 200, arrival: {rate: 50}, dataset: sharegpt}\n");
  ASSERT_EQ(s.hardware.gpu.hbm_bytes, uint64_t{1} << 50);
  const RunResult r = run_scenario(s, "");
  EXPECT_EQ(r.summary["completed"], 200);
  // 0.9 x 2^50 bytes less the weights and reserves, over 128 KiB per token (32 layers x 8 KV heads x 128 x 2 x 2 B).
  const auto capacity = r.summary["kv_capacity_tokens"].get<int64_t>();
  const double expected = (0.9 * std::ldexp(1.0, 50) - static_cast<double>(r.plan.static_bytes())) / 131072.0;
  EXPECT_NEAR(static_cast<double>(capacity), expected, 1e-6 * expected);
  EXPECT_GT(r.summary["peak_hbm_bytes"].get<uint64_t>(), r.plan.static_bytes());
  std::filesystem::remove_all(dir);
}

TEST(Limits, ATrillionTokenPromptIsRefusedAndTheNextRequestServed) {
  const std::string dir = testing::temp_dir("limits-prompt");
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/t.csv") << "arrival_s,prompt_tokens,output_tokens\n0,1000000000000,10\n0.1,100,10\n";
  const Scenario s = testing::scenario_from(
      "model: llama-3.1-8b\nhardware: h100-sxm5-80gb\ncheck_invariants: true\n"
      "workload: {trace: " +
      dir + "/t.csv}\n");
  const RunResult r = run_scenario(s, dir + "/out");
  EXPECT_EQ(r.summary["rejected"], 1);
  EXPECT_EQ(r.summary["completed"], 1);
  EXPECT_EQ(r.summary["total_input_tokens"], 100);  // the refused prompt is not counted as served
  const std::string csv = testing::read_file(dir + "/out/requests.csv");
  EXPECT_NE(csv.find("\n0,0,rejected:max_model_len,0.000000000,1000000000000,10,"), std::string::npos) << csv;
  std::filesystem::remove_all(dir);
}

TEST(Limits, AQuadrillionRequestsAreRefusedBeforeRunning) {
  try {
    testing::scenario_from(
        "model: llama-3.1-8b\nhardware: h100-sxm5-80gb\nworkload: {requests: 1000000000000000, dataset: sharegpt}\n");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("workload.requests"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace kvsim::sim
