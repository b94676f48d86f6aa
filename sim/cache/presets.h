// Named cache-policy presets: each fixes values of the independent axes (layout, preemption, ...) as the system it
// names did, citing where that comes from. A scenario's `cache.policy` picks one; any axis set explicitly under
// `cache:` overrides it.
#pragma once

#include <string>
#include <vector>

#include "sim/scenario.h"

namespace kvsim::cache {

struct Preset {
  std::string name;
  std::string description;     // one line, with the source
  std::string layout;          // paged | reserve | pow2 | oracle | budget
  std::string retention;       // full | h2o | streaming | snapkv | adaptive
  std::string placement;       // gpu | offload | tiered
  std::string selection;       // all | speculative | pages
  std::string preemption;      // recompute | swap
  std::string engine;          // default engine version for this preset ("" = the scenario default)
  bool default_study;          // run by `kvsim compare` when no --policies is given
  std::string precision = "";  // KV dtype ("" = the scenario's dtype)
  std::string compute_attention_on = "gpu";
  // How the paper evaluated it, for the extrapolation note ("" = no note): the engine and models it ran on.
  std::string published = "";
  // The static engine's runtime by default (engine.framework: "" = pytorch, the FlexGen family's).
  std::string framework = "";
  // Why its released code runs sequences past the model's max_position_embeddings ("" = it does not, and
  // engine.max_model_len may not exceed them, as vLLM refuses).
  std::string long_context = "";
};
// Every preset, in the order `kvsim compare` lists them.
const std::vector<Preset>& presets();
// The preset called `name` (must exist: scenario loading checks names against presets()).
const Preset& preset(const std::string& name);
std::vector<std::string> preset_names();
std::vector<std::string> default_study_presets();

// How many tokens a layout reserves for a request at admission (0: paged, grows block by block). `reserve` holds
// max_model_len (HF static cache, FasterTransformer, Orca-Max); `pow2` the prompt plus the next power of two of the
// output (Orca-Pow2: over-reserves the output by less than 2x; at most max_model_len); `oracle` exactly prompt +
// output (Orca-Oracle knows the output length);
// `budget` the retention budget (a fixed per-sequence buffer, H2O). vLLM paper, Kwon et al., SOSP 2023, sec. 6.1.
int64_t reserved_tokens(const std::string& layout, int64_t prompt_tokens, int64_t output_tokens, int64_t max_model_len,
                        int64_t budget_tokens = 0);

// Decided when a request arrives: the tokens its layout reserves and, for an evicting retention, the budget it keeps
// (H2O: budget_tokens, or (heavy_ratio + recent_ratio) x prompt, at least 1, at most prompt + output;
// StreamingLLM: sink_tokens + window_tokens). A compressing retention (SnapKV, and adaptive when it compresses)
// holds the whole prompt while prefilling, then keeps budget_tokens of it plus every generated token.
struct AdmissionKv {
  int64_t reserved_tokens = 0;
  int64_t keep_at_most = 0;
  int64_t compress_after = 0;  // prompt tokens; once past them the prompt keeps only keep_prompt (0: never)
  int64_t keep_prompt = 0;
};
// `pool_in_use`: share of the KV pool in use when the request arrives (the adaptive rule reads it).
AdmissionKv admission_kv(const sim::CacheConfig& cache, int64_t max_model_len, int64_t prompt_tokens,
                         int64_t output_tokens, double pool_in_use = 0.0);

// The note a run carries when a preset runs outside what its paper evaluated ("" = none): a static-batch system
// under continuous batching, or a multi-head-attention result applied to a GQA model.
std::string extrapolation_note(const Preset& preset, const std::string& engine_version, const std::string& model_name,
                               int64_t kv_heads, int64_t attention_heads);

inline const std::vector<std::string>& layout_names() {
  static const std::vector<std::string> kLayouts = {"paged", "reserve", "pow2", "oracle", "budget"};
  return kLayouts;
}

}  // namespace kvsim::cache
