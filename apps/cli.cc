#include "apps/cli.h"

#include <charconv>
#include <csignal>

#include <iostream>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "apps/commands.h"
#include "sim/core/error.h"
#include "sim/core/input_file.h"
#include "sim/core/interrupt.h"
#include "sim/scenario.h"
#include "sim/planning/study.h"
#include "traces/arrival.h"
#include "traces/datasets.h"
#include "traces/trace_reader.h"
#include "kernels/suite.h"
#include "validation/engine_bench.h"

namespace kvsim::app {

namespace {
// Option checks whose messages name the range plainly (CLI11's number checks print 300-digit bounds) and that refuse
// what a cast would wrap (--seed -1 as 18446744073709551615).
CLI::Validator whole_in(int64_t lo, int64_t hi) {
  return CLI::Validator(
      [lo, hi](std::string& text) -> std::string {
        int64_t v = 0;
        const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
        if (text.empty() || ec != std::errc() || ptr != text.data() + text.size() || v < lo || v > hi) {
          return fmt::format("expected an integer in [{} .. {}], found '{}'", lo, hi, excerpt(text));
        }
        return "";
      },
      fmt::format("INT in [{} .. {}]", lo, hi));
}

CLI::Validator number_in(double lo, double hi) {
  return CLI::Validator(
      [lo, hi](std::string& text) -> std::string {
        double v = 0;
        const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
        if (text.empty() || ec != std::errc() || ptr != text.data() + text.size() || !(v >= lo && v <= hi)) {
          return fmt::format("expected a number in [{} .. {}], found '{}'", lo, hi, excerpt(text));
        }
        return "";
      },
      fmt::format("NUMBER in [{} .. {}]", lo, hi));
}

CLI::Validator seed_value() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        uint64_t v = 0;
        const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
        if (text.empty() || ec != std::errc() || ptr != text.data() + text.size()) {
          return fmt::format("expected an integer in [0 .. 18446744073709551615], found '{}'", excerpt(text));
        }
        return "";
      },
      "UINT64");
}
}  // namespace

namespace {

// "kvsim 0.1.0 (CUDA microbenchmarks: yes, MPI sweeps: no, C++ ...)": what this build can do.
std::string version_text() {
#ifdef KVSIM_HAVE_MPI
  constexpr bool kMpi = true;
#else
  constexpr bool kMpi = false;
#endif
  return fmt::format("kvsim 0.1.0 (CUDA microbenchmarks: {}, MPI sweeps: {}, compiler: {})",
                     kernels::built_with_cuda() ? "yes" : "no (kvsim calibrate runs the host suite only)",
                     kMpi ? "yes" : "no (kvsim sweep --shard splits a grid instead)", __VERSION__);
}

// A first argument that is neither an option nor a command: the nearest command, instead of CLI11's "A subcommand is
// required". Empty when argv[1] is fine.
std::string unknown_command(int argc, char** argv, const CLI::App& app) {
  if (argc < 2 || argv[1][0] == '-') return "";
  std::vector<std::string> names;
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) names.push_back(sub->get_name());
  if (std::find(names.begin(), names.end(), argv[1]) != names.end()) return "";
  return fmt::format("unknown command '{}'{}; commands: {}", argv[1], did_you_mean(argv[1], names), join(names));
}

}  // namespace

int run_cli(int argc, char** argv) { return run_cli(argc, argv, std::cout, std::cerr); }

int run_cli(int argc, char** argv, std::ostream& out, std::ostream& err) {
  CLI::App app{"kvsim: discrete-event simulator of KV-cache memory systems for LLM inference"};
  app.require_subcommand(1);
  app.set_version_flag("--version", version_text());

  RunArgs run_args;
  CLI::App* run = app.add_subcommand("run", "Simulate one scenario (default: the built-in study)");
  run->add_option("scenario", run_args.scenario, "Scenario YAML (omit for the built-in study)");
  run->add_option("-o,--output", run_args.out_dir, "Output folder (default: output.dir, else kvsim-out/run)");
  run->add_option("--seed", run_args.seed, "Seed for every random stream (overrides the scenario's)")
      ->check(seed_value());
  run->add_option("--set", run_args.overrides, "Override a scenario key: --set cache.block_size=32 (repeatable)");
  run->add_option("--format", run_args.format, "Output on stdout")->check(CLI::IsMember({"table", "json"}));
  run->add_flag("--check-invariants", run_args.check_invariants,
                "Check every iteration: memory per tier within capacity, blocks conserved, no request lost, time "
                "forward (slower)");
  run->add_flag("--skip-bad-lines", run_args.skip_bad_lines,
                "Skip and count a trace's malformed rows instead of stopping (workload.skip_bad_lines)");
  run->add_flag("--force", run_args.force, "Replace files in the output folder that no earlier kvsim run wrote");

  CompareArgs cmp_args;
  CLI::App* compare = app.add_subcommand("compare", "Run a scenario under several cache policies and request rates");
  compare->add_option("scenario", cmp_args.run.scenario, "Scenario YAML (omit for the built-in study)");
  compare
      ->add_option("--policies", cmp_args.policies,
                   fmt::format("Comma-separated policies (default: {}; valid: {})",
                               join(sim::default_compare_policies()), join(sim::policy_names())))
      ->delimiter(',');
  compare->add_option("--rates", cmp_args.rates, "Comma-separated Poisson rates in req/s")->delimiter(',');
  compare
      ->add_option("--disaggregated", cmp_args.disaggregated,
                   "Comma-separated P:D splits: each point also runs as P prefill and D decode replicas of the "
                   "scenario's tensor parallelism, beside the colocated scenario (e.g. 1:3,2:2)")
      ->delimiter(',');
  compare->add_flag("--without-kv-store", cmp_args.without_kv_store,
                    "Each point also runs without its cluster.kv_store, beside it (the TTFT the store saves)");
  compare->add_option("--requests", cmp_args.requests, "Requests per point (overrides workload.requests)")
      ->check(whole_in(1, int64_t{1} << 40));
  compare->add_option("--study", cmp_args.study,
                      fmt::format("Run a named study grid instead of one scenario (valid: {}); writes study.csv and "
                                  "study.md (default folder: kvsim-out/study)",
                                  join(sim::study_names())));
  compare->add_option("-o,--output", cmp_args.run.out_dir,
                      "Output folder (default: kvsim-out/compare; kvsim-out/study with --study)");
  compare->add_option("--seed", cmp_args.run.seed, "Seed for every random stream")->check(seed_value());
  compare->add_option("--set", cmp_args.run.overrides, "Override a scenario key (repeatable)");
  compare->add_flag("--check-invariants", cmp_args.run.check_invariants,
                    "Check every iteration: memory per tier within capacity, blocks conserved, no request lost, time "
                    "forward (slower)");
  compare->add_flag("--skip-bad-lines", cmp_args.run.skip_bad_lines,
                    "Skip and count a trace's malformed rows instead of stopping (workload.skip_bad_lines)");
  compare->add_flag("--force", cmp_args.run.force, "Replace files in the output folders that no kvsim run wrote");
  compare->add_option("--format", cmp_args.run.format, "Output on stdout")
      ->check(CLI::IsMember({"table", "json", "csv"}));

  CostArgs cost_args;
  CLI::App* cost = app.add_subcommand("cost", "Time of one forward pass, operator by operator");
  cost->add_option("--model", cost_args.model, "Catalog model or config.json")->required();
  cost->add_option("--hardware", cost_args.hardware, "Catalog hardware or profile YAML")->required();
  cost->add_option("--tokens", cost_args.tokens, "New tokens in the batch, in total")
      ->required()
      ->check(whole_in(1, int64_t{1} << 30));
  cost->add_option("--batch", cost_args.batch, "Sequences in the batch")->check(whole_in(1, 1 << 24));
  cost->add_option("--context", cost_args.context, "Decode: tokens of context each sequence attends")
      ->check(whole_in(0, int64_t{1} << 30));
  cost->add_option("--tp", cost_args.tp, "Tensor-parallel GPUs")->check(whole_in(1, 64));
  cost->add_option("--phase", cost_args.phase, "prefill or decode")->check(CLI::IsMember({"prefill", "decode"}));
  cost->add_option("--dtype", cost_args.dtype, "Activation and weight dtype (default: the model's)");
  cost->add_flag("--eager", cost_args.eager, "Without CUDA graphs (engine.enforce_eager)");
  cost->add_option("--engine", cost_args.engine,
                   "v1 (vLLM V1, default) or static (the FlexGen family's eager PyTorch engine: host time per op)")
      ->check(CLI::IsMember({"v1", "static"}));
  cost->add_flag("--explain", cost_args.explain, "Say for every op whether a measured curve or the roofline was used");
  cost->add_option("--format", cost_args.format, "Output on stdout")->check(CLI::IsMember({"table", "json"}));

  ListArgs models_args, hw_args;
  CLI::App* models = app.add_subcommand("models", "List the model catalog");
  models->add_option("--format", models_args.format, "Output on stdout")->check(CLI::IsMember({"table", "json"}));
  ModelInfoArgs model_info_args;
  CLI::App* model_info = app.add_subcommand(
      "model-info", "Parameters, weight bytes, KV bytes per token and layer kinds of a config.json or catalog model");
  model_info->add_option("model", model_info_args.model, "A Hugging Face config.json or a catalog name")->required();
  model_info->add_option("--format", model_info_args.format, "Output on stdout (yaml: the model as a catalog entry)")
      ->check(CLI::IsMember({"table", "json", "yaml"}));
  CLI::App* hardware = app.add_subcommand("hardware", "List the hardware catalog");
  hardware->add_option("--format", hw_args.format, "Output on stdout")->check(CLI::IsMember({"table", "json"}));

  CalibrateArgs cal_args;
  CLI::App* calibrate = app.add_subcommand("calibrate", "Measure this machine and write a measured hardware profile");
  calibrate->add_option("--out", cal_args.out, "Profile YAML to write (required, except with --sanity)");
  calibrate->add_option("--base", cal_args.base, "Catalog profile for the datasheet numbers (default: from the GPU)");
  calibrate->add_flag("--quick", cal_args.quick, "Fewer sizes and repeats (about 2 minutes on an H100)");
  calibrate->add_flag("--host-only", cal_args.host_only, "Only the host suite, even with a GPU");
  calibrate->add_flag("--require-gpu", cal_args.require_gpu,
                      "Fail (exit 2) when no GPU can be used or any GPU measurement fails, instead of running the host "
                      "suite alone");
  calibrate->add_option("--device", cal_args.device, "CUDA device ordinal")->check(whole_in(0, 1023));
  calibrate->add_option("--suites", cal_args.suites, "Comma-separated suites (default: all)")->delimiter(',');
  calibrate->add_flag("--force", cal_args.force, "Overwrite an existing --out file");
  calibrate->add_option("--import", cal_args.import,
                        "Import published profiles instead of measuring: 'vidur DIR' (Vidur's mlp.csv, attention.csv, "
                        "all_reduce.csv, plain or .gz), fitting the operator model on them")
      ->expected(2);
  calibrate->add_option("--sanity", cal_args.sanity,
                        "Measure nothing: check a measured profile against its GPU's datasheet (HBM, PCIe, launch, "
                        "GEMM, decode attention); exit 1 when a check fails or lacks its samples");
  calibrate->add_option("--refit", cal_args.refit,
                        "Measure nothing: fit one profile from the raw samples of these measured profiles of one GPU "
                        "(e.g. one calibrate run per suite)")
      ->delimiter(',');
  calibrate->add_option("--also", cal_args.also, "With --import: more folders of the same GPU (e.g. its network profiles)");
  calibrate->add_option("--check", cal_args.check,
                        "With --import: profiles of another GPU, predicted with the fitted parameters and its datasheet");
  calibrate->add_option("--check-base", cal_args.check_base, "With --check: that GPU's catalog profile");
  for (int i = 1; i < argc; ++i) cal_args.command_line += (i == 1 ? "kvsim " : " ") + std::string(argv[i]);

  CLI::App* trace = app.add_subcommand("trace", "Look at a trace file, or generate a workload and write it as one");
  trace->require_subcommand(1);
  TraceStatsArgs stats_args;
  CLI::App* stats = trace->add_subcommand("stats", "Count, duration, rate, burstiness and length percentiles");
  stats->add_option("file", stats_args.file, "Trace file (any format kvsim reads)")->required();
  stats->add_option("--format", stats_args.format, "Output on stdout")->check(CLI::IsMember({"table", "json"}));
  stats->add_option("--trace-format", stats_args.trace_format, "The file's format (default: detected)")
      ->check(CLI::IsMember(traces::trace_formats()));
  stats->add_flag("--skip-bad-lines", stats_args.skip_bad_lines, "Skip and count rows that fail to parse");
  TraceGenArgs gen_args;
  CLI::App* gen = trace->add_subcommand("gen", "Generate a synthetic workload and write it as a trace");
  gen->add_option("--arrival", gen_args.arrival, "Arrival process")
      ->check(CLI::IsMember(traces::arrival_process_names()));
  gen->add_option("--rate", gen_args.rate, "Mean request rate (req/s)")->check(number_in(1e-6, 1e6));
  gen->add_option("--cv", gen_args.cv, "gamma: coefficient of variation of inter-arrivals")->check(number_in(0.01, 100));
  gen->add_option("--shape", gen_args.shape, "weibull: shape")->check(number_in(0.05, 100));
  gen->add_option("--dataset", gen_args.dataset, fmt::format("Length dataset ({})", join(traces::dataset_names())))
      ->check(CLI::IsMember(traces::dataset_names()));
  gen->add_option("--prompt-tokens", gen_args.prompt_tokens, "Prompt lengths as YAML: 512 or {dist: lognormal, ...}");
  gen->add_option("--output-tokens", gen_args.output_tokens, "Output lengths as YAML");
  gen->add_option("--requests", gen_args.requests, "Requests to write")->check(whole_in(1, int64_t{1} << 40));
  gen->add_option("--duration", gen_args.duration_s, "Seconds of arrivals to write")->check(number_in(1e-3, 1e8));
  gen->add_option("--set", gen_args.overrides, "Any workload key: --set workload.sessions.turns=4 (repeatable)");
  gen->add_option("--seed", gen_args.seed, "Seed of the random streams")->check(seed_value());
  gen->add_option("-o,--output", gen_args.out, "Trace file to write")->required();
  gen->add_option("--format", gen_args.format, "simple (CSV) or jsonl")->check(CLI::IsMember({"simple", "jsonl"}));
  gen->add_flag("--force", gen_args.force, "Replace an existing output file");

  SweepArgs sweep_args;
  CLI::App* sweep = app.add_subcommand("sweep", "Run a grid of scenarios, appending each point to DIR/results.jsonl");
  sweep->add_option("grid", sweep_args.grid, "Scenario YAML with a sweep: mapping of dotted keys to lists")->required();
  sweep->add_option("-o,--output", sweep_args.out_dir, "Output folder (default kvsim-out/sweep)");
  sweep->add_option("--jobs", sweep_args.jobs, "Points run at once, on threads")->check(CLI::Range(1, 256));
  sweep->add_option("--shard", sweep_args.shard, "Run every N-th point from the I-th: I/N (batch schedulers)");
  sweep->add_flag("--resume", sweep_args.resume,
                  "Skip the points DIR/results.jsonl already holds (matched by their resolved scenario)");
  sweep->add_flag("--force", sweep_args.force,
                  "With --resume: move lines made by another grid to DIR/results.other-grid.jsonl instead of stopping; "
                  "with --merge: replace DIR/results.jsonl");
  sweep->add_option("--merge", sweep_args.merge,
                    "Merge the output folders of this grid's --shard runs into -o's results.jsonl, as one sweep writes "
                    "it (kvsim sweep GRID --merge DIR... -o OUT)");

  std::string report_dir, report_out;
  bool report_force = false;
  CLI::App* report = app.add_subcommand("report", "One self-contained HTML page of a run, compare or sweep folder");
  report->add_option("dir", report_dir, "Folder of kvsim outputs")->required();
  report->add_option("-o,--output", report_out, "HTML file (default DIR/report.html)");
  report->add_flag("--force", report_force, "Replace an existing file kvsim did not write");

  PlanArgs plan_args;
  CLI::App* plan =
      app.add_subcommand("plan", "The cheapest GPUs, parallelism, replicas and policy for a rate and an SLO");
  plan->add_option("--model", plan_args.model, "Catalog model or config.json")->required();
  plan->add_option("--rate", plan_args.rate, "Request rate to serve (req/s)")->required()->check(number_in(1e-6, 1e6));
  plan->add_option("--slo", plan_args.slo, "e.g. ttft_p90_ms=2000,tpot_p99_ms=100")->required();
  plan->add_option("--workload", plan_args.workload,
                   "A trace: its own arrivals, time-scaled to each rate (bursts kept), and its lengths");
  plan->add_option("--arrival", plan_args.arrival,
                   "Arrivals: trace (default with a timed --workload), poisson (default otherwise), gamma:CV, "
                   "weibull:SHAPE");
  plan->add_option("--dataset", plan_args.dataset, "Length dataset (default sharegpt)")
      ->check(CLI::IsMember(traces::dataset_names()));
  plan->add_option("--gpus", plan_args.gpus, "Comma-separated hardware (default h100-sxm5-80gb,a100-sxm4-80gb,l4-24gb)")
      ->delimiter(',');
  plan->add_option("--policies", plan_args.policies, "Comma-separated cache policies (default vllm)")->delimiter(',');
  plan->add_option("--max-num-seqs", plan_args.max_num_seqs, "Engine batch limits to search, e.g. 64,256,1024")
      ->delimiter(',')
      ->check(whole_in(1, 1 << 24));
  plan->add_option("--chunked-prefill", plan_args.chunked_prefill, "Search chunked prefill on and/or off: on,off")
      ->delimiter(',')
      ->check(CLI::IsMember({"on", "off"}));
  plan->add_flag("--disaggregated", plan_args.disaggregated,
                 "Also split each configuration into prefill and decode replicas (cluster.prefill, cluster.decode): "
                 "the fewest that serve the rate, the split with the lowest p99 TPOT");
  plan->add_option("--max-gpus", plan_args.max_gpus, "Most GPUs a configuration may use (default 8)")
      ->check(whole_in(1, 4096));
  plan->add_option("--duration", plan_args.duration_s, "Seconds of arrivals per run (default 120)")
      ->check(CLI::Range(1.0, 86400.0));
  plan->add_option("--seeds", plan_args.seeds, "Seeds per rate (the SLO must hold on each)")->check(CLI::Range(1, 20));
  plan->add_option("--jobs", plan_args.jobs,
                   "Configurations searched at once, on threads (default: the machine's cores)")
      ->check(CLI::Range(1, 256));
  plan->add_option("--set", plan_args.overrides, "A scenario key for every run (repeatable; prices: --gpu-price)");
  plan->add_option("--gpu-price", plan_args.gpu_price,
                   "US$ per GPU-hour by catalog name, over the catalog's: h200-sxm-141gb=3.5,h100-sxm5-80gb=2.9");
  plan->add_flag("--require-price", plan_args.require_price, "An unpriced GPU is an error instead of listed unranked");
  plan->add_option("--format", plan_args.format, "Output on stdout")->check(CLI::IsMember({"table", "json"}));
  plan->add_option("--confidence", plan_args.confidence,
                   "Size against the pessimistic end of each SLO's prediction interval at this level, e.g. 0.9")
      ->check(CLI::Range(0.5, 0.999));
  plan->add_option("--progress", plan_args.progress, "Progress on stderr: auto (a terminal only), on, off")
      ->check(CLI::IsMember({"auto", "on", "off"}));

  ValidateArgs val_args;
  CLI::App* validate = app.add_subcommand("validate", "Run the validation cases: predicted vs published and measured");
  validate->add_option("--cases", val_args.cases, "Case folder or file (repeatable; default validation/cases)");
  validate->add_option("--filter", val_args.filter, "Only cases whose name matches this glob");
  validate->add_option("--format", val_args.format, "Report format")->check(CLI::IsMember({"table", "json", "md"}));
  validate->add_option("-o,--output", val_args.out, "Write the report to this file");
  validate->add_flag("--force", val_args.force, "Replace an existing -o file kvsim did not write");
  validate->add_flag("--quick", val_args.quick, "Only the cases marked fast");
  validate->add_option("--error-model", val_args.error_model,
                       "Write the residuals of the measured cases (the prediction intervals' data) to this file");

  validation::EngineBenchArgs bench_args;
  std::string bench_out;
  CLI::App* bench = app.add_subcommand(
      "engine-bench", "Run a batch schedule on the mini decode engine (GPU) beside kvsim's prediction of it");
  bench->add_option("--model", bench_args.model, "Catalog model (head_dim 128)");
  bench->add_option("--hardware", bench_args.hardware, "Hardware profile the prediction uses");
  bench->add_option("--device", bench_args.device, "CUDA device ordinal")->check(whole_in(0, 1023));
  bench->add_flag("--dry-run", bench_args.dry_run, "Predict only; no GPU needed");
  bench->add_flag("--quick", bench_args.quick, "Fewer repeats");
  bench->add_option("-o,--output", bench_out, "CSV to write (default: stdout)");
  bool bench_force = false;
  bench->add_flag("--force", bench_force, "Replace an existing -o file");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    out << app.help();
    return 0;
  } catch (const CLI::CallForAllHelp& e) {
    out << app.help("", CLI::AppFormatMode::All);
    return 0;
  } catch (const CLI::CallForVersion& e) {
    out << e.what() << "\n";
    return 0;
  } catch (const CLI::ParseError& e) {
    const std::string command = unknown_command(argc, argv, app);
    err << "kvsim: " << (command.empty() ? std::string(e.what()) : command) << "\n";
    return 2;
  }

  install_interrupt_handler();
  clear_inputs();  // what this command reads, so that nothing it writes lands on one of them
  try {
    if (*run) return cmd_run(run_args, out, err);
    if (*compare) return cmd_compare(cmp_args, out, err);
    if (*cost) return cmd_cost(cost_args, out);
    if (*models) return cmd_models(models_args, out);
    if (*model_info) return cmd_model_info(model_info_args, out);
    if (*hardware) return cmd_hardware(hw_args, out);
    if (*calibrate) {
      if (!cal_args.import.empty()) return cmd_import_profiles(cal_args, out, err);
      if (!cal_args.sanity.empty()) return cmd_sanity(cal_args, out, err);
      return cal_args.refit.empty() ? cmd_calibrate(cal_args, out, err) : cmd_refit_profiles(cal_args, out, err);
    }
    if (*stats) return cmd_trace_stats(stats_args, out);
    if (*validate) return cmd_validate(val_args, out, err);
    if (*sweep) return cmd_sweep(sweep_args, out, err);
    if (*plan) return cmd_plan(plan_args, out, err);
    if (*report) return cmd_report(report_dir, report_out, report_force, out);
    if (*bench) return cmd_engine_bench(bench_args, bench_out, bench_force, out);
    if (*gen) return cmd_trace_gen(gen_args, out);
  } catch (const Interrupted&) {
    err << "kvsim: interrupted; unfinished output files were removed\n";
    return 128 + (interrupt_signal() > 0 ? interrupt_signal() : SIGINT);
  } catch (const Error& e) {
    err << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    err << "internal error: " << e.what() << "\n";
    return 3;
  }
  return 2;
}

}  // namespace kvsim::app
