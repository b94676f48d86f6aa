// A pool of distinct prompts cycled by request index (workload.distinct_prompts): lengths repeat with the pool, the
// prefix identity of equal prompts is equal block by block, and a shared system prompt stays shared across the pool.
#include "traces/prompt_pool.h"

#include <gtest/gtest.h>

#include "sim/core/rng.h"
#include "tests/traces/test_util.h"

namespace kvsim::traces {
namespace {

using testing::collect;
using testing::error_of;
using testing::parse_text;

std::vector<Request> pool(const std::string& extra) {
  auto source = make_request_source(
      parse_text("workload: {requests: 25, distinct_prompts: 10, prompt_tokens: {dist: uniform, min: 40, max: 90}, "
                 "output_tokens: 5" +
                 extra + "}\n"),
      RngStreams(3));
  return collect(*source);
}

TEST(PromptPool, RequestIRepeatsPromptIModN) {
  const auto r = pool("");
  ASSERT_EQ(r.size(), 25u);
  for (size_t i = 10; i < r.size(); ++i) {
    EXPECT_EQ(r[i].prompt_tokens, r[i % 10].prompt_tokens) << i;
    EXPECT_EQ(r[i].block_hashes, r[i % 10].block_hashes) << i;
    EXPECT_EQ(r[i].hash_block_tokens, PromptPoolSource::kHashBlockTokens);
  }
  // Distinct prompts share no block; each covers its whole prompt, the last block partial.
  for (size_t i = 1; i < 10; ++i) EXPECT_NE(r[i].block_hashes.front(), r[0].block_hashes.front());
  for (size_t i = 0; i < 10; ++i) {
    EXPECT_EQ(static_cast<int64_t>(r[i].block_hashes.size()), (r[i].prompt_tokens + 15) / 16);
  }
}

TEST(PromptPool, GroupSystemPromptsStayShared) {
  // Two groups of 40-token system prompts (2 full blocks each, the third straddles into the question).
  const auto r = pool(", shared_prefix_tokens: 40, shared_prefix_count: 2");
  EXPECT_EQ(r[0].block_hashes[0], r[2].block_hashes[0]);  // same group (0 mod 2)
  EXPECT_EQ(r[0].block_hashes[1], r[2].block_hashes[1]);
  EXPECT_NE(r[0].block_hashes[2], r[2].block_hashes[2]);  // block 2 holds question tokens
  EXPECT_NE(r[0].block_hashes[0], r[1].block_hashes[0]);  // other group
  EXPECT_EQ(r[0].prefix_id, 0u);                          // identity moved to the hashes
}

TEST(PromptPool, OnlyForSyntheticWorkloadsWithoutSessions) {
  EXPECT_NE(error_of([] {
              parse_text("workload: {trace: t.csv, distinct_prompts: 10}\n");
            }).find("distinct_prompts: a trace brings its own prompts"),
            std::string::npos);
  EXPECT_NE(error_of([] {
              parse_text(
                  "workload: {requests: 5, distinct_prompts: 3, prompt_tokens: 10, output_tokens: 5, "
                  "sessions: {turns: 2}}\n");
            }).find("distinct_prompts"),
            std::string::npos);
}

}  // namespace
}  // namespace kvsim::traces
