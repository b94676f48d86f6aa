#include "sim/serving/replica.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "sim/cache/presets.h"
#include "sim/cache/quality.h"
#include "sim/core/error.h"
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

void Replica::submit(const traces::Request& request, SimTime now) {
  now_ns_ = now;
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
  s.status = Status::kWaiting;
  waiting_.push_back(slot);
  report_state(now);
  if (!busy_ && !wake_pending_) {
    wake_pending_ = true;
    queue_.schedule(now, this, kWake, 0, engine::kPriorityWake);
  }
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
    start_iteration(now);
  }
  // Fast-forward: iterations that end before any queued event run here, in order, as the queue would run them.
  for (uint64_t n = 1; inline_end_; ++n) {
    const SimTime t = *inline_end_;
    inline_end_.reset();
    queue_.advance_to(t);
    now_ns_ = t;
    finish_iteration(t);
    start_iteration(t);
    if ((n & 4095) == 0) throw_if_interrupted();
  }
  in_event_ = false;
}

void Replica::schedule_end(SimTime end) {
  if (scenario_.engine.fast_forward && in_event_ && flows_pending_ == 0 && end < queue_.next_time()) {
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

void Replica::start_iteration(SimTime now) {
  batch_.clear();
  preempted_this_step_ = false;
  swap_in_blocks_ = swap_out_blocks_ = 0;
  while (true) {
    if (scenario_.engine.chunked_prefill) {
      schedule_mixed();
    } else {
      schedule_prefill_first();
    }
    if (!batch_.empty() || waiting_.empty() || !running_.empty() || !swapped_.empty()) break;
    // Nothing runs and the head of the queue still does not fit: it never will.
    const uint32_t head = waiting_.front();
    waiting_.pop_front();
    reject(head, pytorch_static_ && static_limit_ == StaticLimit::kTransient ? "prefill_transient" : "kv_capacity");
  }
  if (batch_.empty()) {
    busy_ = false;
    prefill_transient_now_ = 0;
    report_state(now);
    return;
  }
  models::BatchShape shape;
  shape.decode_only = true;
  const int64_t window = scenario_.model.sliding_window;
  const auto& cache = scenario_.cache;
  int64_t cpu_new_tokens = 0;  // KV entries computed this iteration that reach the host with the CPU's q/k/v
  // Hugging Face generate() and the FlexGen family pad a batch's prompts to the longest (left padding) and keep
  // computing a finished sequence until the longest output ends.
  int64_t pad_prompt = 0;
  priced_.clear();
  if (whole_batches_) {
    for (const Scheduled& b : batch_) pad_prompt = std::max(pad_prompt, b.new_tokens);
    for (uint32_t slot : running_) {
      if (seqs_[slot].status == Status::kHeld) priced_.push_back({slot, 1, true});
    }
  }
  for (const Scheduled& b : batch_) priced_.push_back({b.slot, b.new_tokens, false});
  for (const Priced& b : priced_) {
    const Seq& s = seqs_[b.slot];
    // A held row computes a padding token: priced as a decode that samples nothing.
    const bool samples = !b.held && s.computed + b.new_tokens == s.known();
    const bool decode = b.held || (b.new_tokens == 1 && s.computed > 0);
    // Attention reads the tokens kept: all of them, or an evicting retention's budget, or a compressed prompt, or
    // (offloaded) the tokens a decode step fetched after scoring every token's partial key.
    int64_t cached = s.kv.keep_at_most > 0 ? std::min(s.computed, s.kv.keep_at_most) : s.computed;
    if (s.kv.compress_after > 0 && s.computed > s.kv.compress_after) {
      cached = s.kv.keep_prompt + s.computed - s.kv.compress_after;
    }
    if (cache.residual_tokens > 0) {
      shape.residual_tokens += static_cast<double>(std::min(cached + b.new_tokens, cache.residual_tokens));
    }
    if (plan_.offload) {
      if (decode) {
        shape.partial_key_tokens += static_cast<double>(cached);
        const int64_t cap = static_cast<int64_t>(std::ceil(cache.max_kv_ratio * static_cast<double>(cached)));
        cached = cache.alpha ? std::min(cap, static_cast<int64_t>(std::ceil(cache::speculative_selected_tokens(
                                                 *cache.alpha, cache.max_kv_ratio, cached))))
                             : std::min(cached, cap);
        shape.fetch_tokens += static_cast<double>(cached);
      }
      shape.offload_tokens += static_cast<double>(b.new_tokens);  // new KV goes to the host pool
    }
    if (plan_.kv_on_host) {
      // FlexGen: prefill runs on the GPU and sends its KV to the host; decode attention runs on the CPU, which
      // receives the new token's q, k and v (the cpu_attention op's copies).
      if (decode) {
        shape.add_cpu_sequence(cached, b.new_tokens, samples);
        cpu_new_tokens += b.new_tokens;
        continue;
      }
      shape.offload_tokens += static_cast<double>(b.new_tokens);
    }
    if (page_selection_ && decode && cached > cache.token_budget) {
      // Quest scans every page's key bounds and reads the top pages up to the budget; its dense layers read all.
      shape.page_scan_tokens += static_cast<double>(cached);
      shape.dense_extra_tokens += static_cast<double>(cached - cache.token_budget);
      cached = cache.token_budget;
    }
    // A whole batch's prompts are padded to its longest.
    const int64_t new_tokens = whole_batches_ && !decode ? std::max(b.new_tokens, pad_prompt) : b.new_tokens;
    shape.add_sequence(cached, new_tokens, samples, window);
    shape.decode_only = shape.decode_only && decode;
  }
  // Prefix blocks a tiered placement loaded back for this iteration's admissions come in before the forward pass,
  // one bulk copy per block (the offloading connectors keep a block's layers contiguous in host memory: 2 MiB
  // copies for a 16-token block of an 8B model, vLLM blog on its CPU offloading connector, 2025), after being read
  // from disk if they were there; blocks demoted leave asynchronously, written out as they leave the GPU.
  const cache::TierMoves moves = policy_->take_tier_moves();
  const int64_t loads = moves.host_loads + moves.disk_loads;
  const SimTime tier_ns =
      loads == 0
          ? 0
          : hw::pcie_copy_time(scenario_.hardware, hw::CopyDirection::kHostToDevice, plan_.block_bytes, loads).time_ns +
                transfer_time_ns(static_cast<uint64_t>(moves.disk_loads) * plan_.block_bytes, cache.disk_bytes_per_s);
  metrics_.add_pcie(static_cast<uint64_t>(loads) * plan_.block_bytes,
                    static_cast<uint64_t>(moves.demoted) * plan_.block_bytes);
  metrics_.add_tier_moves(moves.host_loads, moves.disk_loads, moves.demoted);
  metrics_.add_swap_stall(tier_ns);
  prefill_transient_now_ =
      shape.decode_only ? 0 : static_prefill_transient(static_cast<int64_t>(batch_.size()), pad_prompt);
  SimTime compute_ns = std::max<SimTime>(cost_.iteration_ns(shape), 1) + tier_ns;
  if (!warm_) {
    compute_ns += static_cast<SimTime>(std::llround(scenario_.engine.cold_start_ms * kNsPerMs));
    warm_ = true;
  }
  const uint64_t layer_token_bytes =
      plan_.token_layer_bytes * static_cast<uint64_t>(scenario_.model.num_attention_layers());
  // FlexGen sends the new tokens' KV of its host- and disk-resident layers only.
  const double host_share = plan_.kv_on_host ? plan_.kv_share.off_gpu() : 1.0;
  const auto sent_tokens =
      static_cast<uint64_t>(std::llround((shape.offload_tokens + static_cast<double>(cpu_new_tokens)) * host_share));
  // Weights left in host memory cross PCIe once per forward pass (FlexGen streams them layer by layer, once per
  // block of GPU batches); activations kept off the GPU cross once each way per layer.
  const uint64_t activation_bytes =
      cost_.act_offload_layer_bytes(shape) * static_cast<uint64_t>(scenario_.model.num_layers);
  metrics_.add_pcie(
      static_cast<uint64_t>(swap_in_blocks_) * plan_.block_bytes +
          static_cast<uint64_t>(shape.fetch_tokens) * layer_token_bytes + plan_.streamed_weights_bytes +
          activation_bytes,
      static_cast<uint64_t>(swap_out_blocks_) * plan_.block_bytes + sent_tokens * layer_token_bytes + activation_bytes);
  metrics_.on_iteration();
  busy_ = true;
  iteration_start_ = now;
  report_state(now);
  if (scenario_.check_invariants) check_invariants(now);
  // What the timeline shows of this iteration, drawn when its forward pass starts (after any swap lands).
  metrics::Timeline* timeline = metrics_.timeline();
  std::function<void(SimTime)> trace;
  if (timeline) {
    const auto decodes = std::count_if(batch_.begin(), batch_.end(), [this](const Scheduled& b) {
      return b.new_tokens == 1 && seqs_[b.slot].computed > 0;
    });
    const char* kind = decodes == static_cast<int64_t>(batch_.size()) ? "decode" : (decodes == 0 ? "prefill" : "mixed");
    const uint64_t tier_bytes = static_cast<uint64_t>(loads) * plan_.block_bytes;
    const uint64_t overlapped_bytes = static_cast<uint64_t>(shape.fetch_tokens) * layer_token_bytes +
                                      plan_.streamed_weights_bytes + sent_tokens * layer_token_bytes +
                                      2 * activation_bytes;
    trace = [this, timeline, compute_ns, tier_ns, kind, seqs = static_cast<int64_t>(batch_.size()),
             tokens = shape.num_tokens, tier_bytes, overlapped_bytes](SimTime start) {
      timeline->iteration(id_, start, compute_ns, kind, seqs, tokens);
      if (tier_ns > 0) timeline->transfer(id_, start, tier_ns, "prefix tier load", tier_bytes);
      if (overlapped_bytes > 0) timeline->transfer(id_, start, compute_ns, "overlapped KV / weights", overlapped_bytes);
    };
  }
  if ((swap_in_blocks_ > 0 || swap_out_blocks_ > 0) && flows_ && !routes_.empty()) {
    start_swap_flows(now, compute_ns, std::move(trace));
    return;
  }
  // The paper engine swaps before the forward pass, on the same timeline.
  const SimTime swap_ns = swap_time_ns(swap_in_blocks_, hw::CopyDirection::kHostToDevice) +
                          swap_time_ns(swap_out_blocks_, hw::CopyDirection::kDeviceToHost);
  metrics_.add_swap_stall(swap_ns);
  if (timeline && swap_ns > 0) {
    timeline->transfer(id_, now, swap_ns, "swap",
                       static_cast<uint64_t>(swap_in_blocks_ + swap_out_blocks_) * plan_.block_bytes);
  }
  if (trace) trace(now + swap_ns);
  schedule_end(now + swap_ns + compute_ns);
}

void Replica::finish_iteration(SimTime now) {
  int64_t itl_count = 0;
  SimTime itl_value = -1;
  bool any_done = false;
  int64_t tokens = 0;
  for (const Scheduled& b : batch_) {
    Seq& s = seqs_[b.slot];
    s.computed += b.new_tokens;
    if (s.kv.has_identity()) policy_->on_computed(s.kv, s.computed);
    if (s.computed < s.known()) continue;  // a prefill chunk that produced no token
    ++s.generated;
    ++tokens;
    if (s.record.first_token_ns < 0) {
      s.record.first_token_ns = now;
    } else {
      const SimTime itl = now - s.last_token_ns;
      if (itl != itl_value) {
        metrics_.add_itl(itl_value, itl_count);
        itl_value = itl;
        itl_count = 0;
      }
      ++itl_count;
    }
    s.last_token_ns = now;
    if (s.generated == s.record.output_tokens) {
      if (whole_batches_) {
        s.status = Status::kHeld;  // returned with the whole batch
        continue;
      }
      complete(b.slot, now);
      any_done = true;
    }
  }
  if (whole_batches_ && !running_.empty() && std::all_of(running_.begin(), running_.end(), [this](uint32_t slot) {
        return seqs_[slot].status == Status::kHeld;
      })) {
    for (uint32_t slot : running_) complete(slot, now);
    any_done = true;
  }
  metrics_.add_itl(itl_value, itl_count);
  metrics_.on_output_tokens(now, tokens);
  if (any_done) {
    std::erase_if(running_, [this](uint32_t slot) { return seqs_[slot].status == Status::kDone; });
  }
  busy_ = false;
  prefill_transient_now_ = 0;
  batch_.clear();
}

void Replica::complete(uint32_t slot, SimTime now) {
  Seq& s = seqs_[slot];
  s.record.finish_ns = now;
  if (scenario_.check_invariants &&
      !(s.record.arrival_ns <= s.record.first_token_ns && s.record.first_token_ns <= now)) {
    throw Error(
        fmt::format("invariant violated on replica {} at t={:.9f} s ({} ns), request {}: finishes with arrival {} "
                    "ns, first token {} ns",
                    id_, ns_to_s(now), now, s.record.id, s.record.arrival_ns, s.record.first_token_ns));
  }
  if (drops_tokens_) record_retention(s);
  policy_->release(s.kv);
  s.status = Status::kDone;
  metrics_.on_complete(s.record);
  free_slots_.push_back(slot);
  if (on_finished_) on_finished_(s.record.id, now, s.record.output_tokens);
}

}  // namespace kvsim::serving
