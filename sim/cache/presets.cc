#include "sim/cache/presets.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>

namespace kvsim::cache {

const std::vector<Preset>& presets() {
  static const std::vector<Preset> kPresets = {
      {"vllm", "vLLM PagedAttention: paged KV blocks allocated on demand (Kwon et al., SOSP 2023, sec. 4)", "paged",
       "full", "gpu", "all", "recompute", "", true},
      {"h2o",
       "H2O: heavy hitters + recent tokens in a fixed budget per sequence, 10 % + 10 % of the prompt, eager "
       "(unfused) attention (Zhang et al., NeurIPS 2023, sec. 5)",
       "budget", "h2o", "gpu", "all", "recompute", "v0", true},
      {"infinigen",
       "InfiniGen: KV in host memory, partial keys on the GPU select the tokens each layer fetches, gathered on the "
       "CPU and copied while the previous layer computes (Lee et al., OSDI 2024, sec. 4-5)",
       "paged", "full", "offload", "speculative", "recompute", "v0", true},
      {"vllm-swap",
       "vLLM's paper engine preempting by swapping blocks to host memory (Kwon et al., SOSP 2023, sec. 4.5)", "paged",
       "full", "gpu", "all", "swap", "v0", false},
      {"hf-static", "Hugging Face static KV cache: max_model_len reserved per request", "reserve", "full", "gpu", "all",
       "recompute", "", false},
      {"fastertransformer",
       "FasterTransformer: KV for the maximum sequence length reserved per request (vLLM paper sec. 6.1)", "reserve",
       "full", "gpu", "all", "recompute", "", false},
      {"orca-max", "Orca (Max): reserves max_model_len per request (vLLM paper sec. 6.1)", "reserve", "full", "gpu",
       "all", "recompute", "", false},
      {"orca-pow2", "Orca (Pow2): reserves the next power of two of prompt + output (vLLM paper sec. 6.1)", "pow2",
       "full", "gpu", "all", "recompute", "", false},
      {"orca-oracle",
       "Orca (Oracle): reserves exactly prompt + output, knowing the output length (vLLM paper sec. 6.1)", "oracle",
       "full", "gpu", "all", "recompute", "", false},
  };
  return kPresets;
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
  if (layout == "pow2")
    return std::min(max_model_len, static_cast<int64_t>(std::bit_ceil(static_cast<uint64_t>(need))));
  return 0;
}

AdmissionKv admission_kv(const sim::CacheConfig& cache, int64_t max_model_len, int64_t prompt_tokens,
                         int64_t output_tokens) {
  AdmissionKv a;
  if (cache.retention == "h2o") {
    const int64_t budget = cache.budget_tokens
                               ? *cache.budget_tokens
                               : static_cast<int64_t>(std::ceil((cache.heavy_ratio + cache.recent_ratio) *
                                                                static_cast<double>(prompt_tokens)));
    a.keep_at_most = std::clamp<int64_t>(budget, 1, prompt_tokens + output_tokens);
  }
  a.reserved_tokens = reserved_tokens(cache.layout, prompt_tokens, output_tokens, max_model_len, a.keep_at_most);
  return a;
}

}  // namespace kvsim::cache
