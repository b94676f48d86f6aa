// The two scheduling disciplines of Replica (see replica.h).
#include <algorithm>

#include "models/memory_footprint.h"
#include "sim/serving/replica.h"

namespace kvsim::serving {

// vLLM V1 (vllm/v1/core/sched/scheduler.py): running requests first, each taking what it still needs (one token
// for a decode, the rest of its prompt for a chunked prefill) within the token budget; when the pool is full the
// most recently admitted request is preempted by recompute. New requests are admitted FCFS only when nothing was
// preempted in this step, with their prompt chunked to the remaining budget.
// Also the v0 engine with chunked prefill on (decodes first, then swapped, then new prefills).
void Replica::schedule_mixed() {
  int64_t budget = scenario_.engine.max_num_batched_tokens;
  for (size_t i = 0; i < running_.size() && budget > 0;) {
    const uint32_t slot = running_[i];
    Seq& s = seqs_[slot];
    const int64_t n = std::min(s.known() - s.computed, budget);
    if (!make_room(slot, s.computed + n)) break;  // the request itself was preempted
    batch_.push_back({slot, n});
    budget -= n;
    ++i;
  }
  if (preempted_this_step_) return;
  while (!swapped_.empty() && budget > 0 && try_swap_in()) {
    budget -= 1;
  }
  admit_waiting(budget);
}

void Replica::admit_waiting(int64_t budget) {
  const int64_t max_seqs = scenario_.engine.max_num_seqs;
  while (!waiting_.empty() && budget > 0 && static_cast<int64_t>(running_.size() + receiving_.size()) < max_seqs) {
    const uint32_t slot = waiting_.front();
    if (seqs_[slot].remote) {  // computed on a prefill replica: its blocks now, its first token once the KV is here
      if (!admit_remote(slot)) break;
      continue;
    }
    const size_t scheduled = batch_.size();
    if (!admit(slot, budget, false)) break;
    if (batch_.size() > scheduled) budget -= batch_.back().new_tokens;  // else it loads its prefix from the KV store
  }
}

// The vLLM paper's engine (V0 scheduler, chunked prefill off): when requests wait and none is swapped out, run a
// prefill-only iteration of whole prompts admitted FCFS (keeping a 1 % watermark of free blocks); otherwise decode
// every running request, preempting the most recently admitted (by swap or recompute) when a block is missing,
// then swap requests back in if nothing was preempted. The static engine of FlexGen-based systems (FlexGen, H2O,
// InfiniGen) is the same except that a new batch is admitted only once every request of the last one finished.
void Replica::schedule_prefill_first() {
  const int64_t watermark = policy_->total_blocks() / 100;  // vLLM V0 watermark = 0.01
  int64_t budget = scenario_.engine.max_num_batched_tokens;
  const int64_t max_seqs = scenario_.engine.max_num_seqs;
  // The static engine (FlexGen) forms a batch only when the previous one has finished.
  const bool admit_new = (scenario_.engine.version != "static" && !whole_batches_) || running_.empty();
  if (pytorch_static_ && admit_new && !waiting_.empty()) {
    form_static_batch();
    if (!batch_.empty()) return;
  } else if (swapped_.empty() && admit_new) {
    while (!waiting_.empty() && static_cast<int64_t>(running_.size()) < max_seqs) {
      const uint32_t slot = waiting_.front();
      const Seq& s = seqs_[slot];
      const int64_t need = policy_->blocks_needed(s.kv, s.known());
      if (policy_->free_blocks() - need < watermark && !running_.empty()) break;
      if (!admit(slot, budget, true)) break;
      budget -= batch_.back().new_tokens;
    }
    if (!batch_.empty()) return;
  }
  // Decode iteration. Iterate over a snapshot (a member, reused): preemption removes victims from the back of running_.
  order_.assign(running_.begin(), running_.end());
  for (uint32_t slot : order_) {
    Seq& s = seqs_[slot];
    if (s.status != Status::kRunning) continue;  // preempted as a victim earlier in this loop, or held (hf)
    if (!make_room(slot, s.computed + 1)) continue;
    batch_.push_back({slot, 1});
  }
  if (preempted_this_step_) return;
  while (!swapped_.empty() && static_cast<int64_t>(running_.size()) < max_seqs && try_swap_in()) {
  }
}

// The FlexGen family's batch (FlexGen, H2O's and InfiniGen's released code: generate() takes gpu_batch_size x
// num_gpu_batches prompts, allocates their KV for the whole run and prefills them together, one GPU batch at a time
// inside each layer): up to max_num_seqs whole prompts, FCFS, while their KV at its final length (prompt + output, as
// the released code allocates it for the whole run; a paged pool grows into what was promised) fits the pool and the
// prefill transient of one GPU batch (rows x heads x longest prompt^2 scores, models::prefill_transient_bytes) fits
// the GPU memory that KV leaves. No token budget. Which limit ended the batch is counted (summary
// static_batch_limits).
void Replica::form_static_batch() {
  const sim::EngineConfig& e = scenario_.engine;
  const int64_t gbs = scenario_.cache.gpu_batch_size;
  int64_t longest = 0;
  int64_t promised = 0;  // blocks the admitted sequences will still grow into
  static_limit_ = StaticLimit::kQueue;
  while (!waiting_.empty()) {
    if (static_cast<int64_t>(running_.size()) >= e.max_num_seqs) {
      static_limit_ = StaticLimit::kMaxSeqs;
      break;
    }
    const uint32_t slot = waiting_.front();
    const Seq& s = seqs_[slot];
    const int64_t n = static_cast<int64_t>(running_.size()) + 1;
    const int64_t rows = gbs > 0 ? std::min(gbs, n) : n;
    const int64_t prompt = std::max(longest, s.known());
    const int64_t need_now = policy_->blocks_needed(s.kv, s.known());
    const int64_t need = policy_->blocks_needed(s.kv, s.record.prompt_tokens + s.record.output_tokens);
    if (need + promised > policy_->free_blocks()) {
      static_limit_ = StaticLimit::kKv;
      break;
    }
    const uint64_t room = plan_.spare_gpu_bytes + plan_.gpu_kv_bytes(policy_->free_blocks() - need - promised);
    if (models::prefill_transient_bytes(scenario_.model, rows, prompt, e.prefill_score_bytes, scenario_.dtype,
                                        static_cast<int>(scenario_.cluster.tensor_parallel)) > room) {
      static_limit_ = StaticLimit::kTransient;
      break;
    }
    if (!admit(slot, s.known(), true)) {
      static_limit_ = StaticLimit::kKv;
      break;
    }
    promised += need - need_now;
    longest = prompt;
  }
  if (!batch_.empty()) metrics_.on_static_batch(static_cast<int64_t>(batch_.size()), static_limit_name(static_limit_));
}

uint64_t Replica::static_prefill_transient(int64_t prefill_seqs, int64_t padded_prompt) const {
  if (!pytorch_static_ || prefill_seqs == 0) return 0;
  const int64_t gbs = scenario_.cache.gpu_batch_size;
  return models::prefill_transient_bytes(scenario_.model, gbs > 0 ? std::min(gbs, prefill_seqs) : prefill_seqs,
                                         padded_prompt, scenario_.engine.prefill_score_bytes, scenario_.dtype,
                                         static_cast<int>(scenario_.cluster.tensor_parallel));
}

const char* static_limit_name(StaticLimit limit) {
  switch (limit) {
    case StaticLimit::kQueue:
      return "queue";
    case StaticLimit::kMaxSeqs:
      return "max_num_seqs";
    case StaticLimit::kKv:
      return "kv_pool";
    case StaticLimit::kTransient:
      return "prefill_transient";
  }
  return "queue";
}

// Take the head of the queue: reuse its cached prefix blocks (prefix caching), then allocate for the tokens it
// computes now, at most `max_new_tokens` (`whole`: all of them or none, for engines without chunked prefill).
bool Replica::admit(uint32_t slot, int64_t max_new_tokens, bool whole) {
  Seq& s = seqs_[slot];
  const int64_t hit = policy_->acquire_cached_prefix(s.kv);
  s.computed = hit;
  StoreChoice store;
  if (store_ && !whole) {
    store = choose_store_load(slot, hit);
    if (store.load > 0) return start_store_load(slot, hit, store);
  }
  const int64_t remaining = s.known() - s.computed;
  const int64_t n = std::min(remaining, max_new_tokens);
  if ((whole && n < remaining) || !policy_->grow(s.kv, s.computed + n)) {
    policy_->release(s.kv);  // give the prefix blocks back: it stays in the queue
    s.computed = 0;
    return false;
  }
  metrics_.on_prefix_lookup(hit, s.known());
  if (s.record.admitted_ns < 0) {
    if (store_) metrics_.on_store_lookup(s.known(), hit, 0, store.found * plan_.block_size);
    s.record.admitted_ns = now_ns_;
  }
  waiting_.pop_front();
  s.status = Status::kRunning;
  running_.push_back(slot);
  batch_.push_back({slot, n});
  return true;
}

// Bring the oldest swapped-out request back when its blocks (plus one token of growth) fit; it decodes in this
// iteration.
bool Replica::try_swap_in() {
  const uint32_t slot = swapped_.front();
  Seq& s = seqs_[slot];
  const int64_t tokens = s.computed + 1;
  if (!policy_->grow(s.kv, tokens)) return false;  // grow changes nothing when the pool cannot hold it
  swapped_.pop_front();
  swap_used_blocks_ -= s.swapped_blocks;
  swap_in_blocks_ += s.swapped_blocks;
  s.swapped_blocks = 0;
  s.status = Status::kRunning;
  running_.push_back(slot);
  batch_.push_back({slot, 1});
  return true;
}

}  // namespace kvsim::serving
