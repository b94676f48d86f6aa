// The cache section of a scenario (scenario_sections.h).
#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "sim/core/limits.h"
#include "models/flexgen_placement.h"
#include "models/memory_footprint.h"
#include "sim/cache/cache_policy.h"
#include "sim/cache/quality.h"
#include "sim/core/units.h"
#include "sim/scenario_sections.h"

namespace kvsim::sim {

DType read_dtype(const yaml::Map& m, std::string_view key, DType def) {
  const std::string name = m.get_choice(key, std::string(dtype_name(def)), dtype_names());
  return *parse_dtype(name);
}

namespace {
bool is_integer_kv(DType t) { return t == DType::kInt8 || t == DType::kInt4 || t == DType::kInt2; }

// FlexGen's weight placement when the scenario does not set it: all on the GPU when they fit beside the
// activations, else the largest multiple of 5 % whose tensors (as FlexGen homes them), embeddings and double buffer of
// streamed layers leave room for them.
double default_weights_gpu_ratio(const Scenario& s) {
  const int tp = static_cast<int>(s.cluster.tensor_parallel);
  const double usable = s.engine.gpu_memory_utilization * static_cast<double>(s.hardware.gpu.hbm_bytes);
  const double layers = models::layer_weight_bytes_per_gpu(s.model, s.weight_dtype, tp);
  const double others = models::weight_bytes_per_gpu(s.model, s.weight_dtype, tp) - layers;
  // The pytorch static engine: one GPU batch's prefill activations at max_model_len (its score tensor, which grows
  // with the square of the prompt, is checked per batch when the batch forms); the others their profiled peak.
  const uint64_t activations =
      s.engine.framework == "pytorch"
          ? models::prefill_transient_bytes(s.model, activation_seqs(s), s.engine.max_model_len, 0.0, s.dtype, tp)
          : models::activation_peak_bytes(s.model, activation_tokens(s), activation_seqs(s), s.dtype, tp);
  const double reserve = static_cast<double>(activations + models::non_torch_bytes(tp));
  if (usable - reserve >= layers + others) return 1.0;
  // FlexGen homes whole tensors (models/flexgen_placement.h), so a percentage keeps its tensors' bytes on the GPU,
  // not its share: the largest multiple of 5 % whose tensors, embeddings and double buffer fit.
  for (int pct = 95; pct > 5; pct -= 5) {
    const double gpu = pct / 100.0;
    if (models::flexgen_weight_bytes(s.model, s.weight_dtype, gpu, 1.0 - gpu, 0.0, tp).gpu_bytes + reserve <= usable) {
      return gpu;
    }
  }
  return 0.05;
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

}  // namespace

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
  k.disk_bytes_per_s = c.get_double("disk_bytes_per_s", 6.9e9, 1e3, limits::kMaxBytesPerS);
  const bool offload = k.placement == "offload";
  const bool cpu = k.compute_attention_on == "cpu";
  if (k.alpha && k.selection != "speculative") {
    c.fail("alpha", fmt::format("cache.alpha is the threshold of speculative selection (InfiniGen), but "
                                "cache.selection is '{}'",
                                k.selection));
  }
  // InfiniGen's scripts run OPT with --alpha 4 (speedup/scripts/figure14/run.sh).
  if (k.selection == "speculative" && !k.alpha) k.alpha = kInfiniGenAlpha;
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
  // The released FlexGen-family code leaves its host KV unpinned ("pin_memory = False  # NOTE: disable pin_memory due
  // to high memory overhead": FlexGen's, H2O's and InfiniGen's pytorch_backend.py, TorchDevice.allocate).
  k.host_kv_pinned = c.get_bool("host_kv_pinned", !offload);
  if (!offload && c.has("host_kv_pinned")) {
    c.fail("host_kv_pinned", "only used with cache.placement: offload (a KV kept in host memory)");
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
  // placement is a prefix tier and needs it. For hybrid state-space models vLLM keeps it off unless asked
  // ("Hybrid or mamba-based model detected: disabling prefix caching since it is not yet supported", v0.10; opt-in
  // with --enable-prefix-caching and mamba_cache_mode align since).
  const bool tiered = k.placement == "tiered";
  const bool hybrid_state = s.model.num_state_layers() > 0;
  k.prefix_caching = c.get_bool("prefix_caching", tiered || (v1 && k.layout == "paged" && k.placement == "gpu" &&
                                                             k.retention == "full" && !hybrid_state));
  if (k.prefix_caching && k.retention != "full") {
    c.fail("prefix_caching", fmt::format("retention '{}' rewrites each sequence's prompt KV, so its blocks cannot be "
                                         "shared: set cache.prefix_caching: false",
                                         k.retention));
  }
  // How a reservation is stored: in one contiguous extent per request, as FasterTransformer and Orca store theirs
  // (vLLM paper sec. 3), or in blocks from anywhere in the pool.
  const bool reserving = k.layout == "reserve" || k.layout == "pow2" || k.layout == "oracle";
  k.allocation =
      c.get_choice("allocation", reserving && k.placement == "gpu" && !k.prefix_caching ? "contiguous" : "blocks",
                   {"blocks", "contiguous"});
  if (k.allocation == "contiguous" && (k.layout == "paged" || k.placement != "gpu" || k.prefix_caching)) {
    c.fail("allocation",
           fmt::format("contiguous storage holds a request's reservation in one extent of the GPU pool: it needs a "
                       "reservation layout (reserve, pow2, oracle, budget), cache.placement: gpu and "
                       "cache.prefix_caching: false, found layout '{}', placement '{}', prefix_caching {}",
                       k.layout, k.placement, k.prefix_caching));
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

YAML::Node cache_to_yaml(const CacheConfig& c) {
  YAML::Node n;
  n["policy"] = c.policy;
  n["layout"] = c.layout;
  n["allocation"] = c.allocation;
  n["retention"] = c.retention;
  n["heavy_ratio"] = yaml::number(c.heavy_ratio);
  n["recent_ratio"] = yaml::number(c.recent_ratio);
  if (c.budget_tokens) n["budget_tokens"] = *c.budget_tokens;
  n["sink_tokens"] = c.sink_tokens;
  n["window_tokens"] = c.window_tokens;
  n["adaptive_prompt_tokens"] = c.adaptive_prompt_tokens;
  n["adaptive_pressure"] = yaml::number(c.adaptive_pressure);
  n["placement"] = c.placement;
  n["selection"] = c.selection;
  n["partial_weight_ratio"] = yaml::number(c.partial_weight_ratio);
  n["max_kv_ratio"] = yaml::number(c.max_kv_ratio);
  if (c.alpha) n["alpha"] = yaml::number(*c.alpha);
  if (c.placement == "offload") n["host_kv_pinned"] = c.host_kv_pinned;
  n["token_budget"] = c.token_budget;
  n["page_size"] = c.page_size;
  n["host_kv_bytes"] = c.host_kv_bytes;
  n["disk_kv_bytes"] = c.disk_kv_bytes;
  n["disk_bytes_per_s"] = yaml::number(c.disk_bytes_per_s);
  n["block_size"] = c.block_size;
  n["preemption"] = c.preemption;
  n["swap_space_bytes"] = c.swap_space_bytes;
  n["prefix_caching"] = c.prefix_caching;
  n["precision"] = std::string(dtype_name(c.precision));
  n["residual_tokens"] = c.residual_tokens;
  n["compute_attention_on"] = c.compute_attention_on;
  const auto percents = [](const TierShares& t) {
    YAML::Node list;
    for (double v : {t.gpu, t.cpu, t.disk}) list.push_back(yaml::number(v * 100.0));
    list.SetStyle(YAML::EmitterStyle::Flow);
    return list;
  };
  n["weights_percent"] = percents(c.weights_share);
  n["kv_percent"] = percents(c.kv_share);
  n["activations_percent"] = percents(c.activations_share);
  if (c.gpu_batch_size > 0) n["gpu_batch_size"] = c.gpu_batch_size;
  n["num_gpu_batches"] = c.num_gpu_batches;
  return n;
}

}  // namespace kvsim::sim
