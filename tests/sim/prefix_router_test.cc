// The prefix-aware router (sim/serving/router.h) on its own: longest-prefix affinity, bounded by SGLang's load
// imbalance limit, and session / shared-prefix stickiness.
#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "sim/core/rng.h"
#include "sim/serving/router.h"

namespace kvsim::serving {
namespace {

constexpr int64_t kBlockTokens = 512;  // Mooncake's hash block

// A Mooncake-like request: block 0 shared by every request (a common system prompt), then `shared` blocks of its
// conversation `group`, then `own` blocks of its own.
traces::Request chat(uint64_t id, uint64_t group, int64_t shared, int64_t own) {
  traces::Request r;
  r.id = id;
  r.hash_block_tokens = kBlockTokens;
  r.block_hashes.push_back(0);
  for (int64_t j = 0; j < shared; ++j) r.block_hashes.push_back(1000000 + group * 1000 + static_cast<uint64_t>(j));
  for (int64_t j = 0; j < own; ++j) r.block_hashes.push_back(2000000000 + id * 1000 + static_cast<uint64_t>(j));
  r.prompt_tokens = static_cast<int64_t>(r.block_hashes.size()) * kBlockTokens;
  r.output_tokens = 10;
  return r;
}

sim::ClusterConfig limits(int64_t abs, double rel, double cache_threshold) {
  sim::ClusterConfig c;
  c.router = "prefix-aware";
  c.prefix_balance_abs = abs;
  c.prefix_balance_rel = rel;
  c.prefix_cache_threshold = cache_threshold;
  return c;
}

PrefixRouter router_for(const sim::ClusterConfig& c, size_t replicas) {
  return PrefixRouter(replicas, c, int64_t{1} << 30, int64_t{1} << 20);
}

int64_t spread(const std::vector<int64_t>& loads) {
  const auto [lo, hi] = std::minmax_element(loads.begin(), loads.end());
  return *hi - *lo;
}

// Every request shares its first block, and conversations share more: the old router, keyed by the first block, sent
// them all to one replica. With the limit, the spread of outstanding requests, arrivals only, stays within it plus
// the one decision that may cross it (for max - min > abs and max > rel x min alike); prefix affinity still decides
// most requests. With the limit off (abs beyond any load) and any match accepted, all go to replica 0.
TEST(PrefixRouter, LoadSpreadStaysWithinTheBalanceLimitWhenEveryRequestSharesTheFirstBlock) {
  const size_t replicas = 4;
  const int n = 2000;
  struct Case {
    int64_t abs;
    double rel;
  };
  for (const Case c : {Case{4, 1.0}, Case{2, 1.25}, Case{kvsim::sim::kSglangBalanceAbsThreshold, 1.0}}) {
    PrefixRouter router = router_for(limits(c.abs, c.rel, 0.3), replicas);
    std::vector<int64_t> loads(replicas, 0);
    Rng rng(7);
    int affinity = 0;
    for (int i = 0; i < n; ++i) {
      const uint64_t group = static_cast<uint64_t>(rng.uniform_int(0, 5));  // few hot conversations: skewed load
      const size_t r = router.route(chat(static_cast<uint64_t>(i), group, 6, 2), loads);
      ++loads[r];
      if (router.last_reason() == PrefixRouter::Reason::kPrefixMatch) ++affinity;
      const auto [lo, hi] = std::minmax_element(loads.begin(), loads.end());
      ASSERT_TRUE(*hi - *lo <= c.abs + 1 || static_cast<double>(*hi) <= c.rel * static_cast<double>(*lo) + 1)
          << "request " << i << ": loads " << *lo << " .. " << *hi << " with abs " << c.abs << ", rel " << c.rel;
    }
    EXPECT_GT(affinity, n / 2) << "abs " << c.abs;
  }
  PrefixRouter unbounded = router_for(limits(int64_t{1} << 40, 1.0, 0.0), replicas);
  std::vector<int64_t> loads(replicas, 0);
  for (int i = 0; i < n; ++i) {
    ++loads[unbounded.route(chat(static_cast<uint64_t>(i), static_cast<uint64_t>(i % 6), 6, 2), loads)];
  }
  EXPECT_EQ(loads[0], n);  // the pathology the limit prevents
  EXPECT_EQ(spread(loads), n);
}

// With requests finishing at random between decisions, an imbalanced decision always goes to a least-loaded replica,
// so it never widens the spread; a balanced one widens it by at most one. Conversations grow turn by turn (each turn
// extends the previous one's prefix), so the longest match is the replica that took the last turn, and three hot
// conversations pile load onto their replicas until the limit moves them.
TEST(PrefixRouter, ImbalancedDecisionsGoToTheLeastLoadedReplica) {
  const size_t replicas = 5;
  PrefixRouter router = router_for(limits(3, 1.0, 0.3), replicas);
  std::vector<int64_t> loads(replicas, 0);
  std::vector<int64_t> turns(3, 0);
  Rng rng(11);
  int imbalanced = 0, affinity = 0;
  for (int i = 0; i < 4000; ++i) {
    for (int64_t& load : loads) {
      if (load > 0 && rng.uniform() < 0.25) --load;
    }
    const std::vector<int64_t> before = loads;
    const auto conversation = static_cast<size_t>(rng.uniform_int(0, 2));
    const int64_t turn = ++turns[conversation] % 40;  // a conversation restarts after 40 turns
    const size_t r = router.route(chat(static_cast<uint64_t>(i), conversation, turn + 1, 0), loads);
    ++loads[r];
    const int64_t least = *std::min_element(before.begin(), before.end());
    if (router.imbalanced(before)) {
      ++imbalanced;
      ASSERT_EQ(router.last_reason(), PrefixRouter::Reason::kImbalanced);
      ASSERT_EQ(before[r], least) << "request " << i;
      ASSERT_LE(spread(loads), spread(before)) << "request " << i;
    } else {
      ASSERT_LE(spread(loads), spread(before) + 1) << "request " << i;
      if (router.last_reason() == PrefixRouter::Reason::kPrefixMatch) ++affinity;
    }
  }
  EXPECT_GT(imbalanced, 30);
  EXPECT_GT(affinity, 1000);
}

// The longest match wins, not the first block: replica 1 holds the conversation's 5 blocks, replica 0 only block 0.
TEST(PrefixRouter, TheLongestPrefixMatchWinsOverTheFirstBlock) {
  PrefixRouter router = router_for(limits(64, 1.5, 0.3), 3);
  std::vector<int64_t> loads = {0, 0, 0};
  EXPECT_EQ(router.route(chat(1, 9, 0, 3), loads), 0u);  // block 0 and its own: least loaded, replica 0
  loads = {5, 0, 0};
  EXPECT_EQ(router.route(chat(2, 7, 4, 1), loads), 1u);  // only block 0 matches (1 of 6): least loaded, replica 1
  EXPECT_EQ(router.last_reason(), PrefixRouter::Reason::kShortMatch);
  loads = {0, 3, 0};
  EXPECT_EQ(router.route(chat(3, 7, 4, 2), loads), 1u);  // 5 of 7 blocks on replica 1, though it is busier
  EXPECT_EQ(router.last_reason(), PrefixRouter::Reason::kPrefixMatch);
  EXPECT_EQ(router.last_match_tokens(), 5 * kBlockTokens);
  // Past the limit (70 - 0 > 64 and 70 > 1.5 x 0) the least-loaded replica takes it, match or not.
  loads = {0, 70, 0};
  EXPECT_EQ(router.route(chat(4, 8, 4, 2), loads), 0u);
  EXPECT_EQ(router.last_reason(), PrefixRouter::Reason::kImbalanced);
  // At the limit exactly (64 apart) the match still decides.
  loads = {1, 65, 1};
  EXPECT_EQ(router.route(chat(5, 7, 4, 2), loads), 1u);
  EXPECT_EQ(router.last_reason(), PrefixRouter::Reason::kPrefixMatch);
}

// A session's turns (no block hashes, as in a jsonl trace) stay on one replica while the loads are balanced, and a
// shared prefix longer than the cache threshold keeps its replica; a request with no prefix goes to the least loaded.
TEST(PrefixRouter, SessionsAndSharedPrefixesStickWhileBalanced) {
  PrefixRouter router = router_for(limits(64, 1.5, 0.3), 4);
  std::vector<int64_t> loads(4, 0);
  std::vector<size_t> home(10, 99);
  for (int i = 0; i < 200; ++i) {
    traces::Request r;
    r.id = static_cast<uint64_t>(i);
    r.session_id = static_cast<uint64_t>(i % 10) + 1;
    r.prompt_tokens = 100 + 10 * i;
    const size_t s = static_cast<size_t>(i % 10);
    const size_t at = router.route(r, loads);
    ++loads[at];
    if (home[s] == 99) home[s] = at;
    EXPECT_EQ(at, home[s]) << "turn " << i / 10 << " of session " << s;
  }
  std::vector<int64_t> sessions_per_replica(4, 0);
  for (const size_t h : home) ++sessions_per_replica[h];
  EXPECT_EQ(spread(sessions_per_replica), 1);  // new sessions spread to the least loaded, here by turn order

  traces::Request p;
  p.prefix_id = 3;
  p.shared_prefix_tokens = 800;
  p.prompt_tokens = 1000;
  loads = {0, 0, 0, 0};
  const size_t first = router.route(p, loads);
  loads[first] = 4;
  EXPECT_EQ(router.route(p, loads), first);
  p.prompt_tokens = 4000;  // the same 800 tokens are 20 % of this prompt: under the 0.3 threshold
  EXPECT_NE(router.route(p, loads), first);
  EXPECT_EQ(router.last_reason(), PrefixRouter::Reason::kShortMatch);
  traces::Request plain;
  plain.prompt_tokens = 50;
  loads = {3, 2, 0, 1};
  EXPECT_EQ(router.route(plain, loads), 2u);
  EXPECT_EQ(router.last_reason(), PrefixRouter::Reason::kNoPrefix);
}

// The index forgets what a replica's cache could no longer hold: past its token budget the least recently sent
// prefix is gone (its next request matches nothing), and pairs never exceed the budget.
TEST(PrefixRouter, TheIndexIsBoundedPerReplica) {
  // 8 blocks of 512 tokens per replica, one replica: every route lands on it.
  PrefixRouter router(1, limits(64, 1.5, 0.0), 8 * kBlockTokens, 1000);
  const std::vector<int64_t> loads = {0};
  router.route(chat(1, 1, 3, 0), loads);  // 4 blocks: 0 and group 1's three
  EXPECT_EQ(router.remembered(), 4u);
  router.route(chat(2, 1, 3, 0), loads);
  EXPECT_EQ(router.last_match_tokens(), 4 * kBlockTokens);
  for (uint64_t g = 2; g < 6; ++g) router.route(chat(g + 10, g, 3, 0), loads);  // 12 more blocks
  EXPECT_LE(router.remembered(), 8u);
  router.route(chat(30, 1, 3, 0), loads);
  EXPECT_EQ(router.last_match_tokens(), kBlockTokens);  // block 0 is recent (every request has it); group 1 is gone
  PrefixRouter few(1, limits(64, 1.5, 0.0), int64_t{1} << 30, 5);  // 5 entries
  for (uint64_t i = 0; i < 50; ++i) few.route(chat(i, i, 2, 1), loads);
  EXPECT_EQ(few.remembered(), 5u);
}

}  // namespace
}  // namespace kvsim::serving
