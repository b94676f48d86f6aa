#include "sim/metrics/overload.h"

#include <fmt/format.h>

namespace kvsim::metrics {

namespace {
// 1244 -> "1,244": the warning is read by people.
std::string grouped(int64_t n) {
  const std::string digits = std::to_string(n < 0 ? -n : n);
  std::string out = n < 0 ? "-" : "";
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out.push_back(',');
    out.push_back(digits[i]);
  }
  return out;
}
}  // namespace

bool is_overloaded(const OverloadEvidence& e) {
  const bool growing =
      e.arrival_rate_req_per_s > 0 && e.queue_growth_req_per_s > kMinGrowthShareOfArrivals * e.arrival_rate_req_per_s;
  const bool waiting = e.waiting_at_last_arrival >= kMinWaitingRequests;
  const bool queueing = e.queueing_share_of_ttft > kMinQueueingShareOfTtft;
  return growing && waiting && queueing;
}

void add_overload_keys(const OverloadEvidence& e, double mean_queueing_delay_ms, nlohmann::ordered_json& summary) {
  summary["queue_growth_req_per_s"] = e.queue_growth_req_per_s;
  summary["mean_queueing_delay_ms"] = mean_queueing_delay_ms;
  summary["queueing_share_of_ttft"] = e.queueing_share_of_ttft;
  summary["overloaded"] = is_overloaded(e);
}

std::string overload_warning(const nlohmann::ordered_json& summary, std::string_view configuration) {
  const auto it = summary.find("overloaded");
  if (it == summary.end() || !it->is_boolean() || !it->get<bool>()) return "";
  return fmt::format(
      "warning: overloaded{}{}: {} requests waiting at the last arrival, queue growing {:.1f} req/s, queueing is "
      "{:.0f} % of mean TTFT; results describe a system that does not keep up (lower the rate or add replicas)",
      configuration.empty() ? "" : ": ", configuration, grouped(summary.value("waiting_at_last_arrival", int64_t{0})),
      summary.value("queue_growth_req_per_s", 0.0), 100.0 * summary.value("queueing_share_of_ttft", 0.0));
}

}  // namespace kvsim::metrics
