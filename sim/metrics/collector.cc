#include "sim/metrics/collector.h"

#include <algorithm>

#include <fmt/compile.h>
#include <fmt/format.h>

#include "sim/core/error.h"
#include "sim/metrics/overload.h"
#include "sim/metrics/stats.h"

namespace kvsim::metrics {

namespace {
// Formats one CSV row into a stack buffer and writes it: a row costs no heap allocation. `format` is compiled
// (FMT_COMPILE): a million-request run writes a million rows.
template <typename Format, typename... Args>
void write_row(std::ostream& out, const Format& format, Args&&... args) {
  fmt::memory_buffer row;
  fmt::format_to(std::back_inserter(row), format, std::forward<Args>(args)...);
  out.write(row.data(), static_cast<std::streamsize>(row.size()));
}
}  // namespace

Collector::Collector(CollectorConfig config, std::ostream* requests_csv, std::ostream* memory_csv)
    : config_(config),
      requests_csv_(requests_csv),
      memory_csv_(memory_csv),
      ttft_ms_(config.exact_latency_samples),
      tpot_ms_(config.exact_latency_samples),
      e2el_ms_(config.exact_latency_samples),
      itl_ms_(config.exact_latency_samples),
      kv_wait_ms_(config.exact_latency_samples),
      kv_transfer_ms_(config.exact_latency_samples),
      kv_exposed_ms_(config.exact_latency_samples),
      store_(config.exact_latency_samples) {
  state_.resize(static_cast<size_t>(config_.replicas));
  kv_blocks_all_ = config_.kv_blocks_total * config_.replicas;
  kv_tokens_all_ = config_.kv_capacity_tokens * config_.replicas;
  if (!config_.kv_blocks_per_replica.empty()) {
    kv_blocks_all_ = kv_tokens_all_ = 0;
    for (int64_t b : config_.kv_blocks_per_replica) kv_blocks_all_ += b;
    for (int64_t t : config_.kv_tokens_per_replica) kv_tokens_all_ += t;
  }
  since_.assign(static_cast<size_t>(config_.replicas), 0);
  next_sample_.assign(static_cast<size_t>(config_.replicas), 0);
  if (requests_csv_) {
    *requests_csv_ << "id,replica,status,arrival_s,prompt_tokens,output_tokens,ttft_ms,tpot_ms,e2el_ms,finish_s,"
                      "preemptions,retention_attention,retention_early_facts\n";
  }
  if (memory_csv_) {
    *memory_csv_ << "time_s,replica,waiting,running,swapped,kv_blocks_used,kv_blocks_total,kv_used_bytes,"
                    "hbm_used_bytes,kv_host_bytes\n";
  }
}

void Collector::note_arrival(SimTime arrival_ns) {
  if (first_arrival_ns_ < 0 || arrival_ns < first_arrival_ns_) first_arrival_ns_ = arrival_ns;
  last_arrival_ns_ = std::max(last_arrival_ns_, arrival_ns);
}

void Collector::note_counted(uint64_t id, SimTime arrival_ns) {
  if (warm(id)) return;
  if (counted_first_arrival_ns_ < 0 || arrival_ns < counted_first_arrival_ns_) counted_first_arrival_ns_ = arrival_ns;
}

void Collector::on_reject(const RequestRecord& r, std::string_view reason) {
  ++rejected_;
  if (warm(r.id)) ++warm_rejected_;
  note_arrival(r.arrival_ns);
  note_counted(r.id, r.arrival_ns);
  if (requests_csv_) {
    write_row(*requests_csv_, FMT_COMPILE("{},{},rejected:{},{:.9f},{},{},,,,,0,,\n"), r.id, r.replica, reason,
              ns_to_s(r.arrival_ns), r.prompt_tokens, r.output_tokens);
  }
}

void Collector::on_complete(const RequestRecord& engine_record) {
  RequestRecord r = engine_record;  // as the client sees it
  r.first_token_ns += config_.frontend_delivery_ns;
  r.finish_ns += config_.frontend_delivery_ns + config_.frontend_per_token_ns * r.output_tokens;
  ++completed_;
  input_tokens_ += r.prompt_tokens;
  output_tokens_ += r.output_tokens;
  last_finish_ = std::max(last_finish_, r.finish_ns);
  note_arrival(r.arrival_ns);
  note_counted(r.id, r.arrival_ns);
  if (warm(r.id)) {
    ++warm_completed_;
    warm_input_tokens_ += r.prompt_tokens;
    warm_output_tokens_ += r.output_tokens;
  }
  peaks_.add_request(r.arrival_ns, r.finish_ns);
  const double ttft = ns_to_ms(r.first_token_ns - r.arrival_ns);
  ttft_sum_ms_ += ttft;
  const double e2el = ns_to_ms(r.finish_ns - r.arrival_ns);
  // Warm-up requests are served and counted, but left out of the latency statistics (the system is still filling).
  const bool measured = static_cast<int64_t>(r.id) >= std::max(config_.warmup_requests, config_.warm_requests);
  double tpot = 0;
  if (r.output_tokens > 1) {  // vLLM leaves single-token outputs out of TPOT
    tpot = ns_to_ms(r.finish_ns - r.first_token_ns) / static_cast<double>(r.output_tokens - 1);
  }
  if (measured) {
    ++measured_;
    ttft_ms_.add(ttft);
    e2el_ms_.add(e2el);
    if (r.output_tokens > 1) tpot_ms_.add(tpot);
    const bool ttft_ok = config_.slo_ttft_ms <= 0 || ttft <= config_.slo_ttft_ms;
    const bool tpot_ok = config_.slo_tpot_ms <= 0 || tpot <= config_.slo_tpot_ms;
    if (ttft_ok && tpot_ok) ++slo_met_;
    normalized_latency_sum_ms_ += e2el / static_cast<double>(std::max<int64_t>(1, r.output_tokens));
  }
  retention_attention_sum_ += r.retention_attention;
  retention_early_facts_sum_ += r.retention_early_facts;
  if (timeline_) {
    timeline_->request({r.id, r.replica, r.arrival_ns, r.admitted_ns, r.first_token_ns, r.finish_ns, r.prompt_tokens,
                        r.output_tokens});
  }
  if (requests_csv_) {
    write_row(*requests_csv_,
              FMT_COMPILE("{},{},completed,{:.9f},{},{},{:.6f},{:.6f},{:.6f},{:.9f},{},{:.6f},{:.6f}\n"), r.id,
              r.replica, ns_to_s(r.arrival_ns), r.prompt_tokens, r.output_tokens, ttft, tpot, e2el,
              ns_to_s(r.finish_ns), r.preemptions, r.retention_attention, r.retention_early_facts);
  }
}

void Collector::add_itl(SimTime itl_ns, int64_t count) { itl_ms_.add(ns_to_ms(itl_ns), count); }

void Collector::on_static_batch(int64_t size, std::string_view limit) {
  ++static_batches_;
  static_batch_seqs_ += size;
  auto it = static_limits_.find(limit);
  if (it == static_limits_.end()) it = static_limits_.emplace(std::string(limit), 0).first;
  ++it->second;
}

void Collector::add_pcie(uint64_t h2d_bytes, uint64_t d2h_bytes) {
  pcie_h2d_ += h2d_bytes;
  pcie_d2h_ += d2h_bytes;
}

void Collector::integrate(SimTime now, int64_t replica) {
  const size_t i = static_cast<size_t>(replica);
  const ReplicaState& s = state_[i];
  const double dt = static_cast<double>(now - since_[i]);
  area_in_system_ += dt * static_cast<double>(s.waiting + s.running + s.swapped);
  area_running_ += dt * static_cast<double>(s.running);
  area_kv_tokens_ += dt * static_cast<double>(s.kv_tokens);
  area_kv_slots_ += dt * static_cast<double>(s.kv_slots);
  area_kv_blocks_ += dt * static_cast<double>(s.kv_blocks_used);
  since_[i] = now;
}

void Collector::on_state(SimTime now, int64_t replica, const ReplicaState& state) {
  integrate(now, replica);
  const size_t i = static_cast<size_t>(replica);
  waiting_total_ += state.waiting - state_[i].waiting;
  waiting_trend_.set(now, waiting_total_);
  state_[i] = state;
  peak_kv_blocks_ = std::max(peak_kv_blocks_, state.kv_blocks_used);
  peak_hbm_ = std::max(peak_hbm_, state.hbm_used_bytes);
  peak_host_ = std::max(peak_host_, state.kv_host_bytes);
  peak_kv_hbm_ = std::max(peak_kv_hbm_, state.kv_hbm_bytes);
  peak_disk_ = std::max(peak_disk_, state.kv_disk_bytes);
  if (timeline_) {
    timeline_->counters(replica, now, {state.kv_hbm_bytes, state.kv_host_bytes, state.kv_disk_bytes, state.waiting});
  }
  if (memory_csv_ && now >= next_sample_[i]) {
    write_row(*memory_csv_, FMT_COMPILE("{:.9f},{},{},{},{},{},{},{},{},{}\n"), ns_to_s(now), replica, state.waiting,
              state.running, state.swapped, state.kv_blocks_used,
              config_.kv_blocks_per_replica.empty() ? config_.kv_blocks_total : config_.kv_blocks_per_replica[i],
              static_cast<uint64_t>(state.kv_blocks_used) * config_.block_bytes, state.hbm_used_bytes,
              state.kv_host_bytes);
    next_sample_[i] = (now / config_.memory_interval_ns + 1) * config_.memory_interval_ns;
  }
}

void Collector::add_overload(SimTime end, nlohmann::ordered_json& j) {
  waiting_trend_.close(end);
  OverloadEvidence e;
  e.waiting_at_last_arrival = waiting_at_arrival_;
  if (last_arrival_ns_ > first_arrival_ns_ && arrived_ > 1) {
    e.arrival_rate_req_per_s = static_cast<double>(arrived_ - 1) / ns_to_s(last_arrival_ns_ - first_arrival_ns_);
    // The last half of the arrival window: the batch filling at the start is left out, and the queue's trend there
    // is what the remaining arrivals met.
    const SimTime middle_ns = first_arrival_ns_ + (last_arrival_ns_ - first_arrival_ns_) / 2;
    e.queue_growth_req_per_s = waiting_trend_.slope_req_per_s(middle_ns, last_arrival_ns_);
  }
  // Little's law on the queue: the waiting count's integral is the time all requests spent waiting for admission.
  // A recompute-preempted request waits again after its first token, so the share is capped at 1.
  const double done = static_cast<double>(std::max<int64_t>(1, completed_));
  const double mean_queueing_ms = 1e3 * waiting_trend_.area_req_s() / done;
  const double mean_ttft_ms = ttft_sum_ms_ / done;
  e.queueing_share_of_ttft = mean_ttft_ms > 0 ? std::min(1.0, mean_queueing_ms / mean_ttft_ms) : 0.0;
  add_overload_keys(e, mean_queueing_ms, j);
}

double Collector::arrival_rate_req_per_s() const {
  if (last_arrival_ns_ <= first_arrival_ns_ || arrived_ < 2) return 0;
  return static_cast<double>(arrived_ - 1) / ns_to_s(last_arrival_ns_ - first_arrival_ns_);
}

nlohmann::ordered_json Collector::summary(SimTime end) {
  for (int64_t r = 0; r < config_.replicas; ++r) integrate(end, r);

  const double duration_s = ns_to_s(end);
  const double per_s = duration_s > 0 ? 1.0 / duration_s : 0.0;
  const double per_ns = end > 0 ? 1.0 / static_cast<double>(end) : 0.0;
  nlohmann::ordered_json j;
  j["duration"] = duration_s;
  // A warm start's requests are left out of the counts, and the rates count from the first counted arrival.
  const int64_t completed = completed_ - warm_completed_, rejected = rejected_ - warm_rejected_;
  const int64_t input_tokens = input_tokens_ - warm_input_tokens_, output_tokens = output_tokens_ - warm_output_tokens_;
  double rate_per_s = per_s;
  if (config_.warm_requests > 0) {
    const SimTime window = end - std::max<SimTime>(0, counted_first_arrival_ns_);
    rate_per_s = counted_first_arrival_ns_ >= 0 && window > 0 ? 1.0 / ns_to_s(window) : 0.0;
  }
  j["completed"] = completed;
  j["rejected"] = rejected;
  j["failed"] = rejected;  // vllm bench serve's name for requests that did not complete
  j["total_input_tokens"] = input_tokens;
  j["total_output_tokens"] = output_tokens;
  j["request_throughput"] = static_cast<double>(completed) * rate_per_s;
  j["output_throughput"] = static_cast<double>(output_tokens) * rate_per_s;
  j["total_token_throughput"] = static_cast<double>(input_tokens + output_tokens) * rate_per_s;
  auto add = [&j](const std::string& name, Stats s) {
    j["mean_" + name + "_ms"] = s.mean;
    j["median_" + name + "_ms"] = s.median;
    j["std_" + name + "_ms"] = s.std;
    j["p90_" + name + "_ms"] = s.p90;
    j["p95_" + name + "_ms"] = s.p95;
    j["p99_" + name + "_ms"] = s.p99;
  };
  add("ttft", ttft_ms_.stats());
  add("tpot", tpot_ms_.stats());
  add("itl", itl_ms_.stats());
  add("e2el", e2el_ms_.stats());
  // The vLLM paper's normalized latency (sec. 6.1): each request's end-to-end latency over its output length, averaged.
  j["mean_normalized_latency_ms"] = measured_ > 0 ? normalized_latency_sum_ms_ / static_cast<double>(measured_) : 0.0;
  j["max_itl_ms"] = itl_ms_.max();
  // The inter-token latency distribution (requests.csv has one TPOT per request, not its tokens' gaps): numpy
  // percentiles 0, 1, ..., 99, 99.5, 99.9 and 100 of every gap, for the report's ITL CDF.
  {
    std::vector<double> q;
    for (int p = 0; p < 100; ++p) q.push_back(p);
    q.insert(q.end(), {99.5, 99.9, 100.0});
    j["itl_cdf_ms"] = {{"percentiles", q}, {"ms", itl_ms_.percentiles(q)}};
  }
  if (config_.disaggregated) {
    // Each request's KV from its prefill replica to its decode replica (sim/serving/cluster_kv_transfer.cc).
    j["kv_transfer_count"] = kv_transfers_;
    j["kv_transfer_bytes"] = kv_transfer_bytes_;
    add("kv_transfer", kv_transfer_ms_.stats());
    add("kv_transfer_wait", kv_wait_ms_.stats());
    add("kv_transfer_exposed", kv_exposed_ms_.stats());
  }
  if (config_.kv_store) store_.write(j);
  j["num_preemptions"] = preemptions_;
  j["num_iterations"] = iterations_;
  j["mean_running_requests"] = area_running_ * per_ns;
  j["mean_requests_in_system"] = area_in_system_ * per_ns;
  j["kv_capacity_tokens"] = kv_tokens_all_;
  // Share of the allocated KV slots holding real token states (the internal waste of vLLM paper Fig. 2).
  j["kv_token_utilization"] = area_kv_slots_ > 0 ? area_kv_tokens_ / area_kv_slots_ : 0.0;
  // Share of the whole KV pool holding token states, as Fig. 2 counts it: the rest is reserved, lost to partly
  // filled blocks or between contiguous reservations (external fragmentation), or free.
  j["kv_pool_token_share"] =
      kv_tokens_all_ > 0 ? area_kv_tokens_ * per_ns / static_cast<double>(kv_tokens_all_) : 0.0;
  j["mean_kv_block_usage"] = kv_blocks_all_ > 0 ? area_kv_blocks_ * per_ns / static_cast<double>(kv_blocks_all_) : 0.0;
  j["weights_bytes"] = config_.weights_bytes;
  j["peak_hbm_bytes"] = peak_hbm_;
  j["peak_kv_hbm_bytes"] = peak_kv_hbm_;
  j["peak_kv_host_bytes"] = peak_host_;
  j["peak_kv_disk_bytes"] = peak_disk_;
  // The same five, named for what they are: one GPU's (a tensor-parallel rank's share; peaks over the replicas). The
  // names above stay for one release as aliases (README "Output files and columns").
  j["weights_bytes_per_gpu"] = config_.weights_bytes;
  j["peak_hbm_bytes_per_gpu"] = peak_hbm_;
  j["peak_kv_hbm_bytes_per_gpu"] = peak_kv_hbm_;
  j["peak_kv_host_bytes_per_gpu"] = peak_host_;
  j["peak_kv_disk_bytes_per_gpu"] = peak_disk_;
  // Share of the tokens looked up at admission whose KV came from the prefix cache (vLLM logs the same rate).
  j["prefix_cache_hit_rate"] =
      prefix_queried_tokens_ > 0 ? static_cast<double>(prefix_hit_tokens_) / static_cast<double>(prefix_queried_tokens_)
                                 : 0.0;
  j["pcie_h2d_bytes"] = pcie_h2d_;
  j["pcie_d2h_bytes"] = pcie_d2h_;
  j["swap_stall_ms"] = ns_to_ms(swap_stall_ns_);
  j["tier_host_load_blocks"] = tier_host_loads_;
  j["tier_disk_load_blocks"] = tier_disk_loads_;
  j["tier_demoted_blocks"] = tier_demoted_;
  // Means over completed requests of the quality proxy (sim/cache/quality.h: a synthetic attention model, an
  // assumption, not a measurement); full retention keeps every token and reports 1.
  const double done = static_cast<double>(completed_);
  j["retention_attention"] = completed_ > 0 ? retention_attention_sum_ / done : 1.0;
  j["retention_early_facts"] = completed_ > 0 ? retention_early_facts_sum_ / done : 1.0;
  j["slo_attainment"] =
      measured_ + rejected > 0 ? static_cast<double>(slo_met_) / static_cast<double>(measured_ + rejected) : 0.0;
  j["goodput"] = static_cast<double>(slo_met_) * rate_per_s;
  // vllm bench serve's name; null there without a goodput SLO, as here.
  j["request_goodput"] = config_.slo_ttft_ms > 0 || config_.slo_tpot_ms > 0
                             ? nlohmann::ordered_json(static_cast<double>(slo_met_) * rate_per_s)
                             : nlohmann::ordered_json(nullptr);
  if (config_.warm_requests > 0) j["warmup_requests"] = config_.warm_requests;
  // vllm bench serve's peaks over 1-second buckets (per_second.h); the instantaneous peak is kvsim's own.
  j["max_output_tokens_per_s"] = peaks_.max_output_tokens_per_s();
  j["max_concurrent_requests"] = peaks_.max_concurrent_requests();
  j["max_requests_in_system"] = max_in_system_;
  j["gpus"] = config_.gpus;
  j["waiting_at_last_arrival"] = waiting_at_arrival_;
  add_overload(end, j);
  // How the percentiles above were computed: exactly (numpy's linear interpolation over every sample) or, past
  // output.exact_latency_samples, from a histogram whose percentiles are within this relative error of the exact ones.
  const bool exact = ttft_ms_.exact() && tpot_ms_.exact() && itl_ms_.exact() && e2el_ms_.exact();
  j["latency_percentiles"] = exact ? "exact" : "sketch";
  if (!exact) j["latency_percentile_relative_error"] = itl_ms_.relative_error();
  if (config_.gpu_hour_usd > 0) {
    // What the run's GPUs cost for its duration, over the tokens it served.
    const double usd = config_.gpu_hour_usd * static_cast<double>(config_.gpus) * duration_s / 3600.0;
    j["usd_per_hour"] = config_.gpu_hour_usd * static_cast<double>(config_.gpus);
    j["usd_per_million_output_tokens"] = output_tokens_ > 0 ? usd / (static_cast<double>(output_tokens_) / 1e6) : 0.0;
    j["usd_per_million_tokens"] =
        input_tokens_ + output_tokens_ > 0 ? usd / (static_cast<double>(input_tokens_ + output_tokens_) / 1e6) : 0.0;
  }
  std::vector<std::string> notes = config_.notes;
  if (static_batches_ > 0) {
    // Static batches (the FlexGen family): how large they were and what bounded each.
    j["static_batches"] = static_batches_;
    j["mean_static_batch"] = static_cast<double>(static_batch_seqs_) / static_cast<double>(static_batches_);
    nlohmann::ordered_json limits = nlohmann::ordered_json::object();
    std::vector<std::string> parts;
    for (const auto& [limit, count] : static_limits_) {
      limits[limit] = count;
      parts.push_back(fmt::format("{} by {}", count, limit));
    }
    j["static_batch_limits"] = limits;
    notes.push_back(fmt::format("static batches: {} of {:.1f} sequences on average; bounded {} (queue: no request "
                                "waited; kv_pool: the next request's KV did not fit; prefill_transient: its GPU "
                                "batch's prefill scores and activations did not fit beside the KV)",
                                static_batches_, j["mean_static_batch"].get<double>(), join(parts, ", ")));
  }
  if (!notes.empty()) j["notes"] = notes;
  return j;
}

void Collector::on_kv_transfer(uint64_t bytes, SimTime wait_ns, SimTime transfer_ns, SimTime exposed_ns) {
  ++kv_transfers_;
  kv_transfer_bytes_ += bytes;
  kv_wait_ms_.add(ns_to_ms(wait_ns));
  kv_transfer_ms_.add(ns_to_ms(transfer_ns));
  kv_exposed_ms_.add(ns_to_ms(exposed_ns));
}

}  // namespace kvsim::metrics
