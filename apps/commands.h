// The subcommands behind the CLI; each writes its report to `out` and returns the exit code. Library errors
// (kvsim::Error) propagate to run_cli.
#pragma once

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "kernels/suite.h"
#include "models/model_spec.h"

namespace kvsim::app {

struct RunArgs {
  std::string scenario;
  std::string out_dir;
  std::optional<uint64_t> seed;
  std::vector<std::string> overrides;
  std::string format = "table";
  bool check_invariants = false;
  bool skip_bad_lines = false;  // a trace's malformed rows are skipped and counted (workload.skip_bad_lines)
  bool force = false;           // replace output files no earlier kvsim run wrote
};

struct CompareArgs {
  RunArgs run;
  std::vector<std::string> policies;
  std::vector<double> rates;
  std::optional<int64_t> requests;   // requests per point (overrides workload.requests)
  std::optional<std::string> study;  // --study NAME: run a named grid (sim/planning/study.h) instead of one scenario
  std::vector<std::string> disaggregated;  // --disaggregated P:D,...: each point also as P prefill + D decode replicas
  bool without_kv_store = false;           // --without-kv-store: each point also without its cluster.kv_store
};

struct CostArgs {
  std::string model, hardware, phase = "prefill", format = "table", dtype;
  int64_t tokens = 0, batch = 1, context = 0, tp = 1;
  bool eager = false;
  bool explain = false;
  std::string engine = "v1";  // v1 | static (the FlexGen family's eager PyTorch engine)
};

struct ListArgs {
  std::string format = "table";
};

// The scenario overrides a run's flags stand for: --set in order, then --seed and --check-invariants.
std::vector<std::string> run_overrides(const RunArgs& args);

int cmd_run(const RunArgs& args, std::ostream& out, std::ostream& err);
// kvsim compare (apps/compare_command.cc).
int cmd_compare(const CompareArgs& args, std::ostream& out, std::ostream& err);
int cmd_cost(const CostArgs& args, std::ostream& out);
int cmd_models(const ListArgs& args, std::ostream& out);
// kvsim model-info CONFIG.json|CATALOG_NAME [--format table|json] (apps/model_info_command.cc).
struct ModelInfoArgs {
  std::string model;
  std::string format = "table";
};
int cmd_model_info(const ModelInfoArgs& args, std::ostream& out);
int cmd_hardware(const ListArgs& args, std::ostream& out);

// kvsim calibrate (apps/calibrate_command.cc): measure this machine and write a `source: measured` profile.
struct CalibrateArgs {
  std::string out;   // --out PROFILE.yaml
  std::string base;  // --base CATALOG_NAME; "" = from the GPU name (h100-sxm5-80gb without a GPU)
  bool quick = false;
  bool host_only = false;
  bool require_gpu = false;  // --require-gpu: no usable GPU, or a failed GPU measurement, is an error
  int device = 0;
  std::vector<std::string> suites;  // --suites hbm,pcie,...; empty = all
  std::vector<std::string> refit;   // --refit A.yaml,B.yaml: no measurement; fit the samples of measured profiles
  std::string sanity;               // --sanity PROFILE.yaml: no measurement; check a measured profile
  bool force = false;
  std::string command_line;  // argv joined, recorded in the profile
  // --import vidur DIR: no measurement; read another tool's published profiles instead (apps/import_command.cc).
  std::vector<std::string> import;
  std::vector<std::string> also;  // --also DIR...: more folders of the same GPU (e.g. Vidur's network/a100_dgx)
  std::string check;              // --check DIR: profiles of another GPU, predicted with the fitted parameters
  std::string check_base;         // --check-base CATALOG_NAME: that GPU's datasheet profile
};
int cmd_calibrate(const CalibrateArgs& args, std::ostream& out, std::ostream& err);
// kvsim calibrate --refit A.yaml,B.yaml --out PROFILE.yaml [--base NAME]: one profile from several measured ones.
int cmd_refit_profiles(const CalibrateArgs& args, std::ostream& out, std::ostream& err);
// kvsim calibrate --sanity PROFILE.yaml: the checks of kernels/sanity.h; 0 when all pass, 1 otherwise.
int cmd_sanity(const CalibrateArgs& args, std::ostream& out, std::ostream& err);
// kvsim calibrate --import vidur DIR --base NAME --out PROFILE.yaml [--also DIR]... [--check DIR --check-base NAME]:
// a measured profile from Vidur's operator profiles, the operator model fitted on them, and its error table.
int cmd_import_profiles(const CalibrateArgs& args, std::ostream& out, std::ostream& err);

// kvsim trace stats FILE / kvsim trace gen (apps/trace_command.cc).
struct TraceStatsArgs {
  std::string file;
  std::string format = "table";
  std::string trace_format = "auto";
  bool skip_bad_lines = false;
};
int cmd_trace_stats(const TraceStatsArgs& args, std::ostream& out);

struct TraceGenArgs {
  std::string arrival = "poisson";
  std::optional<double> rate, cv, shape, duration_s;
  std::optional<int64_t> requests;
  std::string dataset, prompt_tokens, output_tokens;  // lengths as YAML: 512 or {dist: lognormal, ...}
  std::vector<std::string> overrides;                 // --set workload.KEY=VALUE
  uint64_t seed = 1;
  std::string out;
  std::string format = "simple";  // simple | jsonl
  bool force = false;             // replace an existing file
};
int cmd_trace_gen(const TraceGenArgs& args, std::ostream& out);

// kvsim validate (apps/validate_command.cc): exit 0 when every case holds, 1 when one fails, 2 on bad input.
struct ValidateArgs {
  std::vector<std::string> cases;  // folders or files; default validation/cases
  std::string filter;              // a glob over case names
  std::string format = "table";
  std::string out;
  bool quick = false;  // only the cases marked fast
  bool force = false;  // replace an existing -o file kvsim did not write
  std::string error_model;  // --error-model FILE: write the residuals of the measured cases (error_bars.h)
};
int cmd_validate(const ValidateArgs& args, std::ostream& out, std::ostream& err);
}  // namespace kvsim::app
namespace kvsim::validation {
struct EngineBenchArgs;
}
namespace kvsim::app {
// kvsim engine-bench (apps/validate_command.cc): the mini decode engine, measured vs predicted per iteration.
int cmd_engine_bench(const validation::EngineBenchArgs& args, const std::string& out_path, bool force,
                     std::ostream& out);

// kvsim sweep (apps/sweep_command.cc).
struct SweepArgs {
  std::string grid;
  std::string out_dir;
  int jobs = 1;
  std::string shard;  // "I/N"
  bool resume = false;
  bool force = false;  // with --resume: move another grid's lines aside; with --merge: replace the results
  std::vector<std::string> merge;  // shard output folders to merge into out_dir (sim/planning/sweep_merge.h)
};
int cmd_sweep(const SweepArgs& args, std::ostream& out, std::ostream& err);
// kvsim report DIR [-o FILE] (default DIR/report.html).
int cmd_report(const std::string& dir, const std::string& out_path, bool force, std::ostream& out);

// kvsim plan (apps/plan_command.cc): exit 0 with a configuration, 1 when none serves the rate.
struct PlanArgs {
  std::string model, slo, workload, dataset, format = "table";
  std::string arrival;          // --arrival: "" = trace arrivals for a timed trace, else poisson
  std::string progress = "auto";  // --progress auto | on | off
  double confidence = 0;          // --confidence: size against the interval's pessimistic end at this level
  double rate = 0;
  std::vector<std::string> gpus, policies, overrides, chunked_prefill;
  std::vector<int64_t> max_num_seqs;
  std::string gpu_price;       // --gpu-price NAME=USD_PER_GPU_HOUR,...
  bool require_price = false;  // --require-price
  bool disaggregated = false;  // --disaggregated: also search prefill:decode splits
  int64_t max_gpus = 8, seeds = 3;
  int jobs = 0;  // 0: the machine's cores
  double duration_s = 120;
};
int cmd_plan(const PlanArgs& args, std::ostream& out, std::ostream& err);

// GEMM shapes of every catalog model (qkv, o, MLP or expert projections, lm_head) for tp 1/2/4/8 where the heads
// divide, deduplicated by (n, k).
std::vector<kernels::GemmShape> catalog_gemm_shapes();
// The same for one model, labelled `name`/op/tpN. MLA models (DeepSeek-V2/V3) list their own projections: q_a_proj and
// q_b_proj (or q_proj), kv_a_proj_with_mqa, kv_b_proj and o_proj over v_head_dim, not q/k/v over head_dim.
std::vector<kernels::GemmShape> model_gemm_shapes(const models::ModelSpec& m, const std::string& name);

}  // namespace kvsim::app
