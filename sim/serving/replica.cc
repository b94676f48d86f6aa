// A Replica's requests before and between iterations (replica.h): admission of an arrival, rejection, the event
// loop with its fast-forward, and preemption to make room; replica_iteration.cc prices and ends each iteration.
#include "sim/serving/replica.h"

#include <algorithm>
#include <cmath>

#include "sim/cache/presets.h"
#include "sim/core/interrupt.h"

namespace kvsim::serving {

Replica::Replica(int64_t id, const sim::Scenario& scenario, const sim::MemoryPlan& plan, const models::CostModel& cost,
                 engine::EventQueue& queue, metrics::Collector& metrics, engine::FlowEngine* flows,
                 std::vector<SwapRoute> routes, std::unique_ptr<cache::CachePolicy> policy)
    : id_(id),
      scenario_(scenario),
      plan_(plan),
      cost_(cost),
      queue_(queue),
      metrics_(metrics),
      flows_(flows),
      routes_(std::move(routes)) {
  policy_ = policy ? std::move(policy)
                   : cache::builtin_policies().make(cache::implementation_for(scenario.cache), scenario, plan_);
  page_selection_ = scenario.cache.selection == "pages";
  pytorch_static_ = scenario.engine.framework == "pytorch";
  whole_batches_ = scenario.engine.version == "hf" || pytorch_static_;
  drops_tokens_ = scenario.cache.retention != "full" || scenario.cache.selection != "all";
  // Analytic stretches where a decode step's shape follows from (sequences, total context) alone and the pool grows
  // by whole blocks (replica_stretch.cc); the policy vets each sequence.
  stretches_ = scenario.engine.fast_forward == sim::FastForward::kAnalytic && !whole_batches_ && !page_selection_ &&
               !plan_.offload && !plan_.kv_on_host && scenario.cache.residual_tokens == 0 &&
               scenario.model.sliding_window == 0 && plan_.streamed_weights_bytes == 0 &&
               cost.config().act_offload_ratio == 0;
  if (scenario.cache.preemption == "swap") {
    swap_capacity_blocks_ = static_cast<int64_t>(scenario.cache.swap_space_bytes / plan_.block_bytes);
  }
}

uint32_t Replica::new_slot() {
  if (!free_slots_.empty()) {
    const uint32_t s = free_slots_.back();
    free_slots_.pop_back();
    return s;
  }
  seqs_.emplace_back();
  return static_cast<uint32_t>(seqs_.size() - 1);
}

uint32_t Replica::make_seq(const traces::Request& request) {
  const uint32_t slot = new_slot();
  Seq& s = seqs_[slot];
  s = Seq{};
  s.record.id = request.id;
  s.record.replica = id_;
  s.record.arrival_ns = request.arrival_ns;
  s.record.prompt_tokens = request.prompt_tokens;
  s.record.output_tokens = request.output_tokens;
  s.kv.prefix_id = request.prefix_id;
  s.kv.prefix_tokens = request.shared_prefix_tokens;
  if (!request.block_hashes.empty() && request.hash_block_tokens > 0) {
    // Chained prefix hashes (Mooncake): the hashed part of the prompt can be found and cached.
    s.kv.block_hashes = std::make_shared<const std::vector<uint64_t>>(request.block_hashes);
    s.kv.hash_block_tokens = request.hash_block_tokens;
    s.kv.identity_tokens =
        std::min(request.prompt_tokens, static_cast<int64_t>(request.block_hashes.size()) * request.hash_block_tokens);
    s.kv.lookup_tokens = std::min(s.kv.identity_tokens, request.prompt_tokens - 1);
  } else if (request.session_id != 0) {
    // A turn of a session: its prompt and output become the next turn's prefix.
    s.kv.session_id = request.session_id;
    s.kv.identity_tokens = request.prompt_tokens + request.output_tokens;
    s.kv.lookup_tokens = request.prompt_tokens - 1;
  }
  const double pool_in_use =
      static_cast<double>(policy_->used_blocks()) / static_cast<double>(std::max<int64_t>(1, policy_->total_blocks()));
  const cache::AdmissionKv kv_shape = cache::admission_kv(scenario_.cache, scenario_.engine.max_model_len,
                                                          request.prompt_tokens, request.output_tokens, pool_in_use);
  s.kv.reserved_tokens = kv_shape.reserved_tokens;
  s.kv.keep_at_most = kv_shape.keep_at_most;
  s.kv.compress_after = kv_shape.compress_after;
  s.kv.keep_prompt = kv_shape.keep_prompt;
  s.kv.extra_blocks = plan_.residual_extra_blocks;
  if (plan_.offload) {
    // InfiniGen fetches each layer's selected K and V rows into a GPU double buffer sized for the largest selection.
    const auto selected = static_cast<uint64_t>(
        std::ceil(scenario_.cache.max_kv_ratio * static_cast<double>(request.prompt_tokens + request.output_tokens)));
    const uint64_t buffer_bytes = 2 * selected * plan_.token_layer_bytes;
    s.kv.extra_blocks += static_cast<int64_t>((buffer_bytes + plan_.block_bytes - 1) / plan_.block_bytes);
  }
  return slot;
}

void Replica::wake(SimTime now) {
  if (!busy_ && !wake_pending_) {
    wake_pending_ = true;
    queue_.schedule(now, this, kWake, 0, engine::kPriorityWake);
  }
}

void Replica::submit(const traces::Request& request, SimTime now) {
  now_ns_ = now;
  const uint32_t slot = make_seq(request);
  metrics_.on_arrival(request.arrival_ns);
  // Like vLLM's OpenAI server: a request whose prompt plus requested output exceeds the context is refused.
  if (request.prompt_tokens + request.output_tokens > scenario_.engine.max_model_len) {
    reject(slot, "max_model_len");
    return;
  }
  // Engines without chunked prefill compute a prompt in one iteration: it must fit the token budget (the pytorch
  // static engine has none).
  if (!scenario_.engine.chunked_prefill && !pytorch_static_ &&
      request.prompt_tokens > scenario_.engine.max_num_batched_tokens) {
    reject(slot, "max_num_batched_tokens");
    return;
  }
  seqs_[slot].status = Status::kWaiting;
  waiting_.push_back(slot);
  report_state(now);
  wake(now);
}

void Replica::reject(uint32_t slot, std::string_view reason) {
  Seq& s = seqs_[slot];
  metrics_.on_reject(s.record, reason);
  s.status = Status::kDone;
  free_slots_.push_back(slot);
  if (on_finished_) on_finished_(s.record.id, now_ns_, 0);
}

void Replica::on_event(SimTime now, uint32_t kind, uint64_t) {
  now_ns_ = now;
  in_event_ = true;
  if (kind == kWake) {
    wake_pending_ = false;
    if (!busy_) start_iteration(now);
  } else if (kind == kIterationEnd) {
    finish_iteration(now);
    next_iteration(now);
  }
  // Fast-forward: iterations that end before any queued event run here, in order, as the queue would run them.
  for (uint64_t n = 1; inline_end_; ++n) {
    const SimTime t = *inline_end_;
    inline_end_.reset();
    queue_.advance_to(t);
    now_ns_ = t;
    finish_iteration(t);
    next_iteration(t);
    if ((n & 4095) == 0) throw_if_interrupted();
  }
  in_event_ = false;
}

void Replica::schedule_end(SimTime end) {
  if (scenario_.engine.fast_forward != sim::FastForward::kOff && in_event_ && flows_pending_ == 0 &&
      end < queue_.next_time()) {
    inline_end_ = end;
    return;
  }
  queue_.schedule(end, this, kIterationEnd, 0, engine::kPriorityIteration);
}

void Replica::preempt(uint32_t slot) {
  Seq& s = seqs_[slot];
  running_.erase(std::find(running_.begin(), running_.end(), slot));
  metrics_.on_preemption();
  ++s.record.preemptions;
  s.growth_blocks = 0;
  preempted_this_step_ = true;
  if (scenario_.cache.preemption == "swap" && s.kv.blocks <= swap_capacity_blocks_ - swap_used_blocks_) {
    // The paper engine copies the blocks to host memory and keeps the computed state.
    s.swapped_blocks = s.kv.blocks;
    swap_used_blocks_ += s.kv.blocks;
    swap_out_blocks_ += s.kv.blocks;
    policy_->release(s.kv);
    s.status = Status::kSwapped;
    swapped_.push_back(slot);
    return;
  }
  // Recompute (also the fallback when swap space is full): drop the KV; prompt and generated tokens are prefilled
  // again when the request is rescheduled. Victims go back to the front of the queue, oldest first.
  policy_->release(s.kv);
  s.computed = 0;
  s.status = Status::kWaiting;
  waiting_.push_front(slot);
}

bool Replica::make_room(uint32_t slot, int64_t tokens) {
  Seq& s = seqs_[slot];
  while (true) {
    if (policy_->grow(s.kv, tokens)) return true;
    // The most recently admitted; an hf batch's finished (held) sequences are not preempted: their output is done.
    auto it = std::find_if(running_.rbegin(), running_.rend(),
                           [this](uint32_t r) { return seqs_[r].status != Status::kHeld; });
    if (it == running_.rend()) return false;
    const uint32_t victim = *it;
    preempt(victim);
    if (victim == slot) return false;
  }
}

}  // namespace kvsim::serving
