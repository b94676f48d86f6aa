// The event queue: events ordered by (time, priority, insertion sequence), so events at the same instant always
// fire in the same order (ns-3 / SST-core). Time is int64 ns; schedule() refuses the past; no floating point enters
// the queue. Events are small PODs dispatched to an EventHandler, with no per-event heap allocation.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "sim/core/time.h"

namespace kvsim::engine {

class EventHandler {
 public:
  // Called when an event fires; `now` is the event's time. May schedule further events at >= now.
  virtual void on_event(SimTime now, uint32_t kind, uint64_t payload) = 0;

 protected:
  ~EventHandler() = default;
};

// Priorities for events at the same instant: smaller fires first.
enum EventPriority : int32_t {
  kPriorityArrival = 0,    // requests that arrive at t are queued before any replica schedules at t
  kPriorityIteration = 1,  // iteration ends
  kPriorityWake = 2,       // an idle replica starts scheduling after everything else at t
};

struct Event {
  SimTime time;
  int32_t priority;
  uint32_t kind;
  uint64_t seq;
  uint64_t payload;
  EventHandler* target;
};

class EventQueue {
 public:
  // Throws kvsim::Error when `time` is before now().
  void schedule(SimTime time, EventHandler* target, uint32_t kind, uint64_t payload = 0,
                int32_t priority = kPriorityIteration);

  // Pops and dispatches the earliest event; false when the queue is empty.
  bool step();
  // Dispatches events until the queue is empty or the next event is after `until`.
  void run(SimTime until = kSimTimeMax);

  // Pops the earliest event without dispatching it (for benchmarks and tests).
  Event pop();

  bool empty() const { return heap_.empty(); }
  size_t size() const { return heap_.size(); }
  SimTime now() const { return now_; }
  SimTime next_time() const { return heap_.empty() ? kSimTimeMax : heap_.front().time; }
  uint64_t events_processed() const { return processed_; }
  // Fast-forward: a handler that processes an event of its own inline moves the clock to it; `time` must lie in
  // [now(), next_time()). Throws kvsim::Error otherwise.
  void advance_to(SimTime time);
  void reserve(size_t n) { heap_.reserve(n); }

 private:
  void sift_up(size_t i);
  void sift_down(size_t i);

  std::vector<Event> heap_;  // binary min-heap on (time, priority, seq)
  SimTime now_ = 0;
  uint64_t next_seq_ = 0;
  uint64_t processed_ = 0;
};

}  // namespace kvsim::engine
