// What a run's cluster-wide KV store did (sim/scenario.h KvStoreConfig), for summary.json's kv_store_* keys.
// Shares are of the prompt tokens of every request's first admission: found in the admitting replica's own prefix
// cache (local), loaded from the store (remote), or computed (miss, of which `declined`: found in the store but
// cheaper to compute). local + remote + miss = 1.
#pragma once

#include <cstdint>

#include <nlohmann/json.hpp>

#include "sim/core/time.h"
#include "sim/metrics/stats.h"

namespace kvsim::metrics {

class StoreStats {
 public:
  explicit StoreStats(size_t exact_latency_samples) : load_ms_(exact_latency_samples) {}

  void on_capacity(uint64_t bytes) { capacity_bytes_ = bytes; }
  void on_lookup(int64_t prompt_tokens, int64_t local_tokens, int64_t remote_tokens, int64_t declined_tokens) {
    prompt_tokens_ += prompt_tokens;
    local_tokens_ += local_tokens;
    remote_tokens_ += remote_tokens;
    declined_tokens_ += declined_tokens;
  }
  // A load of `bytes` took `wait_ns` from its start until its blocks were on the GPU; computing them instead would
  // have taken `recompute_ns` of the prefill, as priced (the TTFT saved, when `first`: before the first token).
  void on_load(uint64_t bytes, SimTime wait_ns, SimTime recompute_ns, bool first) {
    ++loads_;
    load_bytes_ += bytes;
    load_ms_.add(ns_to_ms(wait_ns));
    if (first) {
      ++first_loads_;
      saved_ms_sum_ += ns_to_ms(recompute_ns - wait_ns);  // negative where loading lost (load always)
    }
  }
  void on_write(uint64_t bytes) { write_bytes_ += bytes; }
  void on_end(int64_t peak_blocks, int64_t evicted_blocks) {
    peak_blocks_ = peak_blocks;
    evicted_blocks_ = evicted_blocks;
  }
  void write(nlohmann::ordered_json& j);

 private:
  uint64_t capacity_bytes_ = 0, load_bytes_ = 0, write_bytes_ = 0;
  int64_t prompt_tokens_ = 0, local_tokens_ = 0, remote_tokens_ = 0, declined_tokens_ = 0;
  int64_t loads_ = 0, first_loads_ = 0, peak_blocks_ = 0, evicted_blocks_ = 0;
  LatencySamples load_ms_;
  double saved_ms_sum_ = 0;
};

}  // namespace kvsim::metrics
