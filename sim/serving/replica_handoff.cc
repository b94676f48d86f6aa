// A Replica's part in disaggregated serving (replica.h Role): the prefill side hands a computed prompt's KV over and
// holds it until released; the decode side admits a prompt computed elsewhere by allocating its blocks (back-pressure:
// it stays queued while they do not fit, and the prefill side keeps holding its KV), then decodes once it arrived.
#include <fmt/format.h>

#include "sim/core/error.h"
#include "sim/serving/replica.h"

namespace kvsim::serving {

void Replica::set_role(Role role, KvHandoff hooks) {
  role_ = role;
  hooks_ = std::move(hooks);
}

void Replica::submit_prefilled(const traces::Request& request, const metrics::RequestRecord& record, SimTime now) {
  now_ns_ = now;
  const uint32_t slot = make_seq(request);
  Seq& s = seqs_[slot];
  s.record = record;
  s.record.replica = id_;
  s.remote = true;
  s.status = Status::kWaiting;
  waiting_.push_back(slot);
  report_state(now);
  wake(now);
}

bool Replica::admit_remote(uint32_t slot) {
  Seq& s = seqs_[slot];
  // Blocks the local prefix cache already holds need not come over (vLLM's NixlConnector reads only the rest).
  const int64_t hit = policy_->acquire_cached_prefix(s.kv);
  if (!policy_->grow(s.kv, s.record.prompt_tokens)) {
    policy_->release(s.kv);
    return false;
  }
  s.computed = hit;
  waiting_.pop_front();
  s.status = Status::kReceiving;
  receiving_.emplace(s.record.id, slot);
  hooks_.admitted(s.record.id, s.record.prompt_tokens - hit, now_ns_);
  return true;
}

void Replica::kv_arrived(uint64_t id, SimTime now) {
  const auto it = receiving_.find(id);
  if (it == receiving_.end()) throw Error(fmt::format("replica {}: KV arrived for request {}, not expected", id_, id));
  const uint32_t slot = it->second;
  receiving_.erase(it);
  Seq& s = seqs_[slot];
  s.remote = false;  // a later preemption recomputes it here
  s.computed = s.record.prompt_tokens - 1;
  if (s.kv.has_identity()) policy_->on_computed(s.kv, s.computed);
  s.status = Status::kRunning;
  running_.push_back(slot);
  report_state(now);
  wake(now);
}

void Replica::hand_off(uint32_t slot, SimTime now) {
  Seq& s = seqs_[slot];
  s.status = Status::kHandedOff;
  handed_off_.emplace(s.record.id, slot);
  hooks_.prefilled(s.record, now);
}

void Replica::release_kv(uint64_t id, SimTime now) {
  const auto it = handed_off_.find(id);
  if (it == handed_off_.end()) throw Error(fmt::format("replica {}: request {} holds no KV here", id_, id));
  const uint32_t slot = it->second;
  handed_off_.erase(it);
  Seq& s = seqs_[slot];
  policy_->release(s.kv);
  s.status = Status::kDone;
  free_slots_.push_back(slot);
  report_state(now);
  if (!waiting_.empty()) wake(now);
}

}  // namespace kvsim::serving
