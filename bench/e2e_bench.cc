// End-to-end simulation speed on bench/scenarios/sharegpt_100k.yaml (100k ShareGPT-like requests, one
// llama-3.1-8b / h100-sxm5-80gb replica, vllm policy, below saturation). Reports simulated requests, events and
// iterations per second of wall time, and the speed-up over real time.
#include <benchmark/benchmark.h>

#include "sim/run.h"

namespace {

const char* const kScenarioFile = KVSIM_BENCH_DIR "/scenarios/sharegpt_100k.yaml";

void BM_E2E_100k_Sharegpt_Llama8B_H100(benchmark::State& state) {
  const kvsim::sim::Scenario s = kvsim::sim::load_scenario(kScenarioFile, {});
  double simulated_s = 0, events = 0, iterations = 0, completed = 0;
  for (auto _ : state) {
    const kvsim::sim::RunResult r = kvsim::sim::run_scenario(s, "");
    simulated_s = r.summary["duration"].get<double>();
    events = static_cast<double>(r.events);
    iterations = r.summary["num_iterations"].get<double>();
    completed = r.summary["completed"].get<double>();
  }
  const double n = static_cast<double>(state.iterations());
  state.counters["requests_per_s"] = benchmark::Counter(completed * n, benchmark::Counter::kIsRate);
  state.counters["events_per_s"] = benchmark::Counter(events * n, benchmark::Counter::kIsRate);
  state.counters["iterations_per_s"] = benchmark::Counter(iterations * n, benchmark::Counter::kIsRate);
  state.counters["simulated_s"] = simulated_s;
  state.counters["x_real_time"] = benchmark::Counter(simulated_s * n, benchmark::Counter::kIsRate);
}
BENCHMARK(BM_E2E_100k_Sharegpt_Llama8B_H100)->Unit(benchmark::kMillisecond)->Iterations(3);

}  // namespace

BENCHMARK_MAIN();
