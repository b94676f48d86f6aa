// timeline.json (output.timeline: true): the run in Chrome / Perfetto trace-event format, streamed as it happens.
// One process per replica; on it a thread "iterations" (each iteration a complete event "X": prefill, decode or mixed,
// with its batch size and tokens) and a thread "pcie" (swap and tier transfers before an iteration, and the
// transfers overlapped with it). Times in microseconds, as the format wants.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>

#include "sim/core/time.h"

namespace kvsim::metrics {

class Timeline {
 public:
  // `out` must outlive the timeline; close() writes the end of the document.
  Timeline(std::ostream& out, int64_t replicas);
  void iteration(int64_t replica, SimTime start_ns, SimTime duration_ns, const std::string& kind, int64_t batch,
                 int64_t tokens);
  void transfer(int64_t replica, SimTime start_ns, SimTime duration_ns, const std::string& what, uint64_t bytes);
  void close();

 private:
  void event(const std::string& json);
  std::ostream& out_;
  bool first_ = true, closed_ = false;
};

}  // namespace kvsim::metrics
