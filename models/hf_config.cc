// Hugging Face config.json import (parse_hf_config, declared in model_loader.h). Key names and defaults follow the
// transformers configuration classes: LlamaConfig, MistralConfig, MixtralConfig, Qwen2Config, Qwen2MoeConfig,
// Qwen3Config, Qwen3MoeConfig, OPTConfig, GptOssConfig, DeepseekV2Config, DeepseekV3Config, Gemma2Config,
// Gemma3TextConfig, JambaConfig, NemotronHConfig, Qwen3NextConfig. MoE and MLA keys are read in hf_config_moe_mla.cc,
// per-layer layouts (sliding windows, state-space layers) in hf_config_hybrid.cc.
#include <memory>

#include <fmt/format.h>

#include "sim/core/limits.h"
#include "models/hf_config_internal.h"
#include "models/model_loader.h"
#include "sim/core/error.h"

namespace kvsim::models {

namespace {

using detail::HfFamily;

struct KnownArchitecture {
  const char* architecture;  // architectures[0]
  const char* model_type;
  HfFamily family;
};

const KnownArchitecture kKnown[] = {
    {"LlamaForCausalLM", "llama", HfFamily::kLlama},
    {"MistralForCausalLM", "mistral", HfFamily::kLlama},
    {"MixtralForCausalLM", "mixtral", HfFamily::kMixtral},
    {"Qwen2ForCausalLM", "qwen2", HfFamily::kQwen2},
    {"Qwen2MoeForCausalLM", "qwen2_moe", HfFamily::kQwen2Moe},
    {"Qwen3ForCausalLM", "qwen3", HfFamily::kQwen3},
    {"Qwen3MoeForCausalLM", "qwen3_moe", HfFamily::kQwen3Moe},
    {"OPTForCausalLM", "opt", HfFamily::kOpt},
    {"GptOssForCausalLM", "gpt_oss", HfFamily::kGptOss},
    {"DeepseekV2ForCausalLM", "deepseek_v2", HfFamily::kDeepseekV2},
    {"DeepseekV3ForCausalLM", "deepseek_v3", HfFamily::kDeepseekV3},
    {"Gemma2ForCausalLM", "gemma2", HfFamily::kGemma2},
    {"Gemma3ForCausalLM", "gemma3_text", HfFamily::kGemma3},
    {"JambaForCausalLM", "jamba", HfFamily::kJamba},
    {"NemotronHForCausalLM", "nemotron_h", HfFamily::kNemotronH},
    {"Qwen3NextForCausalLM", "qwen3_next", HfFamily::kQwen3Next},
};

std::vector<std::string> known_names(bool architectures) {
  std::vector<std::string> out;
  for (const auto& k : kKnown) out.emplace_back(architectures ? k.architecture : k.model_type);
  return out;
}

// architectures[0] decides, model_type when there is no architectures list; a config with neither is read as
// LLaMA-like from the common keys. A name kvsim does not know is refused: its size keys are unknown.
HfFamily family_of(const yaml::Map& map, const std::string& architecture, const std::string& model_type) {
  for (const auto& k : kKnown) {
    if (!architecture.empty() ? architecture == k.architecture : model_type == k.model_type) return k.family;
  }
  if (architecture.empty() && model_type.empty()) return HfFamily::kLlama;
  const bool by_arch = !architecture.empty();
  const std::string& value = by_arch ? architecture : model_type;
  const auto names = known_names(by_arch);
  map.fail(by_arch ? "architectures" : "model_type",
           fmt::format("unknown architecture '{}'{}: kvsim reads the sizes of {} only", value,
                       did_you_mean(value, names), join(names)));
}

std::string first_architecture(const yaml::Map& map) {
  const YAML::Node node = map.raw("architectures");
  if (!node.IsDefined() || node.IsNull()) return "";
  if (!node.IsSequence() || node.size() == 0 || !node[0].IsScalar()) {
    map.fail_expected("architectures", "a non-empty list of class names");
  }
  return node[0].Scalar();
}

// NemotronHConfig names the attention head width attention_head_dim (Nemotron-H-8B); Nemotron 3's configs write
// head_dim (128 with hidden_size 2688 and 32 heads).
std::string head_dim_key(const yaml::Map& map, HfFamily family) {
  return family == HfFamily::kNemotronH && map.has("attention_head_dim") ? "attention_head_dim" : "head_dim";
}

DType read_torch_dtype(const yaml::Map& map) {
  // transformers >= 4.56 writes `dtype`; older versions `torch_dtype`. Neither: bf16, as the cost model assumes.
  const std::string key = map.has("torch_dtype") ? "torch_dtype" : "dtype";
  const auto text = map.opt_string(key);
  if (!text) return DType::kBf16;
  const auto t = parse_dtype(*text);
  if (!t) map.fail(key, fmt::format("unsupported dtype '{}'", *text));
  return *t;
}

}  // namespace

ModelSpec parse_hf_config(const std::string& path, std::map<std::string, std::string>* keys_read) {
  auto source = std::make_shared<yaml::Source>();
  source->file = path;
  const YAML::Node root = yaml::load_file(path);
  const yaml::Map map(root, source);

  ModelSpec m;
  m.name = path;
  m.source = "Hugging Face config.json: " + path;
  m.architecture = first_architecture(map);
  const std::string model_type = map.get_string("model_type", "");
  const HfFamily family = family_of(map, m.architecture, model_type);

  m.num_layers = map.req_int("num_hidden_layers", 1, limits::kMaxLayers);
  m.hidden_size = map.req_int("hidden_size", 1, limits::kMaxHidden);
  m.num_attention_heads = map.req_int("num_attention_heads", 1, limits::kMaxHeads);
  m.vocab_size = map.req_int("vocab_size", 1, limits::kMaxVocab);
  m.max_position_embeddings = map.req_int("max_position_embeddings", 1, limits::kMaxPositions);
  m.dtype = read_torch_dtype(map);
  detail::HfKeys keys = {{"num_layers", "num_hidden_layers"},     {"num_kv_heads", "num_key_value_heads"},
                         {"experts_per_token", "num_experts_per_tok"}, {"layer_attention", "layer_types"},
                         {"expert_dtype", "quantization_config"}};

  if (family == HfFamily::kOpt) {
    // OPTConfig: ReLU fc1/fc2 MLP, LayerNorm, learned positions, biases everywhere (enable_bias), tied lm_head.
    m.intermediate_size = map.req_int("ffn_dim", 1, limits::kMaxIntermediate);
    keys["intermediate_size"] = "ffn_dim";
    keys["head_dim"] = "num_attention_heads";
    m.num_kv_heads = m.num_attention_heads;
    m.head_dim = m.hidden_size / m.num_attention_heads;
    const int64_t proj_dim = map.get_int("word_embed_proj_dim", m.hidden_size, 1, limits::kMaxHidden);
    if (proj_dim != m.hidden_size) {
      map.fail("word_embed_proj_dim", fmt::format("{} differs from hidden_size {}: OPT's project_in/project_out "
                                                  "layers (OPT-350m) are not modeled",
                                                  proj_dim, m.hidden_size));
    }
    map.get_bool("do_layer_norm_before", true);  // pre- or post-LN: same parameters and FLOPs
    map.get_string("activation_function", "relu");
    const bool bias = map.get_bool("enable_bias", true);
    m.mlp = MlpKind::kPlain;
    m.norm = NormKind::kLayerNorm;
    m.position = PositionKind::kLearned;
    m.qkv_bias = m.attention_out_bias = m.mlp_bias = bias;
    m.tie_word_embeddings = map.get_bool("tie_word_embeddings", true);
  } else {
    m.num_kv_heads = map.opt_int("num_key_value_heads", 1, limits::kMaxHeads).value_or(m.num_attention_heads);
    if (family == HfFamily::kDeepseekV2 || family == HfFamily::kDeepseekV3) {
      detail::read_hf_mla(map, m, keys);
    } else if (auto head_dim = map.opt_int(head_dim_key(map, family), 1, limits::kMaxHidden)) {
      m.head_dim = *head_dim;
    } else if (m.hidden_size % m.num_attention_heads != 0) {
      map.fail("num_attention_heads",
               fmt::format("does not divide hidden_size {} and no head_dim is given", m.hidden_size));
    } else {
      m.head_dim = m.hidden_size / m.num_attention_heads;
    }
    m.intermediate_size = map.req_int("intermediate_size", 1, limits::kMaxIntermediate);
    // Gemma2Config / Gemma3TextConfig tie the lm_head to the embedding by default; the others do not.
    const bool gemma = family == HfFamily::kGemma2 || family == HfFamily::kGemma3;
    m.tie_word_embeddings = map.get_bool("tie_word_embeddings", gemma);
    m.mlp_bias = map.get_bool("mlp_bias", false);
    if (family == HfFamily::kQwen2 || family == HfFamily::kQwen2Moe) {
      m.qkv_bias = true;  // Qwen2Attention / Qwen2MoeAttention: bias on q/k/v, none on o_proj
    } else {
      m.qkv_bias = m.attention_out_bias = map.get_bool("attention_bias", false);
    }
    // Qwen3Attention / Gemma3Attention / Qwen3NextAttention: q_norm and k_norm over head_dim.
    m.qk_norm = family == HfFamily::kQwen3 || family == HfFamily::kQwen3Moe || family == HfFamily::kGemma3 ||
                family == HfFamily::kQwen3Next;
    detail::read_hf_moe(map, family, m, keys);
    if (family == HfFamily::kGptOss) {
      m.mlp_bias = true;         // GptOssExperts and GptOssTopKRouter carry biases
      m.attention_sinks = true;  // GptOssAttention.sinks: one logit per head
    }
    const yaml::Map quant = map.child("quantization_config");
    const std::string method = quant.get_string("quant_method", "");
    if (method == "mxfp4" && m.num_experts > 0) {
      m.has_expert_dtype = true;  // gpt-oss: MXFP4 experts; attention, router, embeddings stay in dtype
      m.expert_dtype = DType::kMxfp4;
    }
    // FP8 checkpoints: quant_method fp8 (vLLM's Fp8Config), or compressed-tensors in its float-quantized format
    // (e.g. RedHatAI/Llama-3.3-70B-Instruct-FP8, whose ignore list names lm_head). Linear layers in fp8; the
    // embeddings, lm_head and norms stay in torch_dtype (models::unquantized_dtype).
    if (method == "fp8" || (method == "compressed-tensors" && quant.get_string("format", "") == "float-quantized")) {
      m.has_weight_dtype = true;
      m.weight_dtype = DType::kFp8;
    }
  }
  detail::read_hf_layer_layout(map, family, m, keys);
  detail::refuse_unread_size_keys(map, family, m.architecture.empty() ? model_type : m.architecture);
  detail::check_spec_at(m, map, keys);
  if (keys_read != nullptr) *keys_read = keys;
  return m;
}

}  // namespace kvsim::models
