// Collects what a run reports: per-request records (streamed to requests.csv as they finish), latency samples,
// time-weighted state (requests in system, running, KV use), memory.csv samples, traffic counters; and builds
// summary.json with vLLM benchmark_serving's key names plus kvsim's own (DESIGN.md "Outputs").
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "sim/core/time.h"
#include "sim/metrics/per_second.h"
#include "sim/metrics/queue_trend.h"
#include "sim/metrics/stats.h"
#include "sim/metrics/store_stats.h"
#include "sim/metrics/timeline.h"

namespace kvsim::metrics {

struct RequestRecord {
  uint64_t id = 0;
  int64_t replica = 0;
  SimTime arrival_ns = 0;
  SimTime admitted_ns = -1;  // first admission to the running batch (timeline.json's "queued" span ends there)
  SimTime first_token_ns = -1;
  SimTime finish_ns = -1;
  int64_t prompt_tokens = 0;
  int64_t output_tokens = 0;
  int64_t preemptions = 0;
  // Quality proxy of the tokens the policy kept (sim/cache/quality.h): 1 for full retention.
  double retention_attention = 1.0;
  double retention_early_facts = 1.0;
};

// A replica's state between two changes; integrated over time.
struct ReplicaState {
  int64_t waiting = 0;
  int64_t running = 0;
  int64_t swapped = 0;
  int64_t kv_blocks_used = 0;
  int64_t kv_tokens = 0;  // token states held in the GPU KV pool
  int64_t kv_slots = 0;   // token slots of the blocks held
  uint64_t hbm_used_bytes = 0;
  uint64_t kv_hbm_bytes = 0;  // of hbm_used_bytes, the KV's
  uint64_t kv_host_bytes = 0;
  uint64_t kv_disk_bytes = 0;  // FlexGen's disk-resident KV layers
};

struct CollectorConfig {
  int64_t replicas = 1;
  int64_t kv_blocks_total = 0;  // per replica
  uint64_t block_bytes = 0;
  int64_t kv_capacity_tokens = 0;  // per replica
  uint64_t weights_bytes = 0;      // per GPU
  uint64_t static_hbm_bytes = 0;   // per GPU, everything but KV
  double slo_ttft_ms = 0;          // 0 = no SLO on this metric
  double slo_tpot_ms = 0;
  SimTime memory_interval_ns = 100 * kNsPerMs;
  std::vector<std::string> notes;  // caveats reported in summary.json (e.g. a preset used beyond its paper)
  int64_t gpus = 1;                // replicas x tensor_parallel
  int64_t warmup_requests = 0;     // requests with id below this are left out of latency statistics and SLOs
  int64_t warm_requests = 0;       // workload.warmup_requests: below this id, left out of every count and rate too
  double gpu_hour_usd = 0;         // 0: no cost keys
  // Latency samples kept exactly per metric before they fold into a bounded histogram (stats.h: LatencySamples).
  size_t exact_latency_samples = LatencySamples::kDefaultExactLimit;
  // The API server's delivery of streamed tokens (sim/scenario.h EngineConfig::frontend): added to the engine's
  // first-token and finish times, so latencies are the client's. (Its work before the queue is a later arrival at
  // the replica: serving::Cluster.)
  SimTime frontend_delivery_ns = 0;
  SimTime frontend_per_token_ns = 0;
  // Disaggregated serving: replicas differ by pool, so each has its own pool size (kv_blocks_total and
  // kv_capacity_tokens above are unused then), and the summary has the kv_transfer_* keys.
  bool disaggregated = false;
  std::vector<int64_t> kv_blocks_per_replica, kv_tokens_per_replica;
  bool kv_store = false;  // a cluster-wide KV store: the summary has the kv_store_* keys (store_stats.h)
};

class Collector {
 public:
  // `requests_csv` / `memory_csv` may be null (no files).
  Collector(CollectorConfig config, std::ostream* requests_csv, std::ostream* memory_csv);

  // A request (sent by the client at `arrival_ns`) arrives; the requests waiting for admission then (over every
  // replica) are kept, so the summary's waiting_at_last_arrival says whether the queue grew over the arrivals (a
  // stable system stays near 0). The first arrival starts the per-second buckets (per_second.h).
  void on_arrival(SimTime arrival_ns) {
    peaks_.start(arrival_ns);
    ++arrived_;
    waiting_at_arrival_ = 0;
    for (const ReplicaState& st : state_) waiting_at_arrival_ += st.waiting;
    max_in_system_ = std::max(max_in_system_, arrived_ - completed_ - rejected_);
  }
  void on_reject(const RequestRecord& r, std::string_view reason);
  // (on_reject and on_complete also widen the arrival window by the record's arrival time.)
  void on_complete(const RequestRecord& r);
  void add_itl(SimTime itl_ns, int64_t count);
  // An iteration ending at `engine_ns` gave `count` output tokens; the client receives them frontend_delivery_ns later.
  void on_output_tokens(SimTime engine_ns, int64_t count) {
    peaks_.add_tokens(engine_ns + config_.frontend_delivery_ns, count);
  }
  void on_preemption() { ++preemptions_; }
  // Disaggregated serving: a request's KV moved `bytes` from its prefill replica to its decode replica. It waited
  // `wait_ns` after its prefill ended for the decode side's blocks (back-pressure), moved for `transfer_ns`, and its
  // decode could start `exposed_ns` after its prefill ended (the wait and the part of the transfer not overlapped).
  void on_kv_transfer(uint64_t bytes, SimTime wait_ns, SimTime transfer_ns, SimTime exposed_ns);
  // A cluster-wide KV store (store_stats.h).
  void on_store_capacity(uint64_t bytes) { store_.on_capacity(bytes); }
  void on_store_lookup(int64_t prompt_tokens, int64_t local_tokens, int64_t remote_tokens, int64_t declined_tokens) {
    store_.on_lookup(prompt_tokens, local_tokens, remote_tokens, declined_tokens);
  }
  void on_store_load(uint64_t bytes, SimTime wait_ns, SimTime recompute_ns, bool first) {
    store_.on_load(bytes, wait_ns, recompute_ns, first);
  }
  void on_store_write(uint64_t bytes) { store_.on_write(bytes); }
  void on_store_end(int64_t peak_blocks, int64_t evicted_blocks) { store_.on_end(peak_blocks, evicted_blocks); }
  // An admission looked up `queried_tokens` prompt tokens in the prefix cache and found `hit_tokens`.
  void on_prefix_lookup(int64_t hit_tokens, int64_t queried_tokens) {
    prefix_hit_tokens_ += hit_tokens;
    prefix_queried_tokens_ += queried_tokens;
  }
  void add_pcie(uint64_t h2d_bytes, uint64_t d2h_bytes);
  void on_iteration() { ++iterations_; }
  // A static batch of `size` sequences was formed; `limit` ended its formation (queue, max_num_seqs, kv_pool or
  // prefill_transient).
  void on_static_batch(int64_t size, std::string_view limit);
  // Time an iteration waited for its swap copies before computing.
  void add_swap_stall(SimTime ns) { swap_stall_ns_ += ns; }
  // Tiered placement: prefix blocks loaded back from host memory and from disk, and demoted from the GPU.
  void add_tier_moves(int64_t host_loads, int64_t disk_loads, int64_t demoted) {
    tier_host_loads_ += host_loads;
    tier_disk_loads_ += disk_loads;
    tier_demoted_ += demoted;
  }
  // Record a replica's new state at `now` (integrates the previous state up to now).
  void on_state(SimTime now, int64_t replica, const ReplicaState& state);
  // The run's timeline.json, when output.timeline asks for one (null otherwise).
  void set_timeline(Timeline* t) { timeline_ = t; }
  Timeline* timeline() const { return timeline_; }

  // Close the integrals at `end` and build the summary (call once, at the end of the run).
  nlohmann::ordered_json summary(SimTime end);

  int64_t completed() const { return completed_; }
  int64_t rejected() const { return rejected_; }
  int64_t arrived() const { return arrived_; }
  // Requests over the window from the first arrival to the last (arrivals - 1 over its length); 0 without one.
  double arrival_rate_req_per_s() const;
  int64_t iterations() const { return iterations_; }

 private:
  void integrate(SimTime now, int64_t replica);
  void note_arrival(SimTime arrival_ns);
  void add_overload(SimTime end, nlohmann::ordered_json& j);

  CollectorConfig config_;
  std::ostream* requests_csv_;
  std::ostream* memory_csv_;
  LatencySamples ttft_ms_, tpot_ms_, e2el_ms_, itl_ms_;
  LatencySamples kv_wait_ms_, kv_transfer_ms_, kv_exposed_ms_;
  StoreStats store_;
  uint64_t kv_transfer_bytes_ = 0;
  int64_t kv_transfers_ = 0;
  int64_t kv_blocks_all_ = 0, kv_tokens_all_ = 0;  // over every replica
  int64_t arrived_ = 0, completed_ = 0, rejected_ = 0, preemptions_ = 0, iterations_ = 0;
  int64_t input_tokens_ = 0, output_tokens_ = 0, slo_met_ = 0;
  int64_t prefix_hit_tokens_ = 0, prefix_queried_tokens_ = 0;
  double retention_attention_sum_ = 0, retention_early_facts_sum_ = 0;
  int64_t tier_host_loads_ = 0, tier_disk_loads_ = 0, tier_demoted_ = 0;
  uint64_t pcie_h2d_ = 0, pcie_d2h_ = 0;
  SimTime swap_stall_ns_ = 0;
  int64_t static_batches_ = 0, static_batch_seqs_ = 0;
  std::map<std::string, int64_t, std::less<>> static_limits_;
  SimTime last_finish_ = 0;
  // Per-replica state and its running integrals (state x ns).
  std::vector<ReplicaState> state_;
  std::vector<SimTime> since_;
  std::vector<SimTime> next_sample_;
  double area_in_system_ = 0, area_running_ = 0, area_kv_tokens_ = 0, area_kv_slots_ = 0, area_kv_blocks_ = 0;
  int64_t peak_kv_blocks_ = 0;
  uint64_t peak_hbm_ = 0, peak_host_ = 0, peak_kv_hbm_ = 0, peak_disk_ = 0;
  double normalized_latency_sum_ms_ = 0;
  int64_t measured_ = 0;  // completions past the warm-up
  // The warm start's requests (workload.warmup_requests), kept apart so the summary can leave them out, and the first
  // arrival among the counted ones.
  int64_t warm_completed_ = 0, warm_rejected_ = 0, warm_input_tokens_ = 0, warm_output_tokens_ = 0;
  SimTime counted_first_arrival_ns_ = -1;
  bool warm(uint64_t id) const { return static_cast<int64_t>(id) < config_.warm_requests; }
  void note_counted(uint64_t id, SimTime arrival_ns);
  int64_t waiting_at_arrival_ = 0;
  // The waiting count over all replicas, through time, and the arrival window (from the finished requests' arrival
  // times: every request ends completed or rejected), for the overload evidence (sim/metrics/overload.h).
  int64_t waiting_total_ = 0;
  QueueTrend waiting_trend_;
  SimTime first_arrival_ns_ = -1, last_arrival_ns_ = -1;
  int64_t max_in_system_ = 0;  // requests arrived and not yet finished, at any instant
  PerSecondPeaks peaks_;       // vllm's max_output_tokens_per_s and max_concurrent_requests
  double ttft_sum_ms_ = 0;     // over every completed request, warm-up included, as the waiting integral counts them
  Timeline* timeline_ = nullptr;
};

}  // namespace kvsim::metrics
