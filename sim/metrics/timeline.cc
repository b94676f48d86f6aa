#include "sim/metrics/timeline.h"

#include <algorithm>

#include <fmt/format.h>

namespace kvsim::metrics {

namespace {
std::string us(SimTime ns) { return fmt::format("{}.{:03}", ns / 1000, ns % 1000); }
constexpr int kIterationsTid = 1, kPcieTid = 2, kRequestsTid = 3;
}  // namespace

Timeline::Timeline(std::ostream& out, int64_t replicas, TimelineSampling sampling)
    : out_(out), sampling_(sampling), tracks_(static_cast<size_t>(replicas)) {
  out_ << "{\"displayTimeUnit\": \"ms\", \"traceEvents\": [\n";
  for (int64_t r = 0; r < replicas; ++r) {
    event(fmt::format(R"({{"name": "process_name", "ph": "M", "pid": {}, "tid": 0, "args": {{"name": "replica {}"}}}})",
                      r, r));
    event(fmt::format(R"({{"name": "thread_name", "ph": "M", "pid": {}, "tid": {}, "args": {{"name": "iterations"}}}})",
                      r, kIterationsTid));
    event(fmt::format(R"({{"name": "thread_name", "ph": "M", "pid": {}, "tid": {}, "args": {{"name": "pcie"}}}})", r,
                      kPcieTid));
    event(fmt::format(R"({{"name": "thread_name", "ph": "M", "pid": {}, "tid": {}, "args": {{"name": "requests"}}}})",
                      r, kRequestsTid));
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

void Timeline::write_counters(int64_t replica, SimTime ns, const TimelineCounters& v) {
  CounterTrack& t = tracks_[static_cast<size_t>(replica)];
  const auto counter = [&](const char* name, const char* arg, auto value) {
    event(fmt::format(R"({{"name": "{}", "ph": "C", "ts": {}, "pid": {}, "tid": 0, "args": {{"{}": {}}}}})", name,
                      us(ns), replica, arg, value));
  };
  counter("KV GPU", "bytes", v.kv_gpu_bytes);
  // The host and disk tracks start when their tier first holds KV (a GPU-only run has none).
  t.host = t.host || v.kv_host_bytes > 0;
  t.disk = t.disk || v.kv_disk_bytes > 0;
  if (t.host) counter("KV host", "bytes", v.kv_host_bytes);
  if (t.disk) counter("KV disk", "bytes", v.kv_disk_bytes);
  counter("waiting requests", "requests", v.waiting);
}

void Timeline::counters(int64_t replica, SimTime now_ns, const TimelineCounters& values) {
  if (closed_ || replica < 0 || static_cast<size_t>(replica) >= tracks_.size()) return;
  CounterTrack& t = tracks_[static_cast<size_t>(replica)];
  if (values == (t.has_pending ? t.pending : t.last)) return;
  if (now_ns < t.next_ns) {  // held until the interval ends: only the last change of it is written
    t.pending = values;
    t.pending_ns = now_ns;
    t.has_pending = true;
    return;
  }
  if (t.has_pending && t.pending_ns < now_ns) write_counters(replica, t.pending_ns, t.pending);
  write_counters(replica, now_ns, values);
  t.last = values;
  t.has_pending = false;
  const SimTime interval = std::max<SimTime>(1, sampling_.counter_interval_ns);
  t.next_ns = (now_ns / interval + 1) * interval;
}

void Timeline::request(const TimelineRequest& r) {
  if (closed_ || !sampling_.traces(r.id)) return;
  const auto span = [&](const char* ph, const char* name, SimTime ns, const std::string& args) {
    event(fmt::format(R"({{"name": "{}", "cat": "request", "ph": "{}", "id": {}, "ts": {}, "pid": {}, "tid": {}{}}})",
                      name, ph, r.id, us(ns), r.replica, kRequestsTid, args));
  };
  span("b", "request", r.arrival_ns,
       fmt::format(R"(, "args": {{"prompt_tokens": {}, "output_tokens": {}}})", r.prompt_tokens, r.output_tokens));
  if (r.admitted_ns >= r.arrival_ns && r.admitted_ns <= r.first_token_ns) {
    span("b", "queued", r.arrival_ns, "");
    span("e", "queued", r.admitted_ns, "");
    span("b", "prefill", r.admitted_ns, "");
    span("e", "prefill", r.first_token_ns, "");
  } else {
    span("b", "waiting for first token", r.arrival_ns, "");
    span("e", "waiting for first token", r.first_token_ns, "");
  }
  if (r.finish_ns > r.first_token_ns) {
    span("b", "decode", r.first_token_ns, "");
    span("e", "decode", r.finish_ns, "");
  }
  span("e", "request", r.finish_ns, "");
}

void Timeline::close() {
  if (closed_) return;
  for (size_t r = 0; r < tracks_.size(); ++r) {
    if (tracks_[r].has_pending) write_counters(static_cast<int64_t>(r), tracks_[r].pending_ns, tracks_[r].pending);
    tracks_[r].has_pending = false;
  }
  closed_ = true;
  out_ << "\n]}\n";
}

}  // namespace kvsim::metrics
