// Pieces of the Hugging Face config.json import shared by hf_config.cc (families, dense keys) and
// hf_config_moe_mla.cc (mixture of experts, multi-head latent attention, keys that would change the size).
#pragma once

#include <map>
#include <string>

#include "models/model_spec.h"
#include "sim/core/yaml.h"

namespace kvsim::models::detail {

// Architecture families whose config.json keys kvsim reads; each follows a transformers configuration class.
enum class HfFamily {
  kLlama,       // LlamaConfig, MistralConfig
  kMixtral,     // MixtralConfig
  kQwen2,       // Qwen2Config
  kQwen2Moe,    // Qwen2MoeConfig
  kQwen3,       // Qwen3Config
  kQwen3Moe,    // Qwen3MoeConfig
  kOpt,         // OPTConfig
  kGptOss,      // GptOssConfig
  kDeepseekV2,  // DeepseekV2Config
  kDeepseekV3,  // DeepseekV3Config
  kGemma2,      // Gemma2Config
  kGemma3,      // Gemma3TextConfig (text-only Gemma3ForCausalLM)
  kJamba,       // JambaConfig
  kNemotronH,   // NemotronHConfig
  kQwen3Next,   // Qwen3NextConfig
};

// ModelSpec field -> the config.json key it was read from (for error places and `kvsim model-info`).
using HfKeys = std::map<std::string, std::string>;

bool is_qwen(HfFamily f);

// Routed and shared experts, their widths and the dense/MoE layer split, per family.
void read_hf_moe(const yaml::Map& map, HfFamily family, ModelSpec& m, HfKeys& keys);

// DeepSeek's multi-head latent attention: kv_lora_rank, q_lora_rank, qk_rope/nope_head_dim, v_head_dim.
void read_hf_mla(const yaml::Map& map, ModelSpec& m, HfKeys& keys);

// Which mixer each layer has: layer_types, the families' own pattern keys, sliding_window; and the state-space mixer
// of hybrid families (hf_config_hybrid.cc).
void read_hf_layer_layout(const yaml::Map& map, HfFamily family, ModelSpec& m, HfKeys& keys);

// The family's name as the error messages write it.
const char* family_label(HfFamily f);

// Throws at the first key that changes the model's size but that kvsim does not read for this family.
void refuse_unread_size_keys(const yaml::Map& map, HfFamily family, const std::string& family_name);

}  // namespace kvsim::models::detail
