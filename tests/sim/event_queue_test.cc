#include "sim/engine/event_queue.h"

#include <gtest/gtest.h>

#include <vector>

#include "sim/core/error.h"

namespace kvsim::engine {
namespace {

struct Recorder final : EventHandler {
  std::vector<uint64_t> fired;
  std::vector<SimTime> times;
  void on_event(SimTime now, uint32_t, uint64_t payload) override {
    fired.push_back(payload);
    times.push_back(now);
  }
};

TEST(EventQueue, OrdersByTimeThenPriorityThenInsertion) {
  EventQueue q;
  Recorder r;
  q.schedule(20, &r, 0, 1);
  q.schedule(10, &r, 0, 2, kPriorityWake);
  q.schedule(10, &r, 0, 3, kPriorityArrival);
  q.schedule(10, &r, 0, 4, kPriorityWake);
  q.schedule(5, &r, 0, 5);
  q.run();
  EXPECT_EQ(r.fired, (std::vector<uint64_t>{5, 3, 2, 4, 1}));
  EXPECT_EQ(r.times, (std::vector<SimTime>{5, 10, 10, 10, 20}));
  EXPECT_EQ(q.events_processed(), 5u);
}

TEST(EventQueue, RefusesThePast) {
  EventQueue q;
  Recorder r;
  q.schedule(100, &r, 0, 0);
  q.step();
  EXPECT_EQ(q.now(), 100);
  EXPECT_THROW(q.schedule(99, &r, 0, 0), Error);
  EXPECT_NO_THROW(q.schedule(100, &r, 0, 0));  // now is allowed
}

TEST(EventQueue, ManyRandomEventsComeOutSorted) {
  EventQueue q;
  Recorder r;
  uint64_t x = 12345;
  for (int i = 0; i < 10000; ++i) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    q.schedule(static_cast<SimTime>(x >> 44), &r, 0, static_cast<uint64_t>(i));
  }
  q.run();
  ASSERT_EQ(r.times.size(), 10000u);
  for (size_t i = 1; i < r.times.size(); ++i) ASSERT_LE(r.times[i - 1], r.times[i]);
}

}  // namespace
}  // namespace kvsim::engine
