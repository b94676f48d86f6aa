// Per-layer layouts of Hugging Face config.json files: sliding-window / global attention (gpt-oss, Gemma-2, Gemma-3,
// Mistral, Qwen2's use_sliding_window) and hybrid state-space models (Jamba, Nemotron-H, Qwen3-Next). Key names,
// defaults and layer rules follow transformers' Gemma2Config, Gemma3TextConfig, GptOssConfig, JambaConfig
// (JambaModel), NemotronHConfig (hybrid_override_pattern) and Qwen3NextConfig, and vLLM's model files of those names.
#include <cmath>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "models/hf_config_internal.h"
#include "sim/core/error.h"
#include "sim/core/limits.h"

namespace kvsim::models::detail {

namespace {

struct LayerTypeName {
  const char* name;
  AttentionKind kind;
};

// `layer_types` values each family's layers can take.
std::vector<LayerTypeName> layer_type_names(HfFamily family) {
  std::vector<LayerTypeName> out = {{"full_attention", AttentionKind::kFull}};
  if (family == HfFamily::kQwen3Next) {
    out.push_back({"linear_attention", AttentionKind::kState});  // Qwen3NextGatedDeltaNet
  } else {
    out.push_back({"sliding_attention", AttentionKind::kSliding});
  }
  return out;
}

void read_layer_types(const yaml::Map& map, const YAML::Node& types, HfFamily family, ModelSpec& m) {
  const auto names = layer_type_names(family);
  std::vector<std::string> known;
  for (const auto& n : names) known.emplace_back(n.name);
  if (!types.IsSequence()) map.fail_expected("layer_types", fmt::format("a list of {}", join(known, "/")));
  if (static_cast<int64_t>(types.size()) != m.num_layers) {
    map.fail("layer_types", fmt::format("has {} entries but num_hidden_layers is {}", types.size(), m.num_layers));
  }
  for (size_t i = 0; i < types.size(); ++i) {
    const std::string t = types[i].IsScalar() ? types[i].Scalar() : "";
    const LayerTypeName* hit = nullptr;
    for (const auto& n : names) {
      if (t == n.name) hit = &n;
    }
    if (hit == nullptr) {
      throw Error(yaml::place_of_node(types[i], *map.source()),
                  fmt::format("layer_types[{}]: unknown layer type {}{}: kvsim reads {} layers of this "
                              "architecture (their KV or state size is known), not this one",
                              i, types[i].IsScalar() ? fmt::format("'{}'", t) : yaml::describe(types[i]),
                              did_you_mean(t, known), join(known)));
    }
    m.layer_attention.push_back(hit->kind);
  }
}

// Jamba (JambaConfig): layer i has attention iff i % attn_layer_period == attn_layer_offset, else a Mamba mixer.
void read_jamba_layout(const yaml::Map& map, ModelSpec& m, HfKeys& keys) {
  const int64_t period = map.get_int("attn_layer_period", 8, 1, limits::kMaxLayers);
  const int64_t offset = map.get_int("attn_layer_offset", 4, 0, period - 1);
  for (int64_t i = 0; i < m.num_layers; ++i) {
    m.layer_attention.push_back(i % period == offset ? AttentionKind::kFull : AttentionKind::kState);
  }
  keys["layer_attention"] = "attn_layer_period, attn_layer_offset";
  StateMixer& s = m.state_mixer;
  s.kind = StateMixerKind::kMamba1;
  s.state_size = map.get_int("mamba_d_state", 16, 1, limits::kMaxHidden);
  s.conv_kernel = map.get_int("mamba_d_conv", 4, 2, 1024);
  s.inner_size = map.get_int("mamba_expand", 2, 1, 64) * m.hidden_size;
  // mamba_dt_rank: "auto" = ceil(hidden_size / 16) (JambaConfig).
  const YAML::Node dt = map.raw("mamba_dt_rank");
  if (!dt.IsDefined() || dt.IsNull() || (dt.IsScalar() && dt.Scalar() == "auto")) {
    s.dt_rank = (m.hidden_size + 15) / 16;
  } else {
    s.dt_rank = map.req_int("mamba_dt_rank", 1, limits::kMaxHidden);
  }
  s.conv_bias = map.get_bool("mamba_conv_bias", true);
  s.proj_bias = map.get_bool("mamba_proj_bias", false);
  s.dt_norms = true;  // JambaMambaMixer: dt_layernorm, b_layernorm, c_layernorm
  map.get_bool("use_mamba_kernels", true);
  keys["state_mixer"] = "mamba_d_state, mamba_d_conv, mamba_expand, mamba_dt_rank";
}

// Nemotron-H (NemotronHConfig.hybrid_override_pattern): one character per block, 'M' a Mamba-2 mixer, '*' attention,
// '-' an MLP, 'E' a mixture-of-experts MLP (Nemotron 3: NemotronHMOE, experts read in hf_config_moe_mla.cc); each
// block has one norm and either a mixer or an MLP.
void read_nemotron_layout(const yaml::Map& map, ModelSpec& m, HfKeys& keys) {
  const std::string pattern = map.req_string("hybrid_override_pattern");
  if (static_cast<int64_t>(pattern.size()) != m.num_layers) {
    map.fail("hybrid_override_pattern",
             fmt::format("has {} characters but num_hidden_layers is {}", pattern.size(), m.num_layers));
  }
  int64_t moe_blocks = 0;
  for (size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    if (c == 'M') {
      m.layer_attention.push_back(AttentionKind::kState);
    } else if (c == '*') {
      m.layer_attention.push_back(AttentionKind::kFull);
    } else if (c == '-' || c == 'E') {
      m.layer_attention.push_back(AttentionKind::kNone);
      if (c == 'E') ++moe_blocks;
    } else {
      map.fail("hybrid_override_pattern",
               fmt::format("character {} is '{}': kvsim reads 'M' (Mamba-2), '*' (attention), '-' (MLP) and 'E' "
                           "(mixture-of-experts) blocks only",
                           i, std::string(1, c)));
    }
  }
  if (moe_blocks > 0 && !m.is_moe()) {
    map.fail("hybrid_override_pattern",
             fmt::format("has {} mixture-of-experts blocks 'E' but n_routed_experts is 0 or absent", moe_blocks));
  }
  if (moe_blocks == 0 && m.is_moe()) {
    map.fail("n_routed_experts", "set, but hybrid_override_pattern has no mixture-of-experts block 'E'");
  }
  // Every block but the 'E' ones is an MoE model's layer without experts (its MLP, if any, is dense).
  if (m.is_moe()) {
    m.num_dense_layers = m.num_layers - moe_blocks;
    keys["num_dense_layers"] = "hybrid_override_pattern";
  }
  m.num_mlp_free_layers = m.num_layers - m.num_mixer_free_layers();
  m.norms_per_layer = 1;
  m.mlp = MlpKind::kPlain;  // NemotronHMLP: up_proj, relu^2, down_proj
  keys["layer_attention"] = "hybrid_override_pattern";
  StateMixer& s = m.state_mixer;
  s.kind = StateMixerKind::kMamba2;
  s.num_heads = map.req_int("mamba_num_heads", 1, limits::kMaxHeads);
  s.head_dim = map.req_int("mamba_head_dim", 1, limits::kMaxHidden);
  s.inner_size = s.num_heads * s.head_dim;  // NemotronHMamba2Mixer.intermediate_size
  map.get_int("expand", 2, 1, 64);          // superseded by mamba_num_heads x mamba_head_dim
  s.state_size = map.req_int("ssm_state_size", 1, limits::kMaxHidden);
  s.conv_kernel = map.get_int("conv_kernel", 4, 2, 1024);
  s.n_groups = map.get_int("n_groups", 8, 1, limits::kMaxHeads);
  s.conv_bias = map.get_bool("use_conv_bias", true);
  s.proj_bias = map.get_bool("use_bias", false);
  keys["state_mixer"] = "mamba_num_heads, mamba_head_dim, ssm_state_size, conv_kernel, n_groups";
}

// Qwen3-Next (Qwen3NextConfig): Gated DeltaNet layers, and every full_attention_interval-th layer full attention
// with an output gate.
void read_qwen3_next_mixer(const yaml::Map& map, ModelSpec& m, HfKeys& keys) {
  StateMixer& s = m.state_mixer;
  s.kind = StateMixerKind::kGatedDeltaNet;
  s.num_k_heads = map.req_int("linear_num_key_heads", 1, limits::kMaxHeads);
  s.num_heads = map.req_int("linear_num_value_heads", 1, limits::kMaxHeads);
  s.state_size = map.req_int("linear_key_head_dim", 1, limits::kMaxHidden);
  s.head_dim = map.req_int("linear_value_head_dim", 1, limits::kMaxHidden);
  s.conv_kernel = map.get_int("linear_conv_kernel_dim", 4, 2, 1024);
  m.attention_output_gate = true;  // Qwen3NextAttention: q_proj emits query and gate
  keys["state_mixer"] =
      "linear_num_key_heads, linear_num_value_heads, linear_key_head_dim, linear_value_head_dim, "
      "linear_conv_kernel_dim";
}

}  // namespace

void read_hf_layer_layout(const yaml::Map& map, HfFamily family, ModelSpec& m, HfKeys& keys) {
  const auto window = map.opt_int("sliding_window", 0, limits::kMaxPositions);
  if (family == HfFamily::kGemma2 || family == HfFamily::kGemma3) {
    m.norms_per_layer = 4;  // input, post-attention, pre-feedforward, post-feedforward RMSNorms
  }
  if (family == HfFamily::kJamba) {
    read_jamba_layout(map, m, keys);
    // JambaAttention (transformers' modeling_jamba) applies no rotary embedding: the Mamba layers carry position
    // (Lieber et al., "Jamba", arXiv 2403.19887).
    m.position = PositionKind::kNone;
  } else if (family == HfFamily::kNemotronH) {
    read_nemotron_layout(map, m, keys);
  } else if (const YAML::Node types = map.raw("layer_types"); types.IsDefined() && !types.IsNull()) {
    read_layer_types(map, types, family, m);
  } else if (family == HfFamily::kGemma2) {
    // Gemma2DecoderLayer: even layers slide (is_sliding = not layer_idx % 2).
    for (int64_t i = 0; i < m.num_layers; ++i) {
      m.layer_attention.push_back(i % 2 == 0 ? AttentionKind::kSliding : AttentionKind::kFull);
    }
    keys["layer_attention"] = "sliding_window (Gemma-2: even layers)";
  } else if (family == HfFamily::kGemma3) {
    // Gemma3TextConfig: layer i is global iff (i + 1) % sliding_window_pattern == 0.
    const int64_t pattern = map.get_int("sliding_window_pattern", 6, 1, limits::kMaxLayers);
    for (int64_t i = 0; i < m.num_layers; ++i) {
      m.layer_attention.push_back((i + 1) % pattern != 0 ? AttentionKind::kSliding : AttentionKind::kFull);
    }
    keys["layer_attention"] = "sliding_window_pattern";
  } else if (family == HfFamily::kQwen3Next) {
    const int64_t interval = map.get_int("full_attention_interval", 4, 1, limits::kMaxLayers);
    for (int64_t i = 0; i < m.num_layers; ++i) {
      m.layer_attention.push_back((i + 1) % interval == 0 ? AttentionKind::kFull : AttentionKind::kState);
    }
    keys["layer_attention"] = "full_attention_interval";
  } else if (is_qwen(family)) {
    // Qwen2Config (and Qwen2-MoE, Qwen3, Qwen3-MoE): the window applies only with use_sliding_window, to layers from
    // max_window_layers on.
    if (map.get_bool("use_sliding_window", false) && window.value_or(0) > 0) {
      const int64_t first = map.get_int("max_window_layers", m.num_layers, 0, limits::kMaxLayers);
      for (int64_t i = 0; i < m.num_layers; ++i) {
        m.layer_attention.push_back(i >= first ? AttentionKind::kSliding : AttentionKind::kFull);
      }
      keys["layer_attention"] = "use_sliding_window, max_window_layers";
    }
  } else if (window.value_or(0) > 0) {
    m.layer_attention.assign(static_cast<size_t>(m.num_layers), AttentionKind::kSliding);  // Mistral 7B v0.1
    keys["layer_attention"] = "sliding_window (every layer)";
  }
  if (family == HfFamily::kQwen3Next) read_qwen3_next_mixer(map, m, keys);
  if (m.num_sliding_layers() > 0) m.sliding_window = window.value_or(0);
  if (m.count_layers(AttentionKind::kFull) == m.num_layers) m.layer_attention.clear();
}

}  // namespace kvsim::models::detail
