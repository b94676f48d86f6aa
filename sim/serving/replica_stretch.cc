// Analytic decode stretches (engine.fast_forward: analytic). Between two events that change a replica's batch (an
// arrival, a request finishing, a block its pool cannot give, a preemption), a decode-only batch evolves in closed
// form: every step adds one token to each of its n sequences, so the context it reads grows by n a step and the
// step's time is the cost model's function of (n, total context); a sequence takes a block exactly when the tokens it
// holds pass a multiple of the block size, so the blocks a step takes are the members of the decode cohort
// (replica_cohort.cc) at that phase modulo the block size. A stretch runs such steps with no per-sequence work until
// the step whose end would not come before the next queued event, the step that completes a sequence, or the step
// whose blocks the free pool cannot cover. An arrival's iteration (the members' decodes and the admissions) is priced
// from the cohort's sums too, so an event costs no pass over the running sequences. The metrics receive the calls
// stepping would make (the same values in the same order, the no-op ones left out), so the outputs are
// byte-identical (tests/sim/fast_forward_test.cc).
#include <algorithm>

#include "sim/core/interrupt.h"
#include "sim/serving/replica.h"

namespace kvsim::serving {

void Replica::next_iteration(SimTime now) {
  // The members decode with no per-sequence work when the scheduler would run every running sequence's decode: no
  // sequence swapped out or handed off, and each a member (the cohort formed here after an iteration the scheduler
  // formed). A decode pool's requests receiving their KV hold blocks and a place in the batch limit, nothing else.
  if (stretches_ && role_ != Role::kPrefill && store_ == nullptr && metrics_.timeline() == nullptr && !busy_ &&
      !running_.empty() && swapped_.empty() && handed_off_.empty() && (cohort_.active || form_cohort(now)) &&
      cohort_.size == static_cast<int64_t>(running_.size()) && cohort_.last_token_ns == now &&
      (run_decode_stretch(now) || run_cohort_admission(now))) {
    return;
  }
  start_iteration(now);
}

bool Replica::run_decode_stretch(SimTime now) {
  // The scheduler would decode exactly the members and admit nothing: the waiting queue is empty or cannot be
  // admitted from (the batch is at max_num_seqs or fills the token budget; a static engine admits only once its
  // batch is done).
  const int64_t n = cohort_.size;
  const auto seats = n + static_cast<int64_t>(receiving_.size());  // what max_num_seqs counts
  const sim::EngineConfig& e = scenario_.engine;
  if (e.chunked_prefill) {
    if (n > e.max_num_batched_tokens) return false;  // not every sequence fits the step's token budget
    if (!waiting_.empty() && seats < e.max_num_seqs && n < e.max_num_batched_tokens) return false;
  } else if (!waiting_.empty() && e.version != "static") {
    return false;
  }
  const SimTime horizon = queue_.next_time();
  const int64_t block = plan_.block_size;
  const int64_t per_block = cohort_.per_block;
  const int64_t context = cohort_.context;                                    // KV tokens the members hold
  const int64_t steps_left = cohort_.finishes.front().clock - cohort_.clock;  // until the first of them completes
  const int64_t free_blocks = policy_->free_blocks();
  const int64_t used_blocks = policy_->used_blocks(), stored_tokens = policy_->stored_tokens();
  models::BatchShape shape;  // the first step: n sequences of one new token each
  shape.decode_only = true;
  shape.add_decodes(n, context);
  const models::CostModel::FixedBatch price = cost_.fixed_batch(shape);
  int64_t taken = 0;  // blocks the stretch's steps took
  int64_t steps = 0;  // steps run start to end
  SimTime t = now;
  SimTime last_end = -1;  // the step started but not ended here (its end is an event), or -1
  // Step j (from 1) starts at cohort clock c + j - 1 with member i holding t_i + j - 1 tokens and grows it by one: a
  // block when that is a multiple of the block size (the members of key (-(c + j - 1)) mod block). The step whose end
  // is not before the next event, or that completes a member (j = steps_left), is started here and ended by
  // finish_cohort_step; a step the pool cannot cover is left whole to the scheduler (it preempts).
  int64_t key = (block - cohort_.clock % block) % block;
  for (int64_t j = 1;; ++j, key = key == 0 ? block - 1 : key - 1) {
    const int64_t blocks = per_block * cohort_.keys[static_cast<size_t>(key)];
    if (taken + blocks > free_blocks) break;
    // Each sequence adds c + 1 query-key pairs and KV tokens read (add_sequence with one new token after c cached).
    shape.attn_pairs = shape.kv_read_tokens = static_cast<double>(context + n * j);
    const SimTime step_ns = std::max<SimTime>(price.ns(shape), 1);
    const SimTime end = t + step_ns;
    taken += blocks;
    if (end >= horizon || j == steps_left) {
      last_end = end;
      break;
    }
    // The step's start (start_iteration): counted, and the state it reports after growing every sequence.
    metrics_.on_iteration();
    metrics_.on_state(t, id_, state_with(used_blocks + taken, stored_tokens + n * j));
    // Its end (finish_iteration): one token per sequence, each after the same gap.
    metrics_.add_itl(step_ns, n);
    metrics_.on_output_tokens(end, n);
    t = end;
    if ((++steps & 4095) == 0) throw_if_interrupted();
  }
  if (steps == 0 && last_end < 0) return false;
  analytic_steps_ += steps;
  if (last_end >= 0) ++cohort_iterations_;
  // The pool takes the steps' growth at once (its books end where the steps' would); the members' own fields are
  // written when needed.
  const int64_t grown = last_end >= 0 ? 1 : 0;
  policy_->book_growth(taken, n * (steps + grown));
  cohort_.clock += steps;
  cohort_.context += n * steps;
  if (steps > 0) {
    cohort_.last_token_ns = t;
    queue_.advance_to(t);
    now_ns_ = t;
  }
  if (last_end < 0) {
    start_iteration(t);  // the scheduler takes it from here (a block is missing)
    return true;
  }
  // The last step's start, as start_iteration makes it for a decode-only batch of every running sequence.
  cohort_.in_flight = true;
  batch_.clear();
  preempted_this_step_ = false;
  swap_in_blocks_ = swap_out_blocks_ = 0;
  prefill_transient_now_ = 0;
  mark_started(t);
  schedule_end(last_end);
  return true;
}

bool Replica::run_cohort_admission(SimTime now) {
  // schedule_mixed's iteration when every running sequence is a member: their decodes (a token each), then the
  // queue's admissions within the rest of the token budget.
  const sim::EngineConfig& e = scenario_.engine;
  const int64_t n = cohort_.size;
  if (!e.chunked_prefill || pytorch_static_ || waiting_.empty() || n >= e.max_num_seqs ||
      n >= e.max_num_batched_tokens) {
    return false;
  }
  const int64_t blocks = cohort_blocks_at(cohort_.clock);
  if (blocks > policy_->free_blocks()) return false;  // the scheduler preempts
  policy_->book_growth(blocks, n);
  cohort_.in_flight = true;
  ++cohort_iterations_;
  batch_.clear();
  preempted_this_step_ = false;
  swap_in_blocks_ = swap_out_blocks_ = 0;
  admit_waiting(e.max_num_batched_tokens - n);
  models::BatchShape shape;
  shape.decode_only = true;
  shape.add_decodes(n, cohort_.context);
  int64_t pad_prompt = 0;
  const int64_t cpu_new_tokens = price_rows(shape, pad_prompt);
  launch_iteration(now, shape, cpu_new_tokens, pad_prompt);
  return true;
}

}  // namespace kvsim::serving
