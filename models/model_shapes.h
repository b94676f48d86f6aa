// Parameter shapes of one decoder layer's blocks as tensor parallelism splits them: attention (MHA/GQA or DeepSeek's
// multi-head latent attention) and one MLP (a dense layer's, one routed expert's, or the shared expert).
// Shared by the parameter counts (model_spec.cc) and the cost model's projections (cost_model.cc).
#pragma once

#include <cstdint>

#include "models/model_spec.h"

namespace kvsim::models::detail {

// `split` matrices are divided among tensor-parallel ranks (column- or row-parallel); `replicated` ones are held
// whole by every rank. MHA/GQA: q and o split by heads, k and v held per KV head (kv_heads of them). MLA (vLLM's
// DeepseekV2MLAAttention): q_a_proj and kv_a_proj_with_mqa are ReplicatedLinear, q_b_proj / q_proj and kv_b_proj
// ColumnParallelLinear, o_proj RowParallelLinear.
struct AttentionShapes {
  uint64_t q_weight = 0;   // split: q (or q_b), plus MLA's kv_b_proj
  uint64_t kv_weight = 0;  // k and v of `kv_heads` heads, or MLA's replicated q_a_proj + kv_a_proj_with_mqa
  uint64_t o_weight = 0;   // split: output projection
  uint64_t q_bias = 0, kv_bias = 0, o_bias = 0, sinks = 0;
  uint64_t extra_norms = 0;  // replicated: MLA's q_a/kv_a layernorms, Qwen3's per-head q/k norms
  uint64_t input_weight() const { return q_weight + kv_weight; }  // what the input projections hold (full model)
};
AttentionShapes attention_shapes(const ModelSpec& m, int64_t kv_heads);

// One MLP of width `width`: matrices, biases of the column-parallel input projections (gate/up or fc1) and the bias
// of the row-parallel output projection (down or fc2).
struct MlpShapes {
  uint64_t weight = 0, in_bias = 0, out_bias = 0;
  uint64_t total() const { return weight + in_bias + out_bias; }
};
MlpShapes mlp_shapes(const ModelSpec& m, int64_t width);

// A shared expert is a gated MLP without biases (DeepseekV2MLP, Qwen2MoeMLP); 0 when the model has none.
MlpShapes shared_expert_shapes(const ModelSpec& m);

}  // namespace kvsim::models::detail
