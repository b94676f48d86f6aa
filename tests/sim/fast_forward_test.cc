// Fast-forward (engine.fast_forward, on by default): iterations that end before any queued event are processed
// inline instead of through the event queue. The outputs must be byte-identical to stepping every iteration through
// the queue, on every kind of scenario.
#include <gtest/gtest.h>

#include <filesystem>

#include "sim/run.h"
#include "tests/sim/test_util.h"

namespace kvsim::sim {
namespace {

namespace fs = std::filesystem;

struct Case {
  const char* name;
  std::string yaml;
};

const std::string kBase = "model: llama-3.1-8b\nhardware: h100-sxm5-80gb\nseed: 3\n";

std::vector<Case> cases() {
  return {
      {"vllm", kBase + "workload: {requests: 1500, arrival: {rate: 15}, dataset: sharegpt}\n"},
      {"vllm-overload", kBase + "engine: {max_model_len: 16384}\nworkload: {requests: 400, arrival: {rate: 4}, "
                                "dataset: azure-code}\ncluster: {replicas: 2, router: least-kv}\n"},
      {"swap-flows",
       "model: opt-13b\nhardware: a100-sxm4-40gb\ndtype: fp16\nseed: 3\nengine: {version: v0, "
       "max_model_len: 2048, num_gpu_blocks: 400}\ncache: {policy: vllm-swap}\ncluster: {replicas: 4}\n"
       "workload: {requests: 300, arrival: {rate: 40}, prompt_tokens: 300, output_tokens: 200}\n"},
      {"h2o", kBase + "engine: {max_model_len: 16384}\ncache: {policy: h2o}\nworkload: {requests: 200, arrival: "
                      "{rate: 2}, dataset: azure-conv, clip_to_context: true}\n"},
      {"infinigen", kBase + "engine: {max_model_len: 16384}\ncache: {policy: infinigen}\nworkload: {requests: 200, "
                            "arrival: {rate: 2}, dataset: azure-conv, clip_to_context: true}\n"},
      {"sessions", kBase +
                       "cluster: {replicas: 2, router: prefix-aware}\nworkload: {requests: 300, arrival: {rate: 2}, "
                       "dataset: sharegpt, sessions: {turns: 4, think_time_s: 1, system_prompt_tokens: 200}}\n"},
      {"hf", kBase + "cache: {policy: hf-transformers}\nengine: {max_num_seqs: 8, max_model_len: 4096, "
                     "max_num_batched_tokens: 32768}\nworkload: {requests: 64, arrival: {rate: 4}, dataset: sharegpt, "
                     "clip_to_context: true}\n"},
      {"flexgen", kBase + "cache: {policy: flexgen, kv_percent: [25, 75, 0], gpu_batch_size: 4, num_gpu_batches: 2}\n"
                          "engine: {max_model_len: 4096}\nworkload: {requests: 40, "
                          "arrival: {rate: 1}, dataset: sharegpt, clip_to_context: true}\n"},
      // Disaggregated: handoffs and KV flows between the pools, after the prefill and layer by layer.
      {"disaggregated", kBase + "cluster: {prefill: {replicas: 1}, decode: {replicas: 2}, kv_transfer: "
                                "{separate_nodes: true}}\nworkload: {requests: 400, arrival: {rate: 8}, dataset: "
                                "sharegpt}\n"},
      {"disaggregated-layerwise",
       kBase + "cluster: {prefill: {replicas: 2, tensor_parallel: 2}, decode: {replicas: 1, tensor_parallel: 4}, "
               "kv_transfer: {mode: layerwise}}\nworkload: {requests: 400, arrival: {rate: 8}, dataset: sharegpt}\n"},
      // A KV store: session prefixes evicted from small GPU caches, written to a storage node and loaded back.
      {"kv-store", kBase + "engine: {kv_cache_bytes: 1GiB, max_model_len: 8192}\ncluster: {replicas: 4, kv_store: "
                           "{capacity_bytes: 20GB, "
                           "location: storage_nodes}}\nworkload: {requests: 300, arrival: {rate: 6}, dataset: "
                           "sharegpt, sessions: {turns: 4, think_time_s: 1, system_prompt_tokens: 200}}\n"},
  };
}

TEST(FastForward, OutputsAreByteIdenticalToSteppingEveryIteration) {
  for (const Case& c : cases()) {
    const std::string dir = testing::temp_dir(std::string("ff-") + c.name);
    const Scenario on = testing::scenario_from(c.yaml, {"check_invariants=true"});
    ASSERT_TRUE(on.engine.fast_forward);
    const RunResult fast = run_scenario(on, dir + "/fast");
    const RunResult slow = run_scenario(testing::scenario_from(c.yaml, {"engine.fast_forward=false"}), dir + "/slow");
    EXPECT_GT(fast.summary["completed"].get<int64_t>(), 0) << c.name;
    if (fast.summary.contains("kv_store_loads")) {
      EXPECT_GT(fast.summary["kv_store_loads"].get<int64_t>(), 0) << c.name;
    }
    for (const char* file : {"summary.json", "requests.csv", "memory.csv"}) {
      EXPECT_EQ(testing::read_file(dir + "/fast/" + file), testing::read_file(dir + "/slow/" + file))
          << c.name << ": " << file;
    }
    // Fewer trips through the event queue for the same result.
    EXPECT_LT(fast.events, slow.events) << c.name;
    fs::remove_all(dir);
  }
}

}  // namespace
}  // namespace kvsim::sim
