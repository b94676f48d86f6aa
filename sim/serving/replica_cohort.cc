// The decode cohort of an analytic replica (engine.fast_forward: analytic; replica.h). When every running sequence
// decodes one token a step and grows by whole blocks alike, the replica keeps their sums (the KV tokens they hold,
// how many pass a block boundary at each phase, the step at which each completes) and a clock of their steps, not
// each sequence's fields: a step of the members costs no pass over them, however many there are. A member's fields
// are written when it completes or when the cohort is settled (before any iteration the scheduler forms sequence by
// sequence); the pool's books take the members' growth as a whole (CachePolicy::book_growth) and each member its
// share when written (adopt_growth). The outputs are those of stepping every sequence (tests/sim/fast_forward_test.cc).
#include <algorithm>
#include <functional>

#include <fmt/format.h>

#include "sim/core/error.h"
#include "sim/serving/replica.h"

namespace kvsim::serving {

int64_t Replica::cohort_key(int64_t tokens) const {
  const int64_t block = plan_.block_size;
  return ((tokens - cohort_.clock) % block + block) % block;
}

int64_t Replica::cohort_blocks_at(int64_t clock) const {
  const int64_t block = plan_.block_size;
  return cohort_.per_block * cohort_.keys[static_cast<size_t>((block - clock % block) % block)];
}

bool Replica::join_cohort(uint32_t slot, SimTime now) {
  Seq& s = seqs_[slot];
  // A decode that produced its last token now and holds its KV up to it.
  if (s.status != Status::kRunning || s.last_token_ns != now || s.computed != s.known() - 1 ||
      s.kv.tokens != s.computed || s.generated >= s.record.output_tokens) {
    return false;
  }
  if (s.growth_blocks == 0) s.growth_blocks = policy_->uniform_growth_blocks(s.kv);
  if (s.growth_blocks == 0 || (cohort_.size > 0 && s.growth_blocks != cohort_.per_block)) return false;
  cohort_.per_block = s.growth_blocks;
  s.cohort_base = cohort_.clock;
  ++cohort_.size;
  cohort_.context += s.computed;
  ++cohort_.keys[static_cast<size_t>(cohort_key(s.computed))];
  cohort_.finishes.push_back({cohort_.clock + s.record.output_tokens - s.generated, cohort_.joined++, slot});
  std::push_heap(cohort_.finishes.begin(), cohort_.finishes.end(), std::greater<>());
  return true;
}

bool Replica::form_cohort(SimTime now) {
  // Nothing changes unless the scheduler could run the members alone or with admissions: a prompt still in chunks,
  // or the V0 engine with requests to admit (prefill-only iterations), leaves it to the scheduler.
  const sim::EngineConfig& e = scenario_.engine;
  if (e.chunked_prefill ? static_cast<int64_t>(running_.size()) > e.max_num_batched_tokens
                        : !waiting_.empty() && e.version != "static") {
    return false;
  }
  // The newest first: a prompt still being computed is at the back.
  const Seq& newest = seqs_[running_.back()];
  if (newest.computed != newest.known() - 1 || newest.last_token_ns != now) return false;
  cohort_.active = true;
  cohort_.last_token_ns = now;
  cohort_.keys.assign(static_cast<size_t>(plan_.block_size), 0);
  for (uint32_t slot : running_) {
    if (!join_cohort(slot, now)) {
      settle();
      return false;
    }
  }
  return true;
}

void Replica::advance_member(Seq& s) const {
  const int64_t steps = cohort_.clock - s.cohort_base;
  if (steps == 0 && !cohort_.in_flight) return;
  s.computed += steps;
  s.generated += steps;
  if (steps > 0) s.last_token_ns = cohort_.last_token_ns;
  s.cohort_base = cohort_.clock;
  // An in-flight step holds its token's KV from the step's start, as the scheduler grew it.
  policy_->adopt_growth(s.kv, s.computed + (cohort_.in_flight ? 1 : 0));
}

Replica::Seq Replica::current(uint32_t slot) const {
  Seq s = seqs_[slot];
  if (s.cohort_base >= 0) advance_member(s);
  return s;
}

void Replica::settle() {
  if (!cohort_.active) return;
  if (cohort_.in_flight) {
    throw Error(fmt::format("internal: replica {} settles its decode cohort during one of its steps", id_));
  }
  for (uint32_t slot : running_) {
    Seq& s = seqs_[slot];
    if (s.cohort_base < 0) continue;
    advance_member(s);
    s.cohort_base = -1;
  }
  cohort_.active = cohort_.in_flight = false;
  cohort_.size = cohort_.context = 0;
  cohort_.finishes.clear();
}

void Replica::finish_cohort_step(SimTime now) {
  cohort_.in_flight = false;
  ++cohort_.clock;
  const SimTime itl = now - cohort_.last_token_ns;  // every member's gap: they produced their last token together
  cohort_.last_token_ns = now;
  cohort_.context += cohort_.size;
  const int64_t tokens = cohort_.size;
  // The members completing now, in running order (finish_iteration's order of their rows).
  bool any_done = false;
  while (!cohort_.finishes.empty() && cohort_.finishes.front().clock == cohort_.clock) {
    std::pop_heap(cohort_.finishes.begin(), cohort_.finishes.end(), std::greater<>());
    const uint32_t slot = cohort_.finishes.back().slot;
    cohort_.finishes.pop_back();
    Seq& s = seqs_[slot];
    advance_member(s);
    s.cohort_base = -1;
    --cohort_.size;
    cohort_.context -= s.computed;
    --cohort_.keys[static_cast<size_t>(cohort_key(s.computed))];
    complete(slot, now);
    any_done = true;
  }
  // The rest of the step's rows (admissions), after the members' as in batch_'s order; those that produced their
  // first token join the members.
  joining_.clear();
  for (const Scheduled& b : batch_) joining_.push_back(b.slot);
  finish_rows(now, itl, tokens, any_done, tokens);
  for (uint32_t slot : joining_) {
    if (seqs_[slot].status == Status::kRunning) join_cohort(slot, now);
  }
}

}  // namespace kvsim::serving
