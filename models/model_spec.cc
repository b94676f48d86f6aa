#include "models/model_spec.h"

#include "models/model_shapes.h"
#include "models/state_space.h"

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

uint64_t norm_params(const ModelSpec& m) {
  const uint64_t per_norm = m.norm == NormKind::kLayerNorm ? 2 * u(m.hidden_size) : u(m.hidden_size);
  return (u(m.norms_per_layer) * u(m.num_layers) + 1) * per_norm;  // norms_per_layer per layer, one final norm
}

// OPT's learned position table has two extra rows: positions are offset by 2 (HF OPTLearnedPositionalEmbedding).
constexpr int64_t kOptPositionOffset = 2;

uint64_t position_table_params(const ModelSpec& m) {
  if (m.position != PositionKind::kLearned) return 0;
  return u(m.max_position_embeddings + kOptPositionOffset) * u(m.hidden_size);
}

}  // namespace

namespace detail {

AttentionShapes attention_shapes(const ModelSpec& m, int64_t kv_heads) {
  const uint64_t h = u(m.hidden_size), d = u(m.head_dim), heads = u(m.num_attention_heads), kv = u(kv_heads);
  AttentionShapes a{};
  if (m.is_mla()) {
    // DeepSeek-V2 (arXiv:2405.04434) eqs. 9-14 and 37-38, as transformers' DeepseekV3Attention lays them out.
    const uint64_t qk = u(m.qk_nope_head_dim + m.qk_rope_head_dim), lora = u(m.kv_lora_rank);
    const uint64_t q_rank = u(m.q_lora_rank);
    a.q_weight = (q_rank > 0 ? q_rank : h) * heads * qk          // q_b_proj, or q_proj when q_lora_rank is null
                 + lora * heads * u(m.qk_nope_head_dim + m.v_head_dim);  // kv_b_proj
    a.kv_weight = h * q_rank + h * (lora + u(m.qk_rope_head_dim));     // q_a_proj + kv_a_proj_with_mqa
    a.o_weight = heads * u(m.v_head_dim) * h;
    a.extra_norms = q_rank + lora;  // q_a_layernorm, kv_a_layernorm (RMSNorm weights)
    return a;
  }
  a.q_weight = h * heads * d * (m.attention_output_gate ? 2 : 1);  // Qwen3-Next: query and gate per head
  a.kv_weight = 2 * h * kv * d;
  a.o_weight = heads * d * h;
  a.q_bias = m.qkv_bias ? heads * d : 0;
  a.kv_bias = m.qkv_bias ? 2 * kv * d : 0;
  a.o_bias = m.attention_out_bias ? h : 0;
  a.sinks = m.attention_sinks ? heads : 0;
  a.extra_norms = m.qk_norm ? 2 * d : 0;  // Qwen3Attention.q_norm / k_norm: RMSNorm(head_dim) each
  return a;
}

MlpShapes mlp_shapes(const ModelSpec& m, int64_t width) {
  const uint64_t h = u(m.hidden_size), inter = u(width);
  const uint64_t in_mats = m.mlp == MlpKind::kGated ? 2 : 1;  // gate + up | fc1
  MlpShapes s{};
  s.weight = (in_mats + 1) * h * inter;
  s.in_bias = m.mlp_bias ? in_mats * inter : 0;
  s.out_bias = m.mlp_bias ? h : 0;
  return s;
}

// The shared expert is an MLP of the model's kind without biases: gate, up, down (SwiGLU: DeepSeek, Qwen2-MoE) or up,
// down (Nemotron 3's squared-ReLU NemotronHMLP).
MlpShapes shared_expert_shapes(const ModelSpec& m) {
  const uint64_t matrices = m.mlp == MlpKind::kGated ? 3 : 2;
  MlpShapes s{};
  s.weight = matrices * u(m.hidden_size) * u(m.shared_expert_intermediate_size);
  return s;
}

}  // namespace detail

using detail::AttentionShapes;
using detail::attention_shapes;
using detail::MlpShapes;
using detail::mlp_shapes;
using detail::shared_expert_shapes;

int64_t ModelSpec::count_layers(AttentionKind kind) const {
  return std::count(layer_attention.begin(), layer_attention.end(), kind);
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
  if (m.is_mla()) {
    check_tp(tp);
    return static_cast<double>(m.kv_lora_rank + m.qk_rope_head_dim) * kv_element_bits(kv_dtype) / 8.0;
  }
  return 2.0 * static_cast<double>(kv_heads_per_gpu(m, tp) * m.head_dim) * kv_element_bits(kv_dtype) / 8.0;
}

double kv_bytes_per_token(const ModelSpec& m, DType kv_dtype, int tp) {
  return static_cast<double>(m.num_attention_layers()) * kv_bytes_per_token_layer(m, kv_dtype, tp);
}

double kv_bytes_for_sequence(const ModelSpec& m, int64_t tokens, DType kv_dtype, int tp) {
  if (tokens < 0) throw Error(fmt::format("{}: sequence length must be >= 0, found {}", m.name, tokens));
  const int64_t sliding_tokens = std::min(tokens, m.sliding_window);
  const double token_layers = static_cast<double>(m.num_full_layers()) * static_cast<double>(tokens) +
                              static_cast<double>(m.num_sliding_layers()) * static_cast<double>(sliding_tokens);
  return token_layers * kv_bytes_per_token_layer(m, kv_dtype, tp);
}

ParamCounts parameter_counts(const ModelSpec& m) {
  const uint64_t h = u(m.hidden_size), vocab = u(m.vocab_size);
  const uint64_t dense_layers = u(m.num_dense_mlp_layers()), moe_layers = u(m.num_moe_layers());
  ParamCounts p;
  p.embedding = vocab * h + position_table_params(m);
  p.lm_head = m.tie_word_embeddings ? 0 : vocab * h;
  const uint64_t attn_layers = u(m.num_attention_layers());
  const AttentionShapes a = attention_shapes(m, m.num_kv_heads);
  p.attention = attn_layers * (a.q_weight + a.kv_weight + a.o_weight + a.q_bias + a.kv_bias + a.o_bias + a.sinks);
  p.mlp_dense = dense_layers * mlp_shapes(m, m.intermediate_size).total();
  if (m.is_moe()) {
    const uint64_t experts = u(m.num_experts);
    p.experts = moe_layers * experts * mlp_shapes(m, m.expert_intermediate_size()).total();
    p.shared_experts = moe_layers * (shared_expert_shapes(m).total() + (m.shared_expert_gate ? h : 0));
    p.router = moe_layers * (h * experts + (m.mlp_bias ? experts : 0));
  }
  p.norms = norm_params(m) + attn_layers * a.extra_norms;
  p.state_mixers = u(m.num_state_layers()) * detail::mixer_shapes(m).total();
  return p;
}

uint64_t ParamCounts::active(const ModelSpec& m) const {
  const uint64_t active_experts =
      m.is_moe() ? experts / u(m.num_experts) * u(m.experts_per_token) : 0;  // experts is a multiple of num_experts
  return lm_head + attention + mlp_dense + active_experts + shared_experts + router + norms + state_mixers;
}

DType unquantized_dtype(const ModelSpec& m, DType weight_dtype) {
  if (dtype_bits(weight_dtype) >= 16) return weight_dtype;
  return dtype_bits(m.dtype) == 16 ? m.dtype : DType::kBf16;
}

double weight_bytes_per_gpu(const ModelSpec& m, DType weight_dtype, int tp) {
  check_tp(tp);
  const double t = tp, h = static_cast<double>(m.hidden_size);
  const double vocab = static_cast<double>(m.vocab_size);
  DType expert_dtype = weight_dtype;
  if (m.has_expert_dtype && dtype_bits(weight_dtype) >= dtype_bits(m.expert_dtype)) expert_dtype = m.expert_dtype;
  const double expert_bytes = dtype_bytes(expert_dtype);

  // `matrices` are the linear layers' weights (stored as weight_dtype); `plain` is everything else.
  // Vocabulary-parallel embedding and lm_head; the learned position table is replicated.
  double plain = vocab * h / t + static_cast<double>(position_table_params(m));
  if (!m.tie_word_embeddings) plain += vocab * h / t;

  // Attention: q and o split by heads; k and v split by KV heads, each rank holding kv_heads_per_gpu of them (MLA:
  // the replicated down-projections in kv_weight).
  const AttentionShapes a = attention_shapes(m, kv_heads_per_gpu(m, tp));
  const double attn_layers = static_cast<double>(m.num_attention_layers());
  double matrices =
      attn_layers * (static_cast<double>(a.q_weight + a.o_weight) / t + static_cast<double>(a.kv_weight));
  plain += attn_layers * (static_cast<double>(a.q_bias + a.sinks) / t + static_cast<double>(a.kv_bias + a.o_bias));
  plain += attn_layers * static_cast<double>(a.extra_norms);
  // State-space mixers: vLLM splits their projections, conv1d and per-channel / per-head parameters by tp.
  const detail::MixerShapes mixer = detail::mixer_shapes(m);
  const double state_layers = static_cast<double>(m.num_state_layers());
  matrices += state_layers * static_cast<double>(mixer.matrices) / t;
  plain += state_layers * static_cast<double>(mixer.small) / t;

  // MLP: input projections split by columns, output projection by rows; its bias is added once, so replicated.
  auto biases = [t](const MlpShapes& s) { return static_cast<double>(s.in_bias) / t + static_cast<double>(s.out_bias); };
  const double dense_layers = static_cast<double>(m.num_dense_mlp_layers());
  const MlpShapes dense = mlp_shapes(m, m.intermediate_size);
  matrices += dense_layers * static_cast<double>(dense.weight) / t;
  plain += dense_layers * biases(dense);
  double expert_weight_bytes = 0;
  if (m.is_moe()) {
    const double moe_layers = static_cast<double>(m.num_moe_layers()), experts = static_cast<double>(m.num_experts);
    const MlpShapes expert = mlp_shapes(m, m.expert_intermediate_size());
    plain += moe_layers * experts * biases(expert);
    plain += moe_layers * (h * experts + (m.mlp_bias ? experts : 0));  // router, replicated
    expert_weight_bytes = moe_layers * experts * static_cast<double>(expert.weight) / t * expert_bytes;
    // Shared experts are ordinary (quantisable) linear layers, split like a dense MLP; Qwen2-MoE's gate replicated.
    matrices += moe_layers * static_cast<double>(shared_expert_shapes(m).weight) / t;
    if (m.shared_expert_gate) plain += moe_layers * h;
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
  outside += static_cast<double>(norm_params(m)) / static_cast<double>(m.norms_per_layer * m.num_layers + 1);
  return weight_bytes_per_gpu(m, weight_dtype, tp) - outside * dtype_bytes(unquantized_dtype(m, weight_dtype));
}

double linear_flops_per_token(const ModelSpec& m) {
  const AttentionShapes a = attention_shapes(m, m.num_kv_heads);
  double total = static_cast<double>(m.num_attention_layers()) * static_cast<double>(a.q_weight + a.kv_weight + a.o_weight);
  total += static_cast<double>(m.num_state_layers()) * static_cast<double>(detail::mixer_shapes(m).matrices);
  total += static_cast<double>(m.num_dense_mlp_layers()) * static_cast<double>(mlp_shapes(m, m.intermediate_size).weight);
  if (m.is_moe()) {
    double per_moe_layer = static_cast<double>(m.experts_per_token) *
                           static_cast<double>(mlp_shapes(m, m.expert_intermediate_size()).weight);
    per_moe_layer += static_cast<double>(shared_expert_shapes(m).weight);
    per_moe_layer += static_cast<double>(m.hidden_size) * static_cast<double>(m.num_experts);  // router
    total += static_cast<double>(m.num_moe_layers()) * per_moe_layer;
  }
  const double lm_head = static_cast<double>(m.vocab_size) * static_cast<double>(m.hidden_size);
  return 2.0 * (total + lm_head);
}

}  // namespace kvsim::models
