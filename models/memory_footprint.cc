#include "models/memory_footprint.h"

#include <algorithm>
#include <cmath>

namespace kvsim::models {

namespace {

// The MLP width live per token: top-k routed experts plus the shared expert in an MoE layer, the dense width in a dense
// one (the wider of the two when an MoE model has dense layers).
double mlp_live_width(const ModelSpec& m) {
  if (!m.is_moe()) return static_cast<double>(m.intermediate_size);
  const double moe =
      static_cast<double>(m.expert_intermediate_size() * m.experts_per_token + m.shared_expert_intermediate_size);
  return m.num_dense_layers > 0 ? std::max(moe, static_cast<double>(m.intermediate_size)) : moe;
}

}  // namespace

uint64_t non_torch_bytes(int tp) { return kNonTorchBytes + (tp > 1 ? kTensorParallelNonTorchBytes : 0); }

uint64_t activation_peak_bytes(const ModelSpec& m, int64_t tokens, int64_t num_seqs, DType dtype, int tp) {
  const double t = static_cast<double>(tokens);
  const double b = dtype_bytes(dtype);
  const double hidden = static_cast<double>(m.hidden_size);
  const double inter_width = mlp_live_width(m) / tp;
  const double mlp_out = m.mlp == MlpKind::kGated || m.is_moe() ? 2.0 * inter_width : inter_width;
  const double mlp_live = t * (hidden + mlp_out + inter_width) * b;
  const double q_dim = static_cast<double>(m.num_attention_heads * m.head_dim) / tp;
  const double kv_dim = static_cast<double>(kv_heads_per_gpu(m, tp) * m.head_dim);
  const double attn_live = t * (hidden + q_dim + 2 * kv_dim + q_dim) * b;
  const double residual = 2.0 * t * hidden * b;  // residual stream and normed copy
  const double forward = std::max(mlp_live, attn_live) + residual;
  const double rows = static_cast<double>(std::min(num_seqs, tokens));
  const double sampler = t * hidden * b + rows * static_cast<double>(m.vocab_size) * kSamplerBytesPerLogit;
  return static_cast<uint64_t>(std::ceil(std::max(forward, sampler)));
}

uint64_t eager_attention_bytes(const ModelSpec& m, int64_t tokens, DType kv_dtype, int tp) {
  const double t = static_cast<double>(tokens);
  const double heads = static_cast<double>(m.num_attention_heads) / tp;
  return static_cast<uint64_t>(std::ceil(heads * t * t * 4.0 + t * kv_bytes_per_token_layer(m, kv_dtype, tp)));
}

uint64_t prefill_transient_bytes(const ModelSpec& m, int64_t rows, int64_t prompt_tokens, double score_bytes,
                                 DType dtype, int tp) {
  const double r = static_cast<double>(rows);
  const double s = static_cast<double>(prompt_tokens);
  const double b = dtype_bytes(dtype);
  const double heads = static_cast<double>(m.num_attention_heads) / tp;
  const double hidden = static_cast<double>(m.hidden_size);
  const double inter = mlp_live_width(m) / tp;
  const double activations = r * s * (9.0 * hidden + inter) * b;
  const double scores = r * heads * s * s * score_bytes;
  return static_cast<uint64_t>(std::ceil(activations + scores));
}

}  // namespace kvsim::models
