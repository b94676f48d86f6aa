// Catalog-format YAML of a ModelSpec (model_spec_yaml, declared in model_loader.h): every field parse_model_yaml
// reads, so that a model imported from a Hugging Face config.json (hybrid layouts and state mixers included) can be
// kept as a catalog entry and read back to the same spec.
#include <string>

#include <yaml-cpp/yaml.h>

#include "models/model_loader.h"
#include "sim/core/dtype.h"

namespace kvsim::models {

namespace {

const char* layer_kind_name(AttentionKind kind) {
  switch (kind) {
    case AttentionKind::kFull:
      return "full";
    case AttentionKind::kSliding:
      return "sliding";
    case AttentionKind::kState:
      return "state";
    case AttentionKind::kNone:
      return "none";
  }
  return "?";
}

std::string dtype_text(DType t) { return std::string(dtype_name(t)); }

// Only the sizes the mixer's kind has (parse_model_yaml refuses the others), booleans included.
YAML::Node mixer_node(const StateMixer& s) {
  YAML::Node n;
  switch (s.kind) {
    case StateMixerKind::kMamba1:
      n["kind"] = "mamba1";
      n["inner_size"] = s.inner_size;
      n["state_size"] = s.state_size;
      n["conv_kernel"] = s.conv_kernel;
      n["dt_rank"] = s.dt_rank;
      n["conv_bias"] = s.conv_bias;
      n["proj_bias"] = s.proj_bias;
      n["dt_norms"] = s.dt_norms;
      break;
    case StateMixerKind::kMamba2:
      n["kind"] = "mamba2";
      n["num_heads"] = s.num_heads;
      n["head_dim"] = s.head_dim;
      n["inner_size"] = s.inner_size;
      n["state_size"] = s.state_size;
      n["conv_kernel"] = s.conv_kernel;
      n["n_groups"] = s.n_groups;
      n["conv_bias"] = s.conv_bias;
      n["proj_bias"] = s.proj_bias;
      break;
    case StateMixerKind::kGatedDeltaNet:
      n["kind"] = "gated_delta_net";
      n["num_k_heads"] = s.num_k_heads;
      n["num_heads"] = s.num_heads;
      n["state_size"] = s.state_size;
      n["head_dim"] = s.head_dim;
      n["conv_kernel"] = s.conv_kernel;
      break;
    case StateMixerKind::kNone:
      break;
  }
  return n;
}

}  // namespace

std::string model_spec_yaml(const ModelSpec& m) {
  YAML::Node n;
  n["name"] = m.name;
  if (!m.source.empty()) n["source"] = m.source;
  if (!m.architecture.empty()) n["architecture"] = m.architecture;
  n["num_layers"] = m.num_layers;
  n["hidden_size"] = m.hidden_size;
  n["num_attention_heads"] = m.num_attention_heads;
  n["num_kv_heads"] = m.num_kv_heads;
  n["head_dim"] = m.head_dim;
  n["intermediate_size"] = m.intermediate_size;
  n["vocab_size"] = m.vocab_size;
  n["max_position_embeddings"] = m.max_position_embeddings;
  n["mlp"] = m.mlp == MlpKind::kPlain ? "plain" : "gated";
  n["norm"] = m.norm == NormKind::kLayerNorm ? "layernorm" : "rmsnorm";
  n["position"] = m.position == PositionKind::kLearned ? "learned"
                  : m.position == PositionKind::kNone  ? "none"
                                                       : "rope";
  const std::pair<const char*, bool> flags[] = {
      {"qkv_bias", m.qkv_bias},
      {"attention_out_bias", m.attention_out_bias},
      {"mlp_bias", m.mlp_bias},
      {"attention_sinks", m.attention_sinks},
      {"tie_word_embeddings", m.tie_word_embeddings},
      {"shared_expert_gate", m.shared_expert_gate},
      {"qk_norm", m.qk_norm},
      {"attention_output_gate", m.attention_output_gate},
  };
  for (const auto& [key, value] : flags) {
    if (value) n[key] = true;
  }
  const std::pair<const char*, int64_t> sizes[] = {
      {"num_experts", m.num_experts},
      {"experts_per_token", m.experts_per_token},
      {"moe_intermediate_size", m.moe_intermediate_size},
      {"shared_expert_intermediate_size", m.shared_expert_intermediate_size},
      {"num_dense_layers", m.num_dense_layers},
      {"kv_lora_rank", m.kv_lora_rank},
      {"q_lora_rank", m.q_lora_rank},
      {"qk_rope_head_dim", m.qk_rope_head_dim},
      {"qk_nope_head_dim", m.qk_nope_head_dim},
      {"v_head_dim", m.v_head_dim},
      {"sliding_window", m.sliding_window},
      {"num_mlp_free_layers", m.num_mlp_free_layers},
  };
  for (const auto& [key, value] : sizes) {
    if (value != 0) n[key] = value;
  }
  if (m.norms_per_layer != 2) n["norms_per_layer"] = m.norms_per_layer;
  if (!m.layer_attention.empty()) {
    YAML::Node layers;
    for (AttentionKind k : m.layer_attention) layers.push_back(layer_kind_name(k));
    layers.SetStyle(YAML::EmitterStyle::Flow);
    n["layer_attention"] = layers;
  }
  if (m.state_mixer.kind != StateMixerKind::kNone) n["state_mixer"] = mixer_node(m.state_mixer);
  n["dtype"] = dtype_text(m.dtype);
  if (m.has_expert_dtype) n["expert_dtype"] = dtype_text(m.expert_dtype);
  if (m.has_weight_dtype) n["weight_dtype"] = dtype_text(m.weight_dtype);
  YAML::Emitter out;
  out << n;
  return std::string(out.c_str()) + "\n";
}

}  // namespace kvsim::models
