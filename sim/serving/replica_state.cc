// Replica's bookkeeping beside scheduling: the retention each finished request kept (the quality proxy), the state
// it reports to the metrics after every change, and the invariants `--check-invariants` verifies every iteration.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "sim/cache/quality.h"
#include "sim/core/error.h"
#include "sim/serving/replica.h"

namespace kvsim::serving {

// H2O's budget splits between heavy hitters and recent tokens in the ratio of cache.heavy_ratio to recent_ratio;
// StreamingLLM keeps its sinks and window; a compressed prompt (SnapKV, adaptive) keeps its budget of the prompt and
// every generated token. InfiniGen and Quest read each step only the tokens their selection scores highest: under
// the synthetic attention model those are the sinks, the heavy hitters and the recent tokens, so their attention
// proxy is H2O's for a budget of that size (InfiniGen: max_kv_ratio of the sequence; Quest: token_budget), split
// evenly; their early facts stay retrievable (the full KV is kept and a fact the query attends to scores high
// enough to be read), an assumption.
void Replica::record_retention(Seq& s) const {
  const auto& cache = scenario_.cache;
  const int64_t prompt = s.record.prompt_tokens, output = s.record.output_tokens;
  cache::RetentionSpec spec;
  if (cache.selection != "all") {
    const int64_t selected =
        cache.selection == "pages"
            ? cache.token_budget
            : static_cast<int64_t>(std::ceil(cache.max_kv_ratio * static_cast<double>(prompt + output)));
    // A full host pool made it evict (keep_at_most set): it selects among what is left, and an early fact evicted
    // from the pool is gone; the pool keeps the often-selected tokens, the same ranking as H2O's.
    const int64_t kept = s.kv.keep_at_most > 0 ? s.kv.keep_at_most : prompt + output;
    // H2O's kept set for a budget split evenly between heavy hitters and recent tokens.
    const auto even = [](int64_t budget) { return cache::RetentionSpec{"h2o", budget / 2, budget - budget / 2}; };
    if (cache.selection == "speculative" && cache.alpha && s.kv.keep_at_most == 0) {
      // The threshold's own kept set (quality.h), step by step.
      cache::RetentionSpec threshold;
      threshold.kind = "speculative";
      threshold.alpha = *cache.alpha;
      threshold.cap_ratio = cache.max_kv_ratio;
      s.record.retention_attention = cache::retention_quality(threshold, prompt, output).attention;
    } else {
      s.record.retention_attention = cache::retention_quality(even(std::min(selected, kept)), prompt, output).attention;
    }
    s.record.retention_early_facts =
        s.kv.keep_at_most > 0 ? cache::retention_quality(even(kept), prompt, output).early_facts : 1.0;
    return;
  }
  if (cache.retention == "streaming") {
    spec.kind = "streaming";
    spec.sink_tokens = cache.sink_tokens;
    spec.window_tokens = cache.window_tokens;
  } else if (cache.retention == "h2o") {
    const double total = cache.heavy_ratio + cache.recent_ratio;
    spec.kind = "h2o";
    spec.heavy_tokens =
        total > 0
            ? static_cast<int64_t>(std::llround(static_cast<double>(s.kv.keep_at_most) * cache.heavy_ratio / total))
            : 0;
    spec.recent_tokens = s.kv.keep_at_most - spec.heavy_tokens;
  } else if (s.kv.compress_after > 0) {
    spec.kind = "snapkv";
    spec.heavy_tokens = s.kv.keep_prompt;
  } else {
    return;  // full retention (adaptive kept this one whole)
  }
  const cache::RetentionQuality q = cache::retention_quality(spec, prompt, output);
  s.record.retention_attention = q.attention;
  s.record.retention_early_facts = q.early_facts;
}

void Replica::report_state(SimTime now) {
  metrics_.on_state(now, id_, state_with(policy_->used_blocks(), policy_->stored_tokens()));
}

metrics::ReplicaState Replica::state_with(int64_t used_blocks, int64_t stored_tokens) const {
  metrics::ReplicaState st;
  st.waiting = static_cast<int64_t>(waiting_.size());
  st.running = static_cast<int64_t>(running_.size());
  st.swapped = static_cast<int64_t>(swapped_.size());
  st.kv_blocks_used = used_blocks;
  st.kv_tokens = stored_tokens;
  st.kv_slots = st.kv_blocks_used * plan_.block_size / (plan_.full_groups + plan_.sliding_groups);
  st.kv_hbm_bytes = plan_.gpu_kv_bytes(st.kv_blocks_used);
  st.hbm_used_bytes = plan_.static_bytes() + st.kv_hbm_bytes + prefill_transient_now_;
  st.kv_disk_bytes = plan_.disk_kv_bytes(st.kv_blocks_used);
  st.kv_host_bytes = static_cast<uint64_t>(swap_used_blocks_) * plan_.block_bytes +
                     plan_.host_kv_bytes(st.kv_blocks_used) +
                     static_cast<uint64_t>(policy_->host_tokens()) * plan_.token_layer_bytes *
                         static_cast<uint64_t>(scenario_.model.num_attention_layers());
  return st;
}

// --check-invariants, once per iteration after scheduling: each request's state and holding, then the replica's
// books. A violation names the replica, the time and the request (or, for the pool's books, the requests of the
// iteration that found it).
void Replica::check_invariants(SimTime now) const {
  auto fail = [&](const std::string& who, const std::string& what) {
    throw Error(fmt::format("invariant violated on replica {} at t={:.9f} s ({} ns), {}: {}", id_, ns_to_s(now), now,
                            who, what));
  };
  auto request = [&](uint32_t slot) { return fmt::format("request {}", seqs_[slot].record.id); };
  // Every slot is in exactly one place: waiting, running, swapped out, or free.
  std::vector<uint8_t> seen(seqs_.size(), 0);
  // The statuses a slot may have in each place (bounds checked before its status is read).
  auto place = [&](uint32_t slot, const char* where, Status a, Status b) {
    if (slot >= seqs_.size()) {
      fail(fmt::format("slot {}", slot), fmt::format("{} names a slot that does not exist", where));
    }
    if (seen[slot]++ != 0) fail(request(slot), fmt::format("listed twice (again in {})", where));
    const Status st = seqs_[slot].status;
    if (st != a && st != b) fail(request(slot), fmt::format("in {} with status {}", where, static_cast<int>(st)));
  };
  for (uint32_t slot : waiting_) place(slot, "the waiting queue", Status::kWaiting, Status::kWaiting);
  for (uint32_t slot : running_) place(slot, "the running batch", Status::kRunning, Status::kHeld);
  for (uint32_t slot : swapped_) place(slot, "the swapped-out queue", Status::kSwapped, Status::kSwapped);
  for (uint32_t slot : free_slots_) place(slot, "the free slots", Status::kDone, Status::kDone);
  for (const auto& [id, slot] : receiving_)
    place(slot, "the requests receiving KV", Status::kReceiving, Status::kReceiving);
  for (const auto& [id, slot] : handed_off_)
    place(slot, "the handed-off requests", Status::kHandedOff, Status::kHandedOff);
  for (uint32_t slot = 0; slot < seqs_.size(); ++slot) {
    if (seen[slot] == 0) fail(request(slot), "lost: in no queue and not finished");
  }
  int64_t swapped_blocks = 0;
  // A decode cohort's members as their fields would be (the cohort keeps their sums, the pool their growth).
  std::vector<cache::SeqKv> kvs;
  kvs.reserve(seqs_.size());
  for (uint32_t slot = 0; slot < seqs_.size(); ++slot) {
    const Seq q = current(slot);
    if (q.status == Status::kDone) continue;
    const metrics::RequestRecord& r = q.record;
    // Time runs forward for each request: it arrived, then got its first token, then its last one, by now.
    if (r.arrival_ns > now) fail(request(slot), fmt::format("arrives at {} ns, after now", r.arrival_ns));
    if (r.first_token_ns >= 0 && (r.first_token_ns < r.arrival_ns || r.first_token_ns > q.last_token_ns)) {
      fail(request(slot), fmt::format("first token at {} ns outside [arrival {} ns, last token {} ns]",
                                      r.first_token_ns, r.arrival_ns, q.last_token_ns));
    }
    if (q.last_token_ns > now) fail(request(slot), fmt::format("last token at {} ns, after now", q.last_token_ns));
    if (q.generated > r.output_tokens || q.computed > q.known() || q.computed < 0) {
      fail(request(slot), fmt::format("{} of {} output tokens generated, {} of {} tokens computed", q.generated,
                                      r.output_tokens, q.computed, q.known()));
    }
    if (q.status == Status::kRunning || q.status == Status::kHeld || q.status == Status::kReceiving ||
        q.status == Status::kHandedOff) {
      if (const std::string problem = policy_->check_seq(q.kv); !problem.empty()) fail(request(slot), problem);
      kvs.push_back(q.kv);
    } else if (q.kv.blocks != 0) {
      fail(request(slot), fmt::format("holds {} GPU blocks while {}", q.kv.blocks,
                                      q.status == Status::kWaiting ? "waiting" : "swapped out"));
    }
    if (q.status == Status::kSwapped) swapped_blocks += q.swapped_blocks;
  }
  std::string batch_who = "the iteration of requests";
  for (size_t i = 0; i < batch_.size() && i < 8; ++i) {
    batch_who += fmt::format("{} {}", i == 0 ? "" : ",", seqs_[batch_[i].slot].record.id);
  }
  if (batch_.size() > 8) batch_who += fmt::format(" (+{} more)", batch_.size() - 8);
  for (const Scheduled& b : batch_) {
    const Status st = seqs_[b.slot].status;
    if (st != Status::kRunning && st != Status::kHeld) fail(request(b.slot), "scheduled but not running");
  }
  // The pool's books, and every memory tier within its capacity.
  std::vector<const cache::SeqKv*> holders;
  for (const cache::SeqKv& kv : kvs) holders.push_back(&kv);
  if (const std::string problem = policy_->check(holders); !problem.empty()) fail(batch_who, problem);
  const uint64_t hbm = plan_.static_bytes() + plan_.gpu_kv_bytes(policy_->used_blocks());
  if (hbm > plan_.hbm_bytes) fail(batch_who, fmt::format("HBM use {} above capacity {}", hbm, plan_.hbm_bytes));
  if (swapped_blocks != swap_used_blocks_) {
    fail(batch_who,
         fmt::format("swap space holds {} blocks, swapped-out requests {}", swap_used_blocks_, swapped_blocks));
  }
  if (swap_used_blocks_ > swap_capacity_blocks_ && swap_used_blocks_ > 0) {
    fail(batch_who,
         fmt::format("swap space holds {} blocks, above its capacity of {}", swap_used_blocks_, swap_capacity_blocks_));
  }
  // The host pool and the KV tiers are checked by the policy against their capacities; plan_memory checked that those
  // capacities, the swap space and the host-resident weights of every GPU of a server fit its DRAM together.
  if (static_cast<int64_t>(running_.size() + receiving_.size()) > scenario_.engine.max_num_seqs) {
    fail(batch_who, fmt::format("{} running and {} receiving KV, above max_num_seqs {}", running_.size(),
                                receiving_.size(), scenario_.engine.max_num_seqs));
  }
  int64_t batch_tokens = cohort_.in_flight ? cohort_.size : 0;  // the members' decodes are not in batch_
  for (const Scheduled& b : batch_) batch_tokens += b.new_tokens;
  if (!pytorch_static_ && batch_tokens > scenario_.engine.max_num_batched_tokens) {  // pytorch static: no budget
    fail(batch_who, fmt::format("{} tokens in the batch, above max_num_batched_tokens {}", batch_tokens,
                                scenario_.engine.max_num_batched_tokens));
  }
}

void Replica::check_end_state() const {
  if (outstanding() != 0) {
    throw Error(fmt::format("replica {} ended with {} requests unfinished", id_, outstanding()));
  }
  if (policy_->used_blocks() != 0 ||
      policy_->blocks_allocated() != policy_->blocks_freed() + policy_->cached_blocks()) {
    throw Error(fmt::format("replica {} ended with {} blocks in use ({} allocated, {} freed, {} cached)", id_,
                            policy_->used_blocks(), policy_->blocks_allocated(), policy_->blocks_freed(),
                            policy_->cached_blocks()));
  }
  if (swap_used_blocks_ != 0) throw Error(fmt::format("replica {} ended with swap space in use", id_));
  if (!handed_off_.empty()) {
    throw Error(fmt::format("replica {} ended holding the KV of {} handed-off requests", id_, handed_off_.size()));
  }
}

}  // namespace kvsim::serving
