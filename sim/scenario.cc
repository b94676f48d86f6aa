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
#include "sim/core/units.h"
#include "sim/core/yaml.h"

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
  return s.cache.gpu_batch_size == 0 ? s.engine.max_num_seqs : s.cache.gpu_batch_size;
}

const std::vector<std::string>& router_names() {
  static const std::vector<std::string> r = {"round-robin", "least-outstanding", "least-kv", "prefix-aware"};
  return r;
}

std::vector<std::string> policy_names() { return cache::preset_names(); }
std::vector<std::string> default_compare_policies() { return cache::default_study_presets(); }

namespace {

constexpr uint64_t kLargeGpuBytes = 70ull << 30;  // vLLM picks its larger batch defaults on GPUs with >= 70 GiB

std::string resolve_relative(const std::string& ref, const std::string& scenario_file) {
  namespace fs = std::filesystem;
  if (ref.empty() || fs::path(ref).is_absolute() || scenario_file.empty() || scenario_file == kBuiltinStudyName) {
    return ref;
  }
  const fs::path candidate = fs::path(scenario_file).parent_path() / ref;
  std::error_code ec;  // a name too long for the file system is not a file: no exception
  return fs::exists(candidate, ec) ? candidate.string() : ref;
}

bool looks_like_path(const std::string& ref) {
  return ref.find('/') != std::string::npos || ref.ends_with(".json") || ref.ends_with(".yaml") ||
         ref.ends_with(".yml");
}

DType read_dtype(const yaml::Map& m, std::string_view key, DType def) {
  const std::string name = m.get_choice(key, std::string(dtype_name(def)), dtype_names());
  return *parse_dtype(name);
}

// The longest whole prompt whose eager-attention scores fit in half of 0.9 x HBM less the weights (multiple of 256).
int64_t eager_prefill_limit(const Scenario& s) {
  const int tp = static_cast<int>(s.cluster.tensor_parallel);
  const double free_bytes =
      0.9 * static_cast<double>(s.hardware.gpu.hbm_bytes) - models::weight_bytes_per_gpu(s.model, s.weight_dtype, tp);
  int64_t t = 256;
  while (static_cast<double>(models::eager_attention_bytes(s.model, t + 256, s.dtype, tp)) <= 0.5 * free_bytes)
    t += 256;
  return t;
}

void parse_engine(const yaml::Map& e, Scenario& s, const cache::Preset& preset, const std::string& retention) {
  EngineConfig& c = s.engine;
  c.version = e.get_choice("version", preset.engine.empty() ? "v1" : preset.engine, {"v1", "v0", "static", "hf"});
  const bool v1 = c.version == "v1";
  const bool large = s.hardware.gpu.hbm_bytes >= kLargeGpuBytes;
  c.max_model_len = e.get_int("max_model_len", s.model.max_position_embeddings, 1, int64_t{1} << 32);
  c.chunked_prefill = e.get_bool("chunked_prefill", v1);
  if (v1 && !c.chunked_prefill) {
    e.fail("chunked_prefill", "the v1 engine always chunks prefills; set engine.version: v0 to turn it off");
  }
  c.hf_cache = c.version == "hf" ? e.get_choice("hf_cache", "dynamic", {"dynamic", "static"}) : "";
  if (c.version != "hf" && e.has("hf_cache")) e.fail("hf_cache", "only used with engine.version: hf");
  e.raw("hf_cache");
  if ((c.version == "static" || c.version == "hf") && c.chunked_prefill) {
    e.fail("chunked_prefill", "the static engine prefills each batch's whole prompts together; it cannot chunk them");
  }
  const int64_t default_tokens = large ? 8192 : 2048;
  const bool whole_prompts = !c.chunked_prefill;
  // Eager attention (H2O) holds a whole prompt's fp32 scores at once: by default the engine takes whole prompts up
  // to the size whose scores fill half of the memory left after the weights; longer prompts are rejected.
  const bool eager = retention == "h2o";
  int64_t whole_default = std::max(c.max_model_len, default_tokens);
  if (eager) whole_default = std::min(whole_default, eager_prefill_limit(s));
  c.max_num_batched_tokens =
      e.get_int("max_num_batched_tokens", whole_prompts ? whole_default : default_tokens, 1, int64_t{1} << 32);
  if (whole_prompts && !eager && c.max_num_batched_tokens < c.max_model_len) {
    e.fail("max_num_batched_tokens",
           fmt::format("must be >= engine.max_model_len ({}) when chunked prefill is off, found {}", c.max_model_len,
                       c.max_num_batched_tokens));
  }
  c.max_num_seqs_set = e.has("max_num_seqs");
  c.max_num_seqs = e.get_int("max_num_seqs", large ? 1024 : 256, 1, int64_t{1} << 24);
  c.enforce_eager = e.get_bool("enforce_eager", false);
  c.fast_forward = e.get_bool("fast_forward", true);
  c.gpu_memory_utilization = e.get_double("gpu_memory_utilization", 0.9, 0.0, 1.0, true);
  c.kv_cache_bytes = e.opt_bytes("kv_cache_bytes");
  c.num_gpu_blocks = e.opt_int("num_gpu_blocks", 1, int64_t{1} << 40);
  if (c.kv_cache_bytes && c.num_gpu_blocks) {
    e.fail("num_gpu_blocks", "set either engine.kv_cache_bytes or engine.num_gpu_blocks, not both");
  }
  if (c.kv_cache_bytes && *c.kv_cache_bytes == 0) e.fail("kv_cache_bytes", "expected a size > 0, found 0");
  e.finish();
}

bool is_integer_kv(DType t) { return t == DType::kInt8 || t == DType::kInt4 || t == DType::kInt2; }

// FlexGen's weight placement when the scenario does not set it: all on the GPU when they fit beside the
// activations, else the largest multiple of 5 % of the layers' weights that leaves room for them, the embeddings and
// lm_head, and a double buffer of streamed layers.
double default_weights_gpu_ratio(const Scenario& s) {
  const int tp = static_cast<int>(s.cluster.tensor_parallel);
  const double usable = s.engine.gpu_memory_utilization * static_cast<double>(s.hardware.gpu.hbm_bytes);
  const double layers = models::layer_weight_bytes_per_gpu(s.model, s.weight_dtype, tp);
  const double others = models::weight_bytes_per_gpu(s.model, s.weight_dtype, tp) - layers;
  const double reserve = static_cast<double>(models::activation_peak_bytes(s.model, activation_tokens(s),
                                                                           activation_seqs(s), s.dtype, tp) +
                                             models::non_torch_bytes(tp)) +
                         others + 2.0 * layers / static_cast<double>(s.model.num_layers);
  const double ratio = (usable - reserve) / layers;
  return ratio >= 1.0 ? 1.0 : std::max(0.05, std::floor(ratio * 20.0) / 20.0);
}

// A FlexGen placement list: three percentages (GPU, CPU, disk) in [0, 100] summing to 100.
TierShares read_shares(const yaml::Map& c, std::string_view key, const TierShares& def) {
  const std::vector<double> p =
      c.get_double_list(key, {def.gpu * 100.0, def.cpu * 100.0, def.disk * 100.0}, 0.0, 100.0);
  if (p.size() != 3) {
    c.fail(key, fmt::format("expected three percentages [gpu, cpu, disk], found {} values", p.size()));
  }
  if (std::abs(p[0] + p[1] + p[2] - 100.0) > 1e-6) {
    c.fail(key, fmt::format("the percentages [gpu, cpu, disk] must sum to 100, found {} + {} + {} = {}", p[0], p[1],
                            p[2], p[0] + p[1] + p[2]));
  }
  return TierShares{p[0] / 100.0, p[1] / 100.0, p[2] / 100.0};
}

// FlexGen's placement of weights, KV and activations, and its block schedule (Sheng et al., ICML 2023, sec. 4).
void parse_flexgen_placement(const yaml::Map& c, Scenario& s, bool cpu_attention) {
  CacheConfig& k = s.cache;
  k.num_gpu_batches = c.get_int("num_gpu_batches", 1, 1, int64_t{1} << 20);
  const auto gbs = c.opt_int("gpu_batch_size", 1, int64_t{1} << 24);
  k.gpu_batch_size = gbs.value_or(0);
  if ((gbs || k.num_gpu_batches > 1) && s.engine.version != "static") {
    c.fail(gbs ? "gpu_batch_size" : "num_gpu_batches",
           fmt::format("FlexGen's block schedule runs static batches: set engine.version: static, found '{}'",
                       s.engine.version));
  }
  if (gbs) {
    // The block is the engine's batch.
    const int64_t block = *gbs * k.num_gpu_batches;
    if (s.engine.max_num_seqs_set && s.engine.max_num_seqs != block) {
      c.fail("gpu_batch_size",
             fmt::format("cache.gpu_batch_size {} x cache.num_gpu_batches {} = {} sequences per block, but "
                         "engine.max_num_seqs is {}: leave engine.max_num_seqs out or make them agree",
                         *gbs, k.num_gpu_batches, block, s.engine.max_num_seqs));
    }
    s.engine.max_num_seqs = block;
  } else if (k.num_gpu_batches > 1) {
    c.fail("num_gpu_batches", "cache.num_gpu_batches needs cache.gpu_batch_size");
  }
  const double def_ratio = cpu_attention ? default_weights_gpu_ratio(s) : 1.0;
  k.weights_share = read_shares(c, "weights_percent", TierShares{def_ratio, 1.0 - def_ratio, 0.0});
  k.kv_share = read_shares(c, "kv_percent", cpu_attention ? TierShares{0.0, 1.0, 0.0} : TierShares{});
  k.activations_share = read_shares(c, "activations_percent", TierShares{});
  const bool whole_batches = !s.engine.chunked_prefill;
  if (k.weights_share.gpu < 1.0 && !whole_batches) {
    c.fail("weights_percent",
           "streaming weights from host memory or disk runs whole-batch iterations (FlexGen): set "
           "engine.version: static or v0");
  }
  if (k.activations_share.gpu < 1.0 && !whole_batches) {
    c.fail("activations_percent",
           "activations kept off the GPU between layers need whole-batch iterations (FlexGen): set "
           "engine.version: static or v0");
  }
  if (k.kv_share.gpu < 1.0 && !cpu_attention) {
    c.fail("kv_percent",
           "KV layers kept in host memory or on disk are attended on the CPU (FlexGen's --cpu-cache-compute): set "
           "cache.policy: flexgen or cache.compute_attention_on: cpu");
  }
  if (cpu_attention && k.kv_share.gpu >= 1.0) {
    c.fail("kv_percent",
           "attention on the CPU needs KV layers off the GPU, but cache.kv_percent keeps all of them on it: lower "
           "its first value or set cache.compute_attention_on: gpu");
  }
  if (k.kv_share.disk > 0 && k.disk_kv_bytes == 0) {
    c.fail("kv_percent",
           fmt::format("{} % of the KV on disk needs a disk tier: set cache.disk_kv_bytes", k.kv_share.disk * 100.0));
  }
  if ((k.kv_share.disk > 0 || k.weights_share.disk > 0 || k.activations_share.disk > 0) && !(k.disk_bytes_per_s > 0)) {
    c.fail("disk_bytes_per_s", "a disk placement needs a disk read rate > 0");
  }
}

void parse_cache(const yaml::Map& c, Scenario& s, const cache::Preset& preset) {
  CacheConfig& k = s.cache;
  k.policy = preset.name;
  c.raw("policy");  // read by parse_scenario to pick the preset
  k.layout = c.get_choice("layout", preset.layout, cache::layout_names());
  k.retention = c.get_choice("retention", preset.retention, {"full", "h2o", "streaming", "snapkv", "adaptive"});
  k.heavy_ratio = c.get_double("heavy_ratio", 0.1, 0, 1);
  k.recent_ratio = c.get_double("recent_ratio", 0.1, 0, 1);
  k.budget_tokens = c.opt_int("budget_tokens", 1, int64_t{1} << 40);
  k.sink_tokens = c.get_int("sink_tokens", 4, 0, int64_t{1} << 20);
  k.window_tokens = c.get_int("window_tokens", 2044, 1, int64_t{1} << 40);
  k.adaptive_prompt_tokens = c.get_int("adaptive_prompt_tokens", 8192, 1, int64_t{1} << 40);
  k.adaptive_pressure = c.get_double("adaptive_pressure", 0.5, 0, 1);
  if (k.heavy_ratio + k.recent_ratio > 1) {
    c.fail("recent_ratio", fmt::format("cache.heavy_ratio + cache.recent_ratio must be <= 1, found {} + {}",
                                       k.heavy_ratio, k.recent_ratio));
  }
  if (k.retention == "h2o" && !k.budget_tokens && k.heavy_ratio + k.recent_ratio <= 0) {
    c.fail("heavy_ratio", "h2o keeps no tokens: set cache.heavy_ratio / cache.recent_ratio or cache.budget_tokens");
  }
  const bool evicting = k.retention == "h2o" || k.retention == "streaming";
  const bool compressing = k.retention == "snapkv" || k.retention == "adaptive";
  if (evicting != (k.layout == "budget")) {
    c.fail(evicting ? "layout" : "retention",
           fmt::format("retention '{}' with layout '{}': an evicting retention (h2o, streaming) keeps a fixed "
                       "per-sequence buffer (layout: budget), and only it does",
                       k.retention, k.layout));
  }
  if (compressing && k.layout != "paged") {
    c.fail("layout", fmt::format("retention '{}' holds a whole prompt while prefilling and frees most of it after: "
                                 "it needs cache.layout: paged, found '{}'",
                                 k.retention, k.layout));
  }
  using cache::retention_model::kSnapKvObservationTokens;
  if (compressing && k.budget_tokens && *k.budget_tokens < kSnapKvObservationTokens) {
    c.fail("budget_tokens",
           fmt::format("retention '{}' keeps the prompt's last {} tokens (its observation window) at "
                       "least: budget_tokens must be >= {}, found {}",
                       k.retention, kSnapKvObservationTokens, kSnapKvObservationTokens, *k.budget_tokens));
  }
  if (k.retention == "h2o" && s.engine.chunked_prefill) {
    c.fail("retention", "h2o scores whole prompts at once and cannot chunk them: set engine.version: v0 or static");
  }
  k.placement = c.get_choice("placement", preset.placement, {"gpu", "offload", "tiered"});
  k.selection = c.get_choice("selection", preset.selection, {"all", "speculative", "pages"});
  k.compute_attention_on = c.get_choice("compute_attention_on", preset.compute_attention_on, {"gpu", "cpu"});
  k.partial_weight_ratio = c.get_double("partial_weight_ratio", 0.2, 0, 1, true);
  k.max_kv_ratio = c.get_double("max_kv_ratio", 0.2, 0, 1, true);
  k.alpha = c.opt_double("alpha", 0, 1e6);
  k.token_budget = c.get_int("token_budget", 2048, 1, int64_t{1} << 40);
  k.block_size = c.get_int("block_size", 16, 1, 4096);
  k.page_size = c.get_int("page_size", k.block_size, 1, 4096);
  k.host_kv_bytes = c.opt_bytes("host_kv_bytes")
                        .value_or(s.hardware.host.dram_bytes /
                                  static_cast<uint64_t>(std::max<int64_t>(1, s.hardware.gpus_per_node)) / 2);
  k.disk_kv_bytes = c.opt_bytes("disk_kv_bytes").value_or(0);
  k.disk_bytes_per_s = c.get_double("disk_bytes_per_s", 6.9e9, 0, yaml::kInf, true);
  const bool offload = k.placement == "offload";
  const bool cpu = k.compute_attention_on == "cpu";
  if (k.alpha && k.selection != "speculative") {
    c.fail("alpha", fmt::format("cache.alpha is the threshold of speculative selection (InfiniGen), but "
                                "cache.selection is '{}'",
                                k.selection));
  }
  if (k.selection == "speculative" && !offload) {
    c.fail("selection", fmt::format("selection 'speculative' fetches each layer's selected tokens from a KV kept in "
                                    "host memory: it needs cache.placement: offload, found '{}'",
                                    k.placement));
  }
  if (cpu && !(offload && k.selection == "all")) {
    c.fail("compute_attention_on",
           fmt::format("attention on the CPU reads a KV that lives in host memory (FlexGen): it needs "
                       "cache.placement: offload and cache.selection: all, found placement '{}', selection '{}'",
                       k.placement, k.selection));
  }
  if (offload && k.selection != "speculative" && !cpu) {
    c.fail("placement",
           "with the KV in host memory each step must either fetch only the tokens it selects (cache.selection: "
           "speculative) or compute attention where the KV lives (cache.compute_attention_on: cpu)");
  }
  if (offload && s.engine.chunked_prefill) {
    c.fail("placement",
           "an offloaded KV prefills whole prompts on the GPU and sends them to the host (InfiniGen's and FlexGen's "
           "engines): set engine.version: static or v0");
  }
  if ((offload || k.placement == "tiered") && k.host_kv_bytes == 0) {
    c.fail("host_kv_bytes", fmt::format("placement '{}' keeps KV in host memory, but the host tier has no capacity "
                                        "(cache.host_kv_bytes: 0)",
                                        k.placement));
  }
  if (k.selection == "speculative" && k.layout != "paged") {
    c.fail("layout", "an offloaded KV keeps its partial keys in paged blocks: set cache.layout: paged");
  }
  if (k.selection != "all" && k.retention != "full") {
    c.fail("selection", fmt::format("selection '{}' chooses among every token kept, so it needs cache.retention: full, "
                                    "found '{}'",
                                    k.selection, k.retention));
  }
  if (k.selection == "pages" && k.placement != "gpu") {
    c.fail("selection", "selection 'pages' (Quest) reads pages of a KV held on the GPU: set cache.placement: gpu");
  }
  if (k.selection == "pages" && k.token_budget < k.page_size) {
    c.fail("token_budget", fmt::format("the token budget must hold at least one page: {} < cache.page_size {}",
                                       k.token_budget, k.page_size));
  }
  const bool v1 = s.engine.version == "v1";
  k.preemption = c.get_choice("preemption", preset.preemption, {"recompute", "swap"});
  if (k.preemption == "swap" && s.engine.version != "v0") {
    c.fail("preemption", "only the v0 engine preempts by swapping; set engine.version: v0");
  }
  k.swap_space_bytes = c.opt_bytes("swap_space_bytes").value_or(4ull << 30);
  // Automatic prefix caching is vLLM V1's; the paper engine and the reservation systems had none. A tiered
  // placement is a prefix tier and needs it.
  const bool tiered = k.placement == "tiered";
  k.prefix_caching = c.get_bool("prefix_caching",
                                tiered || (v1 && k.layout == "paged" && k.placement == "gpu" && k.retention == "full"));
  if (k.prefix_caching && k.retention != "full") {
    c.fail("prefix_caching", fmt::format("retention '{}' rewrites each sequence's prompt KV, so its blocks cannot be "
                                         "shared: set cache.prefix_caching: false",
                                         k.retention));
  }
  if (tiered && !k.prefix_caching) {
    c.fail("prefix_caching",
           "a tiered placement keeps evicted prefix blocks for reuse: it needs "
           "cache.prefix_caching: true");
  }
  if (tiered && (k.retention != "full" || k.selection != "all")) {
    c.fail("placement",
           "a tiered placement holds whole prefix blocks: it needs cache.retention: full and "
           "cache.selection: all");
  }
  if (s.engine.version == "hf") {
    const std::string need = s.engine.hf_cache == "static" ? "reserve" : "paged";
    if (k.layout != need) {
      c.fail("layout", fmt::format("engine.hf_cache: {} keeps its KV {}: it needs cache.layout: {}, found '{}'",
                                   s.engine.hf_cache,
                                   need == "reserve" ? "in a StaticCache of max_model_len per sequence"
                                                     : "in tensors grown token by token",
                                   need, k.layout));
    }
    if (k.prefix_caching) c.fail("prefix_caching", "Hugging Face generate() has no prefix cache: set it to false");
    if (k.placement != "gpu") c.fail("placement", "engine hf models the GPU caches (dynamic, static) only");
  }
  k.precision = read_dtype(c, "precision", preset.precision.empty() ? s.dtype : *parse_dtype(preset.precision));
  const bool quantised = is_integer_kv(k.precision);
  // KIVI keeps the last 128 tokens in full precision by default (Liu et al., ICML 2024, sec. 4: residual length
  // R = 128 with group size 32; it studies 32..128).
  k.residual_tokens = c.get_int("residual_tokens", quantised ? 128 : 0, 0, int64_t{1} << 20);
  if (k.residual_tokens > 0 && !quantised) {
    c.fail("residual_tokens", fmt::format("a full-precision residual window only exists for integer KV "
                                          "(cache.precision int8 / int4 / int2), found precision {}",
                                          dtype_name(k.precision)));
  }
  parse_flexgen_placement(c, s, cpu);
  c.finish();
}
}  // namespace

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
  try {
    s.hardware = hw::load_hardware(resolve_relative(s.hardware_ref, file));
  } catch (const Error& e) {
    if (looks_like_path(s.hardware_ref) && !e.place().file.empty()) throw;
    top.fail("hardware", e.message());
  }
  s.dtype = read_dtype(top, "dtype", s.model.dtype);
  s.weight_dtype = read_dtype(top, "weight_dtype", s.model.has_weight_dtype ? s.model.weight_dtype : s.dtype);
  s.seed = static_cast<uint64_t>(top.get_int("seed", 0, 0));
  s.check_invariants = top.get_bool("check_invariants", false);

  // The cluster before the engine: the engine's defaults (H2O's eager prefill limit) depend on the weights per GPU.
  const yaml::Map cost = top.child("cost");
  s.gpu_hour_usd = cost.get_double("gpu_hour_usd", s.hardware.gpu_hour_usd, 0, 1e6);
  cost.finish();
  const yaml::Map cluster = top.child("cluster");
  s.cluster.replicas = cluster.get_int("replicas", 1, 1, 1 << 20);
  s.cluster.tensor_parallel = cluster.get_int("tensor_parallel", 1, 1, 64);
  s.cluster.router = cluster.get_choice("router", "round-robin", router_names());
  if (s.model.num_attention_heads % s.cluster.tensor_parallel != 0) {
    cluster.fail("tensor_parallel", fmt::format("{} attention heads of {} do not split evenly over {} GPUs",
                                                s.model.num_attention_heads, s.model.name, s.cluster.tensor_parallel));
  }
  cluster.finish();

  // Then the preset: it supplies defaults to the engine and cache sections.
  const yaml::Map cache_map = top.child("cache");
  const cache::Preset& preset = cache::preset(cache_map.get_choice("policy", "vllm", policy_names()));
  const std::string retention = cache_map.has("retention") ? cache_map.get_string("retention", "") : preset.retention;
  parse_engine(top.child("engine"), s, preset, retention);
  parse_cache(cache_map, s, preset);

  s.workload = traces::parse_workload(top.child("workload"));
  if (!s.workload.trace.empty()) s.workload.trace = resolve_relative(s.workload.trace, file);
  for (std::string& f : s.workload.merge_with) f = resolve_relative(f, file);
  for (traces::LengthDist* d : {&s.workload.prompt_tokens, &s.workload.output_tokens}) {
    if (d->dist == "empirical") d->file = resolve_relative(d->file, file);
  }
  s.workload.context_tokens = s.engine.max_model_len;

  const yaml::Map slo = top.child("slo");
  s.slo.ttft_ms = slo.opt_double("ttft_ms", 0, yaml::kInf, true);
  s.slo.tpot_ms = slo.opt_double("tpot_ms", 0, yaml::kInf, true);
  s.slo.warmup_requests = slo.get_int("warmup_requests", 0, 0, int64_t{1} << 50);
  slo.finish();

  const yaml::Map output = top.child("output");
  s.output.dir = output.get_string("dir", "");
  s.output.memory_interval_ms = output.get_double("memory_interval_ms", 100, 0, yaml::kInf, true);
  s.output.timeline = output.get_bool("timeline", false);
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
  YAML::Node e;
  e["version"] = s.engine.version;
  if (s.engine.version == "hf") e["hf_cache"] = s.engine.hf_cache;
  e["max_num_seqs"] = s.engine.max_num_seqs;
  e["max_num_batched_tokens"] = s.engine.max_num_batched_tokens;
  e["max_model_len"] = s.engine.max_model_len;
  e["chunked_prefill"] = s.engine.chunked_prefill;
  e["enforce_eager"] = s.engine.enforce_eager;
  if (!s.engine.fast_forward) e["fast_forward"] = false;
  e["gpu_memory_utilization"] = yaml::number(s.engine.gpu_memory_utilization);
  if (s.engine.kv_cache_bytes) e["kv_cache_bytes"] = *s.engine.kv_cache_bytes;
  if (s.engine.num_gpu_blocks) e["num_gpu_blocks"] = *s.engine.num_gpu_blocks;
  n["engine"] = e;
  YAML::Node c;
  c["policy"] = s.cache.policy;
  c["layout"] = s.cache.layout;
  c["retention"] = s.cache.retention;
  c["heavy_ratio"] = yaml::number(s.cache.heavy_ratio);
  c["recent_ratio"] = yaml::number(s.cache.recent_ratio);
  if (s.cache.budget_tokens) c["budget_tokens"] = *s.cache.budget_tokens;
  c["sink_tokens"] = s.cache.sink_tokens;
  c["window_tokens"] = s.cache.window_tokens;
  c["adaptive_prompt_tokens"] = s.cache.adaptive_prompt_tokens;
  c["adaptive_pressure"] = yaml::number(s.cache.adaptive_pressure);
  c["placement"] = s.cache.placement;
  c["selection"] = s.cache.selection;
  c["partial_weight_ratio"] = yaml::number(s.cache.partial_weight_ratio);
  c["max_kv_ratio"] = yaml::number(s.cache.max_kv_ratio);
  if (s.cache.alpha) c["alpha"] = yaml::number(*s.cache.alpha);
  c["token_budget"] = s.cache.token_budget;
  c["page_size"] = s.cache.page_size;
  c["host_kv_bytes"] = s.cache.host_kv_bytes;
  c["disk_kv_bytes"] = s.cache.disk_kv_bytes;
  c["disk_bytes_per_s"] = yaml::number(s.cache.disk_bytes_per_s);
  c["block_size"] = s.cache.block_size;
  c["preemption"] = s.cache.preemption;
  c["swap_space_bytes"] = s.cache.swap_space_bytes;
  c["prefix_caching"] = s.cache.prefix_caching;
  c["precision"] = std::string(dtype_name(s.cache.precision));
  c["residual_tokens"] = s.cache.residual_tokens;
  c["compute_attention_on"] = s.cache.compute_attention_on;
  const auto percents = [](const TierShares& t) {
    YAML::Node list;
    for (double v : {t.gpu, t.cpu, t.disk}) list.push_back(yaml::number(v * 100.0));
    list.SetStyle(YAML::EmitterStyle::Flow);
    return list;
  };
  c["weights_percent"] = percents(s.cache.weights_share);
  c["kv_percent"] = percents(s.cache.kv_share);
  c["activations_percent"] = percents(s.cache.activations_share);
  if (s.cache.gpu_batch_size > 0) c["gpu_batch_size"] = s.cache.gpu_batch_size;
  c["num_gpu_batches"] = s.cache.num_gpu_batches;
  n["cache"] = c;
  n["workload"] = traces::workload_to_yaml(s.workload);
  YAML::Node cl;
  cl["replicas"] = s.cluster.replicas;
  cl["tensor_parallel"] = s.cluster.tensor_parallel;
  cl["router"] = s.cluster.router;
  n["cluster"] = cl;
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
  out["exact_latency_samples"] = s.output.exact_latency_samples;
  n["output"] = out;
  return n;
}

}  // namespace kvsim::sim
