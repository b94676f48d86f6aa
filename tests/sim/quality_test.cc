#include "sim/cache/quality.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <utility>
#include <vector>

#include "sim/core/error.h"

namespace kvsim::cache {
namespace {

RetentionSpec h2o(int64_t heavy, int64_t recent) {
  RetentionSpec s;
  s.kind = "h2o";
  s.heavy_tokens = heavy;
  s.recent_tokens = recent;
  return s;
}

RetentionSpec streaming(int64_t window, int64_t sinks = 4) {
  RetentionSpec s;
  s.kind = "streaming";
  s.sink_tokens = sinks;
  s.window_tokens = window;
  return s;
}

const std::vector<std::pair<int64_t, int64_t>> kLengths = {{1, 1},     {3, 1},      {17, 5},     {100, 1},
                                                           {512, 32},  {512, 512},  {512, 1024}, {1920, 128},
                                                           {8192, 64}, {32768, 16}, {131072, 2}};

TEST(RetentionQuality, FullKeepsEverything) {
  for (const auto& [p, o] : kLengths) {
    const RetentionQuality q = retention_quality(RetentionSpec{}, p, o);
    EXPECT_EQ(q.attention, 1.0) << p << "+" << o;
    EXPECT_EQ(q.early_facts, 1.0) << p << "+" << o;
  }
}

TEST(RetentionQuality, StreamingLosesEveryEarlyFactOnceThePromptOutgrowsSinksAndWindow) {
  // The early facts sit in [4, prompt / 10): every window that starts after them loses them all.
  for (const int64_t p : {200, 1000, 4096, 131072}) {
    for (const int64_t window : {int64_t{0}, int64_t{16}, p / 4, p / 2, p * 8 / 10}) {
      for (const int64_t o : {1, 64}) {
        ASSERT_GT(p, 4 + window);
        EXPECT_EQ(retention_quality(streaming(window), p, o).early_facts, 0.0) << p << "+" << o << " w=" << window;
      }
    }
  }
  // Just past sinks + window, with a long enough generation to push the window off the early region.
  EXPECT_EQ(retention_quality(streaming(995), 1000, 101).early_facts, 0.0);
}

TEST(RetentionQuality, StreamingKeepsAllEarlyFactsWhenTheSequenceFitsInSinksAndWindow) {
  for (const auto& [p, o] : kLengths) {
    const RetentionQuality q = retention_quality(streaming(std::max<int64_t>(0, p + o - 4)), p, o);
    EXPECT_EQ(q.early_facts, 1.0) << p << "+" << o;
    EXPECT_EQ(q.attention, 1.0) << p << "+" << o;
  }
}

TEST(RetentionQuality, H2oKeepsSomeEarlyFactsBetweenStreamingAndFull) {
  for (const auto& [p, o] : std::vector<std::pair<int64_t, int64_t>>{{2048, 256}, {8192, 512}, {32768, 1024}}) {
    const int64_t tenth = (p + o) / 10;
    const double h = retention_quality(h2o(tenth, tenth), p, o).early_facts;
    const double s = retention_quality(streaming(2 * tenth - 4), p, o).early_facts;  // equal total budget
    const double f = retention_quality(RetentionSpec{}, p, o).early_facts;
    EXPECT_GT(h, 0.0) << p;
    EXPECT_LT(h, 1.0) << p;
    EXPECT_EQ(f, 1.0);
    EXPECT_GT(h, s) << p;
    // Heavy-hitter facts (half of them) are all kept; ordinary ones only by the leftover budget.
    EXPECT_GE(h, retention_model::kFactHeavyShare);
  }
}

TEST(RetentionQuality, AttentionRisesWithTheH2oBudgetAndIsOneWhenItCoversTheSequence) {
  for (const auto& [p, o] : std::vector<std::pair<int64_t, int64_t>>{{100, 20}, {512, 512}, {4096, 128}}) {
    const int64_t total = p + o;
    double prev = -1.0;
    for (int64_t b = 0; b <= total / 2; b += std::max<int64_t>(1, total / 64)) {
      const double a = retention_quality(h2o(b, b), p, o).attention;
      EXPECT_GE(a, prev - 1e-12) << p << "+" << o << " budget " << b;
      prev = a;
    }
    // Each half alone is monotone too.
    double prev_heavy = -1.0, prev_recent = -1.0;
    for (int64_t b = 0; b <= total; b += std::max<int64_t>(1, total / 64)) {
      const double heavy = retention_quality(h2o(b, total / 10), p, o).attention;
      const double recent = retention_quality(h2o(total / 10, b), p, o).attention;
      EXPECT_GE(heavy, prev_heavy - 1e-12) << p << "+" << o << " heavy " << b;
      EXPECT_GE(recent, prev_recent - 1e-12) << p << "+" << o << " recent " << b;
      prev_heavy = heavy;
      prev_recent = recent;
    }
    EXPECT_EQ(retention_quality(h2o(total / 2, total - total / 2), p, o).attention, 1.0);
    EXPECT_EQ(retention_quality(h2o(0, total), p, o).attention, 1.0);
    EXPECT_EQ(retention_quality(h2o(total, 0), p, o).attention, 1.0);
  }
}

TEST(RetentionQuality, AttentionRisesWithTheStreamingWindowAndIsOneWhenItCoversTheSequence) {
  for (const auto& [p, o] : std::vector<std::pair<int64_t, int64_t>>{{100, 20}, {512, 512}, {4096, 128}}) {
    const int64_t total = p + o;
    double prev = -1.0;
    for (int64_t w = 0; w <= total; w += std::max<int64_t>(1, total / 64)) {
      const double a = retention_quality(streaming(w), p, o).attention;
      EXPECT_GE(a, prev - 1e-12) << p << "+" << o << " window " << w;
      prev = a;
    }
    EXPECT_EQ(retention_quality(streaming(total - 4), p, o).attention, 1.0);
    EXPECT_EQ(retention_quality(streaming(total, 0), p, o).attention, 1.0);
  }
}

TEST(RetentionQuality, H2oTwentyPercentBudgetKeepsMostAttention) {
  // H2O's setting: 10 % heavy hitters + 10 % recent (Zhang et al., NeurIPS 2023); attention is > 95 % sparse.
  for (const auto& [p, o] : std::vector<std::pair<int64_t, int64_t>>{
           {512, 32}, {512, 512}, {512, 1024}, {1920, 128}, {8192, 256}, {131072, 64}}) {
    const int64_t tenth = (p + o) / 10;
    const double a = retention_quality(h2o(tenth, tenth), p, o).attention;
    EXPECT_GT(a, 0.8) << p << "+" << o;
    EXPECT_LT(a, 1.0) << p << "+" << o;
    // StreamingLLM at the same total budget keeps less of it (it drops the heavy hitters).
    EXPECT_LT(retention_quality(streaming(2 * tenth - 4), p, o).attention, a) << p << "+" << o;
  }
}

TEST(RetentionQuality, ValuesStayInTheUnitInterval) {
  for (const auto& [p, o] : kLengths) {
    for (const RetentionSpec& spec : {h2o(0, 0), h2o(1, 0), h2o(0, 1), h2o(3, 2), h2o(p / 10, p / 10), streaming(0, 0),
                                      streaming(0), streaming(7, 1), streaming(p / 5)}) {
      const RetentionQuality q = retention_quality(spec, p, o);
      EXPECT_GE(q.attention, 0.0) << spec.kind << " " << p << "+" << o;
      EXPECT_LE(q.attention, 1.0) << spec.kind << " " << p << "+" << o;
      EXPECT_GE(q.early_facts, 0.0) << spec.kind << " " << p << "+" << o;
      EXPECT_LE(q.early_facts, 1.0) << spec.kind << " " << p << "+" << o;
    }
  }
  // A zero budget keeps nothing.
  EXPECT_EQ(retention_quality(h2o(0, 0), 1000, 10).attention, 0.0);
  EXPECT_EQ(retention_quality(streaming(0, 0), 1000, 10).attention, 0.0);
}

TEST(RetentionQuality, RejectsEmptyRequestsNegativeBudgetsAndUnknownKinds) {
  EXPECT_THROW(retention_quality(RetentionSpec{}, 0, 1), Error);
  EXPECT_THROW(retention_quality(RetentionSpec{}, 1, 0), Error);
  EXPECT_THROW(retention_quality(h2o(0, 0), 0, 0), Error);
  EXPECT_THROW(retention_quality(h2o(-1, 5), 10, 1), Error);
  EXPECT_THROW(retention_quality(streaming(-1), 10, 1), Error);
  RetentionSpec bad;
  bad.kind = "h20";
  EXPECT_THROW(retention_quality(bad, 10, 1), Error);
  EXPECT_NO_THROW(retention_quality(h2o(0, 0), 1, 1));
}

TEST(RetentionQuality, IsDeterministic) {
  const RetentionQuality a = retention_quality(h2o(300, 300), 2048, 256);
  const RetentionQuality b = retention_quality(h2o(300, 300), 2048, 256);
  EXPECT_EQ(a.attention, b.attention);
  EXPECT_EQ(a.early_facts, b.early_facts);
}

// InfiniGen's alpha threshold (Lee et al., OSDI 2024, sec. 4.3): a wider threshold reads more tokens, never more than
// the cap, and with neither binding every token; the attention its reads cover rises with them.
TEST(SpeculativeSelection, ReadsMoreTokensAsAlphaWidensAndNeverPastTheCap) {
  for (int64_t c : {16, 300, 2000, 12000, 100000}) {
    double last = 0;
    for (double alpha : {0.0, 1.0, 2.0, 4.0, 6.0, 8.0, 12.0}) {
      const double n = speculative_selected_tokens(alpha, 1.0, c);
      EXPECT_GE(n, last) << "c=" << c << " alpha=" << alpha;
      EXPECT_LE(n, static_cast<double>(c));
      EXPECT_LE(speculative_selected_tokens(alpha, 0.2, c), std::ceil(0.2 * static_cast<double>(c)) + 1e-9);
      last = n;
    }
    EXPECT_DOUBLE_EQ(speculative_selected_tokens(1e3, 1.0, c), static_cast<double>(c));
    EXPECT_NEAR(speculative_selected_tokens(1e3, 0.2, c), std::ceil(0.2 * static_cast<double>(c)), 1.0);
  }
  // alpha 0 reads only the top-weighted kind: the 4 sinks.
  EXPECT_DOUBLE_EQ(speculative_selected_tokens(0.0, 1.0, 12000), 4.0);
}

TEST(SpeculativeSelection, AttentionCoveredRisesWithAlpha) {
  RetentionSpec s;
  s.kind = "speculative";
  s.cap_ratio = 0.2;
  double last = 0;
  for (double alpha : {0.0, 2.0, 4.0, 8.0, 16.0}) {
    s.alpha = alpha;
    const RetentionQuality q = retention_quality(s, 8000, 64);
    EXPECT_GE(q.attention, last);
    EXPECT_LE(q.attention, 1.0);
    last = q.attention;
  }
  EXPECT_GT(last, 0.8);  // the cap keeps the sinks, heavy hitters and the most recent tokens
  s.alpha = -1;
  EXPECT_THROW(retention_quality(s, 100, 10), Error);
}

}  // namespace
}  // namespace kvsim::cache
