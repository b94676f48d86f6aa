// Event queue throughput: push + pop pairs per second at several queue depths (target >= 10M/s on one core).
#include <benchmark/benchmark.h>

#include "sim/engine/event_queue.h"

namespace {

struct Sink final : kvsim::engine::EventHandler {
  uint64_t count = 0;
  void on_event(kvsim::SimTime, uint32_t, uint64_t) override { ++count; }
};

// Hold `depth` events; each step pops the earliest and pushes one a pseudo-random delay later (a hold model, the
// classic priority-queue benchmark).
void BM_EventQueueHold(benchmark::State& state) {
  const int64_t depth = state.range(0);
  kvsim::engine::EventQueue q;
  Sink sink;
  uint64_t x = 88172645463325252ull;
  auto next_delay = [&x] {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return static_cast<kvsim::SimTime>(x % 1'000'000);
  };
  for (int64_t i = 0; i < depth; ++i) q.schedule(next_delay(), &sink, 0, 0);
  for (auto _ : state) {
    const kvsim::engine::Event e = q.pop();
    q.schedule(e.time + next_delay(), &sink, 0, e.payload);
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["push_pop_per_s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_EventQueueHold)->Arg(16)->Arg(1024)->Arg(65536);

}  // namespace

BENCHMARK_MAIN();
