// A run's heap: live bytes do not grow with the requests served (memory O(active requests)), and the hot path makes
// no heap allocation per token or iteration. Counted by tests/counting_new.h.
#include <filesystem>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "sim/run.h"
#include "tests/counting_new.h"
#include "tests/sim/test_util.h"

namespace kvsim::sim {
namespace {

struct Measured {
  int64_t allocations = 0, peak_bytes = 0, output_tokens = 0, iterations = 0, completed = 0;
};

// A run below saturation (8 req/s on one H100 serving ~250-token outputs; 2 req/s for the static engines, whose
// batches wait for their longest output), with the live heap counted from its start: past saturation the queue, and
// with it the heap, grows with the requests served, as it should.
Measured measure(const std::string& policy, int64_t requests, const std::string& out_dir = "",
                 int64_t exact_samples = 256) {
  const Scenario s = testing::scenario_from(fmt::format(R"(
model: llama-3.1-8b
hardware: h100-sxm5-80gb
seed: 3
cache: {{policy: {}}}
output: {{exact_latency_samples: {}}}
workload:
  requests: {}
  arrival: {{process: poisson, rate: {}}}
  prompt_tokens: {{dist: uniform, min: 100, max: 800}}
  output_tokens: {{dist: uniform, min: 50, max: 400}}
)",
                                                        policy, exact_samples, requests,
                                                        policy == "vllm" || policy == "vllm-swap" ? 8 : 2));
  const int64_t count0 = testing::g_heap_allocations.load();
  const int64_t base = testing::g_heap_live_bytes.load();
  testing::g_heap_peak_bytes.store(base);
  const RunResult r = run_scenario(s, out_dir);
  Measured m;
  m.allocations = testing::g_heap_allocations.load() - count0;
  m.peak_bytes = testing::g_heap_peak_bytes.load() - base;
  m.output_tokens = r.summary["total_output_tokens"].get<int64_t>();
  m.iterations = r.summary["num_iterations"].get<int64_t>();
  m.completed = r.summary["completed"].get<int64_t>();
  return m;
}

const char* const kPolicies[] = {"vllm", "vllm-swap", "h2o", "infinigen", "flexgen"};

// Memory O(active requests): four times the requests at the same load hold the same live heap. Before latency samples
// folded into a histogram, the ITL samples alone grew by 16 bytes per iteration.
TEST(RunMemory, LiveHeapDoesNotGrowWithTheRequestsServed) {
  for (const char* policy : kPolicies) {
    const Measured small = measure(policy, 1500), large = measure(policy, 6000);
    ASSERT_EQ(large.completed, 6000) << policy;
    EXPECT_LT(static_cast<double>(large.peak_bytes), 1.2 * static_cast<double>(small.peak_bytes) + 64 * 1024)
        << policy << ": peak live heap " << small.peak_bytes << " bytes for 1,500 requests, " << large.peak_bytes
        << " for 6,000";
  }
}

// The same with requests.csv and memory.csv written: records stream out as requests finish.
TEST(RunMemory, OutputFilesStreamInsteadOfGrowingTheHeap) {
  const std::string dir = testing::temp_dir("run-memory");
  const Measured small = measure("vllm", 1500, dir), large = measure("vllm", 6000, dir);
  EXPECT_LT(static_cast<double>(large.peak_bytes), 1.2 * static_cast<double>(small.peak_bytes) + 64 * 1024);
  std::filesystem::remove_all(dir);
}

// No heap allocation per token or per iteration: the allocations a run makes beyond a run a quarter its size, over
// the extra tokens and iterations, stay near zero (what remains is containers reaching a new high-water mark). Before
// the cost model reused its operator buffer, every iteration allocated at least once.
TEST(RunMemory, NoHeapAllocationPerTokenOrIteration) {
  const std::string dir = testing::temp_dir("run-allocs");
  for (const char* policy : kPolicies) {
    for (const bool files : {false, true}) {
      const Measured small = measure(policy, 1500, files ? dir : ""), large = measure(policy, 6000, files ? dir : "");
      const auto extra = static_cast<double>(large.allocations - small.allocations);
      const std::string what =
          fmt::format("{}{}: {} allocations for {} requests, {} for {}", policy, files ? " with files" : "",
                      small.allocations, 1500, large.allocations, 6000);
      EXPECT_LT(extra / static_cast<double>(large.output_tokens - small.output_tokens), 1e-3) << what;
      EXPECT_LT(extra / static_cast<double>(large.iterations - small.iterations), 1e-2) << what;
    }
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace kvsim::sim
