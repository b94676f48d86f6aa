// One model replica running continuous batching (Orca / vLLM): each iteration the scheduler picks running decodes
// and new prefills under max_num_seqs and max_num_batched_tokens, asks the cache policy for room, preempts when it
// must, and asks the cost model for the iteration's duration; the iteration's end is one event.
// engine v1 schedules as vLLM V1 (chunked prefill, decodes first, recompute preemption); v0 as the vLLM paper's
// engine (prefill-only iterations, swap or recompute, victim = most recently admitted).
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "hw/transfer.h"
#include "models/cost_model.h"
#include "sim/cache/cache_policy.h"
#include "sim/engine/event_queue.h"
#include "sim/engine/flow_engine.h"
#include "sim/metrics/collector.h"
#include "sim/scenario.h"
#include "sim/serving/memory_plan.h"
#include "traces/request.h"

namespace kvsim::serving {

// The host<->GPU routes of one GPU of a replica over its node's topology, for swap traffic.
struct SwapRoute {
  std::vector<hw::FlowHop> host_to_gpu, gpu_to_host;
};

// Time to copy `blocks` KV blocks of `plan` over PCIe as vLLM's V0 engine swaps them: one copy per block per layer
// for K and for V, so small blocks pay the per-copy latency many times.
SimTime swap_copy_ns(const hw::HardwareProfile& hardware, const sim::MemoryPlan& plan, int64_t blocks,
                     hw::CopyDirection direction);

// What ended a static batch's formation: the queue ran empty, max_num_seqs, the KV pool, or the prefill transient.
enum class StaticLimit : uint8_t { kQueue, kMaxSeqs, kKv, kTransient };
const char* static_limit_name(StaticLimit limit);

// Disaggregated serving (sim/serving/disaggregation.h): a prefill replica computes prompts and holds each one's KV
// until the decode side has it; a decode replica admits a prompt computed elsewhere by allocating its blocks, then
// waits for its KV before decoding it.
enum class Role : uint8_t { kColocated, kPrefill, kDecode };
struct KvHandoff {
  // Prefill: the prompt of `record`'s request was computed at `now`; its KV stays held until release_kv().
  std::function<void(const metrics::RequestRecord& record, SimTime now)> prefilled;
  // Prefill, layer-wise transfer (optional): the iteration computing the prompt's last `chunk_tokens` starts at
  // `start`.
  std::function<void(const metrics::RequestRecord& record, int64_t chunk_tokens, SimTime start)> last_chunk;
  // Decode: blocks for the prompt were allocated at `now`; `tokens` of it (those not found in this replica's prefix
  // cache) must come over. kv_arrived() when they have.
  std::function<void(uint64_t id, int64_t tokens, SimTime now)> admitted;
};

// A cluster-wide KV store (sim/serving/kv_store_service.h) as a replica uses it. Keys are the cache policy's block
// identities.
class KvStoreClient {
 public:
  virtual ~KvStoreClient() = default;
  // How many of `keys` (a prompt's next blocks, in order) the store holds, counted from the first.
  virtual int64_t match(const std::vector<uint64_t>& keys) = 0;
  // Time to bring the first `blocks` of `keys` to replica `replica`'s GPUs if the transfer started now.
  virtual SimTime load_estimate_ns(int64_t replica, const std::vector<uint64_t>& keys, int64_t blocks) = 0;
  // Start bringing them for request `id`, whose prefill they save `recompute_ns` of (as priced; `first`: at its
  // first admission, before its first token); the replica's store_arrived(id) follows.
  virtual void load(int64_t replica, uint64_t id, const std::vector<uint64_t>& keys, int64_t blocks,
                    SimTime recompute_ns, bool first, SimTime now) = 0;
  // Write these blocks of replica `replica` to the store.
  virtual void write(int64_t replica, const std::vector<uint64_t>& keys, SimTime now) = 0;
};

class Replica final : public engine::EventHandler {
 public:
  // `flows` carries swap traffic over `routes` (one per GPU of the tensor-parallel group), sharing links with the
  // other replicas of the node; null means each replica has the link to itself.
  // `policy` replaces the scenario's cache policy (tests inject faults through it); null builds the scenario's.
  Replica(int64_t id, const sim::Scenario& scenario, const sim::MemoryPlan& plan, const models::CostModel& cost,
          engine::EventQueue& queue, metrics::Collector& metrics, engine::FlowEngine* flows = nullptr,
          std::vector<SwapRoute> routes = {}, std::unique_ptr<cache::CachePolicy> policy = nullptr);

  // A request routed here at `now`.
  void submit(const traces::Request& request, SimTime now);
  void set_role(Role role, KvHandoff hooks);
  // Decode role: `request`, whose prompt a prefill replica computed (`record`: its times so far), waits here for
  // blocks.
  void submit_prefilled(const traces::Request& request, const metrics::RequestRecord& record, SimTime now);
  // Decode role: the request's KV arrived at `now`; it decodes from the next iteration (recomputing the prompt's
  // last token for its logits, as vLLM's scheduler does when the whole prompt is already computed).
  void kv_arrived(uint64_t id, SimTime now);
  // Prefill role: the request's KV is no longer needed here (the decode side has it, or the request ended).
  void release_kv(uint64_t id, SimTime now);
  // A cluster-wide KV store: `writes` says which prefix blocks go to it; with `priced`, a prompt loads the blocks it
  // finds there only when that is faster than computing them (else whenever it finds any).
  void set_kv_store(KvStoreClient* store, cache::StoreWrites writes, bool priced);
  // The blocks a request was loading from the store are on the GPU at `now`: its prefill goes on from them.
  void store_arrived(uint64_t id, SimTime now);
  void on_event(SimTime now, uint32_t kind, uint64_t payload) override;

  // Requests waiting, running, swapped out or receiving their KV (not those handed off to a decode replica).
  int64_t outstanding() const {
    return static_cast<int64_t>(waiting_.size() + running_.size() + swapped_.size() + receiving_.size());
  }
  int64_t free_kv_blocks() const { return policy_->free_blocks(); }
  int64_t analytic_steps() const { return analytic_steps_; }  // iterations run in decode stretches
  // Iterations started from the decode cohort's sums (a stretch's last step, an arrival's iteration).
  int64_t cohort_iterations() const { return cohort_iterations_; }
  // Called with a request's id and time when it completes or is rejected (closed-loop sessions).
  // Called when a request leaves: its id, the time, and the tokens it generated (0 when rejected).
  void set_on_finished(std::function<void(uint64_t, SimTime, int64_t)> f) { on_finished_ = std::move(f); }
  // Throws kvsim::Error when the end state breaks conservation (blocks held, requests left).
  void check_end_state() const;

 private:
  enum EventKind : uint32_t { kWake = 1, kIterationEnd = 2 };
  // kHeld: an hf batch's sequence whose output is complete; it stays in the batch, computing padding, until the
  // batch's longest output ends (generate() returns the whole batch at once).
  // kReceiving: a decode replica's request holding blocks while its KV comes over; kHandedOff: a prefill replica's
  // request whose KV is held for the decode side.
  enum class Status : uint8_t { kWaiting, kRunning, kSwapped, kHeld, kDone, kReceiving, kHandedOff };

  struct Seq {
    metrics::RequestRecord record;
    int64_t computed = 0;   // tokens whose KV is in the cache
    int64_t generated = 0;  // output tokens produced
    cache::SeqKv kv;
    int64_t swapped_blocks = 0;
    SimTime last_token_ns = -1;
    Status status = Status::kWaiting;
    bool remote = false;  // decode role: its prompt's KV comes from a prefill replica
    // Analytic stretches: the blocks the policy said it takes per block of growth (uniform_growth_blocks), 0 until
    // asked; kept while it runs (growth keeps a sequence uniform), cleared when preempted.
    int64_t growth_blocks = 0;
    // A member of the decode cohort (replica_cohort.cc): the cohort's clock when its fields were last written, -1
    // when not a member. A member's true state is its fields advanced by the clock's steps since.
    int64_t cohort_base = -1;
    int64_t known() const { return record.prompt_tokens + generated; }
  };
  struct Scheduled {
    uint32_t slot;
    int64_t new_tokens;
  };

  void start_iteration(SimTime now);
  // The books of an iteration starting at `now` with batch_ priced: counted, busy, its state reported and checked.
  void mark_started(SimTime now);
  // The scheduled rows added to `shape` (and a whole batch's held rows, padded to its longest prompt `pad_prompt`);
  // returns the KV entries computed this iteration that reach the host with the CPU's q/k/v.
  int64_t price_rows(models::BatchShape& shape, int64_t& pad_prompt);
  // The priced iteration's transfers, time and start; its end scheduled.
  void launch_iteration(SimTime now, const models::BatchShape& shape, int64_t cpu_new_tokens, int64_t pad_prompt);
  void finish_iteration(SimTime now);
  // batch_'s rows ended at `now`, after rows already counted (a run of `itl_count` gaps of `itl_value`, `tokens`
  // tokens, `any_done`: one of them completed).
  void finish_rows(SimTime now, SimTime itl_value, int64_t itl_count, bool any_done, int64_t tokens);
  void schedule_mixed();               // v1, and v0 with chunked prefill
  void admit_waiting(int64_t budget);  // schedule_mixed's admissions from the queue, FCFS within `budget` tokens
  void schedule_prefill_first();       // v0 without chunked prefill, and the static engines
  void form_static_batch();            // the pytorch static engine's batch (FlexGen family)
  // Make room for `slot` to hold `tokens` KV entries, preempting from the back of running_; false when `slot`
  // itself had to be preempted.
  bool make_room(uint32_t slot, int64_t tokens);
  // Admit the head of the queue for `new_tokens` (after prefix-cache hits); false when its blocks do not fit.
  bool admit(uint32_t slot, int64_t max_new_tokens, bool whole);
  // Decode role: give the head of the queue (computed elsewhere) blocks for its prompt; false when they do not fit.
  bool admit_remote(uint32_t slot);
  // KV store (replica_store.cc): the head of the queue, holding `hit` tokens of its prefix cache, finds its next
  // blocks in the store. `load`: blocks to load (0: compute them), `found`: blocks found, `recompute_ns`: what
  // loading them saves of its prefill, as priced.
  struct StoreChoice {
    int64_t load = 0, found = 0;
    SimTime recompute_ns = 0;
  };
  StoreChoice choose_store_load(uint32_t slot, int64_t hit);
  // Allocate for the loaded blocks and start the load; false (nothing held) when they do not fit.
  bool start_store_load(uint32_t slot, int64_t hit, const StoreChoice& choice);
  // Time to compute tokens [from, prompt) of a prompt alone, in chunks of max_num_batched_tokens.
  SimTime prefill_estimate_ns(int64_t from, int64_t prompt) const;
  void flush_store_writes(SimTime now);
  // Prefill role: the prompt of `slot` is computed; hold its KV for the decode side.
  void hand_off(uint32_t slot, SimTime now);
  uint32_t make_seq(const traces::Request& request);  // a slot holding a new sequence for `request`
  void wake(SimTime now);                             // start an iteration at `now` unless one runs
  void preempt(uint32_t slot);
  bool try_swap_in();
  void reject(uint32_t slot, std::string_view reason);
  SimTime swap_time_ns(int64_t blocks, hw::CopyDirection direction) const;
  // Start this iteration's swap copies as flows; the iteration's compute follows when the last one lands.
  void start_swap_flows(SimTime now, SimTime compute_ns, std::function<void(SimTime)> trace);
  void record_retention(Seq& s) const;  // quality proxy of an evicting retention, at completion
  void complete(uint32_t slot, SimTime now);
  void report_state(SimTime now);
  // The state report_state sends, with the pool's books at these values (an analytic stretch's steps).
  metrics::ReplicaState state_with(int64_t used_blocks, int64_t stored_tokens) const;
  // After an iteration's end at `now`: advance an analytic decode stretch or price the next iteration from the
  // decode cohort where one applies (replica_stretch.cc), else start the next iteration.
  void next_iteration(SimTime now);
  // The cohort's decode-only steps from `now` run in closed form and the next iteration started; false (nothing
  // changed) when the batch is not such a stretch.
  bool run_decode_stretch(SimTime now);
  void check_invariants(SimTime now) const;
  uint32_t new_slot();

  int64_t id_;
  const sim::Scenario& scenario_;
  sim::MemoryPlan plan_;
  const models::CostModel& cost_;
  engine::EventQueue& queue_;
  metrics::Collector& metrics_;
  std::unique_ptr<cache::CachePolicy> policy_;

  std::vector<Seq> seqs_;
  std::vector<uint32_t> free_slots_;
  std::deque<uint32_t> waiting_;
  std::vector<uint32_t> running_;  // admission order: the back is the most recently admitted
  std::deque<uint32_t> swapped_;
  Role role_ = Role::kColocated;
  KvHandoff hooks_;
  // Request id -> slot, KV on its way: from a prefill replica (decode role) or from the KV store.
  std::unordered_map<uint64_t, uint32_t> receiving_;
  std::unordered_map<uint64_t, uint32_t> handed_off_;  // prefill role: request id -> slot, KV held for the decode side
  KvStoreClient* store_ = nullptr;                     // cluster.kv_store
  bool store_priced_ = true;
  std::vector<uint64_t> store_keys_;  // reused: a prompt's block keys looked up in the store, or blocks to write
  std::vector<Scheduled> batch_;
  std::vector<uint32_t> order_;  // schedule_prefill_first's snapshot of running_
  struct Priced {
    uint32_t slot;
    int64_t new_tokens;
    bool held;  // a finished row of a whole batch, computing padding
  };
  std::vector<Priced> priced_;   // start_iteration's rows to price (batch_ and held rows), reused
  bool page_selection_ = false;  // Quest: decode steps read a token budget of pages
  // InfiniGen's threshold selection: the tokens a decode step over `cached` tokens fetches, a function of `cached`
  // alone (cache.alpha, max_kv_ratio), kept per context once computed (-1 until then; contexts up to 2^20).
  std::vector<int64_t> speculative_fetch_;
  int64_t speculative_fetch_tokens(int64_t cached);
  // Engine hf and the pytorch static engine: padded batches whose finished sequences keep computing until the
  // batch's longest output ends, released together.
  bool whole_batches_ = false;
  bool pytorch_static_ = false;                     // engine static, framework pytorch (FlexGen family)
  StaticLimit static_limit_ = StaticLimit::kQueue;  // what ended the last static batch's formation
  // The pytorch static engine's prefill: one GPU batch's eager transient (scores, activations) held on top of the KV
  // while the iteration runs (reported in hbm_used_bytes); 0 otherwise.
  uint64_t prefill_transient_now_ = 0;
  uint64_t static_prefill_transient(int64_t prefill_seqs, int64_t padded_prompt) const;
  bool drops_tokens_ = false;  // the policy drops or skips tokens: completions record the retention proxy
  bool busy_ = false;
  bool warm_ = false;  // the first iteration ran (engine.cold_start_ms paid)
  bool wake_pending_ = false;
  bool preempted_this_step_ = false;
  int64_t swap_used_blocks_ = 0;
  int64_t swap_capacity_blocks_ = 0;
  int64_t swap_in_blocks_ = 0, swap_out_blocks_ = 0;  // this iteration
  SimTime iteration_start_ = 0;
  engine::FlowEngine* flows_ = nullptr;
  std::vector<SwapRoute> routes_;
  int64_t flows_pending_ = 0;
  std::function<void(uint64_t, SimTime, int64_t)> on_finished_;
  // Fast-forward: the end of the iteration just started when it comes before every queued event (processed inline by
  // on_event instead of being queued).
  std::optional<SimTime> inline_end_;
  bool in_event_ = false;
  // Analytic fast-forward: the scenario allows decode stretches (replica_stretch.cc).
  bool stretches_ = false;
  int64_t analytic_steps_ = 0;
  // The decode cohort (replica_cohort.cc): while an iteration of an analytic replica decodes every running sequence
  // of a uniform-growth batch, the sequences are advanced together, not one by one. Each step adds one token to
  // every member; its members' fields are written when something needs them (settle, a completion).
  struct Finish {
    int64_t clock;   // the cohort step at whose end the member completes
    uint64_t order;  // join order: running_ order
    uint32_t slot;
    auto operator<=>(const Finish&) const = default;
  };
  struct Cohort {
    bool active = false;
    bool in_flight = false;      // a step of the members has started (their blocks for it taken) and not ended
    int64_t clock = 0;           // the members' steps so far
    SimTime last_token_ns = -1;  // the end of the last of them
    int64_t size = 0;
    int64_t context = 0;           // KV tokens the members hold, an in-flight step's not counted
    int64_t per_block = 0;         // blocks a member takes when its tokens pass a multiple of the block size
    std::vector<int64_t> keys;     // members by (tokens - clock) mod block size: those taking a block at a step
    std::vector<Finish> finishes;  // a min-heap (std::greater)
    uint64_t joined = 0;
  };
  Cohort cohort_;
  int64_t cohort_iterations_ = 0;
  std::vector<uint32_t> joining_;  // finish_cohort_step's admitted rows, reused
  // Members of key k take a block at the step starting at clock c when k + c is a multiple of the block size.
  int64_t cohort_key(int64_t tokens) const;
  int64_t cohort_blocks_at(int64_t clock) const;
  // Every running sequence joins when each is a uniform decode that produced its last token at `now`; false
  // (nothing changed) otherwise.
  bool form_cohort(SimTime now);
  bool join_cohort(uint32_t slot, SimTime now);  // false when `slot` cannot decode with the members
  void advance_member(Seq& s) const;             // a member (or a copy of one) brought to the cohort's clock
  Seq current(uint32_t slot) const;  // a sequence as its own fields would hold it now (the invariant checks)
  void settle();  // every member written and released from the cohort (never during a step of theirs)
  // The end of a step in which the members decoded: their tokens and completions, without a pass over them; then
  // the rest of batch_ as finish_iteration ends it.
  void finish_cohort_step(SimTime now);
  // An iteration of the members' decodes and the queue's admissions (chunked prefill) priced from the cohort's sums;
  // false when the scheduler would do otherwise (a block missing).
  bool run_cohort_admission(SimTime now);
  void schedule_end(SimTime end);
  SimTime now_ns_ = 0;  // time of the event being handled (for rejections)
};

}  // namespace kvsim::serving
