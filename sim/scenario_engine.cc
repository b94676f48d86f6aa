// The engine section of a scenario (scenario_sections.h).
#include <algorithm>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "models/memory_footprint.h"
#include "sim/core/error.h"
#include "sim/scenario_sections.h"

namespace kvsim::sim {

namespace {
constexpr uint64_t kLargeGpuBytes = 70ull << 30;  // vLLM picks its larger batch defaults on GPUs with >= 70 GiB

// vLLM V1's engine-level terms, fitted together by scripts/fit-engine-terms.py on the measured vLLM H100 serving runs
// of Llama-2-7B (TP 1, 5-20 req/s: validation/cases/measured-vllm-h100-llama2-7b-*), least squares on the log ratio
// of mean E2E and mean TTFT; the CodeLlama-34B TP 2 runs are held out (README, Validation).
// The API server path (`vllm serve`, /v1/completions, streaming), as its client sees it: before the engine queue,
// HTTP handling and tokenisation in the API server process and the hand-off to the engine core over ZMQ (fitted);
// after a token, the output processor detokenises it and the server streams it as a server-sent event: delivery
// after the last token and its per-token part are the fit of the runs' own source repository (inference-sim/training,
// summarised in shared/data/measured-vllm-h100/README.md: about 1.9 ms + 1.7 us per output token).
constexpr double kFrontendPreprocessMs = 12.37;

// The engine core's CPU work per iteration and per scheduled sequence, and the share of an isolated kernel's floor
// (launch + ramp + tail as Vidur's profiler timed it) that a kernel replayed from a CUDA graph still pays: fitted.
constexpr double kV1IterationUs = 454;
constexpr double kV1PerSeqUs = 2.292;
constexpr double kV1GraphFloorShare = 0.5468;
// vLLM V1's decode attention (FlashAttention 3 on Hopper) against the FlashInfer A100 profile the operator model was
// fitted on: fitted (no profile of vLLM's own kernel is in kvsim's data).
constexpr double kV1DecodeAttentionScale = 1.293;
// Other engines (the paper's V0, static batches, Hugging Face): 0.6 ms per iteration and 4 us per sequence,
// assumptions (Vidur attributes its high-load error to this term); no graphs replay their kernels' floors away.
constexpr double kOtherIterationUs = 600.0;
constexpr double kOtherPerSeqUs = 4.0;
// The FlexGen family's eager PyTorch engines (engine.framework: pytorch).
// Host time per eager op (FlexGen's Python around each op, the dispatcher, the launch): fitted on the H2O 512 + 512
// row of H2O's Table 3, whose decode is host-bound (1,056 ops per step on the GCP T4 VM; the FlexGen rows, 672 ops a
// step, stay GPU-bound): scripts/fit-static-terms.py. The default where the hardware profile has no host.eager_op_us
// of its own (H2O's A100 host runs them in 21.2 us: validation/cases/h2o-a100-opt6.7b-h2o.yaml).
constexpr double kPytorchOpUs = 66.75;
// Per generation step: sampling, the host copy of the new ids (a synchronisation) and the Python loop. Fitted with
// the Table 3 scenarios' cold start on the FlexGen rows of H2O's Table 3 (OPT-6.7B on a T4, GPU-bound decode):
// scripts/fit-static-terms.py, validation/fits/flexgen-t4-terms.txt; its H2O 512 + 32 and 512 + 1024 rows are held
// out.
constexpr double kPytorchStepUs = 1750.0;
constexpr double kPytorchPerSeqUs = 0.0;
constexpr double kPrefillScoreBytes = 4.0;
constexpr double kFrontendDeliveryMs = 1.9;
constexpr double kFrontendPerTokenUs = 1.7;

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

}  // namespace

const char* fast_forward_name(FastForward level) {
  switch (level) {
    case FastForward::kOff:
      return "off";
    case FastForward::kInline:
      return "inline";
    case FastForward::kAnalytic:
      return "analytic";
  }
  return "analytic";
}

void parse_engine(const yaml::Map& e, Scenario& s, const cache::Preset& preset, const std::string& retention,
                  const std::string& selection) {
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
  c.framework =
      c.version == "static"
          ? e.get_choice("framework", preset.framework.empty() ? "pytorch" : preset.framework, {"pytorch", "native"})
          : "";
  const bool pytorch = c.framework == "pytorch";
  // Past the model's positions only where the released code runs there: H2O's static PyTorch engine on a model with
  // a learned position table, which --hh-long-seq skips (sim/cache/presets.cc).
  if (c.max_model_len > s.model.max_position_embeddings &&
      (preset.long_context.empty() || !pytorch || s.model.position != models::PositionKind::kLearned)) {
    e.fail("max_model_len",
           fmt::format("{} exceeds the {} positions of {} (max_position_embeddings); vLLM refuses this too. Only a "
                       "preset whose released code runs past them allows it (h2o, on its static PyTorch engine, "
                       "for a model with learned positions)",
                       c.max_model_len, s.model.max_position_embeddings, s.model.name));
  }
  for (const char* key : {"framework", "prefill_score_bytes", "overlap", "sync_per_layer", "cpu_op_us"}) {
    if (c.version != "static" && e.has(key)) e.fail(key, "only used with engine.version: static");
    if (c.version == "static" && !pytorch && e.has(key) && std::string_view(key) != "framework") {
      e.fail(key, "only used with engine.framework: pytorch");
    }
  }
  e.raw("framework");
  const int64_t default_tokens = large ? 8192 : 2048;
  const bool whole_prompts = !c.chunked_prefill;
  // Eager attention (H2O) under the vLLM engines holds a whole prompt's fp32 scores at once: by default the engine
  // takes whole prompts up to the size whose scores fill half of the memory left after the weights; longer prompts are
  // rejected. The pytorch static engine prices its score tensor per GPU batch at admission instead.
  const bool eager = retention == "h2o" && !pytorch;
  int64_t whole_default = std::max(c.max_model_len, default_tokens);
  if (eager) whole_default = std::min(whole_default, eager_prefill_limit(s));
  if (pytorch && e.has("max_num_batched_tokens")) {
    e.fail("max_num_batched_tokens",
           "the pytorch static engine has no token budget: a batch is engine.max_num_seqs whole prompts (or "
           "cache.gpu_batch_size x cache.num_gpu_batches), bounded by memory");
  }
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
  // A level, or a boolean as before the levels (any YAML boolean: true = the default, analytic; false = off).
  if (const auto ff = e.opt_string("fast_forward")) {
    std::vector<std::string> levels;
    bool named = false, on = false;
    for (const FastForward level : {FastForward::kOff, FastForward::kInline, FastForward::kAnalytic}) {
      levels.emplace_back(fast_forward_name(level));
      if (*ff == levels.back()) {
        c.fast_forward = level;
        named = true;
      }
    }
    if (!named) {
      if (!YAML::convert<bool>::decode(YAML::Node(*ff), on)) {
        e.fail("fast_forward", fmt::format("expected off, inline or analytic (or true / false), found '{}'{}", *ff,
                                           did_you_mean(*ff, levels)));
      }
      c.fast_forward = on ? FastForward::kAnalytic : FastForward::kOff;
    }
  }
  // vLLM caps its memory at 0.9 of the GPU; the FlexGen family's released code has no cap and allocates until the
  // device is full (the CUDA context and other non-torch memory are subtracted on their own: models::non_torch_bytes).
  c.gpu_memory_utilization = e.get_double("gpu_memory_utilization", pytorch ? 1.0 : 0.9, 0.0, 1.0, true);
  c.kv_cache_bytes = e.opt_bytes("kv_cache_bytes");
  c.num_gpu_blocks = e.opt_int("num_gpu_blocks", 1, int64_t{1} << 40);
  if (c.kv_cache_bytes && c.num_gpu_blocks) {
    e.fail("num_gpu_blocks", "set either engine.kv_cache_bytes or engine.num_gpu_blocks, not both");
  }
  if (c.kv_cache_bytes && *c.kv_cache_bytes == 0) e.fail("kv_cache_bytes", "expected a size > 0, found 0");
  c.cpu_iteration_us =
      e.get_double("cpu_iteration_us", v1 ? kV1IterationUs : (pytorch ? kPytorchStepUs : kOtherIterationUs), 0, 1e9);
  c.cpu_per_seq_us =
      e.get_double("cpu_per_seq_us", v1 ? kV1PerSeqUs : (pytorch ? kPytorchPerSeqUs : kOtherPerSeqUs), 0, 1e9);
  if (pytorch) {
    c.prefill_score_bytes = e.get_double("prefill_score_bytes", kPrefillScoreBytes, 1, 16);
    // The released scripts: InfiniGen's (figure 14-17) and H2O's T4 suite run --overlap false, FlexGen's default is
    // true. InfiniGen's build synchronises after every layer object in both loops; FlexGen's and H2O's only in the
    // overlapped one.
    const bool infinigen = selection == "speculative";
    c.overlap = e.get_bool("overlap", !(infinigen || retention == "h2o"));
    c.sync_per_layer = e.get_bool("sync_per_layer", c.overlap || infinigen);
    c.cpu_op_us =
        e.get_double("cpu_op_us", s.hardware.host.eager_op_us > 0 ? s.hardware.host.eager_op_us : kPytorchOpUs, 0, 1e9);
  } else {
    c.sync_per_layer = false;
  }
  c.cold_start_ms = e.get_double("cold_start_ms", 0, 0, 1e7);
  c.graph_floor_share = e.get_double("graph_floor_share", v1 ? kV1GraphFloorShare : 1.0, 0, 1);
  c.decode_attention_scale = e.get_double("decode_attention_scale", v1 ? kV1DecodeAttentionScale : 1.0, 0, 10, true);
  // Offline engines (static batches, Hugging Face generate()) have no API server in front of them.
  const bool online = c.version == "v1" || c.version == "v0";
  c.frontend = e.get_choice("frontend", online ? "api_server" : "none", {"api_server", "none"});
  const bool api = c.frontend == "api_server";
  for (const char* key : {"frontend_preprocess_ms", "frontend_delivery_ms", "frontend_per_token_us"}) {
    if (!api && e.has(key)) e.fail(key, "only used with engine.frontend: api_server");
  }
  c.frontend_preprocess_ms = e.get_double("frontend_preprocess_ms", api ? kFrontendPreprocessMs : 0, 0, 1e7);
  c.frontend_delivery_ms = e.get_double("frontend_delivery_ms", api ? kFrontendDeliveryMs : 0, 0, 1e7);
  c.frontend_per_token_us = e.get_double("frontend_per_token_us", api ? kFrontendPerTokenUs : 0, 0, 1e7);
  e.finish();
}

YAML::Node engine_to_yaml(const EngineConfig& e) {
  YAML::Node n;
  n["version"] = e.version;
  if (e.version == "hf") n["hf_cache"] = e.hf_cache;
  n["max_num_seqs"] = e.max_num_seqs;
  if (e.framework != "pytorch") n["max_num_batched_tokens"] = e.max_num_batched_tokens;
  n["max_model_len"] = e.max_model_len;
  n["chunked_prefill"] = e.chunked_prefill;
  n["enforce_eager"] = e.enforce_eager;
  if (!e.framework.empty()) n["framework"] = e.framework;
  if (e.framework == "pytorch") {
    n["prefill_score_bytes"] = yaml::number(e.prefill_score_bytes);
    n["overlap"] = e.overlap;
    n["sync_per_layer"] = e.sync_per_layer;
    n["cpu_op_us"] = yaml::number(e.cpu_op_us);
  }
  if (e.fast_forward != FastForward::kAnalytic) n["fast_forward"] = fast_forward_name(e.fast_forward);
  n["cpu_iteration_us"] = yaml::number(e.cpu_iteration_us);
  n["cpu_per_seq_us"] = yaml::number(e.cpu_per_seq_us);
  n["graph_floor_share"] = yaml::number(e.graph_floor_share);
  n["decode_attention_scale"] = yaml::number(e.decode_attention_scale);
  n["frontend"] = e.frontend;
  if (e.frontend == "api_server") {
    n["frontend_preprocess_ms"] = yaml::number(e.frontend_preprocess_ms);
    n["frontend_delivery_ms"] = yaml::number(e.frontend_delivery_ms);
    n["frontend_per_token_us"] = yaml::number(e.frontend_per_token_us);
  }
  if (e.cold_start_ms > 0) n["cold_start_ms"] = yaml::number(e.cold_start_ms);
  n["gpu_memory_utilization"] = yaml::number(e.gpu_memory_utilization);
  if (e.kv_cache_bytes) n["kv_cache_bytes"] = *e.kv_cache_bytes;
  if (e.num_gpu_blocks) n["num_gpu_blocks"] = *e.num_gpu_blocks;
  return n;
}

}  // namespace kvsim::sim
