#include "models/model_spec.h"

#include <algorithm>
#include <tuple>

#include <fmt/format.h>

#include "sim/core/error.h"
#include "sim/core/limits.h"

namespace kvsim::models {

namespace {

void check_tp(int tp) {
  if (tp < 1) throw Error(fmt::format("tensor parallel degree must be >= 1, found {}", tp));
}

uint64_t u(int64_t v) { return static_cast<uint64_t>(v); }

// Weights of one layer's attention block, split the way tensor parallelism splits them.
struct AttentionShapes {
  uint64_t q_weight, kv_weight, o_weight;  // matrices
  uint64_t q_bias, kv_bias, o_bias, sinks;
};

AttentionShapes attention_shapes(const ModelSpec& m, int64_t kv_heads) {
  const uint64_t h = u(m.hidden_size), d = u(m.head_dim), heads = u(m.num_attention_heads), kv = u(kv_heads);
  AttentionShapes a{};
  a.q_weight = h * heads * d;
  a.kv_weight = 2 * h * kv * d;
  a.o_weight = heads * d * h;
  a.q_bias = m.qkv_bias ? heads * d : 0;
  a.kv_bias = m.qkv_bias ? 2 * kv * d : 0;
  a.o_bias = m.attention_out_bias ? h : 0;
  a.sinks = m.attention_sinks ? heads : 0;
  return a;
}

// One MLP (a dense layer's, or one expert's): matrices, biases of the column-parallel input projections (gate/up or
// fc1) and the bias of the row-parallel output projection (down or fc2).
struct MlpShapes {
  uint64_t weight, in_bias, out_bias;
};

MlpShapes mlp_shapes(const ModelSpec& m) {
  const uint64_t h = u(m.hidden_size), inter = u(m.intermediate_size);
  const uint64_t in_mats = m.mlp == MlpKind::kGated ? 2 : 1;  // gate + up | fc1
  MlpShapes s{};
  s.weight = (in_mats + 1) * h * inter;
  s.in_bias = m.mlp_bias ? in_mats * inter : 0;
  s.out_bias = m.mlp_bias ? h : 0;
  return s;
}

uint64_t norm_params(const ModelSpec& m) {
  const uint64_t per_norm = m.norm == NormKind::kLayerNorm ? 2 * u(m.hidden_size) : u(m.hidden_size);
  return (2 * u(m.num_layers) + 1) * per_norm;  // input + post-attention norm per layer, one final norm
}

// OPT's learned position table has two extra rows: positions are offset by 2 (HF OPTLearnedPositionalEmbedding).
constexpr int64_t kOptPositionOffset = 2;

uint64_t position_table_params(const ModelSpec& m) {
  if (m.position != PositionKind::kLearned) return 0;
  return u(m.max_position_embeddings + kOptPositionOffset) * u(m.hidden_size);
}

}  // namespace

int64_t ModelSpec::num_sliding_layers() const {
  return std::count(layer_attention.begin(), layer_attention.end(), AttentionKind::kSliding);
}

std::optional<SpecProblem> find_spec_problem(const ModelSpec& m) {
  auto problem = [](std::string field, std::string message) {
    return std::optional<SpecProblem>(SpecProblem{std::move(field), std::move(message)});
  };
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
  };
  for (const auto& [field, value, max] : bounded) {
    if (value > max) return problem(field, fmt::format("expected an integer <= {}, found {}", max, value));
  }
  const double d = static_cast<double>(m.hidden_size), layers = static_cast<double>(m.num_layers);
  const double attention = d * static_cast<double>(m.head_dim) *
                           static_cast<double>(2 * m.num_attention_heads + 2 * m.num_kv_heads);
  const double mlp = 3.0 * d * static_cast<double>(m.intermediate_size) * static_cast<double>(std::max<int64_t>(1, m.num_experts));
  const double params = layers * (attention + mlp) + 2.0 * d * static_cast<double>(m.vocab_size);
  if (params > limits::kMaxParameters) {
    return problem("num_layers", fmt::format("these dimensions make {:.3g} parameters, more than the {:.0e} kvsim "
                                             "accepts: check num_layers, hidden_size, intermediate_size and the "
                                             "expert count",
                                             params, limits::kMaxParameters));
  }
  const double kv_elements_per_token = 2.0 * layers * static_cast<double>(m.num_kv_heads * m.head_dim);
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

int64_t kv_heads_per_gpu(const ModelSpec& m, int tp) {
  check_tp(tp);
  return std::max<int64_t>(1, m.num_kv_heads / tp);
}

double kv_element_bits(DType kv_dtype) {
  switch (kv_dtype) {
    case DType::kInt8:
    case DType::kInt4:
    case DType::kInt2:
      // fp16 scale + fp16 zero point per group (KIVI sec. 4).
      return dtype_bits(kv_dtype) + 32.0 / static_cast<double>(kKvQuantGroupSize);
    case DType::kFp32:
    case DType::kFp16:
    case DType::kBf16:
    case DType::kFp8:
    case DType::kMxfp4:
      return dtype_bits(kv_dtype);
  }
  return dtype_bits(kv_dtype);
}

double kv_bytes_per_token_layer(const ModelSpec& m, DType kv_dtype, int tp) {
  return 2.0 * static_cast<double>(kv_heads_per_gpu(m, tp) * m.head_dim) * kv_element_bits(kv_dtype) / 8.0;
}

double kv_bytes_per_token(const ModelSpec& m, DType kv_dtype, int tp) {
  return static_cast<double>(m.num_layers) * kv_bytes_per_token_layer(m, kv_dtype, tp);
}

double kv_bytes_for_sequence(const ModelSpec& m, int64_t tokens, DType kv_dtype, int tp) {
  if (tokens < 0) throw Error(fmt::format("{}: sequence length must be >= 0, found {}", m.name, tokens));
  const int64_t sliding_tokens = std::min(tokens, m.sliding_window);
  const double token_layers = static_cast<double>(m.num_full_layers()) * static_cast<double>(tokens) +
                              static_cast<double>(m.num_sliding_layers()) * static_cast<double>(sliding_tokens);
  return token_layers * kv_bytes_per_token_layer(m, kv_dtype, tp);
}

ParamCounts parameter_counts(const ModelSpec& m) {
  const uint64_t layers = u(m.num_layers), h = u(m.hidden_size), vocab = u(m.vocab_size);
  ParamCounts p;
  p.embedding = vocab * h + position_table_params(m);
  p.lm_head = m.tie_word_embeddings ? 0 : vocab * h;
  const AttentionShapes a = attention_shapes(m, m.num_kv_heads);
  p.attention = layers * (a.q_weight + a.kv_weight + a.o_weight + a.q_bias + a.kv_bias + a.o_bias + a.sinks);
  const MlpShapes s = mlp_shapes(m);
  const uint64_t one_mlp = s.weight + s.in_bias + s.out_bias;
  if (m.is_moe()) {
    const uint64_t experts = u(m.num_experts);
    p.experts = layers * experts * one_mlp;
    p.router = layers * (h * experts + (m.mlp_bias ? experts : 0));
  } else {
    p.mlp_dense = layers * one_mlp;
  }
  p.norms = norm_params(m);
  return p;
}

uint64_t ParamCounts::active(const ModelSpec& m) const {
  const uint64_t active_experts =
      m.is_moe() ? experts / u(m.num_experts) * u(m.experts_per_token) : 0;  // experts is a multiple of num_experts
  return lm_head + attention + mlp_dense + active_experts + router + norms;
}

DType unquantized_dtype(const ModelSpec& m, DType weight_dtype) {
  if (dtype_bits(weight_dtype) >= 16) return weight_dtype;
  return dtype_bits(m.dtype) == 16 ? m.dtype : DType::kBf16;
}

double weight_bytes_per_gpu(const ModelSpec& m, DType weight_dtype, int tp) {
  check_tp(tp);
  const double t = tp, layers = static_cast<double>(m.num_layers), h = static_cast<double>(m.hidden_size);
  const double vocab = static_cast<double>(m.vocab_size);
  DType expert_dtype = weight_dtype;
  if (m.has_expert_dtype && dtype_bits(weight_dtype) >= dtype_bits(m.expert_dtype)) expert_dtype = m.expert_dtype;
  const double expert_bytes = dtype_bytes(expert_dtype);

  // `matrices` are the linear layers' weights (stored as weight_dtype); `plain` is everything else.
  // Vocabulary-parallel embedding and lm_head; the learned position table is replicated.
  double plain = vocab * h / t + static_cast<double>(position_table_params(m));
  if (!m.tie_word_embeddings) plain += vocab * h / t;

  // Attention: q and o split by heads; k and v split by KV heads, each rank holding kv_heads_per_gpu of them.
  const AttentionShapes a = attention_shapes(m, kv_heads_per_gpu(m, tp));
  double matrices = layers * (static_cast<double>(a.q_weight + a.o_weight) / t + static_cast<double>(a.kv_weight));
  plain += layers * (static_cast<double>(a.q_bias + a.sinks) / t + static_cast<double>(a.kv_bias + a.o_bias));

  // MLP: input projections split by columns, output projection by rows; its bias is added once, so replicated.
  const MlpShapes s = mlp_shapes(m);
  const double mlp_biases = static_cast<double>(s.in_bias) / t + static_cast<double>(s.out_bias);
  double expert_weight_bytes = 0;
  if (m.is_moe()) {
    const double experts = static_cast<double>(m.num_experts);
    plain += layers * experts * mlp_biases;
    plain += layers * (h * experts + (m.mlp_bias ? experts : 0));  // router, replicated
    expert_weight_bytes = layers * experts * static_cast<double>(s.weight) / t * expert_bytes;
  } else {
    matrices += layers * static_cast<double>(s.weight) / t;
    plain += layers * mlp_biases;
  }
  plain += static_cast<double>(norm_params(m));
  return matrices * dtype_bytes(weight_dtype) + plain * dtype_bytes(unquantized_dtype(m, weight_dtype)) +
         expert_weight_bytes;
}

double layer_weight_bytes_per_gpu(const ModelSpec& m, DType weight_dtype, int tp) {
  check_tp(tp);
  // Mirrors weight_bytes_per_gpu's outside-the-layers terms: vocabulary-parallel embedding (and untied lm_head),
  // the replicated position table, and the final norm (norm_params counts 2 per layer + 1).
  const double vocab_rows = static_cast<double>(m.vocab_size) * static_cast<double>(m.hidden_size) / tp;
  double outside = vocab_rows + static_cast<double>(position_table_params(m));
  if (!m.tie_word_embeddings) outside += vocab_rows;
  outside += static_cast<double>(norm_params(m)) / static_cast<double>(2 * m.num_layers + 1);
  return weight_bytes_per_gpu(m, weight_dtype, tp) - outside * dtype_bytes(unquantized_dtype(m, weight_dtype));
}

double linear_flops_per_token(const ModelSpec& m) {
  const AttentionShapes a = attention_shapes(m, m.num_kv_heads);
  const MlpShapes s = mlp_shapes(m);
  double per_layer = static_cast<double>(a.q_weight + a.kv_weight + a.o_weight);
  if (m.is_moe()) {
    per_layer += static_cast<double>(m.experts_per_token) * static_cast<double>(s.weight);
    per_layer += static_cast<double>(m.hidden_size) * static_cast<double>(m.num_experts);  // router
  } else {
    per_layer += static_cast<double>(s.weight);
  }
  const double lm_head = static_cast<double>(m.vocab_size) * static_cast<double>(m.hidden_size);
  return 2.0 * (static_cast<double>(m.num_layers) * per_layer + lm_head);
}

}  // namespace kvsim::models
