// timeline.json (output.timeline: true): the run in Chrome / Perfetto trace-event format, streamed as it happens.
// One process per replica; on it a thread "iterations" (each iteration a complete event "X": prefill, decode or mixed,
// with its batch size and tokens), a thread "pcie" (swap and tier transfers before an iteration, and the transfers
// overlapped with it), counter tracks ("C") of the KV held per tier (GPU; host and disk once they hold any) and of
// the requests waiting for admission, and per sampled request nested async spans ("b"/"e", cat "request", id = the
// request id): "request" from arrival to finish, holding "queued" (arrival to admission), "prefill" (admission to
// first token) and "decode" (first token to finish). Times in microseconds, as the format wants.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "sim/core/time.h"

namespace kvsim::metrics {

// What keeps a big run's timeline bounded, deterministically (scenario output.timeline_request_every and
// output.timeline_max_requests; output.memory_interval_ms):
// - request spans for request ids i with i % request_every == 0 and i / request_every < max_requests;
// - counters written when a value changes, at most one change per interval per replica plus the last value before
//   it, so every level a track shows is one the replica held, and the final one is written at close().
struct TimelineSampling {
  int64_t request_every = 1;
  int64_t max_requests = 10000;
  SimTime counter_interval_ns = 100 * kNsPerMs;
  bool traces(uint64_t request_id) const {
    const uint64_t every = static_cast<uint64_t>(request_every);
    return request_id % every == 0 && request_id / every < static_cast<uint64_t>(max_requests);
  }
};

// A replica's counter values at one instant.
struct TimelineCounters {
  uint64_t kv_gpu_bytes = 0, kv_host_bytes = 0, kv_disk_bytes = 0;
  int64_t waiting = 0;
  bool operator==(const TimelineCounters&) const = default;
};

// One finished request's times (ns); admitted_ns < 0 when unknown (then "queued" and "prefill" are one span,
// "waiting for first token").
struct TimelineRequest {
  uint64_t id = 0;
  int64_t replica = 0;
  SimTime arrival_ns = 0, admitted_ns = -1, first_token_ns = 0, finish_ns = 0;
  int64_t prompt_tokens = 0, output_tokens = 0;
};

class Timeline {
 public:
  // `out` must outlive the timeline; close() writes the end of the document.
  Timeline(std::ostream& out, int64_t replicas, TimelineSampling sampling = {});
  void iteration(int64_t replica, SimTime start_ns, SimTime duration_ns, const std::string& kind, int64_t batch,
                 int64_t tokens);
  void transfer(int64_t replica, SimTime start_ns, SimTime duration_ns, const std::string& what, uint64_t bytes);
  // The replica's state changed at `now_ns` (non-decreasing per replica).
  void counters(int64_t replica, SimTime now_ns, const TimelineCounters& values);
  // A request finished: its spans, when the sampling rule takes it.
  void request(const TimelineRequest& r);
  void close();

 private:
  struct CounterTrack {
    TimelineCounters last, pending;
    SimTime pending_ns = 0, next_ns = 0;
    bool has_pending = false, host = false, disk = false;
  };
  void event(const std::string& json);
  void write_counters(int64_t replica, SimTime ns, const TimelineCounters& v);
  std::ostream& out_;
  TimelineSampling sampling_;
  std::vector<CounterTrack> tracks_;
  bool first_ = true, closed_ = false;
};

}  // namespace kvsim::metrics
