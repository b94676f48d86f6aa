// Disaggregated serving (cluster.prefill / cluster.decode): each request's KV moved from its prefill replica to its
// decode replica over the cluster topology, priced as bytes over the bottleneck's max-min share plus latency, hidden
// behind the prefill when sent layer by layer over a fast link, held on the prefill side while the decode side has no
// room, and the ITL and TTFT trade against colocated serving.
#include <gtest/gtest.h>

#include <cmath>

#include "hw/cluster_topology.h"
#include "models/cost_model.h"
#include "models/model_spec.h"
#include "sim/core/error.h"
#include "sim/run.h"
#include "tests/sim/test_util.h"

namespace kvsim::sim {
namespace {

using testing::scenario_from;

// Prompts computed in one iteration each (a budget above the longest), all sent at once.
const char* const kBase = R"(
model: llama-3.1-8b
hardware: h100-sxm5-80gb
check_invariants: true
engine: {max_num_batched_tokens: 16384}
cluster:
  prefill: {replicas: 1}
  decode: {replicas: 1}
workload:
  requests: 1
  arrival: {process: all-at-once}
  prompt_tokens: 4000
  output_tokens: 4
)";

double num(const RunResult& r, const char* key) { return r.summary.at(key).get<double>(); }

RunResult run(const std::vector<std::string>& overrides, const char* yaml = kBase) {
  return run_scenario(scenario_from(yaml, overrides), "");
}

// The links' own latencies on the route from the first prefill GPU to the first decode GPU.
double route_latency_ms(const Scenario& s) {
  const hw::Topology topo = hw::build_cluster_topology(s.hardware, pool_node(s), pool_nodes(s), {});
  const std::vector<std::vector<int>> gpus = pool_gpus(s);
  double ns = 0;
  for (const hw::FlowHop& h : hw::route_hops(topo, topo.gpu(gpus.front()[0]), topo.gpu(gpus.back()[0]))) {
    ns += topo.links[h.link].latency_ns;
  }
  return ns / 1e6;
}

// KV bytes of `tokens` of llama-3.1-8b in bf16: 2 (K, V) x 8 KV heads x 128 x 2 bytes x 32 layers per token.
constexpr double kBytesPerToken = 2.0 * 8 * 128 * 2 * 32;

// One request between two nodes of DGX H100: its KV crosses the prefill GPU's NIC, the fabric and the decode GPU's
// NIC, so it takes its bytes over one 400 Gb/s port (50 GB/s, the slowest link) plus the route's latency.
TEST(Disaggregation, OneTransferIsItsBytesOverTheNicPlusLatency) {
  const RunResult r = run({"cluster.kv_transfer.separate_nodes=true", "cluster.kv_transfer.latency_us=5"});
  const double bytes = 4000 * kBytesPerToken;
  EXPECT_EQ(r.summary["kv_transfer_count"].get<int64_t>(), 1);
  EXPECT_EQ(r.summary["kv_transfer_bytes"].get<uint64_t>(), static_cast<uint64_t>(bytes));
  // The same transfer priced on the same graph by hw::transfer_seconds, and by hand.
  const Scenario s = scenario_from(kBase, {"cluster.kv_transfer.separate_nodes=true"});
  const hw::Topology topo = hw::build_cluster_topology(s.hardware, pool_node(s), pool_nodes(s), {0, 5e3});
  const std::vector<std::vector<int>> gpus = pool_gpus(s);
  ASSERT_EQ(gpus.size(), 2U);
  EXPECT_EQ(gpus[1][0], 8);  // the decode replica starts the second node
  const double want_ms = 1e3 * hw::transfer_seconds(topo, {0, 5e3}, gpus[0][0], gpus[1][0], bytes);
  EXPECT_NEAR(num(r, "mean_kv_transfer_ms"), want_ms, 1e-5);
  EXPECT_NEAR(want_ms, 1e3 * bytes / 50e9 + 5e-3 + route_latency_ms(s), 1e-6);
  // Nothing waited for blocks: the transfer is all the decode side waited for after the prefill.
  EXPECT_EQ(num(r, "mean_kv_transfer_wait_ms"), 0.0);
  EXPECT_NEAR(num(r, "mean_kv_transfer_exposed_ms"), want_ms, 1e-5);
}

// Within one node the KV crosses NVLink (450 GB/s each way on an H100 SXM5), not a NIC.
TEST(Disaggregation, WithinANodeTheKvCrossesNvlink) {
  const RunResult same = run({});
  const RunResult apart = run({"cluster.kv_transfer.separate_nodes=true"});
  EXPECT_NEAR(num(same, "mean_kv_transfer_ms"), 1e3 * 4000 * kBytesPerToken / 450e9, 0.01);
  EXPECT_GT(num(apart, "mean_kv_transfer_ms"), 8 * num(same, "mean_kv_transfer_ms"));
}

// Two requests prefilled together leave one prefill GPU for two decode replicas on another node: their flows share
// the prefill GPU's NIC. The short one ends after 2 x its bytes at the shared rate; then the long one has the port to
// itself, so it ends after both requests' bytes over the port: the flow's end moves when the other flow ends.
TEST(Disaggregation, FlowsSharingANicSplitItAndTheSurvivorSpeedsUp) {
  const std::vector<std::string> two = {"cluster.decode.replicas=2", "cluster.decode.router=round-robin",
                                        "cluster.kv_transfer.separate_nodes=true", "workload.requests=2",
                                        "workload.prompt_tokens={dist: uniform, min: 1000, max: 7000}"};
  const RunResult r = run(two);
  ASSERT_EQ(r.summary["kv_transfer_count"].get<int64_t>(), 2);
  // The two transfer times from the exact percentiles of two samples (numpy: mean = (x1 + x2) / 2,
  // p99 = x1 + 0.99 (x2 - x1)).
  const double mean_ms = num(r, "mean_kv_transfer_ms"), p99_ms = num(r, "p99_kv_transfer_ms");
  const double long_ms = (p99_ms - 0.02 * mean_ms) / 0.98, short_ms = 2 * mean_ms - long_ms;
  // The longer ends when every byte of both has crossed the one port; without the speed-up it would end at 2b / R.
  const double total_bytes = num(r, "kv_transfer_bytes");
  EXPECT_NEAR(long_ms, 1e3 * total_bytes / 50e9 + route_latency_ms(scenario_from(kBase, two)), 1e-5);
  EXPECT_LT(short_ms, long_ms);
  // The shorter took twice its own bytes over the port: its bytes are a whole number of tokens.
  const double short_tokens = short_ms / 1e3 * 50e9 / 2 / kBytesPerToken;
  EXPECT_GE(short_tokens, 1000 - 0.1);
  EXPECT_NEAR(short_tokens, std::round(short_tokens), 0.1);
}

// Layer by layer, the transfer runs during the prompt's prefill: over NVLink only the last layer's share is left when
// the prefill ends; over a 25 Gb/s NIC most of it is not hidden (the prefill is shorter than the transfer), and only
// the prefill's duration is saved against sending after the prefill.
TEST(Disaggregation, LayerwiseHidesBehindPrefillWhenTheLinkIsFastAndNotWhenSlow) {
  const RunResult fast_after = run({});
  const RunResult fast_layer = run({"cluster.kv_transfer.mode=layerwise"});
  EXPECT_LT(num(fast_layer, "mean_kv_transfer_exposed_ms"), num(fast_after, "mean_kv_transfer_exposed_ms") / 20);
  const std::vector<std::string> slow = {"cluster.kv_transfer.separate_nodes=true", "cluster.kv_transfer.nic_gbps=25"};
  const RunResult slow_after = run(slow);
  std::vector<std::string> slow_layerwise = slow;
  slow_layerwise.push_back("cluster.kv_transfer.mode=layerwise");
  const RunResult slow_layer = run(slow_layerwise);
  const double transfer_ms = 1e3 * 4000 * kBytesPerToken / (25e9 / 8);
  EXPECT_NEAR(num(slow_after, "mean_kv_transfer_exposed_ms"), transfer_ms, 0.01);
  // Layer-wise the flow started with the prefill: what shows is the transfer less the prefill's duration.
  const double saved_ms =
      num(slow_after, "mean_kv_transfer_exposed_ms") - num(slow_layer, "mean_kv_transfer_exposed_ms");
  // The flow started with the prefill (its only chunk) and outlasts it: the prefill's duration is what it saved.
  const Scenario s = scenario_from(kBase);
  const models::CostModel cost(s.model, s.hardware, exec_config(s));
  models::BatchShape prefill;
  prefill.add_sequence(0, 4000, true, s.model.sliding_window);
  EXPECT_NEAR(saved_ms, cost.iteration_ns(prefill) / 1e6, 1e-5);
  EXPECT_GT(num(slow_layer, "mean_kv_transfer_exposed_ms"), transfer_ms / 5);
  // and the first token moves with it.
  EXPECT_NEAR(num(slow_after, "mean_ttft_ms") - num(slow_layer, "mean_ttft_ms"), saved_ms, 0.01);
  EXPECT_GT(num(slow_after, "mean_ttft_ms"), num(fast_after, "mean_ttft_ms") + transfer_ms * 0.9);
}

// A decode pool short of KV: prefilled requests wait for its blocks while their prefill replicas hold their KV, and
// every request still completes once (the cluster's and each replica's books checked at every event).
TEST(Disaggregation, BackPressureHoldsKvOnThePrefillSideAndLosesNoRequest) {
  const char* const tight = R"(
model: llama-3.1-8b
hardware: h100-sxm5-80gb
check_invariants: true
seed: 5
engine: {gpu_memory_utilization: 0.27, max_model_len: 4096}
cluster:
  prefill: {replicas: 2}
  decode: {replicas: 1}
workload:
  requests: 120
  arrival: {process: poisson, rate: 20}
  prompt_tokens: {dist: uniform, min: 500, max: 3000}
  output_tokens: {dist: uniform, min: 200, max: 600}
)";
  const RunResult r = run_scenario(scenario_from(tight), "");
  EXPECT_EQ(r.summary["completed"].get<int64_t>(), 120);
  EXPECT_EQ(r.summary["rejected"].get<int64_t>(), 0);
  EXPECT_EQ(r.summary["kv_transfer_count"].get<int64_t>(), 120);
  EXPECT_GT(num(r, "p99_kv_transfer_wait_ms"), 100);  // the decode side made them wait for blocks
  EXPECT_GE(num(r, "mean_kv_transfer_exposed_ms"), num(r, "mean_kv_transfer_wait_ms"));
}

// Long prompts: colocated, every prefill stalls the decodes batched with it (chunked prefill mixes them), so the p99
// ITL is a prefill chunk; disaggregated, decode steps run alone. Over a slow link the TTFT pays the transfer.
TEST(Disaggregation, LowersP99ItlOnLongPromptsAndCostsTtftOverASlowLink) {
  const Scenario colocated_2 = scenario_from(R"(
model: llama-3.1-8b
hardware: h100-sxm5-80gb
seed: 2
cluster: {replicas: 2, router: least-outstanding}
workload:
  requests: 300
  arrival: {process: poisson, rate: 4}
  prompt_tokens: {dist: uniform, min: 4000, max: 8000}
  output_tokens: {dist: uniform, min: 100, max: 300}
)");
  const RunResult colocated = run_scenario(colocated_2, "");
  // The same two GPUs as one prefill and one decode replica (what `kvsim compare --disaggregated 1:1` runs).
  Scenario split = disaggregate(colocated_2, 1, 1);
  ASSERT_TRUE(split.cluster.disaggregated());
  const RunResult disagg = run_scenario(split, "");
  EXPECT_LT(num(disagg, "p99_itl_ms"), num(colocated, "p99_itl_ms") / 3);
  split.cluster.kv_transfer.separate_nodes = true;
  split.cluster.kv_transfer.nic_bytes_per_s = 10e9 / 8;
  const RunResult slow = run_scenario(split, "");
  EXPECT_GT(num(slow, "mean_ttft_ms"), num(disagg, "mean_ttft_ms") + num(slow, "mean_kv_transfer_ms") * 0.9);
  EXPECT_GT(num(slow, "mean_kv_transfer_ms"), 50 * num(disagg, "mean_kv_transfer_ms"));
}

// The resolved scenario reads back as the same cluster.
TEST(Disaggregation, ScenarioRoundTrips) {
  const Scenario s = scenario_from(kBase, {"cluster.decode.tensor_parallel=2", "cluster.kv_transfer.mode=layerwise",
                                           "cluster.kv_transfer.nic_gbps=200", "cluster.kv_transfer.latency_us=3"});
  YAML::Emitter out;
  out << scenario_to_yaml(s);
  const Scenario back = scenario_from(out.c_str());
  ASSERT_TRUE(back.cluster.disaggregated());
  EXPECT_EQ(back.cluster.decode->tensor_parallel, 2);
  EXPECT_EQ(back.cluster.replicas, 2);
  EXPECT_EQ(back.cluster.kv_transfer.mode, "layerwise");
  EXPECT_DOUBLE_EQ(back.cluster.kv_transfer.nic_bytes_per_s, 25e9);
  EXPECT_DOUBLE_EQ(back.cluster.kv_transfer.latency_us, 3);
}

// Splitwise's arrangement (ISCA 2024): prompts on H100s, tokens on A100s. Each pool fills servers of its own GPU (the
// decode pool from a fresh node: a DGX A100), so the KV crosses the H100's 400 Gb/s NIC and the A100's 200 Gb/s one
// and takes twice as long as between two DGX H100; the A100's slower HBM makes each decode step slower; and the fleet
// costs one H100 plus one A100 an hour, each at its list price.
TEST(Disaggregation, PoolsOfDifferentGpusRunOnTheirOwnServersAtTheirOwnPrices) {
  const RunResult h100 = run({"cluster.kv_transfer.separate_nodes=true"});
  const RunResult mixed = run({"cluster.decode.hardware=a100-sxm4-80gb"});
  const Scenario s = scenario_from(kBase, {"cluster.decode.hardware=a100-sxm4-80gb"});
  ASSERT_TRUE(mixed_pools(s));
  EXPECT_EQ(pool_gpus(s)[1][0], 8);  // a fresh node without separate_nodes
  EXPECT_EQ(pool_node(s, pool_hardware(s, *s.cluster.decode)).name, "dgx-a100");
  const double bytes = 4000 * kBytesPerToken;
  EXPECT_NEAR(num(mixed, "mean_kv_transfer_ms"), 1e3 * bytes / 25e9, 0.01 * 1e3 * bytes / 25e9);
  EXPECT_NEAR(num(mixed, "mean_kv_transfer_ms"), 2 * num(h100, "mean_kv_transfer_ms"),
              0.01 * num(mixed, "mean_kv_transfer_ms"));
  EXPECT_GT(num(mixed, "mean_tpot_ms"), 1.2 * num(h100, "mean_tpot_ms"));
  EXPECT_DOUBLE_EQ(num(h100, "usd_per_hour"), 2 * 12.29);
  EXPECT_DOUBLE_EQ(num(mixed, "usd_per_hour"), 12.29 + 5.1207);
  // Both pools on A100s while the scenario names an H100: priced as A100s.
  EXPECT_DOUBLE_EQ(
      num(run({"cluster.prefill.hardware=a100-sxm4-80gb", "cluster.decode.hardware=a100-sxm4-80gb"}), "usd_per_hour"),
      2 * 5.1207);
  // Written back as a scenario file states it.
  YAML::Emitter out;
  out << scenario_to_yaml(s);
  EXPECT_EQ(pool_hardware(scenario_from(out.c_str()), *scenario_from(out.c_str()).cluster.decode).name,
            "a100-sxm4-80gb");
  // A pool's GPU must come as many to a server as the scenario's.
  EXPECT_NE(testing::error_of([] {
              scenario_from(kBase, {"cluster.decode.hardware=a40-48gb"});
            }).find("cluster.decode.hardware: a40-48gb comes 4 to a server"),
            std::string::npos);
}

}  // namespace
}  // namespace kvsim::sim
