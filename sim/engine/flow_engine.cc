#include "sim/engine/flow_engine.h"

#include <cmath>

#include "sim/core/error.h"

namespace kvsim::engine {

namespace {
// A flow is done when less than this many bytes remain: rates are doubles, finish times whole nanoseconds.
constexpr double kDoneBytes = 1e-3;
}  // namespace

FlowEngine::FlowEngine(EventQueue& queue, std::vector<hw::SharedLink> links)
    : queue_(queue), links_(std::move(links)) {}

uint64_t FlowEngine::start(SimTime now, std::vector<hw::FlowHop> hops, uint64_t bytes, Done done,
                           double max_bytes_per_s) {
  advance(now);
  const uint64_t id = next_id_++;
  Flow f;
  f.demand.hops = std::move(hops);
  f.demand.max_bytes_per_s = max_bytes_per_s;
  f.remaining_bytes = static_cast<double>(bytes);
  f.done = std::move(done);
  flows_.emplace(id, std::move(f));
  reschedule(now);
  return id;
}

double FlowEngine::rate_bytes_per_s(uint64_t id) const {
  const auto it = flows_.find(id);
  return it == flows_.end() ? 0.0 : it->second.rate;
}

std::vector<double> FlowEngine::rates_if_started(const std::vector<std::vector<hw::FlowHop>>& routes) const {
  std::vector<hw::FlowDemand> demands;
  demands.reserve(flows_.size() + routes.size());
  for (const auto& [id, f] : flows_) demands.push_back(f.demand);
  for (const auto& hops : routes) demands.push_back(hw::FlowDemand{hops});
  std::vector<double> rates = hw::max_min_rates(links_, demands);
  rates.erase(rates.begin(), rates.begin() + static_cast<std::ptrdiff_t>(flows_.size()));
  return rates;
}

void FlowEngine::advance(SimTime now) {
  const double dt_s = static_cast<double>(now - updated_) / 1e9;
  if (dt_s > 0) {
    for (auto& [id, f] : flows_) f.remaining_bytes = std::max(0.0, f.remaining_bytes - f.rate * dt_s);
  }
  updated_ = now;
}

void FlowEngine::reschedule(SimTime now) {
  ++generation_;
  if (flows_.empty()) return;
  std::vector<hw::FlowDemand> demands;
  demands.reserve(flows_.size());
  for (const auto& [id, f] : flows_) demands.push_back(f.demand);
  const std::vector<double> rates = hw::max_min_rates(links_, demands);
  SimTime next = kSimTimeMax;
  size_t i = 0;
  for (auto& [id, f] : flows_) {
    f.rate = rates[i++];
    if (f.rate > 0) {
      next = std::min(next, now + static_cast<SimTime>(std::ceil(f.remaining_bytes / f.rate * 1e9)));
    }
  }
  if (next == kSimTimeMax) throw Error("internal error: active transfers with no bandwidth never finish");
  queue_.schedule(next, this, 0, generation_, kPriorityIteration);
}

void FlowEngine::on_event(SimTime now, uint32_t, uint64_t payload) {
  if (payload != generation_) return;  // superseded by a later start or end
  advance(now);
  std::vector<Done> finished;
  for (auto it = flows_.begin(); it != flows_.end();) {
    // Rounding the finish time up to a whole nanosecond leaves at most rate x 1 ns.
    if (it->second.remaining_bytes <= kDoneBytes + it->second.rate * 1e-9) {
      finished.push_back(std::move(it->second.done));
      it = flows_.erase(it);
    } else {
      ++it;
    }
  }
  reschedule(now);
  for (auto& done : finished) {
    if (done) done(now);
  }
}

}  // namespace kvsim::engine
