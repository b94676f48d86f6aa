// Fast-forward (engine.fast_forward): `inline` processes iterations that end before any queued event without a trip
// through the event queue; `analytic` (the default) also runs decode-only stretches in closed form. The outputs of
// both must be byte-identical to stepping every iteration through the queue (`off`), on every kind of scenario.
#include <gtest/gtest.h>

#include <algorithm>
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
      // Long outputs at a low rate: decode stretches of many steps, blocks taken at every phase, memory.csv sampled
      // inside them; then the same on the vLLM paper's engine, with a static engine's batches, with a pool so small
      // that stretches end where a block is missing (preemptions), and with swapping.
      {"long-decodes", kBase + "workload: {requests: 300, arrival: {rate: 3}, prompt_tokens: {dist: lognormal, mean: "
                               "800, stddev: 600, max: 4000}, output_tokens: {dist: lognormal, mean: 400, stddev: 300, "
                               "max: 2000}}\n"},
      {"v0-static", kBase + "engine: {version: static, chunked_prefill: false, max_num_seqs: 16}\nworkload: {requests: "
                            "200, arrival: {rate: 4}, dataset: sharegpt}\n"},
      // Equal requests in bursts: admitted in the same iterations, so several complete in the same step (in running
      // order) and join the decoding batch together.
      {"bursts", kBase + "workload: {requests: 400, arrival: {process: gamma, rate: 20, cv: 4}, prompt_tokens: 200, "
                         "output_tokens: 120}\n"},
      {"tight-pool", kBase + "engine: {num_gpu_blocks: 300, max_model_len: 4096}\nworkload: {requests: 200, arrival: "
                             "{rate: 3}, prompt_tokens: 500, output_tokens: {dist: lognormal, mean: 400, stddev: 300, "
                             "max: 2000}}\n"},
      {"tight-pool-swap",
       "model: opt-13b\nhardware: a100-sxm4-40gb\ndtype: fp16\nseed: 3\nengine: {version: v0, "
       "max_model_len: 2048, num_gpu_blocks: 300}\ncache: {policy: vllm-swap}\nworkload: {requests: "
       "150, arrival: {rate: 2}, prompt_tokens: 300, output_tokens: 600}\n"},
      // Prefix caching: requests sharing a system prompt (its blocks cached, then decodes stretch), and a tiered
      // placement (no stretches: blocks move between tiers as they are evicted).
      {"shared-prefix",
       kBase + "engine: {num_gpu_blocks: 2000, max_model_len: 8192}\nworkload: {requests: 300, arrival: {rate: 3}, "
               "dataset: sharegpt, shared_prefix_tokens: 512, shared_prefix_count: 4}\n"},
      {"tiered",
       kBase + "engine: {num_gpu_blocks: 600, max_model_len: 8192}\ncache: {placement: tiered, prefix_caching: true, "
               "host_kv_bytes: 2GiB}\nworkload: {requests: 300, arrival: {rate: 3}, dataset: sharegpt, "
               "sessions: {turns: 3, think_time_s: 2, system_prompt_tokens: 300}}\n"},
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
  int64_t stretched_cases = 0, cohort_cases = 0;
  for (const Case& c : cases()) {
    const std::string dir = testing::temp_dir(std::string("ff-") + c.name);
    // Analytic as it runs by default, and under --check-invariants, whose checks read each decode cohort member as
    // the cohort's sums give it (without writing it): the same path, checked every iteration.
    const Scenario analytic = testing::scenario_from(c.yaml, {});
    ASSERT_EQ(analytic.engine.fast_forward, FastForward::kAnalytic);
    const RunResult fast = run_scenario(analytic, dir + "/analytic");
    const RunResult checked = run_scenario(testing::scenario_from(c.yaml, {"check_invariants=true"}), dir + "/checked");
    EXPECT_EQ(checked.analytic_steps, fast.analytic_steps) << c.name;
    EXPECT_EQ(checked.cohort_iterations, fast.cohort_iterations) << c.name;
    const RunResult in = run_scenario(testing::scenario_from(c.yaml, {"engine.fast_forward=inline"}), dir + "/inline");
    const RunResult slow = run_scenario(testing::scenario_from(c.yaml, {"engine.fast_forward=off"}), dir + "/off");
    EXPECT_GT(fast.summary["completed"].get<int64_t>(), 0) << c.name;
    if (fast.summary.contains("kv_store_loads")) {
      EXPECT_GT(fast.summary["kv_store_loads"].get<int64_t>(), 0) << c.name;
    }
    for (const char* file : {"summary.json", "requests.csv", "memory.csv"}) {
      const std::string off = testing::read_file(dir + "/off/" + file);
      EXPECT_EQ(testing::read_file(dir + "/inline/" + file), off) << c.name << ": " << file << " (inline)";
      EXPECT_EQ(testing::read_file(dir + "/analytic/" + file), off) << c.name << ": " << file << " (analytic)";
      EXPECT_EQ(testing::read_file(dir + "/checked/" + file), off) << c.name << ": " << file << " (checked)";
    }
    // Fewer trips through the event queue for the same result; only `analytic` runs stretches.
    EXPECT_LT(in.events, slow.events) << c.name;
    EXPECT_EQ(in.analytic_steps, 0) << c.name;
    EXPECT_EQ(slow.analytic_steps, 0) << c.name;
    EXPECT_EQ(in.cohort_iterations, 0) << c.name;
    EXPECT_LE(fast.analytic_steps + fast.cohort_iterations, fast.summary["num_iterations"].get<int64_t>()) << c.name;
    if (fast.analytic_steps > 0) ++stretched_cases;
    if (fast.cohort_iterations > 0) ++cohort_cases;
    fs::remove_all(dir);
  }
  // The cases where every condition of a stretch holds at times (vllm, overload, sessions, long decodes, the paper's
  // and the static engine, tight pools, shared prefixes, disaggregated decodes...) do run them.
  EXPECT_GE(stretched_cases, 8);
  EXPECT_GE(cohort_cases, 8);
}

// A run of long decodes at a low rate spends most of its iterations in stretches.
TEST(FastForward, LongDecodesRunMostlyInClosedForm) {
  const std::vector<Case> all = cases();
  const auto c =
      *std::find_if(all.begin(), all.end(), [](const Case& k) { return k.name == std::string("long-decodes"); });
  const RunResult r = run_scenario(testing::scenario_from(c.yaml, {}), "");
  EXPECT_GT(static_cast<double>(r.analytic_steps), 0.5 * r.summary["num_iterations"].get<double>());
}

TEST(FastForward, LevelsParseAndRoundTrip) {
  const std::string yaml = kBase + "workload: {requests: 1, prompt_tokens: 10, output_tokens: 10}\n";
  EXPECT_EQ(testing::scenario_from(yaml, {"engine.fast_forward=true"}).engine.fast_forward, FastForward::kAnalytic);
  EXPECT_EQ(testing::scenario_from(yaml, {"engine.fast_forward=false"}).engine.fast_forward, FastForward::kOff);
  EXPECT_EQ(testing::scenario_from(yaml, {"engine.fast_forward=yes"}).engine.fast_forward, FastForward::kAnalytic);
  EXPECT_EQ(testing::scenario_from(yaml, {"engine.fast_forward=off"}).engine.fast_forward, FastForward::kOff);
  const Scenario in = testing::scenario_from(yaml, {"engine.fast_forward=inline"});
  EXPECT_EQ(in.engine.fast_forward, FastForward::kInline);
  EXPECT_EQ(parse_scenario(scenario_to_yaml(in), "resolved", {}).engine.fast_forward, FastForward::kInline);
  EXPECT_NE(testing::error_of([&yaml] {
              testing::scenario_from(yaml, {"engine.fast_forward=analytical"});
            }).find("did you mean 'analytic'"),
            std::string::npos);
}

}  // namespace
}  // namespace kvsim::sim
