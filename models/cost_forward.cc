// The cost model's forward pass as a list of per-layer operators: projections, attention and the policies' KV ops,
// the MLP or experts, norms and all-reduce, then the once-per-pass embedding and lm_head (cost_model.h).
#include <cmath>
#include <utility>

#include "models/cost_internal.h"
#include "models/cost_model.h"
#include "models/model_shapes.h"

namespace kvsim::models {

using detail::roofline_ns;

namespace {

// An op run in a share of the layers, averaged over all of them (time, FLOPs and bytes scale alike).
OpCost scaled(OpCost op, double share) {
  if (share >= 1.0) return op;
  op.time_ns = static_cast<SimTime>(std::llround(static_cast<double>(op.time_ns) * share));
  op.flops *= share;
  op.bytes *= share;
  op.pcie_bytes *= share;
  return op;
}

}  // namespace

void CostModel::ops_into(const BatchShape& b, bool explain, std::vector<OpCost>& out) const {
  ops_into(b, explain, out, OpSet::kAll);
}

void CostModel::context_ops_into(const OperatorParams& pa, const BatchShape& b, bool explain,
                                 std::vector<OpCost>& out) const {
  if (attn_share_ > 0) {
    const auto attn_op = [&](OpCost op) { out.push_back(scaled(std::move(op), attn_share_)); };
    attn_op(attention(pa, b, explain));
    if (config_.page_selection) attn_op(page_select(b, explain));
    if (config_.cpu_attention) attn_op(cpu_attention(b, explain));
    if (config_.offload) attn_op(partial_qk(b, explain));
    // CPU attention also sends new KV to the host (offload_tokens of GPU-attended, host-resident sequences).
    if (config_.offload || config_.cpu_attention) attn_op(kv_fetch(b, explain));
  }
  if (config_.weight_gpu_ratio < 1.0) out.push_back(weight_fetch(explain));
  if (config_.uses_disk()) out.push_back(disk_io(b, explain));
  if (config_.act_offload_ratio > 0) {
    out.push_back(act_transfer(b, true, explain));
    out.push_back(act_transfer(b, false, explain));
  }
}

void CostModel::ops_into(const BatchShape& b, bool explain, std::vector<OpCost>& out, OpSet set) const {
  out.clear();
  out.reserve(16);  // the most ops a forward pass lists
  const double t = static_cast<double>(padded_tokens(b));
  // Inside a captured graph (full, or the pieces around attention) kernels pay graph_params_' floors.
  const Launch mode = launch_mode(b);
  const OperatorParams& p = mode == Launch::kEager ? op_params_ : graph_params_;
  const OperatorParams& pa = attention_params(mode);
  const double tp = config_.tp;
  const double hidden = static_cast<double>(model_.hidden_size);
  const double head_dim = static_cast<double>(model_.head_dim);
  const double q_dim = static_cast<double>(model_.num_attention_heads) * head_dim / tp;
  const double kv_dim = static_cast<double>(kv_heads_per_gpu(model_, config_.tp)) * head_dim;
  const double inter = static_cast<double>(model_.intermediate_size) / tp;

  // The ops list one average layer. A hybrid model's layers differ in their token mixer (models/model_spec.h): the
  // attention ops are weighted by the share of attention layers, the state mixer's (cost_state_ops.cc) by the share
  // of kState layers; a pure attention model's attention share is exactly 1 and scaled() leaves its ops untouched.
  const double layers = static_cast<double>(model_.num_layers);
  const double attn_share = attn_share_;
  const double state_share = static_cast<double>(model_.num_state_layers()) / layers;
  const auto attn_op = [&](OpCost op) { out.push_back(scaled(std::move(op), attn_share)); };
  if (attn_share > 0) {
    if (model_.is_mla()) {
      // MLA's input projections (q_a/q_b or q, kv_a_proj_with_mqa, kv_b_proj) as one GEMM of the same per-GPU
      // weights (models/model_shapes.h); rope turns the rotary parts of q and the one shared rotary key.
      const detail::AttentionShapes a = detail::attention_shapes(model_, 0);
      const double in_params = static_cast<double>(a.q_weight) / tp + static_cast<double>(a.kv_weight);
      attn_op(gemm(p, "qkv_proj", t, hidden, in_params / hidden, explain));
      const double rope_dim = static_cast<double>(model_.qk_rope_head_dim);
      const double q_heads = static_cast<double>(model_.num_attention_heads) / tp;
      attn_op(elementwise(p, "rope", t, 2.0 * t * (q_heads + 1.0) * rope_dim * act_bytes_, explain));
    } else {
      // Qwen3-Next's gated attention: q_proj also emits one sigmoid gate per query element (twice q's width).
      const double q_out = model_.attention_output_gate ? 2 * q_dim : q_dim;
      attn_op(gemm(p, "qkv_proj", t, hidden, q_out + 2 * kv_dim, explain));
      if (model_.position == PositionKind::kRope) {
        attn_op(elementwise(p, "rope", t, 2.0 * t * (q_dim + kv_dim) * act_bytes_, explain));  // read+write q, k
      }
    }
  }
  if (set == OpSet::kAll) context_ops_into(pa, b, explain, out);
  if (attn_share > 0) {
    const double o_in = static_cast<double>(model_.num_attention_heads * model_.value_head_dim()) / tp;
    attn_op(gemm(p, "o_proj", t, o_in, hidden, explain));
  }
  if (state_share > 0 && set == OpSet::kAll) state_mixer_ops(p, b, t, state_share, explain, out);
  // An MoE model's layers differ only in their MLP: the MoE ops weighted by the share of MoE layers and the dense
  // MLP's by the share of dense ones (DeepSeek's first_k_dense_replace layers); layers without an MLP (Nemotron-H's
  // mixer-only blocks) run neither.
  const double moe_share = static_cast<double>(model_.num_moe_layers()) / layers;
  const double mlp_free_share = static_cast<double>(model_.num_mlp_free_layers) / layers;
  if (model_.is_moe()) {
    out.push_back(scaled(gemm(p, "router", t, hidden, static_cast<double>(model_.num_experts), explain), moe_share));
    out.push_back(scaled(experts(t, explain), moe_share));
  }
  const double dense_share = 1.0 - moe_share - mlp_free_share;
  if (dense_share > 0) {
    if (model_.mlp == MlpKind::kGated) {
      out.push_back(scaled(gemm(p, "gate_up_proj", t, hidden, 2 * inter, explain), dense_share));
      // read gate and up, write product
      out.push_back(scaled(elementwise(p, "act", t, 3.0 * t * inter * act_bytes_, explain), dense_share));
      out.push_back(scaled(gemm(p, "down_proj", t, inter, hidden, explain), dense_share));
    } else {
      out.push_back(scaled(gemm(p, "up_proj", t, hidden, inter, explain), dense_share));
      out.push_back(scaled(elementwise(p, "act", t, 2.0 * t * inter * act_bytes_, explain), dense_share));
      out.push_back(scaled(gemm(p, "down_proj", t, inter, hidden, explain), dense_share));
    }
  }
  // Two norms per layer (pre-attention, pre-MLP), each reading the residual and writing the output; the residual
  // add is fused into the norm in vLLM.
  out.push_back(elementwise(p, "norm", t, 2.0 * 3.0 * t * hidden * act_bytes_, explain, 2));
  if (config_.tp > 1) {
    // One all-reduce after each row-parallel output: the mixer's (attention or state) and the MLP's, fewer in
    // layers without one; Jamba's Mamba mixer adds one for x_proj, a RowParallelLinear in vLLM's MambaMixer
    // (vllm/model_executor/layers/mamba/mamba_mixer.py).
    const double mixer_free_share = static_cast<double>(model_.num_mixer_free_layers()) / layers;
    const double extra = model_.state_mixer.kind == StateMixerKind::kMamba1 ? state_share : 0.0;
    const double count = 2.0 - mixer_free_share - mlp_free_share + extra;
    OpCost ar = allreduce(p, t, explain);
    if (count == 2.0) {
      ar.time_ns *= 2;  // after attention and after the MLP
      ar.bytes *= 2;
    } else {
      ar.time_ns = static_cast<SimTime>(std::llround(static_cast<double>(ar.time_ns) * count));
      ar.bytes *= count;
    }
    out.push_back(ar);
  }
  // Once per forward pass.
  out.push_back(elementwise(p, "embedding", t, 2.0 * t * hidden * act_bytes_, explain));
  out.push_back(gemm(p, "lm_head", static_cast<double>(b.num_sampled), hidden,
                     static_cast<double>(model_.vocab_size) / tp, explain));
}

}  // namespace kvsim::models
