// End-to-end simulation speed: 100k requests of the ShareGPT mix (vLLM paper: mean 161 prompt / 338 output tokens)
// on one llama-3.1-8b / h100-sxm5-80gb replica, vllm policy, at a rate below saturation. Reports simulated
// requests, events and iterations per second of wall time, and the speed-up over real time.
#include <benchmark/benchmark.h>

#include "sim/core/yaml.h"
#include "sim/run.h"

namespace {

const char* const kScenario = R"(
model: llama-3.1-8b
hardware: h100-sxm5-80gb
seed: 1
engine: {max_model_len: 8192}
workload:
  requests: 100000
  arrival: {process: poisson, rate: 20}
  prompt_tokens: {dist: lognormal, mean: 161, stddev: 150, min: 4, max: 4096}
  output_tokens: {dist: lognormal, mean: 338, stddev: 300, min: 4, max: 4096}
)";

void BM_E2E_100k_Sharegpt_Llama8B_H100(benchmark::State& state) {
  const kvsim::sim::Scenario s =
      kvsim::sim::parse_scenario(kvsim::yaml::load_string(kScenario, "bench"), "bench", {});
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
