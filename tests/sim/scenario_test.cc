#include "sim/scenario.h"

#include <gtest/gtest.h>

#include "models/memory_footprint.h"
#include "tests/sim/test_util.h"

namespace kvsim::sim {
namespace {

using testing::error_of;
using testing::scenario_from;

const char* const kMinimal = R"(
model: llama-3.1-8b
hardware: h100-sxm5-80gb
workload: {requests: 10, prompt_tokens: 100, output_tokens: 10}
)";

TEST(Scenario, DefaultsFollowVllmByGpuSize) {
  const Scenario big = scenario_from(kMinimal);
  EXPECT_EQ(big.engine.version, "v1");
  EXPECT_EQ(big.engine.max_num_batched_tokens, 8192);
  EXPECT_EQ(big.engine.max_num_seqs, 1024);
  EXPECT_EQ(big.engine.max_model_len, 131072);
  EXPECT_TRUE(big.engine.chunked_prefill);
  EXPECT_TRUE(big.cache.prefix_caching);
  EXPECT_EQ(big.cache.precision, DType::kBf16);
  const Scenario small = scenario_from(kMinimal, {"hardware=l4-24gb"});
  EXPECT_EQ(small.engine.max_num_batched_tokens, 2048);
  EXPECT_EQ(small.engine.max_num_seqs, 256);
  // v0 without chunked prefill must fit a whole max_model_len prompt in one batch.
  const Scenario v0 = scenario_from(kMinimal, {"engine.version=v0", "engine.max_model_len=16384"});
  EXPECT_FALSE(v0.engine.chunked_prefill);
  EXPECT_FALSE(v0.cache.prefix_caching);
  EXPECT_EQ(v0.engine.max_num_batched_tokens, 16384);
}

TEST(Scenario, V1RefusesWhatOnlyV0Does) {
  EXPECT_EQ(
      error_of([] { scenario_from(kMinimal, {"engine.chunked_prefill=false"}); }),
      "--set: engine.chunked_prefill: the v1 engine always chunks prefills; set engine.version: v0 to turn it off");
  EXPECT_NE(error_of([] {
              scenario_from(kMinimal, {"cache.preemption=swap"});
            }).find("only the v0 engine preempts by swapping"),
            std::string::npos);
  EXPECT_NO_THROW(scenario_from(kMinimal, {"engine.version=v0", "cache.preemption=swap"}));
}

TEST(Scenario, UnknownModelAndHardwareNameThePlaceAndTheNearestName) {
  EXPECT_EQ(error_of([] {
              scenario_from("model: opt-13\nhardware: h100-sxm5-80gb\n");
            }).rfind("test.yaml:1:8: model: unknown model 'opt-13' (did you mean 'opt-13b'?)", 0),
            0u);
  EXPECT_NE(error_of([] { scenario_from("model: opt-13b\nhardware: h100-sxm\n"); }).find("test.yaml:2:11: hardware:"),
            std::string::npos);
}

TEST(Scenario, TensorParallelMustSplitTheHeads) {
  EXPECT_NE(error_of([] { scenario_from(kMinimal, {"cluster.tensor_parallel=3"}); }).find("do not split evenly"),
            std::string::npos);
}

// H2O's eager prefill under the vLLM paper's engine holds a whole prompt's fp32 scores: the longest prompt is the largest multiple of 256 whose
// scores fit in half of 0.9 x HBM less the weights per GPU, so tensor parallelism (fewer weights and heads per GPU)
// must raise it. Both sides of the limit: it fits, 256 tokens more do not.
TEST(Scenario, H2oEagerPrefillLimitCountsTheWeightsPerGpuUnderTensorParallelism) {
  const Scenario s = scenario_from(kMinimal, {"model=llama-3.1-70b", "cluster.tensor_parallel=4", "cache.policy=h2o", "engine.version=v0"});
  const int64_t limit = s.engine.max_num_batched_tokens;
  const double free_bytes =
      0.9 * static_cast<double>(s.hardware.gpu.hbm_bytes) - models::weight_bytes_per_gpu(s.model, s.weight_dtype, 4);
  ASSERT_GT(free_bytes, 0);
  EXPECT_GT(limit, 8192);
  EXPECT_LE(static_cast<double>(models::eager_attention_bytes(s.model, limit, s.dtype, 4)), 0.5 * free_bytes);
  EXPECT_GT(static_cast<double>(models::eager_attention_bytes(s.model, limit + 256, s.dtype, 4)), 0.5 * free_bytes);
}

TEST(Scenario, ByteSizesTakeBinaryAndDecimalSuffixes) {
  EXPECT_EQ(*scenario_from(kMinimal, {"engine.kv_cache_bytes=12GiB"}).engine.kv_cache_bytes, 12ull << 30);
  EXPECT_EQ(*scenario_from(kMinimal, {"engine.kv_cache_bytes=12GB"}).engine.kv_cache_bytes, 12'000'000'000ull);
  EXPECT_NE(error_of([] { scenario_from(kMinimal, {"engine.kv_cache_bytes=12 parsecs"}); }).find("byte size"),
            std::string::npos);
}

TEST(Scenario, ResolvedYamlRoundTrips) {
  const Scenario a = scenario_from(kMinimal, {"engine.version=v0", "cache.block_size=32", "slo.ttft_ms=500"});
  YAML::Emitter e;
  e << scenario_to_yaml(a);
  const Scenario b = scenario_from(e.c_str());
  YAML::Emitter e2;
  e2 << scenario_to_yaml(b);
  EXPECT_EQ(std::string(e.c_str()), std::string(e2.c_str()));
  EXPECT_EQ(b.cache.block_size, 32);
  EXPECT_EQ(b.engine.max_num_batched_tokens, a.engine.max_num_batched_tokens);
  EXPECT_EQ(*b.slo.ttft_ms, 500.0);
  EXPECT_EQ(b.workload, a.workload);
}

TEST(Scenario, BuiltinStudyLoadsWithItsDocumentedShape) {
  const Scenario s = load_scenario("", {});
  EXPECT_EQ(s.model.name, "llama-3.1-8b");
  EXPECT_EQ(s.hardware.name, "h100-sxm5-80gb");
  EXPECT_EQ(s.workload.prompt_tokens.dist, "lognormal");
  EXPECT_EQ(s.workload.prompt_tokens.mean, 12000);
  EXPECT_EQ(s.workload.prompt_tokens.min, 1024);
  EXPECT_EQ(s.workload.prompt_tokens.max, 32768);
  EXPECT_EQ(s.workload.output_tokens.mean, 300);
}

}  // namespace
}  // namespace kvsim::sim
