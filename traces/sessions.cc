#include "traces/sessions.h"

#include <fmt/format.h>

namespace kvsim::traces {

SessionSource::SessionSource(const ArrivalSpec& arrival, const SessionSpec& sessions, LengthModel lengths,
                             const RngStreams& rng, int64_t max_context_tokens)
    : arrival_(arrival),
      spec_(sessions),
      process_(make_arrival_process(arrival, rng.stream("workload/arrivals"))),
      lengths_(std::move(lengths)),
      turns_(sessions.turns, rng.stream("workload/sessions/turns")),
      think_(rng.stream("workload/sessions/think")),
      max_context_(max_context_tokens > 0 ? max_context_tokens : INT64_MAX) {
  if (!(spec_.think_time_s >= 0) || spec_.system_prompts < 1 || spec_.system_prompt_tokens < 0) {
    throw Error("workload.sessions: need think_time_s >= 0, system_prompts >= 1 and system_prompt_tokens >= 0");
  }
  // Streams of their own, so that sessions without these keys draw exactly as before.
  if (spec_.think_time_ms) think_ms_.emplace(*spec_.think_time_ms, rng.stream("workload/sessions/think_ms"));
  if (spec_.turn_tokens) turn_tokens_.emplace(*spec_.turn_tokens, rng.stream("workload/sessions/turn_tokens"));
  next_open_ns_ = process_->next(0);
}

void SessionSource::open_next_session() {
  const SimTime t = *next_open_ns_;
  pending_.push(Turn{t, order_++, ++sessions_, 0, turns_.sample(), spec_.system_prompt_tokens, -1, 0});
  next_open_ns_ = process_->next(t);
}

std::optional<Request> SessionSource::next() {
  while (true) {
    // A new session opens when its first turn comes before every pending turn.
    if (next_open_ns_ && (pending_.empty() || *next_open_ns_ <= pending_.top().earliest_ns)) open_next_session();
    if (pending_.empty()) return std::nullopt;
    Turn t = pending_.top();
    pending_.pop();
    auto [user, output] = lengths_.sample();
    if (turn_tokens_ && t.turn > 0) user = turn_tokens_->sample();
    const int64_t prompt = t.context + user;
    if (prompt + output > max_context_) continue;  // the session would outgrow the context: it ends
    Request r;
    r.id = next_id_++;
    r.arrival_ns = t.earliest_ns;
    r.prompt_tokens = prompt;
    r.output_tokens = output;
    r.session_id = t.session;
    r.parent_id = t.parent_id;
    r.think_time_ns = t.think_ns;
    if (spec_.system_prompt_tokens > 0) {
      r.prefix_id = (t.session - 1) % static_cast<uint64_t>(spec_.system_prompts) + 1;
      r.shared_prefix_tokens = std::min(spec_.system_prompt_tokens, prompt);
    }
    r.has_next_turn = t.turn + 1 < t.turns;
    if (r.has_next_turn) {
      SimTime think = 0;
      if (think_ms_) {
        think = think_ms_->sample() * kNsPerMs;  // whole milliseconds, exactly
      } else if (spec_.think_time_s > 0) {
        think = seconds_to_ns(think_.exponential(1.0 / spec_.think_time_s));
      }
      const SimTime earliest = think < kSimTimeMax - t.earliest_ns ? t.earliest_ns + think : kSimTimeMax;
      pending_.push(
          Turn{earliest, order_++, t.session, t.turn + 1, t.turns, prompt + output, static_cast<int64_t>(r.id), think});
    }
    return r;
  }
}

std::string SessionSource::describe() const {
  const std::string think = spec_.think_time_ms ? fmt::format("{} ms", describe_length_dist(*spec_.think_time_ms))
                                                : fmt::format("{} s", spec_.think_time_s);
  const std::string appended =
      spec_.turn_tokens ? fmt::format(", later turns append {} tokens", describe_length_dist(*spec_.turn_tokens)) : "";
  return fmt::format("sessions of {} turns opening by {}, think time {}, {} system prompt(s) of {} tokens{}; {}",
                     describe_length_dist(spec_.turns), describe_arrival(arrival_), think, spec_.system_prompts,
                     spec_.system_prompt_tokens, appended, lengths_.describe());
}

}  // namespace kvsim::traces
