// Analytic decode stretches (engine.fast_forward: analytic). Between two events that change a replica's batch (an
// arrival, a request finishing, a block its pool cannot give, a preemption), a decode-only batch evolves in closed
// form: every step adds one token to each of its n sequences, so the context it reads grows by n a step and the
// step's time is the cost model's function of (n, total context); a sequence takes a block exactly when the tokens it
// holds pass a multiple of the block size, so the blocks a step takes are the number of sequences at that phase
// modulo the block size. A stretch runs such steps with no per-sequence work until the step whose end would not come
// before the next queued event, the step that completes a sequence, or the step whose blocks the free pool cannot
// cover; then each sequence's tokens, blocks and last token time are brought up to date at once, and the engine goes
// on iteration by iteration from there. The metrics receive the calls stepping would make (the same values in the
// same order, the no-op ones left out), so the outputs are byte-identical (tests/sim/fast_forward_test.cc).
#include <algorithm>
#include <limits>

#include <fmt/format.h>

#include "sim/core/error.h"
#include "sim/core/interrupt.h"
#include "sim/serving/replica.h"

namespace kvsim::serving {

void Replica::next_iteration(SimTime now) {
  if (stretches_ && role_ == Role::kColocated && store_ == nullptr && metrics_.timeline() == nullptr &&
      run_decode_stretch(now)) {
    return;
  }
  start_iteration(now);
}

bool Replica::run_decode_stretch(SimTime now) {
  // The scheduler would decode exactly the running sequences, admit nothing and swap nothing in: no sequence is
  // swapped out or receiving, and the waiting queue is empty or cannot be admitted from (the batch is at
  // max_num_seqs or fills the token budget; a static engine admits only once its batch is done).
  const auto n = static_cast<int64_t>(running_.size());
  if (busy_ || n == 0 || !swapped_.empty() || !receiving_.empty() || !handed_off_.empty()) return false;
  const sim::EngineConfig& e = scenario_.engine;
  if (e.chunked_prefill) {
    if (n > e.max_num_batched_tokens) return false;  // not every sequence fits the step's token budget
    if (!waiting_.empty() && n < e.max_num_seqs && n < e.max_num_batched_tokens) return false;
  } else if (!waiting_.empty() && e.version != "static") {
    return false;
  }
  const SimTime horizon = queue_.next_time();

  // Every running sequence decodes: it produced a token at `now`, holds its KV up to it and grows in closed form.
  const int64_t block = plan_.block_size;
  phase_counts_.assign(static_cast<size_t>(block), 0);
  int64_t context = 0;                                       // KV tokens the running sequences hold
  int64_t steps_left = std::numeric_limits<int64_t>::max();  // until the first of them completes
  int64_t per_block = 0;
  for (uint32_t slot : running_) {
    Seq& s = seqs_[slot];
    if (s.status != Status::kRunning || s.last_token_ns != now || s.computed != s.known() - 1 ||
        s.kv.tokens != s.computed) {
      return false;
    }
    if (s.growth_blocks == 0) s.growth_blocks = policy_->uniform_growth_blocks(s.kv);
    const int64_t g = s.growth_blocks;
    if (g == 0 || (per_block != 0 && g != per_block)) return false;
    per_block = g;
    steps_left = std::min(steps_left, s.record.output_tokens - s.generated);
    context += s.computed;
    ++phase_counts_[static_cast<size_t>(s.computed % block)];
  }

  const int64_t free_blocks = policy_->free_blocks();
  const int64_t used_blocks = policy_->used_blocks(), stored_tokens = policy_->stored_tokens();
  models::BatchShape shape;  // the decode step add_sequence would build: n sequences of one new token each
  shape.num_seqs = shape.num_tokens = shape.num_sampled = n;
  shape.decode_only = true;
  int64_t taken = 0;  // blocks the stretch's steps took
  int64_t steps = 0;  // steps run start to end
  SimTime t = now;
  SimTime last_end = -1;  // the step started but not ended here (its end is an event), or -1
  // Step j (from 1) starts with sequence i holding c_i + j - 1 tokens and grows it by one: a block when c_i + j - 1
  // is a multiple of the block size. The step whose end is not before the next event, or that completes a sequence
  // (j = steps_left), is started here and ended iteration by iteration; a step the pool cannot cover is left whole to
  // the scheduler (it preempts).
  for (int64_t j = 1;; ++j) {
    const int64_t phase = (block - (j - 1) % block) % block;
    const int64_t blocks = per_block * phase_counts_[static_cast<size_t>(phase)];
    if (taken + blocks > free_blocks) break;
    // Each sequence adds c + 1 query-key pairs and KV tokens read (add_sequence with one new token after c cached).
    shape.attn_pairs = shape.kv_read_tokens = static_cast<double>(context + n * j);
    const SimTime step_ns = std::max<SimTime>(cost_.iteration_ns(shape), 1);
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

  // Bring every sequence to the end of the stretch: its tokens, its last token, its blocks (taken at once: the pool's
  // books end where the steps' would), and the last step's token if it started.
  const int64_t grown = last_end >= 0 ? 1 : 0;
  batch_.clear();
  for (uint32_t slot : running_) {
    Seq& s = seqs_[slot];
    if (grown) batch_.push_back({slot, 1});
    s.computed += steps;
    s.generated += steps;
    if (steps > 0) s.last_token_ns = t;
    if (!policy_->grow(s.kv, s.computed + grown)) {
      throw Error(fmt::format("internal: replica {} could not grow request {} to {} tokens after a decode stretch", id_,
                              s.record.id, s.computed + grown));
    }
  }
  if (policy_->used_blocks() != used_blocks + taken ||
      policy_->stored_tokens() != stored_tokens + n * (steps + grown)) {
    throw Error(
        fmt::format("internal: replica {}'s pool holds {} blocks and {} tokens after a decode stretch, the "
                    "steps counted {} and {}",
                    id_, policy_->used_blocks(), policy_->stored_tokens(), used_blocks + taken,
                    stored_tokens + n * (steps + grown)));
  }
  if (steps > 0) {
    queue_.advance_to(t);
    now_ns_ = t;
  }
  if (last_end < 0) {
    start_iteration(t);  // the scheduler takes it from here (a block is missing)
    return true;
  }
  // The last step's start, as start_iteration makes it for a decode-only batch of every running sequence (batch_
  // filled above).
  preempted_this_step_ = false;
  swap_in_blocks_ = swap_out_blocks_ = 0;
  prefill_transient_now_ = 0;
  mark_started(t);
  schedule_end(last_end);
  return true;
}

}  // namespace kvsim::serving
