// Whether a run describes a system that kept up with its arrivals: a queue that still grows at the end of the
// arrivals, requests waiting at the last arrival and a TTFT made mostly of waiting mean the throughput and latencies
// are those of a backlog, not of the system at that rate (issue 18). summary.json says `overloaded` with the evidence;
// `kvsim run` and `compare` print overload_warning's one line on stderr.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace kvsim::metrics {

struct OverloadEvidence {
  int64_t waiting_at_last_arrival = 0;  // requests waiting for admission when the last request arrived
  double arrival_rate_req_per_s = 0;    // arrivals over the arrival window (first to last arrival)
  double queue_growth_req_per_s = 0;    // least-squares slope of the waiting count over the window's last half
  double queueing_share_of_ttft = 0;    // mean wait for admission over mean TTFT, 0..1
};

// The rule: all three hold.
// 1. The queue grows over the last half of the arrival window, by more than kMinGrowthShareOfArrivals of the
//    arrival rate. A system offered rho times what it serves grows its queue at (1 - 1/rho) x the arrival rate, so
//    the rule fires from about 1.1x the sustainable rate (2x: half the arrival rate); a stationary queue's slope
//    scatters around 0, and the margin keeps that scatter, and the batch filling at the start of a run (left out
//    with the window's first half), from firing it.
inline constexpr double kMinGrowthShareOfArrivals = 0.10;
// 2. At the last arrival at least kMinWaitingRequests requests still wait for admission: the queue is not a momentary
//    burst of a few. (Not "more than the running batch": a large continuous batch, hundreds of sequences, takes
//    longer than a short overloaded run's arrivals to be outgrown, and conditions 1 and 3 already say it fell behind.)
inline constexpr int64_t kMinWaitingRequests = 8;
// 3. Queueing is more than half of the mean TTFT: TTFT is dominated by waiting, not by prefill.
inline constexpr double kMinQueueingShareOfTtft = 0.5;

bool is_overloaded(const OverloadEvidence& e);

// Writes `overloaded` and its evidence into `summary` (keys queue_growth_req_per_s, mean_queueing_delay_ms,
// queueing_share_of_ttft, overloaded; waiting_at_last_arrival is the collector's).
void add_overload_keys(const OverloadEvidence& e, double mean_queueing_delay_ms, nlohmann::ordered_json& summary);

// One line (no newline) when `summary` says overloaded, "" otherwise. `configuration` names the run in a comparison
// ("vllm at 8 req/s"); empty for a single run.
std::string overload_warning(const nlohmann::ordered_json& summary, std::string_view configuration = "");

}  // namespace kvsim::metrics
