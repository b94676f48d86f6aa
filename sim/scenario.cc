#include "sim/scenario.h"

#include <filesystem>

#include <fmt/format.h>

#include "hw/hardware_loader.h"
#include "hw/measured_yaml.h"
#include "models/memory_footprint.h"
#include "models/model_loader.h"
#include "sim/cache/cache_policy.h"
#include "sim/cache/presets.h"
#include "sim/cache/quality.h"
#include "sim/core/limits.h"
#include "sim/core/units.h"
#include "sim/core/yaml.h"
#include "sim/scenario_sections.h"

namespace kvsim::sim {

const char* const kBuiltinStudyYaml =
    R"(# kvsim built-in study: one 8B model on one H100 with long prompts, so that the KV cache is the limit.
model: llama-3.1-8b
hardware: h100-sxm5-80gb
dtype: bf16
seed: 1
cache:
  policy: vllm
  block_size: 16
workload:
  requests: 600
  arrival: {process: poisson, rate: 1.0}
  prompt_tokens: {dist: lognormal, mean: 12000, stddev: 6000, min: 1024, max: 32768}
  output_tokens: {dist: lognormal, mean: 300, stddev: 150, min: 16, max: 2048}
slo:
  ttft_ms: 5000
  tpot_ms: 100
)";

// The study saturates near 1.2 req/s on the datasheet H100 profile (KV-bound: preemptions start there).
std::vector<double> builtin_study_rates() { return {0.5, 0.8, 1.0, 1.2, 1.5, 2.0}; }

int64_t activation_tokens(const Scenario& s) {
  if (s.cache.gpu_batch_size == 0) return s.engine.max_num_batched_tokens;
  return std::min(s.engine.max_num_batched_tokens, s.cache.gpu_batch_size * s.engine.max_model_len);
}
int64_t activation_seqs(const Scenario& s) {
  if (s.engine.framework == "pytorch") return std::max<int64_t>(1, s.cache.gpu_batch_size);
  return s.cache.gpu_batch_size == 0 ? s.engine.max_num_seqs : s.cache.gpu_batch_size;
}

std::vector<std::string> policy_names() { return cache::preset_names(); }
std::vector<std::string> default_compare_policies() { return cache::default_study_presets(); }

namespace {

std::string resolve_relative(const std::string& ref, const std::string& scenario_file) {
  namespace fs = std::filesystem;
  if (ref.empty() || fs::path(ref).is_absolute() || scenario_file.empty() || scenario_file == kBuiltinStudyName) {
    return ref;
  }
  const fs::path candidate = fs::path(scenario_file).parent_path() / ref;
  std::error_code ec;  // a name too long for the file system is not a file: no exception
  return fs::exists(candidate, ec) ? candidate.string() : ref;
}

// A workload file (trace, empirical lengths): beside the scenario when it is there or nowhere else, so that a
// missing file is reported in the scenario's folder; relative to the current directory when only there.
std::string resolve_workload_ref(const std::string& ref, const std::string& scenario_file) {
  const std::string beside = resolve_relative(ref, scenario_file);
  if (beside != ref || ref.empty() || std::filesystem::path(ref).is_absolute() || scenario_file.empty() ||
      scenario_file == kBuiltinStudyName) {
    return beside;
  }
  std::error_code ec;
  return std::filesystem::exists(ref, ec) ? ref : (std::filesystem::path(scenario_file).parent_path() / ref).string();
}

bool looks_like_path(const std::string& ref) {
  return ref.find('/') != std::string::npos || ref.ends_with(".json") || ref.ends_with(".yaml") ||
         ref.ends_with(".yml");
}


}  // namespace

hw::HardwareProfile load_hardware_ref(const yaml::Map& m, std::string_view key, const std::string& ref,
                                      const std::string& file) {
  try {
    return hw::load_hardware(resolve_relative(ref, file));
  } catch (const Error& e) {
    if (looks_like_path(ref) && !e.place().file.empty()) throw;
    m.fail(key, e.message());
  }
}

Scenario parse_scenario(YAML::Node root, const std::string& file, const std::vector<std::string>& overrides) {
  auto source = std::make_shared<yaml::Source>();
  source->file = file;
  for (const auto& o : overrides) yaml::apply_override(root, o, *source);
  const yaml::Map top(root, source);

  Scenario s;
  s.file = file;
  s.model_ref = top.req_string("model");
  try {
    s.model = models::load_model(resolve_relative(s.model_ref, file));
  } catch (const Error& e) {
    if (looks_like_path(s.model_ref) && !e.place().file.empty()) throw;
    top.fail("model", e.message());
  }
  s.hardware_ref = top.req_string("hardware");
  s.hardware = load_hardware_ref(top, "hardware", s.hardware_ref, file);
  s.dtype = read_dtype(top, "dtype", s.model.dtype);
  s.weight_dtype = read_dtype(top, "weight_dtype", s.model.has_weight_dtype ? s.model.weight_dtype : s.dtype);
  s.seed = static_cast<uint64_t>(top.get_int("seed", 0, 0, INT64_MAX));
  s.check_invariants = top.get_bool("check_invariants", false);

  // The cluster before the engine: the engine's defaults (H2O's eager prefill limit) depend on the weights per GPU.
  const yaml::Map cost = top.child("cost");
  s.gpu_hour_usd = cost.get_double("gpu_hour_usd", s.hardware.gpu_hour_usd, 0, 1e6);
  cost.finish();
  const yaml::Map cluster = top.child("cluster");
  parse_cluster(cluster, s);

  // Then the preset: it supplies defaults to the engine and cache sections.
  const yaml::Map cache_map = top.child("cache");
  const cache::Preset& preset = cache::preset(cache_map.get_choice("policy", "vllm", policy_names()));
  const std::string retention = cache_map.has("retention") ? cache_map.get_string("retention", "") : preset.retention;
  const std::string selection = cache_map.has("selection") ? cache_map.get_string("selection", "") : preset.selection;
  const yaml::Map engine_map = top.child("engine");
  parse_engine(engine_map, s, preset, retention, selection);
  parse_cache(cache_map, s, preset);
  if (s.cluster.disaggregated()) {
    // vLLM's disaggregated prefill (KV connectors) runs on its V1 engine; the prefill side computes whole prompts on
    // the GPU and hands their KV over, so the KV must live there.
    if (s.engine.version != "v1") {
      engine_map.fail("version", fmt::format("a disaggregated cluster (cluster.prefill, cluster.decode) runs engine "
                                             "v1, found '{}'",
                                             s.engine.version));
    }
    if (s.cache.placement == "offload") {
      cache_map.fail("placement", "a disaggregated cluster keeps the KV on the GPUs (gpu or tiered), found 'offload'");
    }
  }

  check_kv_store(cluster, s);

  s.workload = traces::parse_workload(top.child("workload"));
  if (!s.workload.trace.empty()) s.workload.trace = resolve_workload_ref(s.workload.trace, file);
  for (std::string& f : s.workload.merge_with) f = resolve_workload_ref(f, file);
  for (traces::LengthDist* d : {&s.workload.prompt_tokens, &s.workload.output_tokens}) {
    if (d->dist == "empirical") d->file = resolve_workload_ref(d->file, file);
  }
  s.workload.context_tokens = s.engine.max_model_len;

  const yaml::Map slo = top.child("slo");
  s.slo.ttft_ms = slo.opt_double("ttft_ms", 0, limits::kMaxMs, true);
  s.slo.tpot_ms = slo.opt_double("tpot_ms", 0, limits::kMaxMs, true);
  s.slo.warmup_requests = slo.get_int("warmup_requests", 0, 0, int64_t{1} << 50);
  slo.finish();

  const yaml::Map output = top.child("output");
  s.output.dir = output.get_string("dir", "");
  s.output.memory_interval_ms = output.get_double("memory_interval_ms", 100, 1e-3, limits::kMaxMs);
  s.output.timeline = output.get_bool("timeline", false);
  s.output.timeline_request_every =
      output.get_int("timeline_request_every", OutputConfig{}.timeline_request_every, 1, int64_t{1} << 40);
  s.output.timeline_max_requests =
      output.get_int("timeline_max_requests", OutputConfig{}.timeline_max_requests, 0, int64_t{1} << 40);
  s.output.exact_latency_samples =
      output.get_int("exact_latency_samples", OutputConfig{}.exact_latency_samples, 0, int64_t{1} << 40);
  output.finish();

  top.finish();
  return s;
}

Scenario load_scenario(const std::string& path, const std::vector<std::string>& overrides) {
  if (path.empty())
    return parse_scenario(yaml::load_string(kBuiltinStudyYaml, kBuiltinStudyName), kBuiltinStudyName, overrides);
  return parse_scenario(yaml::load_file(path), path, overrides);
}

YAML::Node scenario_to_yaml(const Scenario& s) {
  YAML::Node n;
  n["model"] = s.model_ref;
  n["hardware"] = s.hardware_ref;
  n["dtype"] = std::string(dtype_name(s.dtype));
  n["weight_dtype"] = std::string(dtype_name(s.weight_dtype));
  n["seed"] = s.seed;
  if (s.check_invariants) n["check_invariants"] = true;
  n["engine"] = engine_to_yaml(s.engine);
  n["cache"] = cache_to_yaml(s.cache);
  n["workload"] = traces::workload_to_yaml(s.workload);
  n["cluster"] = cluster_to_yaml(s.cluster);
  if (s.gpu_hour_usd > 0) n["cost"]["gpu_hour_usd"] = yaml::number(s.gpu_hour_usd);
  YAML::Node slo(YAML::NodeType::Map);
  if (s.slo.ttft_ms) slo["ttft_ms"] = yaml::number(*s.slo.ttft_ms);
  if (s.slo.tpot_ms) slo["tpot_ms"] = yaml::number(*s.slo.tpot_ms);
  if (s.slo.warmup_requests > 0) slo["warmup_requests"] = s.slo.warmup_requests;
  n["slo"] = slo;
  YAML::Node out;
  if (!s.output.dir.empty()) out["dir"] = s.output.dir;
  out["memory_interval_ms"] = yaml::number(s.output.memory_interval_ms);
  if (s.output.timeline) out["timeline"] = true;
  // Written only when set, so the resolved scenario of every other run reads as before.
  if (s.output.timeline_request_every != OutputConfig{}.timeline_request_every)
    out["timeline_request_every"] = s.output.timeline_request_every;
  if (s.output.timeline_max_requests != OutputConfig{}.timeline_max_requests)
    out["timeline_max_requests"] = s.output.timeline_max_requests;
  out["exact_latency_samples"] = s.output.exact_latency_samples;
  n["output"] = out;
  return n;
}

}  // namespace kvsim::sim
