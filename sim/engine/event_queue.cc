#include "sim/engine/event_queue.h"

#include <fmt/format.h>

#include "sim/core/error.h"

namespace kvsim::engine {

namespace {
inline bool before(const Event& a, const Event& b) {
  if (a.time != b.time) return a.time < b.time;
  if (a.priority != b.priority) return a.priority < b.priority;
  return a.seq < b.seq;
}
}  // namespace

void EventQueue::schedule(SimTime time, EventHandler* target, uint32_t kind, uint64_t payload, int32_t priority) {
  if (time < now_) {
    throw Error(fmt::format("internal error: event scheduled at {} ns, before the current time {} ns", time, now_));
  }
  heap_.push_back(Event{time, priority, kind, next_seq_++, payload, target});
  sift_up(heap_.size() - 1);
}

void EventQueue::sift_up(size_t i) {
  const Event e = heap_[i];
  while (i > 0) {
    const size_t parent = (i - 1) / 2;
    if (!before(e, heap_[parent])) break;
    heap_[i] = heap_[parent];
    i = parent;
  }
  heap_[i] = e;
}

void EventQueue::sift_down(size_t i) {
  const size_t n = heap_.size();
  const Event e = heap_[i];
  while (true) {
    size_t child = 2 * i + 1;
    if (child >= n) break;
    if (child + 1 < n && before(heap_[child + 1], heap_[child])) ++child;
    if (!before(heap_[child], e)) break;
    heap_[i] = heap_[child];
    i = child;
  }
  heap_[i] = e;
}

Event EventQueue::pop() {
  const Event top = heap_.front();
  heap_.front() = heap_.back();
  heap_.pop_back();
  if (!heap_.empty()) sift_down(0);
  now_ = top.time;
  return top;
}

void EventQueue::advance_to(SimTime time) {
  if (time < now_ || time >= next_time()) {
    throw Error(fmt::format("internal error: fast-forward to {} ns outside [{} ns, {} ns)", time, now_, next_time()));
  }
  now_ = time;
}

bool EventQueue::step() {
  if (heap_.empty()) return false;
  const Event e = pop();
  ++processed_;
  e.target->on_event(e.time, e.kind, e.payload);
  return true;
}

void EventQueue::run(SimTime until) {
  while (!heap_.empty() && heap_.front().time <= until) step();
}

}  // namespace kvsim::engine
