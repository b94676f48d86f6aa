// State-space and linear-attention mixers of hybrid models (Jamba, Nemotron-H, Qwen3-Next): their parameters and the
// fixed state each running sequence holds per layer. Attention layers hold KV per token (model_spec.h); a kState
// layer holds a convolution state and a recurrent (SSM) state per sequence, whatever the context length.
#pragma once

#include <cstdint>

#include "models/model_spec.h"
#include "sim/core/dtype.h"

namespace kvsim::models {

// One kState layer's state for one sequence on one GPU of a tensor-parallel group of `tp`, in elements. Shapes follow
// vLLM's MambaStateShapeCalculator (vllm/model_executor/layers/mamba/mamba_utils.py):
//   mamba1: conv (d_conv - 1) x d_inner/tp, ssm d_inner/tp x d_state;
//   mamba2: conv (d_conv - 1) x (d_inner + 2 x groups x d_state)/tp with groups raised to a multiple of tp when tp
//           does not divide them (extra_groups_for_head_shards), ssm heads/tp x head_dim x d_state;
//   gated_delta_net: conv (kernel - 1) x (2 x k_heads x k_dim + v_heads x v_dim)/tp, ssm v_heads/tp x v_dim x k_dim.
struct StateElements {
  double conv = 0;
  double ssm = 0;
};
StateElements state_elements_per_layer(const ModelSpec& m, int tp = 1);

// Bytes of one kState layer's state per sequence on one GPU. vLLM stores both states in the model dtype by default
// (MambaStateDtypeCalculator: mamba_cache_dtype and mamba_ssm_cache_dtype "auto"); `ssm_dtype` is the recurrent
// state's storage when set otherwise (--mamba-ssm-cache-dtype float32).
double state_bytes_per_layer(const ModelSpec& m, DType conv_dtype, DType ssm_dtype, int tp = 1);
inline double state_bytes_per_layer(const ModelSpec& m, DType dtype, int tp = 1) {
  return state_bytes_per_layer(m, dtype, dtype, tp);
}

// All kState layers' state of one sequence on one GPU: independent of the context length.
double state_bytes_per_sequence(const ModelSpec& m, DType dtype, int tp = 1);

// Cache bytes of one sequence of `tokens` on one GPU: KV of its attention layers (sliding layers capped at the window,
// kv_bytes_for_sequence) plus the state of its kState layers (dtype: the model's; kv_dtype: the KV cache's).
double cache_bytes_for_sequence(const ModelSpec& m, int64_t tokens, DType kv_dtype, DType state_dtype, int tp = 1);

namespace detail {
// One kState layer's mixer parameters: `matrices` are the linear projections (in_proj, x_proj, dt_proj, out_proj;
// quantisable, split by tensor parallelism), `small` the rest (conv1d weights and bias, A_log, D, dt_bias, norms).
struct MixerShapes {
  uint64_t matrices = 0;
  uint64_t small = 0;
  uint64_t total() const { return matrices + small; }
};
MixerShapes mixer_shapes(const ModelSpec& m);
}  // namespace detail

}  // namespace kvsim::models
