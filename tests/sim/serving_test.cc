// End-to-end properties of the serving simulation: Little's law, conservation, determinism, both sides of the
// admission limit, preemption, and the v0/v1 difference under a long prefill.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "sim/run.h"
#include "tests/sim/test_util.h"

namespace kvsim::sim {
namespace {

using testing::read_file;
using testing::scenario_from;
using testing::temp_dir;

const char* const kSteady = R"(
model: llama-3.1-8b
hardware: h100-sxm5-80gb
seed: 7
check_invariants: true
engine: {max_model_len: 16384}
workload:
  requests: 2000
  arrival: {process: poisson, rate: 8}
  prompt_tokens: {dist: lognormal, mean: 1000, stddev: 500, min: 16, max: 8192}
  output_tokens: {dist: lognormal, mean: 200, stddev: 100, min: 2, max: 1024}
slo: {ttft_ms: 1000, tpot_ms: 50}
)";

TEST(Serving, LittlesLawHoldsOnASteadyRun) {
  const RunResult r = run_scenario(scenario_from(kSteady), "");
  const auto& j = r.summary;
  ASSERT_EQ(j["completed"].get<int64_t>(), 2000);
  const double l = j["mean_requests_in_system"].get<double>();
  const double lambda_w = j["request_throughput"].get<double>() * j["mean_e2el_ms"].get<double>() / 1000.0;
  EXPECT_NEAR(l, lambda_w, 0.05 * lambda_w);
  EXPECT_GT(l, 1.0);  // a real load, not an empty system
  EXPECT_LE(j["mean_running_requests"].get<double>(), l);
}

TEST(Serving, EveryRequestCompletesOrIsRejectedAndBlocksAreConserved) {
  // A tight KV pool forces preemption; invariants are checked every iteration and the end state by Cluster::run.
  const RunResult r = run_scenario(scenario_from(kSteady, {"engine.num_gpu_blocks=1100", "workload.requests=600"}), "");
  const auto& j = r.summary;
  EXPECT_EQ(j["completed"].get<int64_t>() + j["rejected"].get<int64_t>(), 600);
  EXPECT_GT(j["num_preemptions"].get<int64_t>(), 0);
  EXPECT_LE(j["peak_kv_hbm_bytes"].get<uint64_t>(), static_cast<uint64_t>(1100) * r.plan.block_bytes);
  EXPECT_LE(j["peak_hbm_bytes"].get<uint64_t>(), r.plan.hbm_bytes);
}

TEST(Serving, SameScenarioAndSeedGiveByteIdenticalOutputs) {
  const std::string a = temp_dir("det-a"), b = temp_dir("det-b");
  const Scenario s = scenario_from(kSteady, {"workload.requests=300"});
  run_scenario(s, a);
  run_scenario(s, b);
  EXPECT_EQ(read_file(a + "/summary.json"), read_file(b + "/summary.json"));
  EXPECT_EQ(read_file(a + "/requests.csv"), read_file(b + "/requests.csv"));
  EXPECT_EQ(read_file(a + "/memory.csv"), read_file(b + "/memory.csv"));
  EXPECT_FALSE(read_file(a + "/scenario.resolved.yaml").empty());
  const Scenario other = scenario_from(kSteady, {"workload.requests=300", "seed=8"});
  run_scenario(other, b);
  EXPECT_NE(read_file(a + "/summary.json"), read_file(b + "/summary.json"));
  std::filesystem::remove_all(a);
  std::filesystem::remove_all(b);
}

TEST(Serving, ResolvedScenarioReproducesTheRun) {
  const std::string a = temp_dir("resolved-a"), b = temp_dir("resolved-b");
  run_scenario(scenario_from(kSteady, {"workload.requests=200", "cache.block_size=32"}), a);
  const Scenario again = load_scenario(a + "/scenario.resolved.yaml", {});
  EXPECT_EQ(again.cache.block_size, 32);
  run_scenario(again, b);
  EXPECT_EQ(read_file(a + "/summary.json"), read_file(b + "/summary.json"));
  std::filesystem::remove_all(a);
  std::filesystem::remove_all(b);
}

TEST(Serving, RequestThatExactlyFitsIsAdmittedOneTokenMoreIsRejected) {
  const char* const base = R"(
model: llama-3.1-8b
hardware: h100-sxm5-80gb
check_invariants: true
engine: {max_model_len: 2048, num_gpu_blocks: 128}
workload: {requests: 3, arrival: {process: all-at-once}, prompt_tokens: 2000}
)";
  const RunResult fits = run_scenario(scenario_from(base, {"workload.output_tokens=48"}), "");
  EXPECT_EQ(fits.summary["completed"].get<int64_t>(), 3);
  EXPECT_EQ(fits.summary["rejected"].get<int64_t>(), 0);
  const RunResult over = run_scenario(scenario_from(base, {"workload.output_tokens=49"}), "");
  EXPECT_EQ(over.summary["completed"].get<int64_t>(), 0);
  EXPECT_EQ(over.summary["rejected"].get<int64_t>(), 3);
}

TEST(Serving, SwapPreemptionMovesEveryBlockOutAndBackOverPcie) {
  const RunResult r = run_scenario(scenario_from(kSteady, {"engine.version=v0", "cache.preemption=swap",
                                                           "engine.num_gpu_blocks=1100", "workload.requests=400"}),
                                   "");
  const auto& j = r.summary;
  EXPECT_EQ(j["completed"].get<int64_t>() + j["rejected"].get<int64_t>(), 400);
  EXPECT_GT(j["num_preemptions"].get<int64_t>(), 0);
  EXPECT_GT(j["pcie_d2h_bytes"].get<uint64_t>(), 0u);
  EXPECT_EQ(j["pcie_h2d_bytes"].get<uint64_t>(), j["pcie_d2h_bytes"].get<uint64_t>());
  EXPECT_GT(j["peak_kv_host_bytes"].get<uint64_t>(), 0u);
}

// A long prompt arriving while short requests decode: the paper engine (v0, whole-prompt prefill iterations)
// stalls every decode for the whole prefill; v1 chunks the prompt and keeps decoding.
TEST(Serving, V0StallsDecodesForALongPrefillAndV1DoesNot) {
  const std::string dir = temp_dir("stall");
  std::filesystem::create_directories(dir);
  {
    std::ofstream t(dir + "/trace.csv");
    t << "arrival_s,prompt_tokens,output_tokens\n";
    for (int i = 0; i < 8; ++i) t << "0.0,100,400\n";
    t << "0.5,30000,10\n";
  }
  const std::string yaml =
      "model: llama-3.1-8b\nhardware: h100-sxm5-80gb\ncheck_invariants: true\n"
      "engine: {max_model_len: 32768}\nworkload: {trace: " +
      dir + "/trace.csv}\n";
  const RunResult v0 = run_scenario(scenario_from(yaml, {"engine.version=v0"}), "");
  const RunResult v1 = run_scenario(scenario_from(yaml, {"engine.max_num_batched_tokens=2048"}), "");
  const double v0_max_itl = v0.summary["max_itl_ms"].get<double>();
  const double v1_max_itl = v1.summary["max_itl_ms"].get<double>();
  // v0's worst inter-token gap is the whole 30K-token prefill; v1's is one 2048-token chunk.
  EXPECT_GT(v0_max_itl, 5.0 * v1_max_itl) << "v0 " << v0_max_itl << " ms, v1 " << v1_max_itl << " ms";
  const double median_itl = v1.summary["median_itl_ms"].get<double>();
  EXPECT_GT(v0_max_itl, 50.0 * median_itl);
  std::filesystem::remove_all(dir);
}

TEST(Serving, HigherRateNeverLowersLatency) {
  double previous = 0;
  for (const char* rate : {"2", "8", "32"}) {
    const RunResult r = run_scenario(
        scenario_from(kSteady, {"workload.requests=500", std::string("workload.arrival.rate=") + rate}), "");
    const double e2el = r.summary["mean_e2el_ms"].get<double>();
    EXPECT_GE(e2el, previous) << "rate " << rate;
    previous = e2el;
  }
}

TEST(Serving, ReplicasShareTheLoad) {
  const RunResult one = run_scenario(scenario_from(kSteady, {"workload.arrival.rate=40", "workload.requests=800"}), "");
  const RunResult two = run_scenario(
      scenario_from(kSteady, {"workload.arrival.rate=40", "workload.requests=800", "cluster.replicas=2"}), "");
  EXPECT_EQ(two.summary["completed"].get<int64_t>(), 800);
  EXPECT_LT(two.summary["mean_e2el_ms"].get<double>(), one.summary["mean_e2el_ms"].get<double>());
  EXPECT_EQ(two.summary["kv_capacity_tokens"].get<int64_t>(), 2 * one.summary["kv_capacity_tokens"].get<int64_t>());
}

}  // namespace
}  // namespace kvsim::sim

namespace kvsim::sim {
namespace {

// The shipped Azure 2023 conversation sample replays to the end: every request completes or is rejected, and the
// token totals equal the trace's.
TEST(Serving, ReplaysTheShippedAzureSample) {
  const std::string trace = std::string(KVSIM_TEST_SOURCE_DIR) + "/traces/samples/azure_conv_1k.csv";
  const RunResult r = run_scenario(testing::scenario_from("model: llama-3.1-8b\nhardware: h100-sxm5-80gb\n"
                                                          "check_invariants: true\nengine: {max_model_len: 16384}\n"
                                                          "workload: {trace: " +
                                                          trace + "}\n"),
                                   "");
  std::ifstream in(trace);
  std::string line;
  std::getline(in, line);
  int64_t rows = 0, prompt = 0, output = 0;
  while (std::getline(in, line)) {
    const size_t a = line.find(','), b = line.find(',', a + 1);
    prompt += std::stoll(line.substr(a + 1, b - a - 1));
    output += std::stoll(line.substr(b + 1));
    ++rows;
  }
  ASSERT_EQ(rows, 1000);
  EXPECT_EQ(r.summary["completed"].get<int64_t>(), 1000);
  EXPECT_EQ(r.summary["total_input_tokens"].get<int64_t>(), prompt);
  EXPECT_EQ(r.summary["total_output_tokens"].get<int64_t>(), output);
}

}  // namespace
}  // namespace kvsim::sim

namespace kvsim::sim {
namespace {

const char* const kSharedPrefix = R"(
model: llama-3.1-8b
hardware: h100-sxm5-80gb
seed: 3
check_invariants: true
engine: {max_model_len: 16384}
workload:
  requests: 400
  shared_prefix_tokens: 2000
  arrival: {process: poisson, rate: 4}
  prompt_tokens: {dist: uniform, min: 50, max: 150}
  output_tokens: {dist: fixed, value: 64}
)";

// Every prompt starts with the same 2,000 tokens: with prefix caching, all but the first request find its 125 full
// blocks cached, so about 2000 / 2100 of the looked-up tokens hit and TTFT falls.
TEST(PrefixCaching, SharedSystemPromptIsComputedOnce) {
  const RunResult on = run_scenario(testing::scenario_from(kSharedPrefix), "");
  const RunResult off = run_scenario(testing::scenario_from(kSharedPrefix, {"cache.prefix_caching=false"}), "");
  EXPECT_EQ(on.summary["completed"].get<int64_t>(), 400);
  EXPECT_EQ(off.summary["prefix_cache_hit_rate"].get<double>(), 0.0);
  const double hit = on.summary["prefix_cache_hit_rate"].get<double>();
  EXPECT_GT(hit, 0.9 * 2000.0 / 2100.0);
  EXPECT_LT(hit, 2000.0 / 2050.0);  // never more than the shared part of the shortest prompt
  EXPECT_LT(on.summary["mean_ttft_ms"].get<double>(), 0.5 * off.summary["mean_ttft_ms"].get<double>());
  EXPECT_LT(on.summary["peak_kv_hbm_bytes"].get<uint64_t>(), off.summary["peak_kv_hbm_bytes"].get<uint64_t>());
}

// Cached blocks are evicted when room is needed: a pool barely larger than one request still serves every request,
// and the books balance (allocated = freed + cached) at the end.
TEST(PrefixCaching, CachedBlocksAreEvictedUnderPressure) {
  const RunResult r = run_scenario(
      testing::scenario_from(kSharedPrefix, {"engine.num_gpu_blocks=300", "engine.max_model_len=4096"}), "");
  EXPECT_EQ(r.summary["completed"].get<int64_t>() + r.summary["rejected"].get<int64_t>(), 400);
  EXPECT_GT(r.summary["completed"].get<int64_t>(), 0);
}

// v0 never shares by default (the paper engine had no automatic prefix caching).
TEST(PrefixCaching, OffByDefaultInV0) {
  const RunResult r = run_scenario(testing::scenario_from(kSharedPrefix, {"engine.version=v0"}), "");
  EXPECT_EQ(r.summary["prefix_cache_hit_rate"].get<double>(), 0.0);
}

}  // namespace
}  // namespace kvsim::sim

namespace kvsim::sim {
namespace {

// Two replicas whose GPUs sit behind one PCIe switch (DGX A100: gpus_per_switch 2) share its uplink when both swap:
// their swaps take longer per byte than the same pair with a link each. Identical requests arriving at once keep the
// two replicas in lock step, so they swap in the same direction at the same moments. Blocks of 64 tokens make
// 512 KiB copies (~22 GB/s each, latency included), so two of them exceed the 31.5 GB/s uplink; 16-token blocks
// (128 KiB copies, latency-bound at ~13.5 GB/s) would not contend, and the model says so.
TEST(Serving, ReplicasBehindOneSwitchSlowEachOthersSwaps) {
  const char* const yaml = R"(
model: llama-2-7b
hardware: a100-sxm4-80gb
seed: 5
check_invariants: true
engine: {version: v0, max_model_len: 4096, num_gpu_blocks: 175}
cache: {preemption: swap, swap_space_bytes: 64GiB, block_size: 64}
cluster: {replicas: 2}
workload:
  requests: 200
  arrival: {process: all-at-once}
  prompt_tokens: 1000
  output_tokens: 400
)";
  Scenario shared = testing::scenario_from(yaml);
  ASSERT_EQ(shared.hardware.pcie.gpus_per_switch, 2);
  Scenario separate = shared;
  separate.hardware.pcie.gpus_per_switch = 1;
  const RunResult a = run_scenario(shared, ""), b = run_scenario(separate, "");
  ASSERT_GT(b.summary["pcie_d2h_bytes"].get<uint64_t>(), 0u);
  auto stall_per_gb = [](const RunResult& r) {
    const double bytes =
        static_cast<double>(r.summary["pcie_d2h_bytes"].get<uint64_t>() + r.summary["pcie_h2d_bytes"].get<uint64_t>());
    return r.summary["swap_stall_ms"].get<double>() / (bytes / 1e9);
  };
  EXPECT_GT(stall_per_gb(a), 1.02 * stall_per_gb(b)) << stall_per_gb(a) << " vs " << stall_per_gb(b);
}

}  // namespace
}  // namespace kvsim::sim
