// The cost model's operators of a hybrid model's state-space / linear-attention layers (AttentionKind::kState: Jamba's
// Mamba, Nemotron-H's Mamba-2, Qwen3-Next's Gated DeltaNet; models/state_space.h): the mixer's projections, its causal
// convolution, its gated norm and its scan over the fixed per-sequence state, which every running sequence reads and
// writes in every state layer at every step (cost_model.h).
#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "models/cost_internal.h"
#include "models/cost_model.h"
#include "models/state_space.h"
#include "sim/core/units.h"

namespace kvsim::models {

using detail::roofline_ns;

namespace {

// Operations per state element per token of the recurrent update, counted from the recurrences. Mamba's discretised
// step h' = exp(dt A) h + (dt x) B, y = C h (Gu & Dao, arXiv:2312.00752, eqs. 2a-2b and 4; Mamba-2 the same with one
// A per head, Dao & Gu, ICML 2024, arXiv:2405.21060, sec. 3): dt A, its exp, h dA, (dt x) B, the add, and C h's
// multiply-add = 7. Gated DeltaNet's S' = S alpha (I - beta k k^T) + beta v k^T, o = S q (Yang et al.,
// arXiv:2412.06464, eq. 10): the gate, k^T S's multiply-add, the rank-1 update's multiply-add and q^T S's = 7.
// vLLM runs it on the CUDA cores (selective_state_update, selective_scan_fn, fused_recurrent_gated_delta_rule).
constexpr double kRecurrentOpsPerStateElement = 7.0;

// Mamba-2's chunked scan (SSD, vLLM's mamba_chunk_scan_combined) runs over chunks of the config's chunk_size: 128 in
// Nemotron-H's config.json (tests/models/fixtures/nemotron-h-8b.config.json), 256 in the Mamba-2 reference. ModelSpec
// does not carry it; 128 assumed.
constexpr double kSsdChunkTokens = 128.0;
// SSD keeps its chunk states in fp32 and moves them through HBM four times: written by _chunk_state_fwd, read and
// rewritten by _state_passing_fwd, read by _chunk_scan_fwd (vLLM's mamba/ops/ssd_combined.py; states_dtype float32).
constexpr double kSsdChunkStateBytesPerElement = 4.0 * 4.0;
// Gated DeltaNet's chunked kernel (flash-linear-attention chunk_gated_delta_rule, which vLLM's Qwen3-Next runs for
// prefill) uses chunks of 64 tokens (BT = 64) and stores each chunk's state h once in the activation dtype, read once
// by the output kernel (chunk_gated_delta_rule_fwd_h, chunk_fwd_o).
constexpr double kGdnChunkTokens = 64.0;
constexpr double kGdnChunkStatePasses = 2.0;

// Per-GPU widths of a kState mixer's tensors: vLLM's MambaMixer, MambaMixer2 and Qwen3NextGatedDeltaNet split their
// input projections column-wise by channel or head and their out_proj row-wise.
struct MixerWidths {
  double conv = 0;     // conv1d channels: x (Mamba), x B C (Mamba-2), q k v (Gated DeltaNet)
  double inner = 0;    // the scan's output y and the gate z: d_inner, or value heads x value head dim
  double in_proj = 0;  // in_proj's outputs (Gated DeltaNet: in_proj_qkvz and in_proj_ba, one GEMM of their widths)
  double dt = 0;       // the scan's per-token step inputs: dt (d_inner for Mamba, a head's for Mamba-2), beta and alpha
  double heads = 0;    // the scan's heads (Mamba-2, Gated DeltaNet); 0 for Mamba
};

MixerWidths mixer_widths(const ModelSpec& m, int tp) {
  const StateMixer& s = m.state_mixer;
  const double t = tp;
  MixerWidths w;
  // The conv channels per GPU from the conv state vLLM allocates (state_space.h: (kernel - 1) x channels / tp, with
  // Mamba-2's groups replicated up to tp), so the two agree.
  if (s.conv_kernel > 1) w.conv = state_elements_per_layer(m, tp).conv / static_cast<double>(s.conv_kernel - 1);
  switch (s.kind) {
    case StateMixerKind::kMamba1:
      // MambaMixer: in_proj to x and z (d_inner each); dt_proj back to d_inner.
      w.inner = static_cast<double>(s.inner_size) / t;
      w.in_proj = 2 * w.inner;
      w.dt = w.inner;
      break;
    case StateMixerKind::kMamba2:
      // MambaMixer2: in_proj to z (d_inner), x B C (the conv channels) and dt (one per head).
      w.inner = static_cast<double>(s.inner_size) / t;
      w.heads = static_cast<double>(s.num_heads) / t;
      w.in_proj = w.conv + w.inner + w.heads;
      w.dt = w.heads;
      break;
    case StateMixerKind::kGatedDeltaNet:
      // Qwen3NextGatedDeltaNet: in_proj_qkvz to q k v (the conv channels) and z (value width), in_proj_ba to beta
      // and alpha (one each per value head).
      w.inner = static_cast<double>(s.num_heads * s.head_dim) / t;
      w.heads = static_cast<double>(s.num_heads) / t;
      w.in_proj = w.conv + w.inner + 2 * w.heads;
      w.dt = 2 * w.heads;
      break;
    case StateMixerKind::kNone:
      break;
  }
  return w;
}

OpCost weighted(OpCost op, double share) {
  op.time_ns = static_cast<SimTime>(std::llround(static_cast<double>(op.time_ns) * share));
  op.flops *= share;
  op.bytes *= share;
  return op;
}

}  // namespace

void CostModel::state_mixer_ops(const OperatorParams& p, const BatchShape& b, double tokens, double share, bool explain,
                                std::vector<OpCost>& out) const {
  const StateMixer& s = model_.state_mixer;
  const MixerWidths w = mixer_widths(model_, config_.tp);
  const double hidden = static_cast<double>(model_.hidden_size);
  out.push_back(weighted(gemm(p, "in_proj", tokens, hidden, w.in_proj, explain), share));
  if (s.kind == StateMixerKind::kMamba1) {
    // x_proj (row-parallel: d_inner / tp -> dt_rank + 2 d_state) and dt_proj (dt_rank -> d_inner / tp).
    const double rank = static_cast<double>(s.dt_rank);
    out.push_back(
        weighted(gemm(p, "x_proj", tokens, w.inner, rank + 2.0 * static_cast<double>(s.state_size), explain), share));
    out.push_back(weighted(gemm(p, "dt_proj", tokens, rank, w.inner, explain), share));
  }
  // The causal depthwise conv1d (causal_conv1d_fn / causal_conv1d_update): reads and writes its channels per token,
  // reads its weights, and reads and writes each sequence's conv state (the last kernel - 1 inputs).
  const double kernel = static_cast<double>(s.conv_kernel);
  const double conv_state_bytes = state_elements_per_layer(model_, config_.tp).conv * act_bytes_;
  const double conv_bytes = 2.0 * tokens * w.conv * act_bytes_ + w.conv * kernel * act_bytes_ +
                            2.0 * static_cast<double>(b.num_seqs) * conv_state_bytes;
  OpCost conv = elementwise(p, "conv1d", tokens, conv_bytes, explain);
  conv.flops = 2.0 * kernel * w.conv * tokens;
  out.push_back(weighted(conv, share));
  out.push_back(weighted(state_scan(p, b, explain), share));
  if (s.kind != StateMixerKind::kMamba1) {
    // Mamba-2's and Gated DeltaNet's gated RMSNorm over y with the gate z: reads both, writes the output.
    out.push_back(weighted(elementwise(p, "gate_norm", tokens, 3.0 * tokens * w.inner * act_bytes_, explain), share));
  }
  out.push_back(weighted(gemm(p, "out_proj", tokens, w.inner, hidden, explain), share));
}

OpCost CostModel::state_scan(const OperatorParams& p, const BatchShape& b, bool explain) const {
  const StateMixer& s = model_.state_mixer;
  const MixerWidths w = mixer_widths(model_, config_.tp);
  // The recurrent (SSM) state of one sequence in one layer on this GPU, stored in the model dtype (vLLM's default
  // mamba_ssm_cache_dtype "auto"; state_space.h).
  const double ssm_elements = state_elements_per_layer(model_, config_.tp).ssm;
  const double ssm_bytes = ssm_elements * act_bytes_;
  // Per token the scan reads x (or x B C / q k v), its step inputs and the gate z, and writes y.
  const double io_bytes_per_token = (w.conv + w.dt + 2.0 * w.inner) * act_bytes_;
  const double cuda_flops = hardware_.gpu.fp32_flops > 0 ? hardware_.gpu.fp32_flops : compute_flops_;
  const double tensor_flops = rates_.peak_flops * config_.efficiency.gemm;
  const double memory_rate = hardware_.gpu.hbm_bytes_per_s * config_.efficiency.memory;
  const auto floor_ns = static_cast<SimTime>(std::llround(elementwise_floor_seconds(p, rates_) * 1e9));
  OpCost op;
  op.name = "state_scan";
  std::string decode_bound, prefill_bound;
  SimTime decode_ns = 0, prefill_ns = 0;
  // BatchShape::split (FlexGen's GPU batches) divides the sequences and tokens but not the prefill counts: a part
  // holds at most its own.
  const int64_t prefill_seqs = std::min(b.prefill_seqs, b.num_seqs);
  const int64_t prefill_tokens = std::min(b.prefill_tokens, b.num_tokens);
  // Decode (one new token per sequence, selective_state_update / the fused recurrent kernel): every sequence reads
  // and writes its whole state once.
  const double decode_seqs = static_cast<double>(b.num_seqs - prefill_seqs);
  const double decode_tokens = static_cast<double>(b.num_tokens - prefill_tokens);
  if (decode_seqs > 0) {
    const double flops = kRecurrentOpsPerStateElement * ssm_elements * decode_tokens;
    const double bytes = 2.0 * ssm_bytes * decode_seqs + io_bytes_per_token * decode_tokens;
    decode_ns = std::max(roofline_ns(flops, cuda_flops, bytes, memory_rate, &decode_bound), floor_ns);
    op.flops += flops;
    op.bytes += bytes;
  }
  // Prefill chunks: each sequence reads its state (where it continues one) and writes its final state once; the
  // scan over its new tokens runs recurrently (Mamba) or chunked on the tensor cores (Mamba-2, Gated DeltaNet).
  const double seqs = static_cast<double>(prefill_seqs), tokens = static_cast<double>(prefill_tokens);
  if (seqs > 0) {
    double flops = 0, bytes = 2.0 * ssm_bytes * seqs + io_bytes_per_token * tokens, rate = tensor_flops;
    const double mean_new = tokens / seqs;
    const double n = static_cast<double>(s.state_size), hd = static_cast<double>(s.head_dim);
    switch (s.kind) {
      case StateMixerKind::kMamba1:
        // selective_scan_fn: a sequential scan keeping the state on chip, O(L D N) work (Gu & Dao, sec. 3.3.2).
        flops = kRecurrentOpsPerStateElement * ssm_elements * tokens;
        rate = cuda_flops;
        break;
      case StateMixerKind::kMamba2: {
        // SSD (Dao & Gu, ICML 2024, sec. 6, the four steps of Listing 1) per token per head with chunk length Q, state
        // N and head dim P: the intra-chunk C B^T and (L o C B^T) X products 2 Q (N + P), the chunk state B^T X 2 N P,
        // the state passing 2 N P / Q and the output from the states C h 2 N P.
        const double q = std::min(kSsdChunkTokens, mean_new);
        flops = tokens * w.heads * (2.0 * q * (n + hd) + 4.0 * n * hd + 2.0 * n * hd / q);
        bytes += seqs * std::ceil(mean_new / q) * ssm_elements * kSsdChunkStateBytesPerElement;
        break;
      }
      case StateMixerKind::kGatedDeltaNet: {
        // The chunkwise gated delta rule with the WY representation (Yang et al., arXiv:2412.06464, sec. 3.3; Yang et
        // al., NeurIPS 2024, arXiv:2406.06484, sec. 3.3), per token per head with chunk length Q, key dim d_k, value
        // dim d_v, in multiply-adds: K K^T, W = T K and the intra-chunk Q K^T, Q d_k each; U = T V and the
        // intra-chunk product with U, Q d_v each; U - W S, the state update K^T U and the output Q S, d_k d_v each.
        const double q = std::min(kGdnChunkTokens, mean_new);
        flops = tokens * w.heads * 2.0 * (q * (3.0 * n + 2.0 * hd) + 3.0 * n * hd);
        bytes += seqs * std::ceil(mean_new / q) * ssm_elements * kGdnChunkStatePasses * act_bytes_;
        break;
      }
      case StateMixerKind::kNone:
        break;
    }
    prefill_ns = std::max(roofline_ns(flops, rate, bytes, memory_rate, &prefill_bound), floor_ns);
    op.flops += flops;
    op.bytes += bytes;
  }
  // Decode and prefill sequences run separate kernels (vLLM splits a mixed batch).
  op.time_ns = decode_ns + prefill_ns;
  op.bound = decode_ns >= prefill_ns ? decode_bound : prefill_bound;
  if (explain) {
    op.explain = fmt::format(
        "roofline: {:.0f} decoding sequences read and write {} of state each, {:.0f} prefill tokens scanned ({}); "
        "{:.0f} % of HBM, kernel floor {:.1f} us",
        decode_seqs, format_bytes(static_cast<uint64_t>(ssm_bytes)), tokens,
        s.kind == StateMixerKind::kMamba1 ? "sequential selective scan" : "chunked scan on the tensor cores",
        config_.efficiency.memory * 100, static_cast<double>(floor_ns) / 1e3);
  }
  return op;
}

}  // namespace kvsim::models
