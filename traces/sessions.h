// Multi-turn sessions (`workload.sessions`): each arrival of the arrival process opens a session of `turns` turns;
// turn k's prompt holds the session's system prompt (one of `system_prompts` shared by every session, of
// `system_prompt_tokens`), every earlier turn's user message and answer, and its own user message (lengths from
// prompt_tokens and output_tokens); the user sends turn k + 1 a think time (exponential, mean `think_time_s`) after
// turn k's last token. So turns share their session's prefix and sessions share system prompts, for prefix caching.
// A turn's arrival_ns is the earliest it can be sent (its session's start plus the think times before it); the
// simulator holds it until its parent finished (closed loop, Request::parent_id). A session ends early when its
// next turn would not fit `max_context_tokens`.
//
// Agentic sessions (a coding agent's run: an LLM call, a tool, the next call) are the same loop with other lengths:
// `think_time_ms` replaces the exponential think time by a distribution of tool durations (heavy-tailed), and
// `turn_tokens` draws the tokens each later turn appends (the tool's output) apart from the first turn's prompt
// (the task, from prompt_tokens). A dataset may bring such a shape (traces/datasets.h: codex-swe-bench-pro).
#pragma once

#include <memory>
#include <optional>
#include <queue>
#include <string>
#include <vector>

#include "traces/arrival.h"
#include "traces/length_dist.h"
#include "traces/request.h"

namespace kvsim::traces {

struct SessionSpec {
  LengthDist turns;                  // turns per session (>= 1); dist fixed with value 0 = sessions off
  double think_time_s = 5;           // mean think time between a turn's answer and the next turn
  int64_t system_prompt_tokens = 0;  // shared by sessions
  int64_t system_prompts = 1;        // distinct system prompts, taken in turn
  // When set: the think time's distribution in milliseconds, in place of the exponential of mean think_time_s.
  std::optional<LengthDist> think_time_ms;
  // When set: the tokens each turn after the first appends besides the previous answer (a tool's output); the first
  // turn's message still comes from prompt_tokens. Unset: every turn's message comes from prompt_tokens.
  std::optional<LengthDist> turn_tokens;
  bool enabled() const { return !(turns.dist == "fixed" && turns.value == 0); }
  bool operator==(const SessionSpec&) const = default;
};

class SessionSource : public RequestSource {
 public:
  SessionSource(const ArrivalSpec& arrival, const SessionSpec& sessions, LengthModel lengths, const RngStreams& rng,
                int64_t max_context_tokens);
  std::optional<Request> next() override;
  std::string describe() const override;

 private:
  struct Turn {
    SimTime earliest_ns;
    uint64_t order;  // ties in emission order
    uint64_t session;
    int64_t turn, turns, context;  // context: tokens of the session before this turn's user message
    int64_t parent_id;
    SimTime think_ns;
    bool operator>(const Turn& o) const {
      return earliest_ns != o.earliest_ns ? earliest_ns > o.earliest_ns : order > o.order;
    }
  };
  void open_next_session();

  ArrivalSpec arrival_;
  SessionSpec spec_;
  std::unique_ptr<ArrivalProcess> process_;
  LengthModel lengths_;
  LengthSampler turns_;
  Rng think_;
  std::optional<LengthSampler> think_ms_, turn_tokens_;
  int64_t max_context_;
  std::priority_queue<Turn, std::vector<Turn>, std::greater<>> pending_;
  std::optional<SimTime> next_open_ns_ = 0;
  uint64_t sessions_ = 0, order_ = 0, next_id_ = 0;
};

}  // namespace kvsim::traces
