#include "sim/cache/presets.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>

#include <fmt/format.h>

#include "sim/core/error.h"

namespace kvsim::cache {

const std::vector<Preset>& presets() {
  // Static-batch systems built on FlexGen, evaluated on OPT / Llama-2 (multi-head attention).
  const std::string flexgen_engine = "its FlexGen-based engine (static batches) on OPT and Llama-2 models";
  static const std::vector<Preset> kPresets = {
      {"vllm", "vLLM PagedAttention: paged KV blocks allocated on demand (Kwon et al., SOSP 2023, sec. 4)", "paged",
       "full", "gpu", "all", "recompute", "", true},
      {"h2o",
       "H2O: heavy hitters + recent tokens in a fixed budget per sequence, 10 % + 10 % of the prompt, eager "
       "(unfused) attention, static batches on FlexGen (Zhang et al., NeurIPS 2023, sec. 5)",
       "budget", "h2o", "gpu", "all", "recompute", "static", true, "", "gpu", flexgen_engine, "",
       // FMInference/H2O h2o_flexgen: --hh-long-seq (flex_opt.py 1405) makes opt_input_embed return the token
       // embedding without the learned position table (pytorch_backend.py 264-265); its A100 runs use it for
       // 5000 + 5000 and 7000 + 1024 tokens on OPT (2,048 positions).
       "H2O's released code skips the learned position embedding (--hh-long-seq, as its A100 runs do), so sequences "
       "run past the model's positions; a throughput benchmark, not meaningful output"},
      {"infinigen",
       "InfiniGen: KV in host memory, partial keys on the GPU select the tokens each layer fetches, gathered on the "
       "CPU and copied while the previous layer computes; static batches on FlexGen (Lee et al., OSDI 2024, "
       "sec. 4-5)",
       "paged", "full", "offload", "speculative", "recompute", "static", true, "", "gpu", flexgen_engine},
      {"vllm-swap",
       "vLLM's paper engine preempting by swapping blocks to host memory (Kwon et al., SOSP 2023, sec. 4.5)", "paged",
       "full", "gpu", "all", "swap", "v0", false},
      {"hf-static", "Hugging Face static KV cache: max_model_len reserved per request", "reserve", "full", "gpu", "all",
       "recompute", "", false},
      {"hf-transformers",
       "Hugging Face transformers generate() with its DynamicCache: static batches padded to the longest prompt, "
       "finished sequences computed until the longest output ends, eager kernels and Python per step, the cache "
       "grown by concatenation (engine.version: hf; engine.hf_cache: static with cache.layout: reserve for its "
       "StaticCache)",
       "paged", "full", "gpu", "all", "recompute", "hf", false},
      {"fastertransformer",
       "FasterTransformer: KV for the maximum sequence length reserved per request, and request-level batching: the "
       "vLLM paper's dynamic batcher in front of it, like Triton's, runs a batch until its last request finishes "
       "(vLLM paper sec. 6.1)",
       "reserve", "full", "gpu", "all", "recompute", "static", false, "", "gpu", "", "native"},
      {"orca-max", "Orca (Max): reserves max_model_len per request (vLLM paper sec. 6.1)", "reserve", "full", "gpu",
       "all", "recompute", "", false},
      {"orca-pow2",
       "Orca (Pow2): reserves the prompt plus the next power of two of the output, over-reserving the output by less "
       "than 2x (vLLM paper sec. 6.1: a 25-token output reserves 32 positions)",
       "pow2", "full", "gpu", "all", "recompute", "", false},
      {"orca-oracle",
       "Orca (Oracle): reserves exactly prompt + output, knowing the output length (vLLM paper sec. 6.1)", "oracle",
       "full", "gpu", "all", "recompute", "", false},
      {"flexgen",
       "FlexGen: weights, KV (by layer) and activations placed by percentages on GPU, CPU and disk (default: the "
       "weights that fit on the GPU in steps of 5 %, the KV in host memory, activations on the GPU), attention on "
       "the CPU for the KV layers off the GPU, off-GPU weights streamed per layer and overlapped, static batches "
       "reserving prompt + output in a block of GPU batches (Sheng et al., ICML 2023, sec. 4)",
       "oracle", "full", "offload", "all", "recompute", "static", false, "", "cpu", flexgen_engine},
      {"streamingllm",
       "StreamingLLM: 4 attention-sink tokens + a recent window in a fixed rolling buffer (Xiao et al., ICLR 2024, "
       "sec. 3.2)",
       "budget", "streaming", "gpu", "all", "recompute", "", false, "", "gpu",
       "Hugging Face transformers, one stream at a time, on Llama-2, MPT, Falcon and Pythia"},
      {"kivi",
       "KIVI-2: 2-bit KV (keys per channel, values per token, groups of 32) with the last 128 tokens in full "
       "precision (Liu et al., ICML 2024, sec. 3-4)",
       "paged", "full", "gpu", "all", "recompute", "", false, "int2", "gpu",
       "Hugging Face transformers with static batches on Llama-2, Falcon and Mistral"},
      {"quest",
       "Quest: full KV kept; each decode step reads the top 16-token pages per head by min/max key bounds up to a "
       "2048-token budget, the first 2 layers dense (Tang et al., ICML 2024, sec. 3)",
       "paged", "full", "gpu", "pages", "recompute", "", false, "", "gpu",
       "its own kernels at batch size 1 on LongChat-7B and Yarn-Llama-2"},
      {"tiered",
       "KV offloading tier: prefix blocks evicted from the GPU demote to host memory (then disk) and load back on "
       "a prefix hit, as LMCache and vLLM's CPU offloading connector do (vLLM blog, 2025)",
       "paged", "full", "tiered", "all", "recompute", "", false},
      {"adaptive",
       "kvsim's adaptive rule: full KV for short prompts or a lightly used pool, SnapKV-style prompt compression "
       "to budget_tokens for long prompts arriving under memory pressure (no published system)",
       "paged", "adaptive", "gpu", "all", "recompute", "", false},
  };
  return kPresets;
}

std::string extrapolation_note(const Preset& preset, const std::string& engine_version, const std::string& model_name,
                               int64_t kv_heads, int64_t attention_heads) {
  if (preset.published.empty()) return "";
  std::vector<std::string> outside;
  if (engine_version != "static") outside.push_back("under continuous batching (engine " + engine_version + ")");
  if (kv_heads != attention_heads) {
    outside.push_back(
        fmt::format("on a GQA model ({}: {} KV heads for {} query heads)", model_name, kv_heads, attention_heads));
  }
  if (outside.empty()) return "";
  return fmt::format("{} was published on {}; running it {} is an extrapolation", preset.name, preset.published,
                     join(outside, " and "));
}

const Preset& preset(const std::string& name) {
  for (const auto& p : presets()) {
    if (p.name == name) return p;
  }
  return presets().front();
}

std::vector<std::string> preset_names() {
  std::vector<std::string> out;
  for (const auto& p : presets()) out.push_back(p.name);
  return out;
}

std::vector<std::string> default_study_presets() {
  std::vector<std::string> out;
  for (const auto& p : presets()) {
    if (p.default_study) out.push_back(p.name);
  }
  return out;
}

int64_t reserved_tokens(const std::string& layout, int64_t prompt_tokens, int64_t output_tokens, int64_t max_model_len,
                        int64_t budget_tokens) {
  const int64_t need = prompt_tokens + output_tokens;
  if (layout == "budget") return std::min(budget_tokens, need);
  if (layout == "reserve") return max_model_len;
  if (layout == "oracle") return need;
  if (layout == "pow2") {
    return std::min(max_model_len,
                    prompt_tokens + static_cast<int64_t>(std::bit_ceil(static_cast<uint64_t>(output_tokens))));
  }
  return 0;
}

AdmissionKv admission_kv(const sim::CacheConfig& cache, int64_t max_model_len, int64_t prompt_tokens,
                         int64_t output_tokens, double pool_in_use) {
  AdmissionKv a;
  const int64_t need = prompt_tokens + output_tokens;
  if (cache.retention == "h2o") {
    const int64_t budget = cache.budget_tokens
                               ? *cache.budget_tokens
                               : static_cast<int64_t>(std::ceil((cache.heavy_ratio + cache.recent_ratio) *
                                                                static_cast<double>(prompt_tokens)));
    a.keep_at_most = std::clamp<int64_t>(budget, 1, need);
  } else if (cache.retention == "streaming") {
    a.keep_at_most = std::clamp<int64_t>(cache.sink_tokens + cache.window_tokens, 1, need);
  }
  // Adaptive: a long prompt arriving while the pool is under pressure is compressed as SnapKV does; the rest keep
  // everything.
  const bool compress =
      cache.retention == "snapkv" || (cache.retention == "adaptive" && prompt_tokens >= cache.adaptive_prompt_tokens &&
                                      pool_in_use >= cache.adaptive_pressure);
  const int64_t budget = cache.budget_tokens.value_or(sim::kSnapKvBudgetTokens);
  if (compress && prompt_tokens > budget) {
    a.compress_after = prompt_tokens;
    a.keep_prompt = budget;
  }
  a.reserved_tokens = reserved_tokens(cache.layout, prompt_tokens, output_tokens, max_model_len, a.keep_at_most);
  return a;
}

}  // namespace kvsim::cache
