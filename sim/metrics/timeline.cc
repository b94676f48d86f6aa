#include "sim/metrics/timeline.h"

#include <fmt/format.h>

namespace kvsim::metrics {

namespace {
std::string us(SimTime ns) { return fmt::format("{}.{:03}", ns / 1000, ns % 1000); }
constexpr int kIterationsTid = 1, kPcieTid = 2;
}  // namespace

Timeline::Timeline(std::ostream& out, int64_t replicas) : out_(out) {
  out_ << "{\"displayTimeUnit\": \"ms\", \"traceEvents\": [\n";
  for (int64_t r = 0; r < replicas; ++r) {
    event(fmt::format(R"({{"name": "process_name", "ph": "M", "pid": {}, "tid": 0, "args": {{"name": "replica {}"}}}})",
                      r, r));
    event(fmt::format(R"({{"name": "thread_name", "ph": "M", "pid": {}, "tid": {}, "args": {{"name": "iterations"}}}})",
                      r, kIterationsTid));
    event(fmt::format(R"({{"name": "thread_name", "ph": "M", "pid": {}, "tid": {}, "args": {{"name": "pcie"}}}})", r,
                      kPcieTid));
  }
}

void Timeline::event(const std::string& json) {
  out_ << (first_ ? "" : ",\n") << json;
  first_ = false;
}

void Timeline::iteration(int64_t replica, SimTime start_ns, SimTime duration_ns, const std::string& kind, int64_t batch,
                         int64_t tokens) {
  event(fmt::format(R"({{"name": "{}", "ph": "X", "ts": {}, "dur": {}, "pid": {}, "tid": {}, "args": {{"batch": {}, )"
                    R"("tokens": {}}}}})",
                    kind, us(start_ns), us(duration_ns), replica, kIterationsTid, batch, tokens));
}

void Timeline::transfer(int64_t replica, SimTime start_ns, SimTime duration_ns, const std::string& what,
                        uint64_t bytes) {
  event(
      fmt::format(R"({{"name": "{}", "ph": "X", "ts": {}, "dur": {}, "pid": {}, "tid": {}, "args": {{"bytes": {}}}}})",
                  what, us(start_ns), us(duration_ns), replica, kPcieTid, bytes));
}

void Timeline::close() {
  if (closed_) return;
  closed_ = true;
  out_ << "\n]}\n";
}

}  // namespace kvsim::metrics
