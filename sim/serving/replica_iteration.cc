// One iteration of a Replica (replica.h): the batch the scheduler picked priced by the cost model (with the KV each
// sequence reads, the tier loads, PCIe traffic and swap before the forward pass), then its end: tokens emitted,
// inter-token latencies, and the requests it completes.
#include <algorithm>
#include <cmath>
#include <functional>
#include <utility>

#include <fmt/format.h>

#include "sim/cache/quality.h"
#include "sim/core/error.h"
#include "sim/serving/replica.h"

namespace kvsim::serving {

void Replica::start_iteration(SimTime now) {
  settle();
  batch_.clear();
  preempted_this_step_ = false;
  swap_in_blocks_ = swap_out_blocks_ = 0;
  while (true) {
    if (scenario_.engine.chunked_prefill) {
      schedule_mixed();
    } else {
      schedule_prefill_first();
    }
    if (!batch_.empty() || waiting_.empty() || !running_.empty() || !swapped_.empty() || !receiving_.empty() ||
        !handed_off_.empty()) {
      break;
    }
    // Nothing runs, no block is held for a transfer, and the head of the queue still does not fit: it never will.
    const uint32_t head = waiting_.front();
    waiting_.pop_front();
    reject(head, pytorch_static_ && static_limit_ == StaticLimit::kTransient ? "prefill_transient" : "kv_capacity");
  }
  if (store_) flush_store_writes(now);
  if (batch_.empty()) {
    busy_ = false;
    prefill_transient_now_ = 0;
    report_state(now);
    return;
  }
  models::BatchShape shape;
  shape.decode_only = true;
  int64_t pad_prompt = 0;
  const int64_t cpu_new_tokens = price_rows(shape, pad_prompt);
  launch_iteration(now, shape, cpu_new_tokens, pad_prompt);
}

int64_t Replica::price_rows(models::BatchShape& shape, int64_t& pad_prompt) {
  const int64_t window = scenario_.model.sliding_window;
  const auto& cache = scenario_.cache;
  int64_t cpu_new_tokens = 0;  // KV entries computed this iteration that reach the host with the CPU's q/k/v
  // Hugging Face generate() and the FlexGen family pad a batch's prompts to the longest (left padding) and keep
  // computing a finished sequence until the longest output ends.
  pad_prompt = 0;
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
        cached = speculative_fetch_tokens(cached);
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
  return cpu_new_tokens;
}

int64_t Replica::speculative_fetch_tokens(int64_t cached) {
  const auto& cache = scenario_.cache;
  const auto fetched = [&] {
    const int64_t cap = static_cast<int64_t>(std::ceil(cache.max_kv_ratio * static_cast<double>(cached)));
    return cache.alpha ? std::min(cap, static_cast<int64_t>(std::ceil(cache::speculative_selected_tokens(
                                           *cache.alpha, cache.max_kv_ratio, cached))))
                       : std::min(cached, cap);
  };
  constexpr int64_t kMemoTokens = int64_t{1} << 20;
  if (cached < 0 || cached >= kMemoTokens) return fetched();
  if (cached >= static_cast<int64_t>(speculative_fetch_.size())) {
    const int64_t doubled = 2 * static_cast<int64_t>(speculative_fetch_.size());
    speculative_fetch_.resize(static_cast<size_t>(std::min(kMemoTokens, std::max(cached + 1, doubled))), -1);
  }
  int64_t& cell = speculative_fetch_[static_cast<size_t>(cached)];
  if (cell < 0) cell = fetched();
  return cell;
}

void Replica::launch_iteration(SimTime now, const models::BatchShape& shape, int64_t cpu_new_tokens,
                               int64_t pad_prompt) {
  const auto& cache = scenario_.cache;
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
  if (hooks_.last_chunk) {  // prefill role, layer-wise transfer: the prompts this iteration completes
    for (const Scheduled& b : batch_) {
      const Seq& s = seqs_[b.slot];
      if (s.computed + b.new_tokens == s.known()) hooks_.last_chunk(s.record, b.new_tokens, now);
    }
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
  mark_started(now);
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

void Replica::mark_started(SimTime now) {
  metrics_.on_iteration();
  busy_ = true;
  iteration_start_ = now;
  report_state(now);
  if (scenario_.check_invariants) check_invariants(now);
}

void Replica::finish_iteration(SimTime now) {
  if (cohort_.in_flight) {
    finish_cohort_step(now);
    return;
  }
  finish_rows(now, -1, 0, false, 0);
}

void Replica::finish_rows(SimTime now, SimTime itl_value, int64_t itl_count, bool any_done, int64_t tokens) {
  for (const Scheduled& b : batch_) {
    Seq& s = seqs_[b.slot];
    s.computed += b.new_tokens;
    if (s.kv.has_identity()) policy_->on_computed(s.kv, s.computed);
    if (s.computed < s.known()) continue;  // a prefill chunk that produced no token
    if (role_ == Role::kPrefill) {         // its first token comes from the decode side
      hand_off(b.slot, now);
      any_done = true;
      continue;
    }
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
    std::erase_if(running_, [this](uint32_t slot) {
      return seqs_[slot].status == Status::kDone || seqs_[slot].status == Status::kHandedOff;
    });
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
