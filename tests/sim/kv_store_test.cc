// A cluster-wide KV store (cluster.kv_store): its books (per-home LRU within capacity), a prompt's prefix loaded from
// it over the network instead of computed, priced against recomputing, the shares of prompt tokens found locally,
// remotely or computed, and its loads and writes finished and conserved under --check-invariants.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "sim/run.h"
#include "sim/serving/kv_store.h"
#include "tests/sim/test_util.h"

namespace kvsim::sim {
namespace {

using testing::scenario_from;

TEST(KvStoreBooks, EachHomeDropsItsLeastRecentlyUsedBlockWhenFull) {
  serving::KvStore store(2, 2);
  EXPECT_EQ(store.put(1, 0), 0);
  EXPECT_EQ(store.put(2, 0), 0);
  EXPECT_EQ(store.put(3, 1), 0);
  EXPECT_EQ(store.find(1), 0);  // 1 is now more recently used than 2
  EXPECT_EQ(store.put(4, 0), 1);
  EXPECT_FALSE(store.contains(2));
  EXPECT_TRUE(store.contains(1));
  EXPECT_EQ(store.find(3), 1);    // the other home kept its block
  EXPECT_EQ(store.put(1, 1), 0);  // stored once, where it was first written
  EXPECT_EQ(store.find(1), 0);
  EXPECT_EQ(store.blocks(), 3);
  EXPECT_EQ(store.peak_blocks(), 3);
  EXPECT_EQ(store.evicted_blocks(), 1);
  EXPECT_EQ(store.check(), "");
  EXPECT_EQ(store.find(99), -1);
}

// Two requests with the same prompt (Mooncake hash ids, 512 tokens each) on two replicas of one node: the first
// computes it and writes its blocks to a storage node; the second, 30 s later on the other replica, finds them in the
// store. Its TTFT (the first request is left out of the latency statistics) with the store loading whenever it finds
// (always), pricing the load against recomputing (priced), and without a store.
struct Ttfts {
  double always, priced, none;
  double declined_share;
};

Ttfts second_ttft(int64_t prompt, double nic_gbps, double latency_us, const std::string& name) {
  const std::string dir = testing::temp_dir(name);
  std::filesystem::create_directories(dir);
  std::string hashes;
  for (int64_t i = 0; i * 512 < prompt; ++i) hashes += fmt::format("{}{}", i == 0 ? "" : ", ", i + 1);
  std::ofstream(dir + "/trace.jsonl") << fmt::format(
      "{{\"timestamp\": 0, \"input_length\": {0}, \"output_length\": 2, \"hash_ids\": [{1}]}}\n"
      "{{\"timestamp\": 30000, \"input_length\": {0}, \"output_length\": 2, \"hash_ids\": [{1}]}}\n",
      prompt, hashes);
  const auto yaml = [&](const std::string& store) {
    return fmt::format(R"(
model: llama-3.1-70b
hardware: h100-sxm5-80gb
check_invariants: true
engine: {{max_num_batched_tokens: 8192, max_model_len: 65536}}
cluster:
  replicas: 2
  tensor_parallel: 4
{}
workload: {{trace: {}/trace.jsonl, trace_format: mooncake}}
slo: {{warmup_requests: 1}}
)",
                       store, dir);
  };
  const auto store = [&](const char* load) {
    return fmt::format(
        "  kv_store: {{capacity_bytes: 1TB, location: storage_nodes, write: computed, load: {}}}\n"
        "  kv_transfer: {{nic_gbps: {}, latency_us: {}}}",
        load, nic_gbps, latency_us);
  };
  const RunResult always = run_scenario(scenario_from(yaml(store("always"))), "");
  const RunResult priced = run_scenario(scenario_from(yaml(store("priced"))), "");
  const RunResult none = run_scenario(scenario_from(yaml("")), "");
  std::filesystem::remove_all(dir);
  EXPECT_EQ(always.summary["kv_store_loads"].get<int64_t>(), 1);
  return {always.summary["mean_ttft_ms"].get<double>(), priced.summary["mean_ttft_ms"].get<double>(),
          none.summary["mean_ttft_ms"].get<double>(), priced.summary["kv_store_declined_share"].get<double>()};
}

// Over a slow path to the store (25 Gb/s NICs, 20 ms of latency, as a store behind a TCP service might be): a 32K-token
// prefix loads in less time than computing it takes, and a 256-token one in more. Loading a prefix is linear in its
// tokens plus a fixed latency, while computing it grows faster than linearly (attention), so long prefixes win.
TEST(KvStore, ARemoteHitBeatsRecomputeForLongPrefixesAndLosesForShortOnesOverASlowNetwork) {
  const Ttfts long_prompt = second_ttft(32768 + 1, 25, 20000, "kvstore-long");
  EXPECT_LT(long_prompt.always, 0.8 * long_prompt.none);
  EXPECT_DOUBLE_EQ(long_prompt.priced, long_prompt.always);  // priced, it loads
  EXPECT_EQ(long_prompt.declined_share, 0.0);

  const Ttfts short_prompt = second_ttft(256 + 1, 25, 20000, "kvstore-short");
  EXPECT_GT(short_prompt.always, short_prompt.none);
  EXPECT_DOUBLE_EQ(short_prompt.priced, short_prompt.none);  // priced, it computes
  EXPECT_GT(short_prompt.declined_share, 0.0);
}

// Over a fast network the short prefix loads too (the 20 ms latency was what made it lose).
TEST(KvStore, OverAFastNetworkEvenAShortPrefixLoads) {
  const Ttfts t = second_ttft(256 + 1, 400, 2, "kvstore-fast");
  EXPECT_LT(t.always, t.none);
  EXPECT_DOUBLE_EQ(t.priced, t.always);
}

// The Mooncake conversation trace's first 600 requests, twice as fast, on four replicas of 8 GiB of KV each, with a
// store on a storage node small enough to evict: every prompt token is found locally, loaded, or computed (the shares
// sum to 1), every load and write finishes, the store stays within its capacity, and no request is lost
// (--check-invariants).
TEST(KvStore, SharesOfPromptTokensSumToOneAndNothingIsLeftInFlight) {
  const std::string trace = std::string(KVSIM_TEST_SHARED_DATA_DIR) + "/mooncake-fast25/conversation_trace.jsonl";
  if (!std::filesystem::exists(trace)) GTEST_SKIP() << trace << " is absent";
  constexpr int64_t kBlockBytes = 16 * 2 * 8 * 128 * 2 * 32;  // 16 tokens of llama-3.1-8b in bf16
  for (const char* write : {"evicted", "computed"}) {
    SCOPED_TRACE(write);
    const RunResult r = run_scenario(scenario_from(fmt::format(R"(
model: llama-3.1-8b
hardware: h100-sxm5-80gb
check_invariants: true
engine: {{max_model_len: 65536, kv_cache_bytes: 8GiB}}
cluster:
  replicas: 4
  kv_store: {{capacity_bytes: 32GB, location: storage_nodes, write: {}}}
workload: {{trace: {}, requests: 600, rate_scale: 2}}
)",
                                                               write, trace)),
                                     "");
    const auto& j = r.summary;
    EXPECT_NEAR(j["kv_store_local_hit_share"].get<double>() + j["kv_store_remote_hit_share"].get<double>() +
                    j["kv_store_miss_share"].get<double>(),
                1.0, 1e-12);
    EXPECT_GT(j["kv_store_remote_hit_share"].get<double>(), 0.0);
    EXPECT_GE(j["kv_store_miss_share"].get<double>(), j["kv_store_declined_share"].get<double>());
    EXPECT_GT(j["kv_store_evicted_blocks"].get<int64_t>(), 0);
    EXPECT_LE(j["kv_store_peak_blocks"].get<int64_t>() * kBlockBytes, j["kv_store_capacity_bytes"].get<int64_t>());
    EXPECT_EQ(j["completed"].get<int64_t>() + j["rejected"].get<int64_t>(), 600);
  }
}

// Mooncake's own arrangement: prefill and decode pools on separate nodes, with the store beside them. The prefill
// replicas load prefixes from the store, both pools write to it, and no request is lost over the pools' handoffs and
// the store's loads (--check-invariants).
TEST(KvStore, ADisaggregatedClusterLoadsPrefixesOnItsPrefillSide) {
  const RunResult r = run_scenario(scenario_from(R"(
model: llama-3.1-8b
hardware: h100-sxm5-80gb
check_invariants: true
engine: {kv_cache_bytes: 1GiB, max_model_len: 8192}
cluster:
  prefill: {replicas: 2}
  decode: {replicas: 2}
  kv_transfer: {separate_nodes: true}
  kv_store: {capacity_bytes: 20GB, location: storage_nodes}
workload: {requests: 200, arrival: {rate: 4}, dataset: sharegpt, sessions: {turns: 4, think_time_s: 1,
           system_prompt_tokens: 200}}
)"),
                                   "");
  const auto& j = r.summary;
  EXPECT_EQ(j["completed"].get<int64_t>() + j["rejected"].get<int64_t>(), 200);
  EXPECT_EQ(j["kv_transfer_count"].get<int64_t>(), j["completed"].get<int64_t>());
  EXPECT_GT(j["kv_store_loads"].get<int64_t>(), 0);
  EXPECT_GT(j["kv_store_remote_hit_share"].get<double>(), 0.0);
}

}  // namespace
}  // namespace kvsim::sim
