// A Replica's use of a cluster-wide KV store (replica.h KvStoreClient, sim/scenario.h KvStoreConfig). When a prompt is
// admitted, the blocks past what this replica's prefix cache holds are looked up in the store; those found from the
// first on are loaded when loading them is faster than computing them (load priced) or whenever found (load always).
// A loading request holds its blocks and waits outside the batch (vLLM V1's KV connectors: a request whose blocks load
// asynchronously waits for them, then is scheduled with them computed), so the batch does not stall for it.
// The blocks the policy hands over (evicted, or computed) are written to the store at the next iteration's start.
#include "sim/serving/replica.h"

#include <fmt/format.h>

#include "sim/core/error.h"

namespace kvsim::serving {

void Replica::set_kv_store(KvStoreClient* store, cache::StoreWrites writes, bool priced) {
  store_ = store;
  store_priced_ = priced;
  policy_->set_store_writes(store && policy_->shares_prefixes() ? writes : cache::StoreWrites::kNone);
}

SimTime Replica::prefill_estimate_ns(int64_t from, int64_t prompt) const {
  SimTime total = 0;
  const int64_t chunk = scenario_.engine.max_num_batched_tokens;
  for (int64_t c = from; c < prompt; c += chunk) {
    const int64_t n = std::min(chunk, prompt - c);
    models::BatchShape shape;
    shape.add_sequence(c, n, c + n == prompt, scenario_.model.sliding_window);
    total += cost_.iteration_ns(shape);
  }
  return total;
}

Replica::StoreChoice Replica::choose_store_load(uint32_t slot, int64_t hit) {
  const Seq& s = seqs_[slot];
  StoreChoice c;
  if (!s.kv.has_identity() || !policy_->shares_prefixes()) return c;
  const int64_t bs = plan_.block_size;
  store_keys_.clear();
  for (int64_t i = hit / bs; i < s.kv.findable_tokens() / bs; ++i)
    store_keys_.push_back(policy_->block_identity(s.kv, i));
  c.found = store_keys_.empty() ? 0 : store_->match(store_keys_);
  if (c.found == 0) return c;
  const int64_t prompt = s.known();
  c.recompute_ns = prefill_estimate_ns(hit, prompt) - prefill_estimate_ns(hit + c.found * bs, prompt);
  // Mooncake's Conductor compares the transfer with the prefill it saves (FAST 2025, sec. 5.1). Not priced: the
  // loaded request joins the batch at the next iteration boundary, and holds its blocks while it waits.
  if (!store_priced_ || store_->load_estimate_ns(id_, store_keys_, c.found) < c.recompute_ns) c.load = c.found;
  return c;
}

bool Replica::start_store_load(uint32_t slot, int64_t hit, const StoreChoice& choice) {
  Seq& s = seqs_[slot];
  const int64_t loaded = choice.load * plan_.block_size;
  if (!policy_->grow(s.kv, hit + loaded)) {
    policy_->release(s.kv);  // give the prefix blocks back: it stays in the queue
    s.computed = 0;
    return false;
  }
  metrics_.on_prefix_lookup(hit, s.known());
  const bool first = s.record.admitted_ns < 0;
  if (first) {
    metrics_.on_store_lookup(s.known(), hit, loaded, (choice.found - choice.load) * plan_.block_size);
    s.record.admitted_ns = now_ns_;
  }
  waiting_.pop_front();
  s.status = Status::kReceiving;
  receiving_.emplace(s.record.id, slot);
  store_->load(id_, s.record.id, store_keys_, choice.load, choice.recompute_ns, first, now_ns_);
  return true;
}

void Replica::store_arrived(uint64_t id, SimTime now) {
  const auto it = receiving_.find(id);
  if (it == receiving_.end()) {
    throw Error(fmt::format("replica {}: KV store blocks arrived for request {}, not expected", id_, id));
  }
  const uint32_t slot = it->second;
  receiving_.erase(it);
  Seq& s = seqs_[slot];
  s.computed = s.kv.tokens;
  policy_->on_computed(s.kv, s.computed);
  s.status = Status::kRunning;
  running_.push_back(slot);
  report_state(now);
  wake(now);
}

void Replica::flush_store_writes(SimTime now) {
  store_keys_.clear();
  policy_->take_store_writes(store_keys_);
  if (!store_keys_.empty()) store_->write(id_, store_keys_, now);
}

}  // namespace kvsim::serving
