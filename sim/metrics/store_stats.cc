#include "sim/metrics/store_stats.h"

namespace kvsim::metrics {

void StoreStats::write(nlohmann::ordered_json& j) {
  const double prompt = prompt_tokens_ > 0 ? static_cast<double>(prompt_tokens_) : 1.0;
  j["kv_store_capacity_bytes"] = capacity_bytes_;
  j["kv_store_local_hit_share"] = static_cast<double>(local_tokens_) / prompt;
  j["kv_store_remote_hit_share"] = static_cast<double>(remote_tokens_) / prompt;
  j["kv_store_miss_share"] =
      prompt_tokens_ > 0 ? static_cast<double>(prompt_tokens_ - local_tokens_ - remote_tokens_) / prompt : 0.0;
  j["kv_store_declined_share"] = static_cast<double>(declined_tokens_) / prompt;
  j["kv_store_loads"] = loads_;
  j["kv_store_load_bytes"] = load_bytes_;
  j["kv_store_write_bytes"] = write_bytes_;
  const Stats load = load_ms_.stats();
  j["mean_kv_store_load_ms"] = load.mean;
  j["median_kv_store_load_ms"] = load.median;
  j["p99_kv_store_load_ms"] = load.p99;
  j["mean_kv_store_ttft_saved_ms"] = first_loads_ > 0 ? saved_ms_sum_ / static_cast<double>(first_loads_) : 0.0;
  j["kv_store_peak_blocks"] = peak_blocks_;
  j["kv_store_evicted_blocks"] = evicted_blocks_;
}

}  // namespace kvsim::metrics
