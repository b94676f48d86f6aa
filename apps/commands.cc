#include "apps/commands.h"

#include <algorithm>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "hw/hardware_loader.h"
#include "models/cost_model.h"
#include "models/model_loader.h"
#include "sim/core/error.h"
#include "sim/core/units.h"
#include "sim/metrics/overload.h"
#include "sim/run.h"
#include "sim/scenario.h"

namespace kvsim::app {

std::vector<std::string> run_overrides(const RunArgs& a) {
  std::vector<std::string> o = a.overrides;
  if (a.seed) o.push_back(fmt::format("seed={}", *a.seed));
  if (a.check_invariants) o.push_back("check_invariants=true");
  if (a.skip_bad_lines) o.push_back("workload.skip_bad_lines=true");
  return o;
}

namespace {

void print_run_table(const sim::Scenario& s, const sim::RunResult& r, std::ostream& out) {
  const auto& j = r.summary;
  const auto& p = r.plan;
  out << fmt::format("kvsim run: {} on {} x{} (tp={}), policy {}, engine {}\n", s.model.name, s.hardware.name,
                     s.cluster.replicas, s.cluster.tensor_parallel, s.cache.policy, s.engine.version);
  out << fmt::format("  memory per GPU: weights {}, activations {}, KV {} = {} blocks x {} tokens ({} tokens)\n",
                     format_bytes(p.weights_bytes), format_bytes(p.activation_bytes), format_bytes(p.kv_cache_bytes),
                     p.num_gpu_blocks, p.block_size, p.kv_capacity_tokens());
  out << fmt::format("  {:<28} {:>12}\n", "completed / rejected",
                     fmt::format("{} / {}", j["completed"].get<int64_t>(), j["rejected"].get<int64_t>()));
  // Beside each prediction, its interval (sim/metrics/error_bars.h) where the summary has one.
  const nlohmann::ordered_json none = nlohmann::ordered_json::object();
  const auto& iv = j.contains("prediction_intervals") ? j["prediction_intervals"] : none;
  auto row = [&](const char* label, const char* key, const char* unit) {
    const std::string range = iv.contains(key) ? fmt::format("  [{:.4g} - {:.4g}]", iv[key][0].get<double>(),
                                                             iv[key][1].get<double>())
                                               : "";
    out << fmt::format("  {:<28} {:>12.3f} {}{}\n", label, j.at(key).get<double>(), unit, range);
  };
  row("duration", "duration", "s");
  row("request throughput", "request_throughput", "req/s");
  row("output throughput", "output_throughput", "tok/s");
  row("mean / p99 TTFT", "mean_ttft_ms", "ms");
  row("", "p99_ttft_ms", "ms");
  row("mean / p99 TPOT", "mean_tpot_ms", "ms");
  row("", "p99_tpot_ms", "ms");
  row("mean / p99 ITL", "mean_itl_ms", "ms");
  row("", "p99_itl_ms", "ms");
  row("mean E2E latency", "mean_e2el_ms", "ms");
  row("mean running requests", "mean_running_requests", "");
  row("KV slots holding tokens", "kv_token_utilization", "");
  row("SLO attainment", "slo_attainment", "");
  row("goodput", "goodput", "req/s");
  out << fmt::format("  {:<28} {:>12}\n", "preemptions", j["num_preemptions"].get<int64_t>());
  out << fmt::format("  {:<28} {:>12}\n", "peak HBM", format_bytes(j["peak_hbm_bytes"].get<uint64_t>()));
  if (iv.contains("level")) {
    out << fmt::format("  [a - b]: {:.0f} % prediction interval from kvsim's error against measured runs {} saturation "
                       "(one seed; summary.json prediction_intervals)\n",
                       100 * iv["level"].get<double>(), iv["regime"].get<std::string>());
  }
}

}  // namespace

int cmd_run(const RunArgs& args, std::ostream& out, std::ostream& err) {
  const sim::Scenario s = sim::load_scenario(args.scenario, run_overrides(args));
  const std::string dir =
      !args.out_dir.empty() ? args.out_dir : (!s.output.dir.empty() ? s.output.dir : "kvsim-out/run");
  const sim::RunResult r = sim::run_scenario(s, dir, args.force);
  if (const std::string w = metrics::overload_warning(r.summary); !w.empty()) err << w << "\n";
  if (args.format == "json") {
    out << r.summary.dump(2) << "\n";
  } else {
    print_run_table(s, r, out);
    out << fmt::format("  outputs in {}/\n", dir);
  }
  return 0;
}

namespace {
const char* launch_name(models::CostModel::Launch l) {
  switch (l) {
    case models::CostModel::Launch::kFullGraph:
      return "one CUDA-graph replay";
    case models::CostModel::Launch::kPiecewise:
      return "piecewise graphs, attention eager";
    case models::CostModel::Launch::kEager:
      return "eager";
  }
  return "eager";
}
}  // namespace

int cmd_cost(const CostArgs& args, std::ostream& out) {
  const models::ModelSpec model = models::load_model(args.model);
  const hw::HardwareProfile hardware = hw::load_hardware(args.hardware);
  DType dtype = model.dtype;
  if (!args.dtype.empty()) {
    auto d = parse_dtype(args.dtype);
    if (!d)
      throw Error(Place{"--dtype"}, fmt::format("expected one of {}, found '{}'", join(dtype_names()), args.dtype));
    dtype = *d;
  }
  if (model.num_attention_heads % args.tp != 0) {
    throw Error(Place{"--tp"},
                fmt::format("{} attention heads do not split over {} GPUs", model.num_attention_heads, args.tp));
  }
  if (args.tokens % args.batch != 0) {
    throw Error(Place{"--tokens"},
                fmt::format("{} tokens do not divide evenly over --batch {}", args.tokens, args.batch));
  }
  // The engine's terms as a vLLM V1 server with default settings runs them: its CUDA-graph sizes, all-reduce, graph
  // floor share, decode kernel and CPU work per iteration.
  const models::ExecConfig config =
      sim::exec_config(sim::server_scenario(args.model, args.hardware, dtype, args.tp, args.eager, args.engine));
  const models::CostModel cost(model, hardware, config);
  const int64_t per_seq = args.tokens / args.batch;
  const bool decode = args.phase == "decode";
  const models::BatchShape shape =
      models::BatchShape::uniform(args.batch, per_seq, args.context, decode, model.sliding_window);
  const auto ops = cost.ops(shape, true);
  const double total_ms = ns_to_ms(cost.forward_ns(shape));
  if (args.format == "json") {
    nlohmann::ordered_json j;
    j["ops"] = nlohmann::ordered_json::array();
    for (const auto& op : ops) {
      j["ops"].push_back({{"name", op.name},
                          {"time_ms", ns_to_ms(op.time_ns)},
                          {"source", op.source},
                          {"bound", op.bound},
                          {"flops", op.flops},
                          {"bytes", op.bytes},
                          {"explain", op.explain}});
    }
    j["total_ms"] = total_ms;
    j["layers"] = model.num_layers;
    j["cpu_overhead_ms"] = ns_to_ms(cost.cpu_overhead_ns(shape));
    j["launch_ms"] = ns_to_ms(cost.launch_ns(shape));
    j["launch"] = launch_name(cost.launch_mode(shape));
    j["iteration_ms"] = ns_to_ms(cost.iteration_ns(shape));
    if (config.pytorch_host) {
      j["host_ops_per_layer"] = config.attention_ops + config.mlp_ops;
      j["host_op_us"] = config.op_us;
      j["sync_per_layer"] = config.sync_per_layer;
      j["step_us"] = config.cpu.iteration_us;
    }
    out << j.dump(2) << "\n";
    return 0;
  }
  out << fmt::format("kvsim cost: {} on {}, tp={}, {} batch of {} x {} new tokens{}\n", model.name, hardware.name,
                     args.tp, args.phase, args.batch, per_seq,
                     decode ? fmt::format(" at context {}", args.context) : "");
  out << fmt::format("{:<14} {:>12} {:>14} {:>14} {:>8} {:>9}\n", "op (1 layer)", "time_ms", "GFLOP", "MB", "bound",
                     "source");
  for (const auto& op : ops) {
    if (op.name == "embedding") out << fmt::format("-- once per forward pass --\n");
    out << fmt::format("{:<14} {:>12.4f} {:>14.3f} {:>14.3f} {:>8} {:>9}\n", op.name, ns_to_ms(op.time_ns),
                       op.flops / 1e9, op.bytes / 1e6, op.bound, op.source);
    if (args.explain) out << fmt::format("    {}\n", op.explain);
  }
  out << fmt::format(
      "total forward ({} layers): {:.3f} ms; launches {:.3f} ms ({}, overlapping it); engine CPU {:.3f} ms; iteration "
      "{:.3f} ms\n",
      model.num_layers, total_ms, ns_to_ms(cost.launch_ns(shape)), launch_name(cost.launch_mode(shape)),
      ns_to_ms(cost.cpu_overhead_ns(shape)), ns_to_ms(cost.iteration_ns(shape)));
  if (config.pytorch_host) {
    // The FlexGen family's host side (engine.framework: pytorch): the iteration above is the longer of GPU and host.
    out << fmt::format(
        "host (eager PyTorch): {} ops per layer x {} us (engine.cpu_op_us) = {:.3f} ms per layer against the GPU's, "
        "{}; + {} us per step (engine.cpu_iteration_us); no CUDA graphs\n",
        config.attention_ops + config.mlp_ops, config.op_us, (config.attention_ops + config.mlp_ops) * config.op_us / 1e3,
        config.sync_per_layer ? "a device synchronisation after each layer object" : "running ahead of the GPU",
        config.cpu.iteration_us);
  }
  if (args.explain) {
    out << fmt::format("hardware profile {} (source: {}{})\n", hardware.name, hardware.source,
                       hardware.measured ? ", measured on " + hardware.measured->device : "");
  }
  return 0;
}

int cmd_models(const ListArgs& args, std::ostream& out) {
  nlohmann::ordered_json j = nlohmann::ordered_json::array();
  if (args.format != "json") {
    out << fmt::format("{:<14} {:>9} {:>7} {:>6} {:>5} {:>9} {:>10} {:>8}  {}\n", "name", "params_B", "layers", "heads",
                       "kv", "kv_KiB/t", "max_len", "moe", "architecture");
  }
  for (const std::string& name : models::model_catalog_names()) {
    const models::ModelSpec m = models::load_model(name);
    const double params_b = static_cast<double>(models::parameter_counts(m).total()) / 1e9;
    const double kv_kib = models::kv_bytes_per_token(m, m.dtype) / 1024.0;
    if (args.format == "json") {
      j.push_back({{"name", name},
                   {"architecture", m.architecture},
                   {"params", models::parameter_counts(m).total()},
                   {"num_layers", m.num_layers},
                   {"num_attention_heads", m.num_attention_heads},
                   {"num_kv_heads", m.num_kv_heads},
                   {"head_dim", m.head_dim},
                   {"kv_bytes_per_token", models::kv_bytes_per_token(m, m.dtype)},
                   {"max_position_embeddings", m.max_position_embeddings},
                   {"num_experts", m.num_experts},
                   {"sliding_window", m.sliding_window},
                   {"dtype", std::string(dtype_name(m.dtype))},
                   {"source", m.source}});
    } else {
      out << fmt::format("{:<14} {:>9.2f} {:>7} {:>6} {:>5} {:>9.1f} {:>10} {:>8}  {}\n", name, params_b, m.num_layers,
                         m.num_attention_heads, m.num_kv_heads, kv_kib, m.max_position_embeddings,
                         m.is_moe() ? fmt::format("{}/{}", m.experts_per_token, m.num_experts) : "-", m.architecture);
    }
  }
  if (args.format == "json") out << j.dump(2) << "\n";
  return 0;
}

int cmd_hardware(const ListArgs& args, std::ostream& out) {
  nlohmann::ordered_json j = nlohmann::ordered_json::array();
  if (args.format != "json") {
    out << fmt::format("{:<16} {:>10} {:>9} {:>10} {:>9} {:>10} {:>8} {:>10}  {:<10} {:>9}  {}\n", "name", "hbm_GiB",
                       "hbm_TB/s", "bf16_TF", "fp8_TF", "pcie", "GB/s", "nvlink", "source", "$/GPU-h",
                       "price source (date)");
  }
  for (const std::string& name : hw::hardware_catalog_names()) {
    const hw::HardwareProfile h = hw::load_hardware(name);
    if (args.format == "json") {
      j.push_back({{"name", name},
                   {"gpu", h.gpu.model},
                   {"hbm_bytes", h.gpu.hbm_bytes},
                   {"hbm_bytes_per_s", h.gpu.hbm_bytes_per_s},
                   {"bf16_flops", h.gpu.bf16_flops},
                   {"fp16_flops", h.gpu.fp16_flops},
                   {"fp8_flops", h.gpu.fp8_flops},
                   {"pcie_gen", h.pcie.gen},
                   {"pcie_lanes", h.pcie.lanes},
                   {"pcie_h2d_bytes_per_s", h.pcie.h2d_bytes_per_s},
                   {"pcie_bidir_bytes_per_s", h.pcie.bidir_bytes_per_s},
                   {"nvlink_bytes_per_s", h.gpu.nvlink_bytes_per_s},
                   {"host_dram_bytes", h.host.dram_bytes},
                   {"source", h.source},
                   // US$ per GPU-hour; null when the catalog cites no price (kvsim plan --gpu-price sets one).
                   {"gpu_hour_usd", h.gpu_hour_usd > 0 ? nlohmann::ordered_json(h.gpu_hour_usd) : nullptr},
                   {"price_source", h.price_source},
                   {"price_date", h.price_date}});
    } else {
      out << fmt::format(
          "{:<16} {:>10.2f} {:>9.2f} {:>10.1f} {:>9.1f} {:>10} {:>8.1f} {:>10}  {:<10} {:>9}  {}\n", name,
          bytes_to_gib(h.gpu.hbm_bytes), h.gpu.hbm_bytes_per_s / 1e12, h.gpu.bf16_flops / 1e12, h.gpu.fp8_flops / 1e12,
          fmt::format("gen{} x{}", h.pcie.gen, h.pcie.lanes), h.pcie.h2d_bytes_per_s / 1e9,
          h.gpu.nvlink_bytes_per_s > 0 ? fmt::format("{:.0f} GB/s", h.gpu.nvlink_bytes_per_s / 1e9) : "-", h.source,
          h.gpu_hour_usd > 0 ? fmt::format("{:.4g}", h.gpu_hour_usd) : "unpriced",
          h.gpu_hour_usd <= 0      ? std::string("-")
          : h.price_source.empty() ? std::string("(no source given)")
                                   : fmt::format("{} ({})", h.price_source, h.price_date.empty() ? "undated"
                                                                                                 : h.price_date));
    }
  }
  if (args.format == "json") out << j.dump(2) << "\n";
  return 0;
}

}  // namespace kvsim::app
