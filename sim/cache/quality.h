// Retention quality proxy for KV-cache policies that drop tokens (H2O, StreamingLLM): how much of a decode query's
// attention, and how many early-prompt "facts", the kept tokens still cover. An ASSUMPTION scored against the
// synthetic attention model below, not a measurement of any model's outputs.
#pragma once

#include <cstdint>
#include <string>

namespace kvsim::cache {

// Which tokens a policy keeps. Budgets are in tokens per sequence (one head-averaged set: H2O evicts per head, which
// this proxy does not model).
struct RetentionSpec {
  std::string kind = "full";  // full | h2o | streaming | snapkv
  int64_t heavy_tokens = 0;   // h2o: heavy-hitter budget (tokens), kept by accumulated attention; snapkv: the
                              // prompt tokens kept after prefill (its observation window included)
  int64_t recent_tokens = 0;  // h2o: recent window (tokens)
  int64_t sink_tokens = 4;    // streaming: attention sinks (StreamingLLM, Xiao et al., ICLR 2024: 4)
  int64_t window_tokens = 0;  // streaming: recent window
  double alpha = 0;           // speculative: tokens within alpha of the top score (logit units) are read
  double cap_ratio = 1.0;     // speculative: at most this share of the cache is read per step (InfiniGen max_kv)
};

struct RetentionQuality {
  double attention = 1.0;    // mean over decode steps of the attention mass on kept tokens, in [0, 1]
  double early_facts = 1.0;  // expected share of facts planted in the first 10 % of the prompt kept at the end
};

// The synthetic decode-attention model (deterministic, no RNG).
//
// A decode query whose cache holds c tokens (positions 0..c-1) spreads its attention as a mixture of four parts:
//  (a) attention sinks, kSinkShare spread evenly over the first kSinkTokens positions. StreamingLLM (Xiao et al.,
//      ICLR 2024) finds the initial tokens draw a large share of attention in most layers and keeps 4 of them.
//  (b) recency, kRecencyShare over distances d = c - i = 1..c with weight 2^(-(d-1)/kRecencyHalfLife): local
//      attention, halving every kRecencyHalfLife tokens (exponential so that window sums are closed forms).
//  (c) persistent heavy hitters, kHeavyShare spread evenly over the heavy-hitter positions present: every
//      kHeavyPeriod-th position from kHeavyPhase (10, 30, 50, ...: 5 % of positions), attended by every query.
//      H2O (Zhang et al., NeurIPS 2023) observes attention is > 95 % sparse and that a small set of heavy-hitter
//      tokens keeps receiving most of it. Periodic rather than hashed so that sums over them are closed forms.
//  (d) a uniform floor, kUniformShare spread evenly over all c positions.
// A part with no position present (heavy hitters while c <= kHeavyPhase) is dropped and the others renormalized.
// The shares put 90 % of the mass on sinks, heavy hitters and the last few dozen tokens (a few % of a long context),
// in line with H2O's sparsity. With them H2O's 20 % budget (10 % heavy + 10 % recent) keeps > 0.8 of the mass once
// the sequence has about 300 tokens or more (0.92 for 2K-128K tokens; 0.74 at 160 tokens, where a 16-token recent
// window holds only half the recency mass), while StreamingLLM at the same budget keeps about 0.68.
//
// retention_attention: the mean, over decode steps j = 0..output-1 (cache c = prompt + j), of the mass on kept
// positions. retention_early_facts: facts are single tokens planted in the first 10 % of the prompt, positions
// [kSinkTokens, ceil(prompt / 10)) (never on the sink tokens, which are BOS / boilerplate; when that range is empty,
// the whole first 10 %). kFactHeavyShare of them are heavy hitters (a fact the answer needs is a salient token, a name
// or a number, that later queries keep attending to), the rest ordinary tokens; a fact counts as kept if its token is
// kept when queried after the last output token (cache c = prompt + output). The value is the expectation over facts
// planted uniformly at positions of their kind, so it needs no sampling.
//
// Kept sets at cache size c:
//  full:      every token.
//  streaming: the first sink_tokens and the last window_tokens positions (everything if they cover c). Early facts
//             are all lost once the early region lies wholly in the evicted span [sink_tokens, c - window_tokens),
//             e.g. whenever sink_tokens <= 4 and prompt > sink_tokens + window_tokens + prompt / 10.
//  snapkv:    the prompt compressed once after prefill to heavy_tokens positions (its last 32, then by the h2o
//             ranking below), plus every generated token.
//  speculative (InfiniGen's selection, Lee et al., OSDI 2024, sec. 4.3: the tokens whose partial score is above
//             the highest minus alpha, at most cap_ratio of the cache): a logit within alpha of the top is a weight
//             of at least exp(-alpha) of the largest. Under this model that is the sinks, the heavy hitters and the
//             last D tokens whenever their weight (their part's plus the uniform floor) clears the threshold, and
//             every token once the floor alone does. Over the cap, the oldest of the recent tokens go first, then
//             heavy hitters (each with equal probability), then sinks. The full KV stays in host memory, so no fact
//             is lost by this selection (retention_early_facts counts what the pool evicts).
//  h2o:       the last recent_tokens positions plus the top heavy_tokens of the older ones by accumulated attention.
//             Under this model the per-query mass ranks sinks (kSinkShare / 4 each) above heavy hitters
//             (kHeavyShare / (c / 20)) above ordinary tokens (kUniformShare / c), so the budget goes to the sinks,
//             then the heavy hitters, then ordinary tokens; within a kind the ranking is decided by content this
//             model does not know, so each token of the kind that only partly fits is kept with equal probability
//             (expected value). This ignores the recency mass a token collected before leaving the window.
// Each decode step is O(1) (closed-form geometric sums), a call is O(output).
namespace retention_model {
inline constexpr int64_t kSinkTokens = 4;
inline constexpr double kSinkShare = 0.20;
inline constexpr double kRecencyShare = 0.40;
inline constexpr double kRecencyHalfLife = 16.0;  // tokens
inline constexpr double kHeavyShare = 0.30;
inline constexpr int64_t kHeavyPeriod = 20;  // 1 in 20 positions = 5 %
inline constexpr int64_t kHeavyPhase = 10;   // first heavy hitter; >= kSinkTokens, so sinks are never heavy hitters
inline constexpr double kUniformShare = 0.10;
inline constexpr double kFactHeavyShare = 0.5;
inline constexpr int64_t kEarlyPercent = 10;  // facts sit in the first 10 % of the prompt
// SnapKV's observation window: the prompt's last 32 tokens, always kept (Li et al., 2024, sec. 4).
inline constexpr int64_t kSnapKvObservationTokens = 32;
}  // namespace retention_model

// Tokens InfiniGen's selection reads at cache size c (the expected count under the model above).
double speculative_selected_tokens(double alpha, double cap_ratio, int64_t c);

// The proxy for one request. Throws kvsim::Error unless prompt_tokens >= 1, output_tokens >= 1, the budgets are
// >= 0 and kind is full, h2o, streaming, snapkv or speculative.
RetentionQuality retention_quality(const RetentionSpec& spec, int64_t prompt_tokens, int64_t output_tokens);

}  // namespace kvsim::cache
