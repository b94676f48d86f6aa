#include "models/state_space.h"

namespace kvsim::models {

namespace {

uint64_t u(int64_t v) { return static_cast<uint64_t>(v); }

// vLLM's extra_groups_for_head_shards: groups are replicated up to tp when tp does not divide them.
int64_t sharded_groups(int64_t groups, int tp) { return groups % tp == 0 ? groups : groups + (tp - groups); }

}  // namespace

StateElements state_elements_per_layer(const ModelSpec& m, int tp) {
  const StateMixer& s = m.state_mixer;
  const double t = tp, window = static_cast<double>(s.conv_kernel - 1);
  StateElements e;
  switch (s.kind) {
    case StateMixerKind::kMamba1:
      e.conv = window * static_cast<double>(s.inner_size) / t;
      e.ssm = static_cast<double>(s.inner_size) / t * static_cast<double>(s.state_size);
      break;
    case StateMixerKind::kMamba2: {
      const double conv_dim = static_cast<double>(s.inner_size + 2 * sharded_groups(s.n_groups, tp) * s.state_size);
      e.conv = window * conv_dim / t;
      e.ssm = static_cast<double>(s.num_heads) / t * static_cast<double>(s.head_dim * s.state_size);
      break;
    }
    case StateMixerKind::kGatedDeltaNet: {
      const double conv_dim = static_cast<double>(2 * s.num_k_heads * s.state_size + s.num_heads * s.head_dim);
      e.conv = window * conv_dim / t;
      e.ssm = static_cast<double>(s.num_heads) / t * static_cast<double>(s.head_dim * s.state_size);
      break;
    }
    case StateMixerKind::kNone:
      break;
  }
  return e;
}

double state_bytes_per_layer(const ModelSpec& m, DType conv_dtype, DType ssm_dtype, int tp) {
  const StateElements e = state_elements_per_layer(m, tp);
  return e.conv * dtype_bytes(conv_dtype) + e.ssm * dtype_bytes(ssm_dtype);
}

double state_bytes_per_sequence(const ModelSpec& m, DType dtype, int tp) {
  return static_cast<double>(m.num_state_layers()) * state_bytes_per_layer(m, dtype, tp);
}

double cache_bytes_for_sequence(const ModelSpec& m, int64_t tokens, DType kv_dtype, DType state_dtype, int tp) {
  return kv_bytes_for_sequence(m, tokens, kv_dtype, tp) + state_bytes_per_sequence(m, state_dtype, tp);
}

namespace detail {

MixerShapes mixer_shapes(const ModelSpec& m) {
  const StateMixer& s = m.state_mixer;
  const uint64_t h = u(m.hidden_size), inner = u(s.inner_size), state = u(s.state_size), kernel = u(s.conv_kernel);
  MixerShapes x{};
  switch (s.kind) {
    case StateMixerKind::kMamba1: {
      // transformers JambaMambaMixer / vLLM MambaMixer: in_proj (x and gate z), x_proj (dt, B, C), dt_proj with bias,
      // out_proj; depthwise conv1d; A_log (d_inner x d_state) and D (d_inner); Jamba's dt/B/C RMSNorms.
      const uint64_t dt = u(s.dt_rank);
      x.matrices = h * 2 * inner + inner * (dt + 2 * state) + dt * inner + inner * h;
      x.small = inner * kernel + (s.conv_bias ? inner : 0) + inner /* dt_proj bias */ + inner * state + inner;
      if (s.proj_bias) x.small += 2 * inner + h;
      if (s.dt_norms) x.small += dt + 2 * state;
      return x;
    }
    case StateMixerKind::kMamba2: {
      // transformers NemotronHMamba2Mixer / vLLM MambaMixer2: in_proj to (z, x, B, C, dt) = 2 d_inner + 2 groups
      // d_state + heads; conv1d over (x, B, C); dt_bias, A_log, D per head; gated RMSNorm over d_inner; out_proj.
      const uint64_t groups = u(s.n_groups), heads = u(s.num_heads);
      const uint64_t conv_dim = inner + 2 * groups * state;
      x.matrices = h * (2 * inner + 2 * groups * state + heads) + inner * h;
      x.small = conv_dim * kernel + (s.conv_bias ? conv_dim : 0) + 3 * heads + inner;
      if (s.proj_bias) x.small += 2 * inner + 2 * groups * state + heads + h;
      return x;
    }
    case StateMixerKind::kGatedDeltaNet: {
      // transformers Qwen3NextGatedDeltaNet: in_proj_qkvz (q, k, v, z), in_proj_ba (beta, alpha per value head),
      // conv1d over (q, k, v) without bias, dt_bias and A_log per value head, gated RMSNorm over a value head,
      // out_proj.
      const uint64_t key_dim = u(s.num_k_heads) * state, value_dim = u(s.num_heads) * u(s.head_dim);
      const uint64_t v_heads = u(s.num_heads);
      x.matrices = h * (2 * key_dim + 2 * value_dim) + h * 2 * v_heads + value_dim * h;
      x.small = (2 * key_dim + value_dim) * kernel + 2 * v_heads + u(s.head_dim);
      return x;
    }
    case StateMixerKind::kNone:
      return x;
  }
  return x;
}

}  // namespace detail

}  // namespace kvsim::models
