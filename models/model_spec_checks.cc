// Consistency checks of a ModelSpec (find_spec_problem, validate_model_spec; declared in model_spec.h), split from
// model_spec.cc: the bounds that keep derived byte counts far from overflow, and the MoE and MLA invariants.
#include <algorithm>
#include <tuple>

#include <fmt/format.h>

#include "models/model_spec.h"
#include "sim/core/error.h"
#include "sim/core/limits.h"

namespace kvsim::models {

namespace {

using Problem = std::optional<SpecProblem>;

Problem problem(std::string field, std::string message) {
  return Problem(SpecProblem{std::move(field), std::move(message)});
}

Problem find_moe_problem(const ModelSpec& m) {
  const std::pair<const char*, int64_t> non_negative[] = {
      {"moe_intermediate_size", m.moe_intermediate_size},
      {"shared_expert_intermediate_size", m.shared_expert_intermediate_size},
      {"num_dense_layers", m.num_dense_layers},
  };
  for (const auto& [field, value] : non_negative) {
    if (value < 0) return problem(field, fmt::format("expected >= 0, found {}", value));
  }
  if (!m.is_moe()) {
    if (m.moe_intermediate_size > 0) return problem("moe_intermediate_size", "set on a dense model (num_experts is 0)");
    if (m.shared_expert_intermediate_size > 0 || m.shared_expert_gate) {
      return problem("shared_expert_intermediate_size", "set on a dense model (num_experts is 0)");
    }
    if (m.num_dense_layers > 0) return problem("num_dense_layers", "set on a dense model (num_experts is 0)");
    return std::nullopt;
  }
  if (m.num_dense_layers >= m.num_layers) {
    return problem("num_dense_layers", fmt::format("{} dense layers leave none of the {} layers with experts",
                                                   m.num_dense_layers, m.num_layers));
  }
  if (m.shared_expert_gate && m.shared_expert_intermediate_size == 0) {
    return problem("shared_expert_intermediate_size", "a shared-expert gate needs a shared expert (width 0)");
  }
  return std::nullopt;
}

Problem find_mla_problem(const ModelSpec& m) {
  const std::pair<const char*, int64_t> dims[] = {
      {"kv_lora_rank", m.kv_lora_rank},
      {"q_lora_rank", m.q_lora_rank},
      {"qk_rope_head_dim", m.qk_rope_head_dim},
      {"qk_nope_head_dim", m.qk_nope_head_dim},
      {"v_head_dim", m.v_head_dim},
  };
  for (const auto& [field, value] : dims) {
    if (value < 0) return problem(field, fmt::format("expected >= 0, found {}", value));
    if (!m.is_mla() && value > 0) return problem(field, "set, but kv_lora_rank is 0 (not multi-head latent attention)");
  }
  if (!m.is_mla()) return std::nullopt;
  for (const auto& [field, value] : dims) {
    if (value == 0 && std::string_view(field) != "q_lora_rank") {
      return problem(field, "required with kv_lora_rank (multi-head latent attention)");
    }
  }
  if (m.head_dim != m.qk_nope_head_dim + m.qk_rope_head_dim) {
    return problem("head_dim", fmt::format("under MLA must be qk_nope_head_dim + qk_rope_head_dim = {}, found {}",
                                           m.qk_nope_head_dim + m.qk_rope_head_dim, m.head_dim));
  }
  if (m.qkv_bias || m.attention_out_bias) return problem("qkv_bias", "MLA projections carry no biases in kvsim");
  return std::nullopt;
}

// Hybrid models: the kState layers' mixer and the per-block layout (Nemotron-H).
Problem find_hybrid_problem(const ModelSpec& m) {
  const StateMixer& s = m.state_mixer;
  if (m.norms_per_layer < 1 || m.norms_per_layer > 4) {
    return problem("norms_per_layer", fmt::format("expected an integer in [1 .. 4], found {}", m.norms_per_layer));
  }
  if (m.num_mlp_free_layers < 0 || m.num_mlp_free_layers >= m.num_layers) {
    return problem("num_mlp_free_layers", fmt::format("expected an integer in [0 .. num_layers - 1 = {}], found {}",
                                                      m.num_layers - 1, m.num_mlp_free_layers));
  }
  if (m.num_dense_mlp_layers() < 0) {
    return problem("num_mlp_free_layers", fmt::format("{} layers without an MLP and {} with experts are more than the "
                                                      "{} layers",
                                                      m.num_mlp_free_layers, m.num_moe_layers(), m.num_layers));
  }
  // Nemotron-H: a block has a mixer or an MLP; one with neither ('none' layers beyond the MLP layers) does nothing.
  if (m.num_mixer_free_layers() + m.num_mlp_free_layers > m.num_layers) {
    return problem("num_mlp_free_layers",
                   fmt::format("{} layers without an MLP and {} without a mixer (layer_attention 'none') are more than "
                               "the {} layers: a layer has a mixer, an MLP or both",
                               m.num_mlp_free_layers, m.num_mixer_free_layers(), m.num_layers));
  }
  if (m.num_attention_layers() == 0) {
    return problem("layer_attention", "no layer holds attention: kvsim models hybrid models, not pure state-space ones");
  }
  const int64_t state_layers = m.num_state_layers();
  if (state_layers == 0) {
    if (s.kind != StateMixerKind::kNone) return problem("state_mixer", "set, but no layer is a state layer");
    return std::nullopt;
  }
  if (s.kind == StateMixerKind::kNone) {
    return problem("state_mixer", fmt::format("{} state layers but no state mixer is set", state_layers));
  }
  std::vector<std::pair<const char*, int64_t>> required = {{"state_size", s.state_size},
                                                           {"conv_kernel", s.conv_kernel}};
  if (s.kind == StateMixerKind::kMamba1) {
    required.insert(required.end(), {{"inner_size", s.inner_size}, {"dt_rank", s.dt_rank}});
  } else if (s.kind == StateMixerKind::kMamba2) {
    required.insert(required.end(), {{"inner_size", s.inner_size},
                                     {"n_groups", s.n_groups},
                                     {"num_heads", s.num_heads},
                                     {"head_dim", s.head_dim}});
  } else {
    required.insert(required.end(), {{"num_heads", s.num_heads}, {"head_dim", s.head_dim}, {"num_k_heads", s.num_k_heads}});
  }
  for (const auto& [field, value] : required) {
    if (value <= 0 || value > limits::kMaxIntermediate) {
      return problem(fmt::format("state_mixer.{}", field),
                     fmt::format("expected an integer in [1 .. {}], found {}", limits::kMaxIntermediate, value));
    }
  }
  if (s.kind == StateMixerKind::kMamba2 && s.num_heads * s.head_dim != s.inner_size) {
    return problem("state_mixer.inner_size", fmt::format("must be num_heads x head_dim = {}, found {}",
                                                         s.num_heads * s.head_dim, s.inner_size));
  }
  return std::nullopt;
}

}  // namespace

std::optional<SpecProblem> find_spec_problem(const ModelSpec& m) {
  const std::pair<const char*, int64_t> positive[] = {
      {"num_layers", m.num_layers},
      {"hidden_size", m.hidden_size},
      {"num_attention_heads", m.num_attention_heads},
      {"num_kv_heads", m.num_kv_heads},
      {"head_dim", m.head_dim},
      {"intermediate_size", m.intermediate_size},
      {"vocab_size", m.vocab_size},
      {"max_position_embeddings", m.max_position_embeddings},
  };
  for (const auto& [field, value] : positive) {
    if (value <= 0) return problem(field, fmt::format("expected a positive integer, found {}", value));
  }
  // Bounds that keep every derived byte count far from overflow (sim/core/limits.h); a loader refuses larger values
  // at their key already, these catch a spec built otherwise.
  const std::tuple<const char*, int64_t, int64_t> bounded[] = {
      {"num_layers", m.num_layers, limits::kMaxLayers},
      {"hidden_size", m.hidden_size, limits::kMaxHidden},
      {"num_attention_heads", m.num_attention_heads, limits::kMaxHeads},
      {"head_dim", m.head_dim, limits::kMaxHidden},
      {"intermediate_size", m.intermediate_size, limits::kMaxIntermediate},
      {"vocab_size", m.vocab_size, limits::kMaxVocab},
      {"max_position_embeddings", m.max_position_embeddings, limits::kMaxPositions},
      {"num_experts", m.num_experts, limits::kMaxExperts},
      {"moe_intermediate_size", m.moe_intermediate_size, limits::kMaxIntermediate},
      {"shared_expert_intermediate_size", m.shared_expert_intermediate_size, limits::kMaxIntermediate},
      {"kv_lora_rank", m.kv_lora_rank, limits::kMaxHidden},
      {"q_lora_rank", m.q_lora_rank, limits::kMaxHidden},
      {"qk_rope_head_dim", m.qk_rope_head_dim, limits::kMaxHidden},
      {"qk_nope_head_dim", m.qk_nope_head_dim, limits::kMaxHidden},
      {"v_head_dim", m.v_head_dim, limits::kMaxHidden},
  };
  for (const auto& [field, value, max] : bounded) {
    if (value > max) return problem(field, fmt::format("expected an integer <= {}, found {}", max, value));
  }
  const double d = static_cast<double>(m.hidden_size), layers = static_cast<double>(m.num_layers);
  const double attention =
      d * static_cast<double>(m.head_dim) * static_cast<double>(2 * m.num_attention_heads + 2 * m.num_kv_heads);
  const double mlp = 3.0 * d *
                     (static_cast<double>(m.intermediate_size) +
                      static_cast<double>(m.expert_intermediate_size()) * static_cast<double>(m.num_experts) +
                      static_cast<double>(m.shared_expert_intermediate_size));
  const double params = layers * (attention + mlp) + 2.0 * d * static_cast<double>(m.vocab_size);
  if (params > limits::kMaxParameters) {
    return problem("num_layers", fmt::format("these dimensions make {:.3g} parameters, more than the {:.0e} kvsim "
                                             "accepts: check num_layers, hidden_size, intermediate_size and the "
                                             "expert count",
                                             params, limits::kMaxParameters));
  }
  const double kv_elements_per_token = m.is_mla() ? layers * static_cast<double>(m.kv_lora_rank + m.qk_rope_head_dim)
                                                  : 2.0 * layers * static_cast<double>(m.num_kv_heads * m.head_dim);
  if (kv_elements_per_token > 0x1p36) {
    return problem("num_kv_heads", fmt::format("these dimensions make {:.3g} KV elements per token (2 x layers x "
                                               "kv_heads x head_dim), more than 2^36",
                                               kv_elements_per_token));
  }
  if (m.num_kv_heads > m.num_attention_heads || m.num_attention_heads % m.num_kv_heads != 0) {
    return problem("num_kv_heads", fmt::format("must divide num_attention_heads ({}), found {}", m.num_attention_heads,
                                               m.num_kv_heads));
  }
  // OPT derives head_dim from the hidden size (no separate head_dim in its config).
  if (m.position == PositionKind::kLearned && m.head_dim * m.num_attention_heads != m.hidden_size) {
    return problem("head_dim", fmt::format("head_dim x num_attention_heads ({} x {}) must equal hidden_size ({}) for "
                                           "this architecture",
                                           m.head_dim, m.num_attention_heads, m.hidden_size));
  }
  if (m.num_experts < 0) return problem("num_experts", fmt::format("expected >= 0, found {}", m.num_experts));
  if (m.num_experts > 0) {
    if (m.experts_per_token < 1 || m.experts_per_token > m.num_experts) {
      return problem("experts_per_token", fmt::format("expected an integer in [1 .. num_experts = {}], found {}",
                                                      m.num_experts, m.experts_per_token));
    }
  } else {
    if (m.experts_per_token != 0) {
      return problem("experts_per_token", "set on a dense model (num_experts is 0)");
    }
    if (m.has_expert_dtype) return problem("expert_dtype", "set on a dense model (num_experts is 0)");
  }
  if (auto p = find_moe_problem(m)) return p;
  if (auto p = find_mla_problem(m)) return p;
  if (auto p = find_hybrid_problem(m)) return p;
  if (m.sliding_window < 0) return problem("sliding_window", fmt::format("expected >= 0, found {}", m.sliding_window));
  if (!m.layer_attention.empty() && static_cast<int64_t>(m.layer_attention.size()) != m.num_layers) {
    return problem("layer_attention",
                   fmt::format("has {} entries but num_layers is {}", m.layer_attention.size(), m.num_layers));
  }
  const int64_t sliding = m.num_sliding_layers();
  if (sliding > 0 && m.sliding_window == 0) {
    return problem("sliding_window", fmt::format("{} layers use sliding attention but no window is set", sliding));
  }
  if (sliding == 0 && m.sliding_window > 0) {
    return problem("sliding_window", "set, but no layer uses sliding attention (see layer_attention)");
  }
  return std::nullopt;
}

void validate_model_spec(const ModelSpec& m) {
  if (auto p = find_spec_problem(m)) throw Error(Place{m.name}, fmt::format("{}: {}", p->field, p->message));
}

}  // namespace kvsim::models
