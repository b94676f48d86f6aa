// Hugging Face config.json import (parse_hf_config, declared in model_loader.h). Key names and defaults follow the
// transformers configuration classes: LlamaConfig, MistralConfig, Qwen2Config, OPTConfig, GptOssConfig.
#include <memory>

#include <fmt/format.h>

#include "sim/core/limits.h"
#include "models/model_loader.h"
#include "sim/core/error.h"

namespace kvsim::models {

namespace {

enum class Family { kLlamaLike, kQwen2, kOpt, kGptOss };

Family family_of(const std::string& architecture, const std::string& model_type) {
  if (architecture == "OPTForCausalLM" || model_type == "opt") return Family::kOpt;
  if (architecture == "GptOssForCausalLM" || model_type == "gpt_oss") return Family::kGptOss;
  if (architecture == "Qwen2ForCausalLM" || model_type == "qwen2") return Family::kQwen2;
  return Family::kLlamaLike;  // LLaMA, Mistral, Mixtral and the best effort for anything else
}

std::string first_architecture(const yaml::Map& map) {
  const YAML::Node node = map.raw("architectures");
  if (!node.IsDefined() || node.IsNull()) return "";
  if (!node.IsSequence() || node.size() == 0 || !node[0].IsScalar()) {
    map.fail_expected("architectures", "a non-empty list of class names");
  }
  return node[0].Scalar();
}

// Per-layer attention from `layer_types` (gpt-oss, recent transformers) or the older per-family keys.
void read_sliding(const yaml::Map& map, Family family, ModelSpec& m) {
  const auto window = map.opt_int("sliding_window", 0, limits::kMaxPositions);
  const YAML::Node types = map.raw("layer_types");
  if (types.IsDefined() && !types.IsNull()) {
    if (!types.IsSequence()) map.fail_expected("layer_types", "a list of 'full_attention'/'sliding_attention'");
    for (size_t i = 0; i < types.size(); ++i) {
      const std::string t = types[i].IsScalar() ? types[i].Scalar() : "";
      if (t != "full_attention" && t != "sliding_attention") {
        throw Error(yaml::place_of_node(types[i], *map.source()),
                    fmt::format("layer_types[{}]: expected 'full_attention' or 'sliding_attention', found {}", i,
                                yaml::describe(types[i])));
      }
      m.layer_attention.push_back(t == "sliding_attention" ? AttentionKind::kSliding : AttentionKind::kFull);
    }
  } else if (family == Family::kQwen2) {
    // Qwen2Config: the window applies only with use_sliding_window, to layers from max_window_layers on.
    if (map.get_bool("use_sliding_window", false) && window.value_or(0) > 0) {
      const int64_t first = map.get_int("max_window_layers", m.num_layers, 0, limits::kMaxLayers);
      for (int64_t i = 0; i < m.num_layers; ++i) {
        m.layer_attention.push_back(i >= first ? AttentionKind::kSliding : AttentionKind::kFull);
      }
    }
  } else if (window.value_or(0) > 0) {
    m.layer_attention.assign(static_cast<size_t>(m.num_layers), AttentionKind::kSliding);  // Mistral 7B v0.1
  }
  if (m.num_sliding_layers() == 0) {
    m.layer_attention.clear();
  } else {
    m.sliding_window = window.value_or(0);
  }
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

ModelSpec parse_hf_config(const std::string& path) {
  auto source = std::make_shared<yaml::Source>();
  source->file = path;
  const YAML::Node root = yaml::load_file(path);
  const yaml::Map map(root, source);

  ModelSpec m;
  m.name = path;
  m.source = "Hugging Face config.json: " + path;
  m.architecture = first_architecture(map);
  const std::string model_type = map.get_string("model_type", "");
  const Family family = family_of(m.architecture, model_type);

  m.num_layers = map.req_int("num_hidden_layers", 1, limits::kMaxLayers);
  m.hidden_size = map.req_int("hidden_size", 1, limits::kMaxHidden);
  m.num_attention_heads = map.req_int("num_attention_heads", 1, limits::kMaxHeads);
  m.vocab_size = map.req_int("vocab_size", 1, limits::kMaxVocab);
  m.max_position_embeddings = map.req_int("max_position_embeddings", 1, limits::kMaxPositions);
  m.dtype = read_torch_dtype(map);
  std::map<std::string, std::string> keys = {
      {"num_layers", "num_hidden_layers"},  {"num_kv_heads", "num_key_value_heads"},
      {"num_experts", "num_local_experts"}, {"experts_per_token", "num_experts_per_tok"},
      {"layer_attention", "layer_types"},   {"expert_dtype", "quantization_config"}};

  if (family == Family::kOpt) {
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
    if (auto head_dim = map.opt_int("head_dim", 1, limits::kMaxHidden)) {
      m.head_dim = *head_dim;
    } else if (m.hidden_size % m.num_attention_heads != 0) {
      map.fail("num_attention_heads",
               fmt::format("does not divide hidden_size {} and no head_dim is given", m.hidden_size));
    } else {
      m.head_dim = m.hidden_size / m.num_attention_heads;
    }
    m.intermediate_size = map.req_int("intermediate_size", 1, limits::kMaxIntermediate);
    m.tie_word_embeddings = map.get_bool("tie_word_embeddings", false);
    m.mlp_bias = map.get_bool("mlp_bias", false);
    if (family == Family::kQwen2) {
      m.qkv_bias = true;  // Qwen2Attention: bias on q/k/v, none on o_proj
    } else {
      m.qkv_bias = m.attention_out_bias = map.get_bool("attention_bias", false);
    }
    // Mixture of experts: num_local_experts (Mixtral, gpt-oss) or num_experts (Qwen MoE).
    const std::string experts_key = map.has("num_local_experts") ? "num_local_experts" : "num_experts";
    keys["num_experts"] = experts_key;
    m.num_experts = map.get_int(experts_key, 0, 0, limits::kMaxExperts);
    if (m.num_experts > 0) m.experts_per_token = map.req_int("num_experts_per_tok", 1, limits::kMaxExperts);
    if (family == Family::kGptOss) {
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
  read_sliding(map, family, m);
  detail::check_spec_at(m, map, keys);
  return m;
}

}  // namespace kvsim::models
