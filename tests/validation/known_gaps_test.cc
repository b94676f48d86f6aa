// Known gaps of the validation set, each with its cause demonstrated (validation/cases/*.yaml status: known-gap
// names the test here).
#include <gtest/gtest.h>

#include <iostream>

#include <fmt/format.h>

#include "models/cost_model.h"
#include "models/model_loader.h"
#include "models/model_spec.h"
#include "sim/run.h"
#include "sim/scenario.h"
#include "sim/serving/memory_plan.h"
#include "traces/datasets.h"

namespace kvsim::validation {
namespace {

models::CostModel v1_cost(const std::string& model, int tp) {
  const sim::Scenario s = sim::server_scenario(model, "h100-sxm5-80gb", models::load_model(model).dtype, tp, false);
  return models::CostModel(s.model, s.hardware, sim::exec_config(s));
}

double gemm_ms(const models::CostModel& m, const models::BatchShape& b) {
  double t = 0;
  for (const auto& op : m.ops(b)) {
    if (op.name == "qkv_proj" || op.name == "o_proj" || op.name == "gate_up_proj" || op.name == "down_proj") {
      t += ns_to_ms(op.time_ns) * static_cast<double>(m.model().num_layers);
    }
  }
  return t;
}

// measured-vllm-h100-codellama-34b-tp2-general-20rps: kvsim's decode step grows faster with the batch than the
// measured one, and its GEMMs' smooth ridge is what grows. Measured per output token, (E2E - TTFT) / (tokens - 1):
// 14.5 ms at 5 req/s (codegen, about 5 x 3.61 s = 18 running by Little's law) and 17.0 ms at 20 req/s (general, about
// 20 x 4.25 s = 85 running); context about 700 tokens in both.
TEST(KnownGaps, CodeLlama34bAtTwentyRpsIsTheGemmRidgeAtBatch85) {
  const models::CostModel m = v1_cost("codellama-34b", 2);
  const auto step = models::BatchShape::uniform(18, 1, 700, true, 0),
             big = models::BatchShape::uniform(85, 1, 700, true, 0);
  const double predicted_growth = ns_to_ms(m.iteration_ns(big) - m.iteration_ns(step));
  const double measured_growth = 17.0 - 14.5;
  // The gap: kvsim adds more than a millisecond too much per step between the two loads ...
  EXPECT_GT(predicted_growth - measured_growth, 1.0);
  // ... and the four GEMMs' growth alone covers it: at M = 85 on an H100 (ridge near M = 300) the weight read should
  // dominate, but the ridge's smoothing (p = 1.41, fitted on the A100, whose ridge is near M = 150) adds compute.
  const double gemm_growth = gemm_ms(m, big) - gemm_ms(m, step);
  EXPECT_GT(gemm_growth, predicted_growth - measured_growth);
  std::cout << fmt::format("step growth 18 -> 85 running: predicted {:.2f} ms, measured {:.2f} ms, GEMMs {:.2f} ms\n",
                           predicted_growth, measured_growth, gemm_growth);
  // The same batches on Llama-2-7B (TP 1), whose runs fit: its GEMMs grow too, and the fitted engine terms absorb it.
  const models::CostModel small = v1_cost("llama-2-7b", 1);
  EXPECT_GT(gemm_ms(small, models::BatchShape::uniform(83, 1, 700, true, 0)),
            gemm_ms(small, models::BatchShape::uniform(16, 1, 700, true, 0)));
}

// The vLLM paper's Fig. 12 rate at which Orca (Max) blows up on Alpaca, against the highest rate any engine could
// sustain in that setting. Orca (Max) reserves 2,048 tokens per request, so the paper's KV memory (Table 1) holds
// floor(slots / 2048) requests; each request needs about output_mean decode steps; each step reads every weight of a
// GPU once from HBM (datasheet bandwidth, 100 % of it). That bounds the rate from above, before any attention,
// prefill, kernel or CPU time:
//   rate <= batch / (output_mean x weight_bytes_per_gpu / hbm_bytes_per_s).
// OPT-66B's reading (5 req/s) is above the bound and OPT-13B's (7 req/s) at it: no model that respects HBM bandwidth
// reaches them (the figure's reading, or the paper's setup, differ from the published setting), and kvsim's
// predictions stay below the bound, as they must. The vllm.knee_rate/orca-max rows of those cases inherit this.
sim::Scenario case_scenario(const std::string& file, const std::vector<std::string>& overrides) {
  return sim::load_scenario(std::string(KVSIM_TEST_SOURCE_DIR) + "/validation/cases/scenarios/" + file, overrides);
}

double orca_max_alpaca_bound(const std::string& file) {
  const sim::Scenario s = case_scenario(file, {"cache.policy=orca-max"});
  const sim::MemoryPlan plan = sim::plan_memory(s);
  const int64_t batch = plan.num_gpu_blocks * plan.block_size / s.engine.max_model_len;
  const double step_s =
      models::weight_bytes_per_gpu(s.model, s.model.dtype, s.cluster.tensor_parallel) / s.hardware.gpu.hbm_bytes_per_s;
  return static_cast<double>(batch) / (traces::find_dataset("alpaca")->output_mean * step_s);
}

TEST(KnownGaps, Fig12OrcaMaxOnAlpacaIsAtOrAboveTheHbmBound) {
  const double bound_66b = orca_max_alpaca_bound("vllm-fig12-opt66b-alpaca.scenario.yaml");
  const double bound_13b = orca_max_alpaca_bound("vllm-fig12-opt13b-alpaca.scenario.yaml");
  EXPECT_GT(5.0, 1.4 * bound_66b) << bound_66b;   // the paper's OPT-66B Orca (Max): 5 req/s
  EXPECT_GT(7.0, 0.95 * bound_13b) << bound_13b;  // the paper's OPT-13B Orca (Max): 7 req/s
  // The bound holds 4 and 7 requests at once, as the paper's Table 1 slots (9.7K, 15.7K) over 2,048 give.
  const sim::Scenario s13 = sim::load_scenario(
      std::string(KVSIM_TEST_SOURCE_DIR) + "/validation/cases/scenarios/vllm-fig12-opt13b-alpaca.scenario.yaml",
      {"cache.policy=orca-max", "workload.arrival.rate=6", "workload.duration_s=600"});
  const sim::RunResult r = sim::run_scenario(s13, "");
  EXPECT_NEAR(r.summary["mean_running_requests"].get<double>(), 7.0, 0.3);
  // At a rate just under its bound kvsim does not keep up: its steps cost more than the weight read alone.
  const sim::Scenario fast = case_scenario(
      "vllm-fig12-opt13b-alpaca.scenario.yaml",
      {"cache.policy=orca-max", fmt::format("workload.arrival.rate={}", 0.95 * bound_13b), "workload.duration_s=600"});
  EXPECT_LT(sim::run_scenario(fast, "").summary["request_throughput"].get<double>(), 0.9 * 0.95 * bound_13b);
}

}  // namespace
}  // namespace kvsim::validation
