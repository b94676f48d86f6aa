#include "sim/run.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <memory>
#include <optional>

#include <fmt/format.h>

#include "models/flexgen_placement.h"
#include "sim/cache/presets.h"
#include "sim/core/atomic_file.h"
#include "sim/core/error.h"
#include "sim/core/input_file.h"
#include "sim/core/interrupt.h"
#include "sim/core/rng.h"
#include "sim/core/units.h"
#include "sim/metrics/collector.h"
#include "sim/metrics/error_bars.h"
#include "sim/serving/cluster.h"
#include "traces/workload.h"

namespace kvsim::sim {

namespace {
// Quest leaves its first two layers dense (Tang et al., ICML 2024, sec. 4: sparsity is low there).
constexpr int64_t kQuestDenseLayers = 2;
// Hugging Face transformers' Python time per decoder layer (about 10 nn.Module calls of ~5 us each through
// torch's dispatcher) and per generate() step (logits processors, stopping criteria, torch.cat of input_ids:
// ~1 ms). Assumptions to be calibrated by validation/gpu/hf_runs.py on the GPU machine.
constexpr double kHfLayerUs = 50.0;
constexpr double kHfStepUs = 1000.0;
}  // namespace

models::ExecConfig exec_config(const Scenario& s) {
  models::ExecConfig c;
  c.dtype = s.dtype;
  c.weight_dtype = s.weight_dtype;
  c.kv_dtype = s.cache.precision;
  c.tp = static_cast<int>(s.cluster.tensor_parallel);
  c.cuda_graphs = !s.engine.enforce_eager;
  c.cpu.iteration_us = s.engine.cpu_iteration_us;
  c.cpu.per_seq_us = s.engine.cpu_per_seq_us;
  c.cpu.graph_floor_share = s.engine.graph_floor_share;
  c.decode_attention_scale = s.engine.decode_attention_scale;
  if (s.engine.version == "v1") {
    // vLLM V1 captures graph sizes up to min(2 x max_num_seqs, 512) tokens, piecewise for mixed batches
    // (vllm/config/vllm.py, set_cudagraph_sizes; docs design/cuda_graphs.md).
    c.max_graph_batch = static_cast<int>(std::min<int64_t>(2 * s.engine.max_num_seqs, 512));
    c.piecewise_graphs = true;
    c.custom_allreduce = true;
  } else {
    // The paper-era V0 engine captured decode batches of 1, 2, 4 and multiples of 8 up to 256 only
    // (vllm/worker/model_runner.py, _BATCH_SIZES_TO_CAPTURE, v0.2-v0.6).
    c.max_graph_batch = 256;
    c.piecewise_graphs = false;
    c.custom_allreduce = false;  // the paper's vLLM 0.1 used NCCL (custom all-reduce arrived in 0.3)
  }
  c.block_size = s.cache.block_size;
  c.eager_attention = c.score_accumulation = s.cache.retention == "h2o";
  if (s.engine.framework == "pytorch") {
    // The FlexGen family: eager PyTorch (no CUDA graphs), attention as torch.bmm + softmax, Python per layer object.
    c.cuda_graphs = false;
    c.eager_attention = true;
    c.pytorch_host = true;
    c.op_us = s.engine.cpu_op_us;
    // H2O's score accumulation and eviction add 12 eager ops per attention layer: the accumulator's fill, add and
    // argmin (pytorch_backend.py 528-532), and per K, V and accumulator a copy, a scatter and a copy (cache_replace,
    // acc_replace, 934-995). InfiniGen's speculation adds about 10 (partial query projection and scores, max,
    // threshold, count with an .item(), top-k, the index copy to the host: infinigen/kv_selection_controller.py).
    if (s.cache.retention == "h2o") c.attention_ops += 12;
    if (s.cache.selection == "speculative") c.attention_ops += 10;
    c.sync_per_layer = s.engine.sync_per_layer;
    c.overlap_io = s.engine.overlap;
  }
  c.offload = s.cache.selection == "speculative";
  c.partial_weight_ratio = s.cache.partial_weight_ratio;
  c.kv_residual_tokens = s.cache.residual_tokens;
  c.page_selection = s.cache.selection == "pages";
  c.page_size = s.cache.page_size;
  c.dense_layers = std::min<int64_t>(kQuestDenseLayers, s.model.num_layers);
  c.cpu_attention = s.cache.compute_attention_on == "cpu";
  c.host_kv_pinned = s.cache.host_kv_pinned;
  if (s.cache.weights_share.gpu < 1.0) {
    const TierShares& w = s.cache.weights_share;
    const models::FlexGenWeightBytes b = models::flexgen_weight_bytes(
        s.model, s.weight_dtype, w.gpu, w.cpu, w.disk, static_cast<int>(s.cluster.tensor_parallel));
    c.weight_gpu_ratio = b.placement.layer_gpu;
    c.weight_disk_ratio = b.placement.layer_disk;
    c.embed_stream_bytes = b.embed_streamed_bytes;
  }
  if (c.cpu_attention) {
    c.kv_gpu_ratio = s.cache.kv_share.gpu;
    c.kv_disk_ratio = s.cache.kv_share.disk;
  }
  c.act_offload_ratio = s.cache.activations_share.off_gpu();
  c.act_disk_ratio = s.cache.activations_share.disk;
  c.disk_bytes_per_s = s.cache.disk_bytes_per_s;
  c.gpu_batch_size = s.cache.gpu_batch_size;
  if (s.engine.version == "hf") {
    // Hugging Face generate() runs eagerly (no CUDA graphs); its DynamicCache grows by concatenation.
    c.cuda_graphs = false;
    c.kv_concat_growth = s.engine.hf_cache == "dynamic";
    c.cpu.framework_layer_us = kHfLayerUs;
    c.cpu.framework_step_us = kHfStepUs;
  }
  return c;
}

Scenario server_scenario(const std::string& model, const std::string& hardware, DType dtype, int64_t tp, bool eager,
                         const std::string& engine) {
  YAML::Node doc;
  doc["model"] = model;
  doc["hardware"] = hardware;
  doc["dtype"] = std::string(dtype_name(dtype));
  doc["weight_dtype"] = std::string(dtype_name(dtype));
  doc["cluster"]["tensor_parallel"] = tp;
  doc["engine"]["enforce_eager"] = eager;
  if (engine != "v1") doc["engine"]["version"] = engine;
  doc["cache"]["precision"] = std::string(dtype_name(dtype));
  doc["workload"]["requests"] = 1;
  doc["workload"]["prompt_tokens"] = 1;
  doc["workload"]["output_tokens"] = 1;
  return parse_scenario(doc, "server", {});
}

namespace {
// A disaggregated cluster's two pools: the scenario with each pool's tensor parallelism, and the prefill pool's plan
// and cost model (the decode pool's are the run's).
struct DisaggregatedPools {
  Scenario prefill, decode;
  MemoryPlan prefill_plan;
  models::CostModel prefill_cost;
  static Scenario with_tp(const Scenario& s, const PoolConfig& pool) {
    Scenario p = s;
    p.cluster.replicas = pool.replicas;
    p.cluster.tensor_parallel = pool.tensor_parallel;
    if (pool.hardware && pool.hardware->name != s.hardware.name) {  // its own GPU, at that GPU's list price
      p.hardware = *pool.hardware;
      p.hardware_ref = pool.hardware_ref;
      p.gpu_hour_usd = pool.hardware->gpu_hour_usd;
    }
    return p;
  }
  explicit DisaggregatedPools(const Scenario& s)
      : prefill(with_tp(s, *s.cluster.prefill)),
        decode(with_tp(s, *s.cluster.decode)),
        prefill_plan(plan_memory(prefill)),
        prefill_cost(prefill.model, prefill.hardware, exec_config(prefill)) {}
};
}  // namespace

RunResult run_scenario(const Scenario& s, const std::string& out_dir, bool force) {
  RunResult result;
  const bool disaggregated = s.cluster.disaggregated();
  std::optional<DisaggregatedPools> pools;
  if (disaggregated) pools.emplace(s);
  // The decode pool's plan and cost model when disaggregated (the run's summary reports its memory plan).
  result.plan = plan_memory(disaggregated ? pools->decode : s);
  const Scenario& served = disaggregated ? pools->decode : s;  // the decode pool's own GPU when it has one
  const models::CostModel cost(s.model, served.hardware, exec_config(served));
  RngStreams rng(s.seed);
  auto source = traces::make_request_source(s.workload, rng);

  // A failed run leaves no folder it created behind (its files are removed by AtomicFile).
  struct FolderGuard {
    std::string dir;
    int slot = -1;
    ~FolderGuard() {
      std::error_code ec;
      if (!dir.empty() && std::filesystem::is_empty(dir, ec)) std::filesystem::remove(dir, ec);
      release_temp_file(slot);
    }
  } guard;  // declared before the files, so it runs after their destructors removed them
  std::unique_ptr<AtomicFile> requests_csv, memory_csv, timeline_json, summary_json, resolved_yaml;
  if (!out_dir.empty()) {
    check_run_folder(out_dir, force);
    std::error_code ec;
    if (!std::filesystem::exists(out_dir)) {
      guard.dir = out_dir;
      guard.slot = register_temp_dir(out_dir);  // a hard stop removes it too, when empty
    }
    std::filesystem::create_directories(out_dir, ec);
    if (ec) throw Error(Place{out_dir}, fmt::format("cannot create output folder: {}", ec.message()));
    // Every output is opened (and checked against the inputs) before the run, and committed together after it.
    requests_csv = std::make_unique<AtomicFile>(out_dir + "/requests.csv");
    memory_csv = std::make_unique<AtomicFile>(out_dir + "/memory.csv");
    if (s.output.timeline) timeline_json = std::make_unique<AtomicFile>(out_dir + "/timeline.json");
    summary_json = std::make_unique<AtomicFile>(out_dir + "/summary.json");
    resolved_yaml = std::make_unique<AtomicFile>(out_dir + "/scenario.resolved.yaml");
  }
  metrics::CollectorConfig mc;
  mc.replicas = s.cluster.replicas;
  mc.kv_blocks_total = result.plan.num_gpu_blocks;
  mc.block_bytes = result.plan.gpu_kv_bytes(1);  // GPU bytes per block (0 when the pool is in host memory)
  mc.kv_capacity_tokens = result.plan.kv_capacity_tokens();
  mc.weights_bytes = result.plan.weights_bytes;
  mc.static_hbm_bytes = result.plan.static_bytes();
  mc.slo_ttft_ms = s.slo.ttft_ms.value_or(0);
  mc.gpus = s.cluster.replicas * s.cluster.tensor_parallel;
  if (disaggregated) {
    const PoolConfig &p = *s.cluster.prefill, &d = *s.cluster.decode;
    mc.disaggregated = true;
    mc.gpus = p.replicas * p.tensor_parallel + d.replicas * d.tensor_parallel;
    for (int64_t r = 0; r < s.cluster.replicas; ++r) {
      const MemoryPlan& plan = r < p.replicas ? pools->prefill_plan : result.plan;
      mc.kv_blocks_per_replica.push_back(plan.num_gpu_blocks);
      mc.kv_tokens_per_replica.push_back(plan.kv_capacity_tokens());
    }
    const hw::NodeSpec pn = pool_node(s, pools->prefill.hardware), dn = pool_node(s, pools->decode.hardware);
    mc.notes.push_back(fmt::format(
        "disaggregated: {} prefill replica(s) of {} {} GPU(s) on {} nodes ({}) and {} decode replica(s) of {} {} GPU(s) "
        "on {} nodes ({}); each request's KV moves {}, over NVLink within a node and the GPUs' NICs between nodes "
        "(kv_transfer_* keys), and the decode replica computes the prompt's last token once it is there",
        p.replicas, p.tensor_parallel, pools->prefill.hardware.name, pn.name, pn.source, d.replicas, d.tensor_parallel,
        pools->decode.hardware.name, dn.name, dn.source,
        s.cluster.kv_transfer.mode == "layerwise" ? "layer by layer during its last prefill chunk" : "after its prefill"));
  }
  if (const auto& k = s.cluster.kv_store) {
    mc.kv_store = true;
    // Storage nodes are servers of the cluster's node model with their GPUs idle: priced as such.
    mc.gpus += storage_nodes(s) * s.hardware.gpus_per_node;
    mc.notes.push_back(fmt::format(
        "KV store: {} of prefix blocks in the DRAM of {} {} node(s){}, written {}, loaded over the cluster topology {} "
        "(kv_store_* keys)",
        format_bytes(k->capacity_bytes), k->location == "storage_nodes" ? k->storage_nodes : pool_nodes(s),
        k->location == "storage_nodes" ? "storage" : "serving",
        k->location == "storage_nodes" ? " (servers of the node model, their GPUs idle but counted in gpus and cost)"
                                       : "",
        k->write == "computed" ? "once computed" : "when evicted from a GPU",
        k->load == "priced" ? "when faster than computing them" : "whenever found"));
  }
  mc.warmup_requests = s.slo.warmup_requests;
  mc.warm_requests = s.workload.warmup_requests;
  mc.gpu_hour_usd = s.gpu_hour_usd;
  if (disaggregated && (s.cluster.prefill->hardware || s.cluster.decode->hardware)) {
    // Each pool at its GPU's price (and storage nodes at the scenario's): the mean over every GPU counted.
    const PoolConfig &p = *s.cluster.prefill, &d = *s.cluster.decode;
    const double prices[] = {pools->prefill.gpu_hour_usd, pools->decode.gpu_hour_usd, s.gpu_hour_usd};
    const double usd = static_cast<double>(p.replicas * p.tensor_parallel) * prices[0] +
                       static_cast<double>(d.replicas * d.tensor_parallel) * prices[1] +
                       static_cast<double>(storage_nodes(s) * s.hardware.gpus_per_node) * prices[2];
    const bool known = prices[0] > 0 && prices[1] > 0 && (storage_nodes(s) == 0 || prices[2] > 0);
    mc.gpu_hour_usd = known ? usd / static_cast<double>(mc.gpus) : 0.0;
  }
  mc.exact_latency_samples = static_cast<size_t>(s.output.exact_latency_samples);
  mc.slo_tpot_ms = s.slo.tpot_ms.value_or(0);
  mc.memory_interval_ns = static_cast<SimTime>(s.output.memory_interval_ms * kNsPerMs);
  mc.frontend_delivery_ns = static_cast<SimTime>(std::llround(s.engine.frontend_delivery_ms * kNsPerMs));
  mc.frontend_per_token_ns = static_cast<SimTime>(std::llround(s.engine.frontend_per_token_us * kNsPerUs));
  const std::string note = cache::extrapolation_note(cache::preset(s.cache.policy), s.engine.version, s.model.name,
                                                     s.model.num_kv_heads, s.model.num_attention_heads);
  if (!note.empty()) mc.notes.push_back(note);
  if (s.engine.max_model_len > s.model.max_position_embeddings) {
    mc.notes.push_back(fmt::format("engine.max_model_len {} exceeds {}'s {} positions: {}", s.engine.max_model_len,
                                   s.model.name, s.model.max_position_embeddings,
                                   cache::preset(s.cache.policy).long_context));
  }
  if (s.cache.selection == "speculative") {
    mc.notes.push_back(fmt::format(
        "speculative selection fetches the tokens within alpha {} of the top score, at most max_kv_ratio ({}) of each "
        "sequence per layer; how many pass the threshold comes from the synthetic attention model "
        "(sim/cache/quality.h), an assumption: at alpha 4, 8.4 % of a 2,048-token context, and past about 6,500 tokens "
        "only the sinks and the last ~70 tokens, as its heavy hitters fall below the threshold",
        s.cache.alpha.value_or(kInfiniGenAlpha), s.cache.max_kv_ratio));
  }
  if (s.cache.placement == "offload" && !s.cache.host_kv_pinned &&
      !(s.hardware.measured && s.hardware.measured->bandwidth.contains("pcie/d2h_pageable"))) {
    mc.notes.push_back(fmt::format(
        "the host KV is pageable (cache.host_kv_pinned: false, as the released code allocates it), but {} has no "
        "measured pageable copy curve (kvsim calibrate): its copies are priced at the pinned rate",
        s.hardware.name));
  }
  if (s.cache.retention != "full" || s.cache.selection != "all") {
    mc.notes.push_back(
        "retention_attention and retention_early_facts are a synthetic proxy (sim/cache/quality.h), "
        "an assumption, not a measurement of model quality");
  }
  if (s.cache.residual_tokens > 0) {
    mc.notes.push_back(
        fmt::format("{} KV keeps every token: its retention is 1.0, and the accuracy cost of "
                    "quantisation is not modelled",
                    dtype_name(s.cache.precision)));
  }
  if (s.engine.framework == "pytorch") {
    const int c_ops = cost.config().attention_ops + cost.config().mlp_ops;
    mc.notes.push_back(fmt::format(
        "engine static (pytorch, the FlexGen family) terms: {} us of host time per eager op, {} per layer and GPU batch "
        "(engine.cpu_op_us), {} (engine.sync_per_layer), copies {} (engine.overlap), {} us per step + {} us "
        "per sequence serial (cpu_iteration_us, cpu_per_seq_us), prefill scores at {} B per element "
        "(prefill_score_bytes){}; no CUDA graphs; operator model: {}",
        s.engine.cpu_op_us, c_ops,
        s.engine.sync_per_layer ? "a device synchronisation after each layer object"
                                : "host running ahead of the GPU (no synchronisation per layer)",
        s.engine.overlap ? "overlapped with compute" : "on the compute's timeline", s.engine.cpu_iteration_us,
        s.engine.cpu_per_seq_us, s.engine.prefill_score_bytes,
        s.engine.cold_start_ms > 0 ? fmt::format(", {} ms once at the first iteration (cold_start_ms)",
                                                 s.engine.cold_start_ms)
                                   : "",
        cost.operator_params().origin));
  } else {
    mc.notes.push_back(fmt::format(
        "engine {} terms: {} us of CPU per iteration + {} us per sequence (engine.cpu_iteration_us, cpu_per_seq_us), "
        "kernels in a CUDA graph pay {} of an isolated kernel's floor (graph_floor_share), decode attention at {}x "
        "the operator model's efficiency (decode_attention_scale); operator model: {}",
        s.engine.version, s.engine.cpu_iteration_us, s.engine.cpu_per_seq_us, s.engine.graph_floor_share,
        s.engine.decode_attention_scale, cost.operator_params().origin));
  }
  if (s.engine.frontend == "api_server") {
    mc.notes.push_back(fmt::format(
        "latencies are a streaming client's (engine.frontend: api_server): {} ms in the API server before the engine "
        "queue (engine.frontend_preprocess_ms), {} ms to deliver each streamed token (frontend_delivery_ms) and {} us "
        "per output token after the last (frontend_per_token_us); engine.frontend: none for offline LLM.generate()",
        s.engine.frontend_preprocess_ms, s.engine.frontend_delivery_ms, s.engine.frontend_per_token_us));
  }
  metrics::Collector collector(mc, requests_csv ? &requests_csv->stream() : nullptr,
                               memory_csv ? &memory_csv->stream() : nullptr);

  std::optional<metrics::Timeline> timeline;
  if (timeline_json) {
    timeline.emplace(timeline_json->stream(), s.cluster.replicas,
                     metrics::TimelineSampling{s.output.timeline_request_every, s.output.timeline_max_requests,
                                               mc.memory_interval_ns});
    collector.set_timeline(&*timeline);
  }
  std::unique_ptr<serving::Cluster> cluster;
  if (disaggregated) {
    cluster = std::make_unique<serving::Cluster>(s, serving::Pool{&pools->prefill, pools->prefill_plan, &pools->prefill_cost},
                                                 serving::Pool{&pools->decode, result.plan, &cost}, collector, *source);
  } else {
    cluster = std::make_unique<serving::Cluster>(s, result.plan, cost, collector, *source);
  }
  const SimTime end = cluster->run();
  result.events = cluster->events_processed();
  result.analytic_steps = cluster->analytic_steps();
  result.cohort_iterations = cluster->cohort_iterations();
  result.summary = collector.summary(end);
  // What the workload was, after the run pulled it (a trace's skipped or clamped rows are counted by then).
  result.summary["workload"] = source->describe();
  // vllm bench serve's run metadata, under its names: the model, the rate asked for ("inf": all at once; a trace's
  // own mean rate over its arrivals) and the requests sent. (Its `date` is left out: a run's outputs depend only on
  // its inputs.)
  result.summary["model_id"] = s.model.name;
  const double asked = s.workload.trace.empty() ? s.workload.arrival.mean_rate()
                                                : collector.arrival_rate_req_per_s();
  result.summary["request_rate"] = std::isfinite(asked) ? nlohmann::ordered_json(asked) : nlohmann::ordered_json("inf");
  result.summary["num_prompts"] = collector.arrived();
  // How far measured runs were from kvsim's predictions in this load regime: 90 % intervals (metrics/error_bars.h).
  metrics::add_prediction_intervals(result.summary, metrics::builtin_error_model(), 0.9);

  if (!out_dir.empty()) {
    if (timeline) timeline->close();
    summary_json->stream() << result.summary.dump(2) << "\n";
    YAML::Emitter emitter;
    emitter << scenario_to_yaml(s);
    resolved_yaml->stream() << emitter.c_str() << "\n";
    // One unit: all written first, then all renamed, so the folder never mixes this run's files with another's.
    std::vector<AtomicFile*> files{requests_csv.get(), memory_csv.get(), summary_json.get(), resolved_yaml.get()};
    if (timeline_json) files.push_back(timeline_json.get());
    commit_all(files);
    if (!timeline_json) std::filesystem::remove(out_dir + "/timeline.json");  // an earlier run's
  }
  return result;
}

}  // namespace kvsim::sim
