// End-to-end simulation speed on the bench/scenarios/ set: 1M requests of lognormal lengths (the engine's cost per
// iteration), 100k ShareGPT-like requests and 1M Azure conversation
// requests on one llama-3.1-8b / h100-sxm5-80gb replica (vllm, below saturation), the 1M over 8 replicas (colocated,
// and as 2 prefill + 6 decode replicas), 100k under the infinigen and h2o policies, and 200k at twice the sustainable
// rate (overload). Reports simulated requests, events and iterations per second of wall time, and the speed-up over
// real time. One core (the simulator is single-threaded).
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "sim/run.h"

namespace {

// `level`: engine.fast_forward (empty: the scenario's, analytic by default).
void BM_E2E(benchmark::State& state, const char* file, const char* level = "") {
  std::vector<std::string> overrides;
  if (*level != '\0') overrides.push_back(std::string("engine.fast_forward=") + level);
  const kvsim::sim::Scenario s =
      kvsim::sim::load_scenario(std::string(KVSIM_BENCH_DIR "/scenarios/") + file, overrides);
  double simulated_s = 0, events = 0, iterations = 0, completed = 0, analytic = 0, cohort = 0;
  for (auto _ : state) {
    const kvsim::sim::RunResult r = kvsim::sim::run_scenario(s, "");
    simulated_s = r.summary["duration"].get<double>();
    events = static_cast<double>(r.events);
    iterations = r.summary["num_iterations"].get<double>();
    completed = r.summary["completed"].get<double>();
    analytic = static_cast<double>(r.analytic_steps);
    cohort = static_cast<double>(r.cohort_iterations);
  }
  const double n = static_cast<double>(state.iterations());
  state.counters["requests_per_s"] = benchmark::Counter(completed * n, benchmark::Counter::kIsRate);
  state.counters["events_per_s"] = benchmark::Counter(events * n, benchmark::Counter::kIsRate);
  state.counters["iterations_per_s"] = benchmark::Counter(iterations * n, benchmark::Counter::kIsRate);
  state.counters["simulated_s"] = simulated_s;
  // The share of iterations run in closed form (engine.fast_forward: analytic).
  state.counters["analytic_share"] = iterations > 0 ? analytic / iterations : 0.0;
  // The share started from a decode cohort's sums (a stretch's last step, an arrival's iteration): with the closed-form
  // ones, the iterations that cost no pass over the running sequences.
  state.counters["cohort_share"] = iterations > 0 ? cohort / iterations : 0.0;
  state.counters["x_real_time"] = benchmark::Counter(simulated_s * n, benchmark::Counter::kIsRate);
}
// 1M requests of lognormal lengths at 10 req/s on one replica (about 9.4M iterations): the engine's cost per
// iteration, against the previous engine (fast_forward inline) in the same run.
BENCHMARK_CAPTURE(BM_E2E, synthetic_1m, "synthetic_1m.yaml")->Unit(benchmark::kMillisecond)->Iterations(3);
BENCHMARK_CAPTURE(BM_E2E, synthetic_1m_inline, "synthetic_1m.yaml", "inline")
    ->Unit(benchmark::kMillisecond)
    ->Iterations(3);
BENCHMARK_CAPTURE(BM_E2E, azure_conv_1m_inline, "azure_conv_1m.yaml", "inline")
    ->Unit(benchmark::kMillisecond)
    ->Iterations(1);
BENCHMARK_CAPTURE(BM_E2E, sharegpt_100k, "sharegpt_100k.yaml")->Unit(benchmark::kMillisecond)->Iterations(3);
BENCHMARK_CAPTURE(BM_E2E, azure_conv_1m, "azure_conv_1m.yaml")->Unit(benchmark::kMillisecond)->Iterations(1);
BENCHMARK_CAPTURE(BM_E2E, azure_conv_1m_8replicas, "azure_conv_1m_8replicas.yaml")
    ->Unit(benchmark::kMillisecond)
    ->Iterations(1);
// Disaggregated: the 1M on 2 prefill + 6 decode replicas of one server, each request's KV over NVLink.
BENCHMARK_CAPTURE(BM_E2E, azure_conv_1m_disaggregated, "azure_conv_1m_disaggregated.yaml")
    ->Unit(benchmark::kMillisecond)
    ->Iterations(1);
BENCHMARK_CAPTURE(BM_E2E, infinigen_100k, "infinigen_100k.yaml")->Unit(benchmark::kMillisecond)->Iterations(1);
BENCHMARK_CAPTURE(BM_E2E, h2o_100k, "h2o_100k.yaml")->Unit(benchmark::kMillisecond)->Iterations(1);
// Overload: twice the rate the replica sustains, the waiting queue growing for the whole arrival span.
BENCHMARK_CAPTURE(BM_E2E, azure_conv_overload, "azure_conv_overload.yaml")
    ->Unit(benchmark::kMillisecond)
    ->Iterations(3);

}  // namespace

BENCHMARK_MAIN();
